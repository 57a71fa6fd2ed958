//! OAuth2 client credentials (RFC 6749 section 4.4): `POST /oauth2/token`
//! issues signed, expiring access tokens that any replica can verify.
//!
//! Access tokens are JWTs (RFC 7519) signed with HMAC-SHA256 under a secret that the store
//! shares between replicas (`Store::shared_secret`). They carry the client id, the
//! organizations and the scopes. Verification also looks the client up (through the
//! per-replica auth cache), so revoking a client, or narrowing its grants, takes effect
//! before its tokens expire. Errors of this endpoint speak RFC 6749 section 5.2, not SCIM.

use crate::auth::Credential;
use crate::error::ApiError;
use crate::state::AppState;
use crate::token;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use scim_core::ErrorCode;
use scim_core::sid::OrganizationSid;
use scim_store::Scope;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

/// Name of the shared secret that signs access tokens.
const SIGNING_SECRET: &str = "oauth2-access-token-hs256";
/// The `iss` claim.
const ISSUER: &str = "scim-server";
/// Largest token request body.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Marker in a response's extensions: an RFC 6749 answer the SCIM edge leaves alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OAuthResponse;

/// The token endpoint's route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/oauth2/token", post(token_endpoint))
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    orgs: Vec<OrganizationSid>,
    scope: String,
    iat: u64,
    exp: u64,
    jti: String,
}

/// The form of a token request.
#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
}

/// An RFC 6749 section 5.2 error.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic: bool,
}

impl OAuthError {
    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic: false,
        }
    }

    fn client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".into(),
            basic,
        }
    }

    /// 503 `temporarily_unavailable` (the code RFC 6749 4.1.2.1 gives a server that cannot
    /// answer for now): the database failed during `what`, logged with the cause.
    fn unavailable(what: &str, e: &scim_store::StoreError) -> Self {
        tracing::warn!(request_id = %crate::log::request_id(), error = %e, "{what} failed");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: "the database is unavailable; retry later".into(),
            basic: false,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut res = oauth_json(self.status, &body);
        if self.basic {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"scim\""));
        }
        res
    }
}

fn oauth_json(status: StatusCode, body: &serde_json::Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = (status, bytes).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res.extensions_mut().insert(OAuthResponse);
    res
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// `Authorization: Basic` client credentials (RFC 6749 2.3.1), if sent.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok().and_then(|b| String::from_utf8(b).ok());
    let pair = decoded.as_deref().and_then(|d| d.split_once(':'));
    Some(match pair {
        Some((id, secret)) => Ok((form_decode(id), form_decode(secret))),
        None => Err(()),
    })
}

/// RFC 6749 2.3.1 encodes id and secret with `application/x-www-form-urlencoded` first.
fn form_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()
        .and_then(|v| v.into_iter().next())
        .map(|(_, v)| v)
        .unwrap_or_else(|| s.to_owned())
}

async fn token_endpoint(State(state): State<AppState>, req: Request) -> Response {
    match issue(&state, req).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn issue(state: &AppState, req: Request) -> Result<Response, OAuthError> {
    let (parts, body) = req.into_parts();
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::bad(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = crate::body::read_limited(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::bad("invalid_request", "the body is unreadable or too large"))?;
    let form: TokenRequest = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| OAuthError::bad("invalid_request", format!("malformed form body: {e}")))?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::bad(
                "unsupported_grant_type",
                format!(
                    "grant_type '{}' is not supported: use client_credentials",
                    truncate(other)
                ),
            ));
        }
        None => return Err(OAuthError::bad("invalid_request", "grant_type is missing")),
    }
    let basic = basic_credentials(&parts.headers);
    let used_basic = basic.is_some();
    let (client_id, secret) = match (basic, form.client_id, form.client_secret) {
        (Some(Ok(_)), Some(_), _) | (Some(Ok(_)), _, Some(_)) => {
            return Err(OAuthError::bad(
                "invalid_request",
                "send client credentials either by HTTP Basic or in the form, not both",
            ));
        }
        (Some(Ok(pair)), None, None) => pair,
        (Some(Err(())), _, _) => return Err(OAuthError::client(true)),
        (None, Some(id), Some(secret)) => (id, secret),
        (None, _, _) => return Err(OAuthError::client(false)),
    };
    let found = state
        .store
        .client(&client_id)
        .await
        .map_err(|e| OAuthError::unavailable("client lookup", &e))?;
    let presented = token::hash(&secret);
    // Compare against a dummy hash for unknown clients too, so timing tells nothing.
    let (record, stored) = match found {
        Some((record, stored)) => (Some(record), stored),
        None => (None, [0u8; 32]),
    };
    let matches = token::hashes_equal(&presented, &stored);
    let record = match record {
        Some(r) if matches => r,
        _ => return Err(OAuthError::client(used_basic)),
    };
    let scopes = match form.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => record.scopes.clone(),
        Some(requested) => {
            let mut out = Vec::new();
            for name in requested.split_ascii_whitespace() {
                match Scope::parse(name) {
                    Some(s) if record.scopes.contains(&s) => {
                        if !out.contains(&s) {
                            out.push(s);
                        }
                    }
                    _ => {
                        return Err(OAuthError::bad(
                            "invalid_scope",
                            format!(
                                "scope '{}' is unknown or not granted to this client",
                                truncate(name)
                            ),
                        ));
                    }
                }
            }
            out
        }
    };
    let ttl = state.config.access_token_ttl_secs;
    let iat = now();
    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti).map_err(|_| OAuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: "no randomness".into(),
        basic: false,
    })?;
    let scope = scope_string(&scopes);
    let claims = Claims {
        iss: ISSUER.into(),
        sub: record.client_id.clone(),
        orgs: record.orgs.clone(),
        scope: scope.clone(),
        iat,
        exp: iat + ttl,
        jti: hex::encode(jti),
    };
    let secret = state
        .store
        .shared_secret(SIGNING_SECRET)
        .await
        .map_err(|e| OAuthError::unavailable("reading the signing secret", &e))?;
    let access_token = sign(&claims, &secret).ok_or_else(|| OAuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: "the access token could not be signed".into(),
        basic: false,
    })?;
    let body = TokenResponse { access_token, token_type: "Bearer", expires_in: ttl, scope };
    let value = serde_json::to_value(&body).unwrap_or_default();
    Ok(oauth_json(StatusCode::OK, &value))
}

fn scope_string(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.name()).collect::<Vec<_>>().join(" ")
}

fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS256","typ":"JWT"}

/// HMAC-SHA256 keyed with `secret` (HMAC takes keys of any length, so this is always
/// `Some`; the `Option` keeps panics out of request paths).
fn mac(secret: &[u8; 32]) -> Option<Hmac<Sha256>> {
    <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()
}

fn sign(claims: &Claims, secret: &[u8; 32]) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).ok()?);
    let signing_input = format!("{HEADER_B64}.{payload}");
    let mut m = mac(secret)?;
    m.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    Some(format!("{signing_input}.{sig}"))
}

/// Whether a bearer token is shaped like a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// Verifies an access token and the client behind it; the credential it grants.
pub async fn verify(state: &AppState, token: &str) -> Result<Credential, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InvalidCredential, "the access token is not valid");
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(invalid());
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
    let secret = state.store.shared_secret(SIGNING_SECRET).await?;
    let mut m = mac(&secret).ok_or_else(invalid)?;
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig).map_err(|_| invalid())?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    if claims.iss != ISSUER {
        return Err(invalid());
    }
    if claims.exp <= now() {
        return Err(ApiError::new(ErrorCode::InvalidCredential, "the access token has expired"));
    }
    // The client must still exist; its current grants bound the token's.
    let (client, _) = state.store.client(&claims.sub).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidCredential, "the client of this access token is revoked")
    })?;
    let scopes: Vec<Scope> = claims
        .scope
        .split_ascii_whitespace()
        .filter_map(Scope::parse)
        .filter(|s| client.scopes.contains(s))
        .collect();
    let orgs: Vec<OrganizationSid> =
        claims.orgs.iter().copied().filter(|o| client.orgs.contains(o)).collect();
    Ok(Credential { id: client.client_id, orgs, scopes, expires: Some(claims.exp) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_constant_is_the_documented_header() {
        let h = URL_SAFE_NO_PAD.decode(HEADER_B64).unwrap();
        assert_eq!(h, br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode("CL1:a%2Bb"));
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        assert_eq!(basic_credentials(&h), Some(Ok(("CL1".into(), "a+b".into()))));
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&h), Some(Err(())));
        h.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
    }
}
