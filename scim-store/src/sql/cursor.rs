//! RFC 9865 cursors: opaque, tamper-evident, bound to an organization, a resource type and
//! a query, expiring.
//!
//! A cursor is `base64url(payload || HMAC-SHA256(secret, payload))` where the payload is
//! JSON carrying the organization, the kind, a hash of the filter and sort, the last row's
//! sort key and id (keyset pagination: the next page is `WHERE (key, id) > (last)`, so a
//! deep page costs what the first does), the total counted on the first page, and the
//! expiry. The secret is the store's shared secret `cursor`, the same on every replica.

use crate::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Longest cursor accepted, in characters.
const MAX_CURSOR_LEN: usize = 4096;

/// What a cursor carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CursorState {
    /// Organization sid.
    pub(crate) o: String,
    /// Resource kind name.
    pub(crate) k: String,
    /// Hex hash of the query (filter, sort).
    pub(crate) q: String,
    /// Sort key of the last row (JSON null when the key was NULL).
    pub(crate) s: serde_json::Value,
    /// Id of the last row.
    pub(crate) i: String,
    /// Total results counted on the first page.
    pub(crate) t: u64,
    /// Expiry, Unix seconds.
    pub(crate) e: i64,
}

/// A hex SHA-256 of what binds a cursor to its query.
pub(crate) fn query_hash(parts: &str) -> String {
    hex::encode(Sha256::digest(parts.as_bytes()))
}

fn mac(secret: &[u8; 32]) -> Result<HmacSha256, StoreError> {
    <HmacSha256 as Mac>::new_from_slice(secret).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Encodes and signs a cursor.
pub(crate) fn encode(secret: &[u8; 32], state: &CursorState) -> Result<String, StoreError> {
    let payload = serde_json::to_vec(state).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut m = mac(secret)?;
    m.update(&payload);
    let tag = m.finalize().into_bytes();
    let mut all = payload;
    all.extend_from_slice(&tag);
    Ok(URL_SAFE_NO_PAD.encode(all))
}

/// Verifies and decodes a cursor; `now` in Unix seconds. Checks the signature, then the
/// binding (`org`, `kind`, `query`), then the expiry.
pub(crate) fn decode(
    secret: &[u8; 32],
    cursor: &str,
    org: &str,
    kind: &str,
    query: &str,
    now: i64,
) -> Result<CursorState, StoreError> {
    let bad = |why: &str| StoreError::InvalidCursor(why.to_owned());
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(bad("the cursor is too long"));
    }
    let raw = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| bad("the cursor is malformed"))?;
    if raw.len() <= 32 {
        return Err(bad("the cursor is malformed"));
    }
    let (payload, tag) = raw.split_at(raw.len() - 32);
    let mut m = mac(secret)?;
    m.update(payload);
    m.verify_slice(tag)
        .map_err(|_| bad("the cursor was not issued by this service or was altered"))?;
    let state: CursorState =
        serde_json::from_slice(payload).map_err(|_| bad("the cursor is malformed"))?;
    if state.o != org || state.k != kind || state.q != query {
        return Err(bad("the cursor belongs to another query"));
    }
    if state.e < now {
        return Err(StoreError::ExpiredCursor);
    }
    Ok(state)
}
