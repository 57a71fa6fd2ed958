//! [`SqlStore`], the [`Store`](crate::Store) on a SQL database: SQLite, PostgreSQL or
//! MySQL/MariaDB.
//!
//! Layout, bottom up (no module imports one above it):
//! - what differs per database: `backend` (the `Backend` trait and the helpers of its
//!   SQL templates), one module per backend (`sqlite`, `postgres`, `mysql`), `backends`
//!   (which one serves a URL);
//! - where statements run: `outcome` (results and errors), `conn` (a sea-orm pool or the
//!   inline SQLite engine of `sqlite`; `autocommit`, PostgreSQL's connections for the
//!   statements outside a transaction),
//!   `breaker`, `shapes` (SQL built once per shape);
//! - the data: `migration` (layout and migrations), `values`, `columns` (lookup columns
//!   of a document), `filter` (filters and sort keys as SQL), `cursor` (RFC 9865);
//! - the store: `store` (the type, its options and caches), `connect`, `setup`
//!   (migrations, bootstrap), `stats`, `rows`;
//! - the operations by concern: `resources`, `update` (PUT and PATCH), `members`,
//!   `query`, `credentials`, `organizations`, `idempotency`, `change_log`, `retention`;
//!   `api` implements [`Store`](crate::Store) on them.

mod api;
#[cfg(feature = "postgres")]
mod autocommit;
mod backend;
mod backends;
mod breaker;
mod change_log;
mod columns;
mod conn;
mod connect;
mod counts;
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
mod streams;
mod update;
mod values;

pub use columns::MAX_KEY_CHARS;
pub use setup::MigrationStatus;
#[cfg(feature = "sqlite")]
pub use sqlite::backup;
pub use sqlite::sqlite_path;
pub use store::{SqlStore, StoreOptions};

#[cfg(all(test, feature = "sqlite"))]
mod tests;
