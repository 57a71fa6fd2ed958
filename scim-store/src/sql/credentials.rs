//! Credentials: static bearer tokens, OAuth clients and their grants, shared secrets.

use super::conn::get;
use super::conn::{DbRow, Exec};
use super::outcome::db_err;
use super::store::SqlStore;
use super::values::{fmt_ts, invalid_value, now, now_from, parse_org, parse_scopes, scopes_json};
use crate::{ClientRecord, NewClient, Result, StoreError, TokenRecord};
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Order, Query as Q};
use std::collections::HashMap;

/// The columns [`token_from`] reads.
pub(super) const TOKEN_COLUMNS: [&str; 7] =
    ["id", "org", "name", "scopes", "created", "expires", "last_used"];

pub(super) fn token_from(r: &DbRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: get(r, "id")?,
        org: parse_org(&get::<String>(r, "org")?)?,
        name: get(r, "name")?,
        scopes: parse_scopes(&get::<String>(r, "scopes")?),
        created: get(r, "created")?,
        expires: get(r, "expires")?,
        last_used: get(r, "last_used")?,
    })
}

impl SqlStore {
    pub(super) async fn secret(&self, name: &str) -> Result<[u8; 32]> {
        if let Ok(cache) = self.secrets.lock()
            && let Some(s) = cache.get(name)
        {
            return Ok(*s);
        }
        let read = |r: Option<DbRow>| -> Result<Option<[u8; 32]>> {
            let Some(r) = r else { return Ok(None) };
            let v: String = get(&r, "value")?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(v, &mut out).map_err(|e| StoreError::Internal(e.to_string()))?;
            Ok(Some(out))
        };
        let mut q = Q::select();
        q.column("value").from("settings").and_where(Expr::col("name").eq(name));
        let mut secret = read(self.db.query_one(&q).await.map_err(db_err)?)?;
        if secret.is_none() {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh)
                .map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
            let mut ins = Q::insert();
            ins.into_table("settings")
                .columns(["name", "value"])
                .values([Expr::val(name), Expr::val(hex::encode(fresh))])
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            // Another replica may have won the race: then its secret is the one.
            if let Err(e) = self.db.execute(&ins).await
                && !e.is_unique()
            {
                return Err(db_err(e));
            }
            secret = read(self.db.query_one(&q).await.map_err(db_err)?)?;
        }
        let secret = secret.ok_or_else(|| StoreError::Internal("shared secret missing".into()))?;
        if let Ok(mut cache) = self.secrets.lock() {
            cache.insert(name.to_owned(), secret);
        }
        Ok(secret)
    }
}

pub(super) async fn token_by_hash(
    store: &SqlStore,
    hash: &[u8; 32],
) -> Result<Option<TokenRecord>> {
    let mut q = Q::select();
    q.columns(TOKEN_COLUMNS)
        .from("tokens")
        .and_where(Expr::col("secret_hash").eq(hex::encode(hash)))
        .and_where(Expr::col("revoked").eq(false))
        .cond_where(
            Cond::any().add(Expr::col("expires").is_null()).add(Expr::col("expires").gt(now())),
        );
    match store.db.query_one(&q).await.map_err(db_err)? {
        Some(r) => Ok(Some(token_from(&r)?)),
        None => Ok(None),
    }
}

pub(super) async fn touch_token(store: &SqlStore, id: &str, at: &str) -> Result<()> {
    let at = now_from(at)
        .ok_or_else(|| invalid_value(format!("'{at}' is not an RFC 3339 timestamp")))?;
    let minute_before =
        time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
            .map(|t| fmt_ts(t - time::Duration::minutes(1)))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut q = Q::update();
    q.table("tokens").value("last_used", at).and_where(Expr::col("id").eq(id)).cond_where(
        Cond::any()
            .add(Expr::col("last_used").is_null())
            .add(Expr::col("last_used").lte(minute_before)),
    );
    store.db.execute(&q).await.map_err(db_err)?;
    Ok(())
}

pub(super) async fn tokens(store: &SqlStore, org: OrganizationSid) -> Result<Vec<TokenRecord>> {
    let mut q = Q::select();
    q.columns(TOKEN_COLUMNS)
        .from("tokens")
        .and_where(Expr::col("org").eq(org.to_string()))
        .and_where(Expr::col("revoked").eq(false))
        .order_by("created", Order::Asc)
        .order_by("id", Order::Asc);
    store.db.query_all(&q).await.map_err(db_err)?.iter().map(token_from).collect()
}

pub(super) async fn revoke_token(store: &SqlStore, id: &str) -> Result<bool> {
    let mut q = Q::update();
    q.table("tokens")
        .value("revoked", true)
        .and_where(Expr::col("id").eq(id))
        .and_where(Expr::col("revoked").eq(false));
    Ok(store.db.execute(&q).await.map_err(db_err)?.rows_affected() > 0)
}

pub(super) async fn create_client(store: &SqlStore, new: NewClient) -> Result<ClientRecord> {
    if new.orgs.is_empty() {
        return Err(invalid_value("a client needs at least one organization".into()));
    }
    let created = now();
    let txn = store.begin().await?;
    let mut ins = Q::insert();
    ins.into_table("clients")
        .columns(["client_id", "secret_hash", "scopes", "created", "revoked"])
        .values([
            Expr::val(new.client_id.clone()),
            Expr::val(hex::encode(new.secret_hash)),
            Expr::val(scopes_json(&new.scopes)),
            Expr::val(created.clone()),
            Expr::val(false),
        ])
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    txn.execute(&ins).await.map_err(|e| {
        if e.is_unique() {
            StoreError::Conflict { attribute: "client_id".into(), value: new.client_id.clone() }
        } else {
            db_err(e)
        }
    })?;
    let mut orgs = new.orgs.clone();
    orgs.sort();
    orgs.dedup();
    for o in &orgs {
        let mut ins = Q::insert();
        ins.into_table("client_orgs")
            .columns(["client_id", "org"])
            .values([Expr::val(new.client_id.clone()), Expr::val(o.to_string())])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        txn.execute(&ins).await.map_err(db_err)?;
    }
    txn.commit().await.map_err(db_err)?;
    Ok(ClientRecord { client_id: new.client_id, orgs, scopes: new.scopes, created })
}

pub(super) async fn client(
    store: &SqlStore,
    client_id: &str,
) -> Result<Option<(ClientRecord, [u8; 32])>> {
    let mut q = Q::select();
    q.columns(["client_id", "secret_hash", "scopes", "created"])
        .from("clients")
        .and_where(Expr::col("client_id").eq(client_id))
        .and_where(Expr::col("revoked").eq(false));
    let Some(r) = store.db.query_one(&q).await.map_err(db_err)? else { return Ok(None) };
    let mut hash = [0u8; 32];
    hex::decode_to_slice(get::<String>(&r, "secret_hash")?, &mut hash)
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut q = Q::select();
    q.column("org")
        .from("client_orgs")
        .and_where(Expr::col("client_id").eq(client_id))
        .order_by("org", Order::Asc);
    let orgs = store
        .db
        .query_all(&q)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| parse_org(&get::<String>(r, "org")?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((
        ClientRecord {
            client_id: get(&r, "client_id")?,
            orgs,
            scopes: parse_scopes(&get::<String>(&r, "scopes")?),
            created: get(&r, "created")?,
        },
        hash,
    )))
}

pub(super) async fn revoke_client(store: &SqlStore, client_id: &str) -> Result<bool> {
    let mut q = Q::update();
    q.table("clients")
        .value("revoked", true)
        .and_where(Expr::col("client_id").eq(client_id))
        .and_where(Expr::col("revoked").eq(false));
    Ok(store.db.execute(&q).await.map_err(db_err)?.rows_affected() > 0)
}

pub(super) async fn clients(store: &SqlStore) -> Result<Vec<ClientRecord>> {
    let mut q = Q::select();
    q.columns(["client_id", "scopes", "created"])
        .from("clients")
        .and_where(Expr::col("revoked").eq(false))
        .order_by("created", Order::Asc)
        .order_by("client_id", Order::Asc);
    let rows = store.db.query_all(&q).await.map_err(db_err)?;
    let mut q = Q::select();
    q.columns(["client_id", "org"]).from("client_orgs").order_by("org", Order::Asc);
    let mut grants: HashMap<String, Vec<OrganizationSid>> = HashMap::new();
    for r in store.db.query_all(&q).await.map_err(db_err)? {
        grants
            .entry(get(&r, "client_id")?)
            .or_default()
            .push(parse_org(&get::<String>(&r, "org")?)?);
    }
    rows.iter()
        .map(|r| {
            let client_id: String = get(r, "client_id")?;
            Ok(ClientRecord {
                orgs: grants.remove(&client_id).unwrap_or_default(),
                client_id,
                scopes: parse_scopes(&get::<String>(r, "scopes")?),
                created: get(r, "created")?,
            })
        })
        .collect()
}
