//! Pod-security profiles (docs/security.md §2.7): resolution and the fields each injects.

use serde_json::{Map, Value, json};

use ork_katalog::coerce::coerce;
use ork_katalog::schema::{CONTAINER_SC_FIELDS, Coerce, Ty};
use ork_katalog::{BuiltinProfile, Profile};
use ork_policy::PreparedKatalog;

/// The container and pod fields a built-in profile injects (docs/security.md §2.7).
pub fn builtin(profile: BuiltinProfile) -> (Value, Value) {
    let seccomp = json!({"type": "RuntimeDefault"});
    match profile {
        BuiltinProfile::Baseline => (
            json!({"privileged": false, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["NET_RAW"]}, "seccompProfile": seccomp}),
            json!({"seccompProfile": seccomp}),
        ),
        BuiltinProfile::Restricted => (
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "seccompProfile": seccomp}),
            json!({"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": seccomp}),
        ),
        BuiltinProfile::Hardened => (
            json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "seccompProfile": seccomp}),
            json!({"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534, "seccompProfile": seccomp}),
        ),
        BuiltinProfile::None => (json!({}), json!({})),
    }
}

/// The pod-spec fields outside `securityContext` a built-in profile sets. `hardened` keeps the
/// ServiceAccount token out of the pod: most workloads never call the API server, and a mounted
/// token is the first thing an intruder in the container would use (docs/security.md §2.7). An
/// entry that calls the API sets `automountServiceAccountToken: true`, which wins.
pub fn builtin_pod_spec(profile: BuiltinProfile) -> Value {
    match profile {
        BuiltinProfile::Hardened => json!({"automountServiceAccountToken": false}),
        BuiltinProfile::Baseline | BuiltinProfile::Restricted | BuiltinProfile::None => json!({}),
    }
}

/// Explicit security fields (strings after templating) → typed Kubernetes fields.
pub fn typed_fields(v: &Value) -> Result<Value, String> {
    let Some(m) = v.as_object() else {
        return Ok(json!({}));
    };
    let mut out = Map::new();
    for (k, x) in m {
        if k == "profile" || k == "name" {
            continue;
        }
        let target = CONTAINER_SC_FIELDS
            .iter()
            .find(|f| f.name == k)
            .map(|f| f.ty);
        let conv = match (target, x) {
            (Some(Ty::Str(c)), Value::String(s)) => {
                coerce(s, c).map_err(|e| format!("{k}: {e}"))?
            }
            (_, Value::String(s)) if matches!(k.as_str(), "fsGroup") => {
                coerce(s, Coerce::Count).map_err(|e| format!("{k}: {e}"))?
            }
            (_, Value::Object(_)) => Some(typed_nested(x)?),
            (_, Value::Array(a)) if k == "supplementalGroups" => Some(Value::Array(
                a.iter()
                    .map(|g| {
                        coerce(g.as_str().unwrap_or_default(), Coerce::Count)
                            .map(|v| v.unwrap_or(Value::Null))
                    })
                    .collect::<Result<_, _>>()?,
            )),
            (_, other) => Some(other.clone()),
        };
        if let Some(c) = conv {
            out.insert(k.clone(), c);
        }
    }
    Ok(Value::Object(out))
}

fn typed_nested(v: &Value) -> Result<Value, String> {
    Ok(match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let val = match (k.as_str(), x) {
                    ("hostProcess", Value::String(s)) => {
                        coerce(s, Coerce::Bool)?.unwrap_or(Value::Null)
                    }
                    ("add" | "drop", Value::Array(a)) => Value::Array(
                        a.iter()
                            .map(|c| {
                                Value::String(ork_katalog::coerce::capability(
                                    c.as_str().unwrap_or_default(),
                                ))
                            })
                            .collect(),
                    ),
                    _ => x.clone(),
                };
                out.insert(k.clone(), val);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Lays `over` onto `base` (maps merge, everything else replaces).
pub fn overlay(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => overlay(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// A failure to resolve a profile at render time (fail closed).
pub struct UnknownProfile(pub String);

/// What the profiles of one workload entry set.
pub struct Resolved {
    /// the container's `securityContext`
    pub container: Value,
    /// the pod's `securityContext`
    pub pod: Value,
    /// other pod-spec fields of the pod side's built-in profile ([`builtin_pod_spec`])
    pub pod_spec: Value,
}

/// The container and pod security contexts of one workload entry. The Katalog's default
/// profile applies where the entry declares none; a profile name that resolves to nothing fails
/// closed (`UnknownSecurityProfile`): nothing is applied for the CR.
pub fn resolve(
    k: &PreparedKatalog,
    container: Option<&Value>,
    pod: Option<&Value>,
) -> Result<Result<Resolved, String>, UnknownProfile> {
    let names = |list: &'_ [Value]| -> Vec<String> {
        list.iter()
            .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    // the fields of one side, and the built-in profile they start from (None: a user profile,
    // or `none` with exactly the explicit fields)
    let pick = |block: Option<&Value>,
                is_container: bool|
     -> Result<Result<(Value, Option<BuiltinProfile>), String>, UnknownProfile> {
        let users = if is_container {
            &k.profiles.container_security
        } else {
            &k.profiles.pod_security
        };
        let side = |p: &Profile| -> Result<(Value, Option<BuiltinProfile>), UnknownProfile> {
            match p {
                Profile::User(name) => users
                    .iter()
                    .find(|u| u.get("name").and_then(Value::as_str) == Some(name))
                    .ok_or_else(|| UnknownProfile(name.clone()))
                    .and_then(|u| typed_fields(u).map_err(|_| UnknownProfile(name.clone())))
                    .map(|v| (v, None)),
                Profile::Builtin(b) => {
                    let (c, p) = builtin(*b);
                    Ok((if is_container { c } else { p }, Some(*b)))
                }
            }
        };
        let user_names = names(users);
        let by_name = |name: &str| -> Result<(Value, Option<BuiltinProfile>), UnknownProfile> {
            let refs: Vec<&str> = user_names.iter().map(String::as_str).collect();
            match Profile::resolve(name, &refs) {
                Some(p) => side(&p),
                None => Err(UnknownProfile(name.to_string())),
            }
        };
        // the Katalog default applies on both sides; a user default is looked up by name on
        // each side, like an entry's `profile:`
        let default = || -> Result<(Value, Option<BuiltinProfile>), UnknownProfile> {
            match &k.settings.ps_default {
                Profile::Builtin(b) => side(&Profile::Builtin(*b)),
                Profile::User(name) => by_name(name),
            }
        };
        match block {
            None => Ok(Ok(default()?)),
            Some(b) => {
                let explicit = match typed_fields(b) {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                match b.get("profile").and_then(Value::as_str).map(str::trim) {
                    Some(p) if p.eq_ignore_ascii_case("none") => Ok(Ok((explicit, None))),
                    Some(p) => Ok(Ok(by_name(p)?)),
                    None => {
                        let (mut base, from) = default()?;
                        overlay(&mut base, &explicit);
                        Ok(Ok((base, from)))
                    }
                }
            }
        }
    };
    let (container, _) = match pick(container, true)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let (pod, from) = match pick(pod, false)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let pod_spec = from.map(builtin_pod_spec).unwrap_or_else(|| json!({}));
    Ok(Ok(Resolved {
        container,
        pod,
        pod_spec,
    }))
}
