//! Executes a parsed template against JSON data.

use std::collections::HashMap;

use serde_json::Value;

use crate::ast::{Arg, Cmd, Node, Pipe};
use crate::funcs::{self, Ctx, Imp};
use crate::value::{V, kind, truthy, write_text};

/// Work budget per render: a template cannot loop forever, but `range` over large data and
/// recursive `template` calls can multiply; past this many steps the render fails.
const STEP_BUDGET: u64 = 2_000_000;
const MAX_TEMPLATE_DEPTH: usize = 64;
const MAX_OUTPUT: usize = 4 << 20;

pub(crate) struct Exec<'a> {
    pub defines: &'a HashMap<String, Vec<Node>>,
    pub ctx: &'a mut Ctx,
    pub vars: Vec<(String, V)>,
    pub steps: u64,
    pub depth: usize,
}

#[derive(Debug)]
pub(crate) struct Fail {
    pub message: String,
    pub action: String,
}

pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, Fail>;

impl Exec<'_> {
    fn fail(&self, pipe: &Pipe, message: impl Into<String>) -> Fail {
        Fail {
            message: message.into(),
            action: pipe.src.clone(),
        }
    }

    fn tick(&mut self, action: &str) -> R<()> {
        self.steps += 1;
        if self.steps > STEP_BUDGET {
            return Err(Fail {
                message: "template exceeded its work budget".into(),
                action: action.into(),
            });
        }
        Ok(())
    }

    pub fn nodes(&mut self, nodes: &[Node], dot: &V, out: &mut String) -> R<Flow> {
        for n in nodes {
            if out.len() > MAX_OUTPUT {
                return Err(Fail {
                    message: "template output exceeds 4 MiB".into(),
                    action: String::new(),
                });
            }
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    self.tick(&p.src)?;
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        write_text(v.as_ref(), out);
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                }
                | Node::With {
                    branches,
                    otherwise,
                } => {
                    let is_with = matches!(n, Node::With { .. });
                    let mark = self.vars.len();
                    let mut taken = false;
                    for (p, body) in branches {
                        self.tick(&p.src)?;
                        let v = self.pipe(p, dot)?;
                        if truthy(&v) {
                            taken = true;
                            let flow = if is_with {
                                self.nodes(body, &v, out)?
                            } else {
                                self.nodes(body, dot, out)?
                            };
                            self.vars.truncate(mark);
                            if !matches!(flow, Flow::Normal) {
                                return Ok(flow);
                            }
                            break;
                        }
                    }
                    if !taken && let Some(o) = otherwise {
                        let flow = self.nodes(o, dot, out)?;
                        self.vars.truncate(mark);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let mut plain = pipe.clone();
                    plain.decl.clear();
                    let v = self.pipe(&plain, dot)?;
                    let items: Vec<(Value, Value)> = match v {
                        None | Some(Value::Null) => Vec::new(),
                        Some(Value::Array(a)) => a
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| (Value::from(i as u64), x))
                            .collect(),
                        Some(Value::Object(m)) => {
                            let mut kv: Vec<(String, Value)> = m.into_iter().collect();
                            kv.sort_by(|a, b| a.0.cmp(&b.0));
                            kv.into_iter().map(|(k, x)| (Value::String(k), x)).collect()
                        }
                        Some(Value::Number(n)) if n.is_i64() => (0..n.as_i64().unwrap_or(0).max(0))
                            .map(|i| (Value::from(i), Value::from(i)))
                            .collect(),
                        other => {
                            return Err(self
                                .fail(pipe, format!("range can't iterate over {}", kind(&other))));
                        }
                    };
                    if items.is_empty() {
                        if let Some(o) = otherwise {
                            let flow = self.nodes(o, dot, out)?;
                            self.vars.truncate(mark);
                            if !matches!(flow, Flow::Normal) {
                                return Ok(flow);
                            }
                        }
                        continue;
                    }
                    for (k, x) in items {
                        self.tick(&pipe.src)?;
                        let elem = Some(x);
                        match pipe.decl.as_slice() {
                            [v] => self.declare(v, elem.clone(), pipe.assign, pipe)?,
                            [i, v] => {
                                self.declare(i, Some(k), pipe.assign, pipe)?;
                                self.declare(v, elem.clone(), pipe.assign, pipe)?;
                            }
                            _ => {}
                        }
                        let inner = self.vars.len();
                        let flow = self.nodes(body, &elem, out)?;
                        self.vars.truncate(if pipe.assign { inner } else { mark });
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Template { name, pipe } => {
                    let Some(body) = self.defines.get(name) else {
                        return Err(Fail {
                            message: format!("no such template {name:?}"),
                            action: format!("{{{{template {name:?}}}}}"),
                        });
                    };
                    let v = match pipe {
                        Some(p) => self.pipe(p, dot)?,
                        None => None,
                    };
                    if self.depth >= MAX_TEMPLATE_DEPTH {
                        return Err(Fail {
                            message: "template recursion too deep".into(),
                            action: format!("{{{{template {name:?}}}}}"),
                        });
                    }
                    self.depth += 1;
                    let saved = std::mem::replace(&mut self.vars, vec![(String::new(), v.clone())]);
                    let r = self.nodes(body, &v, out);
                    self.vars = saved;
                    self.depth -= 1;
                    r?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn declare(&mut self, name: &str, v: V, assign: bool, pipe: &Pipe) -> R<()> {
        if assign {
            match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = v,
                None => return Err(self.fail(pipe, format!("undefined variable ${name}"))),
            }
        } else {
            self.vars.push((name.to_string(), v));
        }
        Ok(())
    }

    pub fn pipe(&mut self, p: &Pipe, dot: &V) -> R<V> {
        let mut val: Option<V> = None;
        for cmd in &p.cmds {
            val = Some(self.cmd(p, cmd, dot, val)?);
        }
        let v = val.unwrap_or(None);
        if let [name] = p.decl.as_slice() {
            self.declare(name, v.clone(), p.assign, p)?;
        }
        Ok(v)
    }

    fn cmd(&mut self, p: &Pipe, cmd: &Cmd, dot: &V, piped: Option<V>) -> R<V> {
        match &cmd.args[0] {
            Arg::Func(name, _) => {
                let Some(f) = funcs::lookup(name) else {
                    return Err(self.fail(p, format!("function {name:?} not defined")));
                };
                if let Imp::Lazy = f.imp {
                    let is_and = name == "and";
                    let mut last: V = None;
                    let n = cmd.args.len() - 1 + usize::from(piped.is_some());
                    for i in 0..n {
                        last = if i + 1 < cmd.args.len() {
                            self.arg(p, &cmd.args[i + 1], dot)?
                        } else {
                            piped.clone().unwrap_or(None)
                        };
                        if truthy(&last) != is_and {
                            return Ok(last);
                        }
                    }
                    return Ok(last);
                }
                let mut args = Vec::with_capacity(cmd.args.len());
                for a in &cmd.args[1..] {
                    args.push(self.arg(p, a, dot)?);
                }
                if let Some(v) = piped {
                    args.push(v);
                }
                let r = match f.imp {
                    Imp::Pure(fun) => fun(&args),
                    Imp::Ctx(fun) => fun(self.ctx, &args),
                    Imp::Lazy => Ok(None),
                };
                r.map_err(|m| self.fail(p, format!("error calling {name}: {m}")))
            }
            first => self.arg(p, first, dot),
        }
    }

    fn arg(&mut self, p: &Pipe, a: &Arg, dot: &V) -> R<V> {
        match a {
            Arg::Field(path, _) => walk(dot.as_ref(), path)
                .map(|v| v.cloned())
                .map_err(|m| self.fail(p, m)),
            Arg::Var(name, path, _) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(self.fail(p, format!("undefined variable ${name}")));
                };
                walk(v.as_ref(), path)
                    .map(|v| v.cloned())
                    .map_err(|m| self.fail(p, m))
            }
            Arg::Const(v) => Ok(Some(v.clone())),
            Arg::Nil(_) => Ok(None),
            Arg::Func(_, _) => {
                let cmd = Cmd {
                    args: vec![a.clone()],
                    pos: 0,
                };
                self.cmd(p, &cmd, dot, None)
            }
            Arg::Sub(sub, path) => {
                let v = self.pipe(sub, dot)?;
                walk(v.as_ref(), path)
                    .map(|v| v.cloned())
                    .map_err(|m| self.fail(p, m))
            }
        }
    }
}

/// Follows map keys. Missing and null yield missing; a path through a scalar or list is an error.
pub(crate) fn walk<'v>(
    mut cur: Option<&'v Value>,
    path: &[String],
) -> Result<Option<&'v Value>, String> {
    for seg in path {
        cur = match cur {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(m)) => m.get(seg),
            Some(other) => {
                return Err(format!(
                    "can't evaluate field {seg} in type {}",
                    kind(&Some(other.clone()))
                ));
            }
        };
    }
    Ok(cur)
}
