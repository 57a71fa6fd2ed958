//! Create, read, modify, delete, soft delete, restore, uniqueness, versions, bulk
//! deactivate, change log.

use crate::support::*;
use scim_core::schema::ResourceKind::{Group, User};
use scim_core::sid::{GroupSid, ResourceId, UserSid};
use scim_store::{Change, ChangeOp, ReadOptions, StoreError, Stored};
use serde_json::{Value, json};

fn set(s: &Stored, key: &str, v: Value) -> Change {
    let mut r = s.resource.clone();
    r.as_map_mut().insert(key.into(), v);
    Change { resource: r, members: vec![], password_hash: None, changed: true }
}

#[tokio::test(flavor = "multi_thread")]
async fn create_get_modify_delete() {
    each(|env| async move {
        let s = &env.store;
        let mut new = new_user(json!({"userName":"Alice@x.io","displayName":"Alice","password":"nope","groups":[{"value":"x"}]}));
        new.password_hash = Some("hash".into());
        let u = s.create(env.a, User, new).await.unwrap();
        assert!(UserSid::is_valid(&u.id), "{}", u.id);
        assert_eq!(u.version, 1);
        let m = u.resource.get("meta").unwrap();
        assert_eq!(m["resourceType"], "User");
        assert_eq!(m["version"], "W/\"1\"");
        let created = m["created"].as_str().unwrap().to_owned();
        assert!(created.ends_with('Z') && created.len() == 24, "{created}");
        assert_eq!(m["lastModified"], created.as_str());
        assert_eq!(u.resource.id(), Some(u.id.as_str()));
        assert!(u.resource.get("password").is_none());
        assert!(u.resource.get("groups").is_none());

        let got = s.get(env.a, rid(User, &u.id), ReadOptions::default()).await.unwrap().unwrap();
        assert_eq!(got.resource.get("userName").unwrap(), "Alice@x.io");
        assert_eq!(got.resource.get("displayName").unwrap(), "Alice");
        let keys: Vec<&String> = got.resource.as_map().keys().collect();
        assert_eq!(keys.first().map(|k| k.as_str()), Some("schemas"));
        assert_eq!(keys.last().map(|k| k.as_str()), Some("meta"));
        // A user's sid names no group: it is not a group's sid, and the group sid of the
        // same 128 bits finds nothing.
        assert!(ResourceId::parse(Group, &u.id).is_err());
        let same_bits = GroupSid::from_u128(usid(&u.id).as_u128());
        assert!(s.get(env.a, same_bits.into(), ReadOptions::default()).await.unwrap().is_none());

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let m = s
            .modify(env.a, rid(User, &u.id), Some(1), ReadOptions::default(), Box::new(|cur| Ok(set(cur, "title", json!("Boss")))))
            .await
            .unwrap();
        assert_eq!(m.version, 2);
        assert_eq!(m.resource.get("title").unwrap(), "Boss");
        assert_eq!(m.resource.get("meta").unwrap()["version"], "W/\"2\"");
        assert!(m.resource.get("meta").unwrap()["lastModified"].as_str().unwrap() > created.as_str());
        assert_eq!(m.resource.get("meta").unwrap()["created"], created.as_str());

        // A stale version fails and changes nothing.
        let e = s
            .modify(env.a, rid(User, &u.id), Some(1), ReadOptions::default(), Box::new(|cur| Ok(set(cur, "title", json!("X")))))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::PreconditionFailed { current: 2 }), "{e:?}");
        // An unchanged write bumps nothing.
        let same = s
            .modify(env.a, rid(User, &u.id), None, ReadOptions::default(), Box::new(|cur| {
                Ok(Change { resource: cur.resource.clone(), members: vec![], password_hash: None, changed: false })
            }))
            .await
            .unwrap();
        assert_eq!(same.version, 2);
        assert_eq!(same.resource.get("title").unwrap(), "Boss");
        // A modifier's error aborts the write.
        let e = s
            .modify(env.a, rid(User, &u.id), None, ReadOptions::default(), Box::new(|_| {
                Err(scim_core::ScimError::new(scim_core::ErrorCode::InvalidValue, "no"))
            }))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Scim(_)));

        let e = s.delete(env.a, rid(User, &u.id), Some(1), false).await.unwrap_err();
        assert!(matches!(e, StoreError::PreconditionFailed { current: 2 }));
        s.delete(env.a, rid(User, &u.id), Some(2), false).await.unwrap();
        assert!(s.get(env.a, rid(User, &u.id), ReadOptions::default()).await.unwrap().is_none());
        assert!(matches!(s.delete(env.a, rid(User, &u.id), None, false).await, Err(StoreError::NotFound(_))));
        let e = s
            .modify(env.a, rid(User, &u.id), None, ReadOptions::default(), Box::new(|cur| Ok(set(cur, "title", json!("X")))))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)));
        // The userName is free again after a hard delete.
        user(&env.store, env.a, json!({"userName":"alice@x.io"})).await;

        let log = s.changes(env.a, 0, 100).await.unwrap();
        let ops: Vec<(ChangeOp, u64)> = log.iter().filter(|c| c.id == u.id).map(|c| (c.op, c.version)).collect();
        assert_eq!(ops, vec![(ChangeOp::Create, 1), (ChangeOp::Update, 2), (ChangeOp::Delete, 3)]);
        assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
        let after = s.changes(env.a, log[0].seq, 1).await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].seq, log[1].seq);
        assert!(s.changes(env.b, 0, 100).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn uniqueness_conflicts_name_the_attribute() {
    each(|env| async move {
        let s = &env.store;
        let u = user(s, env.a, json!({"userName":"Bob@x.io","externalId":"ext-1"})).await;
        let conflict = |r: Result<Stored, StoreError>| match r {
            Err(StoreError::Conflict { attribute, value }) => (attribute, value),
            other => panic!("expected a conflict, got {other:?}"),
        };
        let (a, v) =
            conflict(s.create(env.a, User, new_user(json!({"userName":"BOB@X.IO"}))).await);
        assert_eq!((a.as_str(), v.as_str()), ("userName", "BOB@X.IO"));
        let (a, _) = conflict(
            s.create(env.a, User, new_user(json!({"userName":"c","externalId":"ext-1"}))).await,
        );
        assert_eq!(a, "externalId");
        // externalId is caseExact.
        user(s, env.a, json!({"userName":"d","externalId":"EXT-1"})).await;
        // Groups: displayName, case-insensitively.
        group(s, env.a, "Admins").await;
        let (a, _) = conflict(s.create(env.a, Group, new_group("admins")).await);
        assert_eq!(a, "displayName");
        // Groups and users do not share the namespace.
        group(s, env.a, "Bob@x.io").await;
        // Modify into a taken name.
        let other = user(s, env.a, json!({"userName":"e"})).await;
        let (a, _) = conflict(
            s.modify(
                env.a,
                rid(User, &other.id),
                None,
                ReadOptions::default(),
                Box::new(|cur| {
                    let mut r = cur.resource.clone();
                    r.as_map_mut().insert("userName".into(), json!("bob@x.io"));
                    Ok(Change { resource: r, members: vec![], password_hash: None, changed: true })
                }),
            )
            .await,
        );
        assert_eq!(a, "userName");
        // Renaming oneself in case only is fine.
        s.modify(
            env.a,
            rid(User, &u.id),
            None,
            ReadOptions::default(),
            Box::new(|cur| {
                let mut r = cur.resource.clone();
                r.as_map_mut().insert("userName".into(), json!("BOB@x.io"));
                Ok(Change { resource: r, members: vec![], password_hash: None, changed: true })
            }),
        )
        .await
        .unwrap();
        // Another organization has its own namespace.
        user(s, env.b, json!({"userName":"bob@x.io","externalId":"ext-1"})).await;
        group(s, env.b, "admins").await;
        // A missing userName is refused.
        assert!(matches!(
            s.create(env.a, User, new_user(json!({"title":"x"}))).await,
            Err(StoreError::Scim(_))
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_modifies_with_one_version_one_wins() {
    each(|env| async move {
        let u = user(&env.store, env.a, json!({"userName":"race"})).await;
        let mut tasks = Vec::new();
        for i in 0..4 {
            let s = env.store.clone();
            let id = u.id.clone();
            let org = env.a;
            tasks.push(tokio::spawn(async move {
                s.modify(
                    org,
                    rid(User, &id),
                    Some(1),
                    ReadOptions::default(),
                    Box::new(move |cur| Ok(set(cur, "title", json!(format!("t{i}"))))),
                )
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(s) => {
                    ok += 1;
                    assert_eq!(s.version, 2);
                }
                Err(StoreError::PreconditionFailed { current }) => assert_eq!(current, 2),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 1);
        // Unconditional concurrent writes never lose an update: every one bumps the version.
        let mut tasks = Vec::new();
        for i in 0..4 {
            let s = env.store.clone();
            let id = u.id.clone();
            let org = env.a;
            tasks.push(tokio::spawn(async move {
                s.modify(
                    org,
                    rid(User, &id),
                    None,
                    ReadOptions::default(),
                    Box::new(move |cur| Ok(set(cur, "title", json!(format!("u{i}"))))),
                )
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let got =
            env.store.get(env.a, rid(User, &u.id), ReadOptions::default()).await.unwrap().unwrap();
        assert_eq!(got.version, 6);
    })
    .await;
}

/// Read-modify-writes racing on one user lose nothing: each adds its own e-mail to what it
/// read, and at the end the document, the e-mail lookup rows (which a filter reads) and the
/// change log all hold every one of them, one version each.
#[tokio::test(flavor = "multi_thread")]
async fn racing_updates_of_one_user_lose_nothing() {
    each(|env| async move {
        let u =
            user(&env.store, env.a, json!({"userName":"racer","emails":[{"value":"first@x.io"}]}))
                .await;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let s = env.store.clone();
            let id = u.id.clone();
            let org = env.a;
            tasks.push(tokio::spawn(async move {
                let add = move |cur: &Stored| {
                    let mut emails = cur.resource.get("emails").cloned().unwrap_or(json!([]));
                    let list = emails.as_array_mut().unwrap();
                    // Every third one also drops the first address (gone after the first).
                    if i % 3 == 0 {
                        list.retain(|e| e["value"] != "first@x.io");
                    }
                    list.push(json!({"value": format!("e{i}@x.io")}));
                    Ok(set(cur, "emails", emails))
                };
                s.modify(org, rid(User, &id), None, ReadOptions::default(), Box::new(add)).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let got =
            env.store.get(env.a, rid(User, &u.id), ReadOptions::default()).await.unwrap().unwrap();
        assert_eq!(got.version, 13);
        let mut values: Vec<String> = got
            .resource
            .get("emails")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["value"].as_str().unwrap().to_owned())
            .collect();
        values.sort();
        let mut want: Vec<String> = (0..12).map(|i| format!("e{i}@x.io")).collect();
        want.sort();
        assert_eq!(values, want);
        for (value, found) in [("e7@x.io", 1), ("E11@X.IO", 1), ("first@x.io", 0)] {
            let filter = format!("emails.value eq \"{value}\"");
            let page = env.store.query(env.a, User, &crate::query::q(Some(&filter))).await.unwrap();
            assert_eq!(page.resources.len(), found, "{filter}");
        }
        let log = env.store.changes(env.a, 0, 1000).await.unwrap();
        let updates = log.iter().filter(|c| c.id == u.id && c.op == ChangeOp::Update);
        let mut versions: Vec<u64> = updates.map(|c| c.version).collect();
        versions.sort_unstable();
        assert_eq!(versions, (2..=13).collect::<Vec<u64>>());
    })
    .await;
}

/// A long e-mail list, set and then cut short by updates: the lookup rows that filters
/// read follow the document both ways.
#[tokio::test(flavor = "multi_thread")]
async fn long_email_lists_are_rewritten_by_updates() {
    each(|env| async move {
        let u =
            user(&env.store, env.a, json!({"userName":"many","emails":[{"value":"keep@x.io"}]}))
                .await;
        let id = rid(User, &u.id);
        let many: Vec<Value> = (0..150).map(|i| json!({"value": format!("m{i}@x.io")})).collect();
        let long = json!([{"value":"keep@x.io"}])
            .as_array()
            .unwrap()
            .iter()
            .cloned()
            .chain(many)
            .collect::<Vec<_>>();
        let set_emails = |v: Value| Box::new(move |cur: &Stored| Ok(set(cur, "emails", v.clone())));
        env.store
            .modify(env.a, id, None, ReadOptions::default(), set_emails(json!(long)))
            .await
            .unwrap();
        let (store, org) = (env.store.clone(), env.a);
        let count = |value: &'static str| {
            let store = store.clone();
            async move {
                let filter = format!("emails.value eq \"{value}\"");
                store
                    .query(org, User, &crate::query::q(Some(&filter)))
                    .await
                    .unwrap()
                    .resources
                    .len()
            }
        };
        assert_eq!((count("m149@x.io").await, count("keep@x.io").await), (1, 1));
        let short = json!([{"value":"keep@x.io"},{"value":"m3@x.io"},{"value":"new@x.io"}]);
        env.store.modify(env.a, id, None, ReadOptions::default(), set_emails(short)).await.unwrap();
        assert_eq!(
            (count("m149@x.io").await, count("m3@x.io").await, count("new@x.io").await),
            (0, 1, 1)
        );
        env.store
            .modify(env.a, id, None, ReadOptions::default(), set_emails(json!([])))
            .await
            .unwrap();
        assert_eq!((count("keep@x.io").await, count("new@x.io").await), (0, 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_delete_hides_and_restore_brings_back() {
    each(|env| async move {
        let s = &env.store;
        let u =
            user(s, env.a, json!({"userName":"soft","externalId":"x-soft","active":true})).await;
        let g = group(s, env.a, "G").await;
        s.modify(
            env.a,
            rid(Group, &g.id),
            None,
            ReadOptions::default(),
            Box::new({
                let id = u.id.clone();
                move |cur| {
                    Ok(Change {
                        resource: cur.resource.clone(),
                        members: vec![scim_store::MemberOp::Add(vec![scim_store::MemberRow {
                            value: id.clone(),
                            kind: scim_store::MemberKind::User,
                        }])],
                        password_hash: None,
                        changed: true,
                    })
                }
            }),
        )
        .await
        .unwrap();
        s.delete(env.a, rid(User, &u.id), None, true).await.unwrap();
        assert!(s.get(env.a, rid(User, &u.id), ReadOptions::ALL).await.unwrap().is_none());
        let q = crate::query::q(Some("userName eq \"soft\""));
        assert_eq!(s.query(env.a, User, &q).await.unwrap().total_results, 0);
        let g_now = s.get(env.a, rid(Group, &g.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(g_now.resource.get("members").unwrap(), &json!([]));
        assert!(matches!(
            s.deactivate_users(env.a, &[usid(&u.id)]).await,
            Err(StoreError::UnknownIds(_))
        ));
        assert!(matches!(
            s.delete(env.a, rid(User, &u.id), None, true).await,
            Err(StoreError::NotFound(_))
        ));
        // RFC 7644 3.6: a deleted user is not in conflict with a new one; while the new one
        // holds the userName, the old one cannot come back.
        let again = s
            .create(env.a, User, new_user(json!({"userName":"SOFT","externalId":"x-soft"})))
            .await
            .unwrap();
        assert!(matches!(
            s.restore(env.a, rid(User, &u.id)).await,
            Err(StoreError::Conflict { attribute, .. }) if attribute == "userName"
        ));
        s.delete(env.a, rid(User, &again.id), None, false).await.unwrap();
        // Not restorable from another organization.
        assert!(matches!(s.restore(env.b, rid(User, &u.id)).await, Err(StoreError::NotFound(_))));
        let r = s.restore(env.a, rid(User, &u.id)).await.unwrap();
        assert_eq!(r.version, 3);
        assert!(!r.deleted);
        assert_eq!(r.resource.get("active").unwrap(), false);
        assert_eq!(r.resource.get("groups").unwrap()[0]["value"], g.id.as_str());
        assert!(matches!(s.restore(env.a, rid(User, &u.id)).await, Err(StoreError::NotFound(_))));
        let g_now = s.get(env.a, rid(Group, &g.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(g_now.resource.get("members").unwrap()[0]["value"], u.id.as_str());
        let ops: Vec<ChangeOp> = s
            .changes(env.a, 0, 100)
            .await
            .unwrap()
            .iter()
            .filter(|c| c.id == u.id)
            .map(|c| c.op)
            .collect();
        assert_eq!(ops, vec![ChangeOp::Create, ChangeOp::Delete, ChangeOp::Restore]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivate_users_is_all_or_nothing() {
    each(|env| async move {
        let s = &env.store;
        let a = user(s, env.a, json!({"userName":"a","active":true,"externalId":"xa"})).await;
        let b = user(s, env.a, json!({"userName":"b","active":false})).await;
        let other = user(s, env.b, json!({"userName":"c","active":true})).await;
        let missing = UserSid::generate().unwrap().to_string();
        let e = s
            .deactivate_users(env.a, &[usid(&a.id), usid(&missing), usid(&other.id)])
            .await
            .unwrap_err();
        match e {
            StoreError::UnknownIds(ids) => assert_eq!(ids, vec![missing.clone(), other.id.clone()]),
            e => panic!("{e:?}"),
        }
        let still = s.get(env.a, rid(User, &a.id), ReadOptions::default()).await.unwrap().unwrap();
        assert_eq!(still.resource.get("active").unwrap(), true);
        assert_eq!(still.version, 1);
        // A group is no user: the user sid of a group's 128 bits names nothing.
        let g = group(s, env.a, "not a user").await;
        let as_user = UserSid::from_u128(GroupSid::parse(&g.id).unwrap().as_u128());
        assert!(matches!(
            s.deactivate_users(env.a, &[as_user]).await,
            Err(StoreError::UnknownIds(_))
        ));

        let out =
            s.deactivate_users(env.a, &[usid(&a.id), usid(&b.id), usid(&a.id)]).await.unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].id, a.id);
        assert_eq!(out[0].version, 2);
        assert_eq!(out[0].resource.get("externalId").unwrap(), "xa");
        assert_eq!(out[1].version, 1, "an inactive user is left alone");
        let got = s.get(env.a, rid(User, &a.id), ReadOptions::default()).await.unwrap().unwrap();
        assert_eq!(got.resource.get("active").unwrap(), false);
        let q = crate::query::q(Some("active eq false"));
        assert_eq!(s.query(env.a, User, &q).await.unwrap().total_results, 2);
        let theirs =
            s.get(env.b, rid(User, &other.id), ReadOptions::default()).await.unwrap().unwrap();
        assert_eq!(theirs.resource.get("active").unwrap(), true);
    })
    .await;
}
