//! Organizations, tokens, clients, shared secrets, idempotency records.

use crate::support::*;
use scim_store::{
    IdempotencyBegin, IdempotentAnswer, NewClient, NewToken, Policy, Scope, StoreError,
};

#[tokio::test(flavor = "multi_thread")]
async fn organizations_tokens_clients_secrets() {
    each(|env| async move {
        let s = &env.store;
        let o = s
            .create_organization("acme", &[Policy::SoftDelete, Policy::UsernameIsPrimaryEmail])
            .await
            .unwrap();
        let got = s.organization(o.sid).await.unwrap().unwrap();
        assert_eq!(got, o);
        assert!(got.has(Policy::SoftDelete));
        let all = s.organizations().await.unwrap();
        let mut names: Vec<&str> = all.iter().map(|o| o.name.as_str()).collect();
        names.sort();
        assert_eq!(names, vec!["a", "acme", "b"]);
        assert!(all.windows(2).all(|w| w[0].created <= w[1].created), "oldest first");
        assert!(
            s.organization(scim_core::sid::OrganizationSid::generate().unwrap())
                .await
                .unwrap()
                .is_none()
        );

        let t = s
            .create_token(NewToken {
                org: o.sid,
                name: Some("entra".into()),
                scopes: vec![Scope::Read],
                secret_hash: [7; 32],
            })
            .await
            .unwrap();
        assert!(t.id.starts_with("TK") && t.id.len() == 34);
        assert_eq!(s.token_by_hash(&[7; 32]).await.unwrap().unwrap(), t);
        assert!(s.token_by_hash(&[8; 32]).await.unwrap().is_none());
        s.create_token(NewToken {
            org: env.a,
            name: None,
            scopes: Scope::ALL.to_vec(),
            secret_hash: [9; 32],
        })
        .await
        .unwrap();
        assert_eq!(s.tokens(o.sid).await.unwrap(), vec![t.clone()]);
        assert!(s.revoke_token(&t.id).await.unwrap());
        assert!(!s.revoke_token(&t.id).await.unwrap());
        assert!(s.token_by_hash(&[7; 32]).await.unwrap().is_none());
        assert!(s.tokens(o.sid).await.unwrap().is_empty());

        let c = s
            .create_client(NewClient {
                client_id: "cli".into(),
                secret_hash: [3; 32],
                orgs: vec![env.b, env.a, env.a],
                scopes: vec![Scope::Write],
            })
            .await
            .unwrap();
        let (rec, hash) = s.client("cli").await.unwrap().unwrap();
        assert_eq!(hash, [3; 32]);
        assert_eq!(rec, c);
        let mut orgs = vec![env.a, env.b];
        orgs.sort();
        assert_eq!(rec.orgs, orgs);
        let dup = s
            .create_client(NewClient {
                client_id: "cli".into(),
                secret_hash: [4; 32],
                orgs: vec![env.a],
                scopes: vec![],
            })
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
        assert!(s.revoke_client("cli").await.unwrap());
        assert!(!s.revoke_client("cli").await.unwrap());
        assert!(s.client("cli").await.unwrap().is_none());

        let k1 = s.shared_secret("jwt").await.unwrap();
        assert_eq!(s.shared_secret("jwt").await.unwrap(), k1);
        assert_ne!(s.shared_secret("cursor").await.unwrap(), k1);
        if let Some(replica) = env.replica(Default::default()).await {
            assert_eq!(replica.shared_secret("jwt").await.unwrap(), k1);
        }
        s.ping().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency() {
    each(|env| async move {
        let s = &env.store;
        let fp = [1u8; 32];
        assert_eq!(s.idempotency_begin(env.a, "k1", &fp).await.unwrap(), IdempotencyBegin::Claimed);
        assert_eq!(
            s.idempotency_begin(env.a, "k1", &fp).await.unwrap(),
            IdempotencyBegin::InFlight
        );
        assert_eq!(
            s.idempotency_begin(env.a, "k1", &[2; 32]).await.unwrap(),
            IdempotencyBegin::Mismatch
        );
        // Keys are per organization.
        assert_eq!(
            s.idempotency_begin(env.b, "k1", &[2; 32]).await.unwrap(),
            IdempotencyBegin::Claimed
        );
        let answer = IdempotentAnswer {
            status: 201,
            headers: vec![
                ("Location".into(), "/Users/US1".into()),
                ("ETag".into(), "W/\"1\"".into()),
            ],
            body: b"{\"id\":\"US1\"}\x00\xff".to_vec(),
        };
        s.idempotency_complete(env.a, "k1", answer.clone()).await.unwrap();
        assert_eq!(
            s.idempotency_begin(env.a, "k1", &fp).await.unwrap(),
            IdempotencyBegin::Replay(answer.clone())
        );
        assert_eq!(
            s.idempotency_begin(env.a, "k1", &[3; 32]).await.unwrap(),
            IdempotencyBegin::Mismatch
        );
        // Abort releases a claim (and never a finished answer).
        assert_eq!(s.idempotency_begin(env.a, "k2", &fp).await.unwrap(), IdempotencyBegin::Claimed);
        s.idempotency_abort(env.a, "k2").await.unwrap();
        assert_eq!(
            s.idempotency_begin(env.a, "k2", &[5; 32]).await.unwrap(),
            IdempotencyBegin::Claimed
        );
        s.idempotency_abort(env.a, "k1").await.unwrap();
        assert_eq!(
            s.idempotency_begin(env.a, "k1", &fp).await.unwrap(),
            IdempotencyBegin::Replay(answer)
        );

        // Concurrent duplicates: exactly one claims.
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let s = env.store.clone();
            let org = env.a;
            tasks.push(tokio::spawn(async move {
                s.idempotency_begin(org, "race", &[9; 32]).await.unwrap()
            }));
        }
        let mut claimed = 0;
        for t in tasks {
            match t.await.unwrap() {
                IdempotencyBegin::Claimed => claimed += 1,
                IdempotencyBegin::InFlight => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(claimed, 1);
    })
    .await;
}
