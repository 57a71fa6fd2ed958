//! A circuit breaker in front of a database reached over the network (PostgreSQL, MySQL).
//!
//! When the database is gone, every call would wait for a pooled connection until the
//! acquire timeout and only then fail: under load, waiters pile up on a dead pool. After
//! one call finds the database unreachable, the breaker opens: for [`COOLDOWN`] every call
//! fails at once with "unavailable" (the server answers 503 with `Retry-After`). Then one
//! call at a time is let through as a probe; the first that reaches the database closes
//! the breaker, and service resumes by itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the breaker stays open before it lets a probe through.
pub(crate) const COOLDOWN: Duration = Duration::from_millis(500);

/// The breaker's state, shared by every call of one store.
#[derive(Debug)]
pub(crate) struct Breaker {
    epoch: Instant,
    /// Whether the last call that reached a verdict found the database unreachable.
    open: AtomicBool,
    /// Until when (milliseconds after `epoch`) no call goes through.
    until_ms: AtomicU64,
    /// Whether a probe is out.
    probing: AtomicBool,
}

/// Leave to make one call; reports its outcome, or on drop (a cancelled call) frees the
/// probe slot without a verdict.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            open: AtomicBool::new(false),
            until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A ticket for one call, or `None` while the breaker is open (or another probe is out).
    pub(crate) fn admit(&self) -> Option<Ticket<'_>> {
        if !self.open.load(Ordering::Acquire) {
            return Some(Ticket { breaker: self, probe: false });
        }
        if self.now_ms() < self.until_ms.load(Ordering::Acquire) {
            return None;
        }
        self.probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Ticket { breaker: self, probe: true })
    }
}

impl Ticket<'_> {
    /// The call reached the database (`true`), or found it unreachable (`false`).
    pub(crate) fn finish(self, reached: bool) {
        let b = self.breaker;
        if reached {
            b.open.store(false, Ordering::Release);
        } else {
            let until = b.now_ms().saturating_add(COOLDOWN.as_millis() as u64);
            b.until_ms.store(until, Ordering::Release);
            if !b.open.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    "database unreachable: failing calls fast for a moment, then probing"
                );
            }
        }
        // `Drop` frees the probe slot.
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.probing.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_failure_lets_one_probe_through_and_closes_on_success() {
        let b = Breaker::default();
        b.admit().map(|t| t.finish(false)).unwrap();
        assert!(b.admit().is_none(), "open right after a failure");
        std::thread::sleep(COOLDOWN + Duration::from_millis(20));
        let probe = b.admit().unwrap();
        assert!(b.admit().is_none(), "one probe at a time");
        probe.finish(false);
        assert!(b.admit().is_none(), "a failed probe reopens it");
        std::thread::sleep(COOLDOWN + Duration::from_millis(20));
        // A cancelled probe frees the slot without a verdict.
        drop(b.admit().unwrap());
        let probe = b.admit().unwrap();
        probe.finish(true);
        assert!(b.admit().is_some() && b.admit().is_some(), "closed again");
    }
}
