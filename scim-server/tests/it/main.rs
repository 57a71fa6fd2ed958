//! Integration tests of the HTTP service's platform: authentication, tenancy, discovery,
//! errors, middleware, operational endpoints and the binary's commands. Requests go
//! through `router(state)` with `tower::ServiceExt::oneshot` on a real `SeaStore` over
//! in-memory SQLite; the binary's tests run `scim-server` on a temporary SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(unreachable_pub, dead_code)]

mod admin_api;
mod auth;
mod backup;
mod bulk;
mod cli;
mod client;
mod client_props;
mod console;
mod contract;
mod discovery;
mod docs;
mod embed;
mod entra;
mod errors;
mod events;
mod groups;
mod harness;
mod hostile;
mod idempotency;
mod layering;
mod middleware;
mod oauth;
mod okta;
mod openapi;
mod ops;
mod outage;
mod patch;
mod postgres;
mod schema_check;
mod scim_cli;
mod search;
mod support;
mod tls;
mod users;
