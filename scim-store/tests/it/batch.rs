//! `create_many`: one transaction per call, chunked multi-row inserts, `create`'s
//! uniqueness semantics per resource, all or nothing.

use crate::query::q;
use crate::support::*;
use scim_core::schema::ResourceKind::{Group, User};
use scim_core::sid::{OrganizationSid, UserSid};
use scim_store::{
    MemberKind, MemberRow, NewResource, Pagination, Query, ReadOptions, Store, StoreError,
};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

async fn total(s: &Arc<dyn Store>, org: OrganizationSid, filter: Option<&str>) -> u64 {
    let query = Query { pagination: Pagination::Index { start_index: 1, count: 0 }, ..q(filter) };
    s.query(org, User, &query).await.unwrap().total_results
}

fn users(from: usize, to: usize) -> Vec<NewResource> {
    (from..to)
        .map(|i| {
            new_user(json!({"userName": format!("Batch{i:05}"), "externalId": format!("x{i}"),
                "emails": [{"value": format!("b{i}@Example.com")}], "title": "bulk"}))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_many_inserts_in_order_across_chunks() {
    each(|env| async move {
        let s = &env.store;
        assert!(s.create_many(env.a, User, Vec::new()).await.unwrap().is_empty());
        // More than one chunk of every multi-row statement.
        let n = 1_203;
        let out = s.create_many(env.a, User, users(0, n)).await.unwrap();
        assert_eq!(out.len(), n);
        let ids: HashSet<&str> = out.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids.len(), n);
        for (i, u) in out.iter().enumerate() {
            assert!(UserSid::is_valid(&u.id));
            assert_eq!(u.version, 1);
            assert!(!u.deleted);
            assert_eq!(u.resource.get("userName").unwrap(), format!("Batch{i:05}").as_str());
            assert_eq!(u.resource.id(), Some(u.id.as_str()));
            assert_eq!(u.resource.get("meta").unwrap()["version"], "W/\"1\"");
        }
        // What create_many answers is what a read returns.
        let last = out.last().unwrap();
        let got = s.get(env.a, rid(User, &last.id), ReadOptions::default()).await.unwrap().unwrap();
        assert_eq!(&got, last);
        assert_eq!(total(s, env.a, None).await, n as u64);
        // The indexed columns and the e-mail rows are written too.
        assert_eq!(total(s, env.a, Some("userName eq \"batch01200\"")).await, 1);
        // Totals without a COUNT (a short page) and with one agree.
        for (start, count, len, want) in [(1, 100, 1, 1), (2, 100, 0, 1), (1, 1, 1, 1)] {
            let query = Query {
                pagination: Pagination::Index { start_index: start, count },
                ..q(Some("userName eq \"batch01200\""))
            };
            let p = s.query(env.a, User, &query).await.unwrap();
            assert_eq!((p.resources.len(), p.total_results), (len, want), "{start} {count}");
        }
        let query =
            Query { pagination: Pagination::Index { start_index: 1_201, count: 100 }, ..q(None) };
        let p = s.query(env.a, User, &query).await.unwrap();
        assert_eq!((p.resources.len(), p.total_results), (3, n as u64));
        assert_eq!(total(s, env.a, Some("externalId eq \"x7\"")).await, 1);
        assert_eq!(total(s, env.a, Some("emails eq \"B1202@example.COM\"")).await, 1);
        assert_eq!(total(s, env.a, Some("title eq \"bulk\"")).await, n as u64);
        // One change-log entry per resource.
        let log = s.changes(env.a, 0, 10_000).await.unwrap();
        assert_eq!(log.len(), n);
        assert!(log.iter().all(|c| c.version == 1 && ids.contains(c.id.as_str())));
        // Uniqueness is per organization.
        assert_eq!(s.create_many(env.b, User, users(0, 3)).await.unwrap().len(), 3);
        assert_eq!(total(s, env.b, None).await, 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_many_is_all_or_nothing() {
    each(|env| async move {
        let s = &env.store;
        user(s, env.a, json!({"userName": "Taken", "externalId": "ext-taken"})).await;
        let before = s.changes(env.a, 0, 100).await.unwrap().len();

        // A userName taken by a stored user (case-insensitively), late in the batch.
        let mut batch = users(0, 700);
        batch.push(new_user(json!({"userName": "TAKEN"})));
        let e = s.create_many(env.a, User, batch).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Conflict { attribute, value } if attribute == "userName" && value == "TAKEN"),
            "{e:?}"
        );
        // An externalId taken by a stored user.
        let mut batch = users(0, 2);
        batch.push(new_user(json!({"userName": "fresh", "externalId": "ext-taken"})));
        let e = s.create_many(env.a, User, batch).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Conflict { attribute, value } if attribute == "externalId" && value == "ext-taken"),
            "{e:?}"
        );
        // Two resources of the same call with one userName: the later one conflicts.
        let mut batch = users(0, 3);
        batch.push(new_user(json!({"userName": "batch00001"})));
        let e = s.create_many(env.a, User, batch).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Conflict { attribute, value } if attribute == "userName" && value == "batch00001"),
            "{e:?}"
        );
        // The first conflict in input order is the one reported.
        let batch = vec![
            new_user(json!({"userName": "one", "externalId": "dup"})),
            new_user(json!({"userName": "two", "externalId": "dup"})),
            new_user(json!({"userName": "Taken"})),
        ];
        let e = s.create_many(env.a, User, batch).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Conflict { attribute, value } if attribute == "externalId" && value == "dup"),
            "{e:?}"
        );
        // An invalid document anywhere fails the call.
        let mut batch = users(0, 3);
        batch.push(new_user(json!({"displayName": "no userName"})));
        assert!(matches!(s.create_many(env.a, User, batch).await, Err(StoreError::Scim(_))));

        // Nothing of the failed calls was written.
        assert_eq!(total(s, env.a, None).await, 1);
        assert_eq!(total(s, env.a, Some("emails pr")).await, 0);
        assert_eq!(s.changes(env.a, 0, 100).await.unwrap().len(), before);
        // And the same batch goes in once the conflict is gone.
        assert_eq!(s.create_many(env.a, User, users(0, 700)).await.unwrap().len(), 700);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn create_many_groups_with_members() {
    each(|env| async move {
        let s = &env.store;
        let u = user(s, env.a, json!({"userName": "member", "displayName": "Member"})).await;
        let other = user(s, env.b, json!({"userName": "elsewhere"})).await;
        let row = |id: &str| MemberRow { value: id.to_owned(), kind: MemberKind::User };
        let groups = vec![
            NewResource { members: vec![row(&u.id)], ..new_group("G1") },
            new_group("G2"),
        ];
        let out = s.create_many(env.a, Group, groups).await.unwrap();
        let members =
            |s: &scim_store::Stored| s.resource.get("members").and_then(Value::as_array).cloned();
        assert_eq!(members(&out[0]).unwrap()[0]["value"], u.id.as_str());
        assert_eq!(members(&out[0]).unwrap()[0]["display"], "Member");
        assert_eq!(members(&out[1]), Some(vec![]));
        // A member from another organization fails the whole call.
        let groups = vec![
            new_group("G3"),
            NewResource { members: vec![row(&other.id)], ..new_group("G4") },
        ];
        let e = s.create_many(env.a, Group, groups).await.unwrap_err();
        assert!(matches!(e, StoreError::Scim(_)), "{e:?}");
        let all = Query { pagination: Pagination::Index { start_index: 1, count: 0 }, ..q(None) };
        assert_eq!(s.query(env.a, Group, &all).await.unwrap().total_results, 2);
        // Group displayName uniqueness, case-insensitive, within the call.
        let e = s.create_many(env.a, Group, vec![new_group("G5"), new_group("g5")]).await;
        assert!(
            matches!(&e, Err(StoreError::Conflict { attribute, value }) if attribute == "displayName" && value == "g5"),
            "{e:?}"
        );
    })
    .await;
}
