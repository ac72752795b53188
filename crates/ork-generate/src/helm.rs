//! `ork generate bundle --helm DIR` (docs/cli.md §6.3): the bundle as a Helm v3 chart whose
//! `helm template` with the default values is exactly the plain bundle.
//!
//! The chart is not written by hand: the bundle is generated twice, once as asked and once
//! with recognisable placeholders for the values (namespace, images, replicas, resources), and
//! the placeholders of the second become template actions. Before anything is written, each
//! object of the second, with the defaults put back, must equal its object in the first, so
//! the defaults cannot render anything else (`crates/ork-cli/tests/generate.rs` also runs a real
//! `helm template`). Every other byte is literal (a `{{` of the Katalog's own templates is
//! escaped), so security settings come only from the Katalog, never from a value.

use ork_katalog::Katalog;
use ork_limits::Limits;
use serde_json::{Value, json};

use crate::Error;
use crate::bundle::{self, Bundle, FILES};
use crate::options::{BundleOptions, GENERATE_OPTIONS, VERSION};
use crate::plan::diff::Key;
use crate::workloads::Component;

const NS: &str = "ork-helm-value-namespace";
const METRICS_KEY: &str = "ork-helm-value-metrics-key";
const METRICS_VALUE: &str = "ork-helm-value-metrics-value";

fn image_placeholder(c: Component) -> String {
    format!("ork-helm-value-{}-image", c.as_str())
}
fn replicas_placeholder(c: Component) -> String {
    format!("ork-helm-value-{}-replicas", c.as_str())
}
fn resources_placeholder(c: Component) -> String {
    format!("ork-helm-value-{}-resources", c.as_str())
}

/// The name of the helper that renders annotation `orkestra.orkspace.io/generate-options`.
const OPTIONS_HELPER: &str = "orkestra.generateOptions";

/// A chart: paths relative to its directory, and their text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub files: Vec<(String, String)>,
}

fn component_of(d: &Value) -> Option<Component> {
    match d["metadata"]["labels"]["app.kubernetes.io/component"].as_str() {
        Some("runtime") => Some(Component::Runtime),
        Some("gateway") => Some(Component::Gateway),
        _ => None,
    }
}

/// Every string in `v` with `from` replaced by `to`.
fn substitute(v: &Value, from: &str, to: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, from, to)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The placeholders of a Deployment put in: replicas and resources become strings that
/// survive the emitter unchanged.
fn with_placeholders(o: &Value) -> Value {
    let mut o = o.clone();
    if o["kind"] == "Deployment"
        && let Some(c) = component_of(&o)
    {
        o["spec"]["replicas"] = json!(replicas_placeholder(c));
        o["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!(resources_placeholder(c));
    }
    o
}

/// The defaults put back into a placeholder object: what the chart renders with its
/// defaults, for comparing with the plain bundle.
fn with_defaults(o: &Value, plain: &Bundle, plain_object: &Value) -> Value {
    let mut o = substitute(o, NS, &plain.options.namespace);
    for c in [Component::Runtime, Component::Gateway] {
        let image = match c {
            Component::Runtime => plain.options.runtime_image(),
            Component::Gateway => plain.options.gateway_image(),
        };
        o = substitute(&o, &image_placeholder(c), &image);
    }
    if o["kind"] == "ConfigMap" {
        o["metadata"]["annotations"][GENERATE_OPTIONS] =
            plain_object["metadata"]["annotations"][GENERATE_OPTIONS].clone();
    }
    o
}

/// YAML text with every `{{` made literal for Go templates.
fn escape_actions(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

/// The template text of one placeholder object.
fn template_text(o: &Value) -> Result<String, Error> {
    let mut lines = Vec::new();
    let text = escape_actions(&ork_yaml::to_yaml_string(&with_placeholders(o)));
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let mut l = line.to_string();
        for c in [Component::Runtime, Component::Gateway] {
            let v = c.as_str();
            if l.trim_end()
                .ends_with(&format!("resources: {}", resources_placeholder(c)))
            {
                l = format!(
                    "{}resources:\n{{{{- toYaml .Values.{v}.resources | nindent {} }}}}",
                    " ".repeat(indent),
                    indent + 2
                );
            }
            l = l.replace(
                &replicas_placeholder(c),
                &format!("{{{{ .Values.{v}.replicas }}}}"),
            );
            l = l.replace(
                &format!("image: {}", image_placeholder(c)),
                &format!("image: {{{{ .Values.{v}.image | quote }}}}"),
            );
        }
        if l.trim_start().starts_with(&format!("{GENERATE_OPTIONS}:")) {
            l = format!(
                "{}{GENERATE_OPTIONS}: {{{{ include \"{OPTIONS_HELPER}\" . | quote }}}}",
                " ".repeat(indent)
            );
        }
        // the namespace as a whole scalar is quoted (a namespace may be called `true`);
        // inside a longer string it is spliced in
        if l.ends_with(&format!(": {NS}")) || l.ends_with(&format!("- {NS}")) {
            l = format!(
                "{}{{{{ .Values.namespace | quote }}}}",
                &l[..l.len() - NS.len()]
            );
        }
        l = l.replace(NS, "{{ .Values.namespace }}");
        lines.push(l);
    }
    let out = lines.join("\n") + "\n";
    if out.contains("ork-helm-value-") {
        return Err(Error::one(format!(
            "--helm: a value placeholder of {} is not templated",
            Key::of(o)
        )));
    }
    Ok(out)
}

/// The metrics NetworkPolicy, rendered only when `metricsFrom` holds a selector.
fn metrics_template() -> Result<String, Error> {
    let np = crate::workloads::network_policies(
        NS,
        false,
        &[(METRICS_KEY.to_string(), METRICS_VALUE.to_string())],
    )
    .into_iter()
    .find(|o| o["metadata"]["name"] == "orkestra-metrics")
    .ok_or_else(|| Error::one("--helm: no metrics NetworkPolicy"))?;
    let text = ork_yaml::to_yaml_string(&np);
    let from = format!(
        "    - namespaceSelector:\n        matchLabels:\n          {METRICS_KEY}: {METRICS_VALUE}\n"
    );
    if !text.contains(&from) {
        return Err(Error::one(
            "--helm: the metrics NetworkPolicy's selector is not where it is expected",
        ));
    }
    let ranged = concat!(
        "{{- range .Values.metricsFrom }}\n",
        "{{- if not (contains \"=\" .) }}{{ fail (printf \"metricsFrom %q is not KEY=VALUE\" .) }}{{ end }}\n",
        "{{- $kv := splitn \"=\" 2 . }}\n",
        "    - namespaceSelector:\n",
        "        matchLabels:\n",
        "          {{ $kv._0 | quote }}: {{ $kv._1 | quote }}\n",
        "{{- end }}\n",
    );
    let body = text.replace(&from, ranged);
    let body = body
        .replace(
            &format!("namespace: {NS}"),
            "namespace: {{ .Values.namespace | quote }}",
        )
        .replace(NS, "{{ .Values.namespace }}");
    Ok(format!(
        "{{{{- if .Values.metricsFrom }}}}\n---\n{body}{{{{- end }}}}\n"
    ))
}

/// The helper rendering the options annotation as `BundleOptions::to_annotation` does, with
/// the values in place of the options they stand for.
fn options_helper(opts: &BundleOptions, runtime: bool, gateway: bool) -> String {
    let json = |s: &str| Value::from(s).to_string();
    let mut h = format!(
        "{{{{- define \"{OPTIONS_HELPER}\" -}}}}\n{{\"namespace\":{{{{ .Values.namespace | toJson }}}}"
    );
    if opts.no_runtime {
        h.push_str(",\"noRuntime\":true");
    }
    if opts.no_gateway {
        h.push_str(",\"noGateway\":true");
    }
    for (c, on, given, default) in [
        (
            Component::Runtime,
            runtime,
            &opts.runtime_image,
            format!("ork-runtime:{VERSION}"),
        ),
        (
            Component::Gateway,
            gateway,
            &opts.gateway_image,
            format!("ork-gateway:{VERSION}"),
        ),
    ] {
        let key = format!("{}Image", c.as_str());
        if on {
            h.push_str(&format!(
                "{{{{- if ne .Values.{v}.image {d} }}}},\"{key}\":{{{{ .Values.{v}.image | toJson }}}}{{{{- end }}}}",
                v = c.as_str(),
                d = json(&default)
            ));
        } else if let Some(i) = given {
            h.push_str(&format!(",\"{key}\":{}", json(i)));
        }
    }
    h.push_str("{{- if .Values.metricsFrom }},\"metricsFrom\":{{ .Values.metricsFrom | toJson }}{{- end }}}\n{{- end -}}\n");
    h
}

fn resources_of(b: &Bundle, c: Component) -> Value {
    b.objects()
        .find(|o| o["kind"] == "Deployment" && component_of(o) == Some(c))
        .map(|d| d["spec"]["template"]["spec"]["containers"][0]["resources"].clone())
        .unwrap_or(Value::Null)
}

/// The chart of `k`'s bundle with `opts` as its default values.
pub fn chart(k: &Katalog, opts: &BundleOptions, limits: &Limits) -> Result<Chart, Error> {
    let plain = bundle::generate(k, opts, limits)?;
    let version = k.metadata.version.clone().unwrap_or_else(|| "0.1.0".into());
    if semver::Version::parse(&version).is_err() {
        return Err(Error::one(format!(
            "--helm: metadata.version {version:?} is not a SemVer 2 version, which Helm requires of a chart"
        )));
    }
    if plain.installed.text.contains("ork-helm-value-") {
        return Err(Error::one(
            "--helm: the Katalog contains the text \"ork-helm-value-\", which the chart uses for its values",
        ));
    }
    let mut placeholder_opts = opts.clone();
    placeholder_opts.namespace = NS.to_string();
    placeholder_opts.runtime_image = Some(image_placeholder(Component::Runtime));
    placeholder_opts.gateway_image = Some(image_placeholder(Component::Gateway));
    placeholder_opts.metrics_from = Vec::new();
    let shaped = bundle::generate(k, &placeholder_opts, limits)?;
    let runtime = plain.runs(Component::Runtime);
    let gateway = plain.runs(Component::Gateway);

    let mut files = Vec::new();
    for (f, name) in plain.files.iter().zip(FILES) {
        let mut text = String::new();
        for o in &f.objects {
            if o["metadata"]["name"] == "orkestra-metrics" && o["kind"] == "NetworkPolicy" {
                continue;
            }
            let key = Key::of(o);
            let Some(s) = shaped.objects().find(|s| {
                let mut k = Key::of(s);
                let ns = plain.options.namespace.as_str();
                k.namespace = k.namespace.map(|n| n.replace(NS, ns));
                k.name = k.name.replace(NS, ns);
                k == key
            }) else {
                return Err(Error::one(format!(
                    "--helm: {key} depends on the namespace in a way a value cannot express"
                )));
            };
            if with_defaults(s, &plain, o) != *o {
                return Err(Error::one(format!(
                    "--helm: {key} depends on the namespace or the images in a way a value cannot express"
                )));
            }
            text.push_str("---\n");
            text.push_str(&template_text(s)?);
        }
        if name == "networkpolicies.yaml" {
            text.push_str(&metrics_template()?);
        }
        if text.is_empty() {
            text = f.text();
        }
        files.push((format!("templates/{name}"), text));
    }
    files.push((
        "templates/_helpers.tpl".into(),
        options_helper(&plain.options, runtime, gateway),
    ));
    let mut values = serde_json::Map::new();
    values.insert("namespace".into(), json!(plain.options.namespace));
    values.insert("metricsFrom".into(), json!(plain.options.metrics_from));
    for (c, on, image) in [
        (Component::Runtime, runtime, plain.options.runtime_image()),
        (Component::Gateway, gateway, plain.options.gateway_image()),
    ] {
        if on {
            values.insert(
                c.as_str().into(),
                json!({"image": image, "replicas": crate::workloads::REPLICAS, "resources": resources_of(&plain, c)}),
            );
        }
    }
    let values_text = format!(
        "# The values of ork's bundle for Katalog {name}: where it runs and with how much.\n# Every security setting comes from the Katalog (ConfigMap orkestra-katalog), never from a value.\n{}",
        ork_yaml::to_yaml_string(&Value::Object(values)),
        name = k.metadata.name
    );
    let chart_yaml = ork_yaml::to_yaml_string(&json!({
        "apiVersion": "v2",
        "name": format!("orkestra-{}", k.metadata.name),
        "description": format!("ork for Katalog {}: the runtime, the admission Gateway, their RBAC, webhook configurations and NetworkPolicies (ork generate bundle --helm)", k.metadata.name),
        "type": "application",
        "version": version,
        "appVersion": VERSION,
    }));
    let mut all = vec![
        ("Chart.yaml".to_string(), chart_yaml),
        ("values.yaml".to_string(), values_text),
    ];
    all.extend(files);
    Ok(Chart { files: all })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_actions_and_the_katalogs_templates_stay_literal() {
        let o = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "orkestra-katalog", "namespace": NS,
                         "annotations": {GENERATE_OPTIONS: "{}"}},
            "data": {"katalog.yaml": "name: \"{{ .metadata.name }}\"\nns: x\n"}});
        let t = match template_text(&o) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert!(
            t.contains("namespace: {{ .Values.namespace | quote }}"),
            "{t}"
        );
        assert!(t.contains("{{ \"{{\" }} .metadata.name }}"), "{t}");
        assert!(
            t.contains(&format!(
                "{GENERATE_OPTIONS}: {{{{ include \"{OPTIONS_HELPER}\" . | quote }}}}"
            )),
            "{t}"
        );
    }

    #[test]
    fn the_options_helper_records_only_what_differs_from_the_defaults() {
        let mut o = BundleOptions::new("x");
        o.no_runtime = true;
        o.runtime_image = Some("r:1".into());
        let h = options_helper(&o, false, true);
        assert!(
            h.contains(",\"noRuntime\":true,\"runtimeImage\":\"r:1\""),
            "{h}"
        );
        assert!(
            h.contains("if ne .Values.gateway.image \"ork-gateway:"),
            "{h}"
        );
    }
}
