//! The access log: one line per request, written when its response is ready, and the
//! request id for every other line a request writes.
//!
//! The line carries `request_id`, `method`, `path`, `status`, `latency_ms` and, once the
//! credential has named one, `org`. Other events a request logs (store errors, internal
//! errors) name the request with [`request_id`]. A `request` span with the same fields
//! exists at `debug` level, for operators who want every line of a request grouped
//! (`--log-level debug`); at the default level it costs nothing.

use http::{HeaderValue, Method, Uri};
use scim_core::sid::OrganizationSid;
use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Instrument;

/// Where the access lines go when the binary set one up: written here directly, in the
/// same shape as the `tracing` formatter's lines, instead of through `tracing`'s event
/// machinery and field formatting, which cost about a tenth of a GET by id. Without a sink
/// (tests, a product embedding the router), lines go through `tracing` as any other.
pub struct AccessSink {
    write: Box<dyn Fn(Vec<u8>) + Send + Sync>,
    json: bool,
}

impl std::fmt::Debug for AccessSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessSink").field("json", &self.json).finish_non_exhaustive()
    }
}

/// The process's access-log sink, like `tracing`'s global subscriber it sits beside.
static ACCESS_SINK: OnceLock<AccessSink> = OnceLock::new();

/// Sends the access lines to `write` (one whole line, newline included, per call), as JSON
/// objects or as text lines. The log filter still decides whether they are written
/// (target `scim_server::access`, level `info`). Only the first call has an effect.
pub fn set_access_sink(write: impl Fn(Vec<u8>) + Send + Sync + 'static, json: bool) {
    let _ = ACCESS_SINK.set(AccessSink { write: Box::new(write), json });
}

/// One access line's fields.
struct Line<'a> {
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    latency_ms: f64,
    org: Option<OrganizationSid>,
}

impl Line<'_> {
    /// `2026-12-04T18:38:41.067187Z  INFO scim_server::access: request request_id=... method=GET
    /// path=/scim/v2/Users status=200 latency_ms=0.812 org=OR...`, as `tracing`'s text format.
    fn text(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(200);
        timestamp(&mut out);
        out.extend_from_slice(b"  INFO scim_server::access: request request_id=");
        out.extend_from_slice(self.request_id.as_bytes());
        out.extend_from_slice(b" method=");
        out.extend_from_slice(self.method.as_bytes());
        out.extend_from_slice(b" path=");
        out.extend_from_slice(self.path.as_bytes());
        out.extend_from_slice(b" status=");
        digits(&mut out, u64::from(self.status), 1);
        out.extend_from_slice(b" latency_ms=");
        millis(&mut out, self.latency_ms);
        if let Some(org) = self.org {
            out.extend_from_slice(b" org=");
            let _ = write!(out, "{org}");
        }
        out.push(b'\n');
        out
    }

    /// The same as one JSON object, as `tracing`'s JSON format.
    fn json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(260);
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(&mut out);
        out.extend_from_slice(
            b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"request_id\":",
        );
        let _ = serde_json::to_writer(&mut out, self.request_id);
        out.extend_from_slice(b",\"method\":");
        let _ = serde_json::to_writer(&mut out, self.method);
        out.extend_from_slice(b",\"path\":");
        let _ = serde_json::to_writer(&mut out, self.path);
        out.extend_from_slice(b",\"status\":");
        digits(&mut out, u64::from(self.status), 1);
        out.extend_from_slice(b",\"latency_ms\":");
        millis(&mut out, self.latency_ms);
        if let Some(org) = self.org {
            out.extend_from_slice(b",\"org\":\"");
            let _ = write!(out, "{org}");
            out.push(b'"');
        }
        out.extend_from_slice(b"},\"target\":\"scim_server::access\"}\n");
        out
    }
}

/// Now, UTC, as `2026-12-04T18:38:41.067187Z`.
fn timestamp(out: &mut Vec<u8>) {
    let t = time::OffsetDateTime::now_utc();
    digits(out, u64::try_from(t.year()).unwrap_or(0), 4);
    out.push(b'-');
    digits(out, u64::from(u8::from(t.month())), 2);
    out.push(b'-');
    digits(out, u64::from(t.day()), 2);
    out.push(b'T');
    digits(out, u64::from(t.hour()), 2);
    out.push(b':');
    digits(out, u64::from(t.minute()), 2);
    out.push(b':');
    digits(out, u64::from(t.second()), 2);
    out.push(b'.');
    digits(out, u64::from(t.microsecond()), 6);
    out.push(b'Z');
}

/// Milliseconds with three decimals (`0.812`), without the formatting machinery.
fn millis(out: &mut Vec<u8>, ms: f64) {
    let micros = (ms.max(0.0) * 1000.0).round() as u64;
    digits(out, micros / 1000, 1);
    out.push(b'.');
    digits(out, micros % 1000, 3);
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn digits(out: &mut Vec<u8>, n: u64, width: usize) {
    let start = out.len();
    let mut n = n;
    loop {
        out.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 && out.len() - start >= width {
            break;
        }
    }
    if let Some(written) = out.get_mut(start..) {
        written.reverse();
    }
}

/// What a request's log line needs to know beyond its request and response.
struct LogCtx {
    request_id: Option<HeaderValue>,
    org: Cell<Option<OrganizationSid>>,
    /// Whether the credential id is kept (for the console's request log only).
    keep_credential: bool,
    credential: RefCell<Option<Box<str>>>,
}

tokio::task_local! {
    static LOG: LogCtx;
}

/// The id of the request being served (`-` outside of one).
pub fn request_id() -> String {
    LOG.try_with(|l| l.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned())
        .unwrap_or_else(|_| "-".to_owned())
}

/// Records the organization the request acts on, for its log line.
pub fn set_org(org: OrganizationSid) {
    let _ = LOG.try_with(|l| l.org.set(Some(org)));
}

/// The organization the request being served acts on, once its credential named one.
pub fn current_org() -> Option<OrganizationSid> {
    LOG.try_with(|l| l.org.get()).ok().flatten()
}

/// Records the credential the request authenticated with, for the console's request log
/// (a no-op unless the console keeps one).
pub fn set_credential(id: &str) {
    let _ = LOG.try_with(|l| {
        if l.keep_credential
            && let Ok(mut c) = l.credential.try_borrow_mut()
        {
            *c = Some(id.into());
        }
    });
}

/// A request on its way through the service, as its access line will tell it: what was
/// asked, when, under which request id, and (once the credential names one) for which
/// organization. The outermost layer of the service makes one per request.
#[derive(Debug)]
pub(crate) struct Started {
    at: Instant,
    request_id: HeaderValue,
    method: Method,
    uri: Uri,
    org: Option<OrganizationSid>,
    keep_credential: bool,
    credential: Option<Box<str>>,
}

impl Started {
    /// The request `req`, known as `request_id`.
    pub(crate) fn new<B>(req: &http::Request<B>, request_id: HeaderValue) -> Self {
        Self {
            at: Instant::now(),
            request_id,
            method: req.method().clone(),
            uri: req.uri().clone(),
            org: None,
            keep_credential: false,
            credential: None,
        }
    }

    /// Keeps the credential id the request authenticates with ([`set_credential`]).
    pub(crate) fn keeping_credential(mut self, keep: bool) -> Self {
        self.keep_credential = keep;
        self
    }

    /// The method.
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// The path (never the query string).
    pub(crate) fn path(&self) -> &str {
        self.uri.path()
    }

    /// The organization, once the credential named one.
    pub(crate) fn org(&self) -> Option<OrganizationSid> {
        self.org
    }

    /// The credential id, when kept.
    pub(crate) fn take_credential(&mut self) -> Option<Box<str>> {
        self.credential.take()
    }

    /// Time since the request's head arrived.
    pub(crate) fn elapsed(&self) -> std::time::Duration {
        self.at.elapsed()
    }

    /// The request id.
    pub(crate) fn request_id(&self) -> &HeaderValue {
        &self.request_id
    }

    fn id(&self) -> &str {
        self.request_id.to_str().unwrap_or("-")
    }

    /// Runs `fut` (the request's handling) in the request's log scope, so that the lines
    /// it writes can name the request ([`request_id`]) and it can record the organization
    /// ([`set_org`]).
    pub(crate) async fn scope<F: Future>(mut self, fut: F) -> (F::Output, Self) {
        let span = tracing::debug_span!(
            "request", request_id = %self.id(), method = %self.method, path = %self.uri.path()
        );
        let ctx = LogCtx {
            request_id: Some(self.request_id.clone()),
            org: Cell::new(None),
            keep_credential: self.keep_credential,
            credential: RefCell::new(None),
        };
        let mut fut = std::pin::pin!(LOG.scope(ctx, fut.instrument(span)));
        let out = (&mut fut).await;
        if let Some(c) = fut.as_mut().take_value() {
            self.org = c.org.get();
            self.credential = c.credential.into_inner();
        }
        (out, self)
    }

    /// Writes the access line of the request, answered with `status`.
    pub(crate) fn finish(&self, status: http::StatusCode) {
        let latency_ms = self.at.elapsed().as_secs_f64() * 1000.0;
        let (status, path, org) = (status.as_u16(), self.uri.path(), self.org);
        if let Some(sink) = ACCESS_SINK.get()
            && tracing::enabled!(target: "scim_server::access", tracing::Level::INFO)
        {
            let line = Line {
                request_id: self.id(),
                method: self.method.as_str(),
                path,
                status,
                latency_ms,
                org,
            };
            (sink.write)(if sink.json { line.json() } else { line.text() });
            return;
        }
        let (request_id, method) = (self.id(), &self.method);
        match org {
            Some(org) => tracing::info!(
                target: "scim_server::access",
                %request_id, %method, %path, status, latency_ms, %org,
                "request"
            ),
            None => tracing::info!(
                target: "scim_server::access",
                %request_id, %method, %path, status, latency_ms,
                "request"
            ),
        }
    }

    /// The request id, for the response's `X-Request-Id`.
    pub(crate) fn into_request_id(self) -> HeaderValue {
        self.request_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(org: Option<OrganizationSid>) -> Line<'static> {
        Line {
            request_id: "r\"1",
            method: "GET",
            path: "/scim/v2/Users",
            status: 200,
            latency_ms: 0.812_326_999,
            org,
        }
    }

    #[test]
    fn text_lines_have_the_formatter_shape() {
        let text = String::from_utf8(line(None).text()).unwrap();
        let (ts, rest) = text.split_once("  ").unwrap();
        assert_eq!(ts.len(), "2026-12-04T18:38:41.067187Z".len(), "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T');
        assert_eq!(
            rest,
            "INFO scim_server::access: request request_id=r\"1 method=GET path=/scim/v2/Users \
             status=200 latency_ms=0.812\n"
        );
        let org = OrganizationSid::generate().unwrap();
        let text = String::from_utf8(line(Some(org)).text()).unwrap();
        assert!(text.ends_with(&format!(" latency_ms=0.812 org={org}\n")), "{text}");
    }

    #[test]
    fn numbers_are_padded_and_rounded() {
        let mut out = Vec::new();
        digits(&mut out, 7, 2);
        digits(&mut out, 2026, 4);
        digits(&mut out, 0, 1);
        millis(&mut out, 12.0005);
        out.push(b' ');
        millis(&mut out, 0.0);
        assert_eq!(String::from_utf8(out).unwrap(), "072026012.001 0.000");
    }

    #[test]
    fn json_lines_parse_with_the_formatter_fields() {
        let org = OrganizationSid::generate().unwrap();
        let text = String::from_utf8(line(Some(org)).json()).unwrap();
        assert!(text.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "scim_server::access");
        assert_eq!(
            v["fields"],
            serde_json::json!({"message":"request","request_id":"r\"1","method":"GET",
                "path":"/scim/v2/Users","status":200,"latency_ms":0.812,"org":org.to_string()})
        );
        assert_eq!(v["timestamp"].as_str().unwrap().len(), 27);
    }
}
