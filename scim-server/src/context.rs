//! Who is calling and on which organization: the [`RequestCtx`] extractor.
//!
//! It authenticates the bearer token, applies the per-credential rate limit, resolves the
//! organization (family A from the credential or the
//! `Scim-Organization`/`Zuora-Entity-Ids` header; family B from the path) and checks the
//! scope: GET, HEAD and searches need `scim:read`, everything else `scim:write`.

use crate::app::AppState;
use crate::config::{Config, DOCS_PATH};
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, Method, header};
use scim_core::ErrorCode;
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use scim_store::{Organization, Scope};

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

/// The authenticated context of a family-relative request.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// The organization the request acts on.
    pub org: Organization,
    /// The route family it came through.
    pub family: Family,
    /// Absolute base URL of the family, e.g. `http://127.0.0.1:8080/scim/v2`.
    pub base_url: String,
    /// The credential's scopes.
    pub scopes: Vec<Scope>,
    /// The credential's id.
    pub credential_id: String,
}

impl RequestCtx {
    /// The absolute URL of a resource on this request's family.
    pub fn location(&self, kind: ResourceKind, id: &str) -> String {
        format!("{}{}/{id}", self.base_url, kind.endpoint())
    }

    /// The absolute URL of a family-relative path (`/Schemas/urn:...`).
    pub fn url(&self, relative: &str) -> String {
        format!("{}{relative}", self.base_url)
    }

    /// Whether the credential carries `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

impl FromRequestParts<AppState> for RequestCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(ctx) = parts.extensions.get::<RequestCtx>() {
            return Ok(ctx.clone());
        }
        let Some(mount) = parts.extensions.get::<Mount>().cloned() else {
            return Err(ApiError::new(ErrorCode::Internal, "route is not mounted in a family"));
        };
        let (cred, sid) = match crate::embed::principal(state, parts).await {
            // A product's own authentication (crate::embed): it names the organization.
            Some(p) => {
                let p = p?;
                let cred =
                    Credential { id: p.actor, orgs: vec![p.org], scopes: p.scopes, expires: None };
                state.check_rate(&cred.id)?;
                (cred, p.org)
            }
            None => {
                let cred = authenticate(&parts.headers, state).await?;
                state.check_rate(&cred.id)?;
                let sid = resolve_org(&mount, &parts.headers, &cred)?;
                (cred, sid)
            }
        };
        let org = match state.auth_cache.organization(&sid) {
            Some(org) => org,
            None => {
                let org = state.store.organization(sid).await?.ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::OrganizationForbidden,
                        "the organization does not exist",
                    )
                })?;
                state.auth_cache.put_organization(org.clone());
                org
            }
        };
        let needed = required_scope(&parts.method, parts.uri.path());
        if !cred.scopes.contains(&needed) {
            return Err(ApiError::new(
                ErrorCode::InsufficientScope,
                format!("this request needs the scope {}", needed.name()),
            ));
        }
        let base_url = format!("{}{}", origin(&parts.headers, state), mount.prefix);
        let ctx = RequestCtx {
            org,
            family: mount.family,
            base_url,
            scopes: cred.scopes,
            credential_id: cred.id,
        };
        crate::log::set_org(ctx.org.sid);
        crate::log::set_credential(&ctx.credential_id);
        scim_store::audit::set_actor(&ctx.credential_id);
        Ok(ctx)
    }
}

/// The scope a request needs: reads and searches `scim:read`, the rest `scim:write`.
pub fn required_scope(method: &Method, path: &str) -> Scope {
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return Scope::Read;
    }
    if method == Method::POST && path.ends_with("/.search") {
        return Scope::Read;
    }
    Scope::Write
}

/// Authenticates the `Authorization: Bearer` header: a static token (looked up by its
/// SHA-256) or an OAuth2 access token (a JWT, verified by [`crate::oauth::verify`]).
pub async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<Credential, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(ErrorCode::MissingCredential, "no Authorization header"));
    };
    let invalid = || ApiError::new(ErrorCode::InvalidCredential, "the bearer token is not valid");
    let value = value.to_str().map_err(|_| invalid())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::new(
            ErrorCode::InvalidCredential,
            "the Authorization scheme must be Bearer",
        ));
    }
    let token = token.trim();
    if token.is_empty() || token.len() > 4096 {
        return Err(invalid());
    }
    let hash = crate::token::hash(token);
    if let Some(cred) = state.auth_cache.credential(&hash) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        if cred.expires.is_none_or(|exp| exp > now) {
            state.auth_cache.token_used(&state.store, &cred.id);
            return Ok(cred);
        }
    }
    let cred = if crate::oauth::looks_like_jwt(token) {
        crate::oauth::verify(state, token).await?
    } else {
        let record = state.store.token_by_hash(&hash).await?.ok_or_else(invalid)?;
        let expires = record.expires.as_deref().map(crate::auth::unix_seconds);
        Credential { id: record.id, orgs: vec![record.org], scopes: record.scopes, expires }
    };
    state.auth_cache.token_used(&state.store, &cred.id);
    state.auth_cache.put_credential(hash, cred.clone());
    Ok(cred)
}

/// The organization a request acts on: family B's path, else family A's
/// `Scim-Organization`/`Zuora-Entity-Ids` header, else the credential's only organization.
fn resolve_org(
    mount: &Mount,
    headers: &HeaderMap,
    cred: &Credential,
) -> Result<OrganizationSid, ApiError> {
    let named = match (mount.family, &mount.org) {
        (Family::Organization, Some(raw)) => Some(
            OrganizationSid::parse(raw)
                .map_err(|e| ApiError::new(ErrorCode::InvalidOrganizationSid, e.to_string()))?,
        ),
        _ => org_header(headers)?,
    };
    match named {
        Some(sid) if cred.orgs.contains(&sid) => Ok(sid),
        Some(sid) => Err(ApiError::new(
            ErrorCode::OrganizationForbidden,
            format!("the credential is not granted on organization {sid}"),
        )),
        None => match cred.orgs.as_slice() {
            [only] => Ok(*only),
            [] => Err(ApiError::new(
                ErrorCode::OrganizationForbidden,
                "the credential is not granted on any organization",
            )),
            _ => Err(ApiError::new(
                ErrorCode::OrganizationRequired,
                "the credential is granted on several organizations: name one with the \
                 Scim-Organization header",
            )),
        },
    }
}

/// `Scim-Organization` (or its alias `Zuora-Entity-Ids`), parsed.
fn org_header(headers: &HeaderMap) -> Result<Option<OrganizationSid>, ApiError> {
    let value = headers.get("scim-organization").or_else(|| headers.get("zuora-entity-ids"));
    let Some(value) = value else { return Ok(None) };
    let text = value.to_str().unwrap_or_default().trim();
    OrganizationSid::parse(text)
        .map(Some)
        .map_err(|e| ApiError::new(ErrorCode::InvalidOrganizationSid, e.to_string()))
}

/// `scheme://authority` of the service as the client sees it: the configured
/// `public_url`, else `X-Forwarded-Proto`/`X-Forwarded-Host`/`Host`, else `listen`; the
/// scheme is `https` whenever the service serves TLS itself.
pub fn origin(headers: &HeaderMap, state: &AppState) -> String {
    origin_of(headers, &state.config)
}

/// The base of this request's `moreInfo` links: the configured `docs_base`, else the
/// service's own [`origin`] followed by [`DOCS_PATH`], where it serves `errors` itself.
pub fn docs_base(headers: &HeaderMap, config: &Config) -> String {
    match &config.docs_base {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => format!("{}{DOCS_PATH}", origin_of(headers, config)),
    }
}

/// [`origin`] from the configuration alone.
fn origin_of(headers: &HeaderMap, config: &Config) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    // With built-in TLS every client came over HTTPS, whatever a header claims.
    let proto = match first("x-forwarded-proto") {
        _ if config.tls() => "https",
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = first("x-forwarded-host")
        .or_else(|| first(header::HOST.as_str()))
        .filter(|h| valid_host(h))
        .unwrap_or(&config.listen);
    format!("{proto}://{host}")
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

    fn cred(orgs: &[OrganizationSid]) -> Credential {
        Credential {
            id: "CL1".into(),
            orgs: orgs.to_vec(),
            scopes: Scope::ALL.to_vec(),
            expires: None,
        }
    }

    #[test]
    fn multi_organization_credentials_must_name_one() {
        let (a, b) = (OrganizationSid::from_u128(1), OrganizationSid::from_u128(2));
        let rfc = Mount { family: Family::Rfc, prefix: "/scim/v2".into(), org: None };
        let none = HeaderMap::new();
        assert_eq!(resolve_org(&rfc, &none, &cred(&[a])).unwrap(), a);
        let e = resolve_org(&rfc, &none, &cred(&[a, b])).unwrap_err();
        assert_eq!(e.code(), ErrorCode::OrganizationRequired);
        assert!(e.0.detail.contains("Scim-Organization"));
        let mut named = HeaderMap::new();
        named.insert("scim-organization", b.to_string().parse().unwrap());
        assert_eq!(resolve_org(&rfc, &named, &cred(&[a, b])).unwrap(), b);
        let mut alias = HeaderMap::new();
        alias.insert("zuora-entity-ids", a.to_string().parse().unwrap());
        assert_eq!(resolve_org(&rfc, &alias, &cred(&[a, b])).unwrap(), a);
        let e = resolve_org(&rfc, &named, &cred(&[a])).unwrap_err();
        assert_eq!(e.code(), ErrorCode::OrganizationForbidden);
        // Family B: the path decides, the header is ignored.
        let org_b = Mount {
            family: Family::Organization,
            prefix: format!("/Organizations/{b}/scim"),
            org: Some(b.to_string()),
        };
        assert_eq!(resolve_org(&org_b, &alias, &cred(&[a, b])).unwrap(), b);
    }

    #[test]
    fn scopes() {
        assert_eq!(required_scope(&Method::GET, "/Users"), Scope::Read);
        assert_eq!(required_scope(&Method::POST, "/Users/.search"), Scope::Read);
        assert_eq!(required_scope(&Method::POST, "/.search"), Scope::Read);
        assert_eq!(required_scope(&Method::POST, "/Users"), Scope::Write);
        assert_eq!(required_scope(&Method::PATCH, "/Users/x"), Scope::Write);
    }
}
