//! Store benchmark (plain binary, `harness = false`): seeds the layout (one large
//! organization plus smaller ones) with `create_many` and times the operations the issue
//! sets targets for. `docs/benchmarks.md` has the figures and how they were taken.
//!
//! `cargo xtask bench store` (= `cargo bench -p scim-store --all-features --bench store`;
//! a fresh SQLite file in the temp dir by default). Environment:
//! - `SCIM_BENCH_USERS`: users in the large organization (default 100000; the issue's
//!   figure is 1000000);
//! - `SCIM_BENCH_ORGS`: how many other organizations (default 9);
//! - `SCIM_BENCH_OTHER_USERS`: users in each other organization (default a tenth of
//!   `SCIM_BENCH_USERS`);
//! - `SCIM_BENCH_BATCH`: resources per `create_many` call while seeding (default 5000);
//! - `SCIM_BENCH_URL`: the database (e.g. a fresh, empty PostgreSQL database);
//! - `SCIM_BENCH_SAMPLES`: samples per latency figure (default 200);
//! - `SCIM_BENCH_KEEP=1`: keep the SQLite file afterwards (to look at query plans).
//!
//! On PostgreSQL the bench runs `ANALYZE` while seeding, as autovacuum would (see
//! `Analyze`), so the figures hold on a server with autovacuum off too.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use scim_core::filter::Filter;
use scim_core::message::SortOrder;
use scim_core::resource::Resource;
use scim_core::schema::{Registry, ResourceKind};
use scim_core::sid::{OrganizationSid, ResourceId};
use scim_store::{
    Change, MemberKind, MemberOp, MemberRow, NewResource, Pagination, Query, ReadOptions, SqlStore,
    Store,
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(name: &str, v: Vec<Duration>) {
    let n = v.len();
    let max = v.iter().max().copied().unwrap_or_default();
    println!("{name:<52} median {:>9.3} ms  max {:>9.3} ms  ({n} samples)", ms(median(v)), ms(max));
}

/// `VmHWM` (peak resident set) and `VmRSS` of this process, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kb("VmHWM:"), kb("VmRSS:"))
}

/// `RssAnon` in MiB: the heap and stacks, without the file pages SQLite maps (`mmap_size`),
/// which `VmRSS` counts although they are the OS's page cache, shared and reclaimable.
fn anon() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Resets the peak resident set (Linux `clear_refs` 5), so a later `VmHWM` is the peak of
/// what ran in between.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
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

fn user(org: usize, i: u64) -> NewResource {
    let doc = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{i:07}@org{org}.example.com"),
        "externalId": format!("ext-{org}-{i}"),
        "title": format!("title {}", i % 1000),
        "name": {"givenName": format!("Given{i}"), "familyName": "Family"},
        "emails": [{"value": format!("user{i:07}@org{org}.example.com"), "type": "work", "primary": true}]});
    NewResource {
        resource: Resource::from_value(doc).unwrap(),
        members: vec![],
        password_hash: None,
    }
}

/// Table statistics for PostgreSQL's planner. PostgreSQL's autovacuum analyzes a table
/// once about 10 % of it changed; a server with autovacuum off never does, and then
/// plans every lookup as if the table were empty. The bench does what autovacuum would.
struct Analyze {
    db: Option<sea_orm::DatabaseConnection>,
    rows: u64,
    at: u64,
}

impl Analyze {
    async fn new(url: &str) -> Analyze {
        let db = if url.starts_with("postgres") {
            Some(sea_orm::Database::connect(url).await.unwrap())
        } else {
            None
        };
        Analyze { db, rows: 0, at: 0 }
    }

    async fn inserted(&mut self, k: u64) {
        self.rows += k;
        if self.rows - self.at >= (self.rows / 10).max(5000) {
            self.now().await;
        }
    }

    async fn now(&mut self) {
        use sea_orm::ConnectionTrait;
        if let Some(db) = &self.db {
            db.execute_unprepared("ANALYZE").await.unwrap();
        }
        self.at = self.rows;
    }
}

/// Seeds `n` users into `org` with `create_many` calls of `batch`; the ids in order.
#[allow(clippy::too_many_arguments)]
async fn seed(
    store: &SqlStore,
    analyze: &mut Analyze,
    org: OrganizationSid,
    org_no: usize,
    n: u64,
    batch: u64,
    keep: bool,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(if keep { n as usize } else { 0 });
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let out = store
            .create_many(org, ResourceKind::User, (i..end).map(|k| user(org_no, k)).collect())
            .await
            .unwrap();
        if keep {
            ids.extend(out.into_iter().map(|s| s.id));
        }
        analyze.inserted(end - i).await;
        i = end;
    }
    ids
}

async fn add_member(
    store: &SqlStore,
    org: OrganizationSid,
    group: ResourceId,
    rows: Vec<MemberRow>,
) {
    store
        .modify(
            org,
            group,
            None,
            ReadOptions::default(),
            Box::new(move |cur| {
                Ok(Change {
                    resource: cur.resource.clone(),
                    members: vec![MemberOp::Add(rows.clone())],
                    password_hash: None,
                    changed: true,
                })
            }),
        )
        .await
        .unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_u64("SCIM_BENCH_USERS", 100_000);
    let orgs = env_u64("SCIM_BENCH_ORGS", 9) as usize;
    let others = env_u64("SCIM_BENCH_OTHER_USERS", n / 10);
    let batch = env_u64("SCIM_BENCH_BATCH", 5000).max(1);
    let samples = env_u64("SCIM_BENCH_SAMPLES", 200);
    let keep = std::env::var("SCIM_BENCH_KEEP").is_ok_and(|v| v == "1");
    let path = std::env::temp_dir().join(format!("scim-bench-{}.db", std::process::id()));
    let url = std::env::var("SCIM_BENCH_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", path.display()));
    let backend = url.split(':').next().unwrap_or("?").to_owned();
    println!("store bench on {backend}: {n} users + {orgs} x {others}, batches of {batch}");
    let store = SqlStore::connect(&url, Arc::new(Registry::builtin())).await.unwrap();
    store.migrate().await.unwrap();
    let org = store.create_organization("bench", &[]).await.unwrap().sid;

    // ---- seeding ---------------------------------------------------------------------
    let all = Instant::now();
    let t = Instant::now();
    let mut analyze = Analyze::new(&url).await;
    let ids = seed(&store, &mut analyze, org, 0, n, batch, true).await;
    let main_s = t.elapsed().as_secs_f64();
    println!("seeded {n} users (large organization) in {main_s:.1} s ({:.0}/s)", n as f64 / main_s);
    let mut per_org = Vec::new();
    for k in 1..=orgs {
        let o = store.create_organization(&format!("bench-{k}"), &[]).await.unwrap().sid;
        let t = Instant::now();
        seed(&store, &mut analyze, o, k, others, batch, false).await;
        per_org.push(t.elapsed());
    }
    if !per_org.is_empty() {
        let max = per_org.iter().max().copied().unwrap_or_default();
        println!(
            "bulk insert of {others} users into an organization (x{orgs}, after the large one): median {:.1} s, max {:.1} s",
            median(per_org).as_secs_f64(),
            max.as_secs_f64()
        );
    }
    analyze.now().await;
    let (hwm, rss) = memory();
    println!(
        "seeding total {:.1} s; peak RSS so far {hwm:.0} MiB (holds the {n} ids), RSS {rss:.0} MiB",
        all.elapsed().as_secs_f64()
    );

    // ---- single writes -----------------------------------------------------------------
    let mut v = Vec::new();
    for k in 0..samples {
        let new = user(0, n + k);
        let t = Instant::now();
        store.create(org, ResourceKind::User, new).await.unwrap();
        v.push(t.elapsed());
    }
    report("create one user (own transaction)", v);

    // ---- reads -----------------------------------------------------------------------
    let pick = |k: u64| ids[((k.wrapping_mul(2_654_435_761)) % n) as usize].clone();
    let mut v = Vec::new();
    for k in 0..samples {
        let id = ResourceId::parse(ResourceKind::User, &pick(k)).unwrap();
        let t = Instant::now();
        store.get(org, id, ReadOptions::default()).await.unwrap().unwrap();
        v.push(t.elapsed());
    }
    report("get by id", v);

    let mut v = Vec::new();
    for k in 0..samples {
        let f = format!("userName eq \"USER{:07}@org0.example.com\"", (k * 7919) % n);
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
    report("userName eq (index pagination, page of 100)", v);

    // ---- `co` on an un-indexed (JSON) attribute ------------------------------------------
    let co = "name.givenName co \"en99\"";
    let mut v = Vec::new();
    for _ in 0..samples.min(3) {
        let t = Instant::now();
        store
            .query(
                org,
                ResourceKind::User,
                &q(Some(co), Pagination::Cursor { cursor: None, count: 100 }),
            )
            .await
            .unwrap();
        v.push(t.elapsed());
    }
    report("co on a JSON attribute: first cursor page (+COUNT)", v);
    let reset = reset_peak();
    let before = memory().1;
    let anon_before = anon();
    let mut anon_peak = anon_before;
    let t = Instant::now();
    let (mut cursor, mut pages, mut matched, mut slowest) = (None, 0u64, 0u64, Duration::ZERO);
    loop {
        let tp = Instant::now();
        let p = store
            .query(org, ResourceKind::User, &q(Some(co), Pagination::Cursor { cursor, count: 100 }))
            .await
            .unwrap();
        slowest = slowest.max(tp.elapsed());
        anon_peak = anon_peak.max(anon());
        pages += 1;
        matched += p.resources.len() as u64;
        cursor = p.next_cursor;
        if cursor.is_none() {
            assert_eq!(matched, p.total_results);
            break;
        }
    }
    let walk = t.elapsed();
    let (peak, _) = memory();
    println!(
        "co on a JSON attribute: all {matched} matches in {pages} cursor pages of 100: {:.2} s (slowest page {:.1} ms); RSS before {before:.0} MiB, peak during the walk {peak:.0} MiB; anonymous memory (heap) before {anon_before:.0} MiB, peak after any page {anon_peak:.0} MiB{}",
        walk.as_secs_f64(),
        ms(slowest),
        if reset { "" } else { " (peak not reset: includes seeding)" }
    );

    // ---- deep pages --------------------------------------------------------------------
    // A cursor at 90 %, reached by walking pages of 1000.
    let deep = n * 9 / 10;
    let t = Instant::now();
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
    println!(
        "walked to offset {deep} by cursor pages of 1000 in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut v = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        let p = store
            .query(
                org,
                ResourceKind::User,
                &q(None, Pagination::Cursor { cursor: cursor.clone(), count: 100 }),
            )
            .await
            .unwrap();
        v.push(t.elapsed());
        assert_eq!(p.resources.len(), 100);
    }
    report(&format!("page of 100 by cursor at offset {deep}"), v);
    let mut v = Vec::new();
    for _ in 0..samples.min(3) {
        let t = Instant::now();
        store
            .query(
                org,
                ResourceKind::User,
                &q(None, Pagination::Index { start_index: deep + 1, count: 100 }),
            )
            .await
            .unwrap();
        v.push(t.elapsed());
    }
    report(&format!("(for comparison) page of 100 by startIndex {}", deep + 1), v);

    // ---- membership ------------------------------------------------------------------
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
    let gid = ResourceId::parse(ResourceKind::Group, &g.id).unwrap();
    let t = Instant::now();
    for chunk in ids[..members].chunks(5000) {
        let rows: Vec<MemberRow> = chunk
            .iter()
            .map(|id| MemberRow { value: id.clone(), kind: MemberKind::User })
            .collect();
        add_member(&store, org, gid, rows).await;
    }
    println!("group of {members} members built in {:.1} s", t.elapsed().as_secs_f64());
    analyze.now().await;
    let mut v = Vec::new();
    for id in ids[members..].iter().take(samples as usize) {
        let row = MemberRow { value: id.clone(), kind: MemberKind::User };
        let t = Instant::now();
        add_member(&store, org, gid, vec![row]).await;
        v.push(t.elapsed());
    }
    report(&format!("add one member to a {members}-member group"), v);
    let mut v = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        store.get(org, gid, ReadOptions::default()).await.unwrap().unwrap();
        v.push(t.elapsed());
    }
    report("get that group without members", v);
    let mut v = Vec::new();
    for k in 0..samples {
        let id = ResourceId::parse(ResourceKind::User, &ids[(k as usize * 97) % members]).unwrap();
        let t = Instant::now();
        store.get(org, id, ReadOptions::ALL).await.unwrap().unwrap();
        v.push(t.elapsed());
    }
    report("get a member user with its groups", v);

    let (hwm, rss) = memory();
    println!("end: peak RSS since the co walk {hwm:.0} MiB, RSS {rss:.0} MiB");
    drop(store);
    if keep {
        println!("kept {}", path.display());
    } else {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
