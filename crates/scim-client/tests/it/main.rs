//! Tests of the client without a SCIM server of this project: the filter builder, and wire
//! behaviour against tiny local stub servers. The tests against the real server live in
//! `crates/scim-server/tests/it/client*.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod filter;
mod wire;
