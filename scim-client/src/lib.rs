//! A typed async SCIM 2.0 client (RFC 7643, RFC 7644, RFC 9865 cursors, RFC 6749 client
//! credentials) for any RFC 7644 server, built on the same `scim-core` types as this
//! project's server, so the two cannot disagree about the wire format.
//!
//! - [`Client::builder`] takes the SCIM base URL of either route family
//!   (`https://host/scim/v2` or `https://host/Organizations/{OrganizationSid}/scim`), a
//!   credential ([`ClientBuilder::bearer`] or [`ClientBuilder::client_credentials`]) and
//!   optionally [`ClientBuilder::organization`] (`Scim-Organization`).
//! - [`Client::users`] and [`Client::groups`] give [`Resources`]: get, create, replace,
//!   patch, delete with entity tags; search by GET or `POST .search`; [`Resources::list`],
//!   a [`futures::Stream`] over every page, by index or RFC 9865 cursor.
//! - [`filter`] builds filters as the core AST, so values cannot inject structure.
//! - [`Client::bulk`] (with [`bulk::BulkBuilder`] and `bulkId` references),
//!   [`Client::deactivate_users`], and discovery: [`Client::capabilities`],
//!   [`Client::schemas`], [`Client::resource_types`], [`Client::registry`].
//! - On the wire: gzip responses, optionally gzip requests
//!   ([`ClientBuilder::gzip_requests`]), timeouts, retries with jittered exponential
//!   backoff honouring `Retry-After` ([`RetryPolicy`]), an `Idempotency-Key` on POST and
//!   PATCH when retries are on, a `tracing` span (`scim.request`) per request, and every
//!   failure a typed [`Error`].
//!
//! TLS is rustls with the `ring` provider (no OpenSSL); server certificates are checked
//! against the platform's root store.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use scim_client::{Client, Query, filter::attr};
//! use scim_core::message::{PatchOpKind, PatchOperation};
//! use scim_core::resource::User;
//!
//! # async fn run() -> Result<(), scim_client::Error> {
//! let client = Client::builder("https://scim.example.com/scim/v2")
//!     .bearer("secret-token")
//!     .build()?;
//!
//! // Create, then change under an entity tag.
//! let ada = User { user_name: "ada@example.com".into(), active: Some(true), ..Default::default() };
//! let created = client.users().create(&ada).await?;
//! let id = created.resource.id.clone().unwrap_or_default();
//! let op = PatchOperation {
//!     op: PatchOpKind::Replace,
//!     path: Some("displayName".into()),
//!     value: Some("Ada L.".into()),
//! };
//! client.users().patch_ops(&id, vec![op], created.etag.as_deref()).await?;
//!
//! // Every active user whose work e-mail is at example.com, page after page.
//! let query = Query::new().filter(
//!     attr("active").eq(true)
//!         .and(attr("emails").has(attr("type").eq("work").and(attr("value").ew("@example.com")))),
//! );
//! let users: Vec<User> = client.users().list(query).try_collect().await?;
//! println!("{} users", users.len());
//! # Ok(())
//! # }
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

mod auth;
pub mod bulk;
mod capabilities;
mod client;
mod discovery;
pub mod error;
pub mod filter;
mod paging;
mod query;
mod resources;
mod retry;
mod transport;

#[cfg(feature = "cli")]
pub mod cli;

pub use bulk::BulkBuilder;
pub use capabilities::Capabilities;
pub use client::{Client, ClientBuilder};
pub use error::{ApiError, Error, Result, TransportKind};
pub use query::Query;
pub use resources::{Conditional, Resources, Tagged};
pub use retry::RetryPolicy;
pub use scim_core;
