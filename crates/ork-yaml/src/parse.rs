use std::collections::HashMap;
use std::fmt;

use ork_limits::{Exceeded, Limits};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::json;
use crate::node::{Node, NodeKind, Scalar, ScalarStyle, ScalarValue, Span, resolve_plain};

/// A YAML syntax error, or a budget of [`Limits`] exceeded. Parsing stops at the first one (the
/// rest of the file cannot be trusted).
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub span: Span,
    pub message: String,
    /// The budget, when this is one exceeded rather than a syntax error (callers word the two
    /// differently: the input may be valid YAML, just too much of it).
    pub exceeded: Option<Exceeded>,
}

impl YamlError {
    /// How to introduce the error: `YAML syntax error`, or `YAML input refused` when a budget
    /// stopped a document that may well be valid.
    pub fn what(&self) -> &'static str {
        if self.exceeded.is_some() {
            "YAML input refused"
        } else {
            "YAML syntax error"
        }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.col, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Parses every document of a YAML stream within the default [`Limits`]. Empty documents are
/// dropped.
pub fn parse_stream(src: &str) -> Result<Vec<Node>, YamlError> {
    parse_stream_with(src, &Limits::default())
}

/// Parses every document of a YAML stream, refusing it as soon as it would exceed one of the
/// `yaml.*` budgets or `file.bytes` of `limits`. Empty documents are dropped.
///
/// Aliases are expanded into copies (the node API owns its children), so a few hundred bytes of
/// nested aliases ("billion laughs") would otherwise build gigabytes: every node and scalar byte
/// an alias would copy is counted, from sizes recorded when its anchor closed, *before* the copy.
/// Every document is returned, so every node built counts against the budgets until the end.
pub fn parse_stream_with(src: &str, limits: &Limits) -> Result<Vec<Node>, YamlError> {
    let mut docs = Vec::new();
    run(src, limits, Mode::Collect, &mut |v| {
        if let Visit::Document { node, .. } = v {
            docs.push(node);
        }
    })?;
    Ok(docs)
}

/// What [`parse_stream_visit`] hands its visitor, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub enum Visit {
    /// One complete element of the top-level `items` sequence of the document being read (a
    /// `kind: List`, or anything else with a top-level `items`: the reader cannot know, since
    /// `kind` may come after `items`, as kubectl sorts keys). Handed out before its document.
    Item(Node),
    /// A complete, non-empty document. When `items_split` is true, the elements of its top-level
    /// `items` sequence were handed out as [`Visit::Item`]s and its `items` value is an empty
    /// sequence at the position of the real one.
    Document { node: Node, items_split: bool },
}

/// Parses a YAML stream like [`parse_stream_with`] but hands each document to `visit` as soon
/// as it is complete and, when `split_items` is true, each element of a document's top-level
/// `items` sequence as soon as *it* is complete, instead of building the whole sequence. An
/// anchored `items` sequence is never split (an alias elsewhere may copy it whole).
///
/// What the visitor was handed is no longer held by the reader, so `yaml.nodes` and
/// `yaml.expanded-bytes` bound what is built and not yet handed out (an item, the rest of its
/// document, and the copies kept for anchors): a List of 100,000 items is fine while one item
/// that would expand to a billion nodes is refused before the copy, as in
/// [`parse_stream_with`]. Alias expansions stay bounded by the same budgets *in total* over the
/// stream, so many small items that each copy a big anchor cannot turn a small file into
/// unbounded work either. `yaml.documents` and `yaml.depth` are as in [`parse_stream_with`].
///
/// On an error the visitor may already have been handed the documents and items before it.
pub fn parse_stream_visit(
    src: &str,
    limits: &Limits,
    split_items: bool,
    mut visit: impl FnMut(Visit),
) -> Result<(), YamlError> {
    let mode = if split_items {
        Mode::SplitItems
    } else {
        Mode::Visit
    };
    run(src, limits, mode, &mut visit)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// every document kept: nothing handed out is released
    Collect,
    /// documents released once handed out
    Visit,
    /// documents and top-level `items` elements released once handed out
    SplitItems,
}

fn run(
    src: &str,
    limits: &Limits,
    mode: Mode,
    visit: &mut dyn FnMut(Visit),
) -> Result<(), YamlError> {
    run_events(src, limits, mode, visit, true)
}

fn run_events(
    src: &str,
    limits: &Limits,
    mode: Mode,
    visit: &mut dyn FnMut(Visit),
    json_fast_path: bool,
) -> Result<(), YamlError> {
    let src_bytes = u64::try_from(src.len()).unwrap_or(u64::MAX);
    if src_bytes > limits.file_bytes {
        return Err(exceeded(
            Span { line: 1, col: 1 },
            "file.bytes",
            limits.file_bytes,
        ));
    }
    // A byte-order mark is an encoding signature, not content (YAML 1.2 §5.2); yaml-rust2 would
    // read it as the first character of the first key.
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut builder = Builder::new(limits, mode);
    if json_fast_path && json::plain_json(src) {
        // yaml-rust2 would hold every token of a JSON text until its last bracket
        let mut events = json::Events::new(src);
        while let Some((event, span)) = events.next_event() {
            builder.on_event(event, span)?;
            if let Some(v) = builder.ready.take() {
                visit(v);
            }
        }
        return Ok(());
    }
    let mut parser = Parser::new_from_str(src);
    // Events are pulled one at a time rather than through `Parser::load`, which recurses once
    // per nesting level (a deep block structure would overflow the stack before our depth check
    // could refuse it) and keeps scanning after the first error.
    loop {
        let (event, mark) = parser.next_token().map_err(|e| YamlError {
            span: span_of(e.marker()),
            message: e.info().to_string(),
            exceeded: None,
        })?;
        if event == Event::StreamEnd {
            break;
        }
        builder.on_event(event, span_of(&mark))?;
        // at most one thing is ready per event: hand it out before the next is built
        if let Some(v) = builder.ready.take() {
            visit(v);
        }
    }
    Ok(())
}

fn span_of(m: &Marker) -> Span {
    Span {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

fn exceeded(span: Span, budget: &'static str, limit: u64) -> YamlError {
    let e = Exceeded::new(budget, limit);
    YamlError {
        span,
        message: e.to_string(),
        exceeded: Some(e),
    }
}

/// What building (or copying) a subtree costs: its nodes, its scalar bytes, and its height in
/// collection levels (0 for a scalar).
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: u64,
    bytes: u64,
    height: u64,
}

impl Size {
    fn add_child(&mut self, child: Size) {
        self.nodes = self.nodes.saturating_add(child.nodes);
        self.bytes = self.bytes.saturating_add(child.bytes);
        self.height = self.height.max(child.height.saturating_add(1));
    }

    fn add(&mut self, other: Size) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }

    fn sub(&mut self, other: Size) {
        self.nodes = self.nodes.saturating_sub(other.nodes);
        self.bytes = self.bytes.saturating_sub(other.bytes);
    }
}

enum Items {
    Seq(Vec<Node>),
    Map {
        pairs: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

struct Frame {
    items: Items,
    span: Span,
    anchor: usize,
    /// the collection itself plus everything pushed into it so far (and still held)
    size: Size,
    /// the top-level `items` sequence of a document whose elements are handed out one by one
    split: bool,
}

struct Anchored {
    node: Node,
    size: Size,
}

struct Builder<'l> {
    limits: &'l Limits,
    mode: Mode,
    stack: Vec<Frame>,
    /// the document or item completed by the last event, for the visitor
    ready: Option<Visit>,
    /// the document being built had its `items` handed out
    split_doc: bool,
    anchors: HashMap<usize, Anchored>,
    /// what the copies kept in `anchors` cost
    anchored: Size,
    documents: u64,
    /// nodes and scalar bytes built and still held (everything built, in `Mode::Collect`),
    /// copies included
    live: Size,
    /// nodes and scalar bytes copied for anchors and aliases in the whole stream
    copied: Size,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits, mode: Mode) -> Self {
        Builder {
            limits,
            mode,
            stack: Vec::new(),
            ready: None,
            split_doc: false,
            anchors: HashMap::new(),
            anchored: Size::default(),
            documents: 0,
            live: Size::default(),
            copied: Size::default(),
        }
    }

    /// Counts `cost` against the budgets before the nodes are built.
    fn charge(&mut self, span: Span, cost: Size) -> Result<(), YamlError> {
        self.within(span, self.live, cost)?;
        self.live.add(cost);
        Ok(())
    }

    /// Counts a copy (an anchor kept, an alias expanded) before it is made: against what is
    /// held, and against what the stream copied in total, which nothing handed out gives back.
    fn charge_copy(&mut self, span: Span, cost: Size) -> Result<(), YamlError> {
        // what is held first: in `Mode::Collect` the copies are part of it, so the total adds
        // no refusal there and every error stays what it was before items could be split
        self.within(span, self.live, cost)?;
        self.within(span, self.copied, cost)?;
        self.live.add(cost);
        self.copied.add(cost);
        Ok(())
    }

    fn within(&self, span: Span, used: Size, cost: Size) -> Result<(), YamlError> {
        if used.nodes.saturating_add(cost.nodes) > self.limits.yaml_nodes {
            return Err(exceeded(span, "yaml.nodes", self.limits.yaml_nodes));
        }
        if used.bytes.saturating_add(cost.bytes) > self.limits.yaml_expanded_bytes {
            return Err(exceeded(
                span,
                "yaml.expanded-bytes",
                self.limits.yaml_expanded_bytes,
            ));
        }
        Ok(())
    }

    /// Gives back what a handed-out node cost; `Mode::Collect` keeps everything it returns.
    fn release(&mut self, size: Size) {
        if self.mode != Mode::Collect {
            self.live.sub(size);
        }
    }

    /// Anchors are local to their document: their copies go when the next one starts.
    fn forget_anchors(&mut self) {
        self.anchors.clear();
        let kept = std::mem::take(&mut self.anchored);
        self.release(kept);
    }

    /// True when a sequence starting now is the value of the top-level `items` key of a
    /// document, and items are to be handed out one by one.
    fn items_of_document(&self) -> bool {
        if self.mode != Mode::SplitItems || self.stack.len() != 1 {
            return false;
        }
        matches!(
            self.stack.first().map(|f| &f.items),
            Some(Items::Map { pending_key: Some(k), .. }) if k.as_text() == Some("items")
        )
    }

    fn depth(&self) -> u64 {
        u64::try_from(self.stack.len()).unwrap_or(u64::MAX)
    }

    /// Keeps a copy of an anchored node for its aliases. The copy is real work, so it is charged
    /// like an alias expansion: otherwise nested anchors around one big scalar would copy it
    /// once per level for free.
    fn remember(&mut self, anchor: usize, node: &Node, size: Size) -> Result<(), YamlError> {
        if anchor > 0 {
            self.charge_copy(node.span, size)?;
            self.anchored.add(size);
            if let Some(old) = self.anchors.get(&anchor).map(|a| a.size) {
                // a redefined anchor replaces the copy (yaml-rust2 numbers anchors per name)
                self.anchored.sub(old);
                self.release(old);
            }
            self.anchors.insert(
                anchor,
                Anchored {
                    node: node.clone(),
                    size,
                },
            );
        }
        Ok(())
    }

    fn push_value(&mut self, node: Node, size: Size) {
        match self.stack.last_mut() {
            None => {
                let items_split = std::mem::take(&mut self.split_doc);
                self.release(size);
                if !node.is_null() {
                    self.ready = Some(Visit::Document { node, items_split });
                }
            }
            Some(frame) if frame.split => {
                // the sequence keeps nothing of a handed-out item
                self.release(size);
                self.ready = Some(Visit::Item(node));
            }
            Some(frame) => {
                frame.size.add_child(size);
                match &mut frame.items {
                    Items::Seq(items) => items.push(node),
                    Items::Map { pairs, pending_key } => match pending_key.take() {
                        None => *pending_key = Some(node),
                        Some(key) => pairs.push((key, node)),
                    },
                }
            }
        }
    }

    fn on_event(&mut self, ev: Event, span: Span) -> Result<(), YamlError> {
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let size = Size {
                    nodes: 1,
                    bytes: u64::try_from(text.len()).unwrap_or(u64::MAX),
                    height: 0,
                };
                self.charge(span, size)?;
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
                self.remember(anchor, &node, size)?;
                self.push_value(node, size);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.depth() >= self.limits.yaml_depth {
                    return Err(exceeded(span, "yaml.depth", self.limits.yaml_depth));
                }
                let size = Size {
                    nodes: 1,
                    bytes: 0,
                    height: 1,
                };
                self.charge(span, size)?;
                let seq = matches!(ev, Event::SequenceStart(..));
                let split = seq && anchor == 0 && self.items_of_document();
                self.split_doc |= split;
                let items = if seq {
                    Items::Seq(Vec::new())
                } else {
                    Items::Map {
                        pairs: Vec::new(),
                        pending_key: None,
                    }
                };
                self.stack.push(Frame {
                    items,
                    span,
                    anchor,
                    size,
                    split,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(Frame {
                    items,
                    mut span,
                    anchor,
                    size,
                    ..
                }) = self.stack.pop()
                else {
                    return Ok(());
                };
                let kind = match items {
                    Items::Seq(items) => NodeKind::Seq(items),
                    Items::Map { pairs, .. } => {
                        // A block mapping's start marker sits just past its first key; the key's
                        // own position is what a reader expects.
                        if let Some((k, _)) = pairs.first()
                            && k.span.line == span.line
                            && k.span.col < span.col
                        {
                            span = k.span;
                        }
                        NodeKind::Map(pairs)
                    }
                };
                let node = Node { kind, span };
                self.remember(anchor, &node, size)?;
                self.push_value(node, size);
            }
            Event::Alias(id) => {
                let Some(size) = self.anchors.get(&id).map(|a| a.size) else {
                    return Err(YamlError {
                        span,
                        message: "unknown alias".into(),
                        exceeded: None,
                    });
                };
                if self.depth().saturating_add(size.height) > self.limits.yaml_depth {
                    return Err(exceeded(span, "yaml.depth", self.limits.yaml_depth));
                }
                self.charge_copy(span, size)?;
                let Some(anchored) = self.anchors.get(&id) else {
                    return Ok(());
                };
                let mut node = anchored.node.clone();
                node.span = span;
                self.push_value(node, size);
            }
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > self.limits.yaml_documents {
                    return Err(exceeded(span, "yaml.documents", self.limits.yaml_documents));
                }
                self.forget_anchors();
            }
            Event::DocumentEnd | Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
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
        // yaml-rust2 itself stops flow collections at 255 levels
        let src = "[".repeat(1000) + &"]".repeat(1000);
        assert!(parse_stream(&src).is_err());
        let shallow = Limits {
            yaml_depth: 10,
            ..Limits::default()
        };
        let src = "[".repeat(11) + &"]".repeat(11);
        let err = parse_stream_with(&src, &shallow).err().map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("yaml.depth")));
        let src = "[".repeat(10) + &"]".repeat(10);
        assert!(parse_stream_with(&src, &shallow).is_ok());
        // an alias that would carry a subtree past the limit is refused too
        let src = "a: &a [[[[[[1]]]]]]\nb: [[[[*a]]]]\n";
        let err = parse_stream_with(src, &shallow).err().map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("yaml.depth")));
        // block nesting is not bounded by the scanner's flow-level limit: one "- " per level
        let src = "- ".repeat(200_000) + "x\n";
        let err = parse_stream(&src).err().map(|e| e.message);
        assert!(
            err.as_ref().is_some_and(|m| m.contains("yaml.depth")),
            "{err:?}"
        );
        let ok = "- ".repeat(200) + "x\n";
        assert!(parse_stream(&ok).is_ok());
    }

    /// The classic 9×9 "billion laughs": 416 bytes that expand to 387 million scalars.
    const BILLION_LAUGHS: &str = r#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"#;

    fn message(r: Result<Vec<Node>, YamlError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn billion_laughs_is_refused_before_it_expands() {
        assert!(BILLION_LAUGHS.len() < 512);
        let start = std::time::Instant::now();
        let m = message(parse_stream(BILLION_LAUGHS));
        assert!(
            m.contains("yaml.nodes") && m.contains("ORK_LIMIT_YAML_NODES"),
            "{m}"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        // the same shape within a budget that fits it parses, and to the right size
        let small = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
        let docs = parse_stream(small).unwrap_or_default();
        let c = docs.first().and_then(|d| d.get("c")).map(Node::to_json);
        assert_eq!(
            c.map(|c| c.to_string()),
            Some(r#"[[["x","x"],["x","x"]],[["x","x"],["x","x"]]]"#.to_string())
        );
    }

    #[test]
    fn big_anchor_aliased_many_times_is_refused() {
        let big = "x".repeat(1 << 20);
        let aliases = vec!["*a"; 5000].join(", ");
        let src = format!("a: &a \"{big}\"\nb: [{aliases}]\n");
        let start = std::time::Instant::now();
        let m = message(parse_stream(&src));
        assert!(m.contains("yaml.expanded-bytes"), "{m}");
        assert!(m.contains("ORK_LIMIT_YAML_EXPANDED_BYTES"), "{m}");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn error_points_at_the_alias_that_would_exceed() {
        let limits = Limits {
            yaml_nodes: 10,
            ..Limits::default()
        };
        // map + 2 keys + anchored list (3) + anchor copy (3) = 9; the alias would add 3 more
        let src = "a: &a [1, 2]\nb: *a\n";
        let err = parse_stream_with(src, &limits).err();
        assert_eq!(err.as_ref().map(|e| e.span), Some(Span { line: 2, col: 4 }));
        assert!(err.is_some_and(|e| e.message.contains("limit 10")
            && e.exceeded == Some(Exceeded::new("yaml.nodes", 10))));
    }

    #[test]
    fn documents_and_file_size_are_bounded() {
        let limits = Limits {
            yaml_documents: 3,
            file_bytes: 64,
            ..Limits::default()
        };
        assert!(parse_stream_with("a: 1\n---\nb: 2\n---\nc: 3\n", &limits).is_ok());
        let m = message(parse_stream_with("a\n---\nb\n---\nc\n---\nd\n", &limits));
        assert!(m.contains("yaml.documents"), "{m}");
        let m = message(parse_stream_with(&"a: 1\n".repeat(20), &limits));
        assert!(m.contains("file.bytes"), "{m}");
    }

    #[test]
    fn anchors_are_local_to_their_document() {
        assert!(parse_stream("a: &x 1\n---\nb: *x\n").is_err());
    }

    #[test]
    fn byte_order_mark_is_not_content() {
        let docs = parse_stream("\u{feff}apiVersion: v1\nkind: List\n").unwrap_or_default();
        let first = docs.first().and_then(Node::as_map).map(|m| m[0].0.clone());
        assert_eq!(first.as_ref().and_then(Node::as_text), Some("apiVersion"));
        assert_eq!(first.map(|k| k.span), Some(Span { line: 1, col: 1 }));
    }

    fn visit_all(src: &str, limits: &Limits, split: bool) -> Result<Vec<Visit>, YamlError> {
        let mut out = Vec::new();
        parse_stream_visit(src, limits, split, |v| out.push(v))?;
        Ok(out)
    }

    #[test]
    fn top_level_items_are_handed_out_one_by_one_before_their_document() {
        // kubectl sorts keys: kind comes after items
        let src = "apiVersion: v1\nitems:\n- {a: 1}\n- b: [2]\nkind: List\nspec:\n  items: [x, y]\n---\nc: 3\n";
        let got = visit_all(src, &Limits::default(), true).unwrap_or_default();
        assert_eq!(got.len(), 4, "{got:?}");
        let Visit::Item(first) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(first.span, Span { line: 3, col: 3 });
        assert_eq!(first.to_json().to_string(), r#"{"a":1}"#);
        assert!(matches!(&got[1], Visit::Item(n) if n.span.line == 4));
        let Visit::Document { node, items_split } = &got[2] else {
            panic!("{got:?}")
        };
        assert!(*items_split);
        // the placeholder sits where the sequence was; nested `items` are not split
        assert_eq!(
            node.get("items").and_then(Node::as_seq).map(<[Node]>::len),
            Some(0)
        );
        assert_eq!(node.get("items").map(|n| n.span.line), Some(3));
        assert_eq!(
            node.to_json().to_string(),
            r#"{"apiVersion":"v1","items":[],"kind":"List","spec":{"items":["x","y"]}}"#
        );
        assert!(matches!(
            &got[3],
            Visit::Document {
                items_split: false,
                ..
            }
        ));
        // without splitting, the same stream reads as parse_stream_with reads it
        let whole = visit_all(src, &Limits::default(), false).unwrap_or_default();
        let docs: Vec<Node> = whole
            .into_iter()
            .filter_map(|v| match v {
                Visit::Document { node, .. } => Some(node),
                Visit::Item(_) => None,
            })
            .collect();
        assert_eq!(Ok(docs), parse_stream(src));
    }

    #[test]
    fn an_anchored_items_sequence_is_built_whole() {
        let src = "items: &i [1, 2]\ncopy: *i\n";
        let got = visit_all(src, &Limits::default(), true).unwrap_or_default();
        assert_eq!(got.len(), 1);
        assert!(
            matches!(&got[0], Visit::Document { items_split: false, node }
            if node.to_json() == serde_json::json!({"copy": [1, 2], "items": [1, 2]}))
        );
    }

    #[test]
    fn split_items_bound_what_is_held_not_the_list() {
        let limits = Limits {
            yaml_nodes: 100,
            ..Limits::default()
        };
        // 50 items of 5 nodes each: 250 nodes in all, never more than ~10 held at once
        let items: Vec<String> = (0..50).map(|i| format!("- {{k: {i}, v: x}}")).collect();
        let src = format!("kind: List\nitems:\n{}\n", items.join("\n"));
        let m = message(parse_stream_with(&src, &limits));
        assert!(m.contains("yaml.nodes"), "{m}");
        let got = visit_all(&src, &limits, true).unwrap_or_default();
        assert_eq!(got.len(), 51);
        // nor do documents handed out count against those after them
        let docs = vec!["{k: 1, v: x}"; 50].join("\n---\n");
        assert!(parse_stream_with(&docs, &limits).is_err());
        assert_eq!(visit_all(&docs, &limits, false).map(|v| v.len()), Ok(50));
    }

    #[test]
    fn a_billion_laughs_item_is_refused_before_it_expands() {
        let item: String = BILLION_LAUGHS
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect();
        let src = format!("kind: List\nitems:\n  - ok: 1\n  -\n{item}");
        let start = std::time::Instant::now();
        let mut seen = 0;
        let err = parse_stream_visit(&src, &Limits::default(), true, |_| seen += 1).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.message.contains("yaml.nodes")),
            "{err:?}"
        );
        assert_eq!(seen, 1, "the first item was handed out before the refusal");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn alias_copies_are_bounded_over_the_whole_stream() {
        // each item copies a 1,000-node anchor: small items, but 2,000 copies are 2M nodes of
        // work from a small file, over the budget in total although never held at once
        let anchor = vec!["x"; 999].join(", ");
        let items = vec!["  - *a"; 2000].join("\n");
        let src = format!("kind: List\nbig: &a [{anchor}]\nitems:\n{items}\n");
        let err = parse_stream_visit(&src, &Limits::default(), true, |_| ()).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.message.contains("yaml.nodes")),
            "{err:?}"
        );
        let few = format!(
            "kind: List\nbig: &a [{anchor}]\nitems:\n{}\n",
            vec!["  - *a"; 900].join("\n")
        );
        assert!(parse_stream_visit(&few, &Limits::default(), true, |_| ()).is_ok());
    }

    fn yaml_rust2_only(src: &str) -> Result<Vec<Node>, YamlError> {
        let mut docs = Vec::new();
        run_events(
            src,
            &Limits::default(),
            Mode::Collect,
            &mut |v| {
                if let Visit::Document { node, .. } = v {
                    docs.push(node);
                }
            },
            false,
        )?;
        Ok(docs)
    }

    /// The JSON fast path must give what yaml-rust2 gives, positions included, and take only
    /// texts where it does.
    #[test]
    fn json_fast_path_reads_json_as_yaml_rust2_does() {
        let long_key = "k".repeat(2000);
        let samples = [
            r#"{"a":1}"#.to_string(),
            "{}".into(),
            "[]".into(),
            " \n [ {} , [ ] , \"x\" ]\n\n".into(),
            r#"{"apiVersion":"v1","kind":"List","items":[{"a":[1,-2,3.5,-0,1e5,1.5E-3,10e+2,0.0]},{"t":true,"f":false,"n":null}]}"#.into(),
            "{\n  \"metadata\": {\n    \"name\": \"web\",\n    \"labels\": {}\n  },\n  \"items\": [\n    1,\n    \"two\"\n  ]\n}\n".into(),
            "{\r\n  \"a\": [1,\r\n 2]\r\n}\r\n".into(),
            r#"{"esc":"q\" b\\ s\/ \b\f\n\r\t \u00e9\u0000\u2603", "raw":"é 日本 😀 # : - [ ] { } , &a *b !t %"}"#.into(),
            r#"{"dup":1,"dup":2, "": "", " spaced key ": "v"}"#.into(),
            format!(r#"{{"{long_key}": "{long_key}", "b": [{{"{long_key}": 1}}]}}"#),
            format!("[{}]", vec![r#"{"a":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#; 60].join(",")),
            "[[[[[[[[[[1]]]]]]]]]]".into(),
        ];
        for src in &samples {
            assert!(json::plain_json(src), "not taken: {src}");
            assert_eq!(parse_stream(src), yaml_rust2_only(src), "{src}");
        }
        // left to yaml-rust2: not JSON, or JSON that YAML may read otherwise
        let others = [
            "a: 1",
            "{a: 1}",
            "{\"a\":\t1}",
            r#"{"a":"\ud83d\ude00"}"#,
            "{\"a\":\"tab\there\"}",
            "{\"a\":1}\n{\"b\":2}",
            "{\"a\":1,}",
            "[1 2]",
            "{\"a\" 1}",
            "[01]",
            "[1.]",
            "[.5]",
            "[+1]",
            "[nul]",
            "{\"a\":1}\r",
            "\"string\"",
            "",
            "[1]\n# comment\n",
            "{\"a\":\"\u{85}\"}",
        ];
        for src in others {
            assert!(!json::plain_json(src), "taken: {src:?}");
        }
        let deep = "[".repeat(201) + &"]".repeat(201);
        assert!(!json::plain_json(&deep));
        assert!(json::plain_json(&("[".repeat(200) + &"]".repeat(200))));
    }

    /// Random JSON in random layouts: the fast path and yaml-rust2 agree on every one.
    #[test]
    fn json_fast_path_agrees_with_yaml_rust2_on_random_documents() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        fn value(next: &mut dyn FnMut(u64) -> u64, depth: u32, out: &mut String) {
            let pad = |next: &mut dyn FnMut(u64) -> u64, out: &mut String| match next(4) {
                0 => out.push('\n'),
                1 => out.push_str("\n    "),
                2 => out.push(' '),
                _ => {}
            };
            let strings = [
                "",
                "a",
                "web-1",
                "é",
                "日本語",
                "😀",
                "x:y",
                "- a",
                "#c",
                "q\\\"q",
                "\\u00e9",
                "\\n",
                "true",
                "1.5",
                "null",
                "~",
            ];
            match if depth > 4 { next(3) } else { next(6) } {
                0 => out.push_str(
                    [
                        "0",
                        "-1",
                        "2.5",
                        "1e3",
                        "true",
                        "false",
                        "null",
                        "12345678901234567890",
                    ][next(8) as usize],
                ),
                1 | 2 => {
                    out.push('"');
                    out.push_str(strings[next(strings.len() as u64) as usize]);
                    out.push('"');
                }
                3 | 4 => {
                    out.push('{');
                    for i in 0..next(4) {
                        if i > 0 {
                            out.push(',');
                        }
                        pad(next, out);
                        out.push('"');
                        out.push_str(strings[next(strings.len() as u64) as usize]);
                        out.push_str("\":");
                        pad(next, out);
                        value(next, depth + 1, out);
                    }
                    pad(next, out);
                    out.push('}');
                }
                _ => {
                    out.push('[');
                    for i in 0..next(4) {
                        if i > 0 {
                            out.push(',');
                        }
                        pad(next, out);
                        value(next, depth + 1, out);
                    }
                    pad(next, out);
                    out.push(']');
                }
            }
        }
        let mut taken = 0;
        for _ in 0..2000 {
            let mut src = String::new();
            value(&mut next, 0, &mut src);
            if json::plain_json(&src) {
                taken += 1;
            }
            assert_eq!(parse_stream(&src), yaml_rust2_only(&src), "{src}");
        }
        // about half are a scalar alone, which the fast path leaves to yaml-rust2
        assert!(taken > 800, "{taken}");
    }
}
