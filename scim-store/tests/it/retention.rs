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
        let r = Retention { change_log_max_age: None, change_log_max_rows: Some(4), batch: 3 };
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
