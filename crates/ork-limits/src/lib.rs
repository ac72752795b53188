//! The budgets that bound ork's work on hostile input (docs/limits.md).
//!
//! Tenants write CRs and anyone can hand `ork scan` a file, so every reader and evaluator that
//! consumes such input takes a [`Limits`] and checks it *where the work is done*, before the
//! allocation or the loop that would exceed it, never after. One type holds every budget so the
//! defaults can be read, documented and overridden in one place.
//!
//! Defaults fit every legitimate Katalog, manifest and cluster ork expects (the numbers and the
//! reasoning behind each are in docs/limits.md). Each can be raised through an environment
//! variable `ORK_LIMIT_<NAME>` (for example `ORK_LIMIT_FILE_BYTES=256Mi`), parsed once at start;
//! a value that does not parse is an error naming the variable, never a silent default.

use std::fmt;

/// Every budget ork enforces. Construct with [`Limits::default`] or [`Limits::from_env`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes read from one input file or from stdin.
    pub file_bytes: u64,
    /// Documents in one YAML stream.
    pub yaml_documents: u64,
    /// Nodes of one YAML stream held at once, every alias expansion counted with the full size
    /// of the subtree it copies. Readers that keep every document hold everything they built;
    /// `ork scan` drops each document, and each item of a List, once checked (and then also
    /// bounds the alias copies of the whole stream by this number).
    pub yaml_nodes: u64,
    /// Scalar bytes of one YAML stream held at once, alias expansions included (counted as
    /// `yaml_nodes` is): a 1 MB anchor aliased 5,000 times is 5 GB of scalars although the
    /// file is 1 MB.
    pub yaml_expanded_bytes: u64,
    /// Nesting depth of a YAML document (and of JSON values built from it).
    pub yaml_depth: u64,
    /// Bytes a template may write.
    pub template_output_bytes: u64,
    /// Bytes of any single value a template builds along the way (a variable, a function
    /// result): bounds `printf`, `replace`, `indent`, `join`, `toYaml` … before they allocate.
    pub template_value_bytes: u64,
    /// Steps (actions, loop iterations, function calls) of one template render.
    pub template_steps: u64,
    /// Iterations of one `range` (lists, maps and integers alike), checked before any
    /// allocation for them.
    pub template_range_iterations: u64,
    /// Elements one `forEach` may expand to, whatever the entry's own `max` says.
    pub for_each_items: u64,
    /// Roles and ClusterRoles read by `ork rbac`.
    pub rbac_roles: u64,
    /// RoleBindings and ClusterRoleBindings read by `ork rbac`.
    pub rbac_bindings: u64,
    /// Rules across all roles read by `ork rbac` (aggregated rules counted once per role that
    /// aggregates them).
    pub rbac_rules: u64,
    /// Objects `ork simulate`'s in-memory cluster holds at once.
    pub simulate_objects: u64,
    /// Reconcile cycles of one `ork simulate` run.
    pub simulate_cycles: u64,
}

const KI: u64 = 1 << 10;
const MI: u64 = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            file_bytes: 64 * MI,
            yaml_documents: 100_000,
            // A built node costs about 90 bytes of memory (the node, its scalar's allocation, its
            // slot in the parent), so 4M let a 416-byte billion-laughs file reach 314 MB before
            // it was refused; 1M keeps that under 100 MB and still fits ~15 MB of ordinary
            // manifest YAML (12-16 bytes per node) in one stream.
            yaml_nodes: 1_000_000,
            yaml_expanded_bytes: 128 * MI,
            yaml_depth: 256,
            template_output_bytes: 4 * MI,
            template_value_bytes: 4 * MI,
            template_steps: 2_000_000,
            template_range_iterations: 100_000,
            for_each_items: 10_000,
            rbac_roles: 100_000,
            rbac_bindings: 200_000,
            rbac_rules: 2_000_000,
            // a CR's children are bounded by forEach.items per entry; 100,000 objects hold ten
            // CRs at that bound, far beyond any example, within a few hundred MB
            simulate_objects: 100_000,
            // a state machine that needs more than 1,000 cycles to settle is a loop
            simulate_cycles: 1_000,
        }
    }
}

/// One budget: its name in messages and docs, its variable, and its field.
pub struct Budget {
    /// dotted name used in messages: `yaml.nodes`
    pub name: &'static str,
    /// `ORK_LIMIT_YAML_NODES`
    pub env: &'static str,
    /// what it bounds, for docs and `--help`
    pub doc: &'static str,
    /// true when the value is a byte count (accepts `Ki`, `Mi`, `Gi` suffixes)
    pub bytes: bool,
    get: fn(&Limits) -> u64,
    set: fn(&mut Limits, u64),
}

impl Budget {
    pub fn value(&self, l: &Limits) -> u64 {
        (self.get)(l)
    }
}

macro_rules! budgets {
    ($( $field:ident, $name:literal, $env:literal, $bytes:literal, $doc:literal; )*) => {
        /// The budgets in documentation order; docs/limits.md is generated from this table.
        pub const BUDGETS: &[Budget] = &[
            $( Budget {
                name: $name,
                env: $env,
                doc: $doc,
                bytes: $bytes,
                get: |l| l.$field,
                set: |l, v| l.$field = v,
            }, )*
        ];
    };
}

budgets! {
    file_bytes, "file.bytes", "ORK_LIMIT_FILE_BYTES", true, "bytes read from one input file or stdin";
    yaml_documents, "yaml.documents", "ORK_LIMIT_YAML_DOCUMENTS", false, "documents in one YAML stream";
    yaml_nodes, "yaml.nodes", "ORK_LIMIT_YAML_NODES", false, "nodes of one YAML stream held at once, alias expansions included";
    yaml_expanded_bytes, "yaml.expanded-bytes", "ORK_LIMIT_YAML_EXPANDED_BYTES", true, "scalar bytes of one YAML stream held at once, alias expansions included";
    yaml_depth, "yaml.depth", "ORK_LIMIT_YAML_DEPTH", false, "nesting depth of a YAML document";
    template_output_bytes, "template.output-bytes", "ORK_LIMIT_TEMPLATE_OUTPUT_BYTES", true, "bytes one template render may write";
    template_value_bytes, "template.value-bytes", "ORK_LIMIT_TEMPLATE_VALUE_BYTES", true, "bytes of any single value a template builds";
    template_steps, "template.steps", "ORK_LIMIT_TEMPLATE_STEPS", false, "steps of one template render";
    template_range_iterations, "template.range-iterations", "ORK_LIMIT_TEMPLATE_RANGE_ITERATIONS", false, "iterations of one range";
    for_each_items, "forEach.items", "ORK_LIMIT_FOREACH_ITEMS", false, "elements one forEach may expand to";
    rbac_roles, "rbac.roles", "ORK_LIMIT_RBAC_ROLES", false, "Roles and ClusterRoles read by ork rbac";
    rbac_bindings, "rbac.bindings", "ORK_LIMIT_RBAC_BINDINGS", false, "RoleBindings and ClusterRoleBindings read by ork rbac";
    rbac_rules, "rbac.rules", "ORK_LIMIT_RBAC_RULES", false, "policy rules read by ork rbac, aggregated ones included";
    simulate_objects, "simulate.objects", "ORK_LIMIT_SIMULATE_OBJECTS", false, "objects ork simulate's in-memory cluster holds";
    simulate_cycles, "simulate.cycles", "ORK_LIMIT_SIMULATE_CYCLES", false, "reconcile cycles of one ork simulate run";
}

/// A variable `ORK_LIMIT_*` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVariable {
    pub variable: &'static str,
    pub value: String,
}

impl fmt::Display for BadVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {}={:?} is not a positive integer (byte budgets also take Ki, Mi, Gi)",
            self.variable, self.value
        )
    }
}

impl std::error::Error for BadVariable {}

impl Limits {
    /// The defaults with every `ORK_LIMIT_*` variable of the process applied.
    pub fn from_env() -> Result<Limits, BadVariable> {
        Self::from_lookup(&|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// The defaults with the variables `lookup` returns applied (tests pass their own).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Limits, BadVariable> {
        let mut l = Limits::default();
        for b in BUDGETS {
            if let Some(raw) = lookup(b.env) {
                let v = parse_amount(&raw, b.bytes).ok_or_else(|| BadVariable {
                    variable: b.env,
                    value: raw.clone(),
                })?;
                (b.set)(&mut l, v);
            }
        }
        Ok(l)
    }

    /// The budget named `name` (`yaml.nodes`).
    pub fn budget(name: &str) -> Option<&'static Budget> {
        BUDGETS.iter().find(|b| b.name == name)
    }
}

fn parse_amount(raw: &str, bytes: bool) -> Option<u64> {
    let s = raw.trim();
    let (num, mult) = if bytes {
        match s {
            _ if s.ends_with("Ki") => (&s[..s.len() - 2], KI),
            _ if s.ends_with("Mi") => (&s[..s.len() - 2], MI),
            _ if s.ends_with("Gi") => (&s[..s.len() - 2], 1 << 30),
            _ => (s, 1),
        }
    } else {
        (s, 1)
    };
    let n: u64 = num.parse().ok()?;
    if n == 0 {
        return None;
    }
    n.checked_mul(mult)
}

/// A budget was exceeded. The work stopped before it went past the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// the budget's dotted name (`yaml.nodes`)
    pub budget: &'static str,
    /// its value when it was exceeded
    pub limit: u64,
}

impl Exceeded {
    pub fn new(budget: &'static str, limit: u64) -> Self {
        Exceeded { budget, limit }
    }
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = Limits::budget(self.budget);
        let shown = match b {
            Some(b) if b.bytes => human_bytes(self.limit),
            _ => self.limit.to_string(),
        };
        write!(f, "budget {} exceeded (limit {shown}", self.budget)?;
        if let Some(b) = b {
            write!(f, "; {}; raise with {}", b.doc, b.env)?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for Exceeded {}

/// `64 MiB`, `512 KiB`, `100 bytes`.
pub fn human_bytes(n: u64) -> String {
    if n >= MI && n.is_multiple_of(MI) {
        format!("{} MiB", n / MI)
    } else if n >= KI && n.is_multiple_of(KI) {
        format!("{} KiB", n / KI)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_rejects() {
        let l = Limits::from_lookup(&|n| match n {
            "ORK_LIMIT_FILE_BYTES" => Some("2Mi".into()),
            "ORK_LIMIT_YAML_NODES" => Some("10".into()),
            _ => None,
        });
        assert_eq!(l.map(|l| (l.file_bytes, l.yaml_nodes)), Ok((2 * MI, 10)));
        for bad in ["", "0", "-1", "ten", "5Mi"] {
            let r =
                Limits::from_lookup(&|n| (n == "ORK_LIMIT_YAML_NODES").then(|| bad.to_string()));
            assert!(r.is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn every_field_has_one_budget() {
        let l = Limits::default();
        let mut names: Vec<&str> = BUDGETS.iter().map(|b| b.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BUDGETS.len());
        for b in BUDGETS {
            assert!(b.value(&l) > 0, "{}", b.name);
            assert!(b.env.starts_with("ORK_LIMIT_"), "{}", b.env);
        }
    }

    #[test]
    fn message_names_budget_limit_and_variable() {
        let m = Exceeded::new("file.bytes", 64 * MI).to_string();
        assert!(
            m.contains("file.bytes") && m.contains("64 MiB") && m.contains("ORK_LIMIT_FILE_BYTES"),
            "{m}"
        );
    }
}
