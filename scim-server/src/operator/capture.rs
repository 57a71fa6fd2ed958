//! Debug capture: for one organization and a limited time, this replica keeps the bodies of
//! the SCIM requests it serves for that organization, and of their responses, so that an
//! operator can see what an identity provider sent and what it was answered.
//!
//! Off unless an operator switches it on from the organization's console page, for at
//! most [`MAX_MINUTES`]. While no capture is on, a request pays one atomic load. While
//! one is on, a SCIM request's body is copied as it is read (up to [`LIMIT`] bytes); once
//! the credential has named the organization, a captured organization's request keeps its
//! copy and its response's body is copied as it is written. Bounds: [`LIMIT`] bytes per
//! body, [`KEPT`] requests, in memory only. No header is kept. Secrets are removed when a
//! body is complete: every `password` member and the `value` of a PATCH operation whose
//! `path` names `password` (RFC 7644 section 3.5.2) become `"[redacted]"`; a body that is
//! not JSON and names a password, or that passes the limit, is not kept at all.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt as _;
use scim_core::sid::OrganizationSid;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes of one body kept at most.
pub const LIMIT: usize = 16 * 1024;

/// Captured requests kept at most (the oldest goes first).
pub const KEPT: usize = 200;

/// The longest a capture runs.
pub const MAX_MINUTES: u64 = 60;

/// What replaces a secret.
const REDACTED: &str = "[redacted]";

/// The captures of this replica: which organizations are captured until when, and the
/// captured requests.
#[derive(Debug, Default)]
pub struct Captures {
    /// The latest end of any capture, Unix milliseconds (0: none): all a request reads
    /// while no capture is on.
    until_any: AtomicU64,
    orgs: Mutex<HashMap<OrganizationSid, u64>>,
    kept: Mutex<VecDeque<Arc<Capture>>>,
    next: AtomicU64,
}

impl Captures {
    /// Captures `org` for `minutes` (1 to [`MAX_MINUTES`]) from `now_ms`; the end, Unix ms.
    pub fn start(&self, org: OrganizationSid, minutes: u64, now_ms: u64) -> u64 {
        let until = now_ms.saturating_add(minutes.clamp(1, MAX_MINUTES) * 60_000);
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.insert(org, until);
            self.until_any.store(orgs.values().copied().max().unwrap_or(0), Ordering::Release);
        }
        until
    }

    /// Ends the capture of `org`.
    pub fn stop(&self, org: OrganizationSid) {
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.remove(&org);
            self.until_any.store(orgs.values().copied().max().unwrap_or(0), Ordering::Release);
        }
    }

    /// Whether any capture runs at `now_ms`.
    pub fn any(&self, now_ms: u64) -> bool {
        self.until_any.load(Ordering::Acquire) > now_ms
    }

    /// When the capture of `org` ends, if one runs at `now_ms`.
    pub fn until(&self, org: OrganizationSid, now_ms: u64) -> Option<u64> {
        let orgs = self.orgs.lock().ok()?;
        orgs.get(&org).copied().filter(|u| *u > now_ms)
    }

    /// Starts the capture of a request (its body copied into `request` as it is read);
    /// kept, and given its id, by [`Captures::keep`] once its organization is known.
    pub fn begin(&self, req: &mut http::Request<Body>) -> Pending {
        let part = Arc::new(Part::default());
        let body = std::mem::take(req.body_mut());
        *req.body_mut() = tap(body, part.clone());
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        Pending { method: req.method().clone(), target: target.into(), request: part }
    }

    /// Keeps `pending`, answered with `res`, when its request acted on a captured
    /// organization (the organization the request's log line names); the response's body
    /// is copied as it is written. Returns the capture's id.
    pub fn keep(&self, pending: Pending, res: &mut Response, now_ms: u64) -> Option<u64> {
        let org = crate::log::current_org()?;
        self.until(org, now_ms)?;
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let response = Arc::new(Part::default());
        let body = std::mem::take(res.body_mut());
        *res.body_mut() = tap(body, response.clone());
        let capture = Arc::new(Capture {
            id,
            at_ms: now_ms,
            org,
            method: pending.method,
            target: pending.target,
            status: res.status().as_u16(),
            request: pending.request,
            response,
        });
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= KEPT {
                kept.pop_front();
            }
            kept.push_back(capture);
        }
        Some(id)
    }

    /// The captured request `id`, while it is kept.
    pub fn get(&self, id: u64) -> Option<Arc<Capture>> {
        let kept = self.kept.lock().ok()?;
        kept.iter().find(|c| c.id == id).cloned()
    }
}

/// A request whose body is being copied, not yet known to be kept.
#[derive(Debug)]
pub struct Pending {
    method: Method,
    target: Box<str>,
    request: Arc<Part>,
}

/// The response-extension marker of a captured request: its capture's id.
#[derive(Debug, Clone, Copy)]
pub struct Captured(pub u64);

/// One captured request.
#[derive(Debug)]
pub struct Capture {
    /// Its id in this replica.
    pub id: u64,
    /// When it was answered, Unix milliseconds.
    pub at_ms: u64,
    /// The organization.
    pub org: OrganizationSid,
    /// The method.
    pub method: Method,
    /// The path and query string, relative to the family's base.
    pub target: Box<str>,
    /// The status.
    pub status: u16,
    request: Arc<Part>,
    response: Arc<Part>,
}

impl Capture {
    /// The request's body as kept, `None` while it is still being read.
    pub fn request(&self) -> Option<String> {
        self.request.text()
    }

    /// The response's body as kept, `None` while it is still being written.
    pub fn response(&self) -> Option<String> {
        self.response.text()
    }
}

/// One body being copied, then kept redacted.
#[derive(Debug, Default)]
struct Part(Mutex<PartState>);

#[derive(Debug, Default)]
enum PartState {
    #[default]
    Empty,
    Reading {
        copy: Vec<u8>,
        total: usize,
    },
    Done(String),
}

impl Part {
    fn add(&self, data: &Bytes) {
        let Ok(mut s) = self.0.lock() else { return };
        let (copy, total) = match &mut *s {
            PartState::Done(_) => return,
            PartState::Empty => (Vec::new(), 0),
            PartState::Reading { copy, total } => (std::mem::take(copy), *total),
        };
        let total = total.saturating_add(data.len());
        let mut copy = copy;
        if total <= LIMIT {
            copy.extend_from_slice(data);
        } else {
            copy = Vec::new();
        }
        *s = PartState::Reading { copy, total };
    }

    /// The body is complete (or abandoned): what is kept of it replaces the copy.
    fn finish(&self) {
        let Ok(mut s) = self.0.lock() else { return };
        let kept = match std::mem::take(&mut *s) {
            PartState::Done(t) => t,
            PartState::Empty => kept_text(&[], 0),
            PartState::Reading { copy, total } => kept_text(&copy, total),
        };
        *s = PartState::Done(kept);
    }

    fn text(&self) -> Option<String> {
        match &*self.0.lock().ok()? {
            PartState::Done(t) => Some(t.clone()),
            _ => None,
        }
    }
}

/// Copies `body`'s data into `part` as it passes; `part` is finished when the body is
/// dropped (read to its end, or abandoned).
fn tap(body: Body, part: Arc<Part>) -> Body {
    let finisher = Finisher(part);
    Body::new(body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            finisher.0.add(data);
        }
        frame
    }))
}

struct Finisher(Arc<Part>);

impl Drop for Finisher {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// What is kept of a body of `total` bytes whose first bytes are `copy`.
fn kept_text(copy: &[u8], total: usize) -> String {
    if total == 0 {
        return "(no body)".to_owned();
    }
    if total > LIMIT {
        return format!("({total} bytes: over the {LIMIT}-byte capture limit, not kept)");
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(copy) {
        redact(&mut v);
        return serde_json::to_string_pretty(&v).unwrap_or_default();
    }
    match std::str::from_utf8(copy) {
        Ok(t) if !t.to_ascii_lowercase().contains("password") => t.to_owned(),
        Ok(_) => format!("({total} bytes that are not JSON and name a password: not kept)"),
        Err(_) => format!("({total} bytes that are not UTF-8 text: not kept)"),
    }
}

/// Replaces every secret in `v`: each `password` member (any case, at any depth, the
/// extension URN prefix aside), and the `value` of an operation whose `path` ends with the
/// attribute `password`.
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let op_on_password = m.iter().any(|(k, p)| {
                k.eq_ignore_ascii_case("path") && p.as_str().is_some_and(names_password)
            });
            for (k, item) in m.iter_mut() {
                if names_password(k) || (op_on_password && k.eq_ignore_ascii_case("value")) {
                    *item = Value::String(REDACTED.to_owned());
                } else {
                    redact(item);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Whether an attribute name or PATCH path ends with the attribute `password`.
fn names_password(path: &str) -> bool {
    let last = path.rsplit([':', '.']).next().unwrap_or(path);
    last.trim().eq_ignore_ascii_case("password")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn passwords_are_redacted_wherever_they_are() {
        let mut v = json!({
            "userName": "a", "password": "s1", "PassWord": "s2",
            "urn:ietf:params:scim:schemas:core:2.0:User:password": "s3",
            "Operations": [
                {"op": "replace", "path": "password", "value": "s4"},
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password",
                 "value": "s5"},
                {"op": "replace", "value": {"password": "s6", "displayName": "d"}},
                {"op": "replace", "path": "displayName", "value": "kept"}
            ]
        });
        redact(&mut v);
        let text = v.to_string();
        for s in ["s1", "s2", "s3", "s4", "s5", "s6"] {
            assert!(!text.contains(&format!("\"{s}\"")), "{s} in {text}");
        }
        assert_eq!(v["Operations"][3]["value"], "kept");
        assert_eq!(v["Operations"][2]["value"]["displayName"], "d");
        assert_eq!(v["password"], REDACTED);
    }

    #[test]
    fn a_body_is_kept_only_when_it_can_be_checked() {
        assert_eq!(kept_text(b"", 0), "(no body)");
        assert!(kept_text(b"x", LIMIT + 1).contains("over the"));
        assert_eq!(kept_text(b"plain", 5), "plain");
        assert!(kept_text(b"password=x", 10).contains("not kept"));
        assert!(kept_text(&[0xff, 0xfe], 2).contains("not UTF-8"));
        let kept = kept_text(br#"{"password":"x"}"#, 16);
        assert!(kept.contains(REDACTED) && !kept.contains("\"x\""), "{kept}");
    }

    #[test]
    fn a_capture_ends_on_time_or_when_stopped() {
        let c = Captures::default();
        let (a, b) = (OrganizationSid::from_u128(1), OrganizationSid::from_u128(2));
        assert!(!c.any(0));
        let until = c.start(a, 5, 1_000);
        assert_eq!(until, 1_000 + 5 * 60_000);
        assert!(c.any(until - 1) && !c.any(until));
        assert_eq!(c.until(a, until - 1), Some(until));
        assert_eq!(c.until(a, until), None);
        assert_eq!(c.until(b, 0), None);
        // Never longer than the maximum.
        assert_eq!(c.start(b, 10_000, 0), MAX_MINUTES * 60_000);
        c.stop(b);
        c.stop(a);
        assert!(!c.any(0));
    }

    #[tokio::test]
    async fn a_body_is_copied_as_it_is_read_and_kept_when_complete() {
        let part = Arc::new(Part::default());
        let body = tap(Body::from(r#"{"userName":"u","password":"p"}"#), part.clone());
        assert_eq!(part.text(), None);
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        assert_eq!(bytes.len(), 31);
        let kept = part.text().unwrap();
        assert!(kept.contains("\"userName\": \"u\"") && kept.contains(REDACTED), "{kept}");
        // Too big: nothing of it kept.
        let part = Arc::new(Part::default());
        let big = vec![b'a'; LIMIT + 1];
        drop(axum::body::to_bytes(tap(Body::from(big), part.clone()), 1 << 20).await.unwrap());
        assert!(part.text().unwrap().contains("over the"));
    }
}
