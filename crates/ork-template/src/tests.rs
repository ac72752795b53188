use serde_json::{Value, json};

use super::*;

fn data() -> Value {
    json!({
        "metadata": {"name": "my-site", "namespace": "default"},
        "spec": {"image": "nginx:1.25", "replicas": 2, "ratio": 0.5, "big": 1000000.0, "flag": false,
                 "steps": [{"name": "build", "command": "echo build"}, {"name": "test", "command": "echo test"}],
                 "regions": {"eu": 1, "us": 2}, "empty": "", "nothing": null}
    })
}

fn render(src: &str) -> Result<String, String> {
    let t = Template::parse(src).map_err(|e| e.to_string())?;
    let mut ctx = Ctx::new(Some(7), None);
    t.render_with(&data(), &mut ctx).map_err(|e| e.to_string())
}

fn ok(src: &str) -> String {
    render(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn missing_keys_render_empty_never_no_value() {
    assert_eq!(ok("[{{ .spec.missing }}]"), "[]");
    assert_eq!(ok("[{{ .spec.missing.deeper.still }}]"), "[]");
    assert_eq!(ok("[{{ printf \"%s\" .spec.missing }}]"), "[]");
    assert_eq!(ok("[{{ printf \"%v\" .nope }}]"), "[]");
    assert_eq!(ok("[{{ .spec.nothing }}]"), "[]");
    assert_eq!(ok("{{ index .spec.steps 5 \"command\" }}"), "");
    assert!(!ok("{{ .x }}{{ printf \"%d\" .y }}").contains("no value"));
}

#[test]
fn text_forms() {
    assert_eq!(
        ok("{{ .spec.replicas }} {{ .spec.ratio }} {{ .spec.big }} {{ .spec.flag }}"),
        "2 0.5 1e+06 false"
    );
    assert_eq!(ok("{{ .spec.regions }}"), "map[eu:1 us:2]");
    assert_eq!(ok("{{ list 1 2 }}"), "[1 2]");
}

#[test]
fn path_through_scalar_is_an_error() {
    let e = render("{{ .spec.image.tag }}").err().unwrap_or_default();
    assert!(e.contains("can't evaluate field tag"), "{e}");
}

#[test]
fn conditionals_and_truthiness() {
    assert_eq!(ok("{{ if .spec.flag }}y{{ else }}n{{ end }}"), "n");
    assert_eq!(ok("{{ if \"false\" }}y{{ end }}"), "y");
    assert_eq!(
        ok("{{ if .spec.missing }}a{{ else if .spec.replicas }}b{{ else }}c{{ end }}"),
        "b"
    );
    assert_eq!(
        ok("{{ with .spec.missing }}a{{ else with .spec.image }}{{ . }}{{ end }}"),
        "nginx:1.25"
    );
    assert_eq!(
        ok("{{ if and .spec.replicas (not .spec.flag) }}ok{{ end }}"),
        "ok"
    );
    assert_eq!(ok("{{ or .spec.empty .spec.missing \"z\" }}"), "z");
}

#[test]
fn comparisons() {
    assert_eq!(ok("{{ eq .spec.missing \"\" }}"), "true");
    assert_eq!(ok("{{ eq .spec.replicas 2.0 }}"), "true");
    assert_eq!(ok("{{ lt .spec.ratio 1 }}"), "true");
    assert!(render("{{ eq .spec.replicas \"2\" }}").is_err());
}

#[test]
fn range_lists_maps_break_continue_else() {
    assert_eq!(
        ok("{{ range .spec.steps }}{{ .name }},{{ end }}"),
        "build,test,"
    );
    assert_eq!(
        ok("{{ range $i, $s := .spec.steps }}{{ $i }}={{ $s.name }} {{ end }}"),
        "0=build 1=test "
    );
    assert_eq!(
        ok("{{ range $k, $v := .spec.regions }}{{ $k }}{{ $v }}{{ end }}"),
        "eu1us2"
    );
    assert_eq!(
        ok("{{ range .spec.missing }}x{{ else }}none{{ end }}"),
        "none"
    );
    assert_eq!(
        ok(
            "{{ range $i, $s := .spec.steps }}{{ if eq $i 1 }}{{ break }}{{ end }}{{ $s.name }}{{ end }}"
        ),
        "build"
    );
    assert_eq!(
        ok(
            "{{ range $i, $s := .spec.steps }}{{ if eq $i 0 }}{{ continue }}{{ end }}{{ $s.name }}{{ end }}"
        ),
        "test"
    );
    assert_eq!(
        ok("{{ range .spec.steps }}{{ $.metadata.name }}{{ end }}"),
        "my-sitemy-site"
    );
}

#[test]
fn variables_trim_comments_define() {
    assert_eq!(ok("{{ $x := .spec.image }}{{ $x = \"b\" }}{{ $x }}"), "b");
    assert_eq!(ok("a  {{- /* c */ -}}  b"), "ab");
    assert_eq!(ok("a {{- .spec.replicas -}} b"), "a2b");
    assert_eq!(
        ok("{{ define \"n\" }}[{{ . }}]{{ end }}{{ template \"n\" .spec.replicas }}"),
        "[2]"
    );
    assert_eq!(
        ok("{{ block \"b\" .metadata.name }}<{{ . }}>{{ end }}"),
        "<my-site>"
    );
    assert_eq!(ok("{{ (index .spec.steps 1).name }}"), "test");
    assert_eq!(ok("{{ index .spec.steps 0 \"command\" }}"), "echo build");
}

#[test]
fn parse_errors_have_positions_and_hints() {
    let e = Template::parse("x\n{{ .spec.a | toLowr }}").err();
    let e = e.unwrap_or_else(|| panic!("expected error"));
    assert_eq!((e.line, e.col), (2, 14));
    assert!(e.message.contains("\"toLowr\" not defined"));
    assert_eq!(e.hint.as_deref(), Some("did you mean \"toLower\"?"));
    assert!(Template::parse("{{ if .a }}x").is_err());
    assert!(Template::parse("{{ end }}").is_err());
    assert!(Template::parse("{{ .a ").is_err());
    assert!(Template::parse("{{ break }}").is_err());
    let arity = Template::parse("{{ \"a\" | replace \"b\" }}")
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
    assert!(
        arity.contains("wrong number of args for replace: want 3 got 2"),
        "{arity}"
    );
    let rejected = Template::parse("{{ html .a }}")
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
    assert!(rejected.contains("not supported"), "{rejected}");
}

#[test]
fn raw_values_for_bare_paths() {
    let t = Template::parse("{{ .spec.steps }}").unwrap_or_else(|e| panic!("{e}"));
    let mut ctx = Ctx::new(Some(1), None);
    assert!(t.is_bare_path());
    assert_eq!(
        t.render_value(&data(), &mut ctx).ok().flatten(),
        data()["spec"].get("steps").cloned()
    );
    let missing = Template::parse(" {{ .spec.nope }} ").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(missing.render_value(&data(), &mut ctx).ok(), Some(None));
    let not_bare = Template::parse("x{{ .spec.steps }}").unwrap_or_else(|e| panic!("{e}"));
    assert!(!not_bare.is_bare_path());
}

#[test]
fn analysis_reports_roots_and_volatile_functions() {
    let t = Template::parse(
        "{{ .Spec.image }}{{ range .spec.steps }}{{ .name }}{{ $.cross.x }}{{ end }}{{ uuidv4 }}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let roots: Vec<String> = t
        .root_paths()
        .iter()
        .map(|p| p.segments.join("."))
        .collect();
    assert_eq!(roots, vec!["Spec.image", "spec.steps", "cross.x"]);
    assert_eq!(t.volatile_functions(), vec!["uuidv4"]);
}

#[test]
fn seeded_random_is_deterministic_and_budget_stops_blowups() {
    let t = Template::parse("{{ randomHex 8 }}").unwrap_or_else(|e| panic!("{e}"));
    let a = t.render_with(&data(), &mut Ctx::new(Some(3), None)).ok();
    let b = t.render_with(&data(), &mut Ctx::new(Some(3), None)).ok();
    assert_eq!(a, b);
    let bomb = "{{ define \"a\" }}{{ template \"a\" . }}{{ template \"a\" . }}{{ end }}{{ template \"a\" . }}";
    assert!(render(bomb).is_err());
}

#[test]
fn non_ascii_in_actions_is_an_error_not_a_hang() {
    // found by the template_engine fuzz target: a UTF-8 lead byte read as a Latin-1 letter
    assert!(Template::parse("{{\u{60c}pec.image }}").is_err());
    assert!(Template::parse("{{ .spec.ñame }}").is_ok());
    // a non-ASCII letter is an identifier: here an unknown function
    assert!(
        Template::parse("{{ é }}")
            .err()
            .is_some_and(|e| e.message.contains("not defined"))
    );
}

// ----- hostile input: budgets, secrecy -----------------------------------------------------------

use std::time::{Duration, Instant};

use ork_limits::Limits;

fn render_in(src: &str, data: &Value, limits: Limits) -> Result<String, ExecError> {
    let t = Template::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    t.render_with(data, &mut Ctx::with_limits(Some(1), None, limits))
}

/// The error of a render that must fail on `budget`, quickly.
fn refused(src: &str, data: &Value, budget: &str) -> ExecError {
    let start = Instant::now();
    let r = render_in(src, data, Limits::default());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{src}: took {:?}",
        start.elapsed()
    );
    let e = r.err().unwrap_or_else(|| panic!("{src}: rendered"));
    assert!(e.message.contains(budget), "{src}: {e}");
    assert!(e.without_values().contains(budget), "{src}: {e}");
    e
}

#[test]
fn range_over_a_huge_integer_is_refused_before_it_allocates() {
    let e = refused(
        "{{ range 1000000000000 }}x{{ end }}",
        &data(),
        "template.range-iterations",
    );
    assert!(
        e.message.contains("ORK_LIMIT_TEMPLATE_RANGE_ITERATIONS"),
        "{e}"
    );
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(
        ok("{{ range $i, $v := 2 }}{{ $i }}{{ $v }}{{ end }}"),
        "0011"
    );
    // lists and maps are counted too
    let big = json!({"spec": {"l": vec![0; 100_001]}});
    refused(
        "{{ range .spec.l }}{{ end }}",
        &big,
        "template.range-iterations",
    );
}

#[test]
fn values_held_in_variables_cannot_grow_without_bound() {
    let d = data();
    refused(
        "{{ $x := \"ab\" }}{{ range 100 }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    refused(
        "{{ $x := \"aaaaaaaa\" }}{{ range 100 }}{{ $x = replace \"a\" \"aaaaaaaa\" $x }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    refused(
        "{{ $x := \"a\\nb\" }}{{ range 100 }}{{ $x = printf \"%s\\n%s\" $x $x | indent 4 }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    refused(
        "{{ $x := list 1 }}{{ range 100 }}{{ $x = list $x $x }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    refused(
        "{{ $x := dict \"a\" \"b\" }}{{ range 100 }}{{ $x = dict \"a\" $x \"b\" $x }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    refused(
        "{{ $x := \"abc\" }}{{ range 100 }}{{ $x = list $x $x $x | join $x }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    refused(
        "{{ $x := \"abc\" }}{{ range 100 }}{{ $x = list $x $x | toJson }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    refused(
        "{{ $x := \"a\" }}{{ range 100 }}{{ $x = dict \"k\" (list $x $x) | toYaml }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    refused(
        "{{ $x := \"abc\" }}{{ range 100 }}{{ $x = toBase64 $x | print $x }}{{ end }}",
        &d,
        "template.value-bytes",
    );
    // nesting one level per iteration stays small in bytes but not in depth
    refused(
        "{{ $x := 1 }}{{ range 10000 }}{{ $x = list $x }}{{ end }}",
        &d,
        "yaml.depth",
    );
}

#[test]
fn a_cr_value_of_a_million_lines_fed_to_indent_is_refused_before_it_is_built() {
    let cr = json!({"spec": {"text": "\n".repeat(1_000_000)}});
    refused(
        "{{ .spec.text | indent 4096 }}",
        &cr,
        "template.value-bytes",
    );
    refused("{{ .spec.text | nindent 8 }}", &cr, "template.value-bytes");
    refused(
        "{{ .spec.text | replace \"\\n\" \"\\n\\n\\n\\n\\n\" }}",
        &cr,
        "template.value-bytes",
    );
    refused("{{ .spec.text | split \"\" }}", &cr, "template.value-bytes");
    let controls = json!({"spec": {"text": "\u{1}".repeat(1_000_000)}});
    refused(
        "{{ .spec.text | quote }}",
        &controls,
        "template.value-bytes",
    );
    // a legitimate indent is unchanged
    assert_eq!(ok("x:{{ \"a\\nb\" | nindent 2 }}"), "x:\n  a\n  b");
}

#[test]
fn output_and_steps_have_budgets() {
    let d = data();
    refused(
        "{{ range 100000 }}{{ printf \"%100s\" \"\" }}{{ end }}",
        &d,
        "template.output-bytes",
    );
    refused(
        "{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}",
        &d,
        "template.steps",
    );
    let small = Limits {
        template_output_bytes: 10,
        ..Limits::default()
    };
    assert!(render_in("0123456789", &d, small).is_ok());
    assert!(render_in("0123456789{{ 1 }}", &d, small).is_err());
}

#[test]
fn rendering_reads_the_data_in_place() {
    // a render used to copy its whole data first: a million-element CR made each render of a
    // one-field template cost the whole CR
    let big = json!({"metadata": {"name": "x"}, "spec": {"items": vec!["item"; 1_000_000]}});
    let t = Template::parse("{{ .metadata.name }}-{{ len .spec.items }}")
        .unwrap_or_else(|e| panic!("{e}"));
    let bare = Template::parse("{{ .metadata.name }}").unwrap_or_else(|e| panic!("{e}"));
    let mut ctx = Ctx::new(Some(1), None);
    let start = Instant::now();
    for _ in 0..200 {
        assert_eq!(
            t.render_with(&big, &mut ctx).ok().as_deref(),
            Some("x-1000000")
        );
        assert_eq!(
            bare.render_value(&big, &mut ctx).ok(),
            Some(Some(json!("x")))
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn random_source_is_seeded_only_when_used() {
    let mut ctx = Ctx::new(None, None);
    let t = Template::parse("{{ .metadata.name }}").unwrap_or_else(|e| panic!("{e}"));
    assert!(t.render_with(&data(), &mut ctx).is_ok());
    assert!(!ctx.is_seeded());
    let r = Template::parse("{{ randomHex 4 }}").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.render_with(&data(), &mut ctx).map(|s| s.len()), Ok(4));
    assert!(ctx.is_seeded());
}

const MARK: &str = "S3CR3T-MARKER";

/// Every function in `FUNCS`, called with a distinctive data value in every argument position
/// (alone and with plausible other arguments), of every type: whenever it fails,
/// `without_values` must not show the value, and the full message must not quote more than 64
/// characters of it.
#[test]
fn function_errors_can_be_shown_without_data_values() {
    let tail = "Z".repeat(500);
    let data = json!({"spec": {
        "s": MARK,
        "long": format!("{MARK}{tail}"),
        "num": format!("1{MARK}"),
        "list": [MARK, format!("{MARK}{tail}")],
        "map": {MARK: MARK},
        "nested": {"deep": [{MARK: [MARK]}]},
    }});
    let marked = [
        ".spec.s",
        ".spec.long",
        ".spec.num",
        ".spec.list",
        ".spec.map",
        ".spec.nested",
    ];
    let plain = ["\"1\"", "1", "\"2006-01-02\"", "(list 1)"];
    let mut quoting: Vec<&str> = Vec::new();
    let mut calls = 0;
    for f in FUNCS {
        let most = f.max_args.unwrap_or(f.min_args + 2).min(4);
        for n in f.min_args.max(1)..=most {
            for pos in 0..n {
                for m in marked {
                    for other in plain {
                        let args: Vec<&str> =
                            (0..n).map(|i| if i == pos { m } else { other }).collect();
                        let src = format!("{{{{ {} {} }}}}", f.name, args.join(" "));
                        let Ok(t) = Template::parse(&src) else {
                            continue;
                        };
                        calls += 1;
                        let Err(e) = t.render_with(&data, &mut Ctx::new(Some(1), None)) else {
                            continue;
                        };
                        let safe = e.without_values();
                        assert!(!safe.contains(MARK), "{src}: {safe}");
                        assert!(!safe.contains("ZZZ"), "{src}: {safe}");
                        let full = e.to_string();
                        assert!(!full.contains(&"Z".repeat(65)), "{src}: {full}");
                        if full.contains(MARK) && !quoting.contains(&f.name) {
                            quoting.push(f.name);
                        }
                    }
                }
            }
        }
    }
    assert!(calls > 1000, "{calls}");
    // the test means something: these do quote the value in their full message
    for name in [
        "toInt",
        "toFloat",
        "toBool",
        "add",
        "semverMajor",
        "timeFormat",
        "durationSeconds",
        "index",
    ] {
        assert!(
            quoting.contains(&name),
            "{name} no longer quotes: {quoting:?}"
        );
    }
}

#[test]
fn without_values_keeps_the_action_and_the_function() {
    let cr = json!({"spec": {"pw": "hunter2"}});
    let e = render_in("{{ .spec.pw | toInt }}", &cr, Limits::default()).err();
    let e = e.unwrap_or_else(|| panic!("toInt of a word"));
    assert!(e.to_string().contains("\"hunter2\" is not a number"), "{e}");
    assert_eq!(e.function, Some("toInt"));
    assert_eq!(
        e.without_values(),
        "{{.spec.pw | toInt}}: error calling toInt (value withheld)"
    );
    // errors that are not a function's own show in full: they hold no value
    let e = render_in("{{ .spec.pw.x }}", &cr, Limits::default()).err();
    let e = e.unwrap_or_else(|| panic!("path through a string"));
    assert_eq!(e.without_values(), e.to_string());
}

#[test]
fn reading_large_values_in_a_loop_copies_nothing() {
    // each of these read a 3 MB value 100,000 times; a copy per read is 300 GB of memcpy
    let big = "x".repeat(3 << 20);
    let cr = json!({"spec": {"big": big, "list": [big], "map": {"k": big}}});
    for src in [
        "{{ range 100000 }}{{ $y := default \"\" $.spec.big }}{{ end }}ok",
        "{{ range 100000 }}{{ $y := coalesce \"\" $.spec.big }}{{ end }}ok",
        "{{ range 100000 }}{{ $y := ternary true $.spec.big 1 }}{{ end }}ok",
        "{{ range 100000 }}{{ $y := first $.spec.list }}{{ end }}ok",
        "{{ range 100000 }}{{ $y := index $.spec \"map\" \"k\" }}{{ end }}ok",
        "{{ range 100000 }}{{ $y := $.spec.map.k }}{{ end }}ok",
        // a value the template built (one copy into the dict), then read in place
        "{{ $m := dict \"k\" (dict \"v\" .spec.big) \"l\" (list 1 2) }}\
         {{ range 100000 }}{{ $y := $m.k.v }}{{ $z := index $m \"k\" \"v\" }}\
         {{ range $m.l }}{{ end }}{{ end }}{{ len $m.k.v }}",
    ] {
        let start = Instant::now();
        let r = render_in(src, &cr, Limits::default());
        assert!(r.is_ok(), "{src}: {r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{src}: {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn selections_keep_their_meaning() {
    assert_eq!(ok("{{ index .spec.steps 1 \"name\" }}"), "test");
    assert_eq!(ok("{{ (index .spec.steps 1).name }}"), "test");
    assert_eq!(ok("{{ index \"abc\" 1 }}"), "98");
    assert_eq!(
        ok("[{{ index .spec.steps 9 }}][{{ index .spec.steps -1 }}]"),
        "[][]"
    );
    assert!(render("{{ index \"abc\" 1 2 }}").is_err());
    assert_eq!(
        ok("{{ $l := list (dict \"a\" 1) (dict \"a\" 2) }}{{ (last $l).a }}{{ (first $l).a }}"),
        "21"
    );
    assert_eq!(
        ok("{{ $m := dict \"a\" (dict \"b\" \"c\") }}{{ $m.a.b }}{{ $m.a.nope.deeper }}"),
        "c"
    );
    assert!(render("{{ $m := dict \"a\" \"s\" }}{{ $m.a.b }}").is_err());
    assert_eq!(
        ok("{{ $m := dict \"b\" 2 \"a\" 1 }}{{ range $k, $v := $m }}{{ $k }}{{ $v }}{{ end }}"),
        "a1b2"
    );
    assert_eq!(
        ok("{{ default \"d\" .spec.missing }}{{ default \"d\" .spec.image }}"),
        "dnginx:1.25"
    );
    assert_eq!(ok("{{ ternary false 1 .spec.replicas }}"), "2");
    assert_eq!(ok("[{{ coalesce .spec.missing \"\" }}]"), "[]");
    assert_eq!(ok("{{ (dict \"a\" (list 1 2)).a }}"), "[1 2]");
}
