//! (a) kill -9 under write load.

use super::*;

pub(super) async fn kill_under_load(
    opts: &Opts,
    backend: Backend,
    dir: &Path,
    rows: &mut Rows,
) -> Result<(), String> {
    let name = format!("kill -9 under 8 writers ({backend:?})");
    let db = Db::create(backend, dir, "kill")?;
    let mut server = start(dir, "kill.log", &db.url, &[]).await?;
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (t, acked, stop) = (server.t.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut sender = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let user = format!("kill-{w}-{i}@example.com");
                i += 1;
                let doc = user_doc(i as usize, &user);
                match call(&mut sender, &t, "POST", "/scim/v2/Users", Some(&doc), &[]).await {
                    Ok((201, _, body)) => {
                        if let Some(id) = json_of(&body)["id"].as_str() {
                            acked.lock().unwrap().push((id.to_owned(), user));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(if opts.quick { 3 } else { 10 })).await;
    server.proc.child.kill().map_err(|e| format!("kill -9: {e}"))?;
    let _ = server.proc.child.wait();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let integrity = match backend {
        Backend::Sqlite => Some(db.query("PRAGMA integrity_check")?),
        Backend::Postgres => None,
    };
    let restarted = start(dir, "kill-restart.log", &db.url, &[]).await?;
    // Every acknowledged create, read back through 8 connections.
    let acked = Arc::new(acked);
    let next = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (t, acked, next, lost) =
            (restarted.t.clone(), acked.clone(), next.clone(), lost.clone());
        readers.push(tokio::spawn(async move {
            let mut sender = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((id, user)) = acked.get(i) else { return };
                let uri = format!("/scim/v2/Users/{id}");
                let ok = match call(&mut sender, &t, "GET", &uri, None, &[]).await {
                    Ok((200, _, body)) => json_of(&body)["userName"] == user.as_str(),
                    _ => false,
                };
                if !ok {
                    lost.lock().unwrap().push(id.clone());
                }
            }
        }));
    }
    for r in readers {
        let _ = r.await;
    }
    let lost = lost.lock().unwrap().len();
    let mut result = format!("{} acknowledged creates, {lost} lost after restart", acked.len());
    let mut pass = lost == 0 && !acked.is_empty();
    if let Some(check) = integrity {
        pass &= check == "ok";
        result.push_str(&format!("; integrity_check: {check}"));
    }
    row(rows, name, pass, result);
    Ok(())
}
