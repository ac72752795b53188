//! The parsed form of a template.

use serde_json::Value;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If {
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Option<Vec<Node>>,
    },
    With {
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Option<Vec<Node>>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Option<Vec<Node>>,
    },
    Template {
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub decl: Vec<String>,
    /// `=` instead of `:=`
    pub assign: bool,
    pub cmds: Vec<Cmd>,
    /// The action's source text, for execution errors.
    pub src: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub args: Vec<Arg>,
    pub pos: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.a.b` on the current dot; empty = `.`
    Field(Vec<String>, usize),
    /// `$x.a.b`; name "" is `$`
    Var(String, Vec<String>, usize),
    Const(Value),
    Nil(usize),
    Func(String, usize),
    /// `(pipe).a.b`
    Sub(Box<Pipe>, Vec<String>),
}
