//! Retries: which answers are retried, how long to wait, and `Retry-After`.
//!
//! A request is retried on 429 and 503 answers and on connection failures, with jittered
//! exponential backoff ("full jitter": a random delay between zero and the exponential
//! bound), or after the delay the server asks for in `Retry-After` (RFC 9110 10.2.3) when
//! it sends one. Only requests that are safe to repeat are retried: GET, PUT and DELETE
//! (idempotent, RFC 9110 9.2.2), and POST and PATCH when they carry an `Idempotency-Key`,
//! which the client adds to them whenever retries are on.

use http::HeaderMap;
use std::time::{Duration, SystemTime};

/// How the client retries. [`RetryPolicy::default`]: 3 retries, 200 ms base delay,
/// 10 s cap per delay, `Retry-After` honoured up to 60 s.
///
/// ```
/// use std::time::Duration;
/// let policy = scim_client::RetryPolicy::default()
///     .max_retries(5)
///     .base_delay(Duration::from_millis(100));
/// assert_eq!(policy.max_retries, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 turns retries off (and with them the generated
    /// `Idempotency-Key`).
    pub max_retries: u32,
    /// The bound of the first backoff delay; each retry doubles it.
    pub base_delay: Duration,
    /// The largest backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits; a server asking for more gets its error
    /// returned instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// With `n` retries after the first attempt.
    #[must_use]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// With this first backoff bound.
    #[must_use]
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// With this largest backoff delay.
    #[must_use]
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// With this longest `Retry-After` honoured.
    #[must_use]
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Whether retries are on.
    pub fn enabled(&self) -> bool {
        self.max_retries > 0
    }

    /// The delay before retry number `retry` (0 for the first retry): a uniformly random
    /// duration in `[0, min(max_delay, base_delay * 2^retry)]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let bound = self
            .base_delay
            .checked_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(random_u64() % (nanos + 1))
    }
}

/// Whether an answer with this status is worth retrying.
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 503)
}

/// `Retry-After` as a delay: delay-seconds, or an HTTP-date (a date in the past is zero).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // Jitter only: if the OS generator fails, a fixed value still gives a valid delay.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

/// A fresh `Idempotency-Key`: 32 lowercase hex digits from the OS generator.
pub(crate) fn idempotency_key() -> Option<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        for retry in 0..40 {
            assert!(p.backoff(retry) <= p.max_delay);
        }
        assert!(p.backoff(0) <= p.base_delay);
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn keys_are_hex() {
        let k = idempotency_key().unwrap();
        assert_eq!(k.len(), 32);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
