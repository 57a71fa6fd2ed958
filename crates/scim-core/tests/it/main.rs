//! Integration tests for scim-core.
#![allow(missing_docs)]
mod errors;
mod patch;
mod projection;
mod replace;
mod validate;
