//! Store benchmark (plain binary, `harness = false`): seeds users into one organization and
//! times the operations the issue sets targets for.
//!
//! `cargo bench -p scim-store --bench store` (SQLite file in the temp dir by default).
//! Environment: `SCIM_BENCH_USERS` (default 100000; the figure is 1000000),
//! `SCIM_BENCH_URL` (e.g. a PostgreSQL database URL; default a fresh SQLite file),
//! `SCIM_BENCH_SAMPLES` (default 200).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use scim_core::filter::Filter;
use scim_core::message::SortOrder;
use scim_core::resource::Resource;
use scim_core::schema::{Registry, ResourceKind};
use scim_store::{
    Change, MemberChange, MemberKind, MemberRow, NewResource, Pagination, Query, ReadOptions,
    SeaStore, Store,
};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn report(name: &str, v: Vec<Duration>) {
    let n = v.len();
    println!("{name:<40} median {:>10.3} ms  ({n} samples)", median(v).as_secs_f64() * 1e3);
}

fn q(filter: Option<&str>, pagination: Pagination) -> Query {
    Query {
        filter: filter.map(|f| Filter::parse(f).unwrap()),
        sort_by: None,
        sort_order: SortOrder::Ascending,
        pagination,
        read: ReadOptions::default(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_u64("SCIM_BENCH_USERS", 100_000);
    let samples = env_u64("SCIM_BENCH_SAMPLES", 200);
    let path = std::env::temp_dir().join(format!("scim-bench-{}.db", std::process::id()));
    let url = std::env::var("SCIM_BENCH_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", path.display()));
    let store = Arc::new(SeaStore::connect(&url, Arc::new(Registry::builtin())).await.unwrap());
    store.migrate().await.unwrap();
    let org = store.create_organization("bench", &[]).await.unwrap().sid;

    // Seed, 8 writers at a time.
    let t = Instant::now();
    let mut ids = Vec::with_capacity(n as usize);
    let mut next = 0u64;
    while next < n {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            if next >= n {
                break;
            }
            let (s, i) = (store.clone(), next);
            next += 1;
            tasks.push(tokio::spawn(async move {
                let doc = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("user{i:07}@example.com"), "title": format!("title {}", i % 1000),
                    "name": {"givenName": format!("Given{i}"), "familyName": "Family"},
                    "emails": [{"value": format!("user{i:07}@example.com"), "type": "work", "primary": true}]});
                let new = NewResource { resource: Resource::from_value(doc).unwrap(), members: vec![], password_hash: None };
                s.create(org, ResourceKind::User, new).await.unwrap().id
            }));
        }
        for task in tasks {
            ids.push(task.await.unwrap());
        }
    }
    println!("seeded {n} users in {:.1} s", t.elapsed().as_secs_f64());

    let pick = |k: u64| ids[((k.wrapping_mul(2_654_435_761)) % n) as usize].clone();
    let mut v = Vec::new();
    for k in 0..samples {
        let id = pick(k);
        let t = Instant::now();
        store.get(org, ResourceKind::User, &id, ReadOptions::default()).await.unwrap().unwrap();
        v.push(t.elapsed());
    }
    report("get by id", v);

    let mut v = Vec::new();
    for k in 0..samples {
        let f = format!("userName eq \"USER{:07}@example.com\"", (k * 7919) % n);
        let t = Instant::now();
        let p = store
            .query(
                org,
                ResourceKind::User,
                &q(Some(&f), Pagination::Index { start_index: 1, count: 100 }),
            )
            .await
            .unwrap();
        v.push(t.elapsed());
        assert_eq!(p.resources.len(), 1);
    }
    report("userName eq", v);

    let mut v = Vec::new();
    for _ in 0..samples.min(20) {
        let t = Instant::now();
        store
            .query(
                org,
                ResourceKind::User,
                &q(
                    Some("name.givenName co \"en99\""),
                    Pagination::Cursor { cursor: None, count: 100 },
                ),
            )
            .await
            .unwrap();
        v.push(t.elapsed());
    }
    report("co on a JSON attribute, first page", v);

    // A cursor at 90 %, reached by walking pages of 1000.
    let deep = n * 9 / 10;
    let mut cursor = None;
    let mut seen = 0;
    while seen < deep {
        let p = store
            .query(
                org,
                ResourceKind::User,
                &q(
                    None,
                    Pagination::Cursor { cursor: cursor.clone(), count: 1000.min(deep - seen) },
                ),
            )
            .await
            .unwrap();
        seen += p.resources.len() as u64;
        cursor = p.next_cursor;
    }
    let mut v = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        store
            .query(
                org,
                ResourceKind::User,
                &q(None, Pagination::Cursor { cursor: cursor.clone(), count: 100 }),
            )
            .await
            .unwrap();
        v.push(t.elapsed());
    }
    report(&format!("page of 100 by cursor at {deep}"), v);

    // A group with min(n - samples, 100000) members, then add one more at a time.
    let members = (n.saturating_sub(samples)).min(100_000) as usize;
    let g = store
        .create(org, ResourceKind::Group, NewResource {
            resource: Resource::from_value(json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"big"})).unwrap(),
            members: vec![],
            password_hash: None,
        })
        .await
        .unwrap();
    let t = Instant::now();
    for chunk in ids[..members].chunks(5000) {
        let rows: Vec<MemberRow> = chunk
            .iter()
            .map(|id| MemberRow { value: id.clone(), kind: MemberKind::User })
            .collect();
        store
            .modify(
                org,
                ResourceKind::Group,
                &g.id,
                None,
                ReadOptions::default(),
                Box::new(move |cur| {
                    Ok(Change {
                        resource: cur.resource,
                        members: vec![MemberChange::Add(rows)],
                        password_hash: None,
                        changed: true,
                    })
                }),
            )
            .await
            .unwrap();
    }
    println!("group of {members} members built in {:.1} s", t.elapsed().as_secs_f64());
    let mut v = Vec::new();
    for id in ids[members..].iter().take(samples as usize) {
        let row = MemberRow { value: id.clone(), kind: MemberKind::User };
        let t = Instant::now();
        store
            .modify(
                org,
                ResourceKind::Group,
                &g.id,
                None,
                ReadOptions::default(),
                Box::new(move |cur| {
                    Ok(Change {
                        resource: cur.resource,
                        members: vec![MemberChange::Add(vec![row])],
                        password_hash: None,
                        changed: true,
                    })
                }),
            )
            .await
            .unwrap();
        v.push(t.elapsed());
    }
    report(&format!("add one member to a {members}-member group"), v);

    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
