//! What the operator console keeps in this replica's memory: the request log and its
//! counters ([`reqlog`]), debug captures of one organization's bodies ([`capture`]) and
//! sign-in sessions ([`session`]). The service's edge records into it; the console's pages
//! (the `console` module) read it.

pub mod capture;
pub mod reqlog;
pub mod session;

use std::sync::Arc;

/// The console's state: its sessions, this replica's request log and debug captures.
#[derive(Debug)]
pub struct Console {
    pub(crate) requests: Arc<reqlog::RequestLog>,
    pub(crate) sessions: session::Sessions,
    pub(crate) captures: capture::Captures,
}

impl Console {
    /// A console whose request log keeps `capacity` requests.
    pub fn new(capacity: usize) -> Self {
        Self {
            requests: Arc::new(reqlog::RequestLog::new(capacity)),
            sessions: session::Sessions::default(),
            captures: capture::Captures::default(),
        }
    }
}
