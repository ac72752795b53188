//! Executes a parsed template against JSON data.
//!
//! Every budget of a render (`template.*` of [`ork_limits::Limits`]) is checked where the work
//! happens and before it: a step before each action, iteration and call; a `range` count before
//! the first iteration; an output write before it is appended; a value a function builds before
//! (or, for functions whose result cannot outgrow their arguments by much, right after) it is
//! built.

use std::collections::HashMap;
use std::rc::Rc;

use ork_limits::{Exceeded, Limits};
use serde_json::Value;

use crate::ast::{Arg, Node, Pipe};
use crate::funcs::{self, A, Ctx, FnError, Imp, Pick, Step};
use crate::value::{V, kind_of, truthy_of, within_budget, write_text};

/// `template` calls nest at most this deep: each level is a native stack frame of the executor.
const MAX_TEMPLATE_DEPTH: usize = 64;

/// A value during execution. What the data or the template text holds is borrowed, and what
/// the template builds is shared, parts of it included: passing a value around (variables,
/// `range` elements, function arguments, the dot, `index`/`default` results) never copies it,
/// so a render reads the CR in place and reading a large value in a loop costs nothing.
#[derive(Clone, Debug)]
pub(crate) enum Val<'a> {
    Missing,
    Ref(&'a Value),
    Own(Rc<Value>),
    /// the value at a path inside a built value; constructed only when the path exists
    Sub(Rc<Value>, Rc<[Step]>),
}

impl<'a> Val<'a> {
    pub fn get(&self) -> A<'_> {
        match self {
            Val::Missing => None,
            Val::Ref(v) => Some(v),
            Val::Own(v) => Some(v),
            Val::Sub(root, path) => resolve(root, path),
        }
    }

    /// The owned value (copied only when it is borrowed or still shared).
    pub fn into_v(self) -> V {
        match self {
            Val::Missing => None,
            Val::Ref(v) => Some(v.clone()),
            Val::Own(rc) => Some(Rc::try_unwrap(rc).unwrap_or_else(|rc| (*rc).clone())),
            Val::Sub(root, path) => resolve(&root, &path).cloned(),
        }
    }

    fn built(v: V) -> Self {
        v.map_or(Val::Missing, |v| Val::Own(Rc::new(v)))
    }

    /// The value at `steps` below this one (missing when there is none), without a copy.
    fn part(&self, steps: &[Step]) -> Val<'a> {
        if steps.is_empty() {
            return self.clone();
        }
        let (root, base): (&Rc<Value>, &[Step]) = match self {
            Val::Missing => return Val::Missing,
            Val::Ref(v) => {
                return resolve(v, steps).map_or(Val::Missing, Val::Ref);
            }
            Val::Own(root) => (root, &[]),
            Val::Sub(root, path) => (root, path),
        };
        let path: Vec<Step> = base.iter().chain(steps).cloned().collect();
        if resolve(root, &path).is_none() {
            return Val::Missing;
        }
        Val::Sub(Rc::clone(root), path.into())
    }

    /// Follows map keys (`.a.b`, `$x.a.b`). Missing and null yield missing; a path through a
    /// scalar or a list is an error.
    fn walk(&self, path: &[String]) -> Result<Val<'a>, String> {
        if path.is_empty() {
            return Ok(self.clone());
        }
        if let Val::Ref(v) = self {
            return Ok(walk(Some(v), path)?.map_or(Val::Missing, Val::Ref));
        }
        if walk(self.get(), path)?.is_none() {
            return Ok(Val::Missing);
        }
        let steps: Vec<Step> = path.iter().map(|k| Step::Key(k.clone())).collect();
        Ok(self.part(&steps))
    }

    /// Element `i` of a list, or the value under `key` of a map, as a `range` element.
    fn element(&self, i: usize, key: Option<&str>) -> Val<'a> {
        let step = match key {
            Some(k) => Step::Key(k.to_string()),
            None => Step::Index(i),
        };
        self.part(std::slice::from_ref(&step))
    }
}

/// The value at `path` inside `root`.
fn resolve<'v>(root: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter()
        .try_fold(root, |cur, step| funcs::step_into(Some(cur), step))
}

pub(crate) struct Exec<'a, 'c> {
    pub defines: &'a HashMap<String, Vec<Node>>,
    pub ctx: &'c mut Ctx,
    pub vars: Vec<(String, Val<'a>)>,
    pub steps: u64,
    pub depth: usize,
}

#[derive(Debug)]
pub(crate) struct Fail {
    pub message: String,
    pub action: String,
    /// the function whose own message this is (it may quote a data value)
    pub function: Option<&'static str>,
}

pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

type R<T> = Result<T, Fail>;

impl<'a> Exec<'a, '_> {
    fn fail(&self, pipe: &Pipe, message: impl Into<String>) -> Fail {
        Fail {
            message: message.into(),
            action: pipe.src.clone(),
            function: None,
        }
    }

    fn limits(&self) -> &Limits {
        &self.ctx.limits
    }

    fn exceeded(action: &str, budget: &'static str, limit: u64) -> Fail {
        Fail {
            message: Exceeded::new(budget, limit).to_string(),
            action: action.into(),
            function: None,
        }
    }

    fn tick(&mut self, action: &str) -> R<()> {
        self.steps += 1;
        let limit = self.limits().template_steps;
        if self.steps > limit {
            return Err(Self::exceeded(action, "template.steps", limit));
        }
        Ok(())
    }

    /// Appends `s` to the output unless that would pass `template.output-bytes`.
    fn write(&self, out: &mut String, s: &str, action: &str) -> R<()> {
        let limit = self.limits().template_output_bytes;
        if u64::try_from(out.len().saturating_add(s.len())).unwrap_or(u64::MAX) > limit {
            return Err(Self::exceeded(action, "template.output-bytes", limit));
        }
        out.push_str(s);
        Ok(())
    }

    fn write_value(&self, out: &mut String, v: A, action: &str) -> R<()> {
        match v {
            Some(Value::String(s)) => self.write(out, s, action),
            other => {
                // the text form of a list or map is about as long as the value, which is
                // within its own budget: write it, then check
                write_text(other, out);
                let limit = self.limits().template_output_bytes;
                if u64::try_from(out.len()).unwrap_or(u64::MAX) > limit {
                    return Err(Self::exceeded(action, "template.output-bytes", limit));
                }
                Ok(())
            }
        }
    }

    pub fn nodes(&mut self, nodes: &'a [Node], dot: &Val<'a>, out: &mut String) -> R<Flow> {
        for n in nodes {
            match n {
                Node::Text(t) => self.write(out, t, "")?,
                Node::Action(p) => {
                    self.tick(&p.src)?;
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        self.write_value(out, v.get(), &p.src)?;
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
                        if truthy_of(v.get()) {
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
                    // `break` and `continue` in the body end there; from an `else` branch they
                    // belong to an enclosing loop
                    let flow = self.range(pipe, body, otherwise.as_deref(), dot, out)?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Template { name, pipe } => {
                    let Some(body) = self.defines.get(name) else {
                        return Err(Fail {
                            message: format!("no such template {name:?}"),
                            action: format!("{{{{template {name:?}}}}}"),
                            function: None,
                        });
                    };
                    let v = match pipe {
                        Some(p) => self.pipe(p, dot)?,
                        None => Val::Missing,
                    };
                    if self.depth >= MAX_TEMPLATE_DEPTH {
                        return Err(Fail {
                            message: "template recursion too deep".into(),
                            action: format!("{{{{template {name:?}}}}}"),
                            function: None,
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

    /// `range` over a list, a map (sorted keys) or an integer. The count is checked against
    /// `template.range-iterations` before the first iteration, and nothing is collected: an
    /// integer range is a counter, list and map elements are borrowed in place.
    fn range(
        &mut self,
        pipe: &'a Pipe,
        body: &'a [Node],
        otherwise: Option<&'a [Node]>,
        dot: &Val<'a>,
        out: &mut String,
    ) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.eval_pipe(pipe, dot)?;
        let count: u64 = match v.get() {
            None | Some(Value::Null) => 0,
            Some(Value::Array(a)) => u64::try_from(a.len()).unwrap_or(u64::MAX),
            Some(Value::Object(m)) => u64::try_from(m.len()).unwrap_or(u64::MAX),
            Some(Value::Number(n)) if n.is_i64() => {
                u64::try_from(n.as_i64().unwrap_or(0)).unwrap_or(0)
            }
            other => {
                return Err(self.fail(pipe, format!("range can't iterate over {}", kind_of(other))));
            }
        };
        let limit = self.limits().template_range_iterations;
        if count > limit {
            return Err(Self::exceeded(
                &pipe.src,
                "template.range-iterations",
                limit,
            ));
        }
        if count == 0 {
            if let Some(o) = otherwise {
                let flow = self.nodes(o, dot, out)?;
                self.vars.truncate(mark);
                if !matches!(flow, Flow::Normal) {
                    return Ok(flow);
                }
            }
            return Ok(Flow::Normal);
        }
        // serde_json maps iterate in key order already; the sort documents (and keeps) it
        let keys: Vec<String> = match v.get() {
            Some(Value::Object(m)) => {
                let mut k: Vec<String> = m.keys().cloned().collect();
                k.sort();
                k
            }
            _ => Vec::new(),
        };
        let is_int = matches!(v.get(), Some(Value::Number(_)));
        let mut i: u64 = 0;
        while i < count {
            self.tick(&pipe.src)?;
            let at = usize::try_from(i).unwrap_or(usize::MAX);
            let (key, elem) = if is_int {
                let n = Val::built(Some(Value::from(i)));
                (n.clone(), n)
            } else if let Some(k) = keys.get(at) {
                (
                    Val::built(Some(Value::String(k.clone()))),
                    v.element(at, Some(k)),
                )
            } else {
                (Val::built(Some(Value::from(i))), v.element(at, None))
            };
            match pipe.decl.as_slice() {
                [x] => self.declare(x, elem.clone(), pipe.assign, pipe)?,
                [k, x] => {
                    self.declare(k, key, pipe.assign, pipe)?;
                    self.declare(x, elem.clone(), pipe.assign, pipe)?;
                }
                _ => {}
            }
            let inner = self.vars.len();
            let flow = self.nodes(body, &elem, out)?;
            self.vars.truncate(if pipe.assign { inner } else { mark });
            if matches!(flow, Flow::Break) {
                break;
            }
            i += 1;
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn declare(&mut self, name: &str, v: Val<'a>, assign: bool, pipe: &Pipe) -> R<()> {
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

    /// Evaluates a pipeline and performs its declaration (`$x := …`), if any.
    pub fn pipe(&mut self, p: &'a Pipe, dot: &Val<'a>) -> R<Val<'a>> {
        let v = self.eval_pipe(p, dot)?;
        if let [name] = p.decl.as_slice() {
            self.declare(name, v.clone(), p.assign, p)?;
        }
        Ok(v)
    }

    /// Evaluates a pipeline's commands without its declaration (`range` declares per element).
    fn eval_pipe(&mut self, p: &'a Pipe, dot: &Val<'a>) -> R<Val<'a>> {
        let mut val: Option<Val<'a>> = None;
        for cmd in &p.cmds {
            val = Some(match &cmd.args[0] {
                Arg::Func(name, _) => self.call(p, name, &cmd.args[1..], dot, val)?,
                first => self.arg(p, first, dot)?,
            });
        }
        Ok(val.unwrap_or(Val::Missing))
    }

    fn call(
        &mut self,
        p: &'a Pipe,
        name: &str,
        arg_nodes: &'a [Arg],
        dot: &Val<'a>,
        piped: Option<Val<'a>>,
    ) -> R<Val<'a>> {
        let Some(f) = funcs::lookup(name) else {
            return Err(self.fail(p, format!("function {name:?} not defined")));
        };
        self.tick(&p.src)?;
        if let Imp::Lazy = f.imp {
            let is_and = f.name == "and";
            let mut last = Val::Missing;
            let n = arg_nodes.len() + usize::from(piped.is_some());
            for i in 0..n {
                last = match arg_nodes.get(i) {
                    Some(a) => self.arg(p, a, dot)?,
                    None => piped.clone().unwrap_or(Val::Missing),
                };
                if truthy_of(last.get()) != is_and {
                    return Ok(last);
                }
            }
            return Ok(last);
        }
        let mut args: Vec<Val<'a>> = Vec::with_capacity(arg_nodes.len() + 1);
        for a in arg_nodes {
            args.push(self.arg(p, a, dot)?);
        }
        if let Some(v) = piped {
            args.push(v);
        }
        let refs: Vec<A> = args.iter().map(Val::get).collect();
        let limits = self.ctx.limits;
        let r = match f.imp {
            Imp::Pure(fun) => fun(&refs).map_err(FnError::Value),
            Imp::Sized(fun) => fun(&limits, &refs),
            Imp::Ctx(fun) => fun(self.ctx, &refs).map_err(FnError::Value),
            Imp::Pick(fun) => match fun(&refs) {
                // a selection of what the template already holds: nothing new to budget
                Ok(Pick::Missing) => return Ok(Val::Missing),
                Ok(Pick::Arg(i)) => return Ok(args.get(i).cloned().unwrap_or(Val::Missing)),
                Ok(Pick::Part(i, steps)) => {
                    return Ok(args.get(i).map_or(Val::Missing, |a| a.part(&steps)));
                }
                Ok(Pick::New(v)) => Ok(Some(v)),
                Err(m) => Err(FnError::Value(m)),
            },
            Imp::Lazy => Ok(None),
        };
        let v = match r {
            Ok(v) => v,
            Err(FnError::Value(m)) => {
                return Err(Fail {
                    message: format!("error calling {name}: {m}"),
                    action: p.src.clone(),
                    function: Some(f.name),
                });
            }
            Err(FnError::Budget(e)) => return Err(self.budget_fail(p, name, &e)),
        };
        // every value a function builds is held to the value budget: the functions that can
        // amplify checked their projection already; this bounds the rest
        if let Some(v) = &v
            && let Err(e) = within_budget(v, &limits)
        {
            return Err(self.budget_fail(p, name, &e));
        }
        Ok(Val::built(v))
    }

    fn budget_fail(&self, p: &Pipe, name: &str, e: &Exceeded) -> Fail {
        Fail {
            message: format!("error calling {name}: {e}"),
            action: p.src.clone(),
            function: None,
        }
    }

    fn arg(&mut self, p: &'a Pipe, a: &'a Arg, dot: &Val<'a>) -> R<Val<'a>> {
        match a {
            Arg::Field(path, _) => dot.walk(path).map_err(|m| self.fail(p, m)),
            Arg::Var(name, path, _) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(self.fail(p, format!("undefined variable ${name}")));
                };
                v.walk(path).map_err(|m| self.fail(p, m))
            }
            Arg::Const(v) => Ok(Val::Ref(v)),
            Arg::Nil(_) => Ok(Val::Missing),
            Arg::Func(name, _) => self.call(p, name, &[], dot, None),
            Arg::Sub(sub, path) => {
                let v = self.pipe(sub, dot)?;
                v.walk(path).map_err(|m| self.fail(p, m))
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
                    kind_of(Some(other))
                ));
            }
        };
    }
    Ok(cur)
}
