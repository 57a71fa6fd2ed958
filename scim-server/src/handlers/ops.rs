//! The resource operations behind every route: create, read, replace, patch, delete.
//!
//! The single-resource routes and `/Bulk` both call these functions, so a bulk
//! operation behaves exactly like the request it stands for. On family B, create, replace
//! and patch also hold the result to the family's profile ([`crate::profile::check`]).

use super::support::{self, Precondition, Projection};
use crate::context::RequestCtx;
use crate::hooks::Operation;
use crate::profile;
use crate::state::AppState;
use scim_core::envelope::refs_attribute;
use scim_core::etag::ETag;
use scim_core::message::{PATCH_OP, PatchRequest};
use scim_core::patch::{self, PatchContext};
use scim_core::policy::check_policies;
use scim_core::projection::Projector;
use scim_core::resource::{Meta, Resource, key_ci};
use scim_core::schema::ResourceKind;
use scim_core::sid::ResourceId;
use scim_core::validate::{take_password, validate};
use scim_core::{ErrorCode, ScimError};
use scim_store::{Change, NewResource, RawStored, ReadOptions, Stored};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Hashes a human password with Argon2id (PHC string), off the async runtime: it is
/// deliberately slow.
pub(crate) async fn hash_password(password: String) -> Result<String, ScimError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)
            .map_err(|_| ScimError::new(ErrorCode::Internal, "no entropy for a password salt"))?;
        let salt = SaltString::encode_b64(&salt)
            .map_err(|_| ScimError::new(ErrorCode::Internal, "cannot encode a password salt"))?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| ScimError::invalid_value("the password cannot be hashed"))
    })
    .await
    .map_err(|_| ScimError::new(ErrorCode::Internal, "password hashing failed"))?
}

/// Reads one resource (404 when missing).
pub(crate) async fn get(
    st: &AppState,
    ctx: &RequestCtx,
    id: ResourceId,
    read: ReadOptions,
) -> Result<Stored, ScimError> {
    st.store.get(ctx.org.sid, id, read).await?.ok_or_else(|| not_found(id))
}

/// The 404 of a missing resource.
pub(crate) fn not_found(id: ResourceId) -> ScimError {
    ScimError::new(ErrorCode::ResourceNotFound, format!("no {} with id '{id}'", id.kind().name()))
}

/// Creates a resource from a client's document (RFC 7644 3.3): validated, readOnly input
/// ignored, policies checked, password hashed, group members as rows.
pub(crate) async fn create(
    st: &AppState,
    ctx: &RequestCtx,
    kind: ResourceKind,
    body: Value,
) -> Result<Stored, ScimError> {
    let resource = Resource::from_value(body)?;
    let mut resource = validate(resource, &st.registry, kind)?;
    profile::check(ctx.family, kind, &resource, None)?;
    check_policies(&resource, &ctx.org.policies)?;
    let password = take_password(&mut resource);
    let members = match kind {
        ResourceKind::Group => support::take_members(resource.as_map_mut())?.unwrap_or_default(),
        ResourceKind::User => Vec::new(),
    };
    let password_hash = match password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    // The store returns a new group with its members; projection drops them if unwanted.
    let stored = st
        .store
        .create(ctx.org.sid, kind, NewResource { resource, members, password_hash })
        .await?;
    changed(st, ctx, kind, &stored.id, Operation::Create, Some(stored.version));
    Ok(stored)
}

/// Replaces a resource (RFC 7644 3.5.1) in one read-modify-write transaction.
pub(crate) async fn replace(
    st: &AppState,
    ctx: &RequestCtx,
    id: ResourceId,
    cond: &Precondition,
    body: Value,
    read: ReadOptions,
) -> Result<Stored, ScimError> {
    let kind = id.kind();
    let incoming = Resource::from_value(body)?;
    // Validate up front (cheap, outside the transaction) to get the password out for
    // hashing; the replace rules run again on the stored state inside.
    let mut checked = validate(incoming.clone(), &st.registry, kind)?;
    let password_hash = match take_password(&mut checked) {
        Some(p) => Some(Some(hash_password(p).await?)),
        // RFC 7643 4.1.1: a PUT without a password leaves the password as it is (it is
        // writeOnly: clients never have it to send back).
        None => None,
    };
    let registry = st.registry.clone();
    let policies = ctx.org.policies.clone();
    let family = ctx.family;
    let stored = update(st, ctx, id, cond, read, move |stored: &Stored| {
        let current = without_rows(&stored.resource, kind);
        let pctx = PatchContext::new(&registry, kind).with_external_members(true);
        let replaced = scim_core::replace::replace(&current, incoming.clone(), &pctx)?;
        let mut new = replaced.resource;
        profile::check(family, kind, &new, Some(&current))?;
        check_policies(&new, &policies)?;
        let _ = take_password(&mut new);
        let members = replaced.member_ops;
        Ok(Change { resource: new, members, password_hash: password_hash.clone(), changed: true })
    })
    .await?;
    changed(st, ctx, kind, &stored.id, Operation::Replace, Some(stored.version));
    Ok(stored)
}

/// Parses a PATCH body. `schemas` may be absent (lenient), but when present it must name
/// the PatchOp message (RFC 7644 3.5.2).
pub(crate) fn parse_patch(body: Value) -> Result<PatchRequest, ScimError> {
    let req: PatchRequest = serde_json::from_value(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not a PATCH request: {e}")))?;
    if !req.schemas.is_empty() && !req.schemas.iter().any(|s| s.eq_ignore_ascii_case(PATCH_OP)) {
        return Err(ScimError::new(
            ErrorCode::InvalidSchemas,
            format!("a PATCH request's schemas must contain \"{PATCH_OP}\""),
        ));
    }
    Ok(req)
}

/// Applies a PATCH request (RFC 7644 3.5.2) in one read-modify-write transaction; group
/// member operations become membership row changes.
pub(crate) async fn patch(
    st: &AppState,
    ctx: &RequestCtx,
    id: ResourceId,
    cond: &Precondition,
    req: PatchRequest,
    read: ReadOptions,
) -> Result<Stored, ScimError> {
    let kind = id.kind();
    let mut hashes: HashMap<String, String> = HashMap::new();
    for p in patch::passwords(&req.operations) {
        if let std::collections::hash_map::Entry::Vacant(slot) = hashes.entry(p.to_owned()) {
            let h = hash_password(slot.key().clone()).await?;
            slot.insert(h);
        }
    }
    let registry = st.registry.clone();
    let policies = ctx.org.policies.clone();
    let family = ctx.family;
    let ops = req.operations;
    let wrote = Arc::new(AtomicBool::new(false));
    let wrote_in = wrote.clone();
    let stored = update(st, ctx, id, cond, read, move |stored: &Stored| {
        let pctx = PatchContext::new(&registry, kind).with_external_members(true);
        // The operations run on this copy, checked against the stored state.
        let mut resource = without_rows(&stored.resource, kind);
        let outcome = patch::apply_to(&mut resource, &stored.resource, &ops, &pctx)?;
        let members = outcome.member_ops;
        let mut changed = outcome.changed || !members.is_empty();
        let mut password_hash = None;
        if let Some(plain) = take_password(&mut resource) {
            let hash = hashes
                .get(&plain)
                .cloned()
                .ok_or_else(|| ScimError::invalid_value("the password must be a string value"))?;
            password_hash = Some(Some(hash));
            changed = true;
        }
        if changed {
            // The family's profile checks only what the PATCH changes.
            profile::check(family, kind, &resource, Some(&stored.resource))?;
            check_policies(&resource, &policies)?;
        }
        wrote_in.store(changed, Ordering::Relaxed);
        Ok(Change { resource, members, password_hash, changed })
    })
    .await?;
    // A PATCH that changed nothing wrote nothing: no change to report.
    if wrote.load(Ordering::Relaxed) {
        changed(st, ctx, kind, &stored.id, Operation::Patch, Some(stored.version));
    }
    Ok(stored)
}

/// The one update path of PUT and PATCH: `change` makes the new state from the stored one
/// in the store's read-modify-write, once the precondition (`If-Match`) holds for the
/// stored version. The store may call it again with a newer state when a concurrent write
/// got in between (see [`scim_store::Modifier`]).
async fn update(
    st: &AppState,
    ctx: &RequestCtx,
    id: ResourceId,
    cond: &Precondition,
    read: ReadOptions,
    mut change: impl FnMut(&Stored) -> Result<Change, ScimError> + Send + 'static,
) -> Result<Stored, ScimError> {
    let cond_check = cond.clone();
    let modifier: scim_store::Modifier = Box::new(move |stored: &Stored| {
        if cond_check.needs_check() {
            cond_check.check(stored.version)?;
        }
        change(stored)
    });
    st.store.modify(ctx.org.sid, id, cond.expected(), read, modifier).await.map_err(|e| match e {
        scim_store::StoreError::NotFound(_) => not_found(id),
        other => other.into(),
    })
}

/// A copy of the document without the attributes computed from membership rows
/// (`members` of groups, `groups` of users), which a modifier must never write back.
fn without_rows(resource: &Resource, kind: ResourceKind) -> Resource {
    // A whole copy keeps the members' hashes (collecting the others would hash every key
    // again); the references are the last member but `meta`, so removing them moves one.
    let mut map = resource.as_map().clone();
    if let Some(key) = key_ci(&map, scim_core::envelope::refs_attribute(kind)).map(str::to_owned) {
        map.shift_remove(&key);
    }
    Resource(map)
}

/// Deletes a resource (RFC 7644 3.6); with the `soft-delete` policy it is deactivated and
/// hidden instead.
pub(crate) async fn delete(
    st: &AppState,
    ctx: &RequestCtx,
    id: ResourceId,
    cond: &Precondition,
) -> Result<(), ScimError> {
    let mut expected = cond.expected();
    if cond.needs_check() {
        let current = get(st, ctx, id, ReadOptions::default()).await?;
        cond.check(current.version)?;
        expected = Some(current.version);
    }
    let soft = ctx.org.has(scim_store::Policy::SoftDelete);
    st.store.delete(ctx.org.sid, id, expected, soft).await.map_err(|e| match e {
        scim_store::StoreError::NotFound(_) => not_found(id),
        other => other.into(),
    })?;
    changed(st, ctx, id.kind(), id, Operation::Delete, None);
    Ok(())
}

/// A stored resource as the client sees it: `meta.location` on the request's route
/// family, `$ref` on members and groups, then the projection.
pub(crate) fn render(
    st: &AppState,
    ctx: &RequestCtx,
    kind: ResourceKind,
    stored: Stored,
    proj: &Projection,
) -> Value {
    let resource = Resource(framed(ctx, kind, stored));
    scim_core::projection::project_owned(
        resource,
        &proj.attributes,
        &proj.excluded,
        &st.registry,
        kind,
    )
    .into_value()
}

/// Writes what [`render`] gives, serialised, to `out`, without building the projected
/// copy of the resource first.
pub(crate) fn render_into(
    ctx: &RequestCtx,
    kind: ResourceKind,
    stored: Stored,
    projector: &Projector<'_>,
    out: &mut Vec<u8>,
) -> Result<(), ScimError> {
    let members = framed(ctx, kind, stored)
        .into_iter()
        .map(|(k, v)| (std::borrow::Cow::Owned(k), scim_core::projection::Part::Value(v)));
    projector
        .write(members, out)
        .map_err(|e| ScimError::new(ErrorCode::Internal, format!("serialising a resource: {e}")))
}

/// A stored resource before the projection: `meta.location` on the request's route
/// family (and `meta` made from the row when the document has none), `$ref` on members
/// and groups.
fn framed(ctx: &RequestCtx, kind: ResourceKind, stored: Stored) -> serde_json::Map<String, Value> {
    let mut map = stored.resource.into_map();
    let location = ctx.location(kind, &stored.id);
    match map.get_mut("meta") {
        Some(Value::Object(meta)) => Meta::set_location(meta, location),
        _ => {
            let meta = Meta {
                resource_type: Some(kind.name().into()),
                location: Some(location),
                version: Some(ETag(stored.version).to_string()),
                ..Meta::default()
            };
            map.insert("meta".into(), Value::Object(meta.into_map()));
        }
    }
    if let Some(key) = key_ci(&map, refs_attribute(kind)).map(str::to_owned)
        && let Some(Value::Array(items)) = map.get_mut(&key)
    {
        add_refs(ctx, kind, items);
    }
    map
}

/// Adds `$ref` (on the request's route family) to each member or group item.
fn add_refs(ctx: &RequestCtx, kind: ResourceKind, items: &mut [Value]) {
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        let target = match kind {
            ResourceKind::User => Some(ResourceKind::Group),
            ResourceKind::Group => item
                .get("value")
                .and_then(Value::as_str)
                .and_then(ResourceId::of)
                .map(ResourceId::kind),
        };
        let value = item.get("value").and_then(Value::as_str).map(str::to_owned);
        if let (Some(t), Some(v)) = (target, value) {
            item.insert("$ref".into(), Value::String(ctx.location(t, &v)));
        }
    }
}

/// Reads one resource as stored text (404 when missing).
pub(crate) async fn get_raw(
    st: &AppState,
    ctx: &RequestCtx,
    id: ResourceId,
    read: ReadOptions,
) -> Result<RawStored, ScimError> {
    st.store.get_raw(ctx.org.sid, id, read).await?.ok_or_else(|| not_found(id))
}

/// Writes a resource read as text to `out` as JSON: the same bytes [`render`] gives for the
/// parsed resource, but the stored text of every attribute the projection keeps whole is
/// copied, not parsed and serialised again.
pub(crate) fn render_raw(
    ctx: &RequestCtx,
    raw: RawStored,
    projector: &Projector<'_>,
    out: &mut Vec<u8>,
) -> Result<(), ScimError> {
    let kind = raw.kind;
    let broken = || ScimError::new(ErrorCode::Internal, "a stored document is not a JSON object");
    let (mut envelope, doc, refs) = raw.split();
    envelope.meta.location = Some(ctx.location(kind, &envelope.id));
    let refs = refs.map(|mut items| {
        add_refs(ctx, kind, &mut items);
        (refs_attribute(kind), items)
    });
    let (head, tail) = envelope.around(refs);
    projector.write_stored(head, &doc, tail, out).map_err(|_| broken())
}

/// Calls a product's change hook (the `embed` API), when there is one, with a committed
/// change.
pub(super) fn changed(
    st: &AppState,
    ctx: &crate::context::RequestCtx,
    kind: ResourceKind,
    id: impl std::fmt::Display,
    operation: Operation,
    version: Option<u64>,
) {
    if let Some(hook) = &st.embedding.hook {
        hook.send(crate::hooks::Change {
            org: ctx.org.sid,
            kind,
            id: id.to_string(),
            operation,
            version,
            actor: ctx.credential_id.clone(),
        });
    }
}
