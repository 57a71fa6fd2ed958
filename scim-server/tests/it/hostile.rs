//! Hostile HTTP on a real socket: slow headers, idle connections, oversized heads, query
//! strings with too many parameters, and more connections than the process accepts.

use crate::support::{TestApp, app_with};
use scim_server::listener::{ConnLimits, serve};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Serves a test app on 127.0.0.1 with `limits`; dropping the sender stops it.
async fn listen(app: &TestApp, limits: ConnLimits) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let stack = scim_server::service(&app.state);
    tokio::spawn(serve(listener, stack, limits, None, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Reads until the peer closes (or `limit` passes); returns what came and whether it closed.
async fn read_until_closed(tcp: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

/// One request on a fresh connection with `Connection: close`; the raw response.
async fn raw(addr: SocketAddr, head: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    read_until_closed(&mut tcp, Duration::from_secs(10)).await.0
}

fn body_json(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

fn limits(header_read_timeout: Duration) -> ConnLimits {
    ConnLimits { header_read_timeout, ..ConnLimits::default() }
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed() {
    let app = app_with(|_| {}).await;
    let (addr, _stop) = listen(&app, limits(Duration::from_secs(1))).await;
    // A slowloris client: one header byte every 300 ms never completes its head.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let trickle = async {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa" {
            if slow.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(8), trickle).await;
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(closed, "a slow-header connection was left open");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "closed only after {:?}",
        started.elapsed()
    );

    // A keep-alive connection that goes idle after one request is closed too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (got, closed) = read_until_closed(&mut idle, Duration::from_secs(4)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(closed, "an idle keep-alive connection was left open");

    // Normal requests are unaffected.
    let r = raw(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[tokio::test]
async fn oversized_heads_get_431() {
    let app = app_with(|c| c.max_header_bytes = 8192).await;
    let limits = ConnLimits { max_header_bytes: 8192, ..ConnLimits::default() };
    let (addr, _stop) = listen(&app, limits).await;
    let token = &app.token;
    // Over the limit but under hyper's ceiling: a SCIM 431 with the code in the Link header.
    let big = "a".repeat(10_000);
    let r = raw(
        addr,
        &format!(
            "GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             X-Big: {big}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    assert!(r.to_ascii_lowercase().contains("errors#20431>; rel=\"help\""), "{r}");
    let v = body_json(&r);
    assert_eq!(v["status"], "431");
    assert!(v["detail"].as_str().unwrap().contains("over the limit of 8192"), "{v}");
    // Many small headers count together.
    let many: String = (0..400).map(|i| format!("X-H{i}: {}\r\n", "b".repeat(20))).collect();
    let r =
        raw(addr, &format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n"))
            .await;
    assert!(r.starts_with("HTTP/1.1 431"), "{}", &r[..r.len().min(200)]);
    // Far over: refused by the HTTP layer before any routing (no body), never a 200.
    let huge = "a".repeat(100_000);
    let r = raw(addr, &format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n")).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{}", &r[..r.len().min(200)]);
}

#[tokio::test]
async fn too_many_query_parameters_get_400() {
    let app = app_with(|c| c.max_query_params = 64).await;
    let (addr, _stop) = listen(&app, ConnLimits::default()).await;
    let token = &app.token;
    let query: Vec<String> = (0..65).map(|i| format!("p{i}=x")).collect();
    let r = raw(
        addr,
        &format!(
            "GET /scim/v2/Users?{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n",
            query.join("&")
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    assert!(r.contains("errors#37400"), "{r}");
    assert_eq!(body_json(&r)["scimType"], "invalidSyntax");
    // At the limit, and an Entra-style query, are fine.
    let ok = raw(
        addr,
        &format!(
            "GET /scim/v2/Users?aadOptscim062020&{} HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {token}\r\nConnection: close\r\n\r\n",
            query[..63].join("&")
        ),
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[tokio::test]
async fn connections_over_the_limit_get_a_scim_503() {
    let app = app_with(|_| {}).await;
    let limits = ConnLimits { max_connections: 2, ..ConnLimits::default() };
    let (addr, _stop) = listen(&app, limits).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(tcp);
    }
    let r = raw(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.to_ascii_lowercase().contains("retry-after: 1"), "{r}");
    let v = body_json(&r);
    assert_eq!(v["status"], "503");
    assert!(r.contains("</docs/errors#22503>; rel=\"help\""), "{r}");
    // A slot frees when a connection closes.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = raw(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}
