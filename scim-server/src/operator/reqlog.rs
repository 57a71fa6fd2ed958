//! The console's request log: the last requests of this replica in a bounded ring, and
//! per-minute counters per organization and credential for the health page.
//!
//! Recorded by the service's outermost layer where the access line is written (`record`),
//! and only when the console is on. One push is a short critical section under a mutex: the path is the only
//! allocation (a credential or organization seen for the first time adds its counters
//! once). Never a body, a query string or a header value: the path alone (`uri.path()`);
//! the bodies of a debug capture are kept apart ([`super::capture`]), the entry naming them.

use http::{HeaderValue, Method};
use scim_core::ErrorCode;
use scim_core::sid::OrganizationSid;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Minutes of history the health counters keep.
pub const MINUTES: usize = 60;

/// One request, as the request log shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When it was answered, Unix milliseconds.
    pub at_ms: u64,
    /// The method.
    pub method: Method,
    /// The path, without the query string.
    pub path: Box<str>,
    /// The status.
    pub status: u16,
    /// The SCIM error code, for an error answered with one.
    pub code: Option<ErrorCode>,
    /// Microseconds from the request head to the response head.
    pub latency_us: u64,
    /// The organization, once the credential named one.
    pub org: Option<OrganizationSid>,
    /// The credential id, once authenticated.
    pub credential: Option<Box<str>>,
    /// The request id.
    pub request_id: HeaderValue,
    /// The id of the request's debug capture, when its bodies were captured.
    pub capture: Option<u64>,
}

/// The requests and errors of one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    /// Unix minute.
    pub minute: u64,
    /// Requests answered.
    pub requests: u32,
    /// Of them, answered with a status of 400 or more.
    pub errors: u32,
}

/// Counters of one organization or credential.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// The last [`MINUTES`] minutes, by `minute % MINUTES`.
    pub minutes: Vec<Minute>,
    /// Errors by code since the replica started.
    pub codes: HashMap<ErrorCode, u64>,
    /// The last successful request (status below 400), Unix milliseconds.
    pub last_success_ms: Option<u64>,
    /// The last request, Unix milliseconds.
    pub last_ms: u64,
    /// Requests since the replica started.
    pub requests: u64,
    /// Errors since the replica started.
    pub errors: u64,
}

impl Stats {
    fn count(&mut self, e: &Entry) {
        if self.minutes.len() != MINUTES {
            self.minutes = vec![Minute::default(); MINUTES];
        }
        let minute = e.at_ms / 60_000;
        let error = e.status >= 400;
        if let Some(m) = self.minutes.get_mut((minute % MINUTES as u64) as usize) {
            if m.minute != minute {
                *m = Minute { minute, requests: 0, errors: 0 };
            }
            m.requests += 1;
            m.errors += u32::from(error);
        }
        self.requests += 1;
        self.last_ms = e.at_ms;
        if error {
            self.errors += 1;
            if let Some(c) = e.code {
                *self.codes.entry(c).or_default() += 1;
            }
        } else {
            self.last_success_ms = Some(e.at_ms);
        }
    }

    /// The last [`MINUTES`] minutes up to `now_minute`, oldest first (empty minutes as 0).
    pub fn series(&self, now_minute: u64) -> Vec<Minute> {
        (0..MINUTES as u64)
            .rev()
            .map(|back| {
                let minute = now_minute.saturating_sub(back);
                self.minutes
                    .get((minute % MINUTES as u64) as usize)
                    .filter(|m| m.minute == minute)
                    .copied()
                    .unwrap_or(Minute { minute, requests: 0, errors: 0 })
            })
            .collect()
    }

    /// The most frequent error codes, most frequent first.
    pub fn top_codes(&self, n: usize) -> Vec<(ErrorCode, u64)> {
        let mut v: Vec<(ErrorCode, u64)> = self.codes.iter().map(|(c, n)| (*c, *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.code().cmp(&b.0.code())));
        v.truncate(n);
        v
    }
}

#[derive(Debug, Default)]
struct Inner {
    ring: VecDeque<Entry>,
    orgs: HashMap<OrganizationSid, Stats>,
    credentials: HashMap<Box<str>, (Option<OrganizationSid>, Stats)>,
}

/// The ring and the counters.
#[derive(Debug)]
pub struct RequestLog {
    capacity: usize,
    inner: Mutex<Inner>,
}

/// Most credentials counted; past it a new credential is not counted (a bound on memory
/// when tokens churn).
const MAX_CREDENTIALS: usize = 10_000;

impl RequestLog {
    /// A log keeping the last `capacity` requests.
    pub fn new(capacity: usize) -> Self {
        let inner = Inner { ring: VecDeque::with_capacity(capacity), ..Inner::default() };
        Self { capacity: capacity.max(1), inner: Mutex::new(inner) }
    }

    /// Records one answered request.
    pub fn push(&self, e: Entry) {
        let Ok(mut g) = self.inner.lock() else { return };
        if let Some(org) = e.org {
            g.orgs.entry(org).or_default().count(&e);
        }
        if let Some(c) = &e.credential {
            let known = g.credentials.len() < MAX_CREDENTIALS;
            match g.credentials.get_mut(c) {
                Some((_, s)) => s.count(&e),
                None if known => {
                    let mut s = Stats::default();
                    s.count(&e);
                    g.credentials.insert(c.clone(), (e.org, s));
                }
                None => {}
            }
        }
        if g.ring.len() >= self.capacity {
            g.ring.pop_front();
        }
        g.ring.push_back(e);
    }

    /// The entries that `keep` selects, newest first, at most `limit`.
    pub fn recent(&self, limit: usize, keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let Ok(g) = self.inner.lock() else { return Vec::new() };
        g.ring.iter().rev().filter(|e| keep(e)).take(limit).cloned().collect()
    }

    /// How many entries the ring holds.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|g| g.ring.len()).unwrap_or(0)
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters of `org`.
    pub fn org_stats(&self, org: OrganizationSid) -> Stats {
        self.inner.lock().ok().and_then(|g| g.orgs.get(&org).cloned()).unwrap_or_default()
    }

    /// Every organization's counters.
    pub fn all_org_stats(&self) -> Vec<(OrganizationSid, Stats)> {
        let Ok(g) = self.inner.lock() else { return Vec::new() };
        g.orgs.iter().map(|(o, s)| (*o, s.clone())).collect()
    }

    /// The counters of the credentials that acted on `org`.
    pub fn credential_stats(&self, org: OrganizationSid) -> Vec<(String, Stats)> {
        let Ok(g) = self.inner.lock() else { return Vec::new() };
        let mut v: Vec<(String, Stats)> = g
            .credentials
            .iter()
            .filter(|(_, (o, _))| *o == Some(org))
            .map(|(c, (_, s))| (c.to_string(), s.clone()))
            .collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.1.last_ms));
        v
    }
}

/// Records an answered request in the request log (called by the service's outermost
/// layer right after the access line). The console's own requests are not recorded.
pub(crate) fn record<B>(log: &RequestLog, line: &mut crate::log::Started, res: &http::Response<B>) {
    let path = line.path();
    if path.starts_with(CONSOLE) {
        return;
    }
    let code = res.extensions().get::<crate::error::RenderedError>().map(|r| r.0);
    let entry = Entry {
        at_ms: now_ms(),
        method: line.method().clone(),
        path: path.into(),
        status: res.status().as_u16(),
        code,
        latency_us: u64::try_from(line.elapsed().as_micros()).unwrap_or(u64::MAX),
        org: line.org(),
        credential: line.take_credential(),
        request_id: line.request_id().clone(),
        capture: res.extensions().get::<super::capture::Captured>().map(|c| c.0),
    };
    log.push(entry);
}

/// Where the console's own pages are, whose requests are not recorded.
const CONSOLE: &str = "/console";

/// Now, Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: u64, status: u16, code: Option<ErrorCode>) -> Entry {
        Entry {
            at_ms,
            method: Method::GET,
            path: "/scim/v2/Users".into(),
            status,
            code,
            latency_us: 10,
            org: Some(OrganizationSid::from_u128(1)),
            credential: Some("TK1".into()),
            request_id: HeaderValue::from_static("r"),
            capture: None,
        }
    }

    /// What one push costs (the whole of what the console adds to a request), printed; the
    /// bound is loose so that a debug build on a busy machine passes too.
    #[test]
    fn a_push_is_cheap() {
        let log = RequestLog::new(2000);
        let n = 200_000u32;
        let start = std::time::Instant::now();
        for i in 0..n {
            let mut e = entry(u64::from(i), if i % 10 == 0 { 400 } else { 200 }, None);
            e.path = "/scim/v2/Users/US0123456789abcdef0123456789abcdef".into();
            log.push(e);
        }
        let per = start.elapsed() / n;
        eprintln!("request log: {} ns per push (entry built and pushed)", per.as_nanos());
        assert_eq!(log.len(), 2000);
        assert!(per < std::time::Duration::from_micros(50), "{per:?}");
    }

    #[test]
    fn the_ring_is_bounded_and_counts_per_minute() {
        let log = RequestLog::new(3);
        for i in 0..5 {
            log.push(entry(60_000 * 10 + i, 200, None));
        }
        log.push(entry(60_000 * 11, 404, Some(ErrorCode::UnknownRoute)));
        assert_eq!(log.len(), 3);
        let newest = log.recent(10, |_| true);
        assert_eq!(newest.first().map(|e| e.status), Some(404));
        let s = log.org_stats(OrganizationSid::from_u128(1));
        let series = s.series(11);
        assert_eq!(series.len(), MINUTES);
        assert_eq!(series[MINUTES - 2], Minute { minute: 10, requests: 5, errors: 0 });
        assert_eq!(series[MINUTES - 1], Minute { minute: 11, requests: 1, errors: 1 });
        assert_eq!(s.top_codes(3), vec![(ErrorCode::UnknownRoute, 1)]);
        assert_eq!(s.last_success_ms, Some(60_000 * 10 + 4));
        assert_eq!(log.credential_stats(OrganizationSid::from_u128(1)).len(), 1);
    }
}
