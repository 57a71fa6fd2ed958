//! The sea-orm implementation of [`Store`] for SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! SQL is built with sea-query; everything backend-specific (JSON functions) lives in
//! [`dialect`], the filter and sort translation in [`sql`], the data layout and its
//! migrations in [`migration`], RFC 9865 cursors in [`cursor`].

mod api;
mod backend;
mod backends;
mod breaker;
mod change_log;
mod columns;
mod conn;
mod connect;
mod credentials;
mod cursor;
mod filter;
mod idempotency;
mod members;
mod migration;
mod mysql;
mod organizations;
mod outcome;
mod postgres;
mod query;
mod resources;
mod retention;
mod rows;
mod setup;
mod shapes;
mod sqlite;
mod stats;
mod store;
mod values;

pub use columns::MAX_KEY_CHARS;
pub use setup::MigrationStatus;
pub use sqlite::sqlite_path;
pub use store::{SqlStore, StoreOptions};

#[cfg(all(test, feature = "sqlite"))]
mod tests;
