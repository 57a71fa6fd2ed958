//! Replicas starting together on an empty database: migrations under a database lock, and
//! exactly one bootstrap, on every backend that several processes can share.

use crate::support::*;
use scim_store::{Scope, SqlStore, Store, StoreOptions};
use sha2::Digest;
use std::sync::Arc;

const REPLICAS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_started_together_migrate_once_and_bootstrap_once() {
    for backend in backends() {
        if backend == Backend::SqliteMemory {
            continue;
        }
        let db = EmptyDb::new(backend).await;
        let secret_hash: [u8; 32] = sha2::Sha256::digest(b"chosen-bootstrap-secret").into();
        let start = Arc::new(tokio::sync::Barrier::new(REPLICAS));
        let mut tasks = Vec::new();
        for _ in 0..REPLICAS {
            let (url, start) = (db.url.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                let store = SqlStore::connect_with(&url, registry(), StoreOptions::default()).await;
                // Every replica reaches the barrier, connected or not: one that failed to
                // connect must fail the test with its error, not leave the others waiting.
                start.wait().await;
                let store = store.map_err(|e| format!("connect: {e}"))?;
                store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
                let created = store
                    .bootstrap("default", Scope::ALL, Some("bootstrap"), secret_hash)
                    .await
                    .map_err(|e| format!("bootstrap: {e}"))?;
                Ok::<_, String>((store, created))
            }));
        }
        let mut stores = Vec::new();
        let mut created = 0;
        for t in tasks {
            let (store, c) = t.await.unwrap().unwrap_or_else(|e| panic!("{backend:?}: {e}"));
            created += usize::from(c.is_some());
            stores.push(store);
        }
        assert_eq!(created, 1, "{backend:?}: bootstraps");
        for store in &stores {
            let orgs = store.organizations().await.unwrap();
            assert_eq!(orgs.len(), 1, "{backend:?}");
            assert_eq!(orgs[0].name, "default");
            let token = store.token_by_hash(&secret_hash).await.unwrap().expect("token");
            assert_eq!((token.org, token.scopes.len()), (orgs[0].sid, 2));
            let status = store.migration_status().await.unwrap();
            assert!(!status.is_empty() && status.iter().all(|m| m.applied), "{status:?}");
        }
        // Later starts create nothing.
        let again = stores[0].bootstrap("default", Scope::ALL, None, [7; 32]).await.unwrap();
        assert_eq!(again, None);
        drop(stores);
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn migration_status_lists_pending_then_applied() {
    for backend in backends() {
        if backend == Backend::SqliteMemory {
            continue;
        }
        let db = EmptyDb::new(backend).await;
        let store =
            SqlStore::connect_with(&db.url, registry(), StoreOptions::default()).await.unwrap();
        let before = store.migration_status().await.unwrap();
        assert!(!before.is_empty() && before.iter().all(|m| !m.applied), "{before:?}");
        store.migrate().await.unwrap();
        let after = store.migration_status().await.unwrap();
        assert_eq!(
            after.iter().map(|m| &m.name).collect::<Vec<_>>(),
            before.iter().map(|m| &m.name).collect::<Vec<_>>()
        );
        assert!(after.iter().all(|m| m.applied), "{after:?}");
        drop(store);
        db.drop_db().await;
    }
}
