//! The closed sets of the Katalog, parsed once (docs/security.md §0 "Strictness").
//!
//! Every security setting and every rule keyword is an enum here. They are parsed
//! case-insensitively when the Katalog loads; any other value is a validation error, never a
//! silent fallback. Code downstream matches on these enums exhaustively, so a setting it does
//! not understand cannot exist at run time, and no `_ =>` arm can turn one into "allow".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value outside a closed set. `expected` lists the accepted values for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} is not {}",
            self.what,
            self.value,
            or_list(self.expected)
        )
    }
}

impl std::error::Error for UnknownValue {}

/// `a, b or c`
pub fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Declares a closed set: the enum, its canonical names, case-insensitive parsing, Display and
/// serde in the canonical spelling.
macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $( $(#[$vdoc:meta])* $variant:ident = $text:literal $(| $alias:literal)* ),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vdoc])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The canonical names, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The canonical spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                let t = s.trim();
                $(
                    if t.eq_ignore_ascii_case($text) $(|| t.eq_ignore_ascii_case($alias))* {
                        return Ok($name::$variant);
                    }
                )+
                Err(UnknownValue { what: $what, value: s.to_string(), expected: Self::NAMES })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

closed_set!(
    /// What the API server does when a webhook cannot answer, and what ork does when a policy
    /// cannot be evaluated (docs/security.md §2.3).
    FailurePolicy, "failurePolicy", {
        /// deny
        Fail = "Fail",
        /// allow, with a warning
        Ignore = "Ignore",
    }
);

closed_set!(
    /// The pod-security level the backstop and pod-security admission enforce
    /// (docs/security.md §2.7, docs/checks.md §5).
    PodSecurityLevel, "pod-security level", {
        Baseline = "baseline",
        Restricted = "restricted",
        /// enforces nothing: the backstop is off
        Privileged = "privileged",
    }
);

closed_set!(
    /// The built-in pod-security profiles (docs/security.md §2.7).
    BuiltinProfile, "profile", {
        Baseline = "baseline",
        Restricted = "restricted",
        Hardened = "hardened",
        /// nothing injected; with explicit fields: exactly those fields
        None = "none",
    }
);

closed_set!(
    /// What a violated validation rule does (docs/katalog.md §7).
    RuleAction, "action", {
        Deny = "deny",
        Warn = "warn",
    }
);

closed_set!(
    /// The type a mutation writes (docs/katalog.md §7).
    ValueType, "valueType", {
        String = "string",
        Int = "int",
        Float = "float",
        Bool = "bool",
    }
);

closed_set!(
    /// The type a status field writes (docs/katalog.md §6.4).
    StatusType, "type", {
        String = "string",
        Int = "int",
        Float = "float",
        Bool = "bool",
        /// int, float, bool, else string
        Auto = "auto",
    }
);

closed_set!(
    /// Admission operations (webhook rules, `webhooks.operations`, `ork gate check`).
    Operation, "operation", {
        Create = "CREATE",
        Update = "UPDATE",
        Delete = "DELETE",
        Connect = "CONNECT",
    }
);

closed_set!(
    /// Condition operators (docs/katalog.md §4), aliases included.
    Operator, "operator", {
        Exists = "exists",
        NotExists = "notExists",
        Equals = "equals",
        NotEquals = "notEquals",
        Prefix = "prefix",
        NotPrefix = "notPrefix",
        Suffix = "suffix",
        NotSuffix = "notSuffix",
        Contains = "contains",
        NotContains = "notContains",
        Regex = "regex",
        GreaterThan = "greaterThan" | "gt",
        LessThan = "lessThan" | "lt",
        GreaterThanOrEqual = "greaterThanOrEqual" | "gte" | "min",
        LessThanOrEqual = "lessThanOrEqual" | "lte" | "max",
        Between = "between",
        NotBetween = "notBetween",
        In = "in",
        NotIn = "notIn",
        TypeOf = "typeOf",
        /// needs cluster state: offline it is "not evaluated", never passed
        Unique = "unique",
    }
);

impl Operator {
    /// Operators that compare numbers: a static non-numeric expected value is a validate error.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Operator::GreaterThan
                | Operator::LessThan
                | Operator::GreaterThanOrEqual
                | Operator::LessThanOrEqual
                | Operator::Between
                | Operator::NotBetween
        )
    }
}

/// A profile name as written: a built-in, or a user profile of `profiles.*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Profile {
    Builtin(BuiltinProfile),
    /// a name from `profiles.containerSecurity` / `profiles.podSecurity`
    User(String),
}

impl Profile {
    /// A user profile with exactly this name wins over a built-in (docs/security.md §2.7);
    /// otherwise the built-in name, case-insensitively; anything else is unknown.
    pub fn resolve(name: &str, user_names: &[&str]) -> Option<Profile> {
        let n = name.trim();
        if user_names.contains(&n) {
            return Some(Profile::User(n.to_string()));
        }
        n.parse().ok().map(Profile::Builtin)
    }

    pub fn name(&self) -> &str {
        match self {
            Profile::Builtin(b) => b.as_str(),
            Profile::User(n) => n,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_case_insensitive_and_closed() {
        assert_eq!("fail".parse(), Ok(FailurePolicy::Fail));
        assert_eq!(" IGNORE ".parse(), Ok(FailurePolicy::Ignore));
        assert!("Sometimes".parse::<FailurePolicy>().is_err());
        assert_eq!("RESTRICTED".parse(), Ok(PodSecurityLevel::Restricted));
        assert!("strict".parse::<PodSecurityLevel>().is_err());
        assert_eq!("gte".parse(), Ok(Operator::GreaterThanOrEqual));
        assert_eq!("min".parse(), Ok(Operator::GreaterThanOrEqual));
        assert!("approximately".parse::<Operator>().is_err());
        assert_eq!("create".parse(), Ok(Operation::Create));
        let e = "x".parse::<RuleAction>().err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("action \"x\" is not deny or warn"));
    }

    #[test]
    fn operator_names_match_the_schema_table() {
        let schema: Vec<&str> = crate::schema::OPERATORS.iter().map(|(n, _)| *n).collect();
        assert_eq!(schema, Operator::NAMES);
        for (name, aliases) in crate::schema::OPERATORS {
            for a in aliases.iter().chain(std::iter::once(name)) {
                assert_eq!(
                    a.parse::<Operator>().map(Operator::as_str),
                    Ok(*name),
                    "{a}"
                );
            }
        }
    }

    #[test]
    fn user_profiles_shadow_builtins() {
        assert_eq!(
            Profile::resolve("Hardened", &[]),
            Some(Profile::Builtin(BuiltinProfile::Hardened))
        );
        assert_eq!(
            Profile::resolve("hardened", &["hardened"]),
            Some(Profile::User("hardened".into()))
        );
        assert_eq!(Profile::resolve("strict", &["loose"]), None);
    }
}
