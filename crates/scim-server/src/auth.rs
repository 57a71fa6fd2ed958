//! A short-lived, per-replica cache of successful credential and organization lookups.
//!
//! Every request authenticates; without a cache that is two database round trips before
//! the handler's own. Entries live `auth_cache_ttl_ms` (default 1 s), so a revoked token
//! or a changed organization takes effect on every replica within that time; failures are
//! never cached. Nothing here is needed for correctness: a cold cache only costs lookups.

use crate::context::Credential;
use scim_core::sid::OrganizationSid;
use scim_store::Organization;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most entries per map; past it the map is emptied (a crude but bounded policy).
const MAX_ENTRIES: usize = 10_000;

/// A map whose entries expire.
#[derive(Debug)]
struct Ttl<K, V> {
    ttl: Duration,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Ttl<K, V> {
    fn new(ttl: Duration) -> Self {
        Self { ttl, map: Mutex::new(HashMap::new()) }
    }

    fn get(&self, k: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(k).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    fn put(&self, k: K, v: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(k, (Instant::now(), v));
    }
}

/// Cached credentials (by the SHA-256 of their secret) and organizations.
#[derive(Debug)]
pub(crate) struct AuthCache {
    creds: Ttl<[u8; 32], Credential>,
    orgs: Ttl<OrganizationSid, Organization>,
}

impl AuthCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { creds: Ttl::new(ttl), orgs: Ttl::new(ttl) }
    }

    pub(crate) fn credential(&self, hash: &[u8; 32]) -> Option<Credential> {
        self.creds.get(hash)
    }

    pub(crate) fn put_credential(&self, hash: [u8; 32], c: Credential) {
        self.creds.put(hash, c);
    }

    pub(crate) fn organization(&self, sid: &OrganizationSid) -> Option<Organization> {
        self.orgs.get(sid)
    }

    pub(crate) fn put_organization(&self, o: Organization) {
        self.orgs.put(o.sid, o);
    }
}
