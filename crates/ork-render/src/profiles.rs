//! Pod-security profiles (security.md §2.7): resolution and the fields each injects.

use serde_json::{Map, Value, json};

use ork_katalog::Katalog;
use ork_katalog::coerce::coerce;
use ork_katalog::schema::{CONTAINER_SC_FIELDS, Coerce, Ty};

pub fn builtin(name: &str) -> Option<(Value, Value)> {
    let seccomp = json!({"type": "RuntimeDefault"});
    Some(match name.to_ascii_lowercase().as_str() {
        "baseline" => (
            json!({"privileged": false, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["NET_RAW"]}, "seccompProfile": seccomp}),
            json!({"seccompProfile": seccomp}),
        ),
        "restricted" => (
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "seccompProfile": seccomp}),
            json!({"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": seccomp}),
        ),
        "hardened" => (
            json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "seccompProfile": seccomp}),
            json!({"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534, "seccompProfile": seccomp}),
        ),
        "none" => (json!({}), json!({})),
        _ => return None,
    })
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

/// The container and pod security contexts of one workload entry.
pub fn resolve(
    k: &Katalog,
    container: Option<&Value>,
    pod: Option<&Value>,
    default: &str,
) -> Result<Result<(Value, Value), String>, UnknownProfile> {
    let find_user = |list: &[Value], name: &str| {
        list.iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .cloned()
    };
    let pick = |block: Option<&Value>,
                is_container: bool|
     -> Result<Result<Value, String>, UnknownProfile> {
        let side = |name: &str| -> Result<Value, UnknownProfile> {
            let users = if is_container {
                &k.profiles.container_security
            } else {
                &k.profiles.pod_security
            };
            if let Some(u) = find_user(users, name) {
                return typed_fields(&u).map_err(|_| UnknownProfile(name.to_string()));
            }
            match builtin(name) {
                Some((c, p)) => Ok(if is_container { c } else { p }),
                None => Err(UnknownProfile(name.to_string())),
            }
        };
        match block {
            None => Ok(Ok(side(default)?)),
            Some(b) => {
                let explicit = match typed_fields(b) {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                match b.get("profile").and_then(Value::as_str).map(str::trim) {
                    Some(p) if p.eq_ignore_ascii_case("none") => Ok(Ok(explicit)),
                    Some(p) => Ok(Ok(side(p)?)),
                    None => {
                        let mut base = side(default)?;
                        overlay(&mut base, &explicit);
                        Ok(Ok(base))
                    }
                }
            }
        }
    };
    let c = match pick(container, true)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let p = match pick(pod, false)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok((c, p)))
}
