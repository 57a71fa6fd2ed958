//! The resource routes nearly every request takes (`/Users`, `/Users/{id}`, `/Groups`,
//! `/Groups/{id}`), served two ways with the same handlers ([`Hot::call`]): the edge
//! (`front::Guard`) calls them directly for the requests [`find`] recognises, without the
//! router (its route-table match, `MatchedPath`, boxed route service and metrics layer were
//! about 5% of a GET by id's instructions); [`routes`] mounts them in the router for the
//! rest.
//!
//! [`find`] answers only for exactly what the router would send to the same handler; any
//! other request (another path or method, `HEAD`, a static segment such as
//! `/Users/.search`) goes through the router as before, so its answers, fallbacks and `405`s
//! stay the router's. The request is the one the router would get: the family-relative
//! path, the [`crate::mount::Mount`] in its extensions.

use super::idempotency::idempotent;
use super::routes::{self, Groups, Users};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::response::Response;
use axum::routing::get;
use futures::future::BoxFuture;
use http::Method;

/// One method on one of the hot routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hot {
    group: bool,
    op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    List,
    Create,
    Get,
    Replace,
    Patch,
    Delete,
}

/// The hot route `method` and the family-relative `path` name, if any (module docs).
pub(crate) fn find(method: &Method, path: &str) -> Option<Hot> {
    let (group, rest) = if let Some(rest) = path.strip_prefix("/Users") {
        (false, rest)
    } else {
        (true, path.strip_prefix("/Groups")?)
    };
    let op = if rest.is_empty() {
        match *method {
            Method::GET => Op::List,
            Method::POST => Op::Create,
            _ => return None,
        }
    } else {
        let id = rest.strip_prefix('/')?;
        // `{id}` is one non-empty segment; the static routes beside it win, as in the router.
        let fixed: &[&str] = if group { &[".search"] } else { &[".search", "delete"] };
        if id.is_empty() || id.contains('/') || fixed.contains(&id) {
            return None;
        }
        match *method {
            Method::GET => Op::Get,
            Method::PUT => Op::Replace,
            Method::PATCH => Op::Patch,
            Method::DELETE => Op::Delete,
            _ => return None,
        }
    };
    Some(Hot { group, op })
}

/// The hot routes as the router mounts them, for the requests [`find`] leaves to it (`HEAD`,
/// a body with a `Content-Encoding`): each method runs what [`Hot::call`] runs, so the two
/// ways cannot part.
pub(super) fn routes() -> Router<AppState> {
    let on = |group, op| Hot { group, op }.handler();
    let (users, groups) = (false, true);
    Router::new()
        .route("/Users", get(on(users, Op::List)).post(on(users, Op::Create)))
        .route(
            "/Users/{id}",
            get(on(users, Op::Get))
                .put(on(users, Op::Replace))
                .patch(on(users, Op::Patch))
                .delete(on(users, Op::Delete)),
        )
        .route("/Groups", get(on(groups, Op::List)).post(on(groups, Op::Create)))
        .route(
            "/Groups/{id}",
            get(on(groups, Op::Get))
                .put(on(groups, Op::Replace))
                .patch(on(groups, Op::Patch))
                .delete(on(groups, Op::Delete)),
        )
}

impl Hot {
    /// [`Hot::call`] as a handler the router can mount.
    fn handler(
        self,
    ) -> impl Fn(State<AppState>, Request) -> BoxFuture<'static, Response> + Clone + Send + Sync + 'static
    {
        move |State(st), req| self.call(req, st)
    }

    /// The route's template, as the router names it (the `route` label of the metrics).
    pub(crate) fn template(self) -> &'static str {
        match (self.group, self.op) {
            (false, Op::List | Op::Create) => "/Users",
            (false, _) => "/Users/{id}",
            (true, Op::List | Op::Create) => "/Groups",
            (true, _) => "/Groups/{id}",
        }
    }

    /// Runs the route's handler, as [`super::routes`] mounts it, on `req`.
    pub(crate) fn call(self, req: Request, st: AppState) -> BoxFuture<'static, Response> {
        match (self.group, self.op) {
            (false, Op::List) => Handler::call(routes::list::<Users>, req, st),
            (false, Op::Create) => Handler::call(idempotent(routes::create::<Users>), req, st),
            (false, Op::Get) => Handler::call(routes::get::<Users>, req, st),
            (false, Op::Replace) => Handler::call(routes::replace::<Users>, req, st),
            (false, Op::Patch) => Handler::call(idempotent(routes::patch::<Users>), req, st),
            (false, Op::Delete) => Handler::call(routes::delete::<Users>, req, st),
            (true, Op::List) => Handler::call(routes::list::<Groups>, req, st),
            (true, Op::Create) => Handler::call(idempotent(routes::create::<Groups>), req, st),
            (true, Op::Get) => Handler::call(routes::get::<Groups>, req, st),
            (true, Op::Replace) => Handler::call(routes::replace::<Groups>, req, st),
            (true, Op::Patch) => Handler::call(idempotent(routes::patch::<Groups>), req, st),
            (true, Op::Delete) => Handler::call(routes::delete::<Groups>, req, st),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_router_sends_to_the_same_handler() {
        let hit = |m: Method, p: &str| find(&m, p).map(Hot::template);
        assert_eq!(hit(Method::GET, "/Users"), Some("/Users"));
        assert_eq!(hit(Method::POST, "/Groups"), Some("/Groups"));
        assert_eq!(hit(Method::GET, "/Users/US0123"), Some("/Users/{id}"));
        assert_eq!(hit(Method::PATCH, "/Groups/GR01"), Some("/Groups/{id}"));
        assert_eq!(hit(Method::DELETE, "/Users/a%2Fb"), Some("/Users/{id}"));
        // `/Groups/delete` is a group id; `/Users/delete` is its own route.
        assert_eq!(hit(Method::GET, "/Groups/delete"), Some("/Groups/{id}"));
        for (m, p) in [
            (Method::HEAD, "/Users/US01"),
            (Method::PUT, "/Users"),
            (Method::DELETE, "/Groups"),
            (Method::POST, "/Users/US01"),
            (Method::GET, "/Users/"),
            (Method::GET, "/Users//"),
            (Method::GET, "/Users/a/b"),
            (Method::POST, "/Users/.search"),
            (Method::GET, "/Users/.search"),
            (Method::POST, "/Users/delete"),
            (Method::GET, "/Users/delete"),
            (Method::GET, "/Groups/.search"),
            (Method::GET, "/UsersX"),
            (Method::GET, "/users/US01"),
            (Method::GET, "/Bulk"),
            (Method::GET, "/"),
        ] {
            assert_eq!(find(&m, p), None, "{m} {p}");
        }
    }
}
