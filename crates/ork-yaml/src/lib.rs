//! YAML with source positions.
//!
//! ork reports every problem in a user's file as `FILE:LINE:COL`, so it cannot use a YAML
//! library that throws positions away (serde-based loaders do). This crate builds a small node
//! tree from `yaml-rust2`'s marked event stream: every node keeps the line and column where it
//! starts, mappings keep duplicate keys (the strict decoders above report them with a path), and
//! plain scalars are resolved with the YAML 1.2 core schema (`yes`/`on` stay strings).
//!
//! It also has the deterministic emitter ork uses to print Kubernetes objects.

mod emit;
mod json;
mod node;
mod parse;

pub use emit::{to_yaml_document, to_yaml_string, to_yaml_string_within};
pub use node::{Node, NodeKind, Scalar, ScalarStyle, ScalarValue, Span};
pub use parse::{Visit, YamlError, parse_stream, parse_stream_visit, parse_stream_with};
