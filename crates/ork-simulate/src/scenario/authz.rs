//! Authorization as the API server's RBAC authorizer answers it, over the RBAC objects the
//! in-memory cluster holds (the scenario's setup and ork's derived RBAC), with ork's offline
//! evaluator (`ork_policy::rbac`, the one `ork rbac who-can` uses). `system:masters` is the
//! API server's superuser group. The bootstrap roles of a real cluster (`system:basic-user`,
//! discovery …) are not in the in-memory cluster; no step of a scenario's requests needs them.

use ork_limits::Limits;
use ork_policy::User;
use ork_policy::rbac::{Rbac, Request, who_can};
use serde_json::Value;

use crate::cluster::Cluster;

/// What is asked of the authorizer.
#[derive(Debug, Clone)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    /// `None`: a cluster-scoped request
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// The groups an authenticated (or impersonated) user has: the given ones and
/// `system:authenticated`.
pub fn with_authenticated(groups: &[String]) -> Vec<String> {
    let mut g = groups.to_vec();
    if !g.iter().any(|x| x == "system:authenticated") {
        g.push("system:authenticated".into());
    }
    g
}

/// `Ok(reason)` allowed, `Err(message)` forbidden, as the API server words a 403.
pub fn authorize(
    cluster: &Cluster,
    user: &User,
    a: &Attributes,
    limits: &Limits,
) -> Result<Result<String, String>, String> {
    if user.groups.iter().any(|g| g == "system:masters") {
        return Ok(Ok("system:masters".into()));
    }
    let objects: Vec<(&str, &Value)> = cluster
        .iter()
        .filter(|(k, _)| k.group == "rbac.authorization.k8s.io")
        .map(|(_, v)| ("cluster", v))
        .collect();
    let rbac = Rbac::from_objects(objects, limits).map_err(|e| e.to_string())?;
    let req = Request {
        verb: a.verb.clone(),
        group: a.group.clone(),
        resource: a.resource.clone(),
        subresource: a.subresource.clone(),
        name: a.name.clone(),
    };
    let grants = who_can(&rbac, &req, a.namespace.as_deref());
    let sa = user
        .name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'));
    let hit = grants.iter().find(|g| {
        // a RoleBinding grants nothing at the cluster scope
        (a.namespace.is_some() || g.scope == "cluster")
            && match g.subject.kind.as_str() {
                "User" => g.subject.name == user.name,
                "Group" => user.groups.contains(&g.subject.name),
                "ServiceAccount" => sa.is_some_and(|(ns, n)| {
                    g.subject.name == n && g.subject.namespace.as_deref() == Some(ns)
                }),
                _ => false,
            }
    });
    Ok(match hit {
        Some(g) => Ok(format!("RBAC: {} ({})", g.via, g.scope)),
        None => Err(forbidden(user, a)),
    })
}

fn forbidden(user: &User, a: &Attributes) -> String {
    let what = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let resource = match &a.subresource {
        Some(s) => format!("{}/{s}", a.resource),
        None => a.resource.clone(),
    };
    let scope = match &a.namespace {
        Some(ns) => format!("in the namespace {ns:?}"),
        None => "at the cluster scope".to_string(),
    };
    format!(
        "{what} {:?} is forbidden: User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
        a.name.as_deref().unwrap_or_default(),
        user.name,
        a.verb,
        a.group
    )
}
