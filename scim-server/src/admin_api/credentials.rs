//! `/admin/v1/organizations/{org}/tokens` and `/admin/v1/clients`: static bearer tokens
//! (the secret shown once, in the creation's answer) and OAuth2 clients.

use super::AdminCaller;
use crate::admin::{self, ClientOut, ClientRevokedOut, TokenOut, TokenRevokedOut};
use crate::body::ScimJson;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use scim_core::ErrorCode;
use scim_store::{ClientRecord, Scope, TokenRecord};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/organizations/{org}/tokens", get(list_tokens).post(create_token))
        .route("/admin/v1/organizations/{org}/tokens/{id}", delete(revoke_token))
        .route("/admin/v1/clients", get(list_clients).post(create_client))
        .route("/admin/v1/clients/{client_id}", delete(revoke_client))
}

/// `POST .../tokens` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    scopes: Vec<String>,
    name: Option<String>,
    /// A lifetime such as `90d` (the CLI's `--expires-in`).
    expires_in: Option<String>,
}

/// `POST /admin/v1/clients` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    orgs: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// `GET /admin/v1/clients` query.
#[derive(Debug, Deserialize)]
struct ClientQuery {
    org: Option<String>,
}

async fn create_token(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(org): Path<String>,
    ScimJson(body): ScimJson<NewToken>,
) -> Result<(StatusCode, Json<TokenOut>), ApiError> {
    let store = st.store.as_ref();
    let org = admin::resolve_org(store, &org).await?.sid;
    let scopes = admin::parse_scopes(&body.scopes)?;
    if scopes.contains(&Scope::Admin) {
        // A leaked admin token must not mint admin tokens that outlive its revocation.
        return Err(ApiError::new(
            ErrorCode::InvalidAdminRequest,
            "admin tokens are created only with the CLI (scim-server admin token create \
             --scope admin)",
        ));
    }
    let lifetime = body.expires_in.as_deref().map(admin::parse_lifetime).transpose()?;
    let out = admin::create_token(store, org, scopes, body.name, None, lifetime).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list_tokens(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    let org = admin::resolve_org(st.store.as_ref(), &org).await?.sid;
    Ok(Json(admin::list_tokens(st.store.as_ref(), org).await?))
}

/// Revokes a token of the organization in the path; another organization's token is
/// answered as unknown, so a path never reaches past its organization.
async fn revoke_token(
    _: AdminCaller,
    State(st): State<AppState>,
    Path((org, id)): Path<(String, String)>,
) -> Result<Json<TokenRevokedOut>, ApiError> {
    let store = st.store.as_ref();
    let org = admin::resolve_org(store, &org).await?.sid;
    let unknown =
        || ApiError::new(ErrorCode::CredentialNotFound, format!("no live token {id} in {org}"));
    if !admin::list_tokens(store, org).await?.iter().any(|t| t.id == id) {
        return Err(unknown());
    }
    admin::revoke_token(store, &id)
        .await
        .map_err(|e| match e {
            admin::AdminError::NotFound(_) => unknown(),
            other => other.into(),
        })
        .map(Json)
}

async fn create_client(
    _: AdminCaller,
    State(st): State<AppState>,
    ScimJson(body): ScimJson<NewClient>,
) -> Result<(StatusCode, Json<ClientOut>), ApiError> {
    let store = st.store.as_ref();
    let mut sids = Vec::new();
    for o in &body.orgs {
        sids.push(admin::resolve_org(store, o).await?.sid);
    }
    let scopes = admin::parse_scopes(&body.scopes)?;
    let out = admin::create_client(store, sids, scopes).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list_clients(
    _: AdminCaller,
    State(st): State<AppState>,
    Query(q): Query<ClientQuery>,
) -> Result<Json<Vec<ClientRecord>>, ApiError> {
    let store = st.store.as_ref();
    let only = match q.org {
        Some(o) => Some(admin::resolve_org(store, &o).await?.sid),
        None => None,
    };
    Ok(Json(admin::list_clients(store, only).await?))
}

async fn revoke_client(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Json<ClientRevokedOut>, ApiError> {
    admin::revoke_client(st.store.as_ref(), &client_id).await.map(Json).map_err(|e| match e {
        admin::AdminError::NotFound(d) => ApiError::new(ErrorCode::CredentialNotFound, d),
        other => other.into(),
    })
}
