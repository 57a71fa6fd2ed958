//! The application: the router that assembles both route families, the operational
//! endpoints and the layers around them, over the shared state ([`crate::state`]).
//!
//! Both families are served by one family-relative router: the edge
//! ([`crate::front`]) strips `/scim/v2` or `/Organizations/{OrganizationSid}/scim` from the
//! path, records the [`crate::mount::Mount`] in the request's extensions and hands the
//! request on, so every handler sees `/Users/{id}` whatever the family, and path extractors
//! see only their own parameters.

use crate::middleware;
pub use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;

/// The whole service: both route families, the operational endpoints, and every layer, as
/// an axum `Router` (for tests, and for a product that mounts the service in its own
/// application). The binary's listener serves [`service`] instead, the same stack without
/// the `Router` around it.
pub fn router(state: AppState) -> Router {
    Router::new().fallback_service(service(&state))
}

/// The whole service as one `tower::Service` (see [`crate::front`]).
pub fn service(state: &AppState) -> crate::front::Stack {
    // Install the metrics recorder before the first request is counted.
    let _ = crate::ops::prometheus();
    let family = family_routes(state);
    let mut ops = crate::ops::routes().merge(crate::oauth::routes()).merge(crate::events::routes());
    // The admin API rides on this listener only when it has none of its own.
    if state.config.admin_api && state.config.admin_listen.is_none() {
        ops = ops.merge(crate::admin_api::routes());
        if state.console.is_some() {
            ops = ops.merge(crate::console::routes());
        }
    }
    let ops = finish(ops, state);
    crate::front::stack(state, family, ops, true)
}

/// The family-relative routes alone, for a router nested in a product's application
/// (the `embed` module): every path is below the mount point, on family A's rules.
pub(crate) fn nested_service(state: &AppState) -> crate::front::Stack {
    let family = family_routes(state);
    crate::front::nested_stack(state, family)
}

fn family_routes(state: &AppState) -> Router {
    let family = Router::new().merge(crate::discovery::routes()).merge(crate::handlers::routes());
    finish(family, state)
}

/// The layers every router of the service has inside the edge: SCIM errors for an unknown
/// route or method, the body limit and the tracking header, over the shared state.
fn finish(routes: Router<AppState>, state: &AppState) -> Router {
    routes
        .fallback(middleware::unknown_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::TrackLayer)
        .with_state(state.clone())
}

/// The service of the `admin_listen` address: the admin API (`/admin/v1`) and the
/// operational endpoints, behind the same edge as [`service`] (request ids, limits, SCIM
/// errors); the SCIM families are unknown routes there.
pub fn admin_service(state: &AppState) -> crate::front::Stack {
    let _ = crate::ops::prometheus();
    let family = Router::new().fallback(middleware::unknown_route).with_state(state.clone());
    let mut ops = crate::ops::routes().merge(crate::admin_api::routes());
    if state.console.is_some() {
        ops = ops.merge(crate::console::routes());
    }
    let ops = finish(ops, state);
    crate::front::stack(state, family, ops, false)
}
