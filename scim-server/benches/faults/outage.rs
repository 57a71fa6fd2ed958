//! (d) the database cut under load, through a proxy.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cut {
    /// Forwarding.
    Open,
    /// Existing connections reset, new ones closed at once (a stopped database).
    Refuse,
    /// Existing connections reset, new ones accepted and never answered (a partition).
    BlackHole,
}

struct Proxy {
    state: Arc<Mutex<Cut>>,
    /// Bumped on every cut: forwarding tasks of an older generation stop.
    generation: Arc<AtomicU64>,
    port: u16,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Result<Proxy, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let state = Arc::new(Mutex::new(Cut::Open));
        let generation = Arc::new(AtomicU64::new(0));
        let (st, generation2) = (state.clone(), generation.clone());
        tokio::spawn(async move {
            let held = Arc::new(Mutex::new(Vec::new()));
            while let Ok((client, _)) = listener.accept().await {
                let mode = *st.lock().unwrap();
                match mode {
                    Cut::Refuse => drop(client),
                    Cut::BlackHole => held.lock().unwrap().push(client),
                    Cut::Open => {
                        held.lock().unwrap().clear();
                        let g = generation2.load(Ordering::SeqCst);
                        let generation = generation2.clone();
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                            let mut client = client;
                            let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                            let cut = async {
                                while generation.load(Ordering::SeqCst) == g {
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                }
                            };
                            tokio::select! {
                                _ = copy => {}
                                // Both ends closed, as when the database goes away.
                                () = cut => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Proxy { state, generation, port })
    }

    fn set(&self, mode: Cut) {
        *self.state.lock().unwrap() = mode;
        if mode != Cut::Open {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// What the load saw in one window.
#[derive(Default, Debug)]
struct Seen {
    ok: u64,
    unavailable: u64,
    without_retry_after: u64,
    other: Vec<String>,
    max_503_ms: f64,
    max_ready_ms: f64,
    ready_503: u64,
}

pub(super) async fn db_cut(opts: &Opts, dir: &Path, rows: &mut Rows) -> Result<(), String> {
    let db = Db::create(Backend::Postgres, dir, "cut")?;
    let base = pg_base();
    // postgres://USER@HOST:PORT: the proxy listens in place of HOST:PORT.
    let (prefix, hostport) = base
        .rsplit_once('@')
        .map_or(("postgres:/", base.trim_start_matches("postgres://")), |(p, h)| (p, h));
    let upstream = tokio::net::lookup_host(hostport.to_owned())
        .await
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| ([127, 0, 0, 1], 5432).into());
    let proxy = Proxy::start(upstream).await?;
    let name = db.pg_name().unwrap_or_default().to_owned();
    let url = format!("{prefix}@127.0.0.1:{}/{name}", proxy.port);
    let server = start(dir, "cut.log", &url, &[]).await?;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(create_user(&server.t, &format!("cut-{i}@example.com")).await?);
    }
    let ids = Arc::new(ids);
    let cut_secs = if opts.quick { 3 } else { 5 };
    for mode in [Cut::Refuse, Cut::BlackHole] {
        let window = Arc::new(AtomicU64::new(0)); // 0 before, 1 during the cut, 2 after
        let seen: Arc<Mutex<[Seen; 3]>> = Arc::new(Mutex::new(Default::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let recovered_at = Arc::new(Mutex::new(None::<Instant>));
        let mut tasks = Vec::new();
        for c in 0..9 {
            let (t, ids, window, seen, stop, recovered_at) = (
                server.t.clone(),
                ids.clone(),
                window.clone(),
                seen.clone(),
                stop.clone(),
                recovered_at.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut sender = None;
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
                while !stop.load(Ordering::Relaxed) {
                    let ready = c == 8;
                    let uri = if ready {
                        "/readyz".to_owned()
                    } else {
                        format!("/scim/v2/Users/{}", ids[rng.below(ids.len())])
                    };
                    let w = window.load(Ordering::SeqCst) as usize;
                    let t0 = Instant::now();
                    let res = call(&mut sender, &t, "GET", &uri, None, &[]).await;
                    let ms = t0.elapsed().as_secs_f64() * 1e3;
                    {
                        let mut guard = seen.lock().unwrap();
                        let s = &mut guard[w];
                        match res {
                            Ok((200, _, _)) => {
                                s.ok += 1;
                                if w == 2 {
                                    recovered_at.lock().unwrap().get_or_insert_with(Instant::now);
                                }
                            }
                            Ok((503, _, _)) if ready => s.ready_503 += 1,
                            Ok((503, h, _)) => {
                                s.unavailable += 1;
                                s.max_503_ms = s.max_503_ms.max(ms);
                                if !h.contains_key("retry-after") {
                                    s.without_retry_after += 1;
                                }
                            }
                            Ok((st, _, body)) => s.other.push(format!(
                                "{st} {}",
                                String::from_utf8_lossy(&body)
                                    .chars()
                                    .take(120)
                                    .collect::<String>()
                            )),
                            Err(e) => s.other.push(e),
                        }
                        if ready {
                            s.max_ready_ms = s.max_ready_ms.max(ms);
                        }
                    }
                    if ready {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        window.store(1, Ordering::SeqCst);
        proxy.set(mode);
        tokio::time::sleep(Duration::from_secs(cut_secs)).await;
        proxy.set(Cut::Open);
        let resumed = Instant::now();
        window.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(if opts.quick { 4 } else { 6 })).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        let recovery =
            recovered_at.lock().unwrap().map(|at| at.duration_since(resumed).as_secs_f64());
        let during = &seen[1];
        let after = &seen[2];
        // The acquire timeout is 1 s; allow for the probe's own scheduling.
        let fast = during.max_503_ms < 2500.0 && during.max_ready_ms < 2500.0;
        let pass = seen[0].other.is_empty()
            && during.unavailable > 0
            && during.without_retry_after == 0
            && during.ready_503 > 0
            && fast
            && during.other.is_empty()
            && recovery.is_some_and(|r| r < 10.0)
            && after.ok > 0;
        row(
            rows,
            format!(
                "PostgreSQL cut for {cut_secs} s under load ({})",
                match mode {
                    Cut::Refuse => "connections reset and refused",
                    _ => "connections reset, new ones unanswered",
                }
            ),
            pass,
            format!(
                "during: {} x 503 (max {:.0} ms, {} without Retry-After), {} x 200, /readyz 503 x {} (max {:.0} ms){}; recovered {} after resume, {} x 200 after{}",
                during.unavailable,
                during.max_503_ms,
                during.without_retry_after,
                during.ok,
                during.ready_503,
                during.max_ready_ms,
                during
                    .other
                    .first()
                    .map(|o| format!(", {} other: {o}", during.other.len()))
                    .unwrap_or_default(),
                recovery.map_or("never".to_owned(), |r| format!("{r:.1} s")),
                after.ok,
                after
                    .other
                    .first()
                    .map(|o| format!(" ({} other while recovering: {o})", after.other.len()))
                    .unwrap_or_default(),
            ),
        );
    }
    drop(server);
    Ok(())
}
