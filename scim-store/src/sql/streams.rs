//! Event streams and SET signing keys: plain rows, and the delivery lease claimed by one
//! conditional UPDATE (free, expired, or already the claimer's), which behaves the same on
//! every backend, so of several replicas one delivers a stream at a time.

use super::conn::{DbRow, Exec, get};
use super::outcome::db_err;
use super::store::SqlStore;
use super::values::{now, parse_org, random_hex};
use crate::{
    Delivery, EventForm, EventStream, Result, SigningAlg, SigningKey, StoreError, StreamState,
};
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Order, Query as Q};

const S: &str = "event_streams";

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn stream_from(r: &DbRow) -> Result<EventStream> {
    let bad = |what: &str| StoreError::Internal(format!("event stream row: bad {what}"));
    Ok(EventStream {
        id: get(r, "id")?,
        org: parse_org(&get::<String>(r, "org")?)?,
        delivery: match get::<String>(r, "delivery")?.as_str() {
            "push" => Delivery::Push,
            "poll" => Delivery::Poll,
            _ => return Err(bad("delivery")),
        },
        url: get(r, "url")?,
        events: serde_json::from_str(&get::<String>(r, "events")?).map_err(|_| bad("events"))?,
        form: match get::<String>(r, "form")?.as_str() {
            "full" => EventForm::Full,
            _ => EventForm::Notice,
        },
        alg: match get::<String>(r, "alg")?.as_str() {
            "HS256" => SigningAlg::HS256,
            _ => SigningAlg::ES256,
        },
        secret: get(r, "secret")?,
        state: match get::<String>(r, "state")?.as_str() {
            "active" => StreamState::Active,
            _ => StreamState::Paused,
        },
        cursor: u64::try_from(get::<i64>(r, "cursor")?).unwrap_or_default(),
        failures: u32::try_from(get::<i64>(r, "failures")?).unwrap_or(u32::MAX),
        last_error: get(r, "last_error")?,
        created: get(r, "created")?,
    })
}

const COLS: [&str; 13] = [
    "id",
    "org",
    "delivery",
    "url",
    "events",
    "form",
    "alg",
    "secret",
    "state",
    "cursor",
    "failures",
    "last_error",
    "created",
];

fn state_name(s: StreamState) -> &'static str {
    match s {
        StreamState::Active => "active",
        StreamState::Paused => "paused",
    }
}

impl SqlStore {
    pub(super) async fn stream_insert(&self, s: &EventStream) -> Result<EventStream> {
        let id = if s.id.is_empty() { format!("ES{}", random_hex()?) } else { s.id.clone() };
        let txn = self.begin().await?;
        // A new stream starts after the organization's newest change.
        let mut newest = Q::select();
        newest
            .column("seq")
            .from("change_log")
            .and_where(Expr::col("org").eq(s.org.to_string()))
            .order_by("seq", Order::Desc)
            .limit(1);
        let cursor = match txn.query_one(&newest).await.map_err(db_err)? {
            Some(r) => u64::try_from(get::<i64>(&r, "seq")?).unwrap_or_default(),
            None => 0,
        };
        let created = now();
        let stored = EventStream {
            id,
            cursor,
            failures: 0,
            last_error: None,
            created,
            state: StreamState::Active,
            ..s.clone()
        };
        let events = serde_json::to_string(&stored.events)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut ins = Q::insert();
        ins.into_table(S)
            .columns(COLS)
            .values([
                Expr::val(stored.id.clone()),
                Expr::val(stored.org.to_string()),
                Expr::val(match stored.delivery {
                    Delivery::Push => "push",
                    Delivery::Poll => "poll",
                }),
                Expr::val(stored.url.clone()),
                Expr::val(events),
                Expr::val(match stored.form {
                    EventForm::Notice => "notice",
                    EventForm::Full => "full",
                }),
                Expr::val(match stored.alg {
                    SigningAlg::ES256 => "ES256",
                    SigningAlg::HS256 => "HS256",
                }),
                Expr::val(stored.secret.clone()),
                Expr::val(state_name(stored.state)),
                Expr::val(to_i64(stored.cursor)),
                Expr::val(0i64),
                Expr::val(None::<String>),
                Expr::val(stored.created.clone()),
            ])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        txn.execute(&ins).await.map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    pub(super) async fn stream_list(
        &self,
        org: Option<OrganizationSid>,
    ) -> Result<Vec<EventStream>> {
        let mut q = Q::select();
        q.columns(COLS).from(S).order_by("created", Order::Asc).order_by("id", Order::Asc);
        if let Some(org) = org {
            q.and_where(Expr::col("org").eq(org.to_string()));
        }
        self.db.query_all(&q).await.map_err(db_err)?.iter().map(stream_from).collect()
    }

    pub(super) async fn stream_get(&self, id: &str) -> Result<Option<EventStream>> {
        let mut q = Q::select();
        q.columns(COLS).from(S).and_where(Expr::col("id").eq(id));
        self.db.query_one(&q).await.map_err(db_err)?.as_ref().map(stream_from).transpose()
    }

    pub(super) async fn stream_state(&self, id: &str, state: StreamState) -> Result<bool> {
        let mut up = Q::update();
        up.table(S).value("state", Expr::val(state_name(state))).and_where(Expr::col("id").eq(id));
        if state == StreamState::Active {
            up.value("failures", Expr::val(0i64));
        }
        Ok(self.db.execute(&up).await.map_err(db_err)?.rows_affected() > 0)
    }

    pub(super) async fn stream_remove(&self, id: &str) -> Result<bool> {
        let mut del = Q::delete();
        del.from_table(S).and_where(Expr::col("id").eq(id));
        Ok(self.db.execute(&del).await.map_err(db_err)?.rows_affected() > 0)
    }

    pub(super) async fn lease(
        &self,
        id: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let mut up = Q::update();
        up.table(S)
            .value("lease_owner", Expr::val(owner))
            .value("lease_until", Expr::val(until_ms))
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("state").eq("active"))
            .cond_where(
                Cond::any()
                    .add(Expr::col("lease_owner").is_null())
                    .add(Expr::col("lease_owner").eq(owner))
                    .add(Expr::col("lease_until").lt(now_ms)),
            );
        Ok(self.db.execute(&up).await.map_err(db_err)?.rows_affected() > 0)
    }

    pub(super) async fn advance(&self, id: &str, owner: Option<&str>, seq: u64) -> Result<bool> {
        let mut up = Q::update();
        up.table(S)
            .value("cursor", Expr::val(to_i64(seq)))
            .value("failures", Expr::val(0i64))
            .value("last_error", Expr::val(None::<String>))
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("cursor").lt(to_i64(seq)));
        if let Some(owner) = owner {
            up.and_where(Expr::col("lease_owner").eq(owner));
        }
        Ok(self.db.execute(&up).await.map_err(db_err)?.rows_affected() > 0)
    }

    pub(super) async fn failed(&self, id: &str, error: &str, pause_after: u32) -> Result<u32> {
        let error: String = error.chars().take(1000).collect();
        let txn = self.begin().await?;
        let mut up = Q::update();
        up.table(S)
            .value("failures", Expr::col("failures").add(1))
            .value("last_error", Expr::val(error))
            .and_where(Expr::col("id").eq(id));
        txn.execute(&up).await.map_err(db_err)?;
        let mut q = Q::select();
        q.column("failures").from(S).and_where(Expr::col("id").eq(id));
        let n = match txn.query_one(&q).await.map_err(db_err)? {
            Some(r) => u32::try_from(get::<i64>(&r, "failures")?).unwrap_or(u32::MAX),
            None => 0,
        };
        if pause_after > 0 && n >= pause_after {
            let mut up = Q::update();
            up.table(S)
                .value("state", Expr::val("paused"))
                .value("lease_owner", Expr::val(None::<String>))
                .and_where(Expr::col("id").eq(id));
            txn.execute(&up).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(n)
    }

    pub(super) async fn keys(&self) -> Result<Vec<SigningKey>> {
        let mut q = Q::select();
        q.columns(["kid", "private_key", "public_jwk", "created"])
            .from("event_keys")
            .order_by("created", Order::Desc)
            .order_by("kid", Order::Desc)
            .limit(20);
        self.db
            .query_all(&q)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(SigningKey {
                    kid: get(r, "kid")?,
                    private_pkcs8: get(r, "private_key")?,
                    public_jwk: get(r, "public_jwk")?,
                    created: get(r, "created")?,
                })
            })
            .collect()
    }

    pub(super) async fn key_add(&self, k: &SigningKey) -> Result<()> {
        let mut ins = Q::insert();
        ins.into_table("event_keys")
            .columns(["kid", "private_key", "public_jwk", "created"])
            .values([
                Expr::val(k.kid.clone()),
                Expr::val(k.private_pkcs8.clone()),
                Expr::val(k.public_jwk.clone()),
                Expr::val(k.created.clone()),
            ])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.db.execute(&ins).await.map_err(db_err)?;
        Ok(())
    }

    /// The lowest cursor of the active streams: the change log is kept from there on.
    pub(super) async fn streams_floor(&self) -> Result<Option<i64>> {
        let mut q = Q::select();
        q.column("cursor")
            .from(S)
            .and_where(Expr::col("state").eq("active"))
            .order_by("cursor", Order::Asc)
            .limit(1);
        match self.db.query_one(&q).await.map_err(db_err)? {
            Some(r) => Ok(Some(get::<i64>(&r, "cursor")?)),
            None => Ok(None),
        }
    }
}
