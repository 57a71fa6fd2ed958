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
                expires: None,
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
            expires: None,
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

#[tokio::test(flavor = "multi_thread")]
async fn token_expiry_last_use_and_organization_admin() {
    use scim_store::{OrgContents, OrgDeletion};
    each(|env| async move {
        let s = &env.store;
        // Expiry: an expired token authenticates nothing; a future one does.
        let new = |hash: u8, expires: Option<&str>| NewToken {
            org: env.a,
            name: None,
            scopes: Scope::ALL.to_vec(),
            secret_hash: [hash; 32],
            expires: expires.map(str::to_owned),
        };
        let past = s.create_token(new(21, Some("2001-01-01T00:00:00Z"))).await.unwrap();
        assert_eq!(past.expires.as_deref(), Some("2001-01-01T00:00:00.000Z"));
        assert!(s.token_by_hash(&[21; 32]).await.unwrap().is_none(), "expired");
        let future = s.create_token(new(22, Some("2999-01-01T00:00:00+02:00"))).await.unwrap();
        assert_eq!(future.expires.as_deref(), Some("2998-12-31T22:00:00.000Z"));
        assert_eq!(s.token_by_hash(&[22; 32]).await.unwrap().unwrap(), future);
        assert!(s.create_token(new(23, Some("tomorrow"))).await.is_err());

        // Last use: written, then not again within a minute, then again after one.
        assert_eq!(future.last_used, None);
        s.touch_token(&future.id, "2030-01-01T10:00:00Z").await.unwrap();
        s.touch_token(&future.id, "2030-01-01T10:00:59Z").await.unwrap();
        let a = env.a;
        let used = |id: String| async move {
            s.tokens(a).await.unwrap().into_iter().find(|t| t.id == id).unwrap().last_used
        };
        assert_eq!(used(future.id.clone()).await.as_deref(), Some("2030-01-01T10:00:00.000Z"));
        s.touch_token(&future.id, "2030-01-01T10:01:00Z").await.unwrap();
        assert_eq!(used(future.id.clone()).await.as_deref(), Some("2030-01-01T10:01:00.000Z"));

        // Rename and policies.
        assert!(s.rename_organization(env.a, "renamed").await.unwrap());
        assert!(s.set_policies(env.a, &[Policy::SoftDelete]).await.unwrap());
        let o = s.organization(env.a).await.unwrap().unwrap();
        assert_eq!((o.name.as_str(), o.policies.clone()), ("renamed", vec![Policy::SoftDelete]));
        let nobody = scim_core::sid::OrganizationSid::generate().unwrap();
        assert!(!s.rename_organization(nobody, "x").await.unwrap());
        assert!(!s.set_policies(nobody, &[]).await.unwrap());

        // Clients: one granted on a alone, one on a and b.
        for (id, orgs) in [("only-a", vec![env.a]), ("a-and-b", vec![env.a, env.b])] {
            s.create_client(NewClient {
                client_id: id.into(),
                secret_hash: [5; 32],
                orgs,
                scopes: vec![Scope::Read],
            })
            .await
            .unwrap();
        }
        let ids: Vec<String> =
            s.clients().await.unwrap().into_iter().map(|c| c.client_id).collect();
        assert_eq!(ids.len(), 2);

        // Delete: refused while it holds resources, unless forced; everything goes.
        let u = user(
            s,
            env.a,
            serde_json::json!({"userName": "gone@x.io", "emails": [{"value": "gone@x.io"}]}),
        )
        .await;
        let member =
            scim_store::MemberRow { value: u.id.clone(), kind: scim_store::MemberKind::User };
        s.create(
            env.a,
            scim_core::schema::ResourceKind::Group,
            scim_store::NewResource { members: vec![member], ..new_group("gone") },
        )
        .await
        .unwrap();
        let keep = user(s, env.b, serde_json::json!({"userName": "kept@x.io"})).await;
        let contents = OrgContents { users: 1, groups: 1, tokens: 2, clients: 2 };
        assert_eq!(s.organization_contents(env.a).await.unwrap(), Some(contents));
        assert_eq!(
            s.delete_organization(env.a, true).await.unwrap(),
            OrgDeletion::NotEmpty(contents)
        );
        assert!(s.organization(env.a).await.unwrap().is_some());
        assert_eq!(
            s.delete_organization(env.a, false).await.unwrap(),
            OrgDeletion::Deleted(contents)
        );
        assert!(s.organization(env.a).await.unwrap().is_none());
        assert_eq!(s.delete_organization(env.a, false).await.unwrap(), OrgDeletion::NotFound);
        assert!(s.token_by_hash(&[22; 32]).await.unwrap().is_none());
        assert!(s.client("only-a").await.unwrap().is_none(), "granted on a alone: gone");
        assert_eq!(s.client("a-and-b").await.unwrap().unwrap().0.orgs, vec![env.b]);
        assert!(s.changes(env.a, 0, 10).await.unwrap().is_empty());
        let kept_id = keep.id.clone();
        let got = s
            .get(env.b, rid(scim_core::schema::ResourceKind::User, &kept_id), Default::default())
            .await
            .unwrap();
        assert!(got.is_some(), "other organizations keep their data");
        let _ = u;
    })
    .await;
}
