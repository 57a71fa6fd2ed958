//! Push delivery (RFC 8935): a background task on each replica that, for every active push
//! stream whose lease it holds, POSTs the stream's SETs one at a time in change-log order
//! (`Content-Type: application/secevent+jwt`) and moves the cursor forward only after the
//! receiver accepted them (202, or any 2xx). At least once: a crash between the receiver's
//! answer and the cursor update redelivers the same SET with the same `jti`. A failure
//! (refused connection, timeout, non-2xx) stops the stream's round and retries after an
//! exponential backoff with jitter; `events_pause_after` consecutive failures pause it.

use super::set::{self, EsSigner};
use crate::state::AppState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use scim_store::{Delivery, EventStream, SigningAlg, Store, StreamState};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// How long a claimed lease lasts; renewed before a batch once half of it has passed (a
/// renewal is a write: renewing every round would add one to every change under load).
const LEASE: Duration = Duration::from_secs(30);
/// Changes read per batch.
const BATCH: u64 = 500;
/// One delivery's deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest backoff between two attempts of a failing stream.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Between two scans unless a stream had a full batch waiting. Under a steady write load a
/// round then delivers the changes of this interval in one batch, with one cursor write,
/// instead of a round (lease and cursor writes) per change competing with the writes
/// themselves; it is also the longest a new event waits for delivery.
const IDLE: Duration = Duration::from_millis(200);
/// How often a stream's backlog (`scim_events_pending`) is counted when no batch of this
/// worker told it.
const PENDING_EVERY: Duration = Duration::from_secs(10);
/// The backlog is counted up to this many changes.
pub(crate) const PENDING_CAP: u64 = 10_000;

/// The delivery worker of one replica.
#[derive(Debug)]
pub struct Pusher {
    store: Arc<dyn Store>,
    owner: String,
    issuer: String,
    pause_after: u32,
    client: Client<Https, Full<Bytes>>,
    /// When a failing stream may be tried again (in memory: only pacing depends on it).
    retry_at: HashMap<String, Instant>,
    /// The leases this worker holds, with their expiry (Unix ms) as last written.
    leases: HashMap<String, i64>,
    /// When each stream's backlog gauge was last set.
    pending_at: HashMap<String, Instant>,
}

/// Why one round of a stream stopped.
#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error("{0}")]
    Receiver(String),
    #[error(transparent)]
    Store(#[from] scim_store::StoreError),
    #[error(transparent)]
    Sign(#[from] set::SignError),
}

impl Pusher {
    /// A worker over `state`'s store and configuration.
    pub fn new(state: &AppState) -> Result<Self, String> {
        let owner = {
            let mut b = [0u8; 12];
            getrandom::fill(&mut b).map_err(|e| e.to_string())?;
            format!("replica-{}", hex::encode(b))
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| e.to_string())?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Self {
            store: state.store.clone(),
            owner,
            issuer: state.config.events_issuer.clone(),
            pause_after: state.config.events_pause_after,
            client,
            retry_at: HashMap::new(),
            leases: HashMap::new(),
            pending_at: HashMap::new(),
        })
    }

    /// Runs forever: scans the streams and delivers what each one is owed.
    pub async fn run(mut self) {
        loop {
            let busy = match self.round().await {
                Ok(busy) => busy,
                Err(e) => {
                    tracing::warn!(error = %e, "event delivery round failed");
                    false
                }
            };
            if !busy {
                tokio::time::sleep(IDLE).await;
            }
        }
    }

    /// One scan: one batch of each deliverable stream. True when some stream had a full
    /// batch (more may be waiting).
    pub async fn round(&mut self) -> Result<bool, scim_store::StoreError> {
        let streams = self.store.streams(None).await?;
        let now = Instant::now();
        let mut busy = false;
        for stream in streams {
            let deliverable = stream.delivery == Delivery::Push
                && stream.state == StreamState::Active
                && self.retry_at.get(&stream.id).is_none_or(|t| *t <= now);
            if !deliverable || !self.hold(&stream.id).await? {
                self.report_pending(&stream, stream.cursor, None).await;
                continue;
            }
            match self.batch(&stream).await {
                Ok((n, cursor)) => {
                    self.retry_at.remove(&stream.id);
                    busy |= n >= BATCH;
                    // A batch that was not full read everything there was.
                    let known = (n < BATCH).then_some(0);
                    self.report_pending(&stream, cursor, known).await;
                }
                Err(e) => {
                    let msg = e.to_string();
                    metrics::counter!("scim_events_delivery_failures_total").increment(1);
                    let failures =
                        self.store.stream_failed(&stream.id, &msg, self.pause_after).await?;
                    let wait = backoff(failures);
                    tracing::warn!(stream = %stream.id, failures, error = %msg,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "event delivery failed");
                    self.retry_at.insert(stream.id.clone(), Instant::now() + wait);
                    self.pending_at.remove(&stream.id);
                    self.report_pending(&stream, stream.cursor, None).await;
                }
            }
        }
        Ok(busy)
    }

    /// Sets the gauge `scim_events_pending` of `stream`, whose cursor is `cursor`: to
    /// `known` when a batch told it, else counted in the store once per [`PENDING_EVERY`]
    /// (every replica reports every stream, so a scrape of any of them sees the backlog).
    async fn report_pending(&mut self, stream: &EventStream, cursor: u64, known: Option<u64>) {
        let pending = match known {
            Some(n) => n,
            None => {
                if self.pending_at.get(&stream.id).is_some_and(|t| t.elapsed() < PENDING_EVERY) {
                    return;
                }
                match self.store.changes_pending(stream.org, cursor, PENDING_CAP).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(stream = %stream.id, error = %e, "counting the backlog failed");
                        return;
                    }
                }
            }
        };
        metrics::gauge!("scim_events_pending", "stream" => stream.id.clone()).set(pending as f64);
        self.pending_at.insert(stream.id.clone(), Instant::now());
    }

    /// Delivers one batch of `stream`'s changes: how many changes it consumed, and the
    /// stream's cursor after it.
    async fn batch(&self, stream: &EventStream) -> Result<(u64, u64), PushError> {
        let Some(url) = stream.url.as_deref() else {
            return Err(PushError::Receiver("the stream has no receiver URL".into()));
        };
        let uri: http::Uri =
            url.parse().map_err(|_| PushError::Receiver("the receiver URL is invalid".into()))?;
        let changes = self.store.changes(stream.org, stream.cursor, BATCH).await?;
        if changes.is_empty() {
            return Ok((0, stream.cursor));
        }
        let es = match stream.alg {
            SigningAlg::ES256 => Some(EsSigner::new(
                &super::current_key(self.store.as_ref())
                    .await
                    .map_err(|e| PushError::Receiver(e.to_string()))?,
            )?),
            SigningAlg::HS256 => None,
        };
        let mut last = stream.cursor;
        let now = unix_ms() / 1000;
        let result = async {
            for change in &changes {
                let uris = set::events_for(stream, change);
                if !uris.is_empty() {
                    let subject = super::subject(self.store.as_ref(), stream, change).await?;
                    let claims = set::claims(&self.issuer, stream, change, &uris, &subject, now);
                    let token = set::sign(stream, es.as_ref(), &claims)?;
                    self.post(&uri, token).await?;
                    metrics::counter!("scim_events_delivered_total", "delivery" => "push")
                        .increment(1);
                }
                last = change.seq;
            }
            Ok::<(), PushError>(())
        }
        .await;
        // Whatever was accepted stays accepted, even when a later SET failed.
        if last > stream.cursor {
            self.store.stream_advance(&stream.id, Some(&self.owner), last).await?;
        }
        result.map(|()| (u64::try_from(changes.len()).unwrap_or(u64::MAX), last))
    }

    /// Whether this worker holds `stream`'s lease, claiming or renewing it when less than
    /// half of it is left. The store's claim is the arbiter: it succeeds only for the
    /// current owner or once the lease has expired.
    async fn hold(&mut self, stream: &str) -> Result<bool, scim_store::StoreError> {
        let now_ms = unix_ms();
        let lease = i64::try_from(LEASE.as_millis()).unwrap_or(30_000);
        if self.leases.get(stream).is_some_and(|until| *until - now_ms > lease / 2) {
            return Ok(true);
        }
        let until = now_ms.saturating_add(lease);
        if self.store.stream_claim(stream, &self.owner, now_ms, until).await? {
            self.leases.insert(stream.to_owned(), until);
            Ok(true)
        } else {
            self.leases.remove(stream);
            Ok(false)
        }
    }

    async fn post(&self, uri: &http::Uri, token: String) -> Result<(), PushError> {
        let req = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, "application/secevent+jwt")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(token)))
            .map_err(|e| PushError::Receiver(e.to_string()))?;
        let res = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| PushError::Receiver("the receiver did not answer in time".into()))?
            .map_err(|e| PushError::Receiver(format!("cannot reach the receiver: {e}")))?;
        let status = res.status();
        // Read (a bounded part of) the body so the connection can be reused.
        let body = tokio::time::timeout(
            REQUEST_TIMEOUT,
            http_body_util::Limited::new(res.into_body(), 4096).collect(),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .map(|b| b.to_bytes())
        .unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        // RFC 8935 2.3: a 400 carries {"err","description"}.
        let detail = String::from_utf8_lossy(&body).chars().take(200).collect::<String>();
        Err(PushError::Receiver(format!("the receiver answered {status}: {detail}")))
    }
}

/// Exponential backoff with full jitter: up to 1 s, 2 s, 4 s ... capped at five minutes.
fn backoff(failures: u32) -> Duration {
    let cap =
        Duration::from_millis(500u64.saturating_mul(1u64 << failures.min(20))).min(MAX_BACKOFF);
    let mut b = [0u8; 8];
    let r = getrandom::fill(&mut b).map(|()| u64::from_le_bytes(b)).unwrap_or(0);
    let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(ms / 2 + r % (ms / 2 + 1))
}

fn unix_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
    )
    .unwrap_or(i64::MAX)
}

/// Starts the worker in the background (when `events_deliver` is on).
pub fn spawn(state: &AppState) {
    if !state.config.events_deliver {
        return;
    }
    match Pusher::new(state) {
        Ok(p) => {
            tokio::spawn(p.run());
        }
        Err(e) => tracing::error!(error = %e, "event delivery cannot start"),
    }
}
