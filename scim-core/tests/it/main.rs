//! Integration tests for scim-core.
#![allow(missing_docs)]
mod errors;
mod filter;
mod list_response;
mod patch;
mod patch_filter;
mod path;
mod projection;
mod replace;
mod roundtrip;
mod validate;
