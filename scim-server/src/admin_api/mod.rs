//! The admin HTTP API (`/admin/v1`, `docs/admin-api.md`): organizations, policies, tokens,
//! OAuth clients, event streams and the audit trail over HTTP, with the rules and JSON shapes of the `admin` commands (it
//! calls the same [`crate::admin`] functions).
//!
//! Off unless `admin_api` is set; then served on the main listener, or only on
//! `admin_listen` when that is set (`admin_service`).
//!
//! Invariants:
//! - every route takes an [`AdminCaller`]: a static token whose only scope is `admin`. A
//!   SCIM credential never reaches a handler here (403), and an admin token reaches no SCIM
//!   route (it carries no SCIM scope);
//! - errors are SCIM error bodies (RFC 7644 3.12) rendered by [`crate::error`], with the
//!   codes of `docs/errors.md`;
//! - each family of resources is one module with its own `routes()`, merged in [`routes`]:
//!   a new family is a module and one `.merge` line.

mod credentials;
mod events;
mod orgs;

use crate::admin::AdminError;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::FromRequestParts;
use http::request::Parts;
use scim_core::ErrorCode;
use scim_store::Scope;

/// The base path of every admin route.
pub const BASE: &str = "/admin/v1";

/// Every admin route, at its full path (`/admin/v1/...`).
pub fn routes() -> Router<AppState> {
    Router::new().merge(orgs::routes()).merge(credentials::routes()).merge(events::routes())
}

/// The authenticated caller of an admin route: a static token with the scope `admin`.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    /// The token's id (`TK...`).
    pub credential_id: String,
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The same verification as the SCIM routes: SHA-256 lookup, expiry, revocation.
        let cred = crate::context::authenticate(&parts.headers, state).await?;
        state.check_rate(&cred.id)?;
        if !cred.scopes.contains(&Scope::Admin) {
            return Err(ApiError::new(
                ErrorCode::InsufficientScope,
                "the admin API needs a token with the scope admin \
                 (scim-server admin token create --scope admin)",
            ));
        }
        crate::log::set_credential(&cred.id);
        Ok(AdminCaller { credential_id: cred.id })
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Store(s) => ApiError::from(s),
            AdminError::Usage(d) => ApiError::new(ErrorCode::InvalidAdminRequest, d),
            AdminError::NotFound(d) => ApiError::new(ErrorCode::OrganizationNotFound, d),
            AdminError::NotEmpty(d) => ApiError::new(ErrorCode::OrganizationNotEmpty, d),
            AdminError::Random(d) => {
                tracing::error!(error = %d, "random source failed");
                ApiError::new(ErrorCode::Internal, "the random source failed")
            }
        }
    }
}
