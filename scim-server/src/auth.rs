//! An authenticated caller ([`Credential`]) and a short-lived, per-replica cache of
//! successful credential and organization lookups.
//!
//! Every request authenticates; without a cache that is two database round trips before
//! the handler's own. Entries live `auth_cache_ttl_ms` (default 1 s), so a revoked token
//! or a changed organization takes effect on every replica within that time; failures are
//! never cached. Nothing here is needed for correctness: a cold cache only costs lookups.

use scim_core::sid::OrganizationSid;
use scim_store::{Organization, Scope, Store};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The credential's id (token id `TK...`, later a client id).
    pub id: String,
    /// The organizations it is granted on.
    pub orgs: Vec<OrganizationSid>,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// When it expires (Unix seconds), for OAuth2 access tokens.
    pub expires: Option<u64>,
}

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
    /// When this replica last asked the store to record each static token's use.
    uses: Mutex<HashMap<String, Instant>>,
}

/// How often a token's `last_used` is written, at most.
const USE_RESOLUTION: Duration = Duration::from_secs(60);

/// Unix seconds of an RFC 3339 timestamp (0 when unparseable: treated as expired).
pub(crate) fn unix_seconds(rfc3339: &str) -> u64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| u64::try_from(t.unix_timestamp()).unwrap_or(0))
        .unwrap_or(0)
}

impl AuthCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { creds: Ttl::new(ttl), orgs: Ttl::new(ttl), uses: Mutex::new(HashMap::new()) }
    }

    /// Notes a use of credential `id`; for a static token (`TK...`) not recorded by this
    /// replica within the last minute, records it in the background (the store writes
    /// only when the stored value is a minute old), so no request waits on that write.
    pub(crate) fn token_used(&self, store: &Arc<dyn Store>, id: &str) {
        if !id.starts_with("TK") {
            return;
        }
        {
            let mut uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
            if uses.get(id).is_some_and(|at| at.elapsed() < USE_RESOLUTION) {
                return;
            }
            if uses.len() >= MAX_ENTRIES {
                uses.clear();
            }
            uses.insert(id.to_owned(), Instant::now());
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let Ok(at) =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)
        else {
            return;
        };
        let (store, id) = (store.clone(), id.to_owned());
        runtime.spawn(async move {
            if let Err(e) = store.touch_token(&id, &at).await {
                tracing::debug!(token = %id, error = %e, "cannot record the token's last use");
            }
        });
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
