//! (e) hostile HTTP.

use super::*;

/// Sends `head`, then reads until the server closes or `limit` passes; the whole answer.
async fn raw(addr: SocketAddr, head: &[u8], limit: Duration) -> String {
    let Ok(mut tcp) = TcpStream::connect(addr).await else { return "connect failed".into() };
    let _ = tcp.write_all(head).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) async fn hostile(opts: &Opts, dir: &Path, rows: &mut Rows) -> Result<(), String> {
    let db = Db::create(Backend::Sqlite, dir, "hostile")?;
    let timeout = HEADER_TIMEOUT.to_string();
    let max = MAX_CONNECTIONS.to_string();
    let server = start(
        dir,
        "hostile.log",
        &db.url,
        &["--header-read-timeout-secs", &timeout, "--max-connections", &max],
    )
    .await?;
    let addr = server.t.addr;

    // Slowloris: 20 connections sending a header byte a second.
    let slow = if opts.quick { 10 } else { 20 };
    let mut tasks = Vec::new();
    for _ in 0..slow {
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let Ok(mut tcp) = TcpStream::connect(addr).await else { return None };
            let _ = tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
            let mut buf = [0u8; 512];
            while t0.elapsed() < Duration::from_secs(HEADER_TIMEOUT * 5) {
                if tcp.write_all(b"a").await.is_err() {
                    return Some(t0.elapsed());
                }
                let read = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf));
                if let Ok(Ok(0) | Err(_)) = read.await {
                    return Some(t0.elapsed());
                }
            }
            None
        }));
    }
    // Normal requests meanwhile.
    let mut normal = (0u64, 0u64, 0.0f64);
    let until = Instant::now() + Duration::from_secs(HEADER_TIMEOUT + 2);
    let mut sender = None;
    while Instant::now() < until {
        let t0 = Instant::now();
        match call(&mut sender, &server.t, "GET", "/scim/v2/Users?count=1", None, &[]).await {
            Ok((200, _, _)) => normal.0 += 1,
            _ => normal.1 += 1,
        }
        normal.2 = normal.2.max(t0.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut closed = Vec::new();
    for t in tasks {
        if let Ok(Some(d)) = t.await {
            closed.push(d.as_secs_f64());
        }
    }
    let max_closed = closed.iter().copied().fold(0.0, f64::max);
    row(
        rows,
        format!(
            "slowloris: {slow} connections, 1 header byte/s (header timeout {HEADER_TIMEOUT} s)"
        ),
        closed.len() == slow
            && max_closed <= HEADER_TIMEOUT as f64 + 1.5
            && normal.1 == 0
            && normal.0 > 0,
        format!(
            "{} of {slow} closed, the last after {max_closed:.1} s; normal GETs meanwhile: {} x 200, {} failed, max {:.0} ms",
            closed.len(),
            normal.0,
            normal.1,
            normal.2
        ),
    );

    // 100 KB of headers.
    let mut head = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..100 {
        head.push_str(&format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)));
    }
    head.push_str("Connection: close\r\n\r\n");
    let r = raw(addr, head.as_bytes(), Duration::from_secs(5)).await;
    let status = r.lines().next().unwrap_or("(nothing)").to_owned();
    row(rows, "100 KB of request headers", status.starts_with("HTTP/1.1 431"), status);

    // 10,000 query parameters (short ones: the head stays under the header limit).
    let query = vec!["p"; 10_000].join("&");
    let head = format!(
        "GET /scim/v2/Users?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    let r = raw(addr, head.as_bytes(), Duration::from_secs(5)).await;
    let status = r.lines().next().unwrap_or("(nothing)").to_owned();
    row(rows, "10,000 query parameters", status.starts_with("HTTP/1.1 400"), status);

    // max_connections held open, then one more.
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(addr).await.map_err(|e| e.to_string())?);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(3)).await;
    let over = r.lines().next().unwrap_or("(nothing)").to_owned();
    let retry = r.to_ascii_lowercase().contains("retry-after:");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = call(&mut None, &server.t, "GET", "/healthz", None, &[]).await.map(|r| r.0);
    row(
        rows,
        format!("connection {} past max_connections {MAX_CONNECTIONS}", MAX_CONNECTIONS + 1),
        over.starts_with("HTTP/1.1 503") && retry && after == Ok(200),
        format!(
            "{over}{}; after closing them: {after:?}",
            if retry { ", Retry-After" } else { ", no Retry-After" }
        ),
    );
    Ok(())
}
