//! The SCIM 2.0 HTTP service (RFC 7643, RFC 7644) as an axum router, and the pieces of the
//! `scim-server` binary: configuration, bootstrap and admin commands.
//!
//! Invariants:
//! - every response that is an error carries a SCIM error body (RFC 7644 3.12): handlers
//!   return [`ApiError`], which renders in one place ([`error::render`]), and the edge
//!   middleware rewrites any other error response;
//! - both route families are served by the same family-relative routes; the family and
//!   the organization reach handlers through [`RequestCtx`];
//! - nothing here keeps state another replica needs (the rate limiter is per replica and
//!   only limits).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod admin;
pub mod admin_api;
pub mod app;
mod auth;
pub mod body;
pub mod config;
pub mod console;
pub mod context;
pub mod discovery;
pub mod docs;
pub mod embed;
pub mod error;
pub mod events;
pub mod front;
pub mod handlers;
pub mod hooks;
pub mod listener;
pub mod log;
pub mod middleware;
pub mod mount;
pub mod oauth;
pub mod openapi;
pub mod operator;
pub mod ops;
pub mod profile;
pub mod response;
pub mod state;
pub mod tls;
pub mod token;

pub use app::{AppState, admin_service, router, service};
pub use body::{ScimBytes, ScimJson};
pub use config::Config;
pub use context::{Family, RequestCtx};
pub use error::ApiError;
pub use response::{scim_response, scim_response_with};
