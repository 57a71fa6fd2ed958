//! Event streams and audit: the change log records the actor, request id and method of
//! each write; a stream's lease is held by one owner at a time; its cursor only moves
//! forward; failures pause it; retention keeps what an active stream still needs.

use crate::support::*;
use scim_store::audit::{self, ChangeContext};
use scim_store::{
    AuditQuery, ChangeOp, Delivery, EventForm, EventStream, Retention, SigningAlg, StreamState,
};
use serde_json::json;

fn stream(org: scim_core::sid::OrganizationSid) -> EventStream {
    EventStream {
        id: String::new(),
        org,
        delivery: Delivery::Push,
        url: Some("http://127.0.0.1:9/events".into()),
        events: vec![],
        form: EventForm::Notice,
        alg: SigningAlg::HS256,
        secret: Some("00ff".into()),
        state: StreamState::Active,
        cursor: 0,
        failures: 0,
        last_error: None,
        created: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_change_log_records_actor_request_and_method() {
    each(|env| async move {
        let s = &env.store;
        let ctx = ChangeContext {
            actor: None,
            request_id: Some("req-1".into()),
            method: Some("POST".into()),
        };
        let id = audit::scope(ctx, async {
            audit::set_actor("TKabc");
            user(s, env.a, json!({"userName": "audited@x.io"})).await
        })
        .await
        .id;
        // A write outside any request records neither.
        user(s, env.a, json!({"userName": "plain@x.io"})).await;
        let all = s.changes(env.a, 0, 10).await.unwrap();
        assert_eq!(all.len(), 2, "{:?}", env.backend);
        assert_eq!(all[0].id, id);
        assert_eq!(all[0].op, ChangeOp::Create);
        assert_eq!(all[0].actor.as_deref(), Some("TKabc"));
        assert_eq!(all[0].request_id.as_deref(), Some("req-1"));
        assert_eq!(all[0].method.as_deref(), Some("POST"));
        assert_eq!(all[1].actor, None);
        // The backlog after a cursor, counted up to a cap; another organization's is its own.
        assert_eq!(s.changes_pending(env.a, 0, 100).await.unwrap(), 2, "{:?}", env.backend);
        assert_eq!(s.changes_pending(env.a, 0, 1).await.unwrap(), 1);
        assert_eq!(s.changes_pending(env.a, all[0].seq, 100).await.unwrap(), 1);
        assert_eq!(s.changes_pending(env.a, all[1].seq, 100).await.unwrap(), 0);
        assert_eq!(s.changes_pending(env.b, 0, 100).await.unwrap(), 0);

        let only = s
            .audit(env.a, &AuditQuery { resource: Some(id.clone()), ..AuditQuery::default() })
            .await
            .unwrap();
        assert_eq!(only.len(), 1);
        let future = s
            .audit(
                env.a,
                &AuditQuery { since: Some("2999-01-01T00:00:00Z".into()), ..AuditQuery::default() },
            )
            .await
            .unwrap();
        assert!(future.is_empty());
        assert!(s.audit(env.b, &AuditQuery::default()).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_is_leased_to_one_owner_and_its_cursor_only_moves_forward() {
    each(|env| async move {
        let s = &env.store;
        user(s, env.a, json!({"userName": "before@x.io"})).await;
        let created = s.stream_create(&stream(env.a)).await.unwrap();
        assert!(created.id.starts_with("ES"));
        // A new stream starts after the newest change.
        assert!(s.changes(env.a, created.cursor, 10).await.unwrap().is_empty());
        user(s, env.a, json!({"userName": "after@x.io"})).await;
        let pending = s.changes(env.a, created.cursor, 10).await.unwrap();
        assert_eq!(pending.len(), 1, "{:?}", env.backend);

        let id = created.id.as_str();
        assert!(s.stream_claim(id, "one", 1_000, 31_000).await.unwrap());
        assert!(!s.stream_claim(id, "two", 2_000, 32_000).await.unwrap(), "lease is held");
        assert!(s.stream_claim(id, "one", 3_000, 33_000).await.unwrap(), "renewal");
        // Only the holder moves the cursor; never backwards.
        assert!(!s.stream_advance(id, Some("two"), pending[0].seq).await.unwrap());
        assert!(s.stream_advance(id, Some("one"), pending[0].seq).await.unwrap());
        assert!(!s.stream_advance(id, Some("one"), created.cursor).await.unwrap());
        assert_eq!(s.stream(id).await.unwrap().unwrap().cursor, pending[0].seq);
        // An expired lease can be taken over.
        assert!(s.stream_claim(id, "two", 40_000, 70_000).await.unwrap());

        // Failures pause it at the threshold; resuming clears them.
        assert_eq!(s.stream_failed(id, "refused", 3).await.unwrap(), 1);
        assert_eq!(s.stream_failed(id, "refused", 3).await.unwrap(), 2);
        assert_eq!(s.stream_failed(id, "refused", 3).await.unwrap(), 3);
        let paused = s.stream(id).await.unwrap().unwrap();
        assert_eq!(paused.state, StreamState::Paused);
        assert_eq!(paused.last_error.as_deref(), Some("refused"));
        assert!(!s.stream_claim(id, "one", 100_000, 130_000).await.unwrap(), "paused");
        assert!(s.stream_set_state(id, StreamState::Active).await.unwrap());
        let resumed = s.stream(id).await.unwrap().unwrap();
        assert_eq!((resumed.state, resumed.failures), (StreamState::Active, 0));

        assert_eq!(s.streams(Some(env.a)).await.unwrap().len(), 1);
        assert!(s.streams(Some(env.b)).await.unwrap().is_empty());
        assert!(s.stream_delete(id).await.unwrap());
        assert!(s.stream(id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_keeps_the_changes_an_active_stream_has_not_delivered() {
    each(|env| async move {
        let s = &env.store;
        let st = s.stream_create(&stream(env.a)).await.unwrap();
        for i in 0..6 {
            user(s, env.a, json!({ "userName": format!("r{i}@x.io") })).await;
        }
        let r = Retention {
            change_log_max_age: None,
            change_log_max_rows: Some(1),
            soft_deleted_max_age: None,
            batch: 100,
        };
        s.prune(&r).await.unwrap();
        assert_eq!(s.changes(env.a, st.cursor, 100).await.unwrap().len(), 6, "{:?}", env.backend);
        // Paused, the stream holds nothing back.
        s.stream_set_state(&st.id, StreamState::Paused).await.unwrap();
        s.prune(&r).await.unwrap();
        assert_eq!(s.changes(env.a, 0, 100).await.unwrap().len(), 1, "{:?}", env.backend);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_keys_are_kept_newest_first() {
    each(|env| async move {
        let s = &env.store;
        assert!(s.signing_keys().await.unwrap().is_empty());
        for (kid, at) in [("k1", "2026-01-01T00:00:00.000Z"), ("k2", "2026-02-01T00:00:00.000Z")] {
            s.add_signing_key(&scim_store::SigningKey {
                kid: kid.into(),
                private_pkcs8: "00".into(),
                public_jwk: "{}".into(),
                created: at.into(),
            })
            .await
            .unwrap();
        }
        let kids: Vec<_> = s.signing_keys().await.unwrap().into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, ["k2", "k1"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_change_log_records_what_each_change_did() {
    use scim_core::schema::ResourceKind::User;
    each(|env| async move {
        let s = &env.store;
        let u =
            user(s, env.a, json!({"userName": "d@x.io", "externalId": "e1", "displayName": "D"}))
                .await;
        let new_doc = json!({"userName": "d@x.io", "externalId": "e2", "active": false});
        s.modify(
            env.a,
            rid(User, &u.id),
            None,
            scim_store::ReadOptions::default(),
            Box::new(move |_| {
                Ok(scim_store::Change {
                    resource: res(new_doc.clone()),
                    members: vec![],
                    password_hash: Some(Some("hash".into())),
                    changed: true,
                })
            }),
        )
        .await
        .unwrap();
        let second = user(s, env.a, json!({"userName": "e@x.io"})).await;
        s.deactivate_users(env.a, &[usid(&second.id)]).await.unwrap();
        s.delete(env.a, rid(User, &u.id), None, false).await.unwrap();

        let all = s.changes(env.a, 0, 10).await.unwrap();
        assert_eq!(all.len(), 5, "{:?}", env.backend);
        let (create, update, _, deactivate, delete) = (&all[0], &all[1], &all[2], &all[3], &all[4]);
        assert_eq!(create.op, ChangeOp::Create);
        for a in ["userName", "externalId", "displayName"] {
            assert!(create.attributes.iter().any(|x| x == a), "{:?}: {create:?}", env.backend);
        }
        assert_eq!(create.external_id.as_deref(), Some("e1"));
        assert_eq!(create.active, None);

        assert_eq!(update.op, ChangeOp::Update);
        for a in ["active", "displayName", "externalId", "password"] {
            assert!(update.attributes.iter().any(|x| x == a), "{:?}: {update:?}", env.backend);
        }
        assert!(!update.attributes.iter().any(|x| x == "userName"), "{update:?}");
        assert_eq!(update.external_id.as_deref(), Some("e2"));
        assert_eq!(update.active, Some(false), "{:?}", env.backend);

        assert_eq!(deactivate.attributes, vec!["active".to_owned()]);
        assert_eq!(deactivate.active, Some(false));
        assert_eq!(delete.op, ChangeOp::Delete);
        assert!(delete.attributes.is_empty() && delete.active.is_none());
    })
    .await;
}
