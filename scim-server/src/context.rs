//! Who is calling and on which organization: the [`RequestCtx`] extractor.
//!
//! It authenticates the bearer token, applies the per-credential rate limit, resolves the
//! organization (family A from the credential or the
//! `Scim-Organization`/`Zuora-Entity-Ids` header; family B from the path) and checks the
//! scope: GET, HEAD and searches need `scim:read`, everything else `scim:write`.

pub use crate::auth::Credential;
use crate::error::{ApiError, RenderCtx};
pub use crate::mount::{Family, Mount};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, Method, header};
use scim_core::ErrorCode;
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use scim_store::{Organization, Scope};

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
    /// How this request's errors render (family, docs base), for errors nested in an
    /// answer such as a bulk response's.
    pub render: RenderCtx,
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
        let (cred, sid) = match principal(state, parts).await {
            // A product's own authentication (the `embed` API): it names the organization.
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
        let render = match parts.extensions.get::<RenderCtx>() {
            Some(r) => r.with_family(Some(mount.family)),
            // Not behind the edge (which works the origin out once per request).
            None => RenderCtx {
                origin: origin(&parts.headers, state).into(),
                ..RenderCtx::fallback().with_family(Some(mount.family))
            },
        };
        let mut base_url = String::with_capacity(render.origin.len() + mount.prefix.len());
        base_url.push_str(&render.origin);
        base_url.push_str(&mount.prefix);
        let ctx = RequestCtx {
            org,
            family: mount.family,
            base_url,
            scopes: cred.scopes,
            credential_id: cred.id,
            render,
        };
        crate::log::set_org(ctx.org.sid);
        crate::log::set_credential(&ctx.credential_id);
        scim_store::audit::set_actor(&ctx.credential_id);
        Ok(ctx)
    }
}

/// Authenticates with a product's own authentication (`crate::hooks::Authenticate`):
/// `None` when there is none.
async fn principal(
    st: &AppState,
    parts: &Parts,
) -> Option<Result<crate::hooks::Principal, ApiError>> {
    let auth = st.embedding.auth.as_ref()?;
    Some(auth.authenticate(parts).await.map_err(|r| match r {
        crate::hooks::Refusal::Unauthenticated(d) => ApiError::new(ErrorCode::MissingCredential, d),
        crate::hooks::Refusal::Forbidden(d) => ApiError::new(ErrorCode::OrganizationForbidden, d),
    }))
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
    crate::mount::origin_of(headers, &state.config)
}

#[cfg(test)]
mod tests {
    use super::*;

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
