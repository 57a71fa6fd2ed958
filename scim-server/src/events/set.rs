//! Security Event Tokens (RFC 8417) of SCIM events (RFC 9967): the claims built from a
//! change-log row, and their JWS compact serialisation (RFC 7515), signed ES256 (ECDSA
//! P-256, the public keys at the JWKS endpoint) or HS256 (the stream's shared secret).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use scim_core::schema::ResourceKind;
use scim_store::{ChangeOp, ChangeRecord, EventForm, EventStream, SigningAlg, SigningKey};
use serde_json::{Map, Value, json};

/// RFC 9967 2.4 event URIs.
pub mod uri {
    /// A resource was created (attribute names).
    pub const CREATE_NOTICE: &str = "urn:ietf:params:scim:event:prov:create:notice";
    /// A resource was created (the resource).
    pub const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
    /// A resource was patched (attribute names).
    pub const PATCH_NOTICE: &str = "urn:ietf:params:scim:event:prov:patch:notice";
    /// A resource was patched (the resource).
    pub const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
    /// A resource was replaced (attribute names).
    pub const PUT_NOTICE: &str = "urn:ietf:params:scim:event:prov:put:notice";
    /// A resource was replaced (the resource).
    pub const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
    /// A resource was deleted.
    pub const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
    /// A resource was activated (here: restored after a soft delete).
    pub const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
    /// A resource was deactivated.
    pub const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";
    /// Every event URI this server emits.
    pub const ALL: [&str; 9] = [
        CREATE_NOTICE,
        CREATE_FULL,
        PATCH_NOTICE,
        PATCH_FULL,
        PUT_NOTICE,
        PUT_FULL,
        DELETE,
        ACTIVATE,
        DEACTIVATE,
    ];
}

/// Why a SET could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No ES256 key is stored yet.
    #[error("no signing key")]
    NoKey,
    /// A stored key or secret is malformed.
    #[error("bad key: {0}")]
    BadKey(String),
}

/// The event URI of a change on a stream of `form`.
pub fn event_uri(change: &ChangeRecord, form: EventForm) -> &'static str {
    let full = form == EventForm::Full;
    match change.op {
        ChangeOp::Create if full => uri::CREATE_FULL,
        ChangeOp::Create => uri::CREATE_NOTICE,
        ChangeOp::Update if change.method.as_deref() == Some("PUT") => {
            if full {
                uri::PUT_FULL
            } else {
                uri::PUT_NOTICE
            }
        }
        ChangeOp::Update if full => uri::PATCH_FULL,
        ChangeOp::Update => uri::PATCH_NOTICE,
        ChangeOp::Delete => uri::DELETE,
        ChangeOp::Restore => uri::ACTIVATE,
    }
}

/// The events of `change` that `stream` delivers, in the SET's order: the operation's
/// event, then `activate` or `deactivate` when the change switched a user's `active` (one
/// change, one SET: RFC 8417 2.2 lets a SET carry several statements about one subject).
/// Empty when the stream wants none of them.
pub fn events_for(stream: &EventStream, change: &ChangeRecord) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(2);
    let main = event_uri(change, stream.form);
    if wanted(stream, main) {
        out.push(main);
    }
    let switch = match (change.op, change.active) {
        (ChangeOp::Update, Some(true)) => Some(uri::ACTIVATE),
        (ChangeOp::Update, Some(false)) => Some(uri::DEACTIVATE),
        _ => None,
    };
    if let Some(u) = switch.filter(|u| wanted(stream, u)) {
        out.push(u);
    }
    out
}

/// Whether `stream` delivers events of `uri` (an empty list: all; a listed URI without its
/// `:notice`/`:full` suffix matches both forms).
pub fn wanted(stream: &EventStream, uri: &str) -> bool {
    stream.events.is_empty()
        || stream.events.iter().any(|e| {
            e == uri || uri.strip_prefix(e.as_str()).is_some_and(|rest| rest.starts_with(':'))
        })
}

/// The deterministic `jti` of the event of change `seq` on `stream`: a redelivery carries
/// the same one, so a receiver recognises duplicates.
pub fn jti(stream: &str, seq: u64) -> String {
    format!("{stream}-{seq}")
}

/// The change sequence number of a `jti` of `stream`.
pub fn seq_of(stream: &str, jti: &str) -> Option<u64> {
    jti.strip_prefix(stream)?.strip_prefix('-')?.parse().ok()
}

/// What the event says about the resource beyond the change row.
#[derive(Debug, Default)]
pub struct Subject {
    /// The resource's `externalId` (after the change).
    pub external_id: Option<String>,
    /// The resource (full form), when it still exists.
    pub resource: Option<Value>,
    /// The top-level attributes the change set or removed (notice form).
    pub attributes: Vec<String>,
}

/// The SET claims (RFC 8417 2.2; RFC 9967 2.4) of `change` on `stream`, carrying the
/// events `uris` (from [`events_for`]).
pub fn claims(
    issuer: &str,
    stream: &EventStream,
    change: &ChangeRecord,
    uris: &[&str],
    subject: &Subject,
    now: i64,
) -> Value {
    let path = match change.kind {
        ResourceKind::User => format!("/Users/{}", change.id),
        ResourceKind::Group => format!("/Groups/{}", change.id),
    };
    let mut event = Map::new();
    event.insert("id".into(), json!(change.id));
    event.insert("version".into(), json!(format!("W/\"{}\"", change.version)));
    if let Some(x) = &subject.external_id {
        event.insert("externalId".into(), json!(x));
    }
    // The activate / deactivate statements name the resource; the operation's statement
    // also says what changed.
    let switch = Value::Object(event.clone());
    if change.op != ChangeOp::Delete {
        match (&subject.resource, stream.form) {
            (Some(r), EventForm::Full) => {
                event.insert("data".into(), r.clone());
            }
            _ if !subject.attributes.is_empty() => {
                event.insert("attributes".into(), json!(subject.attributes));
            }
            _ => {}
        }
    }
    let main = event_uri(change, stream.form);
    let mut events = Map::new();
    for u in uris {
        let statement = if *u == main { Value::Object(event.clone()) } else { switch.clone() };
        events.insert((*u).to_owned(), statement);
    }
    let toe =
        time::OffsetDateTime::parse(&change.at, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp())
            .unwrap_or(now);
    let mut c = json!({
        "iss": issuer,
        "iat": now,
        "jti": jti(&stream.id, change.seq),
        "aud": stream.url.clone().unwrap_or_else(|| stream.id.clone()),
        "sub_id": {"format": "scim", "uri": path},
        "toe": toe,
        "events": events,
        "scim_org": stream.org.to_string(),
        "scim_seq": change.seq,
    });
    if let Some(obj) = c.as_object_mut() {
        if let Some(rid) = &change.request_id {
            obj.insert("txn".into(), json!(rid));
        }
        if let Some(actor) = &change.actor {
            obj.insert("scim_actor".into(), json!(actor));
        }
    }
    c
}

/// An ES256 signer made from a stored key.
#[derive(Debug)]
pub struct EsSigner {
    kid: String,
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl EsSigner {
    /// The signer of a stored key.
    pub fn new(key: &SigningKey) -> Result<Self, SignError> {
        let der = hex::decode(&key.private_pkcs8).map_err(|e| SignError::BadKey(e.to_string()))?;
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
            .map_err(|e| SignError::BadKey(e.to_string()))?;
        Ok(Self { kid: key.kid.clone(), pair, rng })
    }
}

/// Signs `claims` for `stream`: ES256 with `es`, or HS256 with the stream's secret.
pub fn sign(
    stream: &EventStream,
    es: Option<&EsSigner>,
    claims: &Value,
) -> Result<String, SignError> {
    let header = match stream.alg {
        SigningAlg::ES256 => {
            let es = es.ok_or(SignError::NoKey)?;
            json!({"typ": "secevent+jwt", "alg": "ES256", "kid": es.kid})
        }
        SigningAlg::HS256 => json!({"typ": "secevent+jwt", "alg": "HS256"}),
    };
    let mut input = B64.encode(header.to_string());
    input.push('.');
    input.push_str(&B64.encode(claims.to_string()));
    let sig = match stream.alg {
        SigningAlg::ES256 => {
            let es = es.ok_or(SignError::NoKey)?;
            es.pair
                .sign(&es.rng, input.as_bytes())
                .map_err(|e| SignError::BadKey(e.to_string()))?
                .as_ref()
                .to_vec()
        }
        SigningAlg::HS256 => {
            let secret = stream.secret.as_deref().ok_or(SignError::NoKey)?;
            let key = hex::decode(secret).map_err(|e| SignError::BadKey(e.to_string()))?;
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key)
                .map_err(|e| SignError::BadKey(e.to_string()))?;
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    input.push('.');
    input.push_str(&B64.encode(sig));
    Ok(input)
}

/// A new ES256 key: PKCS#8 private key and its public JWK.
pub fn new_key() -> Result<SigningKey, SignError> {
    let rng = SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| SignError::BadKey(e.to_string()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref(), &rng)
        .map_err(|e| SignError::BadKey(e.to_string()))?;
    // An uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
    let point = pair.public_key().as_ref();
    let (x, y) = match (point.get(1..33), point.get(33..65)) {
        (Some(x), Some(y)) => (x, y),
        _ => return Err(SignError::BadKey("unexpected public key length".into())),
    };
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| SignError::BadKey(e.to_string()))?;
    let kid = format!("k{}", hex::encode(id));
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y),
                     "kid": kid, "use": "sig", "alg": "ES256"});
    Ok(SigningKey {
        kid,
        private_pkcs8: hex::encode(der.as_ref()),
        public_jwk: jwk.to_string(),
        created: crate::events::now_rfc3339(),
    })
}

/// Verifies an ES256 SET against a JWKS document; its claims when valid.
pub fn verify_es256(set: &str, jwks: &Value) -> Option<Value> {
    let mut parts = set.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    let header: Value = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
    let kid = header.get("kid")?.as_str()?;
    let key = jwks.get("keys")?.as_array()?.iter().find(|k| k.get("kid") == Some(&json!(kid)))?;
    let mut point = vec![4u8];
    point.extend(B64.decode(key.get("x")?.as_str()?).ok()?);
    point.extend(B64.decode(key.get("y")?.as_str()?).ok()?);
    let public =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    let sig = B64.decode(s).ok()?;
    public.verify(format!("{h}.{c}").as_bytes(), &sig).ok()?;
    serde_json::from_slice(&B64.decode(c).ok()?).ok()
}

/// Verifies an HS256 SET with a hex secret; its claims when valid.
pub fn verify_hs256(set: &str, secret_hex: &str) -> Option<Value> {
    let (input, s) = set.rsplit_once('.')?;
    let key = hex::decode(secret_hex).ok()?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(input.as_bytes());
    mac.verify_slice(&B64.decode(s).ok()?).ok()?;
    let c = input.split('.').nth(1)?;
    serde_json::from_slice(&B64.decode(c).ok()?).ok()
}
