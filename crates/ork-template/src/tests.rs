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
