//! `Idempotency-Key` on POST and PATCH (`docs/http.md`), implemented once as a handler
//! wrapper: [`idempotent`] turns any handler into one that honours the header.
//!
//! The request's fingerprint is the SHA-256 of its route family, its method, its
//! family-relative path with the query string, and its body bytes. The first request with a key claims it in the
//! store, runs, and records its status, `Location`/`ETag`/`Content-Type` headers and body
//! (a 5xx answer, or a request that never finishes, releases the key instead, so a retry
//! runs again). A retry with the same key and fingerprint gets that answer again with
//! `Idempotent-Replayed: true`; the same key with another fingerprint gets 422; while the
//! first request runs, 409. Keys are per organization: the credential is authenticated
//! before the key is looked at.

use crate::body::read_limited;
use crate::context::RequestCtx;
use crate::error::{ApiError, RenderCtx, RenderedError};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue, Method, header};
use scim_core::ErrorCode;
use scim_core::sid::OrganizationSid;
use scim_store::{IdempotencyBegin, IdempotentAnswer, Store};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header on a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Longest accepted key.
const MAX_KEY_LEN: usize = 255;

/// A handler that honours `Idempotency-Key` (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Idempotent<H>(H);

/// Wraps `handler` so POST and PATCH requests with an `Idempotency-Key` are idempotent.
pub(crate) fn idempotent<H>(handler: H) -> Idempotent<H> {
    Idempotent(handler)
}

impl<H, T> Handler<T, AppState> for Idempotent<H>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    type Future = BoxFuture<'static, Response>;

    fn call(self, req: Request, state: AppState) -> Self::Future {
        Box::pin(run(self.0, req, state))
    }
}

async fn run<H, T>(handler: H, req: Request, state: AppState) -> Response
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let applies = req.method() == Method::POST || req.method() == Method::PATCH;
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_KEY).filter(|_| applies).cloned() else {
        return handler.call(req, state).await;
    };
    match claim(req, &state, &raw_key).await {
        Err(e) => e.into_response(),
        Ok(Claim::Answer(res)) => res,
        Ok(Claim::Run { req, org, key, render }) => {
            let mut guard = AbortGuard { store: Some(state.store.clone()), org, key: key.clone() };
            // The answer is recorded as the client gets it: an error rendered for its family.
            let res = crate::error::finish(handler.call(req, state.clone()).await, &render);
            let (parts, body) = res.into_parts();
            let bytes = match read_limited(body, usize::MAX).await {
                Ok(b) => b,
                Err(e) => return e.into_response(),
            };
            if parts.status.is_server_error() {
                guard.abort_now().await;
            } else {
                let keep = [header::LOCATION, header::ETAG, header::CONTENT_TYPE];
                let headers = keep
                    .iter()
                    .filter_map(|name| {
                        let v = parts.headers.get(name)?.to_str().ok()?;
                        Some((name.as_str().to_owned(), v.to_owned()))
                    })
                    .collect();
                let answer = IdempotentAnswer {
                    status: parts.status.as_u16(),
                    headers,
                    body: bytes.to_vec(),
                };
                match state.store.idempotency_complete(org, &key, answer).await {
                    Ok(()) => guard.disarm(),
                    Err(e) => {
                        tracing::warn!(request_id = %crate::log::request_id(), error = %e, "recording an idempotent answer failed");
                        guard.abort_now().await;
                    }
                }
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}

enum Claim {
    /// The key is ours: run the request (rebuilt with its body).
    Run { req: Request, org: OrganizationSid, key: String, render: RenderCtx },
    /// Answer without running: a replay or a conflict.
    Answer(Response),
}

async fn claim(req: Request, state: &AppState, raw_key: &HeaderValue) -> Result<Claim, ApiError> {
    let key = raw_key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| {
            !k.is_empty()
                && k.len() <= MAX_KEY_LEN
                && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
            )
        })?
        .to_owned();
    let (mut parts, body) = req.into_parts();
    // Authenticate first: keys belong to an organization. The context goes into the
    // extensions, so the handler does not authenticate again.
    let ctx = RequestCtx::from_request_parts(&mut parts, state).await?;
    parts.extensions.insert(ctx.clone());
    let bytes = read_limited(body, state.config.max_body_bytes).await?;
    let mut h = Sha256::new();
    // The family is part of the request: its answers differ (`Location`, error bodies).
    h.update(ctx.family.label().as_bytes());
    h.update([0]);
    h.update(parts.method.as_str().as_bytes());
    h.update([0]);
    let target = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    h.update(target.as_bytes());
    h.update([0]);
    h.update(&bytes);
    let fingerprint: [u8; 32] = h.finalize().into();
    let org = ctx.org.sid;
    match state.store.idempotency_begin(org, &key, &fingerprint).await? {
        IdempotencyBegin::Claimed => {
            let req = Request::from_parts(parts, Body::from(bytes));
            Ok(Claim::Run { req, org, key, render: ctx.render.clone() })
        }
        IdempotencyBegin::Replay(answer) => Ok(Claim::Answer(replay(answer))),
        IdempotencyBegin::InFlight => Err(ApiError::new(
            ErrorCode::IdempotencyInFlight,
            "the first request with this Idempotency-Key is still running; retry later",
        )),
        IdempotencyBegin::Mismatch => Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request",
        )),
    }
}

/// The recorded answer, marked as replayed.
fn replay(answer: IdempotentAnswer) -> Response {
    let status = http::StatusCode::from_u16(answer.status).unwrap_or(http::StatusCode::OK);
    let body = answer.body;
    let mut res = (status, body.clone()).into_response();
    let h = res.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            h.insert(n, v);
        }
    }
    h.insert(HeaderName::from_static(IDEMPOTENT_REPLAYED), HeaderValue::from_static("true"));
    if status.is_client_error() || status.is_server_error() {
        // The recorded body is already a SCIM error: tell the edge not to rewrite it.
        let code = serde_json::from_slice::<scim_core::error::ErrorBody>(&body)
            .ok()
            .and_then(|b| b.code)
            .and_then(ErrorCode::from_code)
            .unwrap_or(ErrorCode::Internal);
        res.extensions_mut().insert(RenderedError(code));
    }
    res
}

/// Releases a claimed key when the request ends without recording an answer (an error
/// after the claim, a timeout or a dropped connection cancelling the future).
struct AbortGuard {
    store: Option<Arc<dyn Store>>,
    org: OrganizationSid,
    key: String,
}

impl AbortGuard {
    fn disarm(&mut self) {
        self.store = None;
    }

    async fn abort_now(&mut self) {
        if let Some(store) = self.store.take()
            && let Err(e) = store.idempotency_abort(self.org, &self.key).await
        {
            tracing::warn!(request_id = %crate::log::request_id(), error = %e, "releasing an idempotency key failed");
        }
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let (org, key) = (self.org, std::mem::take(&mut self.key));
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = store.idempotency_abort(org, &key).await {
                        tracing::warn!(request_id = %crate::log::request_id(), error = %e, "releasing an idempotency key failed");
                    }
                });
            }
        }
    }
}
