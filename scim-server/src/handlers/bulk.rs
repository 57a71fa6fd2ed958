//! `POST /Bulk` (RFC 7644 3.7) and the bulk deactivate `POST /Users/delete` (this
//! project's route, `docs/http.md`).
//!
//! Bulk operations run through the same functions as the single-resource routes
//! ([`super::ops`]), one after another, each in its own transaction (RFC 7644 3.7: bulk is
//! not atomic). `bulkId` references (`"bulkId:qwerty"` as any string value in `data`, or
//! in `path`) resolve to the id created by the `POST` that declared that `bulkId`:
//!
//! - operations run in request order, except that an operation referring to a `bulkId`
//!   declared by a later `POST` waits until that `POST` has run (forward references);
//! - circular references between group `POST`s (RFC 7644 3.7.1: group A has member group
//!   B and B has member A) are resolved by creating a group without its unresolved
//!   members and adding them once the others exist;
//! - a reference to a `bulkId` that no `POST` of the request declares, or whose `POST`
//!   failed, fails that operation with 400 (`UnresolvedBulkId`).
//!
//! `failOnErrors: n` stops after the n-th failed operation; operations not run are
//! absent from the response. Responses are listed in request order.

use super::ops;
use super::support::{self, BULK_ID_PREFIX, Precondition, Projection};
use crate::context::RequestCtx;
use crate::error::error_body;
use crate::state::AppState;
use scim_core::message::{
    BULK_RESPONSE, BulkOperation, BulkOperationResponse, BulkRequest, ListResponse,
};
use scim_core::resource::key_ci;
use scim_core::schema::ResourceKind;
use scim_core::sid::{ResourceId, UserSid};
use scim_core::{ErrorCode, ScimError};
use scim_store::ReadOptions;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// The outcome of one bulk operation that succeeded.
struct Ran {
    status: u16,
    kind: ResourceKind,
    id: String,
    version: Option<u64>,
}

/// What a bulk operation targets.
struct Target {
    kind: ResourceKind,
    id: Option<String>,
}

/// Parses a bulk operation's `path`: `/Users`, `/Groups`, `/Users/{id}`, `/Groups/{id}`.
fn target(path: &str) -> Result<Target, ScimError> {
    let trimmed = path.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix('/').unwrap_or(trimmed);
    let (head, id) = match rest.split_once('/') {
        Some((h, id)) => (h, Some(id)),
        None => (rest, None),
    };
    let kind = if head.eq_ignore_ascii_case("Users") {
        ResourceKind::User
    } else if head.eq_ignore_ascii_case("Groups") {
        ResourceKind::Group
    } else {
        let shown: String = path.chars().take(80).collect();
        return Err(ScimError::new(
            ErrorCode::UnknownRoute,
            format!("bulk path '{shown}' is not /Users, /Groups, /Users/{{id}} or /Groups/{{id}}"),
        ));
    };
    if id.is_some_and(|i| i.contains('/')) {
        let shown: String = path.chars().take(80).collect();
        return Err(ScimError::new(
            ErrorCode::UnknownRoute,
            format!("bulk path '{shown}' is too deep"),
        ));
    }
    Ok(Target { kind, id: id.map(str::to_owned) })
}

/// Runs one operation whose references are resolved.
async fn run_one(
    st: &AppState,
    ctx: &RequestCtx,
    op: &BulkOperation,
    data: Option<Value>,
) -> Result<Ran, ScimError> {
    let t = target(&op.path)?;
    let method = op.method.to_ascii_uppercase();
    let cond = Precondition::parse(op.version.as_deref());
    let read = ReadOptions::default();
    let need_data = || {
        data.clone().ok_or_else(|| {
            ScimError::invalid_syntax(format!("a bulk {method} operation needs 'data'"))
        })
    };
    match (method.as_str(), &t.id) {
        ("POST", None) => {
            let s = ops::create(st, ctx, t.kind, need_data()?).await?;
            Ok(Ran { status: 201, kind: t.kind, id: s.id, version: Some(s.version) })
        }
        ("PUT", Some(id)) => {
            let data = need_data()?;
            let id = ResourceId::parse(t.kind, id)?;
            let s = ops::replace(st, ctx, id, &cond, data, read).await?;
            Ok(Ran { status: 200, kind: t.kind, id: s.id, version: Some(s.version) })
        }
        ("PATCH", Some(id)) => {
            let req = ops::parse_patch(need_data()?)?;
            let id = ResourceId::parse(t.kind, id)?;
            let s = ops::patch(st, ctx, id, &cond, req, read).await?;
            Ok(Ran { status: 200, kind: t.kind, id: s.id, version: Some(s.version) })
        }
        ("DELETE", Some(id)) => {
            ops::delete(st, ctx, ResourceId::parse(t.kind, id)?, &cond).await?;
            Ok(Ran { status: 204, kind: t.kind, id: id.clone(), version: None })
        }
        (m, _) if !matches!(m, "POST" | "PUT" | "PATCH" | "DELETE") => Err(ScimError::new(
            ErrorCode::MethodNotAllowed,
            format!("bulk method '{}' is not POST, PUT, PATCH or DELETE", op.method),
        )),
        (m, _) => Err(ScimError::new(
            ErrorCode::MethodNotAllowed,
            format!(
                "bulk {m} is not allowed on '{}'",
                op.path.chars().take(80).collect::<String>()
            ),
        )),
    }
}

/// The `bulkId`s an operation refers to (in `path` and `data`).
fn refs_of(op: &BulkOperation) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = &op.data {
        support::bulk_refs(d, &mut out);
    }
    for seg in op.path.split('/') {
        if let Some(id) = seg.strip_prefix(BULK_ID_PREFIX) {
            out.push(id.to_owned());
        }
    }
    out
}

/// The error of an operation that names `bulkId:{r}` when no successful POST defined `r`.
fn unresolved_id(r: &str) -> ScimError {
    ScimError::new(
        ErrorCode::UnresolvedBulkId,
        format!("bulkId '{r}' is not defined by a successful POST of this request"),
    )
}

/// Runs a bulk request (module docs) and renders the BulkResponse.
pub(crate) async fn bulk(st: &AppState, ctx: &RequestCtx, body: &[u8]) -> Result<Value, ScimError> {
    let max_payload = st.config.bulk_max_payload_bytes;
    if body.len() as u64 > max_payload {
        return Err(ScimError::new(
            ErrorCode::BulkPayloadTooLarge,
            format!("the bulk request is {} bytes, over maxPayloadSize {max_payload}", body.len()),
        ));
    }
    let req: BulkRequest = serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not a bulk request: {e}")))?;
    let max_ops = st.config.bulk_max_operations;
    if req.operations.len() as u64 > max_ops {
        return Err(ScimError::new(
            ErrorCode::TooMany,
            format!(
                "the bulk request has {} operations, over maxOperations {max_ops}",
                req.operations.len()
            ),
        ));
    }
    let ops = req.operations;
    let fail_on_errors = req.fail_on_errors.filter(|n| *n > 0);
    // Which operation declares each bulkId (the first POST that does).
    let mut declared: HashMap<String, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(b) = &op.bulk_id
            && op.method.eq_ignore_ascii_case("POST")
        {
            declared.entry(b.clone()).or_insert(i);
        }
    }
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut failed_ids: HashSet<String> = HashSet::new();
    let mut results: Vec<Option<BulkOperationResponse>> = vec![None; ops.len()];
    let mut pending: Vec<usize> = (0..ops.len()).collect();
    // Groups created without some members (circular references): op index and the
    // member items to add once every reference resolves.
    let mut deferred: Vec<(usize, Vec<Value>)> = Vec::new();
    // failOnErrors (RFC 7644 3.7.3): the number of errors after which the rest is not run.
    let mut errors = 0u32;
    let mut too_many = |failed: bool| {
        errors += u32::from(failed);
        failed && fail_on_errors.is_some_and(|n| errors >= n)
    };
    let mut stopped = false;

    'passes: while !pending.is_empty() && !stopped {
        let mut progressed = false;
        let mut still = Vec::new();
        for &i in &pending {
            let Some(op) = ops.get(i) else { continue };
            if stopped {
                still.push(i);
                continue;
            }
            let refs = refs_of(op);
            let unknown: Vec<&String> = refs
                .iter()
                .filter(|r| !resolved.contains_key(*r))
                .filter(|r| !declared.contains_key(*r) || failed_ids.contains(*r))
                .collect();
            let waiting = refs.iter().any(|r| !resolved.contains_key(r));
            let outcome = if let Some(r) = unknown.first() {
                Err(unresolved_id(r))
            } else if waiting {
                still.push(i);
                continue;
            } else {
                execute(st, ctx, op, &resolved).await
            };
            progressed = true;
            let failed = outcome.is_err();
            record(ctx, op, i, outcome, &mut results, &mut resolved, &mut failed_ids);
            stopped |= too_many(failed);
        }
        pending = still;
        if stopped || pending.is_empty() {
            break;
        }
        if !progressed {
            // Every remaining operation waits on another: break a cycle at a group POST
            // whose unresolved references are all member values.
            for pos in 0..pending.len() {
                let Some(&i) = pending.get(pos) else { continue };
                let Some(op) = ops.get(i) else { continue };
                let Some((data, later)) = split_circular(op, &resolved) else { continue };
                let outcome = execute_with(st, ctx, op, Some(data), &resolved).await;
                let failed = outcome.is_err();
                record(ctx, op, i, outcome, &mut results, &mut resolved, &mut failed_ids);
                stopped |= too_many(failed);
                if !failed {
                    deferred.push((i, later));
                }
                pending.remove(pos);
                continue 'passes;
            }
            // No cycle can be broken: the rest fail.
            for &i in &pending {
                let Some(op) = ops.get(i) else { continue };
                if stopped {
                    break;
                }
                let e = ScimError::new(
                    ErrorCode::UnresolvedBulkId,
                    "the operation's bulkId references form a cycle that cannot be resolved",
                );
                record(ctx, op, i, Err(e), &mut results, &mut resolved, &mut failed_ids);
                stopped |= too_many(true);
            }
            break;
        }
    }

    // Add the members held back from circular group POSTs.
    for (i, mut items) in deferred {
        let Some(Some(res)) = results.get(i) else { continue };
        let Some(id) =
            res.location.as_deref().and_then(|l| l.rsplit('/').next()).map(str::to_owned)
        else {
            continue;
        };
        let mut unresolved = Vec::new();
        for item in &items {
            support::bulk_refs(item, &mut unresolved);
        }
        unresolved.retain(|r| !resolved.contains_key(r));
        let outcome = if let Some(r) = unresolved.first() {
            Err(unresolved_id(r))
        } else {
            for item in &mut items {
                support::substitute_bulk_refs(item, &|b| resolved.get(b).cloned());
            }
            let patch =
                serde_json::json!({"Operations":[{"op":"add","path":"members","value":items}]});
            async {
                let req = ops::parse_patch(patch)?;
                let id = ResourceId::parse(ResourceKind::Group, &id)?;
                let s = ops::patch(st, ctx, id, &Precondition::None, req, ReadOptions::default())
                    .await?;
                Ok(s.version)
            }
            .await
        };
        if let Some(Some(res)) = results.get_mut(i) {
            match outcome {
                Ok(v) => res.version = Some(support::etag(v)),
                Err(e) => {
                    // The group exists, but without these members: report the failure.
                    let e = crate::error::for_family(e, Some(ctx.family));
                    res.status = e.status().as_u16().to_string();
                    res.response = serde_json::to_value(error_body(&e, &ctx.render)).ok();
                }
            }
        }
    }

    let operations: Vec<BulkOperationResponse> = results.into_iter().flatten().collect();
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(vec![Value::String(BULK_RESPONSE.into())]));
    out.insert(
        "Operations".into(),
        serde_json::to_value(operations).unwrap_or(Value::Array(Vec::new())),
    );
    Ok(Value::Object(out))
}

/// Runs an operation with its references substituted.
async fn execute(
    st: &AppState,
    ctx: &RequestCtx,
    op: &BulkOperation,
    resolved: &HashMap<String, String>,
) -> Result<Ran, ScimError> {
    execute_with(st, ctx, op, op.data.clone(), resolved).await
}

async fn execute_with(
    st: &AppState,
    ctx: &RequestCtx,
    op: &BulkOperation,
    mut data: Option<Value>,
    resolved: &HashMap<String, String>,
) -> Result<Ran, ScimError> {
    let lookup = |b: &str| resolved.get(b).cloned();
    if let Some(d) = &mut data {
        support::substitute_bulk_refs(d, &lookup);
    }
    let path = op
        .path
        .split('/')
        .map(|seg| match seg.strip_prefix(BULK_ID_PREFIX).and_then(lookup) {
            Some(id) => id,
            None => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/");
    let op = BulkOperation { path, ..op.clone() };
    run_one(st, ctx, &op, data).await
}

/// For a group POST whose unresolved references are all member values: its data without
/// those members, and the held-back member items.
fn split_circular(
    op: &BulkOperation,
    resolved: &HashMap<String, String>,
) -> Option<(Value, Vec<Value>)> {
    if !op.method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let t = target(&op.path).ok()?;
    if t.kind != ResourceKind::Group || t.id.is_some() {
        return None;
    }
    let mut data = op.data.clone()?;
    let obj = data.as_object_mut()?;
    let key = key_ci(obj, "members")?.to_owned();
    let Some(Value::Array(items)) = obj.get_mut(&key) else { return None };
    let (later, now): (Vec<Value>, Vec<Value>) = items.drain(..).partition(|item| {
        let mut r = Vec::new();
        support::bulk_refs(item, &mut r);
        r.iter().any(|b| !resolved.contains_key(b))
    });
    *items = now;
    if later.is_empty() {
        return None;
    }
    // Anything else unresolved outside members: not breakable here.
    let mut rest = Vec::new();
    support::bulk_refs(&data, &mut rest);
    if rest.iter().any(|b| !resolved.contains_key(b)) {
        return None;
    }
    Some((data, later))
}

/// Stores an operation's response and, for a POST, what its bulkId resolved to.
fn record(
    ctx: &RequestCtx,
    op: &BulkOperation,
    i: usize,
    outcome: Result<Ran, ScimError>,
    results: &mut [Option<BulkOperationResponse>],
    resolved: &mut HashMap<String, String>,
    failed_ids: &mut HashSet<String>,
) {
    let mut res = BulkOperationResponse {
        method: op.method.to_ascii_uppercase(),
        bulk_id: op.bulk_id.clone(),
        version: None,
        location: None,
        status: String::new(),
        response: None,
    };
    match outcome {
        Ok(ran) => {
            if let (Some(b), 201) = (&op.bulk_id, ran.status) {
                resolved.insert(b.clone(), ran.id.clone());
            }
            res.status = ran.status.to_string();
            res.location = Some(ctx.location(ran.kind, &ran.id));
            res.version = ran.version.map(support::etag);
        }
        Err(e) => {
            if let (Some(b), true) = (&op.bulk_id, op.method.eq_ignore_ascii_case("POST")) {
                failed_ids.insert(b.clone());
            }
            let e = crate::error::for_family(e, Some(ctx.family));
            if let Ok(t) = target(&op.path)
                && let Some(id) = t.id.filter(|id| ResourceId::parse(t.kind, id).is_ok())
            {
                res.location = Some(ctx.location(t.kind, &id));
            }
            res.status = e.status().as_u16().to_string();
            res.response = serde_json::to_value(error_body(&e, &ctx.render)).ok();
        }
    }
    if let Some(slot) = results.get_mut(i) {
        *slot = Some(res);
    }
}

/// Parses the body of `POST /Users/delete`: a bare array of ids, or `{"ids": [...]}`.
fn deactivate_ids(body: Value) -> Result<Vec<String>, ScimError> {
    let items = match body {
        Value::Array(a) => a,
        Value::Object(mut m) => match key_ci(&m, "ids").map(str::to_owned) {
            Some(k) => match m.shift_remove(&k) {
                Some(Value::Array(a)) => a,
                _ => return Err(ScimError::invalid_syntax("'ids' must be an array of user ids")),
            },
            None => {
                return Err(ScimError::invalid_syntax(
                    "the body must be an array of user ids or {\"ids\": [...]}",
                ));
            }
        },
        _ => {
            return Err(ScimError::invalid_syntax(
                "the body must be an array of user ids or {\"ids\": [...]}",
            ));
        }
    };
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(s) => {
                if !ids.contains(&s) {
                    ids.push(s);
                }
            }
            other => {
                return Err(ScimError::invalid_syntax(format!(
                    "user ids must be strings, not {}",
                    scim_core::resource::json_kind(&other)
                )));
            }
        }
    }
    Ok(ids)
}

/// `POST /Users/delete`: deactivates every named user in one transaction (`docs/http.md`).
pub(crate) async fn deactivate(
    st: &AppState,
    ctx: &RequestCtx,
    body: Value,
) -> Result<Value, ScimError> {
    let max = st.config.bulk_max_operations;
    let count = match &body {
        Value::Array(a) => a.len(),
        Value::Object(m) => {
            key_ci(m, "ids").and_then(|k| m.get(k)).and_then(Value::as_array).map_or(0, Vec::len)
        }
        _ => 0,
    };
    if count as u64 > max {
        return Err(ScimError::new(
            ErrorCode::TooMany,
            format!("{count} ids are over the limit of {max} per request"),
        ));
    }
    let mut sids: Vec<UserSid> = Vec::new();
    let mut malformed: Vec<String> = Vec::new();
    for id in deactivate_ids(body)? {
        match UserSid::parse(&id) {
            Ok(sid) => sids.push(sid),
            Err(_) => malformed.push(id.chars().take(80).collect()),
        }
    }
    if !malformed.is_empty() {
        return Err(ScimError::new(
            ErrorCode::ResourceNotFound,
            format!("no such users: {}", malformed.join(", ")),
        ));
    }
    let users = st.store.deactivate_users(ctx.org.sid, &sids).await?;
    for u in &users {
        let op = crate::hooks::Operation::Deactivate;
        super::ops::changed(st, ctx, ResourceKind::User, &u.id, op, Some(u.version));
    }
    let proj = Projection {
        attributes: vec!["id".into(), "externalId".into(), "meta".into(), "schemas".into()],
        excluded: Vec::new(),
    };
    let resources: Vec<Value> =
        users.into_iter().map(|u| ops::render(st, ctx, ResourceKind::User, u, &proj)).collect();
    let total = resources.len() as u64;
    serde_json::to_value(ListResponse::new(resources, total, 1))
        .map_err(|e| ScimError::new(ErrorCode::Internal, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets() {
        assert!(target("/Users").unwrap().id.is_none());
        assert_eq!(target("/Groups/GR1").unwrap().id.as_deref(), Some("GR1"));
        assert!(target("/Foo").is_err());
        assert!(target("/Users/a/b").is_err());
    }

    #[test]
    fn deactivate_bodies() {
        assert_eq!(deactivate_ids(json!(["a", "b", "a"])).unwrap(), vec!["a", "b"]);
        assert_eq!(deactivate_ids(json!({"ids":["a"]})).unwrap(), vec!["a"]);
        assert!(deactivate_ids(json!({"x":1})).is_err());
        assert!(deactivate_ids(json!([1])).is_err());
    }

    #[test]
    fn circular_split() {
        let op: BulkOperation = serde_json::from_value(json!({
            "method":"POST","path":"/Groups","bulkId":"a",
            "data":{"displayName":"A","members":[{"value":"bulkId:b"},{"value":"US0123456789abcdef0123456789abcdef"}]}
        })).unwrap();
        let (data, later) = split_circular(&op, &HashMap::new()).unwrap();
        assert_eq!(data["members"].as_array().unwrap().len(), 1);
        assert_eq!(later.len(), 1);
    }
}
