//! SCIM events: the write latency a stream adds, and how fast one replica delivers.
//!
//! `cargo bench -p scim-server --bench events` (SQLite file in a temporary directory, the
//! router in process, a local axum receiver). Prints the median and p99 latency of
//! sequential user creates without and with an active push stream, and the events per
//! second one delivery worker pushes to the receiver (ES256-signed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{Request, StatusCode};
use scim_core::schema::Registry;
use scim_server::events::manage::{self, NewStream};
use scim_server::events::push::Pusher;
use scim_server::{AppState, Config};
use scim_store::{Delivery, EventForm, NewToken, Scope, SigningAlg, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const WRITES: usize = 2000;
const BACKLOG: usize = 10_000;

async fn creates(router: &Router, token: &str, prefix: &str, n: usize) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{prefix}{i}@x.io"}}"#
        );
        let req = Request::post("/scim/v2/Users")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/scim+json")
            .body(Body::from(body))
            .unwrap();
        let t = Instant::now();
        let res = router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let _ = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    lat
}

fn pct(l: &[Duration], p: usize) -> f64 {
    l[(l.len() * p / 100).min(l.len() - 1)].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("scim-events-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("scim.db").display());
    let registry = Arc::new(Registry::builtin());
    let store = scim_store::SqlStore::connect(&url, registry.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let org = store.create_organization("bench", &[]).await.unwrap().sid;
    let secret = scim_server::token::generate().unwrap();
    store
        .create_token(NewToken {
            org,
            name: None,
            scopes: Scope::ALL.to_vec(),
            secret_hash: scim_server::token::hash(&secret),
            expires: None,
        })
        .await
        .unwrap();
    let state = AppState::new(store.clone(), registry, Arc::new(Config::default()));
    let router = scim_server::router(state.clone());

    // The receiver.
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let app = Router::new().route(
        "/events",
        post(move |_: String| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let recv = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    creates(&router, &secret, "warm", 200).await;
    let without = creates(&router, &secret, "a", WRITES).await;

    let stream = manage::create_stream(
        store.as_ref(),
        NewStream {
            org,
            delivery: Delivery::Push,
            url: Some(recv.clone()),
            events: vec![],
            form: EventForm::Notice,
            alg: SigningAlg::ES256,
        },
    )
    .await
    .unwrap()
    .stream;
    tokio::spawn(Pusher::new(&state).unwrap().run());
    let with = creates(&router, &secret, "b", WRITES).await;
    println!(
        "write latency, {WRITES} sequential creates: without a stream p50 {:.0} us p99 {:.0} us; \
         with an active push stream p50 {:.0} us p99 {:.0} us",
        pct(&without, 50),
        pct(&without, 99),
        pct(&with, 50),
        pct(&with, 99)
    );
    while count.load(Ordering::Relaxed) < WRITES as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Delivery rate: a backlog written while the stream is paused, then resumed.
    store.stream_set_state(&stream.id, scim_store::StreamState::Paused).await.unwrap();
    creates(&router, &secret, "c", BACKLOG).await;
    let before = count.load(Ordering::Relaxed);
    let t = Instant::now();
    store.stream_set_state(&stream.id, scim_store::StreamState::Active).await.unwrap();
    while count.load(Ordering::Relaxed) < before + BACKLOG as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "delivery: {BACKLOG} events in {secs:.2} s = {:.0} events/s (one replica, ES256, local receiver)",
        BACKLOG as f64 / secs
    );
    let _ = std::fs::remove_dir_all(&dir);
}
