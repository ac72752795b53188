//! Parser from tokens to the AST, with the static checks ork runs at validate time.

use std::collections::HashMap;

use serde_json::Value;

use crate::ast::{Arg, Cmd, Node, Pipe};
use crate::funcs;
use crate::lex::{Tok, Token, lex};

#[derive(Debug)]
pub(crate) struct PErr {
    pub pos: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl PErr {
    fn new(pos: usize, message: impl Into<String>) -> Self {
        PErr {
            pos,
            message: message.into(),
            hint: None,
        }
    }
}

pub(crate) struct Parsed {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

struct P<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    defines: HashMap<String, Vec<Node>>,
    range_depth: usize,
}

enum Stop {
    Eof,
    End,
    Else(Option<(String, Pipe)>), // `else`, `else if P`, `else with P`
}

pub(crate) fn parse(src: &str) -> Result<Parsed, PErr> {
    let toks = lex(src).map_err(|e| PErr::new(e.pos, e.message))?;
    let mut p = P {
        src,
        toks,
        i: 0,
        defines: HashMap::new(),
        range_depth: 0,
    };
    let (root, end) = p.list(true)?;
    match end {
        Stop::Eof => {}
        Stop::End => return Err(PErr::new(p.prev_pos(), "unexpected {{end}}")),
        Stop::Else(_) => return Err(PErr::new(p.prev_pos(), "unexpected {{else}}")),
    }
    Ok(Parsed {
        root,
        defines: p.defines,
    })
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }
    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .map(|t| t.pos)
            .unwrap_or(self.src.len())
    }
    fn prev_pos(&self) -> usize {
        self.toks
            .get(self.i.saturating_sub(1))
            .map(|t| t.pos)
            .unwrap_or(0)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn expect_close(&mut self, what: &str) -> Result<(), PErr> {
        match self.next() {
            Some(Token {
                tok: Tok::Close, ..
            }) => Ok(()),
            Some(t) => Err(PErr::new(
                t.pos,
                format!("unexpected {} in {what}", describe(&t.tok)),
            )),
            None => Err(PErr::new(self.src.len(), format!("unclosed {what}"))),
        }
    }

    /// Parses nodes until EOF, `{{end}}` or `{{else}}`.
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Stop), PErr> {
        let mut nodes = Vec::new();
        loop {
            let Some(t) = self.next() else {
                return Ok((nodes, Stop::Eof));
            };
            match t.tok {
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Open => {
                    let open = t.pos;
                    match self.peek().cloned() {
                        Some(Tok::Ident(kw)) => match kw.as_str() {
                            "end" => {
                                self.i += 1;
                                self.expect_close("end")?;
                                return Ok((nodes, Stop::End));
                            }
                            "else" => {
                                self.i += 1;
                                if let Some(Tok::Ident(k)) = self.peek().cloned()
                                    && (k == "if" || k == "with")
                                {
                                    self.i += 1;
                                    let pipe = self.pipe(open, &k)?;
                                    return Ok((nodes, Stop::Else(Some((k, pipe)))));
                                }
                                self.expect_close("else")?;
                                return Ok((nodes, Stop::Else(None)));
                            }
                            "if" | "with" => {
                                self.i += 1;
                                nodes.push(self.branching(&kw, open)?);
                            }
                            "range" => {
                                self.i += 1;
                                let pipe = self.pipe(open, "range")?;
                                self.range_depth += 1;
                                let (body, end) = self.list(false)?;
                                let otherwise = match end {
                                    Stop::End => None,
                                    Stop::Else(None) => {
                                        let (o, e2) = self.list(false)?;
                                        self.need_end(e2, "range")?;
                                        Some(o)
                                    }
                                    Stop::Else(Some(_)) => {
                                        return Err(PErr::new(
                                            open,
                                            "range cannot have else if / else with",
                                        ));
                                    }
                                    Stop::Eof => {
                                        return Err(PErr::new(
                                            open,
                                            "unexpected EOF: {{range}} has no {{end}}",
                                        ));
                                    }
                                };
                                self.range_depth -= 1;
                                nodes.push(Node::Range {
                                    pipe,
                                    body,
                                    otherwise,
                                });
                            }
                            "break" | "continue" => {
                                self.i += 1;
                                if self.range_depth == 0 {
                                    return Err(PErr::new(
                                        open,
                                        format!("{{{{{kw}}}}} outside {{{{range}}}}"),
                                    ));
                                }
                                self.expect_close(&kw)?;
                                nodes.push(if kw == "break" {
                                    Node::Break
                                } else {
                                    Node::Continue
                                });
                            }
                            "define" | "block" => {
                                self.i += 1;
                                if kw == "define" && !top {
                                    return Err(PErr::new(
                                        open,
                                        "{{define}} is only allowed at the top level",
                                    ));
                                }
                                let name = match self.next() {
                                    Some(Token {
                                        tok: Tok::Str(s), ..
                                    }) => s,
                                    _ => {
                                        return Err(PErr::new(
                                            open,
                                            format!("{kw} needs a quoted template name"),
                                        ));
                                    }
                                };
                                let pipe = if kw == "block" {
                                    Some(self.pipe(open, "block")?)
                                } else {
                                    self.expect_close("define")?;
                                    None
                                };
                                let saved = self.range_depth;
                                self.range_depth = 0;
                                let (body, end) = self.list(false)?;
                                self.range_depth = saved;
                                self.need_end(end, &kw)?;
                                self.defines.insert(name.clone(), body);
                                if kw == "block" {
                                    nodes.push(Node::Template { name, pipe });
                                }
                            }
                            "template" => {
                                self.i += 1;
                                let name = match self.next() {
                                    Some(Token {
                                        tok: Tok::Str(s), ..
                                    }) => s,
                                    _ => {
                                        return Err(PErr::new(
                                            open,
                                            "template needs a quoted template name",
                                        ));
                                    }
                                };
                                let pipe = if matches!(self.peek(), Some(Tok::Close)) {
                                    self.i += 1;
                                    None
                                } else {
                                    Some(self.pipe(open, "template")?)
                                };
                                nodes.push(Node::Template { name, pipe });
                            }
                            _ => nodes.push(Node::Action(self.pipe(open, "action")?)),
                        },
                        _ => nodes.push(Node::Action(self.pipe(open, "action")?)),
                    }
                }
                other => return Err(PErr::new(t.pos, format!("unexpected {}", describe(&other)))),
            }
        }
    }

    fn need_end(&self, end: Stop, what: &str) -> Result<(), PErr> {
        match end {
            Stop::End => Ok(()),
            Stop::Eof => Err(PErr::new(
                self.src.len(),
                format!("unexpected EOF: {{{{{what}}}}} has no {{{{end}}}}"),
            )),
            Stop::Else(_) => Err(PErr::new(
                self.prev_pos(),
                format!("unexpected {{{{else}}}} in {{{{{what}}}}}"),
            )),
        }
    }

    fn branching(&mut self, kw: &str, open: usize) -> Result<Node, PErr> {
        let mut branches = Vec::new();
        let mut pipe = self.pipe(open, kw)?;
        let mut kind = kw.to_string();
        let otherwise;
        loop {
            let (body, end) = self.list(false)?;
            branches.push((pipe, body));
            match end {
                Stop::End => {
                    otherwise = None;
                    break;
                }
                Stop::Else(None) => {
                    let (o, e2) = self.list(false)?;
                    self.need_end(e2, kw)?;
                    otherwise = Some(o);
                    break;
                }
                Stop::Else(Some((k, p))) => {
                    if k != kind {
                        // `else with` inside `if` (or the reverse): nest it
                        let nested_kind = k.clone();
                        let (body2, end2) = self.list(false)?;
                        let mut nested_branches = vec![(p, body2)];
                        let nested_otherwise = match end2 {
                            Stop::End => None,
                            Stop::Else(None) => {
                                let (o, e3) = self.list(false)?;
                                self.need_end(e3, &nested_kind)?;
                                Some(o)
                            }
                            Stop::Else(Some(_)) => {
                                return Err(PErr::new(
                                    open,
                                    "else chain mixes if and with too deeply",
                                ));
                            }
                            Stop::Eof => {
                                return Err(PErr::new(
                                    open,
                                    format!("unexpected EOF: {{{{{kw}}}}} has no {{{{end}}}}"),
                                ));
                            }
                        };
                        let nested = if nested_kind == "if" {
                            Node::If {
                                branches: std::mem::take(&mut nested_branches),
                                otherwise: nested_otherwise,
                            }
                        } else {
                            Node::With {
                                branches: std::mem::take(&mut nested_branches),
                                otherwise: nested_otherwise,
                            }
                        };
                        otherwise = Some(vec![nested]);
                        break;
                    }
                    pipe = p;
                    kind = k;
                }
                Stop::Eof => {
                    return Err(PErr::new(
                        open,
                        format!("unexpected EOF: {{{{{kw}}}}} has no {{{{end}}}}"),
                    ));
                }
            }
        }
        Ok(if kw == "if" {
            Node::If {
                branches,
                otherwise,
            }
        } else {
            Node::With {
                branches,
                otherwise,
            }
        })
    }

    /// `[$a[, $b] :=|=] cmd ('|' cmd)*` up to `}}` (consumed).
    fn pipe(&mut self, open: usize, ctx: &str) -> Result<Pipe, PErr> {
        let start = self.pos();
        let mut decl = Vec::new();
        let mut assign = false;
        // declarations
        let save = self.i;
        if let Some(Tok::Var(v)) = self.peek().cloned() {
            self.i += 1;
            match self.peek() {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    assign = matches!(self.peek(), Some(Tok::Assign));
                    self.i += 1;
                    decl.push(v);
                }
                Some(Tok::Comma) if ctx == "range" => {
                    self.i += 1;
                    match (self.next(), self.next()) {
                        (
                            Some(Token {
                                tok: Tok::Var(v2), ..
                            }),
                            Some(Token {
                                tok: Tok::Declare | Tok::Assign,
                                ..
                            }),
                        ) => {
                            decl.push(v);
                            decl.push(v2);
                        }
                        _ => {
                            return Err(PErr::new(
                                open,
                                "range can only initialize variables as $i, $v :=",
                            ));
                        }
                    }
                }
                _ => self.i = save,
            }
        }
        let mut cmds = Vec::new();
        loop {
            let cmd = self.command(open, false)?;
            cmds.push(cmd);
            match self.next() {
                Some(Token { tok: Tok::Pipe, .. }) => continue,
                Some(Token {
                    tok: Tok::Close,
                    pos,
                }) => {
                    let src = format!("{{{{{}}}}}", self.src.get(start..pos).unwrap_or("").trim());
                    self.check_pipe(&cmds)?;
                    return Ok(Pipe {
                        decl,
                        assign,
                        cmds,
                        src,
                    });
                }
                Some(t) => {
                    return Err(PErr::new(
                        t.pos,
                        format!("unexpected {} in {ctx}", describe(&t.tok)),
                    ));
                }
                None => return Err(PErr::new(open, format!("unclosed {ctx}"))),
            }
        }
    }

    /// Operands up to `|`, `}}` or `)` (not consumed).
    fn command(&mut self, open: usize, in_paren: bool) -> Result<Cmd, PErr> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            match self.peek() {
                None => return Err(PErr::new(open, "unclosed action")),
                Some(Tok::Pipe) | Some(Tok::Close) => break,
                Some(Tok::RParen) => {
                    if in_paren {
                        break;
                    }
                    return Err(PErr::new(self.pos(), "unexpected right paren"));
                }
                _ => {}
            }
            let t = self
                .next()
                .ok_or_else(|| PErr::new(open, "unclosed action"))?;
            let arg = match t.tok {
                Tok::Dot => Arg::Field(Vec::new(), t.pos),
                Tok::Field(f) => {
                    let mut path = vec![f];
                    self.fields(&mut path);
                    Arg::Field(path, t.pos)
                }
                Tok::Var(v) => {
                    let mut path = Vec::new();
                    self.fields(&mut path);
                    Arg::Var(v, path, t.pos)
                }
                Tok::Str(s) => Arg::Const(Value::String(s)),
                Tok::Int(i) => Arg::Const(Value::from(i)),
                Tok::Float(f) => Arg::Const(
                    serde_json::Number::from_f64(f)
                        .map(Value::Number)
                        .unwrap_or(Value::Null),
                ),
                Tok::Char(c) => Arg::Const(Value::from(c as u32)),
                Tok::Ident(id) => match id.as_str() {
                    "true" => Arg::Const(Value::Bool(true)),
                    "false" => Arg::Const(Value::Bool(false)),
                    "nil" => Arg::Nil(t.pos),
                    "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block"
                    | "break" | "continue" => {
                        return Err(PErr::new(
                            t.pos,
                            format!("unexpected keyword {id:?} in operand"),
                        ));
                    }
                    _ => Arg::Func(id, t.pos),
                },
                Tok::LParen => {
                    let sub = self.paren_pipe(open, t.pos)?;
                    let mut path = Vec::new();
                    self.fields(&mut path);
                    Arg::Sub(Box::new(sub), path)
                }
                Tok::Chain(f) => {
                    return Err(PErr::new(t.pos, format!("unexpected .{f} in operand")));
                }
                other => {
                    return Err(PErr::new(
                        t.pos,
                        format!("unexpected {} in operand", describe(&other)),
                    ));
                }
            };
            args.push(arg);
        }
        if args.is_empty() {
            return Err(PErr::new(pos, "missing value for command"));
        }
        Ok(Cmd { args, pos })
    }

    fn paren_pipe(&mut self, open: usize, lpos: usize) -> Result<Pipe, PErr> {
        let mut cmds = Vec::new();
        let start = self.pos();
        loop {
            cmds.push(self.command(open, true)?);
            match self.next() {
                Some(Token { tok: Tok::Pipe, .. }) => continue,
                Some(Token {
                    tok: Tok::RParen,
                    pos,
                }) => {
                    self.check_pipe(&cmds)?;
                    let src = format!("({})", self.src.get(start..pos).unwrap_or(""));
                    return Ok(Pipe {
                        decl: Vec::new(),
                        assign: false,
                        cmds,
                        src,
                    });
                }
                _ => return Err(PErr::new(lpos, "unclosed left paren")),
            }
        }
    }

    fn fields(&mut self, path: &mut Vec<String>) {
        while let Some(Tok::Chain(f)) = self.peek().cloned() {
            path.push(f);
            self.i += 1;
        }
    }

    /// Static checks: known functions, argument counts (counting a piped value), operands that
    /// cannot take arguments.
    fn check_pipe(&self, cmds: &[Cmd]) -> Result<(), PErr> {
        for (n, cmd) in cmds.iter().enumerate() {
            let piped = usize::from(n > 0);
            match &cmd.args[0] {
                Arg::Func(name, pos) => {
                    let given = cmd.args.len() - 1 + piped;
                    check_call(name, given, *pos)?;
                }
                first => {
                    if cmd.args.len() > 1 || piped > 0 {
                        let pos = match first {
                            Arg::Field(_, p) | Arg::Var(_, _, p) | Arg::Nil(p) => *p,
                            _ => cmd.pos,
                        };
                        return Err(PErr::new(pos, "can't give argument to non-function"));
                    }
                    if let Arg::Nil(p) = first {
                        return Err(PErr::new(*p, "nil is not a command"));
                    }
                }
            }
            for a in &cmd.args[1..] {
                if let Arg::Func(name, pos) = a {
                    // a bare function name as an argument is a call without arguments
                    check_call(name, 0, *pos)?;
                }
            }
        }
        Ok(())
    }
}

fn check_call(name: &str, given: usize, pos: usize) -> Result<(), PErr> {
    match funcs::lookup(name) {
        Some(f) => {
            if given < f.min_args || f.max_args.is_some_and(|m| given > m) {
                let want = match f.max_args {
                    Some(m) if m == f.min_args => format!("{m}"),
                    Some(m) => format!("{} to {m}", f.min_args),
                    None => format!("at least {}", f.min_args),
                };
                return Err(PErr::new(
                    pos,
                    format!("wrong number of args for {name}: want {want} got {given}"),
                ));
            }
            Ok(())
        }
        None if funcs::REJECTED.contains(&name) => Err(PErr::new(
            pos,
            format!("function {name:?} is not supported"),
        )),
        None => Err(PErr {
            pos,
            message: format!("function {name:?} not defined"),
            hint: funcs::did_you_mean(name).map(|s| format!("did you mean {s:?}?")),
        }),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Open => "{{".into(),
        Tok::Close => "}}".into(),
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Field(f) | Tok::Chain(f) => format!(".{f}"),
        Tok::Dot => ".".into(),
        Tok::Var(v) => format!("${v}"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Int(i) => i.to_string(),
        Tok::Float(f) => f.to_string(),
        Tok::Char(c) => format!("{c:?}"),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Pipe => "|".into(),
        Tok::Declare => ":=".into(),
        Tok::Assign => "=".into(),
        Tok::Comma => ",".into(),
    }
}
