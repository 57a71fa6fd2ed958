//! `/admin/v1/.../streams`, `/admin/v1/events/keys` and `/admin/v1/.../audit`: SCIM event
//! streams (RFC 9967 over RFC 8935 push or RFC 8936 poll), the ES256 signing key, and the
//! change log as an audit trail; the shapes of `admin stream` and `admin audit --json`.

use super::AdminCaller;
use crate::admin;
use crate::body::ScimJson;
use crate::error::ApiError;
use crate::events::manage::{self, AuditEntry, CreatedStream, EventsError, NewStream, StreamOut};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use scim_core::ErrorCode;
use scim_store::{AuditQuery, Delivery, EventForm, SigningAlg, StreamState};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/organizations/{org}/streams", get(list).post(create))
        .route("/admin/v1/organizations/{org}/audit", get(audit))
        .route("/admin/v1/streams/{id}", get(read).patch(set_state).delete(remove))
        .route("/admin/v1/events/keys", post(rotate_key))
}

/// `POST .../streams` body: the `admin stream create` options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStreamBody {
    #[serde(default = "push")]
    delivery: Delivery,
    url: Option<String>,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default = "notice")]
    form: EventForm,
    #[serde(default = "es256")]
    alg: SigningAlg,
}

fn push() -> Delivery {
    Delivery::Push
}
fn notice() -> EventForm {
    EventForm::Notice
}
fn es256() -> SigningAlg {
    SigningAlg::ES256
}

/// `PATCH /admin/v1/streams/{id}` body: pause or resume.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: StreamState,
}

/// `GET .../audit` query: the `admin audit` filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    resource: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: u64,
}

impl From<EventsError> for ApiError {
    fn from(e: EventsError) -> Self {
        match e {
            EventsError::Store(s) => ApiError::from(s),
            EventsError::Usage(d) => ApiError::new(ErrorCode::InvalidAdminRequest, d),
            EventsError::NotFound(id) => {
                ApiError::new(ErrorCode::EventStreamNotFound, format!("no event stream {id}"))
            }
            other => {
                tracing::error!(error = %other, "event stream operation failed");
                ApiError::new(ErrorCode::Internal, "the signing key could not be made or read")
            }
        }
    }
}

async fn list(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<Vec<StreamOut>>, ApiError> {
    let store = st.store.as_ref();
    let org = admin::resolve_org(store, &org).await?.sid;
    Ok(Json(manage::list_streams(store, Some(org)).await?))
}

/// The answer carries the HS256 secret of a new stream, the only time it is shown.
async fn create(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(org): Path<String>,
    ScimJson(body): ScimJson<NewStreamBody>,
) -> Result<(StatusCode, Json<CreatedStream>), ApiError> {
    let store = st.store.as_ref();
    let org = admin::resolve_org(store, &org).await?.sid;
    let new = NewStream {
        org,
        delivery: body.delivery,
        url: body.url,
        events: body.events,
        form: body.form,
        alg: body.alg,
    };
    Ok((StatusCode::CREATED, Json(manage::create_stream(store, new).await?)))
}

async fn read(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StreamOut>, ApiError> {
    Ok(Json(manage::read_stream(st.store.as_ref(), &id).await?))
}

async fn set_state(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(id): Path<String>,
    ScimJson(body): ScimJson<StateBody>,
) -> Result<Json<StreamOut>, ApiError> {
    Ok(Json(manage::set_stream_state(st.store.as_ref(), &id, body.state).await?))
}

async fn remove(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    manage::delete_stream(st.store.as_ref(), &id).await?;
    Ok(Json(json!({"id": id, "deleted": true})))
}

/// A new ES256 key signs from now on; the older ones stay in `/events/jwks.json`.
async fn rotate_key(
    _: AdminCaller,
    State(st): State<AppState>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let kid = manage::rotate_key(st.store.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(json!({"kid": kid}))))
}

async fn audit(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(org): Path<String>,
    Query(p): Query<AuditParams>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let store = st.store.as_ref();
    let org = admin::resolve_org(store, &org).await?.sid;
    let q = AuditQuery {
        resource: p.resource,
        since: p.since,
        until: p.until,
        after: p.after,
        limit: p.limit,
    };
    Ok(Json(manage::audit(store, org, &q).await?))
}
