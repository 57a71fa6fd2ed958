//! The xtask's integration tests: one binary, a module per command.

mod release;
