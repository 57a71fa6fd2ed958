//! The client's error type: every failure, typed.
//!
//! A server that answers with an error status gives [`Error::Api`], whose [`ApiError`]
//! carries the status, the RFC 7644 3.12 `scimType` and `detail`, and the numeric code when
//! the server sends one (in the body's `code`, or as the fragment of a `Link: <...#CODE>;
//! rel="help"` header, RFC 8288). A body that is not a SCIM error (a proxy's HTML page, a
//! plain-text 502) still gives an [`ApiError`], with the start of the body as its detail.

use http::HeaderMap;
use scim_core::error::{ERROR_SCHEMA, ErrorCode};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when calling a SCIM server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status (4xx or 5xx).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request did not get an answer: connection refused or reset, DNS, TLS, timeout.
    #[error("{kind} error calling {url}: {source}")]
    Transport {
        /// What kind of failure it was.
        kind: TransportKind,
        /// The URL that was called (without query string).
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The OAuth2 token endpoint refused the client credentials (RFC 6749 section 5.2), or
    /// answered with something that is not a token.
    #[error("OAuth2 token endpoint answered {status}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        /// The HTTP status of the token endpoint's answer.
        status: u16,
        /// The RFC 6749 5.2 `error` (e.g. `invalid_client`), or a description of what was
        /// wrong with the answer.
        error: String,
        /// The RFC 6749 5.2 `error_description`, when sent.
        description: Option<String>,
    },
    /// The server answered with a success status but a body this client cannot read.
    #[error("unexpected response from {url}: {detail}")]
    InvalidResponse {
        /// The URL that was called.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The request is over a limit the server advertises in its ServiceProviderConfig
    /// (bulk `maxOperations` or `maxPayloadSize`); nothing was sent.
    #[error("request over the server's limit: {0}")]
    LimitExceeded(String),
    /// The server's ServiceProviderConfig says it does not support what was asked (filter,
    /// sort, bulk, PATCH, ETags); nothing was sent.
    #[error("not supported by the server: {0}")]
    Unsupported(String),
    /// A filter built with [`crate::filter`] is malformed (a bad attribute path, a number
    /// that is not finite); nothing was sent.
    #[error("invalid filter: {0}")]
    Filter(#[from] crate::filter::FilterBuildError),
    /// An argument cannot be sent as given (a malformed base URL, an id that is empty, a
    /// header value with control characters).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// The kind of a [`Error::Transport`] failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be made (refused, DNS, TLS handshake).
    Connect,
    /// The configured timeout elapsed.
    Timeout,
    /// Anything else (a connection reset mid-request, a body that could not be read).
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connection",
            Self::Timeout => "timeout",
            Self::Other => "transport",
        })
    }
}

impl Error {
    /// The server's error, when the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of the server's answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            Self::OAuth { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn transport(url: &reqwest::Url, source: reqwest::Error) -> Self {
        let kind = if source.is_timeout() {
            TransportKind::Timeout
        } else if source.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        };
        let mut url = url.clone();
        url.set_query(None);
        Self::Transport { kind, url: url.to_string(), source }
    }

    pub(crate) fn invalid_response(url: &reqwest::Url, detail: impl Into<String>) -> Self {
        Self::InvalidResponse { url: url.to_string(), detail: detail.into() }
    }
}

/// An error answer from the server (RFC 7644 3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The `scimType` keyword (`uniqueness`, `invalidFilter`, ...), when sent.
    pub scim_type: Option<String>,
    /// The `detail`; for a body that is not a SCIM error, its first 512 characters.
    pub detail: Option<String>,
    /// The numeric error code, from the body's `code` or the `Link` header's fragment.
    /// Codes of this project's server are listed in `docs/errors.md`; other servers may
    /// send their own.
    pub code: Option<u32>,
    /// The body's `moreInfo`, or the `Link` header's `rel="help"` target.
    pub more_info: Option<String>,
    /// The `X-Request-Id` of the response, to quote when reporting a problem.
    pub request_id: Option<String>,
    /// The delay the server asked for in `Retry-After` (429 and 503).
    pub retry_after: Option<Duration>,
    /// Whether the body was a SCIM error message (`schemas` holds the error URN, or it
    /// has a `status` member).
    pub scim_body: bool,
}

impl ApiError {
    /// The code as this project's catalogue knows it (`None` for codes of other servers).
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.and_then(ErrorCode::from_code)
    }

    /// Reads an error answer: status, headers and body bytes.
    pub fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let link = help_link(headers);
        let mut e = ApiError {
            status,
            scim_type: None,
            detail: None,
            code: link.as_deref().and_then(code_of_link),
            more_info: link,
            request_id: header_str(headers, "x-request-id").map(str::to_owned),
            retry_after: crate::retry::retry_after(headers),
            scim_body: false,
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) if is_scim_error(&m) => {
                e.scim_body = true;
                let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
                e.scim_type = s("scimType");
                e.detail = s("detail");
                if let Some(c) = m.get("code").and_then(code_value) {
                    e.code = Some(c);
                }
                if let Some(more) = s("moreInfo") {
                    e.more_info = Some(more);
                }
            }
            _ => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if !text.is_empty() {
                    e.detail = Some(text.chars().take(512).collect());
                }
            }
        }
        e
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SCIM server answered {}", self.status)?;
        if let Some(t) = &self.scim_type {
            write!(f, " ({t})")?;
        }
        if let Some(c) = self.code {
            write!(f, " code {c}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

fn is_scim_error(m: &serde_json::Map<String, Value>) -> bool {
    let has_schema = m
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(ERROR_SCHEMA)));
    has_schema || m.contains_key("status")
}

fn code_value(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The target of the first `Link` header entry with `rel="help"` (RFC 8288).
fn help_link(headers: &HeaderMap) -> Option<String> {
    headers.get_all(http::header::LINK).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(',').find_map(|entry| {
            let (target, params) = entry.trim().split_once('>')?;
            let target = target.trim().strip_prefix('<')?;
            let is_help = params.split(';').any(|p| {
                let p = p.trim();
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("rel")
                        && v.trim()
                            .trim_matches('"')
                            .split(' ')
                            .any(|r| r.eq_ignore_ascii_case("help"))
                })
            });
            is_help.then(|| target.to_owned())
        })
    })
}

/// The numeric fragment of a link (`https://host/docs/errors#20409` -> 20409).
fn code_of_link(link: &str) -> Option<u32> {
    let (_, frag) = link.rsplit_once('#')?;
    if frag.is_empty() || !frag.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    frag.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn code_from_link_header_and_body() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            HeaderValue::from_static("<https://docs.test/errors#20409>; rel=\"help\""),
        );
        let body = br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"taken"}"#;
        let e = ApiError::from_response(409, &h, body);
        assert_eq!(e.code, Some(20409));
        assert_eq!(e.error_code(), Some(ErrorCode::Uniqueness));
        assert_eq!(e.scim_type.as_deref(), Some("uniqueness"));
        assert_eq!(e.detail.as_deref(), Some("taken"));
        assert!(e.scim_body);

        let body = br#"{"status":404,"detail":"no","code":"20404"}"#;
        let e = ApiError::from_response(404, &HeaderMap::new(), body);
        assert_eq!(e.code, Some(20404));
    }

    #[test]
    fn non_scim_body_is_kept_as_detail() {
        let e = ApiError::from_response(502, &HeaderMap::new(), b"<html>Bad gateway</html>\n");
        assert_eq!(e.detail.as_deref(), Some("<html>Bad gateway</html>"));
        assert!(!e.scim_body);
        assert_eq!(e.code, None);
        assert!(e.to_string().contains("502"));
    }
}
