//! (b) two replicas on one PostgreSQL database.

use super::*;

pub(super) async fn replicas(opts: &Opts, dir: &Path, rows: &mut Rows) -> Result<(), String> {
    let db = Db::create(Backend::Postgres, dir, "replicas")?;
    let a = start(dir, "replica-a.log", &db.url, &[]).await?;
    let b = start(dir, "replica-b.log", &db.url, &[]).await?;
    let both = [a.t.clone(), b.t.clone()];

    // Conditional increments.
    let id = create_user(&a.t, "counter@example.com").await?;
    let per_client = if opts.quick { 10 } else { 50 };
    let (applied, conflicts, other) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(None)));
    let mut tasks = Vec::new();
    for c in 0..8 {
        let t = both[c % 2].clone();
        let (id, applied, conflicts, other) =
            (id.clone(), applied.clone(), conflicts.clone(), other.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = None;
            let uri = format!("/scim/v2/Users/{id}");
            let mut mine = 0;
            let mut attempts = 0;
            while mine < per_client && attempts < per_client * 100 {
                attempts += 1;
                let Ok((200, headers, body)) = call(&mut sender, &t, "GET", &uri, None, &[]).await
                else {
                    continue;
                };
                let etag =
                    headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let n: u64 = json_of(&body)["displayName"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let patch = json!({"schemas": [PATCH_SCHEMA], "Operations": [
                    {"op": "replace", "path": "displayName", "value": (n + 1).to_string()}]});
                match call(&mut sender, &t, "PATCH", &uri, Some(&patch), &[("if-match", &etag)])
                    .await
                {
                    Ok((200, _, _)) => {
                        mine += 1;
                        applied.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((412, _, _)) => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((s, _, body)) => {
                        other
                            .lock()
                            .unwrap()
                            .get_or_insert(format!("{s} {}", String::from_utf8_lossy(&body)));
                    }
                    Err(e) => {
                        other.lock().unwrap().get_or_insert(e);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let (_, _, body) =
        call(&mut None, &a.t, "GET", &format!("/scim/v2/Users/{id}"), None, &[]).await?;
    let last: u64 =
        json_of(&body)["displayName"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    let applied = applied.load(Ordering::Relaxed);
    let other = other.lock().unwrap().take();
    row(
        rows,
        "2 replicas: 8 clients racing If-Match increments (PostgreSQL)",
        applied == 8 * per_client && last == applied && other.is_none(),
        format!(
            "{applied} of {} applied, {} x 412, final value {last}, lost updates {}{}",
            8 * per_client,
            conflicts.load(Ordering::Relaxed),
            applied.saturating_sub(last),
            other.map(|o| format!("; unexpected: {o}")).unwrap_or_default()
        ),
    );

    // One Idempotency-Key, 16 concurrent POSTs over both replicas.
    let keys = if opts.quick { 5 } else { 20 };
    let mut bad = Vec::new();
    for k in 0..keys {
        let key = format!("faults-{}-{k}", std::process::id());
        let user = format!("idem-{k}@example.com");
        let mut tasks = Vec::new();
        for c in 0..16 {
            let (t, key, doc) = (both[c % 2].clone(), key.clone(), new_user(&user));
            tasks.push(tokio::spawn(async move {
                // 409 means "the first is still running": retry as the docs say.
                for _ in 0..200 {
                    match call(
                        &mut None,
                        &t,
                        "POST",
                        "/scim/v2/Users",
                        Some(&doc),
                        &[("idempotency-key", &key)],
                    )
                    .await
                    {
                        Ok((409, _, _)) => tokio::time::sleep(Duration::from_millis(20)).await,
                        Ok((s, _, body)) => {
                            return (s, json_of(&body)["id"].as_str().unwrap_or("").to_owned());
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                (0, String::new())
            }));
        }
        let mut ids = BTreeSet::new();
        for t in tasks {
            let (s, id) = t.await.map_err(|e| e.to_string())?;
            if s != 201 {
                bad.push(format!("key {k}: status {s}"));
            }
            ids.insert(id);
        }
        let filter = pct_encode(&format!("userName eq \"{user}\""));
        let (_, _, body) =
            call(&mut None, &b.t, "GET", &format!("/scim/v2/Users?filter={filter}"), None, &[])
                .await?;
        let total = json_of(&body)["totalResults"].as_u64().unwrap_or(0);
        if ids.len() != 1 || total != 1 {
            bad.push(format!("key {k}: {} distinct ids, {total} users", ids.len()));
        }
    }
    row(
        rows,
        "2 replicas: 16 concurrent POSTs per Idempotency-Key (PostgreSQL)",
        bad.is_empty(),
        if bad.is_empty() {
            format!("{keys} keys: one user and one id per key, every answer 201")
        } else {
            bad.join("; ")
        },
    );

    // Membership changes through both replicas.
    let n = if opts.quick { 20 } else { 60 };
    let mut members = Vec::new();
    for i in 0..n {
        members.push(create_user(&both[i % 2], &format!("member-{i}@example.com")).await?);
    }
    let (s, _, body) = call(
        &mut None,
        &a.t,
        "POST",
        "/scim/v2/Groups",
        Some(&json!({"schemas": [GROUP_SCHEMA], "displayName": "faults"})),
        &[],
    )
    .await?;
    let gid = json_of(&body)["id"].as_str().ok_or(format!("group create: {s}"))?.to_owned();
    let guri = format!("/scim/v2/Groups/{gid}");
    let failures = Arc::new(Mutex::new(Vec::new()));
    for remove in [false, true] {
        let mut tasks = Vec::new();
        for (i, uid) in members.iter().enumerate() {
            if remove && i % 4 != 0 {
                continue;
            }
            let op = if remove {
                json!({"op": "remove", "path": format!("members[value eq \"{uid}\"]")})
            } else {
                json!({"op": "add", "path": "members", "value": [{"value": uid}]})
            };
            let patch = json!({"schemas": [PATCH_SCHEMA], "Operations": [op]});
            let (t, guri, failures) =
                (both[(i + usize::from(remove)) % 2].clone(), guri.clone(), failures.clone());
            tasks.push(tokio::spawn(async move {
                match call(&mut None, &t, "PATCH", &guri, Some(&patch), &[]).await {
                    Ok((200 | 204, _, _)) => {}
                    Ok((s, _, body)) => failures
                        .lock()
                        .unwrap()
                        .push(format!("{s} {}", String::from_utf8_lossy(&body))),
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    let (_, _, body) =
        call(&mut None, &b.t, "GET", &format!("{guri}?attributes=members"), None, &[]).await?;
    let got: BTreeSet<String> = json_of(&body)["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["value"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let expected: BTreeSet<String> =
        members.iter().enumerate().filter(|(i, _)| i % 4 != 0).map(|(_, id)| id.clone()).collect();
    let failures = failures.lock().unwrap();
    row(
        rows,
        "2 replicas: concurrent member adds then removes (PostgreSQL)",
        got == expected && failures.is_empty(),
        format!(
            "{n} adds, {} removes: {} members, expected {}, {} missing, {} extra{}",
            n.div_ceil(4),
            got.len(),
            expected.len(),
            expected.difference(&got).count(),
            got.difference(&expected).count(),
            failures
                .first()
                .map(|f| format!("; {} failed PATCHes, first: {f}", failures.len()))
                .unwrap_or_default()
        ),
    );
    drop((a, b));
    Ok(())
}
