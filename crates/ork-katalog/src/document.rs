//! Strict decoding of ork's other document kinds (`kind: E2E`, `kind: Simulate`) with the
//! Katalog's own decoder: closed mappings, types, duplicate keys and did-you-mean hints, every
//! error at file:line:column. Each kind brings its schema table; the caller turns the normalized
//! JSON into its typed model and resolves positions of later errors through the span index.

use ork_limits::Limits;
use ork_yaml::{Node, Span};
use serde_json::Value;

use crate::decode::Decoder;
use crate::diag::{Diagnostic, Sink, SpanIndex};
use crate::pipeline::API_VERSION;
use crate::schema::Field;

/// One decoded document: normalized JSON (string-typed fields hold the literal text) and the
/// positions of its paths.
pub struct Decoded {
    pub value: Value,
    pub spans: SpanIndex,
}

/// Decodes the one `kind: <kind>` document of `src` against `fields` within `limits`.
/// Documents of other kinds are errors: a file holds one document of its kind.
pub fn decode(
    src: &str,
    file: &str,
    kind: &str,
    fields: &'static [Field],
    limits: &Limits,
) -> Result<Decoded, Vec<Diagnostic>> {
    let mut sink = Sink::new(file);
    let docs = match ork_yaml::parse_stream_with(src, limits) {
        Ok(d) => d,
        Err(e) => {
            sink.error(e.span, "", format!("{}: {}", e.what(), e.message));
            return Err(sink.diags);
        }
    };
    let mut docs: Vec<Node> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.len() != 1 {
        let span = docs
            .get(1)
            .map(|d| d.span)
            .unwrap_or(Span { line: 1, col: 1 });
        sink.error(
            span,
            "",
            format!(
                "expected one kind: {kind} document, found {} documents",
                docs.len()
            ),
        );
        return Err(sink.diags);
    }
    let spans = SpanIndex::new(docs.swap_remove(0));
    let Some(doc) = spans.root() else {
        sink.error(Span { line: 1, col: 1 }, "", "empty document");
        return Err(sink.diags);
    };
    if doc.as_map().is_none() {
        sink.error(
            doc.span,
            "",
            format!("a {kind} document is a map, got {}", doc.type_name()),
        );
        return Err(sink.diags);
    }
    match doc.get("kind") {
        Some(k) if k.as_text() == Some(kind) => {}
        Some(k) => sink.error(
            k.span,
            "kind",
            format!(
                "kind {:?} where {kind} was expected",
                k.as_text().unwrap_or_default()
            ),
        ),
        None => {}
    }
    if let Some(v) = doc.get("apiVersion")
        && v.as_text() != Some(API_VERSION)
    {
        sink.error_hint(
            v.span,
            "apiVersion",
            format!(
                "apiVersion {:?} is not supported",
                v.as_text().unwrap_or_default()
            ),
            format!("the supported apiVersion is {API_VERSION}"),
        );
    }
    let value = Decoder { sink: &mut sink }.object(doc, fields, "");
    if sink.has_errors() {
        sink.diags.sort_by_key(|d| (d.line, d.column));
        return Err(sink.diags);
    }
    Ok(Decoded { value, spans })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Ty;

    static FIELDS: &[Field] = &[
        Field {
            name: "apiVersion",
            ty: Ty::Str(crate::schema::Coerce::None),
            default: "",
            doc: "",
            required: true,
        },
        Field {
            name: "kind",
            ty: Ty::Str(crate::schema::Coerce::None),
            default: "",
            doc: "",
            required: true,
        },
        Field {
            name: "steps",
            ty: Ty::Int,
            default: "",
            doc: "",
            required: false,
        },
    ];

    #[test]
    fn unknown_key_is_an_error_with_position_and_hint() {
        let src = "apiVersion: orkestra.orkspace.io/v1\nkind: T\nstepz: 3\n";
        let Err(d) = decode(src, "t.yaml", "T", FIELDS, &Limits::default()) else {
            panic!("accepted an unknown key");
        };
        assert_eq!((d[0].line, d[0].column), (3, 1));
        assert!(d[0].message.contains("stepz"));
        assert_eq!(d[0].hint.as_deref(), Some("did you mean \"steps\"?"));
    }

    #[test]
    fn wrong_kind_and_two_documents_are_errors() {
        let src = "apiVersion: orkestra.orkspace.io/v1\nkind: Katalog\n";
        assert!(decode(src, "t.yaml", "T", FIELDS, &Limits::default()).is_err());
        let two = "apiVersion: orkestra.orkspace.io/v1\nkind: T\n---\nkind: T\n";
        assert!(decode(two, "t.yaml", "T", FIELDS, &Limits::default()).is_err());
        let ok = "apiVersion: orkestra.orkspace.io/v1\nkind: T\nsteps: 2\n";
        let Ok(d) = decode(ok, "t.yaml", "T", FIELDS, &Limits::default()) else {
            panic!("rejected a valid document");
        };
        assert_eq!(d.value["steps"], 2);
    }
}
