#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::{Mode, Pool};
use std::path::PathBuf;
use std::sync::Arc;

struct TempDb(PathBuf);
impl Drop for TempDb {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.0.display()));
        }
    }
}

fn pool(name: &str) -> (TempDb, Arc<Pool>) {
    let path = std::env::temp_dir()
        .join(format!("scim-store-groupcommit-{name}-{}.db", std::process::id()));
    let tmp = TempDb(path.clone());
    drop(TempDb(path.clone()));
    let p = Pool::open(path, Mode::Create).unwrap();
    p.read(|c| {
        c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")?;
        Ok(())
    })
    .unwrap();
    (tmp, Arc::new(p))
}

fn insert(t: &super::Txn, k: &str) -> Result<(), crate::sql::outcome::ExecErr> {
    t.with(|c| Ok(c.execute("INSERT INTO t (k) VALUES (?1)", [k]).map(|_| ())?))
}

/// What another connection (another process) sees: committed rows only.
fn committed(p: &Pool) -> Vec<String> {
    p.read(|c| {
        let mut st = c.prepare("SELECT k FROM t ORDER BY k")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })
    .unwrap()
}

/// Lets the spawned tasks run until they are all parked (current-thread runtime).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// A second transaction that queues for the writer, inserts "b", then commits or is
/// dropped.
fn queue_second(p: &Arc<Pool>, commit: bool) -> tokio::task::JoinHandle<()> {
    let p = Arc::clone(p);
    tokio::spawn(async move {
        let t = p.begin().await.unwrap();
        insert(&t, "b").unwrap();
        if commit {
            t.commit().await.unwrap();
        }
    })
}

#[tokio::test]
async fn a_batch_commits_its_members_and_only_them() {
    let (_tmp, p) = pool("members");
    let first = p.begin().await.unwrap();
    insert(&first, "a").unwrap();
    // Three more transactions queue behind the first.
    let mut waiting = Vec::new();
    for (k, fail) in [("b", false), ("a", true), ("c", false)] {
        let p = Arc::clone(&p);
        waiting.push(tokio::spawn(async move {
            let t = p.begin().await.unwrap();
            match insert(&t, k) {
                // A failed transaction is dropped: its savepoint is undone.
                Err(e) => {
                    assert!(e.is_unique(), "{e}");
                    drop(t);
                    Err(())
                }
                Ok(()) if fail => unreachable!("'a' was inserted twice"),
                Ok(()) => t.commit().await.map_err(|_| ()),
            }
        }));
    }
    settle().await;
    // Others wait: the first leaves the batch open for them and returns only once it
    // is committed, with everything that queued behind it.
    first.commit().await.unwrap();
    let outcomes: Vec<_> = futures::future::join_all(waiting).await;
    let outcomes: Vec<bool> = outcomes.into_iter().map(|o| o.unwrap().is_ok()).collect();
    assert_eq!(outcomes, [true, false, true]);
    assert_eq!(committed(&p), ["a", "b", "c"]);
}

#[tokio::test]
async fn an_abandoned_member_leaves_the_batch_to_the_others() {
    let (_tmp, p) = pool("abandoned");
    let first = p.begin().await.unwrap();
    insert(&first, "a").unwrap();
    // The second is abandoned before it commits (a cancelled request).
    let second = queue_second(&p, false);
    settle().await;
    let committing = tokio::spawn(async move { first.commit().await });
    second.await.unwrap();
    committing.await.unwrap().unwrap();
    assert_eq!(committed(&p), ["a"]);
    // The writer is free and starts clean.
    let t = p.begin().await.unwrap();
    insert(&t, "c").unwrap();
    t.commit().await.unwrap();
    assert_eq!(committed(&p), ["a", "c"]);
}

#[tokio::test]
async fn an_abandoned_first_member_is_rolled_back_and_the_next_commits() {
    let (_tmp, p) = pool("first-abandoned");
    // The first opens the batch (without a savepoint: it is alone in it).
    let first = p.begin().await.unwrap();
    insert(&first, "a").unwrap();
    let second = queue_second(&p, true);
    settle().await;
    drop(first);
    second.await.unwrap();
    assert_eq!(committed(&p), ["b"]);
    // A failed statement in a first member leaves its earlier work, which commits.
    let t = p.begin().await.unwrap();
    insert(&t, "c").unwrap();
    assert!(insert(&t, "b").unwrap_err().is_unique());
    t.commit().await.unwrap();
    assert_eq!(committed(&p), ["b", "c"]);
}

#[tokio::test]
async fn a_member_whose_request_is_cancelled_is_still_committed() {
    let (_tmp, p) = pool("cancelled");
    let first = p.begin().await.unwrap();
    insert(&first, "a").unwrap();
    let second = queue_second(&p, true);
    settle().await;
    // The first hands the batch on and is cancelled while it waits for the outcome.
    use futures::FutureExt as _;
    assert!(first.commit().now_or_never().is_none(), "it committed alone");
    second.await.unwrap();
    settle().await;
    assert_eq!(committed(&p), ["a", "b"]);
}

#[tokio::test]
async fn a_wait_for_the_writer_cancelled_after_the_hand_off_still_gets_the_batch_committed() {
    let (_tmp, p) = pool("cancelled-wait");
    let first = p.begin().await.unwrap();
    insert(&first, "a").unwrap();
    // A second transaction queues for the writer (polled once, then never again).
    let mut waiting = Box::pin(p.begin());
    assert!(futures::poll!(&mut waiting).is_pending());
    // The first hands the batch on to it and waits for the outcome...
    let committing = tokio::spawn(async move { first.commit().await });
    settle().await;
    assert!(!committing.is_finished(), "it committed alone");
    // ...but the second's request is cancelled before it ran: someone must commit.
    drop(waiting);
    let limit = std::time::Duration::from_secs(10);
    tokio::time::timeout(limit, committing).await.expect("nobody committed").unwrap().unwrap();
    assert_eq!(committed(&p), ["a"]);
    let t = p.begin().await.unwrap();
    insert(&t, "b").unwrap();
    t.commit().await.unwrap();
    assert_eq!(committed(&p), ["a", "b"]);
}

#[test]
fn limits_are_written_into_the_statement() {
    use super::statement::inline_limit;
    use rusqlite::types::Value as V;
    let mut v = vec![V::Text("o".into()), V::Integer(100), V::Integer(40)];
    let sql = inline_limit("SELECT a FROM t WHERE o = ? LIMIT ? OFFSET ?".into(), &mut v);
    assert_eq!(sql, "SELECT a FROM t WHERE o = ? LIMIT 100 OFFSET ?");
    assert_eq!(v, [V::Text("o".into()), V::Integer(40)]);
    let mut v = vec![V::Integer(1)];
    assert_eq!(inline_limit("SELECT a FROM t LIMIT ?".into(), &mut v), "SELECT a FROM t LIMIT 1");
    assert!(v.is_empty());
    // Anything else is left alone.
    let mut v = vec![V::Text("x".into())];
    assert_eq!(inline_limit("SELECT a FROM t LIMIT ?".into(), &mut v), "SELECT a FROM t LIMIT ?");
    let mut v = vec![V::Integer(3)];
    assert_eq!(
        inline_limit("SELECT a FROM t WHERE b = ?".into(), &mut v),
        "SELECT a FROM t WHERE b = ?"
    );
    assert_eq!(v.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_stream_of_writes_keeps_the_wal_short() {
    let (tmp, p) = pool("wal");
    p.read(|c| Ok(c.execute_batch("CREATE TABLE b (v BLOB)")?)).unwrap();
    // Back to back, with no pause for the checkpointer to find the WAL copied to its
    // end: 12,000 transactions of a 4,000-byte row, about 100 MB of WAL frames if the
    // WAL never started over.
    let row = vec![7u8; 4000];
    for _ in 0..12_000 {
        let t = p.begin().await.unwrap();
        t.with(|c| Ok(c.execute("INSERT INTO b (v) VALUES (?1)", [&row]).map(|_| ())?)).unwrap();
        t.commit().await.unwrap();
    }
    let wal = std::fs::metadata(format!("{}-wal", tmp.0.display())).unwrap().len();
    assert!(wal < 70 << 20, "the WAL grew to {wal} bytes");
    let rows = p.read(|c| Ok(c.query_row("SELECT count(*) FROM b", [], |r| r.get::<_, i64>(0))?));
    assert_eq!(rows.unwrap(), 12_000_i64);
}

#[tokio::test]
async fn alone_a_transaction_commits_at_once() {
    let (_tmp, p) = pool("alone");
    let t = p.begin().await.unwrap();
    insert(&t, "a").unwrap();
    assert!(committed(&p).is_empty());
    t.commit().await.unwrap();
    assert_eq!(committed(&p), ["a"]);
    let t = p.begin().await.unwrap();
    insert(&t, "b").unwrap();
    drop(t);
    assert_eq!(committed(&p), ["a"]);
}
