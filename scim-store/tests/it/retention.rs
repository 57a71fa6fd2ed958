//! Bounded growth: the change log pruned by count and by age, expired idempotency records
//! pruned, a batch at a time.

use crate::support::*;
use scim_store::{IdempotencyBegin, IdempotentAnswer, Pruned, Retention};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn change_log_and_idempotency_records_are_pruned_in_batches() {
    each(|env| async move {
        let s = &env.store;
        for i in 0..10 {
            user(s, env.a, json!({ "userName": format!("p{i}@x.io") })).await;
        }
        user(s, env.b, json!({"userName": "other@x.io"})).await;
        let all = s.changes(env.a, 0, 100).await.unwrap();
        assert_eq!(all.len(), 10);
        let newest = all.last().unwrap().seq;

        // Keep the newest 4 rows (of 11), 3 rows per call: 3, 3, 1, then nothing.
        let r = Retention {
            change_log_max_age: None,
            change_log_max_rows: Some(4),
            soft_deleted_max_age: None,
            batch: 3,
        };
        let mut deleted = Vec::new();
        loop {
            let p = s.prune(&r).await.unwrap();
            deleted.push(p.change_log);
            if p.change_log == 0 {
                break;
            }
        }
        assert_eq!(deleted, [3, 3, 1, 0], "{:?}", env.backend);
        let left = s.changes(env.a, 0, 100).await.unwrap();
        assert_eq!(left.len(), 3, "{:?}", env.backend);
        assert_eq!(left.last().unwrap().seq, newest);
        assert_eq!(s.changes(env.b, 0, 100).await.unwrap().len(), 1);

        // Everything is older than a negative age: all goes, a batch at a time.
        let r = Retention {
            change_log_max_age: Some(time::Duration::seconds(-60)),
            change_log_max_rows: None,
            soft_deleted_max_age: None,
            batch: 2,
        };
        assert_eq!(s.prune(&r).await.unwrap().change_log, 2);
        assert_eq!(s.prune(&r).await.unwrap().change_log, 2);
        assert_eq!(s.prune(&r).await.unwrap(), Pruned::default());
        // The default keeps a week: nothing of today's goes.
        user(s, env.a, json!({"userName": "new@x.io"})).await;
        assert_eq!(s.prune(&Retention::default()).await.unwrap(), Pruned::default());
        assert_eq!(s.changes(env.a, 0, 100).await.unwrap().len(), 1);

        // Idempotency records: a fresh one stays; one past its 24 hours goes.
        for key in ["fresh", "old"] {
            assert_eq!(
                s.idempotency_begin(env.a, key, &[1; 32]).await.unwrap(),
                IdempotencyBegin::Claimed
            );
            let answer = IdempotentAnswer { status: 201, headers: vec![], body: b"{}".to_vec() };
            s.idempotency_complete(env.a, key, answer).await.unwrap();
        }
        if env.backend != Backend::SqliteMemory {
            let c = sea_orm::Database::connect(env.url()).await.unwrap();
            sea_orm::ConnectionTrait::execute_unprepared(
                &c,
                "UPDATE idempotency SET created = '2000-01-01T00:00:00.000000Z' WHERE idem_key = 'old'",
            )
            .await
            .unwrap();
            c.close().await.unwrap();
            assert_eq!(s.prune(&Retention::default()).await.unwrap().idempotency, 1);
            assert!(matches!(
                s.idempotency_begin(env.a, "fresh", &[1; 32]).await.unwrap(),
                IdempotencyBegin::Replay(_)
            ));
        }
    })
    .await;
}

/// Soft-deleted users and groups are purged once past `soft_deleted_max_age` (never with
/// the default), a batch at a time, with their memberships; live ones are untouched.
#[tokio::test(flavor = "multi_thread")]
async fn soft_deleted_resources_are_purged_after_their_retention() {
    use scim_core::schema::ResourceKind::{Group, User};
    use scim_store::{MemberKind, MemberRow, NewResource, ReadOptions, StoreError};
    each(|env| async move {
        let s = &env.store;
        let member = |id: &str, kind| MemberRow { value: id.to_owned(), kind };
        let gone = user(s, env.a, json!({"userName": "gone@x.io"})).await;
        let kept = user(s, env.a, json!({"userName": "kept@x.io"})).await;
        let live = s
            .create(
                env.a,
                Group,
                NewResource {
                    members: vec![
                        member(&gone.id, MemberKind::User),
                        member(&kept.id, MemberKind::User),
                    ],
                    ..new_group("Live")
                },
            )
            .await
            .unwrap();
        let old = s
            .create(
                env.a,
                Group,
                NewResource {
                    members: vec![member(&kept.id, MemberKind::User)],
                    ..new_group("Old")
                },
            )
            .await
            .unwrap();
        s.delete(env.a, rid(User, &gone.id), None, true).await.unwrap();
        s.delete(env.a, rid(Group, &old.id), None, true).await.unwrap();
        let contents = |s: std::sync::Arc<dyn scim_store::Store>, org| async move {
            let c = s.organization_contents(org).await.unwrap().unwrap();
            (c.users, c.groups)
        };
        assert_eq!(contents(s.clone(), env.a).await, (2, 2));

        // Off by default; a retention not yet reached purges nothing.
        assert_eq!(s.prune(&Retention::default()).await.unwrap().soft_deleted, 0);
        let day = Retention {
            soft_deleted_max_age: Some(time::Duration::days(1)),
            ..Retention::default()
        };
        assert_eq!(s.prune(&day).await.unwrap().soft_deleted, 0);
        assert_eq!(contents(s.clone(), env.a).await, (2, 2));

        // Past it (a negative age: everything deleted is older), one per call at batch 1.
        let past = Retention {
            soft_deleted_max_age: Some(time::Duration::seconds(-60)),
            batch: 1,
            ..Retention::default()
        };
        let mut purged = Vec::new();
        for _ in 0..3 {
            purged.push(s.prune(&past).await.unwrap().soft_deleted);
        }
        assert_eq!(purged, [1, 1, 0], "{:?}", env.backend);
        assert_eq!(contents(s.clone(), env.a).await, (1, 1));
        for (kind, id) in [(User, &gone.id), (Group, &old.id)] {
            assert!(matches!(s.restore(env.a, rid(kind, id)).await, Err(StoreError::NotFound(_))));
        }
        // The live group keeps its live member; the live user is in no purged group.
        let g = s.get(env.a, rid(Group, &live.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(g.resource.get("members").unwrap()[0]["value"], json!(kept.id));
        assert_eq!(g.resource.get("members").unwrap().as_array().unwrap().len(), 1);
        let u = s.get(env.a, rid(User, &kept.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(u.resource.get("groups").unwrap().as_array().unwrap().len(), 1);
        if env.backend != Backend::SqliteMemory {
            let c = sea_orm::Database::connect(env.url()).await.unwrap();
            let n = sea_orm::ConnectionTrait::query_one_raw(
                &c,
                sea_orm::Statement::from_string(
                    c.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM memberships",
                ),
            )
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
            assert_eq!(n, 1, "{:?}: only Live -> kept is left", env.backend);
            c.close().await.unwrap();
        }
    })
    .await;
}

/// The purge finds soft-deleted resources by the index of `deleted_at`, which only a soft
/// delete and a restore change, so an update of a live resource writes nothing to it.
#[tokio::test(flavor = "multi_thread")]
async fn the_purge_reads_the_index_of_deleted_at() {
    use scim_core::schema::ResourceKind::User;
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    each(|env| async move {
        if matches!(env.backend, Backend::SqliteMemory) {
            return; // no URL to open a second connection with
        }
        let s = &env.store;
        let gone = user(s, env.a, json!({"userName": "gone@x.io"})).await;
        let back = user(s, env.a, json!({"userName": "back@x.io"})).await;
        s.delete(env.a, rid(User, &gone.id), None, true).await.unwrap();
        s.delete(env.a, rid(User, &back.id), None, true).await.unwrap();
        s.restore(env.a, rid(User, &back.id)).await.unwrap();

        let c = sea_orm::Database::connect(env.url()).await.unwrap();
        let b = c.get_database_backend();
        let q = "SELECT id, deleted_at, last_modified FROM resources WHERE deleted_at IS NOT NULL";
        let rows = c.query_all_raw(Statement::from_string(b, q)).await.unwrap();
        assert_eq!(rows.len(), 1, "{:?}: only the deleted user has a deleted_at", env.backend);
        assert_eq!(rows[0].try_get::<String>("", "id").unwrap(), gone.id);
        let at: String = rows[0].try_get("", "deleted_at").unwrap();
        assert_eq!(at, rows[0].try_get::<String>("", "last_modified").unwrap());

        let query = "SELECT id FROM resources WHERE deleted_at < '2100-01-01T00:00:00.000Z' \
                     AND deleted = TRUE ORDER BY deleted_at LIMIT 1000";
        let plan = match env.backend {
            Backend::SqliteFile => format!("EXPLAIN QUERY PLAN {query}"),
            _ => format!("EXPLAIN {query}"),
        };
        let txn = c.begin().await.unwrap();
        if env.backend == Backend::Postgres {
            // A table this small is cheaper to scan: ask whether the index serves.
            txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
        }
        let rows = txn.query_all_raw(Statement::from_string(b, plan)).await.unwrap();
        let column = match env.backend {
            Backend::SqliteFile => "detail",
            Backend::Postgres => "QUERY PLAN",
            _ => "key",
        };
        let text: Vec<Option<String>> =
            rows.iter().map(|r| r.try_get::<Option<String>>("", column).unwrap()).collect();
        assert!(
            text.iter().flatten().any(|l| l.contains("ix_resources_deleted_at")),
            "{:?}: {text:?}",
            env.backend
        );
        txn.rollback().await.unwrap();
        let old = match env.backend {
            Backend::Postgres => {
                "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_resources_deleted'"
            }
            Backend::MySql => {
                "SELECT 1 FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND index_name = 'ix_resources_deleted'"
            }
            _ => "SELECT 1 FROM sqlite_master WHERE name = 'ix_resources_deleted'",
        };
        let rows = c.query_all_raw(Statement::from_string(b, old)).await.unwrap();
        assert!(rows.is_empty(), "{:?}: (deleted, last_modified) is gone", env.backend);
        c.close().await.unwrap();
    })
    .await;
}
