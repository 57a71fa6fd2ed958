//! Discovery endpoints (RFC 7644 section 4): `ServiceProviderConfig`, `Schemas`,
//! `ResourceTypes`, and `/Me` (501). They need a valid credential on the organization
//! (any scope that allows reads), so their answers can be family- and host-specific.

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::response::scim_response;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{any, get};
use http::StatusCode;
use scim_core::ErrorCode;
use scim_core::message::{
    AuthenticationScheme, BulkConfig, FilterConfig, ListResponse, PaginationConfig,
    ServiceProviderConfig, Supported,
};
use scim_core::resource::Meta;
use scim_core::schema::{
    RESOURCE_TYPE_SCHEMA, ResourceType, SCHEMA_SCHEMA, SERVICE_PROVIDER_CONFIG_SCHEMA, Schema,
};
use serde::Serialize;

/// The discovery routes, family-relative.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(base))
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{uri}", get(schema))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Me", any(me))
}

/// A schema as served: the document plus `schemas` and `meta`.
#[derive(Serialize)]
struct SchemaDoc<'a> {
    schemas: [&'static str; 1],
    #[serde(flatten)]
    schema: &'a Schema,
    meta: Meta,
}

/// A resource type as served.
#[derive(Serialize)]
struct ResourceTypeDoc<'a> {
    schemas: [&'static str; 1],
    #[serde(flatten)]
    resource_type: &'a ResourceType,
    meta: Meta,
}

fn meta(resource_type: &str, location: String) -> Meta {
    Meta {
        resource_type: Some(resource_type.to_owned()),
        location: Some(location),
        ..Meta::default()
    }
}

fn schema_doc<'a>(ctx: &RequestCtx, s: &'a Schema) -> SchemaDoc<'a> {
    SchemaDoc {
        schemas: [SCHEMA_SCHEMA],
        schema: s,
        meta: meta("Schema", ctx.url(&format!("/Schemas/{}", s.id))),
    }
}

fn resource_type_doc<'a>(ctx: &RequestCtx, rt: &'a ResourceType) -> ResourceTypeDoc<'a> {
    ResourceTypeDoc {
        schemas: [RESOURCE_TYPE_SCHEMA],
        resource_type: rt,
        meta: meta("ResourceType", ctx.url(&format!("/ResourceTypes/{}", rt.id))),
    }
}

/// The ServiceProviderConfig this configuration truthfully supports; its documentation
/// link below `docs_base` (the request's, [`crate::mount::docs_base`]).
pub fn service_provider_config_doc(
    state: &AppState,
    docs_base: &str,
    location: Option<String>,
) -> ServiceProviderConfig {
    let c = &state.config;
    ServiceProviderConfig {
        schemas: vec![SERVICE_PROVIDER_CONFIG_SCHEMA.to_owned()],
        // The one page every docs base serves (moreInfo links point into it).
        documentation_uri: Some(format!("{}/errors", docs_base.trim_end_matches('/'))),
        patch: Supported { supported: true },
        bulk: BulkConfig {
            supported: true,
            max_operations: c.bulk_max_operations,
            max_payload_size: c.bulk_max_payload_bytes,
        },
        filter: FilterConfig { supported: true, max_results: c.max_page_size },
        change_password: Supported { supported: false },
        sort: Supported { supported: true },
        etag: Supported { supported: true },
        pagination: Some(PaginationConfig {
            cursor: true,
            index: true,
            default_pagination_method: Some("index".to_owned()),
            default_page_size: Some(c.default_page_size),
            max_page_size: Some(c.max_page_size),
            cursor_timeout: Some(c.cursor_timeout_secs),
        }),
        authentication_schemes: vec![AuthenticationScheme {
            kind: "oauthbearertoken".to_owned(),
            name: "OAuth Bearer Token".to_owned(),
            description: "A static bearer token from `scim-server admin token create`, or an \
                          OAuth2 access token from POST /oauth2/token (client credentials), \
                          sent as `Authorization: Bearer <token>`"
                .to_owned(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".to_owned()),
            documentation_uri: None,
            primary: true,
        }],
        meta: Some(Meta {
            resource_type: Some("ServiceProviderConfig".to_owned()),
            location,
            ..Meta::default()
        }),
    }
}

async fn service_provider_config(
    ctx: RequestCtx,
    State(state): State<AppState>,
    headers: http::HeaderMap,
) -> Response {
    let docs_base = crate::mount::docs_base(&headers, &state.config);
    let location = Some(ctx.url("/ServiceProviderConfig"));
    let doc = service_provider_config_doc(&state, &docs_base, location);
    scim_response(StatusCode::OK, &doc)
}

async fn schemas(ctx: RequestCtx, State(state): State<AppState>) -> Response {
    let docs: Vec<_> = state.registry.schemas().map(|s| schema_doc(&ctx, s)).collect();
    let total = docs.len() as u64;
    scim_response(StatusCode::OK, &ListResponse::new(docs, total, 1))
}

async fn schema(
    ctx: RequestCtx,
    State(state): State<AppState>,
    Path(uri): Path<String>,
) -> Result<Response, ApiError> {
    let s = state.registry.schema(&uri).ok_or_else(|| {
        ApiError::new(ErrorCode::ResourceNotFound, format!("no schema '{}'", truncate(&uri)))
    })?;
    Ok(scim_response(StatusCode::OK, &schema_doc(&ctx, s)))
}

async fn resource_types(ctx: RequestCtx, State(state): State<AppState>) -> Response {
    let docs: Vec<_> =
        state.registry.resource_types().into_iter().map(|rt| resource_type_doc(&ctx, rt)).collect();
    let total = docs.len() as u64;
    scim_response(StatusCode::OK, &ListResponse::new(docs, total, 1))
}

async fn resource_type(
    ctx: RequestCtx,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let kind = state.registry.resource_type_by_name(&name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("no resource type '{}'", truncate(&name)),
        )
    })?;
    Ok(scim_response(StatusCode::OK, &resource_type_doc(&ctx, state.registry.resource_type(kind))))
}

/// The family base itself (`/scim/v2`, e.g. `/scim/v2?aadOptscim062020` as a tenant URL):
/// the resource types, as a ListResponse.
async fn base(ctx: RequestCtx, state: State<AppState>) -> Response {
    resource_types(ctx, state).await
}

async fn me() -> ApiError {
    ApiError::new(
        ErrorCode::NotImplemented,
        "/Me is not supported: this service has no end-user authentication",
    )
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}
