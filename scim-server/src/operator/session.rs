//! Console sessions: a random 256-bit id from the OS random source in an `HttpOnly`,
//! `SameSite=Strict` cookie, kept here only as its SHA-256 (a memory dump or a log of the
//! map shows no usable cookie), with idle and absolute expiry and a bound on their number.
//! Each session has its own CSRF token and the SHA-256 of the admin token it signed in
//! with, checked again on every request, so revoking that token ends the session.

use scim_core::sid::OrganizationSid;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "scim_console";

/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);

/// A session ends this long after sign-in, used or not.
pub const MAX_AGE: Duration = Duration::from_secs(12 * 3600);

/// Most sessions at once; past it the least recently used one ends.
pub const MAX_SESSIONS: usize = 1000;

/// A secret just made, with what an identity provider needs to use it.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// `Token` or `OAuth client`.
    pub what: &'static str,
    /// The token or client id.
    pub id: String,
    /// The organization.
    pub org: OrganizationSid,
    /// The secret.
    pub secret: String,
    /// The SCIM base URL of the organization (the tenant URL of Entra, Okta's base URL).
    pub tenant_url: String,
    /// For a client: the token endpoint.
    pub token_url: Option<String>,
}

/// A one-time message for the next page of a session (a secret shown once).
#[derive(Debug, Clone)]
pub enum Flash {
    /// A change went through.
    Notice(String),
    /// A change was refused.
    Error(String),
    /// A new credential's secret, shown once.
    Secret(Box<NewSecret>),
}

#[derive(Debug)]
struct Session {
    csrf: String,
    token_hash: [u8; 32],
    credential_id: String,
    created: Instant,
    last_seen: Instant,
    flash: Vec<Flash>,
}

/// What a request learns of its session.
#[derive(Debug, Clone)]
pub struct View {
    /// The SHA-256 of the cookie's id: the map's key.
    pub key: [u8; 32],
    /// The session's CSRF token.
    pub csrf: String,
    /// The SHA-256 of the admin token behind it.
    pub token_hash: [u8; 32],
    /// That token's id.
    pub credential_id: String,
}

/// Every session of this replica (a replica's sessions are its own: behind a load
/// balancer, sign in again on another replica, or keep the console on one).
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_hex() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(hex::encode(b))
}

impl Sessions {
    /// Starts a session for the admin token `token_hash` (id `credential_id`); returns the
    /// cookie's value.
    pub fn create(
        &self,
        token_hash: [u8; 32],
        credential_id: String,
    ) -> Result<String, getrandom::Error> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let now = Instant::now();
        let session = Session {
            csrf,
            token_hash,
            credential_id,
            created: now,
            last_seen: now,
            flash: vec![],
        };
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, s| live(s, now));
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
            map.insert(key(&id), session);
        }
        Ok(id)
    }

    /// The live session of the cookie value `id` (marked as used now).
    pub fn get(&self, id: &str) -> Option<View> {
        if id.len() != 64 {
            return None;
        }
        let k = key(id);
        let now = Instant::now();
        let mut map = self.map.lock().ok()?;
        let s = map.get_mut(&k)?;
        if !live(s, now) {
            map.remove(&k);
            return None;
        }
        s.last_seen = now;
        Some(View {
            key: k,
            csrf: s.csrf.clone(),
            token_hash: s.token_hash,
            credential_id: s.credential_id.clone(),
        })
    }

    /// Ends a session.
    pub fn remove(&self, key: &[u8; 32]) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }

    /// Whether the session of `key` is still live.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        let now = Instant::now();
        self.map.lock().is_ok_and(|m| m.get(key).is_some_and(|s| live(s, now)))
    }

    /// Leaves a message for the session's next page.
    pub fn flash(&self, key: &[u8; 32], f: Flash) {
        if let Ok(mut map) = self.map.lock()
            && let Some(s) = map.get_mut(key)
        {
            s.flash.push(f);
        }
    }

    /// Takes the session's messages: each is shown once.
    pub fn take_flash(&self, key: &[u8; 32]) -> Vec<Flash> {
        self.map
            .lock()
            .ok()
            .and_then(|mut m| m.get_mut(key).map(|s| std::mem::take(&mut s.flash)))
            .unwrap_or_default()
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.map.lock().map(|m| m.values().filter(|s| live(s, now)).count()).unwrap_or(0)
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last_seen) < IDLE && now.duration_since(s.created) < MAX_AGE
}

/// The session cookie's value in a `Cookie` header, if any.
pub fn cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_by_cookie_only_and_end() {
        let s = Sessions::default();
        let id = s.create([1; 32], "TK1".into()).unwrap();
        assert_eq!(id.len(), 64);
        let v = s.get(&id).unwrap();
        assert_eq!(v.credential_id, "TK1");
        assert_eq!(v.csrf.len(), 64);
        assert!(s.get(&"0".repeat(64)).is_none());
        s.flash(&v.key, Flash::Notice("x".into()));
        assert_eq!(s.take_flash(&v.key).len(), 1);
        assert!(s.take_flash(&v.key).is_empty());
        s.remove(&v.key);
        assert!(s.get(&id).is_none());
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, "a=b; scim_console=abc".parse().unwrap());
        assert_eq!(cookie(&h).as_deref(), Some("abc"));
    }
}
