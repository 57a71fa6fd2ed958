//! Resource handlers: Users, Groups, search, Bulk (RFC 7644 3), bulk deactivate.
//!
//! Layout: [`routes`] maps paths to the thin HTTP adapters in `routes`; the operations
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
use axum::routing::{get, post};
use idempotency::idempotent;
use routes::{Groups, Users};

pub use idempotency::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};

/// The family-relative resource routes (`/Users`, `/Groups`, `/Bulk`, `/.search`, ...).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Users", get(routes::list::<Users>).post(idempotent(routes::create::<Users>)))
        .route("/Users/.search", post(idempotent(routes::search_post::<Users>)))
        .route("/Users/delete", post(idempotent(routes::deactivate)))
        .route(
            "/Users/{id}",
            get(routes::get::<Users>)
                .put(routes::replace::<Users>)
                .patch(idempotent(routes::patch::<Users>))
                .delete(routes::delete::<Users>),
        )
        .route("/Groups", get(routes::list::<Groups>).post(idempotent(routes::create::<Groups>)))
        .route("/Groups/.search", post(idempotent(routes::search_post::<Groups>)))
        .route(
            "/Groups/{id}",
            get(routes::get::<Groups>)
                .put(routes::replace::<Groups>)
                .patch(idempotent(routes::patch::<Groups>))
                .delete(routes::delete::<Groups>),
        )
        .route("/Bulk", post(idempotent(routes::bulk)))
        .route("/.search", post(idempotent(routes::search_root)))
}
