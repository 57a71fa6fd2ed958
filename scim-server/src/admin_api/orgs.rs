//! `/admin/v1/organizations`: create, list, read, rename, delete, and policies.

use super::AdminCaller;
use crate::admin::{self, OrgDeletedOut, OrgOut};
use crate::body::ScimJson;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use http::StatusCode;
use scim_store::Organization;
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/organizations", get(list).post(create))
        .route("/admin/v1/organizations/{org}", get(read).patch(rename).delete(delete))
        .route(
            "/admin/v1/organizations/{org}/policies/{policy}",
            put(set_policy).delete(unset_policy),
        )
}

/// `POST /admin/v1/organizations` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrg {
    name: String,
    #[serde(default)]
    policies: Vec<String>,
}

/// `PATCH /admin/v1/organizations/{org}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

/// `DELETE /admin/v1/organizations/{org}` query.
#[derive(Debug, Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

async fn list(
    _: AdminCaller,
    State(st): State<AppState>,
) -> Result<Json<Vec<Organization>>, ApiError> {
    Ok(Json(admin::list_orgs(st.store.as_ref()).await?))
}

async fn create(
    _: AdminCaller,
    State(st): State<AppState>,
    ScimJson(body): ScimJson<NewOrg>,
) -> Result<(StatusCode, Json<OrgOut>), ApiError> {
    let policies = admin::parse_policies(&body.policies)?;
    let out = admin::create_org(st.store.as_ref(), &body.name, &policies).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

async fn read(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(org): Path<String>,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(admin::resolve_org(st.store.as_ref(), &org).await?))
}

async fn rename(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(org): Path<String>,
    ScimJson(body): ScimJson<Rename>,
) -> Result<Json<OrgOut>, ApiError> {
    Ok(Json(admin::rename_org(st.store.as_ref(), &org, &body.name).await?))
}

/// The HTTP `DELETE` is the confirmation the CLI asks for with `--yes`; an organization
/// that still holds users or groups needs `?force=true`, as the CLI needs `--force`.
async fn delete(
    _: AdminCaller,
    State(st): State<AppState>,
    Path(org): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<OrgDeletedOut>, ApiError> {
    Ok(Json(admin::delete_org(st.store.as_ref(), &org, true, q.force).await?))
}

async fn set_policy(
    _: AdminCaller,
    State(st): State<AppState>,
    Path((org, policy)): Path<(String, String)>,
) -> Result<Json<OrgOut>, ApiError> {
    change(&st, &org, &policy, true).await
}

async fn unset_policy(
    _: AdminCaller,
    State(st): State<AppState>,
    Path((org, policy)): Path<(String, String)>,
) -> Result<Json<OrgOut>, ApiError> {
    change(&st, &org, &policy, false).await
}

async fn change(
    st: &AppState,
    org: &str,
    policy: &str,
    on: bool,
) -> Result<Json<OrgOut>, ApiError> {
    // The organization first: an unknown one is 404 whatever the policy.
    let o = admin::resolve_org(st.store.as_ref(), org).await?;
    let policies = admin::parse_policies(&[policy.to_owned()])?;
    let sid = o.sid.to_string();
    Ok(Json(admin::change_policies(st.store.as_ref(), &sid, &policies, on).await?))
}
