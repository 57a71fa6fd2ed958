//! Stream and audit operations as plain functions over the [`Store`], called by the
//! `admin stream` and `admin audit` commands and by the admin HTTP API; their
//! JSON shapes are the contract scripts rely on.

use super::set;
use scim_core::sid::OrganizationSid;
use scim_store::{
    AuditQuery, ChangeOp, Delivery, EventForm, EventStream, SigningAlg, Store, StoreError,
    StreamState,
};
use serde::Serialize;

/// Why a stream or audit operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// A key could not be made or read.
    #[error(transparent)]
    Sign(#[from] set::SignError),
    /// No such stream.
    #[error("no event stream {0}")]
    NotFound(String),
}

/// What `create_stream` needs.
#[derive(Debug, Clone)]
pub struct NewStream {
    /// The organization.
    pub org: OrganizationSid,
    /// Push or poll.
    pub delivery: Delivery,
    /// The receiver URL (push; http or https).
    pub url: Option<String>,
    /// Event URIs (empty: all).
    pub events: Vec<String>,
    /// Notice or full.
    pub form: EventForm,
    /// ES256 or HS256.
    pub alg: SigningAlg,
}

/// A stream as `admin stream list --json` prints it (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StreamOut {
    /// `ES...`.
    pub id: String,
    /// The organization.
    pub org: OrganizationSid,
    /// `push` or `poll`.
    pub delivery: Delivery,
    /// The receiver (push).
    pub url: Option<String>,
    /// Event URIs delivered (empty: all).
    pub events: Vec<String>,
    /// `notice` or `full`.
    pub form: EventForm,
    /// `ES256` or `HS256`.
    pub alg: SigningAlg,
    /// `active` or `paused`.
    pub state: StreamState,
    /// The last acknowledged change-log sequence number.
    pub cursor: u64,
    /// Changes of the organization not yet acknowledged (at most 10,000 counted).
    pub lag: u64,
    /// Consecutive failed deliveries.
    pub failures: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When it was created.
    pub created: String,
}

/// `admin stream create --json` output: the stream, and the HS256 secret shown this once.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CreatedStream {
    /// The stream.
    #[serde(flatten)]
    pub stream: StreamOut,
    /// The HS256 shared secret (hex), only for HS256 streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// One change as `admin audit --json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// The change-log sequence number.
    pub seq: u64,
    /// When, RFC 3339.
    pub at: String,
    /// `User` or `Group`.
    pub kind: String,
    /// The resource id.
    pub id: String,
    /// `create`, `update`, `delete` or `restore`.
    pub op: String,
    /// The version after the change.
    pub version: u64,
    /// The credential that made it.
    pub actor: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// The request's method.
    pub method: Option<String>,
    /// The top-level attributes the change set or removed (never values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The new `active`, when the change switched it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// Checks a receiver URL: absolute http or https with a host, at most 2048 characters.
pub fn check_url(url: &str) -> Result<(), EventsError> {
    let bad = |why: &str| EventsError::Usage(format!("invalid receiver URL: {why}"));
    if url.len() > 2048 {
        return Err(bad("longer than 2048 characters"));
    }
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("only http and https are allowed")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(())
}

/// Creates a stream (starting after the organization's newest change).
pub async fn create_stream(
    store: &dyn Store,
    new: NewStream,
) -> Result<CreatedStream, EventsError> {
    match (new.delivery, &new.url) {
        (Delivery::Push, None) => {
            return Err(EventsError::Usage("a push stream needs --url".into()));
        }
        (Delivery::Push, Some(u)) => check_url(u)?,
        (Delivery::Poll, Some(_)) => {
            return Err(EventsError::Usage("a poll stream has no --url".into()));
        }
        (Delivery::Poll, None) => {}
    }
    if new.events.len() > 32 {
        return Err(EventsError::Usage("at most 32 event URIs".into()));
    }
    for e in &new.events {
        if !set::uri::ALL
            .iter()
            .any(|u| u == e || u.strip_prefix(e.as_str()).is_some_and(|r| r.starts_with(':')))
        {
            return Err(EventsError::Usage(format!("unknown event URI {e}")));
        }
    }
    let secret = match new.alg {
        SigningAlg::HS256 => {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b)
                .map_err(|e| EventsError::Usage(format!("random source: {e}")))?;
            Some(hex::encode(b))
        }
        SigningAlg::ES256 => {
            super::current_key(store).await?;
            None
        }
    };
    let stream = EventStream {
        id: String::new(),
        org: new.org,
        delivery: new.delivery,
        url: new.url,
        events: new.events,
        form: new.form,
        alg: new.alg,
        secret: secret.clone(),
        state: StreamState::Active,
        cursor: 0,
        failures: 0,
        last_error: None,
        created: String::new(),
    };
    let stored = store.stream_create(&stream).await?;
    Ok(CreatedStream { stream: out(store, stored).await?, secret })
}

async fn out(store: &dyn Store, s: EventStream) -> Result<StreamOut, EventsError> {
    let lag = store.changes_pending(s.org, s.cursor, super::push::PENDING_CAP).await?;
    Ok(StreamOut {
        id: s.id,
        org: s.org,
        delivery: s.delivery,
        url: s.url,
        events: s.events,
        form: s.form,
        alg: s.alg,
        state: s.state,
        cursor: s.cursor,
        lag,
        failures: s.failures,
        last_error: s.last_error,
        created: s.created,
    })
}

/// The streams of `org` (or all), with their state and lag.
pub async fn list_streams(
    store: &dyn Store,
    org: Option<OrganizationSid>,
) -> Result<Vec<StreamOut>, EventsError> {
    let mut v = Vec::new();
    for s in store.streams(org).await? {
        v.push(out(store, s).await?);
    }
    Ok(v)
}

/// One stream, with its state and lag.
pub async fn read_stream(store: &dyn Store, id: &str) -> Result<StreamOut, EventsError> {
    let s = store.stream(id).await?.ok_or_else(|| EventsError::NotFound(id.into()))?;
    out(store, s).await
}

/// Pauses or resumes a stream.
pub async fn set_stream_state(
    store: &dyn Store,
    id: &str,
    state: StreamState,
) -> Result<StreamOut, EventsError> {
    if !store.stream_set_state(id, state).await? {
        return Err(EventsError::NotFound(id.into()));
    }
    let s = store.stream(id).await?.ok_or_else(|| EventsError::NotFound(id.into()))?;
    out(store, s).await
}

/// Deletes a stream.
pub async fn delete_stream(store: &dyn Store, id: &str) -> Result<(), EventsError> {
    if store.stream_delete(id).await? { Ok(()) } else { Err(EventsError::NotFound(id.into())) }
}

/// Makes a new ES256 signing key, which signs from now on; the old ones stay in the JWKS.
pub async fn rotate_key(store: &dyn Store) -> Result<String, EventsError> {
    let key = set::new_key()?;
    store.add_signing_key(&key).await?;
    Ok(key.kid)
}

/// The changes of `org` (optionally one resource, a time window), oldest first.
pub async fn audit(
    store: &dyn Store,
    org: OrganizationSid,
    q: &AuditQuery,
) -> Result<Vec<AuditEntry>, EventsError> {
    Ok(store
        .audit(org, q)
        .await?
        .into_iter()
        .map(|c| AuditEntry {
            seq: c.seq,
            at: c.at,
            kind: c.kind.name().to_owned(),
            id: c.id,
            op: match c.op {
                ChangeOp::Create => "create",
                ChangeOp::Update => "update",
                ChangeOp::Delete => "delete",
                ChangeOp::Restore => "restore",
            }
            .to_owned(),
            version: c.version,
            actor: c.actor,
            request_id: c.request_id,
            method: c.method,
            attributes: c.attributes,
            active: c.active,
        })
        .collect())
}
