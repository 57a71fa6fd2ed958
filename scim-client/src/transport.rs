//! One request on the wire: headers, credentials, request compression, retries, the
//! error answer, and a `tracing` span per request.

use crate::auth::Auth;
use crate::capabilities::Capabilities;
use crate::error::{ApiError, Error, Result};
use crate::retry::{self, RetryPolicy};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use reqwest::Url;
use std::sync::Arc;
use tokio::sync::RwLock;
use tracing::Instrument;

/// `application/scim+json` (RFC 7644 3.1).
pub(crate) const SCIM_JSON: &str = "application/scim+json";
const ACCEPT: &str = "application/scim+json, application/json;q=0.9";
/// The organization header for credentials granted on several organizations.
pub(crate) const SCIM_ORGANIZATION: &str = "scim-organization";
/// The header that makes a POST or PATCH safe to retry.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What every request shares; held behind an `Arc` by [`Client`](crate::Client).
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    /// The base URL, its path without a trailing `/`.
    pub(crate) base: Url,
    pub(crate) auth: Auth,
    pub(crate) organization: Option<HeaderValue>,
    pub(crate) retry: RetryPolicy,
    /// Request bodies of at least this many bytes are sent gzip-compressed.
    pub(crate) gzip_threshold: Option<usize>,
    pub(crate) capabilities: RwLock<Option<Arc<Capabilities>>>,
}

/// A request before it is sent.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Req {
    pub(crate) fn new(method: Method, url: Url) -> Self {
        Self { method, url, body: None, headers: Vec::new() }
    }

    pub(crate) fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidArgument(format!("body does not serialize: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Result<Self> {
        let v = HeaderValue::from_str(value).map_err(|_| {
            Error::InvalidArgument(format!("{name} value {value:?} is not a valid header value"))
        })?;
        self.headers.push((name, v));
        Ok(self)
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.as_str() == name)
    }
}

/// A successful (2xx or 304) answer, read whole.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) url: Url,
}

impl Resp {
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::invalid_response(&self.url, format!("the body does not parse as expected: {e}"))
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        crate::error::header_str(&self.headers, name)
    }
}

impl Inner {
    /// The base URL with `segments` appended, each percent-encoded as one path segment.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| Error::InvalidArgument("the base URL cannot have a path".into()))?;
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        Ok(url)
    }

    /// Sends `req`, retrying as the [`RetryPolicy`] allows; an error status becomes
    /// [`Error::Api`].
    pub(crate) async fn execute(&self, mut req: Req) -> Result<Resp> {
        let may_retry_method =
            matches!(req.method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        if self.retry.enabled()
            && matches!(req.method, Method::POST | Method::PATCH)
            && !req.has_header(IDEMPOTENCY_KEY)
            && let Some(key) = retry::idempotency_key()
        {
            req = req.header(HeaderName::from_static(IDEMPOTENCY_KEY), &key)?;
        }
        let may_retry = may_retry_method || req.has_header(IDEMPOTENCY_KEY);
        let body = self.encode_body(req.body.take());
        let span = tracing::debug_span!(
            "scim.request",
            method = %req.method,
            path = %req.url.path(),
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        self.attempts(&req, body, may_retry).instrument(span).await
    }

    fn encode_body(&self, body: Option<Vec<u8>>) -> Option<(Vec<u8>, bool)> {
        let body = body?;
        match self.gzip_threshold {
            Some(t) if body.len() >= t => match gzip(&body) {
                Some(z) => Some((z, true)),
                None => Some((body, false)),
            },
            _ => Some((body, false)),
        }
    }

    async fn attempts(
        &self,
        req: &Req,
        body: Option<(Vec<u8>, bool)>,
        may_retry: bool,
    ) -> Result<Resp> {
        let span = tracing::Span::current();
        let mut retries = 0u32;
        let mut reauthenticated = false;
        loop {
            span.record("attempts", retries + 1);
            let cred = self.auth.credential(&self.http).await?;
            let mut rb = self.http.request(req.method.clone(), req.url.clone());
            rb = rb.header(header::ACCEPT, ACCEPT);
            if let Some(h) = cred.header.clone() {
                rb = rb.header(header::AUTHORIZATION, h);
            }
            if let Some(org) = &self.organization {
                rb = rb.header(SCIM_ORGANIZATION, org.clone());
            }
            for (n, v) in &req.headers {
                rb = rb.header(n.clone(), v.clone());
            }
            if let Some((bytes, gzipped)) = &body {
                rb = rb.header(header::CONTENT_TYPE, SCIM_JSON);
                if *gzipped {
                    rb = rb.header(header::CONTENT_ENCODING, "gzip");
                }
                rb = rb.body(bytes.clone());
            }
            let res = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    // No answer (refused, reset, timed out): safe to send again only when
                    // the request is idempotent or carries an Idempotency-Key.
                    let retryable =
                        (e.is_connect() || e.is_timeout() || e.is_request()) && may_retry;
                    if retryable && retries < self.retry.max_retries {
                        let delay = self.retry.backoff(retries);
                        tracing::debug!(error = %e, ?delay, "request failed; retrying");
                        tokio::time::sleep(delay).await;
                        retries += 1;
                        continue;
                    }
                    return Err(Error::transport(&req.url, e));
                }
            };
            let status = res.status().as_u16();
            span.record("status", status);
            let headers = res.headers().clone();
            let url = res.url().clone();
            let bytes = res.bytes().await.map_err(|e| Error::transport(&req.url, e))?;
            if status == 401 && !reauthenticated && self.auth.invalidate(cred.generation).await {
                tracing::debug!("401: fetching a new access token");
                reauthenticated = true;
                continue;
            }
            if retry::retryable_status(status) && may_retry && retries < self.retry.max_retries {
                let delay = match retry::retry_after(&headers) {
                    Some(d) if d > self.retry.max_retry_after => None,
                    Some(d) => Some(d),
                    None => Some(self.retry.backoff(retries)),
                };
                if let Some(delay) = delay {
                    tracing::debug!(status, ?delay, "retryable answer; retrying");
                    tokio::time::sleep(delay).await;
                    retries += 1;
                    continue;
                }
            }
            if status >= 400 {
                let e = ApiError::from_response(status, &headers, &bytes);
                tracing::debug!(status, code = ?e.code, "error answer");
                return Err(Error::Api(Box::new(e)));
            }
            return Ok(Resp { status, headers, body: bytes, url });
        }
    }
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).ok()?;
    e.finish().ok()
}
