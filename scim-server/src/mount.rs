//! Where a request is mounted: the two route families (`docs/http.md`), the split of a path
//! into its family and the family-relative rest, and the service's origin and docs base as
//! a client sees them.

use crate::config::{Config, DOCS_PATH};
use http::{HeaderMap, HeaderName, header};
use std::borrow::Cow;

/// Which base path a request came through (`docs/http.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// A: `/scim/v2`, the organization comes from the credential.
    Rfc,
    /// B: `/Organizations/{OrganizationSid}/scim`, the organization is in the path.
    Organization,
}

impl Family {
    /// A short label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rfc => "rfc",
            Self::Organization => "organization",
        }
    }
}

/// Where a family-relative request was mounted; inserted into the request's extensions by
/// the router before the family-relative routes see the (stripped) path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The family.
    pub family: Family,
    /// The path prefix that was stripped: `/scim/v2` or `/Organizations/{sid}/scim`.
    pub prefix: String,
    /// Family B: the `{OrganizationSid}` path segment as sent (validated by the extractor).
    pub org: Option<String>,
}

impl Mount {
    /// Splits a request path into its mount and the family-relative rest (`/Users/...`,
    /// or `/` for the base itself); `None` for paths outside both families.
    ///
    /// Family A forgives trailing slashes (`/Users/` is `/Users`). Family B takes the paths
    /// of its contract literally: `/Users/` is `/Users/{UserSid}` with an empty sid, which
    /// names no user (404), not the list.
    pub fn split(path: &str) -> Option<(Mount, String)> {
        const RFC: &str = "/scim/v2";
        if let Some(rest) = strip_base(path, RFC) {
            let mount = Mount { family: Family::Rfc, prefix: RFC.to_owned(), org: None };
            return Some((mount, rest));
        }
        let after = path.strip_prefix("/Organizations/")?;
        let (org, tail) = after.split_once('/')?;
        let rest = strip_base_literal(tail, "scim")?;
        if org.is_empty() {
            return None;
        }
        let mount = Mount {
            family: Family::Organization,
            prefix: format!("/Organizations/{org}/scim"),
            org: Some(org.to_owned()),
        };
        Some((mount, rest))
    }
}

/// `path` below `base`: `base` itself and `base/` give `/`, `base/x` gives `/x`.
pub(crate) fn strip_base(path: &str, base: &str) -> Option<String> {
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        Some("/".to_owned())
    } else if rest.starts_with('/') {
        // `/Users/` is `/Users`: some clients append a slash to every path.
        let trimmed = rest.trim_end_matches('/');
        Some(if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() })
    } else {
        None
    }
}

/// `path` below `base` as written, but for the base itself (`base` and `base/` give `/`).
fn strip_base_literal(path: &str, base: &str) -> Option<String> {
    let rest = path.strip_prefix(base)?;
    match rest {
        "" | "/" => Some("/".to_owned()),
        r if r.starts_with('/') => Some(r.to_owned()),
        _ => None,
    }
}

/// The base of this request's `moreInfo` links: the configured `docs_base`, else the
/// service's own [`origin_of`] followed by [`DOCS_PATH`], where it serves `errors` itself.
pub fn docs_base(headers: &HeaderMap, config: &Config) -> String {
    match &config.docs_base {
        Some(base) => docs_base_of(Some(base), "").into_owned(),
        None => docs_base_of(None, &origin_of(headers, config)).into_owned(),
    }
}

/// [`docs_base`] from its parts: the configured base (`configured`) or the service's own
/// [`DOCS_PATH`] on `origin`.
pub fn docs_base_of<'a>(configured: Option<&'a str>, origin: &str) -> Cow<'a, str> {
    match configured {
        Some(base) => Cow::Borrowed(base.trim_end_matches('/')),
        None => Cow::Owned(format!("{origin}{DOCS_PATH}")),
    }
}

/// `scheme://authority` of the service as the client sees it: the configured
/// `public_url`, else `X-Forwarded-Proto`/`X-Forwarded-Host`/`Host`, else `listen`; the
/// scheme is `https` whenever the service serves TLS itself.
pub fn origin_of(headers: &HeaderMap, config: &Config) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    // Header names parsed once: a `&str` name is parsed and checked at every lookup.
    static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    static FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
    let first = |name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    // With built-in TLS every client came over HTTPS, whatever a header claims.
    let proto = match first(&FORWARDED_PROTO) {
        _ if config.tls() => "https",
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = first(&FORWARDED_HOST)
        .or_else(|| first(&header::HOST))
        .filter(|h| valid_host(h))
        .unwrap_or(&config.listen);
    let mut origin = String::with_capacity(proto.len() + 3 + host.len());
    origin.push_str(proto);
    origin.push_str("://");
    origin.push_str(host);
    origin
}

/// A host[:port] made only of characters a URL authority may hold (no userinfo, path).
fn valid_host(h: &str) -> bool {
    h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts() {
        let (m, rest) = Mount::split("/scim/v2/Users/US1").unwrap();
        assert_eq!((m.family, rest.as_str()), (Family::Rfc, "/Users/US1"));
        assert_eq!(Mount::split("/scim/v2").unwrap().1, "/");
        assert_eq!(Mount::split("/scim/v2/").unwrap().1, "/");
        assert_eq!(Mount::split("/scim/v2/Users/").unwrap().1, "/Users");
        assert!(Mount::split("/scim/v2x").is_none());
        let (m, rest) = Mount::split("/Organizations/ORabc/scim/Groups").unwrap();
        assert_eq!(m.family, Family::Organization);
        assert_eq!(m.org.as_deref(), Some("ORabc"));
        assert_eq!(m.prefix, "/Organizations/ORabc/scim");
        assert_eq!(rest, "/Groups");
        assert_eq!(Mount::split("/Organizations/ORabc/scim").unwrap().1, "/");
        assert_eq!(Mount::split("/Organizations/ORabc/scim/").unwrap().1, "/");
        // Family B is literal: a trailing slash is an empty UserSid, not the list.
        assert_eq!(Mount::split("/Organizations/ORabc/scim/Users/").unwrap().1, "/Users/");
        assert!(Mount::split("/Organizations/ORabc/scimx").is_none());
        assert!(Mount::split("/Organizations//scim/Users").is_none());
        assert!(Mount::split("/healthz").is_none());
    }
}
