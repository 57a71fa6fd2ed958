//! [`Client`] and its [`ClientBuilder`].

use crate::auth::{Auth, OAuthClient, mark_sensitive};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::transport::Inner;
use http::HeaderValue;
use reqwest::Url;
use scim_core::sid::OrganizationSid;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::RwLock;

/// A SCIM 2.0 client for one base URL and one credential.
///
/// Cheap to clone (the connection pool, the token cache and the discovered server
/// capabilities are shared). Build one with [`Client::builder`].
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

/// Configures a [`Client`]; see [`Client::builder`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    base_url: String,
    auth: AuthConfig,
    organization: Option<OrganizationSid>,
    retry: RetryPolicy,
    gzip_threshold: Option<usize>,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    user_agent: String,
}

enum AuthConfig {
    None,
    Bearer(String),
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        scopes: Vec<String>,
    },
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Self::ClientCredentials { token_url, client_id, scopes, .. } => f
                .debug_struct("ClientCredentials")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("scopes", scopes)
                .finish_non_exhaustive(),
        }
    }
}

impl Client {
    /// Starts configuring a client for `base_url`, the SCIM base of either route family:
    /// `https://host/scim/v2` or `https://host/Organizations/{OrganizationSid}/scim` (or
    /// any other RFC 7644 server's base URL). Paths are appended to it.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            auth: AuthConfig::None,
            organization: None,
            retry: RetryPolicy::default(),
            gzip_threshold: None,
            timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("scim-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The base URL requests are made below.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The access token requests are sent with: the bearer token, or for client
    /// credentials the cached one, fetched first when none is cached or it is about to
    /// expire. `None` without a credential.
    pub async fn access_token(&self) -> Result<Option<String>> {
        let credential = self.inner.auth.credential(&self.inner.http).await?;
        Ok(credential.header.and_then(|h| {
            h.to_str().ok().map(|s| s.strip_prefix("Bearer ").unwrap_or(s).to_owned())
        }))
    }
}

impl ClientBuilder {
    /// Authenticates with a static bearer token (RFC 6750).
    pub fn bearer(mut self, token: impl Into<String>) -> Self {
        self.auth = AuthConfig::Bearer(token.into());
        self
    }

    /// Authenticates with OAuth2 client credentials (RFC 6749 section 4.4): the access
    /// token is fetched from `token_url` on first use, cached, refreshed before it expires,
    /// and fetched again once when the server answers 401. An empty `scopes` sends no
    /// `scope` parameter (the server grants its default).
    pub fn client_credentials(
        mut self,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.auth = AuthConfig::ClientCredentials {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        };
        self
    }

    /// Names the organization with `Scim-Organization` on every request, for credentials
    /// granted on several organizations (on `/scim/v2`; the organization-scoped family
    /// takes it from the path and ignores the header).
    pub fn organization(mut self, sid: OrganizationSid) -> Self {
        self.organization = Some(sid);
        self
    }

    /// The retry policy ([`RetryPolicy::default`] unless set; [`RetryPolicy::none`] turns
    /// retries off).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sends request bodies of at least `threshold` bytes gzip-compressed, with
    /// `Content-Encoding: gzip`. Off by default: RFC 7644 does not require servers to
    /// accept compressed requests (this project's server does). Responses are always
    /// accepted compressed.
    pub fn gzip_requests(mut self, threshold: usize) -> Self {
        self.gzip_threshold = Some(threshold);
        self
    }

    /// The timeout of one attempt, from sending to the end of the body (30 s by default;
    /// `None` waits forever).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout of connecting (10 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` (`scim-client/<version>` by default).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client. Fails when the base URL or token URL is not an absolute
    /// `http`/`https` URL, a token is not a valid header value, or TLS cannot be set up.
    pub fn build(self) -> Result<Client> {
        let base = parse_url(&self.base_url, "base URL")?;
        let auth = match self.auth {
            AuthConfig::None => Auth::None,
            AuthConfig::Bearer(t) => Auth::Bearer(mark_sensitive(
                HeaderValue::try_from(format!("Bearer {t}")).map_err(|_| {
                    Error::InvalidArgument("the bearer token is not a valid header value".into())
                })?,
            )),
            AuthConfig::ClientCredentials { token_url, client_id, client_secret, scopes } => {
                Auth::ClientCredentials(Box::new(OAuthClient::new(
                    parse_url(&token_url, "token URL")?,
                    client_id,
                    client_secret,
                    scopes,
                )))
            }
        };
        let organization = self
            .organization
            .map(|sid| HeaderValue::try_from(sid.to_string()))
            .transpose()
            .map_err(|_| Error::InvalidArgument("organization sid".into()))?;
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .gzip(true)
            .user_agent(self.user_agent)
            .connect_timeout(self.connect_timeout);
        if let Some(t) = self.timeout {
            http = http.timeout(t);
        }
        let http = http
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth,
                organization,
                retry: self.retry,
                gzip_threshold: self.gzip_threshold,
                capabilities: RwLock::new(None),
            }),
        })
    }
}

fn parse_url(s: &str, what: &str) -> Result<Url> {
    let url = Url::parse(s).map_err(|e| Error::InvalidArgument(format!("{what} {s:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(Error::InvalidArgument(format!("{what} {s:?} is not an http or https URL")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::InvalidArgument(format!("{what} {s:?} has a query or fragment")));
    }
    Ok(url)
}
