use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::node::{Node, NodeKind, Scalar, ScalarStyle, ScalarValue, Span, resolve_plain};

/// A YAML syntax error. Parsing stops at the first one (the rest of the file cannot be trusted).
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub span: Span,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.col, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Documents nested deeper than this are refused: a hostile file must not overflow the stack of
/// the recursive decoders above.
const MAX_DEPTH: usize = 256;

/// Parses every document of a YAML stream. Empty documents are dropped.
pub fn parse_stream(src: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    let result = parser.load(&mut builder, true);
    if let Some(err) = builder.error.take() {
        return Err(err);
    }
    if let Err(e) = result {
        let m = e.marker();
        return Err(YamlError {
            span: span_of(m),
            message: e.info().to_string(),
        });
    }
    Ok(builder.docs)
}

fn span_of(m: &Marker) -> Span {
    Span {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        span: Span,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    error: Option<YamlError>,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if !node.is_null() {
                    self.docs.push(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                pairs, pending_key, ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => pairs.push((key, node)),
            },
        }
    }

    fn fail(&mut self, span: Span, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                span,
                message: message.into(),
            });
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let span = span_of(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let (style, value) = match style {
                    TScalarStyle::Plain if tag.is_none() => {
                        (ScalarStyle::Plain, resolve_plain(&text))
                    }
                    TScalarStyle::Plain => (
                        ScalarStyle::Plain,
                        tagged(&text, tag.as_ref().map(|t| t.suffix.as_str())),
                    ),
                    TScalarStyle::Literal | TScalarStyle::Folded => {
                        (ScalarStyle::Block, ScalarValue::Str)
                    }
                    _ => (ScalarStyle::Quoted, ScalarValue::Str),
                };
                let node = Node {
                    kind: NodeKind::Scalar(Scalar { text, style, value }),
                    span,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _)
                if self.stack.len() >= MAX_DEPTH =>
            {
                let _ = anchor;
                self.fail(
                    span,
                    format!("document nested deeper than {MAX_DEPTH} levels"),
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    span,
                    anchor,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map {
                    pairs: Vec::new(),
                    pending_key: None,
                    span,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        span,
                        anchor,
                    }) => (
                        Node {
                            kind: NodeKind::Seq(items),
                            span,
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        pairs,
                        mut span,
                        anchor,
                        ..
                    }) => {
                        // A block mapping's start marker sits just past its first key; the key's
                        // own position is what a reader expects.
                        if let Some((k, _)) = pairs.first()
                            && k.span.line == span.line
                            && k.span.col < span.col
                        {
                            span = k.span;
                        }
                        (
                            Node {
                                kind: NodeKind::Map(pairs),
                                span,
                            },
                            anchor,
                        )
                    }
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let mut node = node.clone();
                    node.span = span;
                    self.push_value(node);
                }
                None => self.fail(span, "unknown alias"),
            },
            Event::DocumentStart
            | Event::DocumentEnd
            | Event::StreamStart
            | Event::StreamEnd
            | Event::Nothing => {}
        }
    }
}

/// Explicit core tags on plain scalars (`!!str 80`).
fn tagged(text: &str, suffix: Option<&str>) -> ScalarValue {
    match suffix {
        Some("str") => ScalarValue::Str,
        _ => resolve_plain(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_one_based() {
        let docs = parse_stream("a: 1\nb:\n  c: x\n").unwrap_or_default();
        assert_eq!(docs.len(), 1);
        let b = docs[0].get("b").map(|n| n.span);
        let c = docs[0].get("b").and_then(|b| b.get("c")).map(|n| n.span);
        assert_eq!(b, Some(Span { line: 3, col: 3 }));
        assert_eq!(c, Some(Span { line: 3, col: 6 }));
    }

    #[test]
    fn keeps_duplicates_and_literal_text() {
        let docs = parse_stream("port: 80\nport: \"81\"\n").unwrap_or_default();
        let pairs = docs[0].as_map().unwrap_or_default();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].1.as_text(), Some("80"));
        assert_eq!(
            pairs[1].1.scalar().map(|s| s.style),
            Some(ScalarStyle::Quoted)
        );
    }

    #[test]
    fn multi_document_and_aliases() {
        let docs = parse_stream("a: &x {k: v}\nb: *x\n---\n---\nc: 1\n").unwrap_or_default();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[0]
                .get("b")
                .and_then(|b| b.get("k"))
                .and_then(Node::as_text),
            Some("v")
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_stream("a: [1, 2\nb: 3\n").err();
        assert!(err.is_some_and(|e| e.span.line >= 1));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = "[".repeat(1000) + &"]".repeat(1000);
        assert!(parse_stream(&src).is_err());
    }
}
