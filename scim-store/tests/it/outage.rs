//! A database that goes away under a running store (a TCP proxy in front of the real
//! PostgreSQL and MariaDB, cut and restored): calls fail fast as "unavailable", the circuit
//! breaker fails the next ones at once, and service resumes by itself.

use crate::support::*;
use scim_store::{Store, StoreError, StoreOptions};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy to `upstream` that can be cut (connections closed, new ones refused) and
/// restored on the same port.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = Proxy { addr: listener.local_addr().unwrap(), upstream, tasks: Arc::default() };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        let (tasks, upstream) = (self.tasks.clone(), self.upstream);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
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
