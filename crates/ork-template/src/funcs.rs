//! The function registry: one table drives the parser's checks (names, argument counts), the
//! executor, volatile detection and `ork notes`, so documentation cannot drift from the code.
//!
//! Convention (docs/katalog.md §5.4): the subject comes last so that pipelines work
//! (`{{ .spec.name | trimPrefix "x-" }}`); `default` takes the fallback first.

use std::collections::HashSet;

use base64::Engine as _;
use ork_limits::{Exceeded, Limits};
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};
use sha2::Digest;

use crate::value::{self, ELEMENT_OVERHEAD, V, float};

/// An argument as a function sees it: borrowed from the data, the template or a variable, so
/// calling a function never copies its arguments.
pub(crate) type A<'a> = Option<&'a Value>;

pub(crate) type PureFn = fn(&[A]) -> Result<V, String>;
pub(crate) type SizedFn = fn(&Limits, &[A]) -> Result<V, FnError>;
pub(crate) type CtxFn = fn(&mut Ctx, &[A]) -> Result<V, String>;
pub(crate) type PickFn = fn(&[A]) -> Result<Pick, String>;

/// What a selecting function (`default`, `coalesce`, `ternary`, `first`, `last`, `index`)
/// returns: one of its arguments or a part of one, which the executor passes on without
/// copying it (`default "" .spec.big` in a loop must not copy `.spec.big` each time).
#[derive(Debug, PartialEq)]
pub(crate) enum Pick {
    Missing,
    /// argument `i` as it is
    Arg(usize),
    /// the value at `steps` inside argument `i`; the function checked that it exists
    Part(usize, Vec<Step>),
    /// a new value (`index` of a string yields a byte)
    New(Value),
}

/// One step into a value: a map key or a list position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

#[derive(Clone, Copy)]
pub(crate) enum Imp {
    /// result no larger than a small multiple of the arguments: checked after the call
    Pure(PureFn),
    /// result can be many times the arguments (`indent`, `replace`, `printf`, `list` …): the
    /// function checks its projected size against the budget before it builds anything
    Sized(SizedFn),
    Ctx(CtxFn),
    /// returns an argument or a part of one: passed on without a copy
    Pick(PickFn),
    /// `and`/`or`: short-circuit, evaluated by the executor
    Lazy,
}

/// Why a function failed.
pub(crate) enum FnError {
    /// A message about the arguments; it may quote a data value.
    Value(String),
    /// A budget; the message names it and holds no value.
    Budget(Exceeded),
}

impl From<String> for FnError {
    fn from(m: String) -> Self {
        FnError::Value(m)
    }
}

impl From<&str> for FnError {
    fn from(m: &str) -> Self {
        FnError::Value(m.to_string())
    }
}

// The value helpers on borrowed arguments, named as in `value` so the functions read the same.
fn text(a: &A) -> String {
    value::text_of(*a)
}
fn kind(a: &A) -> &'static str {
    value::kind_of(*a)
}
fn truthy(a: &A) -> bool {
    value::truthy_of(*a)
}
fn compare(a: &A, b: &A) -> Result<std::cmp::Ordering, String> {
    value::compare_of(*a, *b)
}

/// One template function.
pub struct Func {
    pub name: &'static str,
    pub domain: &'static str,
    pub signature: &'static str,
    pub description: &'static str,
    /// A template and the output it renders (checked by a unit test). Empty output for
    /// volatile functions, whose output varies.
    pub example: (&'static str, &'static str),
    /// Output differs between calls: rejected where a value is written every cycle.
    pub volatile: bool,
    pub min_args: usize,
    pub max_args: Option<usize>,
    pub(crate) imp: Imp,
}

/// Execution context of a render: the clock and random source of the impure functions, and
/// the budgets every render is held to.
pub struct Ctx {
    seed: Option<u64>,
    /// seeded on first use: most renders (admission decisions) never call a random function,
    /// and reading OS randomness for each of them is wasted work
    rng: Option<rand::rngs::StdRng>,
    pub(crate) now: chrono::DateTime<chrono::Utc>,
    pub(crate) limits: Limits,
}

impl Ctx {
    /// A context with the default [`Limits`]. `seed` makes the random functions deterministic
    /// (tests, `ork template --seed`); `None` seeds from the OS on the first random call.
    pub fn new(seed: Option<u64>, now: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        Self::with_limits(seed, now, Limits::default())
    }

    /// A context whose renders are held to `limits` (`template.*`, and `yaml.*` for `fromYaml`).
    pub fn with_limits(
        seed: Option<u64>,
        now: Option<chrono::DateTime<chrono::Utc>>,
        limits: Limits,
    ) -> Self {
        Ctx {
            seed,
            rng: None,
            now: now.unwrap_or_else(chrono::Utc::now),
            limits,
        }
    }

    /// The budgets of this context's renders.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True once a random function has seeded the generator.
    #[cfg(test)]
    pub(crate) fn is_seeded(&self) -> bool {
        self.rng.is_some()
    }

    pub(crate) fn rng(&mut self) -> &mut rand::rngs::StdRng {
        let seed = self.seed;
        self.rng.get_or_insert_with(|| match seed {
            Some(s) => rand::rngs::StdRng::seed_from_u64(s),
            None => rand::rngs::StdRng::from_os_rng(),
        })
    }
}

/// Built-ins of Go templates that ork rejects.
pub(crate) const REJECTED: &[&str] = &["call", "html", "js", "urlquery"];

macro_rules! f {
    ($name:literal, $dom:literal, $sig:literal, $desc:literal, ($ex:literal, $out:literal), $min:expr, $max:expr, $imp:expr) => {
        Func {
            name: $name,
            domain: $dom,
            signature: $sig,
            description: $desc,
            example: ($ex, $out),
            volatile: false,
            min_args: $min,
            max_args: $max,
            imp: $imp,
        }
    };
    (volatile $name:literal, $dom:literal, $sig:literal, $desc:literal, $ex:literal, $min:expr, $max:expr, $imp:expr) => {
        Func {
            name: $name,
            domain: $dom,
            signature: $sig,
            description: $desc,
            example: ($ex, ""),
            volatile: true,
            min_args: $min,
            max_args: $max,
            imp: $imp,
        }
    };
}

use Imp::{Ctx as C, Lazy, Pick as K, Pure as P, Sized as S};

pub static FUNCS: &[Func] = &[
    // --- Go built-ins ------------------------------------------------------------------------
    f!(
        "and",
        "builtin",
        "and A B...",
        "First falsy argument, else the last; stops evaluating at the first falsy one",
        ("{{ and 1 \"x\" }}", "x"),
        1,
        None,
        Lazy
    ),
    f!(
        "or",
        "builtin",
        "or A B...",
        "First truthy argument, else the last; stops evaluating at the first truthy one",
        ("{{ or .spec.missing \"fallback\" }}", "fallback"),
        1,
        None,
        Lazy
    ),
    f!(
        "not",
        "builtin",
        "not V",
        "Boolean negation of V's truthiness",
        ("{{ not \"\" }}", "true"),
        1,
        Some(1),
        P(f_not)
    ),
    f!(
        "eq",
        "builtin",
        "eq A B...",
        "A equals any of B... (missing equals \"\"; numbers compare numerically)",
        ("{{ eq 2 1 2 }}", "true"),
        2,
        None,
        P(f_eq)
    ),
    f!(
        "ne",
        "builtin",
        "ne A B",
        "A differs from B",
        ("{{ ne \"a\" \"b\" }}", "true"),
        2,
        Some(2),
        P(f_ne)
    ),
    f!(
        "lt",
        "builtin",
        "lt A B",
        "A < B",
        ("{{ lt 1 2.5 }}", "true"),
        2,
        Some(2),
        P(f_lt)
    ),
    f!(
        "le",
        "builtin",
        "le A B",
        "A <= B",
        ("{{ le 2 2 }}", "true"),
        2,
        Some(2),
        P(f_le)
    ),
    f!(
        "gt",
        "builtin",
        "gt A B",
        "A > B",
        ("{{ gt \"b\" \"a\" }}", "true"),
        2,
        Some(2),
        P(f_gt)
    ),
    f!(
        "ge",
        "builtin",
        "ge A B",
        "A >= B",
        ("{{ ge 1 2 }}", "false"),
        2,
        Some(2),
        P(f_ge)
    ),
    f!(
        "len",
        "builtin",
        "len V",
        "Length of a string (bytes), list or map; missing is 0",
        ("{{ len \"abc\" }}", "3"),
        1,
        Some(1),
        P(f_len)
    ),
    f!(
        "index",
        "builtin",
        "index V KEYS...",
        "V[k1][k2]...: list positions or map keys; missing or out of range is missing",
        ("{{ index (list \"a\" \"b\") 1 }}", "b"),
        1,
        None,
        K(f_index)
    ),
    f!(
        "printf",
        "builtin",
        "printf FORMAT ARGS...",
        "Go fmt formatting (%s %d %v %q %f %x ...); missing prints as \"\"",
        ("{{ printf \"%s-%03d\" \"web\" 7 }}", "web-007"),
        1,
        None,
        S(f_printf)
    ),
    f!(
        "print",
        "builtin",
        "print ARGS...",
        "Go fmt.Sprint: spaces between operands when neither is a string",
        ("{{ print \"a\" 1 2 }}", "a1 2"),
        0,
        None,
        S(f_print)
    ),
    f!(
        "println",
        "builtin",
        "println ARGS...",
        "Go fmt.Sprintln: operands separated by spaces, newline appended",
        ("{{ println \"a\" \"b\" | trim }}", "a b"),
        0,
        None,
        S(f_println)
    ),
    f!(
        "slice",
        "builtin",
        "slice V [START [END]]",
        "Sub-string or sub-list V[START:END]",
        ("{{ slice \"abcdef\" 1 3 }}", "bc"),
        1,
        Some(3),
        P(f_slice)
    ),
    // --- strings -----------------------------------------------------------------------------
    f!(
        "toLower",
        "strings",
        "toLower S",
        "Lower-case S",
        ("{{ \"HeLLo\" | toLower }}", "hello"),
        1,
        Some(1),
        P(|a| s1(a, |s| s.to_lowercase()))
    ),
    f!(
        "toUpper",
        "strings",
        "toUpper S",
        "Upper-case S",
        ("{{ \"abc\" | toUpper }}", "ABC"),
        1,
        Some(1),
        P(|a| s1(a, |s| s.to_uppercase()))
    ),
    f!(
        "trim",
        "strings",
        "trim S",
        "S without leading and trailing white space",
        ("{{ \"  x \" | trim }}", "x"),
        1,
        Some(1),
        P(|a| s1(a, |s| s.trim().to_string()))
    ),
    f!(
        "trimPrefix",
        "strings",
        "trimPrefix P S",
        "S without the prefix P",
        ("{{ \"v1.2\" | trimPrefix \"v\" }}", "1.2"),
        2,
        Some(2),
        P(|a| s2(a, |p, s| s.strip_prefix(p).unwrap_or(s).to_string()))
    ),
    f!(
        "trimSuffix",
        "strings",
        "trimSuffix P S",
        "S without the suffix P",
        ("{{ \"app.yaml\" | trimSuffix \".yaml\" }}", "app"),
        2,
        Some(2),
        P(|a| s2(a, |p, s| s.strip_suffix(p).unwrap_or(s).to_string()))
    ),
    f!(
        "hasPrefix",
        "strings",
        "hasPrefix P S",
        "S starts with P",
        ("{{ \"team-a\" | hasPrefix \"team-\" }}", "true"),
        2,
        Some(2),
        P(|a| b2(a, |p, s| s.starts_with(p)))
    ),
    f!(
        "hasSuffix",
        "strings",
        "hasSuffix P S",
        "S ends with P",
        ("{{ \"a-prod\" | hasSuffix \"-prod\" }}", "true"),
        2,
        Some(2),
        P(|a| b2(a, |p, s| s.ends_with(p)))
    ),
    f!(
        "contains",
        "strings",
        "contains SUB S",
        "S contains SUB",
        (
            "{{ \"registry.internal/app\" | contains \"internal\" }}",
            "true"
        ),
        2,
        Some(2),
        P(|a| b2(a, |p, s| s.contains(p)))
    ),
    f!(
        "replace",
        "strings",
        "replace OLD NEW S",
        "S with every OLD replaced by NEW",
        ("{{ \"a.b.c\" | replace \".\" \"-\" }}", "a-b-c"),
        3,
        Some(3),
        S(f_replace)
    ),
    f!(
        "split",
        "strings",
        "split SEP S",
        "List of the parts of S around SEP",
        ("{{ \"a,b\" | split \",\" }}", "[a b]"),
        2,
        Some(2),
        S(f_split)
    ),
    f!(
        "join",
        "strings",
        "join SEP L",
        "Elements of L joined with SEP",
        ("{{ list \"a\" \"b\" | join \"-\" }}", "a-b"),
        2,
        Some(2),
        S(f_join)
    ),
    f!(
        "truncate",
        "strings",
        "truncate N S",
        "The first N characters of S",
        ("{{ \"abcdef\" | truncate 3 }}", "abc"),
        2,
        Some(2),
        P(f_truncate)
    ),
    f!(
        "slugify",
        "strings",
        "slugify S",
        "Lower-case DNS-1123-friendly form: runs of other characters become '-'",
        ("{{ \"My App_v2!\" | slugify }}", "my-app-v2"),
        1,
        Some(1),
        P(|a| s1(a, slugify))
    ),
    f!(
        "truncateName",
        "strings",
        "truncateName S",
        "S cut to 63 characters, with a hash suffix when cut, so names stay unique",
        ("{{ \"short-name\" | truncateName }}", "short-name"),
        1,
        Some(1),
        P(|a| s1(a, truncate_name))
    ),
    f!(
        "quote",
        "strings",
        "quote S",
        "S in double quotes, escaped",
        ("{{ \"a\\\"b\" | quote }}", "\"a\\\"b\""),
        1,
        Some(1),
        S(f_quote)
    ),
    f!(
        "indent",
        "strings",
        "indent N S",
        "Every line of S indented by N spaces",
        ("x{{ \"a\" | indent 2 }}", "x  a"),
        2,
        Some(2),
        S(f_indent)
    ),
    f!(
        "nindent",
        "strings",
        "nindent N S",
        "A newline, then S indented by N spaces",
        ("x:{{ \"a\" | nindent 2 }}", "x:\n  a"),
        2,
        Some(2),
        S(f_nindent)
    ),
    // --- defaults, logic -----------------------------------------------------------------------
    f!(
        "default",
        "defaults",
        "default FALLBACK V",
        "V unless it is empty (missing, \"\", 0, false, [], {}), else FALLBACK",
        ("{{ .spec.timeout | default \"60s\" }}", "60s"),
        1,
        Some(2),
        K(f_default)
    ),
    f!(
        "coalesce",
        "defaults",
        "coalesce V...",
        "The first non-empty argument",
        ("{{ coalesce .spec.a \"\" \"b\" }}", "b"),
        1,
        None,
        K(f_coalesce)
    ),
    f!(
        "empty",
        "defaults",
        "empty V",
        "V is missing, \"\", 0, false, [] or {}",
        ("{{ empty .spec.missing }}", "true"),
        1,
        Some(1),
        P(|a| Ok(Some(Value::Bool(!truthy(&a[0])))))
    ),
    f!(
        "notEmpty",
        "defaults",
        "notEmpty V",
        "The opposite of empty",
        ("{{ notEmpty \"x\" }}", "true"),
        1,
        Some(1),
        P(|a| Ok(Some(Value::Bool(truthy(&a[0])))))
    ),
    f!(
        "ternary",
        "defaults",
        "ternary COND A B",
        "A if COND is truthy, else B",
        ("{{ ternary true \"yes\" \"no\" }}", "yes"),
        3,
        Some(3),
        K(|a| Ok(Pick::Arg(if truthy(&a[0]) { 1 } else { 2 })))
    ),
    // --- types ---------------------------------------------------------------------------------
    f!(
        "toInt",
        "types",
        "toInt V",
        "Integer: \"3\" → 3, 3.7 → 3, true → 1; anything else is an error",
        ("{{ toInt \"3\" }}", "3"),
        1,
        Some(1),
        P(f_to_int)
    ),
    f!(
        "toFloat",
        "types",
        "toFloat V",
        "Float from a number or numeric string",
        ("{{ toFloat \"2.5\" }}", "2.5"),
        1,
        Some(1),
        P(f_to_float)
    ),
    f!(
        "toBool",
        "types",
        "toBool V",
        "Boolean from true/True/TRUE/yes/1 or false/False/FALSE/no/0",
        ("{{ toBool \"yes\" }}", "true"),
        1,
        Some(1),
        P(f_to_bool)
    ),
    f!(
        "toString",
        "types",
        "toString V",
        "The text form of V",
        ("{{ toString 1.5 }}", "1.5"),
        1,
        Some(1),
        P(|a| Ok(Some(Value::String(text(&a[0])))))
    ),
    f!(
        "toList",
        "types",
        "toList S",
        "Comma-separated S as a trimmed list; \"\" → []",
        ("{{ \"a, b\" | toList | join \"-\" }}", "a-b"),
        1,
        Some(1),
        S(f_to_list)
    ),
    f!(
        "typeOf",
        "types",
        "typeOf V",
        "string, number, bool, list, map or null (missing is null)",
        ("{{ typeOf (list 1) }}", "list"),
        1,
        Some(1),
        P(f_type_of)
    ),
    // --- collections ---------------------------------------------------------------------------
    f!(
        "list",
        "collections",
        "list V...",
        "A list of the arguments",
        ("{{ list 1 \"a\" }}", "[1 a]"),
        0,
        None,
        S(f_list)
    ),
    f!(
        "dict",
        "collections",
        "dict K V...",
        "A map from alternating keys and values",
        ("{{ (dict \"a\" 1).a }}", "1"),
        0,
        None,
        S(f_dict)
    ),
    f!(
        "first",
        "collections",
        "first L",
        "The first element of L (missing if empty)",
        ("{{ list 1 2 | first }}", "1"),
        1,
        Some(1),
        K(|a| f_end(a, true))
    ),
    f!(
        "last",
        "collections",
        "last L",
        "The last element of L (missing if empty)",
        ("{{ list 1 2 | last }}", "2"),
        1,
        Some(1),
        K(|a| f_end(a, false))
    ),
    f!(
        "listHas",
        "collections",
        "listHas V L",
        "L contains an element whose text form equals V's",
        ("{{ list \"a\" \"b\" | listHas \"b\" }}", "true"),
        2,
        Some(2),
        P(f_list_has)
    ),
    f!(
        "mapKeys",
        "collections",
        "mapKeys M",
        "The keys of M, sorted",
        ("{{ dict \"b\" 1 \"a\" 2 | mapKeys }}", "[a b]"),
        1,
        Some(1),
        P(f_map_keys)
    ),
    f!(
        "uniq",
        "collections",
        "uniq L",
        "L without repeated elements, first occurrence kept",
        ("{{ list 1 2 1 | uniq }}", "[1 2]"),
        1,
        Some(1),
        P(f_uniq)
    ),
    // --- math ----------------------------------------------------------------------------------
    f!(
        "add",
        "math",
        "add A B...",
        "Sum; integer unless an argument is a float",
        ("{{ add 1 2 3 }}", "6"),
        1,
        None,
        P(|a| arith(a, Op::Add))
    ),
    f!(
        "sub",
        "math",
        "sub A B",
        "A - B",
        ("{{ sub 5 2 }}", "3"),
        2,
        Some(2),
        P(|a| arith(a, Op::Sub))
    ),
    f!(
        "mul",
        "math",
        "mul A B...",
        "Product",
        ("{{ mul 2 2.5 }}", "5"),
        1,
        None,
        P(|a| arith(a, Op::Mul))
    ),
    f!(
        "div",
        "math",
        "div A B",
        "Quotient (integer division for integers); division by zero is an error",
        ("{{ div 7 2 }}", "3"),
        2,
        Some(2),
        P(|a| arith(a, Op::Div))
    ),
    f!(
        "mod",
        "math",
        "mod A B",
        "Remainder; modulo zero is an error",
        ("{{ mod 7 3 }}", "1"),
        2,
        Some(2),
        P(|a| arith(a, Op::Mod))
    ),
    f!(
        "min",
        "math",
        "min A B...",
        "Smallest argument",
        ("{{ min 3 1 2 }}", "1"),
        1,
        None,
        P(|a| arith(a, Op::Min))
    ),
    f!(
        "max",
        "math",
        "max A B...",
        "Largest argument",
        ("{{ max 3 1 2 }}", "3"),
        1,
        None,
        P(|a| arith(a, Op::Max))
    ),
    f!(
        "abs",
        "math",
        "abs A",
        "Absolute value",
        ("{{ abs -4 }}", "4"),
        1,
        Some(1),
        P(f_abs)
    ),
    // --- encoding, hashing -----------------------------------------------------------------------
    f!(
        "toBase64",
        "encoding",
        "toBase64 S",
        "Standard base64 of S",
        ("{{ \"hi\" | toBase64 }}", "aGk="),
        1,
        Some(1),
        S(f_to_b64)
    ),
    f!(
        "fromBase64",
        "encoding",
        "fromBase64 S",
        "Decoded base64 S (UTF-8); invalid input is an error",
        ("{{ \"aGk=\" | fromBase64 }}", "hi"),
        1,
        Some(1),
        P(f_from_b64)
    ),
    f!(
        "toJson",
        "encoding",
        "toJson V",
        "Compact JSON of V",
        ("{{ dict \"a\" (list 1 2) | toJson }}", "{\"a\":[1,2]}"),
        1,
        Some(1),
        S(f_to_json)
    ),
    f!(
        "fromJson",
        "encoding",
        "fromJson S",
        "The value JSON text S denotes",
        ("{{ (fromJson \"{\\\"a\\\": 1}\").a }}", "1"),
        1,
        Some(1),
        P(f_from_json)
    ),
    f!(
        "toYaml",
        "encoding",
        "toYaml V",
        "Block YAML of V",
        ("{{ dict \"a\" 1 | toYaml }}", "a: 1"),
        1,
        Some(1),
        S(f_to_yaml)
    ),
    f!(
        "fromYaml",
        "encoding",
        "fromYaml S",
        "The value YAML text S denotes",
        ("{{ (fromYaml \"a: [1, 2]\").a }}", "[1 2]"),
        1,
        Some(1),
        S(f_from_yaml)
    ),
    f!(
        "sha256sum",
        "encoding",
        "sha256sum S",
        "Hex SHA-256 of S",
        ("{{ \"a\" | sha256sum | truncate 8 }}", "ca978112"),
        1,
        Some(1),
        P(|a| s1(a, |s| hex(&sha2::Sha256::digest(s.as_bytes()))))
    ),
    f!(
        "sha512sum",
        "encoding",
        "sha512sum S",
        "Hex SHA-512 of S",
        ("{{ \"a\" | sha512sum | truncate 8 }}", "1f40fc92"),
        1,
        Some(1),
        P(|a| s1(a, |s| hex(&sha2::Sha512::digest(s.as_bytes()))))
    ),
    // --- random (volatile) -----------------------------------------------------------------------
    f!(volatile "uuidv4", "random", "uuidv4", "A random UUID (version 4)", "{{ uuidv4 }}", 0, Some(0), C(f_uuid)),
    f!(volatile "randomAlphanumeric", "random", "randomAlphanumeric N", "N random letters and digits (N ≤ 4096)", "{{ randomAlphanumeric 16 }}", 1, Some(1),
       C(|c, a| random_from(c, a, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))),
    f!(volatile "randomHex", "random", "randomHex N", "N random hex digits (N ≤ 4096)", "{{ randomHex 32 }}", 1, Some(1),
       C(|c, a| random_from(c, a, b"0123456789abcdef"))),
    f!(volatile "randomBase64", "random", "randomBase64 N", "Base64 of N random bytes (N ≤ 4096)", "{{ randomBase64 24 }}", 1, Some(1), C(f_random_b64)),
    // --- time, semver ----------------------------------------------------------------------------
    f!(volatile "now", "time", "now", "The current time, RFC 3339 UTC", "{{ now }}", 0, Some(0),
       C(|c, _| Ok(Some(Value::String(c.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))))),
    f!(
        "timeFormat",
        "time",
        "timeFormat LAYOUT T",
        "RFC 3339 time T formatted with a Go layout",
        (
            "{{ timeFormat \"2006-01-02\" \"2026-11-22T10:00:00Z\" }}",
            "2026-11-22"
        ),
        2,
        Some(2),
        P(f_time_format)
    ),
    f!(
        "timeSince",
        "time",
        "timeSince T",
        "Seconds elapsed since RFC 3339 time T (relative to the cycle's clock)",
        ("", ""),
        1,
        Some(1),
        C(f_time_since)
    ),
    f!(
        "durationSeconds",
        "time",
        "durationSeconds D",
        "Seconds in a Go duration (plus d = 24h)",
        ("{{ durationSeconds \"1h30m\" }}", "5400"),
        1,
        Some(1),
        P(f_duration_seconds)
    ),
    f!(
        "semverConstraint",
        "semver",
        "semverConstraint C V",
        "Version V satisfies constraint C",
        ("{{ semverConstraint \">=1.2, <2\" \"1.4.0\" }}", "true"),
        2,
        Some(2),
        P(f_semver_constraint)
    ),
    f!(
        "semverMajor",
        "semver",
        "semverMajor V",
        "Major number of version V (a leading v is allowed)",
        ("{{ semverMajor \"v2.3.1\" }}", "2"),
        1,
        Some(1),
        P(f_semver_major)
    ),
];

pub fn lookup(name: &str) -> Option<&'static Func> {
    FUNCS.iter().find(|f| f.name == name)
}

pub(crate) fn did_you_mean(name: &str) -> Option<&'static str> {
    FUNCS
        .iter()
        .map(|f| {
            (
                strsim::levenshtein(&name.to_lowercase(), &f.name.to_lowercase()),
                f.name,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

// ----- helpers ---------------------------------------------------------------------------------

fn s_arg(v: &A) -> String {
    text(v)
}

fn s1(a: &[A], f: impl Fn(&str) -> String) -> Result<V, String> {
    Ok(Some(Value::String(f(&s_arg(&a[0])))))
}

fn s2(a: &[A], f: impl Fn(&str, &str) -> String) -> Result<V, String> {
    Ok(Some(Value::String(f(&s_arg(&a[0]), &s_arg(&a[1])))))
}

fn b2(a: &[A], f: impl Fn(&str, &str) -> bool) -> Result<V, String> {
    Ok(Some(Value::Bool(f(&s_arg(&a[0]), &s_arg(&a[1])))))
}

/// The value budget as an error.
fn over(l: &Limits) -> FnError {
    FnError::Budget(Exceeded::new(
        "template.value-bytes",
        l.template_value_bytes,
    ))
}

/// Refuses a value before it is built when its projected size is past the budget.
fn fits(l: &Limits, projected: u64) -> Result<(), FnError> {
    if projected > l.template_value_bytes {
        Err(over(l))
    } else {
        Ok(())
    }
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A string result within the budget.
fn sized_string(l: &Limits, s: String) -> Result<V, FnError> {
    fits(l, len64(s.len()))?;
    Ok(Some(Value::String(s)))
}

fn int_arg(v: &A, what: &str) -> Result<i64, String> {
    match v {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("{what}: not an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| format!("{what}: {} is not an integer", value::quote(s))),
        other => Err(format!("{what}: expected an integer, got {}", kind(other))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bool_v(b: bool) -> Result<V, String> {
    Ok(Some(Value::Bool(b)))
}

// ----- built-ins -------------------------------------------------------------------------------

fn f_not(a: &[A]) -> Result<V, String> {
    bool_v(!truthy(&a[0]))
}
fn f_eq(a: &[A]) -> Result<V, String> {
    for b in &a[1..] {
        if compare(&a[0], b)? == std::cmp::Ordering::Equal {
            return bool_v(true);
        }
    }
    bool_v(false)
}
fn f_ne(a: &[A]) -> Result<V, String> {
    bool_v(compare(&a[0], &a[1])? != std::cmp::Ordering::Equal)
}
fn f_lt(a: &[A]) -> Result<V, String> {
    bool_v(compare(&a[0], &a[1])?.is_lt())
}
fn f_le(a: &[A]) -> Result<V, String> {
    bool_v(compare(&a[0], &a[1])?.is_le())
}
fn f_gt(a: &[A]) -> Result<V, String> {
    bool_v(compare(&a[0], &a[1])?.is_gt())
}
fn f_ge(a: &[A]) -> Result<V, String> {
    bool_v(compare(&a[0], &a[1])?.is_ge())
}
fn f_len(a: &[A]) -> Result<V, String> {
    let n = match &a[0] {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => s.len(),
        Some(Value::Array(v)) => v.len(),
        Some(Value::Object(m)) => m.len(),
        other => return Err(format!("len of {}", kind(other))),
    };
    Ok(Some(Value::from(n as u64)))
}

/// `index` follows keys and positions; a missing value or an out-of-range position is missing.
pub(crate) fn f_index(a: &[A]) -> Result<Pick, String> {
    let mut cur: A = a[0];
    let mut steps: Vec<Step> = Vec::new();
    let keys = &a[1..];
    for (pos, k) in keys.iter().enumerate() {
        let step = match (cur, k) {
            (None | Some(Value::Null), _) => return Ok(Pick::Missing),
            (Some(Value::Array(_)), Some(Value::Number(n))) => {
                let i = n.as_i64().ok_or("index of list: not an integer")?;
                match usize::try_from(i) {
                    Ok(i) => Step::Index(i),
                    Err(_) => return Ok(Pick::Missing),
                }
            }
            (Some(Value::Array(_)), Some(Value::String(s))) => match s.parse::<usize>() {
                Ok(i) => Step::Index(i),
                Err(_) => return Err(format!("cannot index list with {}", value::quote(s))),
            },
            (Some(Value::Object(_)), key) => Step::Key(text(key)),
            (Some(Value::String(s)), Some(Value::Number(n))) => {
                let i = n.as_i64().ok_or("index of string: not an integer")?;
                // a byte is a new number, not a part of the argument: it ends the walk
                let byte = usize::try_from(i)
                    .ok()
                    .and_then(|i| s.as_bytes().get(i))
                    .map(|b| Value::from(*b));
                return match byte {
                    Some(_) if pos + 1 < keys.len() => {
                        Err("can't index item of type number".to_string())
                    }
                    Some(b) => Ok(Pick::New(b)),
                    None => Ok(Pick::Missing),
                };
            }
            (other, _) => return Err(format!("can't index item of type {}", kind(&other))),
        };
        cur = step_into(cur, &step);
        if cur.is_none() {
            return Ok(Pick::Missing);
        }
        steps.push(step);
    }
    Ok(if steps.is_empty() {
        Pick::Arg(0)
    } else {
        Pick::Part(0, steps)
    })
}

/// The value one step below `v`, if there is one.
pub(crate) fn step_into<'v>(v: Option<&'v Value>, step: &Step) -> Option<&'v Value> {
    match (v?, step) {
        (Value::Object(m), Step::Key(k)) => m.get(k),
        (Value::Array(a), Step::Index(i)) => a.get(*i),
        _ => None,
    }
}

fn f_printf(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let s = crate::printf::sprintf(&text(&a[0]), &a[1..], l)?;
    Ok(Some(Value::String(s)))
}
fn f_print(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        let is_str = |v: &A| matches!(v, Some(Value::String(_)));
        if i > 0 && !is_str(v) && !is_str(&a[i - 1]) {
            out.push(' ');
        }
        let t = text(v);
        fits(l, len64(out.len() + t.len()))?;
        out.push_str(&t);
    }
    Ok(Some(Value::String(out)))
}
fn f_println(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let t = text(v);
        fits(l, len64(out.len() + t.len() + 1))?;
        out.push_str(&t);
    }
    out.push('\n');
    Ok(Some(Value::String(out)))
}
fn f_slice(a: &[A]) -> Result<V, String> {
    let idx = |i: usize| -> Result<Option<usize>, String> {
        a.get(i)
            .map(|v| {
                int_arg(v, "slice").and_then(|n| {
                    usize::try_from(n).map_err(|_| "slice: negative index".to_string())
                })
            })
            .transpose()
    };
    let (start, end) = (idx(1)?.unwrap_or(0), idx(2)?);
    match &a[0] {
        Some(Value::String(s)) => {
            let end = end.unwrap_or(s.len());
            if start > end || end > s.len() {
                return Err(format!(
                    "slice: index out of range [{start}:{end}] with length {}",
                    s.len()
                ));
            }
            s.get(start..end)
                .map(|x| Some(Value::String(x.to_string())))
                .ok_or_else(|| "slice: not at a character boundary".into())
        }
        Some(Value::Array(v)) => {
            let end = end.unwrap_or(v.len());
            if start > end || end > v.len() {
                return Err(format!(
                    "slice: index out of range [{start}:{end}] with length {}",
                    v.len()
                ));
            }
            Ok(Some(Value::Array(v[start..end].to_vec())))
        }
        None | Some(Value::Null) => Ok(None),
        other => Err(format!("can't slice item of type {}", kind(other))),
    }
}

// ----- strings ---------------------------------------------------------------------------------

fn f_replace(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let (old, new, s) = (text(&a[0]), text(&a[1]), text(&a[2]));
    if old.is_empty() {
        return sized_string(l, s);
    }
    if new.len() > old.len() {
        let growth = len64(new.len() - old.len()).saturating_mul(len64(s.matches(&old).count()));
        fits(l, len64(s.len()).saturating_add(growth))?;
    }
    sized_string(l, s.replace(&old, &new))
}
fn f_split(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let (sep, s) = (text(&a[0]), text(&a[1]));
    let parts = if sep.is_empty() {
        s.chars().count()
    } else {
        s.matches(sep.as_str()).count() + 1
    };
    fits(
        l,
        len64(s.len()).saturating_add(len64(parts).saturating_mul(ELEMENT_OVERHEAD)),
    )?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Some(Value::Array(parts)))
}
fn f_join(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let sep = text(&a[0]);
    let items: &[Value] = match a[1] {
        None | Some(Value::Null) => &[],
        Some(Value::Array(v)) => v,
        Some(other) => return sized_string(l, value::text_of(Some(other))),
    };
    let mut out = String::new();
    for (i, x) in items.iter().enumerate() {
        let t = value::text_of(Some(x));
        let sep_len = if i > 0 { sep.len() } else { 0 };
        fits(l, len64(out.len() + sep_len + t.len()))?;
        if i > 0 {
            out.push_str(&sep);
        }
        out.push_str(&t);
    }
    Ok(Some(Value::String(out)))
}
fn f_truncate(a: &[A]) -> Result<V, String> {
    let n = int_arg(&a[0], "truncate")?;
    let s = text(&a[1]);
    Ok(Some(Value::String(if n < 0 {
        s
    } else {
        s.chars().take(n as usize).collect()
    })))
}
fn slugify(s: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    out
}
fn truncate_name(s: &str) -> String {
    if s.len() <= 63 {
        return s.to_string();
    }
    let h = hex(&sha2::Sha256::digest(s.as_bytes()));
    let mut head: String = s.chars().take(54).collect();
    while head.len() > 54 {
        head.pop();
    }
    let head = head.trim_end_matches(['-', '.']);
    format!("{head}-{}", &h[..8])
}
fn f_indent(l: &Limits, a: &[A]) -> Result<V, FnError> {
    indented(l, a, false)
}
fn f_nindent(l: &Limits, a: &[A]) -> Result<V, FnError> {
    indented(l, a, true)
}

/// `indent` and `nindent`: the result is `lines × n` bytes longer than S, refused before it is
/// built when that is past the budget (a million-line CR value indented by 4,096).
fn indented(l: &Limits, a: &[A], newline_first: bool) -> Result<V, FnError> {
    let n = int_arg(&a[0], "indent")?;
    if !(0..=4096).contains(&n) {
        return Err(format!("indent {n} is outside 0..4096").into());
    }
    let n = usize::try_from(n).unwrap_or(0);
    let s = text(&a[1]);
    let lines = s.matches('\n').count() + 1;
    let projected = len64(s.len())
        .saturating_add(len64(lines).saturating_mul(len64(n)))
        .saturating_add(u64::from(newline_first));
    fits(l, projected)?;
    let pad = " ".repeat(n);
    let mut out = String::with_capacity(usize::try_from(projected).unwrap_or(0));
    if newline_first {
        out.push('\n');
    }
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&pad);
        out.push_str(line);
    }
    Ok(Some(Value::String(out)))
}

// ----- defaults ----------------------------------------------------------------------------------

fn f_default(a: &[A]) -> Result<Pick, String> {
    Ok(Pick::Arg(if a.len() < 2 || !truthy(&a[1]) { 0 } else { 1 }))
}
fn f_coalesce(a: &[A]) -> Result<Pick, String> {
    Ok(a.iter().position(truthy).map_or(Pick::Missing, Pick::Arg))
}

// ----- types -------------------------------------------------------------------------------------

fn f_to_int(a: &[A]) -> Result<V, String> {
    let i = match &a[0] {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .ok_or("toInt: out of range")?,
        Some(Value::Bool(b)) => i64::from(*b),
        Some(Value::String(s)) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(i) => i,
                Err(_) => t
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i64)
                    .ok_or_else(|| format!("toInt: {} is not a number", value::quote(s)))?,
            }
        }
        other => return Err(format!("toInt: cannot convert {}", kind(other))),
    };
    Ok(Some(Value::from(i)))
}
fn f_to_float(a: &[A]) -> Result<V, String> {
    let f = match &a[0] {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("toFloat: {} is not a number", value::quote(s)))?,
        other => return Err(format!("toFloat: cannot convert {}", kind(other))),
    };
    Ok(float(f))
}

/// The boolean words of docs/katalog.md §5.3.
pub fn parse_bool_word(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "1" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "0" => Some(false),
        _ => None,
    }
}
fn f_to_bool(a: &[A]) -> Result<V, String> {
    match &a[0] {
        Some(Value::Bool(b)) => bool_v(*b),
        other => {
            let t = text(other);
            parse_bool_word(t.trim())
                .map(|b| Some(Value::Bool(b)))
                .ok_or_else(|| format!("toBool: {} is not a boolean", value::quote(&t)))
        }
    }
}
fn f_to_list(l: &Limits, a: &[A]) -> Result<V, FnError> {
    if let Some(Value::Array(v)) = a[0] {
        return Ok(Some(Value::Array(v.clone())));
    }
    let s = text(&a[0]);
    if s.trim().is_empty() {
        return Ok(Some(Value::Array(Vec::new())));
    }
    let parts = len64(s.matches(',').count() + 1);
    fits(
        l,
        len64(s.len()).saturating_add(parts.saturating_mul(ELEMENT_OVERHEAD)),
    )?;
    Ok(Some(Value::Array(
        s.split(',')
            .map(|p| Value::String(p.trim().to_string()))
            .collect(),
    )))
}
fn f_type_of(a: &[A]) -> Result<V, String> {
    let k = match kind(&a[0]) {
        "missing" => "null",
        k => k,
    };
    Ok(Some(Value::String(k.into())))
}

// ----- collections -------------------------------------------------------------------------------

fn f_dict(l: &Limits, a: &[A]) -> Result<V, FnError> {
    if !a.len().is_multiple_of(2) {
        return Err("dict: odd number of arguments".into());
    }
    // a key or value can be a variable of the full budget: `dict "a" $x "b" $x …` would copy
    // it once per pair
    let mut projected = 0u64;
    for kv in a.chunks(2) {
        projected = projected
            .saturating_add(ELEMENT_OVERHEAD)
            .saturating_add(arg_size(&kv[0], l))
            .saturating_add(arg_size(&kv[1], l));
        fits(l, projected)?;
    }
    let mut m = Map::new();
    for kv in a.chunks(2) {
        m.insert(text(&kv[0]), kv[1].cloned().unwrap_or(Value::Null));
    }
    Ok(Some(Value::Object(m)))
}

/// `list V…`: one copy of every argument, refused before copying when they add up past the
/// budget (`list $x $x $x …` in a loop doubles a value per iteration).
fn f_list(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let mut projected = 0u64;
    for v in a {
        projected = projected
            .saturating_add(ELEMENT_OVERHEAD)
            .saturating_add(arg_size(v, l));
        fits(l, projected)?;
    }
    Ok(Some(Value::Array(
        a.iter()
            .map(|v| v.cloned().unwrap_or(Value::Null))
            .collect(),
    )))
}

/// An argument's size as the value budget counts it, counted no further than just past it.
fn arg_size(v: &A, l: &Limits) -> u64 {
    v.map_or(0, |v| value::size_within(v, l.template_value_bytes))
}
fn f_end(a: &[A], first: bool) -> Result<Pick, String> {
    match a[0] {
        Some(Value::Array(v)) if v.is_empty() => Ok(Pick::Missing),
        Some(Value::Array(v)) => Ok(Pick::Part(
            0,
            vec![Step::Index(if first { 0 } else { v.len() - 1 })],
        )),
        None | Some(Value::Null) => Ok(Pick::Missing),
        other => Err(format!(
            "{} of {}",
            if first { "first" } else { "last" },
            kind(&other)
        )),
    }
}
fn f_list_has(a: &[A]) -> Result<V, String> {
    let needle = text(&a[0]);
    match a[1] {
        Some(Value::Array(v)) => bool_v(v.iter().any(|x| value::text_of(Some(x)) == needle)),
        None | Some(Value::Null) => bool_v(false),
        other => Err(format!("listHas: expected a list, got {}", kind(&other))),
    }
}
fn f_map_keys(a: &[A]) -> Result<V, String> {
    match &a[0] {
        Some(Value::Object(m)) => {
            let mut k: Vec<&String> = m.keys().collect();
            k.sort();
            Ok(Some(Value::Array(
                k.into_iter().map(|s| Value::String(s.clone())).collect(),
            )))
        }
        None | Some(Value::Null) => Ok(Some(Value::Array(Vec::new()))),
        other => Err(format!("mapKeys: expected a map, got {}", kind(other))),
    }
}
fn f_uniq(a: &[A]) -> Result<V, String> {
    match a[0] {
        Some(Value::Array(v)) => {
            // JSON text identifies a value (maps are sorted), so a set of it finds repeats in
            // linear time; comparing each element with every kept one was quadratic
            let mut seen: HashSet<String> = HashSet::new();
            let mut out: Vec<Value> = Vec::new();
            for x in v {
                if seen.insert(x.to_string()) {
                    out.push(x.clone());
                }
            }
            Ok(Some(Value::Array(out)))
        }
        None | Some(Value::Null) => Ok(Some(Value::Array(Vec::new()))),
        other => Err(format!("uniq: expected a list, got {}", kind(&other))),
    }
}

// ----- math --------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Min,
    Max,
}

fn num_arg(v: &A) -> Result<V, String> {
    match v {
        Some(Value::Number(_)) => Ok(v.cloned()),
        None | Some(Value::Null) => Ok(Some(Value::from(0))),
        Some(Value::String(s)) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                Ok(Some(Value::from(i)))
            } else {
                t.parse::<f64>()
                    .ok()
                    .and_then(float)
                    .map(Some)
                    .ok_or_else(|| format!("{} is not a number", value::quote(s)))
            }
        }
        other => Err(format!("expected a number, got {}", kind(other))),
    }
}

fn arith(a: &[A], op: Op) -> Result<V, String> {
    let nums: Vec<V> = a.iter().map(num_arg).collect::<Result<_, _>>()?;
    if nums.iter().all(value::is_int) {
        let ints: Vec<i64> = nums
            .iter()
            .filter_map(|v| v.as_ref().and_then(Value::as_i64))
            .collect();
        if ints.len() != nums.len() {
            return Err("integer out of range".into());
        }
        let mut acc = ints[0];
        for &x in &ints[1..] {
            acc = match op {
                Op::Add => acc.checked_add(x),
                Op::Sub => acc.checked_sub(x),
                Op::Mul => acc.checked_mul(x),
                Op::Div if x == 0 => return Err("division by zero".into()),
                Op::Div => acc.checked_div(x),
                Op::Mod if x == 0 => return Err("modulo by zero".into()),
                Op::Mod => acc.checked_rem(x),
                Op::Min => Some(acc.min(x)),
                Op::Max => Some(acc.max(x)),
            }
            .ok_or("integer overflow")?;
        }
        return Ok(Some(Value::from(acc)));
    }
    let fl: Vec<f64> = nums
        .iter()
        .map(|v| value::as_f64(v).unwrap_or(0.0))
        .collect();
    let mut acc = fl[0];
    for &x in &fl[1..] {
        acc = match op {
            Op::Add => acc + x,
            Op::Sub => acc - x,
            Op::Mul => acc * x,
            Op::Div | Op::Mod if x == 0.0 => return Err("division by zero".into()),
            Op::Div => acc / x,
            Op::Mod => acc % x,
            Op::Min => acc.min(x),
            Op::Max => acc.max(x),
        };
    }
    float(acc)
        .map(Some)
        .ok_or_else(|| "result is not a finite number".into())
}

fn f_abs(a: &[A]) -> Result<V, String> {
    match num_arg(&a[0])? {
        Some(Value::Number(n)) if n.is_i64() => Ok(Some(Value::from(
            n.as_i64()
                .unwrap_or(0)
                .checked_abs()
                .ok_or("integer overflow")?,
        ))),
        v => Ok(float(value::as_f64(&v).unwrap_or(0.0).abs())),
    }
}

// ----- encoding ----------------------------------------------------------------------------------

fn f_from_b64(a: &[A]) -> Result<V, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text(&a[0]).trim())
        .map_err(|e| format!("fromBase64: {e}"))?;
    String::from_utf8(bytes)
        .map(|s| Some(Value::String(s)))
        .map_err(|_| "fromBase64: not UTF-8 text".into())
}
fn f_to_json(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let mut w = BoundedWriter {
        buf: Vec::new(),
        max: usize::try_from(l.template_value_bytes).unwrap_or(usize::MAX),
    };
    serde_json::to_writer(&mut w, a[0].unwrap_or(&Value::Null)).map_err(|_| over(l))?;
    String::from_utf8(w.buf)
        .map(|s| Some(Value::String(s)))
        .map_err(|_| "toJson: not UTF-8".into())
}

/// A writer that refuses to grow past `max`: the serializer stops at the budget instead of
/// building the whole text first.
struct BoundedWriter {
    buf: Vec<u8>,
    max: usize,
}

impl std::io::Write for BoundedWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len().saturating_add(b.len()) > self.max {
            return Err(std::io::Error::other("value budget"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
fn f_from_json(a: &[A]) -> Result<V, String> {
    serde_json::from_str::<Value>(&text(&a[0]))
        .map(Some)
        .map_err(|e| format!("fromJson: {e}"))
}
fn f_to_yaml(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let max = usize::try_from(l.template_value_bytes).unwrap_or(usize::MAX);
    let text = ork_yaml::to_yaml_string_within(a[0].unwrap_or(&Value::Null), max)
        .ok_or_else(|| over(l))?;
    Ok(Some(Value::String(text.trim_end().to_string())))
}
fn f_from_yaml(l: &Limits, a: &[A]) -> Result<V, FnError> {
    // the text is data: its aliases are held to the same yaml.* budgets as a file
    let docs = ork_yaml::parse_stream_with(&text(&a[0]), l).map_err(|e| match e.exceeded {
        Some(budget) => FnError::Budget(budget),
        None => FnError::Value(format!("fromYaml: {e}")),
    })?;
    Ok(Some(
        docs.first()
            .map(ork_yaml::Node::to_json)
            .unwrap_or(Value::Null),
    ))
}

/// `quote S`: the JSON string of S, refused before it is built when its escapes (up to six
/// bytes per control character) would take it past the budget.
fn f_quote(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let s = text(&a[0]);
    let projected = s.chars().fold(2u64, |n, c| {
        n + match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => len64(c.len_utf8()),
        }
    });
    fits(l, projected)?;
    Ok(Some(Value::String(
        serde_json::to_string(&s).unwrap_or_default(),
    )))
}

fn f_to_b64(l: &Limits, a: &[A]) -> Result<V, FnError> {
    let s = text(&a[0]);
    fits(l, len64(s.len().div_ceil(3)).saturating_mul(4))?;
    Ok(Some(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s),
    )))
}

// ----- random ------------------------------------------------------------------------------------

fn random_len(a: &[A]) -> Result<usize, String> {
    let n = int_arg(&a[0], "random length")?;
    if !(0..=4096).contains(&n) {
        return Err(format!("random length {n} is outside 0..4096"));
    }
    Ok(n as usize)
}
fn random_from(c: &mut Ctx, a: &[A], alphabet: &[u8]) -> Result<V, String> {
    let n = random_len(a)?;
    let s: String = (0..n)
        .map(|_| alphabet[c.rng().random_range(0..alphabet.len())] as char)
        .collect();
    Ok(Some(Value::String(s)))
}
fn f_random_b64(c: &mut Ctx, a: &[A]) -> Result<V, String> {
    let n = random_len(a)?;
    let bytes: Vec<u8> = (0..n).map(|_| c.rng().random()).collect();
    Ok(Some(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    )))
}
fn f_uuid(c: &mut Ctx, _: &[A]) -> Result<V, String> {
    let bytes: [u8; 16] = c.rng().random();
    Ok(Some(Value::String(
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string(),
    )))
}

// ----- time, semver -----------------------------------------------------------------------------

fn parse_time(v: &A) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let s = text(v);
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("{} is not an RFC 3339 time", value::quote(&s)))
}

/// Translates a Go reference-time layout into a chrono format string.
fn go_layout(layout: &str) -> String {
    const MAP: &[(&str, &str)] = &[
        ("2006", "%Y"),
        ("Z07:00", "%:z"),
        ("-07:00", "%:z"),
        ("-0700", "%z"),
        ("January", "%B"),
        ("Jan", "%b"),
        ("Monday", "%A"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("PM", "%p"),
        ("pm", "%P"),
        (".000000000", "%.9f"),
        (".000000", "%.6f"),
        (".000", "%.3f"),
        ("06", "%y"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
        ("4", "%-M"),
        ("5", "%-S"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (go, ch) in MAP {
            if let Some(r) = rest.strip_prefix(go) {
                out.push_str(ch);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}
fn f_time_format(a: &[A]) -> Result<V, String> {
    let t = parse_time(&a[1])?;
    let fmt = go_layout(&text(&a[0]));
    let items: Vec<chrono::format::Item> = chrono::format::StrftimeItems::new(&fmt).collect();
    if items.contains(&chrono::format::Item::Error) {
        return Err(format!(
            "timeFormat: bad layout {}",
            value::quote(&text(&a[0]))
        ));
    }
    Ok(Some(Value::String(
        t.format_with_items(items.into_iter()).to_string(),
    )))
}
fn f_time_since(c: &mut Ctx, a: &[A]) -> Result<V, String> {
    let t = parse_time(&a[0])?;
    Ok(Some(Value::from((c.now - t).num_seconds())))
}
fn f_duration_seconds(a: &[A]) -> Result<V, String> {
    let d = crate::duration::parse_duration(&text(&a[0]))?;
    let secs = d.as_secs_f64();
    Ok(if secs.fract() == 0.0 {
        Some(Value::from(secs as i64))
    } else {
        float(secs)
    })
}
fn parse_semver(s: &str) -> Result<semver::Version, String> {
    let t = s.trim().trim_start_matches('v');
    semver::Version::parse(t).map_err(|_| format!("{} is not a semantic version", value::quote(s)))
}
fn f_semver_constraint(a: &[A]) -> Result<V, String> {
    let req = semver::VersionReq::parse(text(&a[0]).trim())
        .map_err(|e| format!("semverConstraint: {e}"))?;
    bool_v(req.matches(&parse_semver(&text(&a[1]))?))
}
fn f_semver_major(a: &[A]) -> Result<V, String> {
    Ok(Some(Value::from(parse_semver(&text(&a[0]))?.major)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_example_renders_as_documented() {
        let data = serde_json::json!({"spec": {}});
        for f in FUNCS {
            let (src, want) = f.example;
            if src.is_empty() {
                continue;
            }
            let t = crate::Template::parse(src).unwrap_or_else(|e| panic!("{}: {e}", f.name));
            let mut ctx = Ctx::new(Some(1), None);
            let got = t
                .render_with(&data, &mut ctx)
                .unwrap_or_else(|e| panic!("{}: {e}", f.name));
            if !f.volatile {
                assert_eq!(got, want, "example of {}", f.name);
            } else {
                assert!(!got.is_empty(), "{}", f.name);
            }
        }
    }

    #[test]
    fn names_are_unique_and_documented() {
        let mut names: Vec<&str> = FUNCS.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FUNCS.len());
        assert!(
            FUNCS
                .iter()
                .all(|f| !f.description.is_empty() && f.signature.starts_with(f.name))
        );
    }

    #[test]
    fn truncate_name_keeps_names_unique() {
        let a = truncate_name(&"a".repeat(70));
        let b = truncate_name(&format!("{}b", "a".repeat(69)));
        assert!(a.len() <= 63 && b.len() <= 63 && a != b);
    }
}
