//! A database that goes away under a running store (a TCP proxy in front of the real
//! PostgreSQL and MariaDB, cut and restored): calls fail fast as "unavailable", the circuit
//! breaker fails the next ones at once, and service resumes by itself. Also what a read
//! costs on the wire, and reads abandoned half-way.

use crate::support::*;
use scim_store::{Store, StoreError, StoreOptions};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy to `upstream` that can be cut (connections closed, new ones refused) and
/// restored on the same port.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// PostgreSQL `Sync` messages the clients sent: one per round trip of the extended
    /// query protocol, and all that sqlx's ping sends.
    syncs: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = Proxy {
            addr: listener.local_addr().unwrap(),
            upstream,
            tasks: Arc::default(),
            syncs: Arc::default(),
        };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        let (tasks, upstream, syncs) = (self.tasks.clone(), self.upstream, self.syncs.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let syncs = syncs.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let (mut from_client, mut to_client) = client.into_split();
                        let (mut from_server, mut to_server) = server.into_split();
                        let up = async {
                            let mut frames = PgFrames::default();
                            let mut buf = vec![0u8; 16 * 1024];
                            loop {
                                let n = from_client.read(&mut buf).await?;
                                if n == 0 {
                                    return Ok::<_, std::io::Error>(());
                                }
                                syncs.fetch_add(frames.syncs_in(&buf[..n]), Ordering::Relaxed);
                                to_server.write_all(&buf[..n]).await?;
                            }
                        };
                        let down = tokio::io::copy(&mut from_server, &mut to_client);
                        let _ = tokio::try_join!(up, down);
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// PostgreSQL `Sync` messages sent through the proxy so far.
    fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Closes every connection and the listening socket: connects are refused.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Listens again (once the aborted listener has let go of the port).
    async fn restore(&self) {
        let t = Instant::now();
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if t.elapsed() < Duration::from_secs(5) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}

/// Splits what a PostgreSQL client sends into messages (a length-prefixed startup
/// message, then a type byte and a length each) and counts the `Sync` ones (`S`).
#[derive(Default)]
struct PgFrames {
    started: bool,
    /// Bytes of the current message's header read so far.
    header: Vec<u8>,
    /// Bytes of the current message's body still to skip.
    skip: usize,
}

impl PgFrames {
    fn syncs_in(&mut self, mut bytes: &[u8]) -> u64 {
        let mut syncs = 0;
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let want = if self.started { 5 } else { 4 };
            let n = (want - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() < want {
                break;
            }
            let len = u32::from_be_bytes(self.header[want - 4..].try_into().unwrap()) as usize;
            if self.started && self.header[0] == b'S' {
                syncs += 1;
            }
            self.skip = len - 4;
            self.started = true;
            self.header.clear();
        }
        syncs
    }
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{userinfo}{addr}/{path}")
}

fn upstream(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split_once('/').unwrap().0;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.parse().unwrap()
}

/// A migrated store on a fresh database of `backend`, reached through a [`Proxy`].
async fn proxied(backend: Backend, opts: StoreOptions) -> (EmptyDb, Proxy, scim_store::SqlStore) {
    let db = EmptyDb::new(backend).await;
    let proxy = Proxy::start(upstream(&db.url)).await;
    let url = through(&db.url, proxy.addr);
    let store = scim_store::SqlStore::connect_with(&url, registry(), opts).await.unwrap();
    store.migrate().await.unwrap();
    (db, proxy, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_fails_fast_and_recovery_is_automatic() {
    for backend in backends() {
        if !matches!(backend, Backend::Postgres | Backend::MySql) {
            continue;
        }
        let opts = StoreOptions {
            acquire_timeout: Duration::from_secs(1),
            max_connections: Some(4),
            ..StoreOptions::default()
        };
        let (db, proxy, store) = proxied(backend, opts).await;
        let org = store.create_organization("o", &[]).await.unwrap().sid;
        assert!(store.organization(org).await.unwrap().is_some());

        proxy.cut();
        let t = Instant::now();
        let e = store.organization(org).await.unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)), "{backend:?}: {e:?}");
        assert!(t.elapsed() < Duration::from_millis(2500), "{backend:?}: took {:?}", t.elapsed());
        // The breaker is open: the next calls fail at once, none waits on the dead pool.
        let t = Instant::now();
        for _ in 0..20 {
            assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))));
        }
        assert!(t.elapsed() < Duration::from_millis(200), "{backend:?}: took {:?}", t.elapsed());

        proxy.restore().await;
        let t = Instant::now();
        loop {
            match store.organization(org).await {
                Ok(Some(_)) => break,
                Err(StoreError::Unavailable(_)) if t.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("{backend:?}: no recovery: {other:?}"),
            }
        }
        drop(store);
        proxy.cut();
        db.drop_db().await;
    }
}

/// Connections the database closed while the pool held them (a restart or failover
/// quicker than the pool's idle ping) cost no read: a read that meets one runs again on
/// another connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_restart_costs_no_read() {
    for backend in backends() {
        if !matches!(backend, Backend::Postgres | Backend::MySql) {
            continue;
        }
        let opts = StoreOptions { max_connections: Some(3), ..StoreOptions::default() };
        let (db, proxy, store) = proxied(backend, opts).await;
        let org = store.create_organization("o", &[]).await.unwrap().sid;
        // Every connection of the pool in use at once, then back in the pool.
        let reads = (0..6).map(|_| store.organization(org));
        for r in futures::future::join_all(reads).await {
            assert!(r.unwrap().is_some(), "{backend:?}");
        }
        proxy.cut();
        proxy.restore().await;
        for _ in 0..6 {
            let got = store.organization(org).await;
            assert!(matches!(got, Ok(Some(_))), "{backend:?}: {got:?}");
        }
        drop(store);
        proxy.cut();
        db.drop_db().await;
    }
}

/// A statement outside a transaction (a read, a write of one statement) costs PostgreSQL
/// one round trip: no ping when the store takes a connection that was used moments ago,
/// none when it puts it back (sqlx's pool pings every connection it takes back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_statement_is_one_round_trip() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let (db, proxy, store) = proxied(Backend::Postgres, StoreOptions::default()).await;
    let org = store.create_organization("o", &[]).await.unwrap().sid;
    // The statement prepared on the connection, and whatever the pool does in the
    // background with the connections the setup used, done.
    assert!(store.organization(org).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = proxy.syncs();
    for _ in 0..50 {
        assert!(store.organization(org).await.unwrap().is_some());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let trips = proxy.syncs() - before;
    assert!((50..=52).contains(&trips), "{trips} round trips for 50 reads");
    assert!(store.rename_organization(org, "o0").await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = proxy.syncs();
    for i in 1..=20 {
        assert!(store.rename_organization(org, &format!("o{i}")).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let trips = proxy.syncs() - before;
    assert!((20..=21).contains(&trips), "{trips} round trips for 20 updates");
    assert_eq!(store.organization(org).await.unwrap().unwrap().name, "o20");
    drop(store);
    proxy.cut();
    db.drop_db().await;
}

/// A read whose future is dropped half-way (a request cancelled by its client or its
/// timeout) never leaves its connection to the next read with rows still unread: every
/// later read gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cancelled_half_way_leave_no_rows_behind() {
    for backend in backends() {
        if !matches!(backend, Backend::Postgres | Backend::MySql) {
            continue;
        }
        let opts = StoreOptions { max_connections: Some(2), ..StoreOptions::default() };
        let (db, proxy, store) = proxied(backend, opts).await;
        let mut orgs = Vec::new();
        for i in 0..4 {
            orgs.push(store.create_organization(&format!("o{i}"), &[]).await.unwrap().sid);
        }
        for round in 0..200u64 {
            let org = orgs[(round % 4) as usize];
            let cut = Duration::from_micros(round * 7 % 400);
            let _ = tokio::time::timeout(cut, store.organization(org)).await;
            let next = orgs[((round + 1) % 4) as usize];
            let got = store.organization(next).await.unwrap().unwrap();
            assert_eq!(got.sid, next, "{backend:?}: round {round}");
        }
        drop(store);
        proxy.cut();
        db.drop_db().await;
    }
}
