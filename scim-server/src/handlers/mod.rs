//! Resource handlers: Users, Groups, search, Bulk (RFC 7644 3), bulk deactivate.
//!
//! Layout: [`routes`] maps paths to the thin HTTP adapters in `routes` (the `/Users` and
//! `/Groups` ones through `hot`, which the edge also calls without the router); the operations
//! themselves live in `ops` (create, get, replace, patch, delete), `search` (list,
//! `.search`, root search) and `bulk` (`/Bulk`, `/Users/delete`), so that `/Bulk` runs
//! exactly the code of the single routes. `idempotency` wraps every POST and PATCH route
//! once; `support` holds the small pure helpers (ETags, member rows, projections).
//!
//! Choices where the RFCs leave room:
//! - PATCH answers 200 with the resource (projected per `attributes`/
//!   `excludedAttributes`); 204 only when the client sends `Prefer: return=minimal`
//!   (RFC 7240), since conformance testers fail a 204 the client did not ask for.
//! - A PATCH body without `schemas` is accepted; one whose `schemas` does not name the
//!   PatchOp URN is 400 `invalidSyntax` (RFC 7644 3.5.2).
//! - PUT without `password` leaves the stored password hash alone: it is writeOnly, so
//!   clients cannot send it back.

mod bulk;
pub(crate) mod hot;
mod idempotency;
mod ops;
mod routes;
pub(crate) mod search;
mod support;

use crate::state::AppState;
use axum::Router;
use axum::routing::post;
use idempotency::idempotent;
use routes::{Groups, Users};

pub use idempotency::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};

/// The family-relative resource routes (`/Users`, `/Groups`, `/Bulk`, `/.search`, ...).
pub fn routes() -> Router<AppState> {
    hot::routes()
        .route("/Users/.search", post(idempotent(routes::search_post::<Users>)))
        .route("/Users/delete", post(idempotent(routes::deactivate)))
        .route("/Groups/.search", post(idempotent(routes::search_post::<Groups>)))
        .route("/Bulk", post(idempotent(routes::bulk)))
        .route("/.search", post(idempotent(routes::search_root)))
}
