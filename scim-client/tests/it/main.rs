//! Tests of the client without a SCIM server of this project: the filter builder, and wire
//! behaviour against tiny local stub servers, and the client and the CLI against an
//! independent server (`reference`: the Python `scim2-server`). The tests against this
//! project's server live in `scim-server/tests/it/client*.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod filter;
mod reference;
mod wire;
