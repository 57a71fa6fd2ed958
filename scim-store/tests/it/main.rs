//! Behavioural suite of the `Store` trait, written once and run unchanged against every
//! backend: SQLite file, SQLite in-memory, PostgreSQL and MariaDB/MySQL.
//!
//! Each test gets a fresh database per backend (PostgreSQL and MySQL: a new database
//! `scim_t_<random>`, dropped afterwards). `SCIM_TEST_BACKENDS` narrows the run
//! (`sqlite`, `sqlite-file`, `sqlite-memory`, `postgres`, `mysql`, comma-separated); by
//! default all four run, and an unreachable server fails the run rather than skipping it.
//! `SCIM_TEST_PG_URL` / `SCIM_TEST_MYSQL_URL` point at the servers (default: the local
//! ones, user `postgres` with trust auth and `root` without password).
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod agreement;
mod batch;
mod counts;
mod credentials;
mod differential;
mod events;
mod members;
mod outage;
mod paging;
mod query;
mod resources;
mod retention;
mod setup;
mod support;
