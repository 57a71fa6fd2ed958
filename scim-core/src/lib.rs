//! The SCIM 2.0 model that server and client share (RFC 7643, RFC 7644).
//!
//! Invariants: no I/O and no async runtime here; everything is plain data and pure
//! functions over `serde_json` values, so the server, the client, the fuzzers and the
//! benches use it cheaply. Every failure is a [`ScimError`] with a code
//! from the one catalog in [`error`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod envelope;
pub mod error;
pub mod etag;
pub mod filter;
pub mod message;
pub mod patch;
pub mod path;
pub mod policy;
pub mod projection;
pub mod replace;
pub mod resource;
pub mod scan;
pub mod schema;
pub mod sid;
#[cfg(feature = "proptest")]
pub mod testing;
pub mod validate;

pub use error::{ErrorCode, ScimError};
