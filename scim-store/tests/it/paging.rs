//! Sorting, index pagination, RFC 9865 cursors.

use crate::query::q;
use crate::support::*;
use scim_core::filter::Filter;
use scim_core::message::SortOrder;
use scim_core::path::AttrPath;
use scim_core::schema::ResourceKind::User;
use scim_store::{Pagination, Query, ReadOptions, StoreError, StoreOptions};
use serde_json::json;
use std::time::Duration;

async fn seed(env: &Env) -> Vec<String> {
    // Titles with ties and a missing one; userNames in creation order u0..u6.
    let titles = [Some("b"), Some("A"), Some("b"), None, Some("c"), Some("a"), Some("B")];
    let mut ids = Vec::new();
    for (i, t) in titles.iter().enumerate() {
        let mut v = json!({"userName": format!("u{i}"), "urn:acme:scim:schemas:1.0:UserExtension": {"level": (i as i64 % 3)}});
        if let Some(t) = t {
            v["title"] = json!(t);
        }
        ids.push(user(&env.store, env.a, v).await.id);
        // Creation order is by millisecond timestamp, ties by id: keep them apart.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    ids
}

fn sorted(by: &str, order: SortOrder, pagination: Pagination) -> Query {
    Query { sort_by: Some(AttrPath::parse(by).unwrap()), sort_order: order, pagination, ..q(None) }
}

fn user_names(p: &scim_store::Page) -> Vec<String> {
    p.resources
        .iter()
        .map(|r| r.resource.get("userName").unwrap().as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sort_with_ties_and_index_pages() {
    each(|env| async move {
        let s = &env.store;
        let ids = seed(&env).await;
        let all = Pagination::Index { start_index: 1, count: 100 };
        // Case-insensitive title order, ties broken by id, missing last.
        let p = s
            .query(env.a, User, &sorted("title", SortOrder::Ascending, all.clone()))
            .await
            .unwrap();
        let names = user_names(&p);
        let tie = |a: usize, b: usize| {
            let mut v = vec![(ids[a].clone(), format!("u{a}")), (ids[b].clone(), format!("u{b}"))];
            v.sort();
            v.into_iter().map(|x| x.1).collect::<Vec<_>>()
        };
        let mut expect = tie(1, 5);
        let mut bs = vec![(ids[0].clone(), "u0"), (ids[2].clone(), "u2"), (ids[6].clone(), "u6")];
        bs.sort();
        expect.extend(bs.into_iter().map(|x| x.1.to_owned()));
        expect.push("u4".into());
        expect.push("u3".into());
        assert_eq!(names, expect);
        let p = s
            .query(env.a, User, &sorted("title", SortOrder::Descending, all.clone()))
            .await
            .unwrap();
        let names = user_names(&p);
        assert_eq!(names.first().unwrap(), "u4");
        assert_eq!(names.last().unwrap(), "u3", "missing values sort last both ways");
        let p = s
            .query(env.a, User, &sorted("userName", SortOrder::Descending, all.clone()))
            .await
            .unwrap();
        assert_eq!(user_names(&p), vec!["u6", "u5", "u4", "u3", "u2", "u1", "u0"]);
        let p = s
            .query(
                env.a,
                User,
                &sorted(
                    "urn:acme:scim:schemas:1.0:UserExtension:level",
                    SortOrder::Ascending,
                    all.clone(),
                ),
            )
            .await
            .unwrap();
        let levels: Vec<i64> = p
            .resources
            .iter()
            .map(|r| {
                r.resource.get("urn:acme:scim:schemas:1.0:UserExtension").unwrap()["level"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(levels, vec![0, 0, 0, 1, 1, 2, 2]);
        let p = s
            .query(env.a, User, &sorted("meta.created", SortOrder::Descending, all.clone()))
            .await
            .unwrap();
        assert_eq!(p.resources.len(), 7);
        let e = s
            .query(env.a, User, &sorted("emails", SortOrder::Ascending, all.clone()))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Scim(_)));
        let e = s
            .query(env.a, User, &sorted("nope", SortOrder::Ascending, all.clone()))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Scim(_)));

        // Index pages: creation order by default.
        let page = |start, count| Query {
            pagination: Pagination::Index { start_index: start, count },
            ..q(None)
        };
        let p1 = s.query(env.a, User, &page(1, 3)).await.unwrap();
        assert_eq!(
            (user_names(&p1), p1.total_results),
            (vec!["u0".into(), "u1".into(), "u2".into()], 7)
        );
        assert!(p1.next_cursor.is_none());
        assert_eq!(
            user_names(&s.query(env.a, User, &page(4, 3)).await.unwrap()),
            vec!["u3", "u4", "u5"]
        );
        assert_eq!(user_names(&s.query(env.a, User, &page(7, 3)).await.unwrap()), vec!["u6"]);
        assert!(s.query(env.a, User, &page(8, 3)).await.unwrap().resources.is_empty());
        let z = s.query(env.a, User, &page(1, 0)).await.unwrap();
        assert!(z.resources.is_empty());
        assert_eq!(z.total_results, 7);
        let f = Query { filter: Some(Filter::parse("title pr").unwrap()), ..page(1, 2) };
        let p = s.query(env.a, User, &f).await.unwrap();
        assert_eq!((p.resources.len(), p.total_results), (2, 6));
        // Pages that skip rows (read as ids first on PostgreSQL and MySQL) are the slices
        // of the whole result, filtered and sorted alike.
        for (filter, sort) in [
            (None, None),
            (Some("title pr"), None),
            (None, Some(("userName", SortOrder::Descending))),
            (Some("title pr"), Some(("meta.created", SortOrder::Descending))),
        ] {
            let with = |start, count| {
                let base = match sort {
                    Some((path, order)) => sorted(path, order, page(start, count).pagination),
                    None => page(start, count),
                };
                Query { filter: filter.map(|f| Filter::parse(f).unwrap()), ..base }
            };
            let whole = user_names(&s.query(env.a, User, &with(1, 100)).await.unwrap());
            for start in 2..=whole.len() + 1 {
                let p = s.query(env.a, User, &with(start as u64, 2)).await.unwrap();
                let want: Vec<String> = whole.iter().skip(start - 1).take(2).cloned().collect();
                assert_eq!(user_names(&p), want, "{filter:?} {sort:?} from {start}");
                assert_eq!(p.total_results, whole.len() as u64, "{filter:?} {sort:?}");
            }
        }
    })
    .await;
}

async fn walk(env: &Env, base: Query, count: u64) -> (Vec<String>, Vec<Option<String>>) {
    let mut names = Vec::new();
    let mut cursors = Vec::new();
    let mut cursor = None;
    for _ in 0..20 {
        let q = Query {
            pagination: Pagination::Cursor { cursor: cursor.clone(), count },
            ..base.clone()
        };
        let p = env.store.query(env.a, User, &q).await.unwrap();
        assert_eq!(p.total_results, 7);
        names.extend(user_names(&p));
        cursors.push(p.next_cursor.clone());
        cursor = p.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    (names, cursors)
}

#[tokio::test(flavor = "multi_thread")]
async fn cursors() {
    each(|env| async move {
        let s = &env.store;
        seed(&env).await;
        let all = Pagination::Index { start_index: 1, count: 100 };
        for (by, order) in [
            ("title", SortOrder::Ascending),
            ("title", SortOrder::Descending),
            ("userName", SortOrder::Ascending),
            ("urn:acme:scim:schemas:1.0:UserExtension:level", SortOrder::Descending),
        ] {
            let expect =
                user_names(&s.query(env.a, User, &sorted(by, order, all.clone())).await.unwrap());
            for count in [1, 2, 3, 7, 10] {
                let (names, _) = walk(&env, sorted(by, order, all.clone()), count).await;
                assert_eq!(names, expect, "{by} {order:?} by {count}");
            }
        }
        let (names, cursors) = walk(&env, q(None), 3).await;
        assert_eq!(names, vec!["u0", "u1", "u2", "u3", "u4", "u5", "u6"]);
        assert_eq!(cursors.len(), 3);
        let c = cursors[0].clone().unwrap();

        // A user created meanwhile after the cursor's position shows up; none repeats.
        tokio::time::sleep(Duration::from_millis(3)).await;
        user(&env.store, env.a, json!({"userName":"u7"})).await;
        let next = Query {
            pagination: Pagination::Cursor { cursor: Some(c.clone()), count: 100 },
            ..q(None)
        };
        let rest = user_names(&s.query(env.a, User, &next).await.unwrap());
        assert_eq!(rest, vec!["u3", "u4", "u5", "u6", "u7"]);

        let bad = |e: StoreError| assert!(matches!(e, StoreError::InvalidCursor(_)), "{e:?}");
        // Tampered: flip a character.
        let mut chars: Vec<char> = c.chars().collect();
        chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        let with = |cur: &str, base: Query| Query {
            pagination: Pagination::Cursor { cursor: Some(cur.to_owned()), count: 2 },
            ..base
        };
        bad(s.query(env.a, User, &with(&tampered, q(None))).await.unwrap_err());
        bad(s.query(env.a, User, &with("not a cursor!", q(None))).await.unwrap_err());
        bad(s.query(env.a, User, &with("", q(None))).await.unwrap_err());
        // Another organization, another query, another resource type.
        bad(s.query(env.b, User, &with(&c, q(None))).await.unwrap_err());
        bad(s.query(env.a, User, &with(&c, q(Some("title pr")))).await.unwrap_err());
        bad(s
            .query(env.a, User, &with(&c, sorted("title", SortOrder::Ascending, all.clone())))
            .await
            .unwrap_err());
        bad(s
            .query(env.a, scim_core::schema::ResourceKind::Group, &with(&c, q(None)))
            .await
            .unwrap_err());
        // Another replica (same database) accepts it: the secret is shared.
        if let Some(replica) = env.replica(StoreOptions::default()).await {
            let p = replica.query(env.a, User, &with(&c, q(None))).await.unwrap();
            assert_eq!(user_names(&p), vec!["u3", "u4"]);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cursors_expire() {
    let opts = StoreOptions { cursor_ttl: Duration::from_secs(1), ..StoreOptions::default() };
    each_with(opts, |env| async move {
        seed(&env).await;
        let first = Query { pagination: Pagination::Cursor { cursor: None, count: 2 }, ..q(None) };
        let c = env.store.query(env.a, User, &first).await.unwrap().next_cursor.unwrap();
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let next = Query {
            pagination: Pagination::Cursor { cursor: Some(c), count: 2 },
            read: ReadOptions::default(),
            ..q(None)
        };
        let e = env.store.query(env.a, User, &next).await.unwrap_err();
        assert!(matches!(e, StoreError::ExpiredCursor), "{e:?}");
    })
    .await;
}

/// `totalResults` of an unfiltered query follows every create, delete (hard and soft) and
/// restore, made through this store or another replica of the same database, and only the
/// organization's own changes move it.
#[tokio::test(flavor = "multi_thread")]
async fn unfiltered_totals_follow_every_change() {
    each(|env| async move {
        let s = &env.store;
        let total = |st: std::sync::Arc<dyn scim_store::Store>, org| async move {
            let all =
                Query { pagination: Pagination::Index { start_index: 1, count: 0 }, ..q(None) };
            st.query(org, User, &all).await.unwrap().total_results
        };
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(user(s, env.a, json!({"userName": format!("t{i}")})).await.id);
        }
        assert_eq!(total(s.clone(), env.a).await, 3);
        assert_eq!(total(s.clone(), env.a).await, 3);
        // A page without count 0 reports the same total.
        let page = Query { pagination: Pagination::Index { start_index: 1, count: 2 }, ..q(None) };
        assert_eq!(s.query(env.a, User, &page).await.unwrap().total_results, 3);
        // Another organization's writes leave it alone.
        user(s, env.b, json!({"userName": "elsewhere"})).await;
        assert_eq!(total(s.clone(), env.a).await, 3);
        assert_eq!(total(s.clone(), env.b).await, 1);
        let other = env.replica(StoreOptions::default()).await;
        let writer = other.clone().unwrap_or_else(|| s.clone());
        ids.push(user(&writer, env.a, json!({"userName": "t3"})).await.id);
        assert_eq!(total(s.clone(), env.a).await, 4);
        s.delete(env.a, rid(User, &ids[0]), None, true).await.unwrap();
        assert_eq!(total(s.clone(), env.a).await, 3);
        writer.restore(env.a, rid(User, &ids[0])).await.unwrap();
        assert_eq!(total(s.clone(), env.a).await, 4);
        writer.delete(env.a, rid(User, &ids[1]), None, false).await.unwrap();
        assert_eq!(total(s.clone(), env.a).await, 3);
        if let Some(r) = other {
            assert_eq!(total(r, env.a).await, 3);
        }
    })
    .await;
}

/// On an SQLite file a long scan stops at the scan limit with a SCIM timeout error, and a
/// lookup an index serves is not limited; the other backends do not apply the limit.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_scan_stops_at_the_scan_limit() {
    let opts = StoreOptions { scan_timeout: Some(Duration::ZERO), ..StoreOptions::default() };
    each_with(opts, |env| async move {
        let s = &env.store;
        let users: Vec<scim_store::NewResource> = (0..2_000)
            .map(|i| new_user(json!({"userName": format!("scan{i:04}"), "title": "tall"})))
            .collect();
        s.create_many(env.a, User, users).await.unwrap();
        let slow = s.query(env.a, User, &q(Some("title co \"all\""))).await;
        match (env.backend, slow) {
            (Backend::SqliteFile, Err(StoreError::Scim(e))) => {
                assert_eq!(e.code, scim_core::error::ErrorCode::Timeout, "{e:?}");
            }
            (Backend::SqliteFile, other) => {
                panic!("not stopped: {:?}", other.map(|p| p.total_results))
            }
            (_, got) => assert_eq!(got.unwrap().total_results, 2_000),
        }
        let fast = s.query(env.a, User, &q(Some("userName eq \"scan0007\""))).await.unwrap();
        assert_eq!(user_names(&fast), ["scan0007"]);
    })
    .await;
}
