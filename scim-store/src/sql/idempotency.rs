//! Idempotency keys: claim, replay, complete, abort.

use super::conn::Exec;
use super::conn::get;
use super::outcome::db_err;
use super::store::SqlStore;
use super::values::fmt_ts;
use crate::{IdempotencyBegin, IdempotentAnswer, Result, StoreError};
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Expr, ExprTrait, Query as Q};

/// How long an idempotency record is kept.
pub(super) const IDEMPOTENCY_TTL: time::Duration = time::Duration::hours(24);

/// After this long, an in-flight idempotency claim is taken to be abandoned (its process
/// died) and the key can be claimed again.
pub(super) const IN_FLIGHT_TTL: time::Duration = time::Duration::minutes(5);

pub(super) async fn idempotency_begin(
    store: &SqlStore,
    org: OrganizationSid,
    key: &str,
    fingerprint: &[u8; 32],
) -> Result<IdempotencyBegin> {
    let fp = hex::encode(fingerprint);
    for _ in 0..3 {
        let t = time::OffsetDateTime::now_utc();
        let mut q = Q::select();
        q.columns(["fingerprint", "state", "status", "headers", "body", "created"])
            .from("idempotency")
            .and_where(Expr::col("org").eq(org.to_string()))
            .and_where(Expr::col("idem_key").eq(key));
        if let Some(r) = store.db.query_one(&q).await.map_err(db_err)? {
            let created: String = get(&r, "created")?;
            let state: String = get(&r, "state")?;
            let expired = created < fmt_ts(t - IDEMPOTENCY_TTL)
                || (state == "running" && created < fmt_ts(t - IN_FLIGHT_TTL));
            if !expired {
                if get::<String>(&r, "fingerprint")? != fp {
                    return Ok(IdempotencyBegin::Mismatch);
                }
                if state == "running" {
                    return Ok(IdempotencyBegin::InFlight);
                }
                use base64::Engine;
                let status: Option<i32> = get(&r, "status")?;
                let headers: Vec<(String, String)> = serde_json::from_str(
                    &get::<Option<String>>(&r, "headers")?.unwrap_or_default(),
                )
                .unwrap_or_default();
                let body = base64::engine::general_purpose::STANDARD
                    .decode(get::<Option<String>>(&r, "body")?.unwrap_or_default())
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                return Ok(IdempotencyBegin::Replay(IdempotentAnswer {
                    status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                    headers,
                    body,
                }));
            }
            let mut del = Q::delete();
            del.from_table("idempotency")
                .and_where(Expr::col("org").eq(org.to_string()))
                .and_where(Expr::col("idem_key").eq(key))
                .and_where(Expr::col("created").eq(created));
            store.db.execute(&del).await.map_err(db_err)?;
        }
        let mut ins = Q::insert();
        ins.into_table("idempotency")
            .columns(["org", "idem_key", "fingerprint", "state", "created"])
            .values([
                Expr::val(org.to_string()),
                Expr::val(key),
                Expr::val(fp.clone()),
                Expr::val("running"),
                Expr::val(fmt_ts(t)),
            ])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        match store.db.execute(&ins).await {
            Ok(_) => return Ok(IdempotencyBegin::Claimed),
            // A concurrent duplicate claimed it first: look again.
            Err(e) if e.is_unique() => continue,
            Err(e) => return Err(db_err(e)),
        }
    }
    Ok(IdempotencyBegin::InFlight)
}

pub(super) async fn idempotency_complete(
    store: &SqlStore,
    org: OrganizationSid,
    key: &str,
    answer: IdempotentAnswer,
) -> Result<()> {
    use base64::Engine;
    let mut up = Q::update();
    up.table("idempotency")
        .values([
            ("state", Expr::val("done")),
            ("status", Expr::val(i32::from(answer.status))),
            (
                "headers",
                Expr::val(serde_json::to_string(&answer.headers).unwrap_or_else(|_| "[]".into())),
            ),
            ("body", Expr::val(base64::engine::general_purpose::STANDARD.encode(&answer.body))),
        ])
        .and_where(Expr::col("org").eq(org.to_string()))
        .and_where(Expr::col("idem_key").eq(key));
    store.db.execute(&up).await.map_err(db_err)?;
    Ok(())
}

pub(super) async fn idempotency_abort(
    store: &SqlStore,
    org: OrganizationSid,
    key: &str,
) -> Result<()> {
    let mut del = Q::delete();
    del.from_table("idempotency")
        .and_where(Expr::col("org").eq(org.to_string()))
        .and_where(Expr::col("idem_key").eq(key))
        .and_where(Expr::col("state").eq("running"));
    store.db.execute(&del).await.map_err(db_err)?;
    Ok(())
}
