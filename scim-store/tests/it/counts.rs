//! `totalResults` of unfiltered lists stays exact through creates (one and many), hard and
//! soft deletes, restores, organization deletes and the folding of count deltas, on every
//! backend (PostgreSQL and MySQL sum deltas; SQLite counts).

use crate::support::*;
use scim_core::message::SortOrder;
use scim_core::schema::ResourceKind;
use scim_core::schema::ResourceKind::{Group, User};
use scim_core::sid::OrganizationSid;
use scim_store::{Pagination, Query, ReadOptions, Retention, Store};
use serde_json::json;
use std::sync::Arc;

async fn total(s: &Arc<dyn Store>, org: OrganizationSid, kind: ResourceKind) -> u64 {
    let q = Query {
        filter: None,
        sort_by: None,
        sort_order: SortOrder::Ascending,
        pagination: Pagination::Index { start_index: 1, count: 0 },
        read: ReadOptions::default(),
    };
    s.query(org, kind, &q).await.unwrap().total_results
}

#[tokio::test(flavor = "multi_thread")]
async fn unfiltered_totals_stay_exact() {
    each(|env| async move {
        let s = &env.store;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(user(s, env.a, json!({"userName": format!("c{i}@x.io")})).await.id);
        }
        let many: Vec<_> =
            (0..7).map(|i| new_user(json!({"userName": format!("m{i}@x.io")}))).collect();
        s.create_many(env.a, User, many).await.unwrap();
        group(s, env.a, "g1").await;
        group(s, env.a, "g2").await;
        user(s, env.b, json!({"userName": "other@x.io"})).await;
        assert_eq!(total(s, env.a, User).await, 12, "{:?}", env.backend);

        s.delete(env.a, rid(User, &ids[0]), None, false).await.unwrap();
        s.delete(env.a, rid(User, &ids[1]), None, true).await.unwrap();
        s.delete(env.a, rid(User, &ids[2]), None, true).await.unwrap();
        s.restore(env.a, rid(User, &ids[2])).await.unwrap();
        // A failed write changes nothing: a duplicate userName rolls its delta back.
        let dup = s.create(env.a, User, new_user(json!({"userName": "c3@x.io"}))).await;
        assert!(dup.is_err());
        assert_eq!(total(s, env.a, User).await, 10, "{:?}", env.backend);
        assert_eq!(total(s, env.a, Group).await, 2);
        assert_eq!(total(s, env.b, User).await, 1);

        // Folding (with the retention work, and when a count finds many deltas) keeps them.
        s.prune(&Retention::default()).await.unwrap();
        assert_eq!(total(s, env.a, User).await, 10, "{:?}", env.backend);
        for i in 0..300 {
            user(s, env.a, json!({"userName": format!("f{i}@x.io")})).await;
        }
        assert_eq!(total(s, env.a, User).await, 310, "{:?}", env.backend);
        assert_eq!(total(s, env.a, User).await, 310, "after the fold ({:?})", env.backend);
        s.prune(&Retention::default()).await.unwrap();
        assert_eq!(total(s, env.a, User).await, 310);
        assert_eq!(total(s, env.b, User).await, 1);

        // Deleting an organization takes its counts along.
        s.delete_organization(env.b, false).await.unwrap();
        let again = s.create_organization("again", &[]).await.unwrap().sid;
        assert_eq!(total(s, again, User).await, 0);
    })
    .await;
}
