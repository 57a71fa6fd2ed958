//! (c) simultaneous cold starts.

use super::*;

pub(super) async fn cold_starts(
    backend: Backend,
    dir: &Path,
    rows: &mut Rows,
) -> Result<(), String> {
    const N: usize = 4;
    let db = Db::create(backend, dir, "cold")?;
    let mut servers = Vec::new();
    for i in 0..N {
        let port = free_port();
        let args = ["--log-level".to_owned(), "warn".to_owned()];
        let proc = spawn_server(None, dir, &format!("cold-{i}.log"), port, &db.url, TOKEN, &args)?;
        servers.push((proc, Arc::new(target(port, Some(TOKEN)))));
    }
    let mut problems = Vec::new();
    for (i, (proc, t)) in servers.iter_mut().enumerate() {
        if let Err(e) = wait_healthy(t, proc).await {
            problems.push(format!("replica {i}: {}", e.lines().last().unwrap_or("")));
            continue;
        }
        match call(&mut None, t, "GET", "/scim/v2/Users?count=1", None, &[]).await {
            Ok((200, _, _)) => {}
            Ok((s, _, _)) => problems.push(format!("replica {i}: bootstrap token got {s}")),
            Err(e) => problems.push(format!("replica {i}: {e}")),
        }
    }
    let migrations =
        db.query("SELECT count(*) || '/' || count(DISTINCT version) FROM seaql_migrations")?;
    let defaults = db.query("SELECT count(*) FROM organizations WHERE name = 'default'")?;
    let orgs = db.query("SELECT count(*) FROM organizations")?;
    let (total, distinct) = migrations.split_once('/').unwrap_or(("", "?"));
    if total != distinct {
        problems.push(format!("{total} migration rows for {distinct} migrations"));
    }
    if defaults != "1" || orgs != "1" {
        problems.push(format!("{defaults} `default` organizations, {orgs} in all"));
    }
    row(
        rows,
        format!("{N} replicas cold-started at once ({backend:?})"),
        problems.is_empty(),
        if problems.is_empty() {
            format!(
                "{N} of {N} healthy, {distinct} migrations applied once each, 1 `default` organization, token works on each"
            )
        } else {
            problems.join("; ")
        },
    );
    Ok(())
}
