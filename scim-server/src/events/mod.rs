//! SCIM events (RFC 9967): every committed change is one Security Event Token (RFC 8417),
//! built from the change log (written in the change's own transaction) and delivered per
//! event stream, in the order of the log, by push (RFC 8935, [`push`]) or poll (RFC 8936,
//! [`poll`]). Streams, cursors, delivery leases and signing keys are rows in the database,
//! so any replica can deliver any stream and a crash loses nothing: a cursor moves only
//! after the receiver has acknowledged. `manage` holds the stream and audit operations that
//! the `admin` CLI (and an admin API) call.

pub mod manage;
pub mod poll;
pub mod push;
pub mod set;

use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use scim_core::schema::ResourceKind;
use scim_core::sid::ResourceId;
use scim_store::{ChangeOp, ChangeRecord, EventForm, EventStream, ReadOptions, Store};
use serde_json::Value;

/// The routes: the JWKS of the ES256 keys and the poll endpoint.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events/jwks.json", get(jwks))
        .route("/events/streams/{id}/poll", post(poll::poll))
}

/// Now as RFC 3339 UTC with milliseconds (the stored form).
pub(crate) fn now_rfc3339() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc().format(f).unwrap_or_default()
}

/// The JWKS document (RFC 7517) of the stored keys, the retired ones included, so that a
/// SET signed before a rotation still verifies.
pub async fn jwks_document(store: &dyn Store) -> Result<Value, scim_store::StoreError> {
    let keys = store.signing_keys().await?;
    let keys: Vec<Value> =
        keys.iter().filter_map(|k| serde_json::from_str(&k.public_jwk).ok()).collect();
    Ok(serde_json::json!({ "keys": keys }))
}

async fn jwks(State(state): State<AppState>) -> Response {
    match jwks_document(state.store.as_ref()).await {
        Ok(doc) => ([(http::header::CONTENT_TYPE, "application/jwk-set+json")], doc.to_string())
            .into_response(),
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

/// The newest ES256 key, made and stored first if there is none.
pub async fn current_key(store: &dyn Store) -> Result<scim_store::SigningKey, manage::EventsError> {
    if let Some(k) = store.signing_keys().await?.into_iter().next() {
        return Ok(k);
    }
    let key = set::new_key()?;
    store.add_signing_key(&key).await?;
    Ok(key)
}

/// What an event says of the resource. The change row holds the changed attributes and
/// the `externalId`, so a notice needs no read; a full event reads the resource now (it
/// carries the resource as it is at delivery; a deleted one has no data). Rows logged before
/// the change log kept attributes fall back to reading the resource's attribute names.
pub(crate) async fn subject(
    store: &dyn Store,
    stream: &EventStream,
    change: &ChangeRecord,
) -> Result<set::Subject, scim_store::StoreError> {
    let mut subject = set::Subject {
        external_id: change.external_id.clone(),
        resource: None,
        attributes: change.attributes.clone(),
    };
    let legacy = change.attributes.is_empty() && change.external_id.is_none();
    let full = stream.form == EventForm::Full;
    if change.op == ChangeOp::Delete || !(full || legacy) {
        return Ok(subject);
    }
    let read = ReadOptions {
        members: full && change.kind == ResourceKind::Group,
        ..ReadOptions::default()
    };
    // A change logs the id of a stored resource; one that is not a sid names nothing.
    let Ok(id) = ResourceId::parse(change.kind, &change.id) else {
        return Ok(subject);
    };
    let Some(stored) = store.get(stream.org, id, read).await? else {
        return Ok(subject);
    };
    let doc = serde_json::to_value(&stored.resource).unwrap_or(Value::Null);
    if legacy {
        subject.external_id = doc.get("externalId").and_then(Value::as_str).map(str::to_owned);
        if let Some(o) = doc.as_object() {
            subject.attributes =
                o.keys().filter(|k| *k != "schemas" && *k != "meta").cloned().collect();
        }
    }
    subject.resource = full.then_some(doc);
    Ok(subject)
}
