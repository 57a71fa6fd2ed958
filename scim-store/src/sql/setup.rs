//! Setting a database up so that any number of processes may do it at the same moment:
//! migrations under a database-wide lock, and the first-start bootstrap (the first
//! organization and its token) in one transaction that exactly one process wins.
//!
//! - Migrations: under the backend's lock (`Backend::lock_migrations`: PostgreSQL's
//!   session advisory lock, MySQL's named lock, an advisory lock of the SQLite file), on a
//!   connection of its own that is closed afterwards (a process that dies releases the
//!   lock with its connection or its file). Whoever waits runs the migrator after the
//!   holder is done and finds nothing pending.
//! - Bootstrap: the transaction first inserts the `settings` row `bootstrap`. A concurrent
//!   transaction's insert of the same key waits for the first to end and then fails on
//!   the primary key (PostgreSQL, MySQL), or waits for the single writer (SQLite); the
//!   loser creates nothing.

use super::conn::{Db, Exec};
use super::migration;
use super::outcome::db_err;
use super::store::{SqlStore, StoreOptions};
use super::values::{invalid_value, now, now_from, random_hex, scopes_json};
use crate::{Bootstrap, NewToken, Organization, Policy, Result, Scope, StoreError, TokenRecord};
use scim_core::sid::OrganizationSid;
use sea_orm::DatabaseConnection;
use sea_orm::sea_query::{Expr, Query as Q};
use sea_orm_migration::MigratorTrait;

/// One migration and whether it has been applied (`migrate --status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The migration's name.
    pub name: String,
    /// Whether the database has it.
    pub applied: bool,
}

/// How long start-up steps wait out an SQLite file locked by another connection.
const STARTUP_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl SqlStore {
    /// Applies every pending migration (idempotent), under a database-wide lock, so that
    /// processes starting together apply each migration once.
    pub async fn migrate(&self) -> Result<()> {
        self.while_locked(|| self.migrate_once()).await
    }

    /// Runs `step` again while it fails because another connection held an SQLite file
    /// locked for longer than the busy timeout (replicas starting together on one file,
    /// each opening its connections and migrating under load): for up to
    /// [`STARTUP_LOCK_WAIT`], then the error stands. Other errors are returned at once.
    pub(super) async fn while_locked<T, F, Fut>(&self, mut step: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = std::time::Instant::now() + STARTUP_LOCK_WAIT;
        loop {
            match step().await {
                Err(StoreError::Unavailable(why) | StoreError::Internal(why))
                    if why.contains("database is locked")
                        && std::time::Instant::now() < deadline =>
                {
                    tracing::warn!(error = %why, "the database file is locked; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                done => return done,
            }
        }
    }

    async fn migrate_once(&self) -> Result<()> {
        // An in-memory database lives in the store's one connection, and is this
        // process's alone.
        if let Db::Sea(p) = &self.db
            && self.backend.embedded()
        {
            return migration::Migrator::up(&p.conn, None).await.map_err(db_err);
        }
        // One sea-orm connection of its own: it holds the lock (PostgreSQL, MySQL) and
        // runs the migrations, which on an inline SQLite store need a sea-orm connection.
        // No statement time limit: building an index on a large table takes its time.
        let opts =
            StoreOptions { max_connections: Some(1), scan_timeout: None, ..self.opts.clone() };
        let c = Self::sea_connect(&self.url, self.backend, &opts).await?;
        let done = self.migrate_locked(&c).await;
        let _ = c.close().await;
        done
    }

    async fn migrate_locked(&self, c: &DatabaseConnection) -> Result<()> {
        let mut lock = self.backend.lock_migrations(c, &self.url).await?;
        let done = migration::Migrator::up(c, None).await.map_err(db_err);
        if let Some(f) = lock.release_file() {
            match self.lock_files.lock() {
                Ok(mut kept) => kept.push(f),
                Err(poisoned) => poisoned.into_inner().push(f),
            }
        }
        self.backend.unlock_migrations(c, lock).await;
        done
    }

    /// Every migration the service knows, in order, and whether the database has it.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>> {
        let applied = match &self.db {
            Db::Sea(p) if self.backend.embedded() => applied(&p.conn).await,
            _ => {
                let opts = StoreOptions { max_connections: Some(1), ..self.opts.clone() };
                let c = Self::sea_connect(&self.url, self.backend, &opts).await?;
                let applied = applied(&c).await;
                let _ = c.close().await;
                applied
            }
        };
        Ok(migration::Migrator::migrations()
            .iter()
            .map(|m| MigrationStatus {
                name: m.name().to_owned(),
                applied: applied.iter().any(|a| a == m.name()),
            })
            .collect())
    }

    /// [`crate::Store::bootstrap`].
    pub(super) async fn bootstrap_once(
        &self,
        name: &str,
        scopes: &[Scope],
        token_name: Option<&str>,
        secret_hash: [u8; 32],
    ) -> Result<Option<Bootstrap>> {
        let txn = self.begin().await?;
        let mut claim = Q::insert();
        claim
            .into_table("settings")
            .columns(["name", "value"])
            .values([Expr::val("bootstrap"), Expr::val(now())])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        match txn.execute(&claim).await {
            Ok(_) => {}
            // Another process bootstrapped (or is about to have): nothing to do.
            Err(e) if e.is_unique() => return Ok(None),
            Err(e) => return Err(db_err(e)),
        }
        let mut any = Q::select();
        any.column("sid").from("organizations").limit(1);
        if txn.query_one(&any).await.map_err(db_err)?.is_some() {
            // A database set up before the claim row existed: keep the claim, create nothing.
            txn.commit().await.map_err(db_err)?;
            return Ok(None);
        }
        let org = insert_organization(&txn, name, &[]).await?;
        let token = insert_token(
            &txn,
            NewToken {
                org: org.sid,
                name: token_name.map(str::to_owned),
                scopes: scopes.to_vec(),
                secret_hash,
                expires: None,
            },
        )
        .await?;
        txn.commit().await.map_err(db_err)?;
        Ok(Some(Bootstrap { org, token }))
    }
}

/// The names of the applied migrations (none before the migration table exists).
async fn applied(c: &DatabaseConnection) -> Vec<String> {
    match migration::Migrator::get_applied_migrations(c).await {
        Ok(list) => list.iter().map(|m| m.name().to_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Inserts an organization with a fresh sid.
pub(super) async fn insert_organization<C: Exec>(
    c: &C,
    name: &str,
    policies: &[Policy],
) -> Result<Organization> {
    let sid = OrganizationSid::generate().map_err(|e| StoreError::Internal(e.to_string()))?;
    let created = now();
    let names: Vec<&str> = policies.iter().map(|p| p.name()).collect();
    let mut ins = Q::insert();
    ins.into_table("organizations")
        .columns(["sid", "name", "policies", "created"])
        .values([
            Expr::val(sid.to_string()),
            Expr::val(name),
            Expr::val(serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())),
            Expr::val(created.clone()),
        ])
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    c.execute(&ins).await.map_err(db_err)?;
    Ok(Organization { sid, name: name.to_owned(), policies: policies.to_vec(), created })
}

/// Inserts a static bearer token.
pub(super) async fn insert_token<C: Exec>(c: &C, new: NewToken) -> Result<TokenRecord> {
    let id = format!("TK{}", random_hex()?);
    let created = now();
    let expires =
        match &new.expires {
            Some(e) => Some(now_from(e).ok_or_else(|| {
                invalid_value(format!("expires '{e}' is not an RFC 3339 timestamp"))
            })?),
            None => None,
        };
    let mut ins = Q::insert();
    ins.into_table("tokens")
        .columns(["id", "org", "name", "scopes", "secret_hash", "created", "revoked", "expires"])
        .values([
            Expr::val(id.clone()),
            Expr::val(new.org.to_string()),
            Expr::val(new.name.clone()),
            Expr::val(scopes_json(&new.scopes)),
            Expr::val(hex::encode(new.secret_hash)),
            Expr::val(created.clone()),
            Expr::val(false),
            Expr::val(expires.clone()),
        ])
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    c.execute(&ins).await.map_err(|e| {
        if e.is_unique() {
            StoreError::Conflict { attribute: "token".into(), value: "(secret)".into() }
        } else {
            db_err(e)
        }
    })?;
    Ok(TokenRecord {
        id,
        org: new.org,
        name: new.name,
        scopes: new.scopes,
        created,
        expires,
        last_used: None,
    })
}
