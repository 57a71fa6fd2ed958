//! Memberships: add, remove, remove by filter, clear, cross-organization members, cascades,
//! `User.groups`.

use crate::support::*;
use scim_core::filter::Filter;
use scim_core::schema::ResourceKind::{Group, User};
use scim_store::{
    Change, MemberKind, MemberOp, MemberRow, NewResource, Pagination, Query, ReadOptions,
    StoreError, Stored,
};
use serde_json::{Value, json};
use std::sync::Arc;

fn row(id: &str) -> MemberRow {
    let kind = if id.starts_with("GR") { MemberKind::Group } else { MemberKind::User };
    MemberRow { value: id.to_owned(), kind }
}

async fn change(
    s: &Arc<dyn scim_store::Store>,
    org: scim_core::sid::OrganizationSid,
    g: &str,
    changes: Vec<MemberOp>,
) -> Result<Stored, StoreError> {
    s.modify(
        org,
        rid(Group, g),
        None,
        ReadOptions::ALL,
        Box::new(move |cur| {
            Ok(Change {
                resource: cur.resource.clone(),
                members: changes.clone(),
                password_hash: None,
                changed: true,
            })
        }),
    )
    .await
}

fn values(s: &Stored) -> Vec<String> {
    let mut v: Vec<String> = s
        .resource
        .get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn add_remove_filter_clear() {
    each(|env| async move {
        let s = &env.store;
        let u1 = user(s, env.a, json!({"userName":"u1","displayName":"User One"})).await;
        let u2 = user(s, env.a, json!({"userName":"u2"})).await;
        let u3 = user(s, env.a, json!({"userName":"u3"})).await;
        let inner = group(s, env.a, "Inner").await;
        let g = s
            .create(
                env.a,
                Group,
                NewResource { members: vec![row(&u1.id), row(&inner.id)], ..new_group("Outer") },
            )
            .await
            .unwrap();
        assert_eq!(values(&g), sorted(vec![u1.id.clone(), inner.id.clone()]));
        let m = g.resource.get("members").unwrap().as_array().unwrap();
        let one = m.iter().find(|m| m["value"] == u1.id.as_str()).unwrap();
        assert_eq!(one["display"], "User One");
        assert_eq!(one["type"], "User");
        let gi = m.iter().find(|m| m["value"] == inner.id.as_str()).unwrap();
        assert_eq!(gi["type"], "Group");
        assert_eq!(gi["display"], "Inner");

        // Add (with a duplicate and an already-present member), in order with a removal.
        let g2 = change(
            s,
            env.a,
            &g.id,
            vec![
                MemberOp::Add(vec![row(&u2.id), row(&u2.id), row(&u1.id)]),
                MemberOp::Remove(vec![inner.id.clone(), "US0000".into()]),
            ],
        )
        .await
        .unwrap();
        assert_eq!(values(&g2), sorted(vec![u1.id.clone(), u2.id.clone()]));
        assert_eq!(g2.version, 2);
        // Reading without members never fills them.
        let bare = s.get(env.a, rid(Group, &g.id), ReadOptions::default()).await.unwrap().unwrap();
        assert!(bare.resource.get("members").is_none());

        let u1_groups = s.get(env.a, rid(User, &u1.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(
            u1_groups.resource.get("groups").unwrap(),
            &json!([{"value": g.id, "display": "Outer", "type": "direct"}])
        );

        // RemoveWhere: value filters on the rows.
        change(s, env.a, &g.id, vec![MemberOp::Add(vec![row(&u3.id), row(&inner.id)])])
            .await
            .unwrap();
        let f = Filter::parse(&format!("value eq \"{}\"", u2.id)).unwrap();
        let g3 = change(s, env.a, &g.id, vec![MemberOp::RemoveWhere(f)]).await.unwrap();
        assert_eq!(values(&g3), sorted(vec![u1.id.clone(), u3.id.clone(), inner.id.clone()]));
        let f = Filter::parse("type eq \"group\"").unwrap();
        let g4 = change(s, env.a, &g.id, vec![MemberOp::RemoveWhere(f)]).await.unwrap();
        assert_eq!(values(&g4), sorted(vec![u1.id.clone(), u3.id.clone()]));
        let f = Filter::parse("display co \"one\"").unwrap();
        let g5 = change(s, env.a, &g.id, vec![MemberOp::RemoveWhere(f)]).await.unwrap();
        assert_eq!(values(&g5), vec![u3.id.clone()]);
        let g6 = change(s, env.a, &g.id, vec![MemberOp::Clear]).await.unwrap();
        assert!(values(&g6).is_empty());

        // Filters on members and groups.
        change(s, env.a, &g.id, vec![MemberOp::Add(vec![row(&u1.id)])]).await.unwrap();
        let q = crate::query::q(Some(&format!("members.value eq \"{}\"", u1.id)));
        let page = s.query(env.a, Group, &q).await.unwrap();
        assert_eq!(page.resources.len(), 1);
        let q = crate::query::q(Some(&format!("groups.value eq \"{}\"", g.id)));
        let page = s.query(env.a, User, &q).await.unwrap();
        assert_eq!(
            page.resources.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            vec![u1.id.clone()]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn members_must_exist_in_the_same_organization() {
    each(|env| async move {
        let s = &env.store;
        let theirs = user(s, env.b, json!({"userName":"theirs"})).await;
        let ours = user(s, env.a, json!({"userName":"ours"})).await;
        let g = group(s, env.a, "G").await;
        let missing = scim_core::sid::UserSid::generate().unwrap().to_string();
        for bad in [&theirs.id, &missing] {
            let e = change(s, env.a, &g.id, vec![MemberOp::Add(vec![row(&ours.id), row(bad)])])
                .await
                .unwrap_err();
            let StoreError::Scim(e) = e else { panic!("{e:?}") };
            assert_eq!(e.code, scim_core::ErrorCode::InvalidValue);
            assert!(e.detail.contains(bad.as_str()), "{}", e.detail);
            assert!(!e.detail.contains("organization b"), "{}", e.detail);
        }
        // The error is the same for an id elsewhere and an id nowhere; nothing was added.
        let now = s.get(env.a, rid(Group, &g.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert!(values(&now).is_empty());
        assert_eq!(now.version, 1);
        // A user id typed as a group is refused; so is a group inside itself.
        let e = change(
            s,
            env.a,
            &g.id,
            vec![MemberOp::Add(vec![MemberRow {
                value: ours.id.clone(),
                kind: MemberKind::Group,
            }])],
        )
        .await;
        assert!(matches!(e, Err(StoreError::Scim(_))));
        let e = change(s, env.a, &g.id, vec![MemberOp::Add(vec![row(&g.id)])]).await;
        assert!(matches!(e, Err(StoreError::Scim(_))));
        // At create too.
        let e = s
            .create(env.a, Group, NewResource { members: vec![row(&theirs.id)], ..new_group("H") })
            .await;
        assert!(matches!(e, Err(StoreError::Scim(_))));
        assert_eq!(
            s.query(env.a, Group, &crate::query::q(Some("displayName eq \"H\"")))
                .await
                .unwrap()
                .total_results,
            0
        );
        // And the other organization cannot touch our group.
        let e = change(s, env.b, &g.id, vec![MemberOp::Add(vec![row(&theirs.id)])]).await;
        assert!(matches!(e, Err(StoreError::NotFound(_))));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_cascade_out_of_memberships() {
    each(|env| async move {
        let s = &env.store;
        let u = user(s, env.a, json!({"userName":"u"})).await;
        let v = user(s, env.a, json!({"userName":"v"})).await;
        let g = s
            .create(
                env.a,
                Group,
                NewResource { members: vec![row(&u.id), row(&v.id)], ..new_group("G") },
            )
            .await
            .unwrap();
        let h = s
            .create(
                env.a,
                Group,
                NewResource { members: vec![row(&u.id), row(&g.id)], ..new_group("H") },
            )
            .await
            .unwrap();
        s.delete(env.a, rid(User, &u.id), None, false).await.unwrap();
        let g_now = s.get(env.a, rid(Group, &g.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(values(&g_now), vec![v.id.clone()]);
        let h_now = s.get(env.a, rid(Group, &h.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(values(&h_now), vec![g.id.clone()]);
        // Deleting a group removes its own rows and its membership in other groups.
        s.delete(env.a, rid(Group, &g.id), None, false).await.unwrap();
        let h_now = s.get(env.a, rid(Group, &h.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert!(values(&h_now).is_empty());
        let v_now = s.get(env.a, rid(User, &v.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(v_now.resource.get("groups").unwrap(), &json!([]));
    })
    .await;
}

/// A group's `members` change when a member is deleted, soft-deleted or restored: its
/// version and lastModified move on, so an ETag taken before no longer matches.
#[tokio::test(flavor = "multi_thread")]
async fn member_deletes_and_restores_move_the_group_version() {
    each(|env| async move {
        let s = &env.store;
        let u = user(s, env.a, json!({"userName":"u"})).await;
        let v = user(s, env.a, json!({"userName":"v"})).await;
        let other = s.create(env.a, Group, new_group("Other")).await.unwrap();
        let g = s
            .create(
                env.a,
                Group,
                NewResource { members: vec![row(&u.id), row(&v.id)], ..new_group("G") },
            )
            .await
            .unwrap();
        let org = env.a;
        let get = |id: String| {
            let s = s.clone();
            async move { s.get(org, rid(Group, &id), ReadOptions::ALL).await.unwrap().unwrap() }
        };
        assert_eq!(g.version, 1);
        s.delete(env.a, rid(User, &u.id), None, true).await.unwrap();
        let g1 = get(g.id.clone()).await;
        assert_eq!((g1.version, values(&g1)), (2, vec![v.id.clone()]));
        s.restore(env.a, rid(User, &u.id)).await.unwrap();
        let g2 = get(g.id.clone()).await;
        assert_eq!((g2.version, values(&g2)), (3, sorted(vec![u.id.clone(), v.id.clone()])));
        s.delete(env.a, rid(User, &v.id), None, false).await.unwrap();
        let g3 = get(g.id.clone()).await;
        assert_eq!((g3.version, values(&g3)), (4, vec![u.id.clone()]));
        let meta = |st: &Stored| st.resource.get("meta").unwrap()["version"].clone();
        assert_eq!(meta(&g3), json!("W/\"4\""));
        // A group the member was never in keeps its version.
        assert_eq!(get(other.id.clone()).await.version, 1);
    })
    .await;
}

/// A user read with its groups lists every live group it is a direct member of, once, in
/// group id order, with the group's display name; soft-deleted groups and other
/// organizations' groups never appear.
#[tokio::test]
async fn a_users_groups_are_the_live_direct_ones_in_id_order() {
    each(|env| async move {
        let s = &env.store;
        let u = user(s, env.a, json!({"userName": "member@x.io"})).await;
        let other = user(s, env.a, json!({"userName": "other@x.io"})).await;
        let mut groups = Vec::new();
        for name in ["Zeta", "Alpha", "Mid", "Gone"] {
            let g = s
                .create(
                    env.a,
                    Group,
                    NewResource { members: vec![row(&u.id), row(&other.id)], ..new_group(name) },
                )
                .await
                .unwrap();
            groups.push(g);
        }
        let gone = groups.pop().unwrap();
        s.delete(env.a, rid(Group, &gone.id), None, true).await.unwrap();
        let lonely = user(s, env.a, json!({"userName": "lonely@x.io"})).await;
        let got = s.get(env.a, rid(User, &u.id), ReadOptions::ALL).await.unwrap().unwrap();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        let want: Vec<Value> = groups
            .iter()
            .map(|g| {
                let name = g.resource.get("displayName").unwrap().clone();
                json!({"value": g.id, "display": name, "type": "direct"})
            })
            .collect();
        assert_eq!(got.resource.get("groups").unwrap(), &Value::Array(want.clone()));
        let none = s.get(env.a, rid(User, &lonely.id), ReadOptions::ALL).await.unwrap().unwrap();
        assert_eq!(none.resource.get("groups").unwrap(), &json!([]));
        // Lists give each user the same groups: a filter and a page (the groups read in
        // the same statement), a sorted page and a cursor page.
        let by_name = |p: &scim_store::Page| -> Vec<(String, Value)> {
            let mut v: Vec<(String, Value)> = p
                .resources
                .iter()
                .map(|r| {
                    let name = r.resource.get("userName").unwrap().as_str().unwrap().to_owned();
                    (name, r.resource.get("groups").cloned().unwrap_or(Value::Null))
                })
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let all = vec![
            ("lonely@x.io".to_owned(), json!([])),
            ("member@x.io".to_owned(), got.resource.get("groups").unwrap().clone()),
            // The same groups, in the same order (by id).
            ("other@x.io".to_owned(), Value::Array(want)),
        ];
        let read = ReadOptions::ALL;
        let filtered = Query { read, ..crate::query::q(Some("userName eq \"member@x.io\"")) };
        let page = s.query(env.a, User, &filtered).await.unwrap();
        assert_eq!(by_name(&page), all[1..2]);
        let page = s.query(env.a, User, &Query { read, ..crate::query::q(None) }).await.unwrap();
        assert_eq!(by_name(&page), all);
        let sorted = Query {
            read,
            sort_by: Some(scim_core::path::AttrPath::parse("userName").unwrap()),
            ..crate::query::q(None)
        };
        assert_eq!(by_name(&s.query(env.a, User, &sorted).await.unwrap()), all);
        let cursor = Query {
            read,
            pagination: Pagination::Cursor { cursor: None, count: 2 },
            ..crate::query::q(None)
        };
        let first = s.query(env.a, User, &cursor).await.unwrap();
        let next = Query {
            pagination: Pagination::Cursor { cursor: first.next_cursor.clone(), count: 2 },
            ..cursor.clone()
        };
        let second = s.query(env.a, User, &next).await.unwrap();
        let mut walked = by_name(&first);
        walked.extend(by_name(&second));
        walked.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(walked, all);
        // Not visible from another organization, with or without groups.
        assert!(s.get(env.b, rid(User, &u.id), ReadOptions::ALL).await.unwrap().is_none());
        assert!(
            s.get(env.a, rid(User, "US00000000000000000000000000000000"), ReadOptions::ALL)
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}
