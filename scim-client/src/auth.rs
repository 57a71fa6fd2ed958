//! Credentials: a static bearer token, or OAuth2 client credentials (RFC 6749 section
//! 4.4) whose access token is fetched on first use, cached, refreshed shortly before it
//! expires, and fetched again once when the server answers 401.

use crate::error::{Error, Result};
use http::HeaderValue;
use reqwest::Url;
use serde::Deserialize;
use std::fmt;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The longest a token is refreshed ahead of its expiry; shorter-lived tokens are
/// refreshed when a fifth of their lifetime is left.
const MAX_REFRESH_AHEAD: Duration = Duration::from_secs(60);

/// How the client authenticates.
pub(crate) enum Auth {
    /// No `Authorization` header.
    None,
    /// A static bearer token (RFC 6750).
    Bearer(HeaderValue),
    /// OAuth2 client credentials.
    ClientCredentials(Box<OAuthClient>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::ClientCredentials(c) => f
                .debug_struct("ClientCredentials")
                .field("token_url", &c.token_url.as_str())
                .field("client_id", &c.client_id)
                .field("scopes", &c.scopes)
                .finish_non_exhaustive(),
        }
    }
}

/// The credential sent with one attempt, and the cache generation it came from (so that a
/// 401 invalidates exactly the token that was refused).
pub(crate) struct Credential {
    pub(crate) header: Option<HeaderValue>,
    pub(crate) generation: Option<u64>,
}

pub(crate) struct OAuthClient {
    pub(crate) token_url: Url,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) scopes: Vec<String>,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    token: Option<CachedToken>,
    generation: u64,
}

struct CachedToken {
    header: HeaderValue,
    refresh_at: Option<Instant>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl OAuthClient {
    pub(crate) fn new(
        token_url: Url,
        client_id: String,
        client_secret: String,
        scopes: Vec<String>,
    ) -> Self {
        Self { token_url, client_id, client_secret, scopes, cache: Mutex::new(Cache::default()) }
    }
}

impl Auth {
    /// The credential for the next attempt, fetching an access token when none is cached
    /// or the cached one is about to expire. Concurrent callers wait for one fetch.
    pub(crate) async fn credential(&self, http: &reqwest::Client) -> Result<Credential> {
        match self {
            Self::None => Ok(Credential { header: None, generation: None }),
            Self::Bearer(h) => Ok(Credential { header: Some(h.clone()), generation: None }),
            Self::ClientCredentials(c) => {
                let mut cache = c.cache.lock().await;
                let fresh = cache
                    .token
                    .as_ref()
                    .filter(|t| t.refresh_at.is_none_or(|at| Instant::now() < at))
                    .map(|t| t.header.clone());
                let header = match fresh {
                    Some(h) => h,
                    None => {
                        let t = fetch(c, http).await?;
                        let h = t.header.clone();
                        cache.token = Some(t);
                        cache.generation += 1;
                        h
                    }
                };
                Ok(Credential { header: Some(header), generation: Some(cache.generation) })
            }
        }
    }

    /// Forgets the access token of `generation` after the server refused it (401); returns
    /// whether a new one can be fetched (only client credentials can).
    pub(crate) async fn invalidate(&self, generation: Option<u64>) -> bool {
        match (self, generation) {
            (Self::ClientCredentials(c), Some(g)) => {
                let mut cache = c.cache.lock().await;
                if cache.generation == g {
                    cache.token = None;
                }
                true
            }
            _ => false,
        }
    }
}

/// `POST token_url` with `grant_type=client_credentials` (RFC 6749 4.4.2), the client
/// authenticated with HTTP Basic, id and secret form-encoded first (RFC 6749 2.3.1).
async fn fetch(c: &OAuthClient, http: &reqwest::Client) -> Result<CachedToken> {
    let span = tracing::debug_span!("scim.oauth_token", url = %c.token_url);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    if !c.scopes.is_empty() {
        form.push(("scope", c.scopes.join(" ")));
    }
    let started = Instant::now();
    let res = http
        .post(c.token_url.clone())
        .basic_auth(enc(&c.client_id), Some(enc(&c.client_secret)))
        .header(http::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| Error::transport(&c.token_url, e))?;
    let status = res.status().as_u16();
    let body = res.bytes().await.map_err(|e| Error::transport(&c.token_url, e))?;
    if !(200..300).contains(&status) {
        return Err(match serde_json::from_slice::<TokenError>(&body) {
            Ok(e) => Error::OAuth { status, error: e.error, description: e.error_description },
            Err(_) => Error::OAuth {
                status,
                error: "the token endpoint refused the request".to_owned(),
                description: Some(String::from_utf8_lossy(&body).chars().take(256).collect()),
            },
        });
    }
    let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| Error::OAuth {
        status,
        error: "the token endpoint's answer is not an RFC 6749 5.1 token response".to_owned(),
        description: Some(e.to_string()),
    })?;
    if !t.token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::OAuth {
            status,
            error: format!("token_type '{}' is not Bearer", t.token_type),
            description: None,
        });
    }
    let header =
        HeaderValue::try_from(format!("Bearer {}", t.access_token)).map_err(|_| Error::OAuth {
            status,
            error: "the access token is not a valid header value".to_owned(),
            description: None,
        })?;
    let refresh_at = t.expires_in.map(|secs| {
        let life = Duration::from_secs(secs);
        started + life.saturating_sub((life / 5).min(MAX_REFRESH_AHEAD))
    });
    tracing::debug!(parent: &span, expires_in = ?t.expires_in, "fetched an access token");
    Ok(CachedToken { header: mark_sensitive(header), refresh_at })
}

pub(crate) fn mark_sensitive(mut h: HeaderValue) -> HeaderValue {
    h.set_sensitive(true);
    h
}
