//! From an `admission.k8s.io/v1` AdmissionReview to a `decide` request, and from the verdict
//! back to the AdmissionResponse (docs/security.md §2.3). Pure: the server supplies the state
//! a request needs (the target Pod of an exec, the peers of a `unique` rule).

use std::collections::HashMap;

use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::core::response::{StatusCause, StatusDetails};
use kube::core::{DynamicObject, Status};
use ork_katalog::FailurePolicy;
use ork_policy::conditions::Peers;
use ork_policy::json::Tape;
use ork_policy::{Layer, PreparedKatalog, Request, Review, User, Verdict};
use serde_json::{Value, json};

use crate::webhooks::Webhook;

/// A decoded request: kube's typed review, with the objects as tapes for `decide`, their
/// strings borrowed from the body (`ork_policy::json`: serde_json's parser, no `Value` built).
pub struct Decoded<'b> {
    pub request: AdmissionRequest<DynamicObject>,
    pub object: Option<Tape<'b>>,
    pub old_object: Option<Tape<'b>>,
}

/// Why a body is not a review the Gateway can judge; answered with code 400.
#[derive(Debug, thiserror::Error)]
#[error("undecodable AdmissionReview: {0}")]
pub struct Undecodable(String);

/// The wire form of a review, decoded in one pass: kube's field types for the request, and the
/// objects as tapes for `decide`. (kube's own `AdmissionReview<DynamicObject>` decodes an object
/// through a flattened map and would then be converted to JSON again: twice the work on the
/// hot path, for the same result.)
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'b> {
    api_version: String,
    kind: String,
    #[serde(borrow)]
    request: Option<WireRequest<'b>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'b> {
    uid: String,
    kind: kube::core::GroupVersionKind,
    resource: kube::core::GroupVersionResource,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    request_kind: Option<kube::core::GroupVersionKind>,
    #[serde(default)]
    request_resource: Option<kube::core::GroupVersionResource>,
    #[serde(default)]
    request_sub_resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    operation: Operation,
    user_info: k8s_openapi::api::authentication::v1::UserInfo,
    #[serde(default, borrow)]
    object: Option<Tape<'b>>,
    #[serde(default, borrow)]
    old_object: Option<Tape<'b>>,
    #[serde(default)]
    dry_run: bool,
}

fn object<'b>(t: Option<Tape<'b>>, what: &str) -> Result<Option<Tape<'b>>, Undecodable> {
    let Some(root) = t.as_ref().and_then(Tape::root) else {
        return Ok(None);
    };
    if root.is_null() {
        Ok(None)
    } else if root.is_object() {
        Ok(t)
    } else {
        Err(Undecodable(format!("request.{what} is not an object")))
    }
}

/// Decodes a body. A review that does not decode, or whose object is not a JSON object, is
/// undecodable as a whole: a request is never judged on part of what it carries. So is an
/// object with a duplicate key (the API server never sends one): no reader may see another
/// value than the one `decide` saw.
pub fn decode(body: &[u8]) -> Result<Decoded<'_>, Undecodable> {
    // UTF-8 is checked once for the whole body; from_slice would check every string again
    let text = std::str::from_utf8(body).map_err(|e| Undecodable(e.to_string()))?;
    let wire: Wire = serde_json::from_str(text).map_err(|e| Undecodable(e.to_string()))?;
    if wire.api_version != "admission.k8s.io/v1" || wire.kind != "AdmissionReview" {
        return Err(Undecodable(format!(
            "expected admission.k8s.io/v1 AdmissionReview, got {} {}",
            wire.api_version, wire.kind
        )));
    }
    let Some(r) = wire.request else {
        return Err(Undecodable("the review carries no request".into()));
    };
    let object_value = object(r.object, "object")?;
    let old_value = object(r.old_object, "oldObject")?;
    let request = AdmissionRequest::<DynamicObject> {
        types: kube::core::TypeMeta {
            api_version: wire.api_version,
            kind: wire.kind,
        },
        uid: r.uid,
        kind: r.kind,
        resource: r.resource,
        sub_resource: r.sub_resource,
        request_kind: r.request_kind,
        request_resource: r.request_resource,
        request_sub_resource: r.request_sub_resource,
        name: r.name,
        namespace: r.namespace,
        operation: r.operation,
        user_info: r.user_info,
        object: None,
        old_object: None,
        dry_run: r.dry_run,
        options: None,
    };
    Ok(Decoded {
        request,
        object: object_value,
        old_object: old_value,
    })
}

fn operation(op: &Operation) -> ork_katalog::Operation {
    match op {
        Operation::Create => ork_katalog::Operation::Create,
        Operation::Update => ork_katalog::Operation::Update,
        Operation::Delete => ork_katalog::Operation::Delete,
        Operation::Connect => ork_katalog::Operation::Connect,
    }
}

/// The user as `decide` sees it.
pub fn user(r: &AdmissionRequest<DynamicObject>) -> User {
    User {
        name: r.user_info.username.clone().unwrap_or_default(),
        groups: r.user_info.groups.clone().unwrap_or_default(),
    }
}

/// The `decide` request for one review at webhook `w` (`Request::from_review`, the mapping
/// `ork simulate` uses too). For CONNECT, `target` is the Pod the exec or attach goes into
/// (read by the server); the review's object is only its options.
pub fn request<'a>(
    w: Webhook,
    d: &'a Decoded<'_>,
    target: Option<&'a Value>,
    peers: Option<&'a dyn Peers>,
) -> Request<'a> {
    let r = &d.request;
    let review = Review {
        uid: &r.uid,
        operation: operation(&r.operation),
        kind_group: &r.kind.group,
        kind_version: &r.kind.version,
        kind: &r.kind.kind,
        resource_group: &r.resource.group,
        resource_version: &r.resource.version,
        resource: &r.resource.resource,
        sub_resource: r.sub_resource.as_deref(),
        name: &r.name,
        namespace: r.namespace.as_deref(),
        username: r.user_info.username.as_deref().unwrap_or_default(),
        groups: r.user_info.groups.as_deref().unwrap_or_default(),
        object: d.object.as_ref().and_then(Tape::root),
        old_object: d.old_object.as_ref().and_then(Tape::root),
        dry_run: r.dry_run,
    };
    Request::from_review(&review, w.layers(), target, peers)
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        403 => "Forbidden",
        _ => "Forbidden",
    }
}

/// The response to a review: the verdict's denial (code, message, one cause per validation
/// violation), warnings, the JSON Patch, and the audit annotations.
pub fn respond(r: &AdmissionRequest<DynamicObject>, v: &Verdict) -> AdmissionResponse {
    let mut resp = AdmissionResponse::from(r);
    if !v.warnings.is_empty() {
        resp.warnings = Some(v.warnings.clone());
    }
    resp.audit_annotations = v
        .audit_annotations()
        .into_iter()
        .map(|(k, val)| (k.to_string(), val))
        .collect::<HashMap<_, _>>();
    if v.allowed() {
        if !v.patch.0.is_empty() {
            match resp.with_patch(v.patch.clone()) {
                Ok(with) => return with,
                // a patch that cannot be sent is a mutation that did not happen: never admit
                // the object unmutated (G11)
                Err(e) => {
                    return failure(
                        r,
                        Layer::Mutation,
                        FailurePolicy::Fail,
                        &format!("the patch could not be encoded: {e}"),
                    );
                }
            }
        }
        return resp;
    }
    let code = v.code();
    let causes: Vec<StatusCause> = v
        .denials
        .iter()
        .filter(|d| d.layer == Layer::Validation && d.code == "validation")
        .map(|d| StatusCause {
            reason: "FieldValueInvalid".into(),
            message: d.message.clone(),
            field: d.field.clone().unwrap_or_default(),
        })
        .collect();
    resp.allowed = false;
    resp.result = Status {
        status: Some(kube::core::response::StatusSummary::Failure),
        code,
        message: v.message(),
        metadata: None,
        reason: reason_for(code).into(),
        details: (!causes.is_empty()).then(|| StatusDetails {
            name: r.name.clone(),
            group: r.kind.group.clone(),
            kind: r.kind.kind.clone(),
            uid: String::new(),
            causes,
            retry_after_seconds: 0,
        }),
    };
    resp
}

/// The answer when the Gateway itself fails on a request it could decode (an internal error,
/// a missed deadline, a Pod it could not read): the webhook's failurePolicy decides, exactly
/// as for an evaluation error (docs/security.md §2.3).
pub fn failure(
    r: &AdmissionRequest<DynamicObject>,
    layer: Layer,
    policy: FailurePolicy,
    why: &str,
) -> AdmissionResponse {
    let mut resp = AdmissionResponse::from(r);
    match policy {
        FailurePolicy::Fail => {
            resp.allowed = false;
            resp.result = Status {
                status: Some(kube::core::response::StatusSummary::Failure),
                code: 403,
                message: format!(
                    "[Orkestra Security] evaluation-error: {layer} could not be evaluated: {why}"
                ),
                metadata: None,
                reason: "Forbidden".into(),
                details: None,
            };
            resp.audit_annotations = [
                ("decision".to_string(), "deny".to_string()),
                ("reasons".to_string(), "evaluation-error".to_string()),
            ]
            .into();
        }
        FailurePolicy::Ignore => {
            resp.warnings = Some(vec![format!(
                "orkestra: {layer} could not be evaluated and failurePolicy is Ignore: {why}"
            )]);
            resp.audit_annotations = [
                ("decision".to_string(), "allow".to_string()),
                ("reasons".to_string(), String::new()),
            ]
            .into();
        }
    }
    resp
}

/// The answer to a body that is not a review: denied, code 400. There is no uid to echo.
pub fn undecodable(e: &Undecodable) -> AdmissionResponse {
    let mut resp = AdmissionResponse::invalid(e);
    resp.result.code = 400;
    resp.result.reason = "BadRequest".into();
    resp
}

/// The audit reasons of a verdict: code, layer and a message that never carries a field
/// value (docs/security.md §2.11) — a validation denial names its field and rule only.
pub fn audit_reasons(v: &Verdict) -> Vec<Value> {
    let mut rules = v
        .validation
        .iter()
        .flat_map(|o| o.violations.iter())
        .filter(|x| x.denies());
    v.denials
        .iter()
        .map(|d| {
            let message = if d.layer == Layer::Validation && d.code == "validation" {
                rules
                    .next()
                    .map(|x| format!("field {:?}: {}", x.field, x.message))
                    .unwrap_or_else(|| "a validation rule denied".into())
            } else {
                d.message.clone()
            };
            json!({"code": d.code, "layer": d.layer.as_str(), "message": message})
        })
        .collect()
}

/// Decides a decoded review at webhook `w` with everything it needs in hand.
pub fn judge(
    k: &PreparedKatalog,
    w: Webhook,
    d: &Decoded,
    target: Option<&Value>,
    peers: Option<&dyn Peers>,
) -> Verdict {
    ork_policy::decide(k, &request(w, d, target, peers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "resource": {"group": "", "version": "v1", "resource": "configmaps"},
                "name": "c", "namespace": "ns", "operation": "CREATE",
                "userInfo": {"username": "alice", "groups": ["dev"]},
                "object": object, "dryRun": false,
            },
        }))
        .unwrap_or_default()
    }

    #[test]
    fn a_review_decodes_with_its_object_as_json() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let body = review(object.clone());
        let Ok(d) = decode(&body) else {
            panic!("did not decode")
        };
        assert_eq!(d.request.uid, "u1");
        let root = d.object.as_ref().and_then(Tape::root);
        assert_eq!(
            root.and_then(|o| o.at("/metadata/name"))
                .and_then(|n| n.as_str()),
            Some("c")
        );
        assert_eq!(root.map(|o| o.to_value().into_owned()), Some(object));
        assert!(d.old_object.is_none());
        assert_eq!(user(&d.request).name, "alice");
    }

    #[test]
    fn what_is_not_a_review_is_undecodable() {
        assert!(decode(b"{not json").is_err());
        assert!(decode(&review(json!("a string"))).is_err());
        assert!(decode(br#"{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}"#).is_err());
        assert!(
            decode(br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#).is_err()
        );
        // hostile nesting is an error of the parser's depth limit, never a stack overflow
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let body = String::from_utf8(review(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": "X"}),
        ))
        .unwrap_or_default()
        .replace("\"X\"", &deep);
        assert!(decode(body.as_bytes()).is_err());
        assert!(decode(&[0xff, 0xfe, b'{']).is_err());
        // a key twice in the object: two readers could see two values, so nobody judges it
        let twice = String::from_utf8(review(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}}),
        ))
        .unwrap_or_default()
        .replace(r#""name":"m""#, r#""name":"m","name":"d""#);
        assert!(twice.contains(r#""name":"m","name":"d""#));
        let Err(e) = decode(twice.as_bytes()) else {
            panic!("a duplicate key decoded")
        };
        assert!(e.to_string().contains("duplicate key \"name\""), "{e}");
        let r = undecodable(&Undecodable("x".into()));
        assert!(!r.allowed);
        assert_eq!(r.result.code, 400);
    }
}
