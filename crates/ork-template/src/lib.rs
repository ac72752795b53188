//! Go `text/template` semantics for Katalog templates (docs/katalog.md §5).
//!
//! ## Why ork has its own engine
//! The Rust port of Go templates (`gtmpl`) renders a missing key as `<no value>`, has no
//! `break`/`continue`, and offers no way to inspect a parsed template. ork needs all three plus:
//! unknown functions and wrong argument counts reported at validate time with a position; the
//! paths a template reads from its data roots (to reject `.Spec.Image` or `.cross.x` offline);
//! whether a template calls a volatile function (rejected where a value is written every cycle);
//! and the raw value of a bare-path action (`"{{ .spec.list }}"` yields the list itself). Those
//! are properties of the parser and the executor, so they live here, in one small engine.
//!
//! Semantics: missing map keys (and everything beneath them) are missing, and a missing value
//! prints as "" in every context — `<no value>` is never produced.

mod ast;
pub mod duration;
mod exec;
pub mod funcs;
mod lex;
mod parse;
mod printf;
pub mod value;

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

pub use funcs::{Ctx, FUNCS, Func, lookup};
pub use value::V;

use ast::{Arg, Node, Pipe};

/// A parse error with its position inside the template text (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub offset: usize,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template:{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for ParseError {}

/// An execution error: the message and the action that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecError {
    pub message: String,
    /// The failing action's source text (`{{ .spec.pw | toInt }}`): Katalog text, never data.
    pub action: String,
    /// The function whose own error this is, when it is one. Such a message may quote an
    /// argument, that is a data value; every other message (budgets, missing templates, paths
    /// through scalars) is made of template text and type names only.
    pub function: Option<&'static str>,
}

impl ExecError {
    /// The error without anything derived from data, for templates whose values must not leak
    /// (Secret data): `{{ .spec.pw | toInt }}: error calling toInt (value withheld)`.
    pub fn without_values(&self) -> String {
        let Some(function) = self.function else {
            return self.to_string();
        };
        if self.action.is_empty() {
            format!("error calling {function} (value withheld)")
        } else {
            format!("{}: error calling {function} (value withheld)", self.action)
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.action.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.action, self.message)
        }
    }
}

impl std::error::Error for ExecError {}

/// A path read from a data root (`.spec.image` outside `range`/`with`, or `$.spec.image`).
#[derive(Debug, Clone, PartialEq)]
pub struct RootPath {
    pub segments: Vec<String>,
    pub offset: usize,
}

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    root: Vec<Node>,
    defines: HashMap<String, Vec<Node>>,
    /// the text it was parsed from (Katalog text, never data): messages name it
    src: String,
}

/// True when a value is a template at all (contains `{{`); otherwise it is used verbatim.
pub fn is_template(s: &str) -> bool {
    s.contains("{{")
}

impl Template {
    /// The template's own text.
    pub fn source(&self) -> &str {
        &self.src
    }

    pub fn parse(src: &str) -> Result<Template, ParseError> {
        match parse::parse(src) {
            Ok(p) => Ok(Template {
                root: p.root,
                defines: p.defines,
                src: src.to_string(),
            }),
            Err(e) => {
                let (line, col) = line_col(src, e.pos);
                Err(ParseError {
                    offset: e.pos,
                    line,
                    col,
                    message: e.message,
                    hint: e.hint,
                })
            }
        }
    }

    /// Renders to text, within the budgets of `ctx` (`template.*`). The data is read in
    /// place, never copied.
    pub fn render_with(&self, data: &Value, ctx: &mut Ctx) -> Result<String, ExecError> {
        let mut out = String::with_capacity(self.src.len() + 16);
        let dot = exec::Val::Ref(data);
        let mut ex = exec::Exec {
            defines: &self.defines,
            ctx,
            vars: vec![(String::new(), dot.clone())],
            steps: 0,
            depth: 0,
        };
        ex.nodes(&self.root, &dot, &mut out).map_err(exec_error)?;
        Ok(out)
    }

    /// The pipeline of a template that is exactly one action around a bare path
    /// (`"{{ .spec.targetNamespaces }}"`), if it is one.
    fn bare_path(&self) -> Option<&Pipe> {
        let mut action = None;
        for n in &self.root {
            match n {
                Node::Text(t) if t.trim().is_empty() => {}
                Node::Action(p)
                    if action.is_none()
                        && p.decl.is_empty()
                        && p.cmds.len() == 1
                        && p.cmds[0].args.len() == 1 =>
                {
                    match &p.cmds[0].args[0] {
                        Arg::Field(..) | Arg::Var(..) => action = Some(p),
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
        action
    }

    /// True when the template is one bare-path action whose raw value can be used.
    pub fn is_bare_path(&self) -> bool {
        self.bare_path().is_some()
    }

    /// For a bare-path template, the raw value (missing → `None`); otherwise the rendered text.
    pub fn render_value(&self, data: &Value, ctx: &mut Ctx) -> Result<V, ExecError> {
        if let Some(p) = self.bare_path() {
            let dot = exec::Val::Ref(data);
            let mut ex = exec::Exec {
                defines: &self.defines,
                ctx,
                vars: vec![(String::new(), dot.clone())],
                steps: 0,
                depth: 0,
            };
            // only the value the path names is copied out, not the data around it
            return ex.pipe(p, &dot).map(exec::Val::into_v).map_err(exec_error);
        }
        self.render_with(data, ctx).map(|s| Some(Value::String(s)))
    }

    /// Names of the volatile functions the template calls (`uuidv4`, `random*`, `now`).
    pub fn volatile_functions(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        self.visit_funcs(&mut |name| {
            if let Some(f) = funcs::lookup(name)
                && f.volatile
                && !out.contains(&f.name)
            {
                out.push(f.name);
            }
        });
        out
    }

    fn visit_funcs(&self, f: &mut dyn FnMut(&str)) {
        fn pipe(p: &Pipe, f: &mut dyn FnMut(&str)) {
            for c in &p.cmds {
                for a in &c.args {
                    match a {
                        Arg::Func(n, _) => f(n),
                        Arg::Sub(s, _) => pipe(s, f),
                        _ => {}
                    }
                }
            }
        }
        fn nodes(ns: &[Node], f: &mut dyn FnMut(&str)) {
            for n in ns {
                match n {
                    Node::Action(p) => pipe(p, f),
                    Node::If {
                        branches,
                        otherwise,
                    }
                    | Node::With {
                        branches,
                        otherwise,
                    } => {
                        for (p, b) in branches {
                            pipe(p, f);
                            nodes(b, f);
                        }
                        if let Some(o) = otherwise {
                            nodes(o, f);
                        }
                    }
                    Node::Range {
                        pipe: p,
                        body,
                        otherwise,
                    } => {
                        pipe(p, f);
                        nodes(body, f);
                        if let Some(o) = otherwise {
                            nodes(o, f);
                        }
                    }
                    Node::Template { pipe: Some(p), .. } => pipe(p, f),
                    _ => {}
                }
            }
        }
        nodes(&self.root, f);
        for body in self.defines.values() {
            nodes(body, f);
        }
    }

    /// Paths read from the data roots: fields on the top-level dot (outside `range`/`with`
    /// bodies and `define`s, where the dot is something else) and every `$.x` path.
    pub fn root_paths(&self) -> Vec<RootPath> {
        fn pipe(p: &Pipe, at_root: bool, out: &mut Vec<RootPath>) {
            for c in &p.cmds {
                for a in &c.args {
                    match a {
                        Arg::Field(segs, pos) if at_root && !segs.is_empty() => {
                            out.push(RootPath {
                                segments: segs.clone(),
                                offset: *pos,
                            })
                        }
                        Arg::Var(name, segs, pos) if name.is_empty() && !segs.is_empty() => out
                            .push(RootPath {
                                segments: segs.clone(),
                                offset: *pos,
                            }),
                        Arg::Sub(s, _) => pipe(s, at_root, out),
                        _ => {}
                    }
                }
            }
        }
        fn nodes(ns: &[Node], at_root: bool, out: &mut Vec<RootPath>) {
            for n in ns {
                match n {
                    Node::Action(p) => pipe(p, at_root, out),
                    Node::If {
                        branches,
                        otherwise,
                    } => {
                        for (p, b) in branches {
                            pipe(p, at_root, out);
                            nodes(b, at_root, out);
                        }
                        if let Some(o) = otherwise {
                            nodes(o, at_root, out);
                        }
                    }
                    Node::With {
                        branches,
                        otherwise,
                    } => {
                        for (p, b) in branches {
                            pipe(p, at_root, out);
                            nodes(b, false, out);
                        }
                        if let Some(o) = otherwise {
                            nodes(o, at_root, out);
                        }
                    }
                    Node::Range {
                        pipe: p,
                        body,
                        otherwise,
                    } => {
                        pipe(p, at_root, out);
                        nodes(body, false, out);
                        if let Some(o) = otherwise {
                            nodes(o, at_root, out);
                        }
                    }
                    Node::Template { pipe: Some(p), .. } => pipe(p, at_root, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        nodes(&self.root, true, &mut out);
        for body in self.defines.values() {
            nodes(body, false, &mut out);
        }
        out
    }
}

fn exec_error(f: exec::Fail) -> ExecError {
    ExecError {
        message: f.message,
        action: f.action,
        function: f.function,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests;
