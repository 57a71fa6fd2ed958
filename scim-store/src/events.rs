//! Event streams (RFC 8935 push, RFC 8936 poll) and their signing keys, as the store keeps
//! them: every replica reads the same rows, so nothing a delivery needs lives in one
//! replica's memory.

use scim_core::sid::OrganizationSid;
use serde::{Deserialize, Serialize};

/// How a stream's events reach the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// RFC 8935: the server POSTs each SET to the receiver's URL.
    Push,
    /// RFC 8936: the receiver polls for SETs and acknowledges them.
    Poll,
}

/// What an event carries about the resource (RFC 9967 2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventForm {
    /// The names of the changed attributes (`...:notice` events).
    Notice,
    /// The resource as it is after the change (`...:full` events).
    Full,
}

/// The JWS algorithm a stream's SETs are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlg {
    /// ECDSA P-256 SHA-256, public keys at the JWKS endpoint.
    ES256,
    /// HMAC SHA-256 with the stream's shared secret.
    HS256,
}

/// Whether a stream delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamState {
    /// Delivering.
    Active,
    /// Stopped, by an administrator or after too many consecutive failures.
    Paused,
}

/// One event stream of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStream {
    /// `ES` + 32 hex.
    pub id: String,
    /// The organization whose changes the stream carries.
    pub org: OrganizationSid,
    /// Push or poll.
    pub delivery: Delivery,
    /// The receiver's URL (push only).
    pub url: Option<String>,
    /// The event URIs delivered; empty: all.
    pub events: Vec<String>,
    /// Notice or full.
    pub form: EventForm,
    /// The signing algorithm.
    pub alg: SigningAlg,
    /// The HS256 shared secret (hex); never logged.
    pub secret: Option<String>,
    /// Active or paused.
    pub state: StreamState,
    /// The change-log sequence number of the last event acknowledged.
    pub cursor: u64,
    /// Consecutive failed deliveries.
    pub failures: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// When the stream was created, RFC 3339.
    pub created: String,
}

/// A signing key of SETs (ES256), the private half as PKCS#8 DER (hex); never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// The key id (`kid`).
    pub kid: String,
    /// The private key, PKCS#8 DER, hex.
    pub private_pkcs8: String,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// When the key was made, RFC 3339; the newest signs.
    pub created: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created", &self.created)
            .finish()
    }
}

/// Which changes `audit` lists.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this resource.
    pub resource: Option<String>,
    /// At or after this instant (RFC 3339).
    pub since: Option<String>,
    /// Before this instant (RFC 3339).
    pub until: Option<String>,
    /// After this sequence number.
    pub after: u64,
    /// At most this many (capped at 10,000).
    pub limit: u64,
}
