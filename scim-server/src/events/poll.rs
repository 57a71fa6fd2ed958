//! Poll delivery (RFC 8936): `POST /events/streams/{id}/poll` with the receiver's own
//! credential (a token or OAuth client granted on the stream's organization). The body
//! acknowledges (`ack`, `setErrs`) and asks for more (`maxEvents`, `returnImmediately`);
//! the answer holds the SETs after the acknowledged ones. Events are ordered, so
//! acknowledging a `jti` acknowledges every earlier SET of the stream too (the cursor
//! moves to it), and a SET reported in `setErrs` counts as delivered, its error recorded.

use super::set::{self, EsSigner};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use scim_core::ErrorCode;
use scim_store::{Delivery, SigningAlg};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Most SETs one poll returns.
pub const MAX_EVENTS: u64 = 1000;
/// Most acknowledgements and errors one poll carries.
pub const MAX_ACKS: usize = 10_000;

/// The poll request (RFC 8936 2.4).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PollRequest {
    /// `jti`s acknowledged.
    pub ack: Vec<String>,
    /// `jti` -> `{"err","description"}` of SETs the receiver could not process.
    pub set_errs: HashMap<String, Value>,
    /// Most SETs wanted (0: acknowledge only).
    pub max_events: Option<u64>,
    /// Answer at once even with nothing to deliver.
    pub return_immediately: bool,
}

/// The poll endpoint.
pub async fn poll(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Json<PollRequest>,
) -> Response {
    match run(&state, &id, &headers, body.0).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    req: PollRequest,
) -> Result<Value, ApiError> {
    let cred = crate::context::authenticate(headers, state).await?;
    let not_found = || ApiError::new(ErrorCode::ResourceNotFound, "no such event stream");
    let stream = state.store.stream(id).await?.ok_or_else(not_found)?;
    // A stream of an organization the credential is not granted on does not exist for it.
    if stream.delivery != Delivery::Poll || !cred.orgs.contains(&stream.org) {
        return Err(not_found());
    }
    if req.ack.len() + req.set_errs.len() > MAX_ACKS {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("at most {MAX_ACKS} acknowledgements and errors per poll"),
        ));
    }
    let acked =
        req.ack.iter().chain(req.set_errs.keys()).filter_map(|j| set::seq_of(&stream.id, j)).max();
    if let Some((jti, err)) = req.set_errs.iter().next() {
        let msg = format!(
            "receiver reported {jti}: {}",
            err.to_string().chars().take(300).collect::<String>()
        );
        state.store.stream_failed(&stream.id, &msg, 0).await?;
    }
    let mut cursor = stream.cursor;
    if let Some(seq) = acked
        && seq > cursor
    {
        state.store.stream_advance(&stream.id, None, seq).await?;
        cursor = seq;
    }
    let max = req.max_events.unwrap_or(100).min(MAX_EVENTS);
    if max == 0 {
        return Ok(json!({"sets": {}, "moreAvailable": false}));
    }
    // The wait ends a second before the request timeout would answer 504.
    let wait = Duration::from_secs(
        state
            .config
            .events_poll_max_wait_secs
            .min(state.config.request_timeout_secs.saturating_sub(1)),
    );
    let deadline = Instant::now() + wait;
    let es = match stream.alg {
        SigningAlg::ES256 => Some(
            EsSigner::new(
                &super::current_key(state.store.as_ref())
                    .await
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
            )
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
        ),
        SigningAlg::HS256 => None,
    };
    loop {
        // One more than asked, to tell whether more are available.
        let changes =
            state.store.changes(stream.org, cursor, max.saturating_add(1).min(10_000)).await?;
        let mut sets = Map::new();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut more = false;
        for change in &changes {
            let uris = set::events_for(&stream, change);
            if uris.is_empty() {
                continue;
            }
            if u64::try_from(sets.len()).unwrap_or(u64::MAX) >= max {
                more = true;
                break;
            }
            let subject = super::subject(state.store.as_ref(), &stream, change).await?;
            let claims =
                set::claims(&state.config.events_issuer, &stream, change, &uris, &subject, now);
            let token = set::sign(&stream, es.as_ref(), &claims)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
            sets.insert(set::jti(&stream.id, change.seq), Value::String(token));
            metrics::counter!("scim_events_delivered_total", "delivery" => "poll").increment(1);
        }
        if !sets.is_empty() || req.return_immediately || Instant::now() >= deadline {
            return Ok(json!({"sets": sets, "moreAvailable": more}));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
