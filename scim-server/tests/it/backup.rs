//! `admin backup` and `admin restore-backup` (`docs/operations.md`): an online copy of the
//! SQLite database taken while a server writes to it, restored into a fresh path and
//! served; restore refuses a database in use and a damaged backup; PostgreSQL and MySQL
//! get their tools' commands.

use crate::cli::{Db, Server, post_user};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const TOKEN: &str = "backup-test-token-0123456789";

fn fails(db: &Db, args: &[&str]) -> String {
    let out = db.cmd(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_backup_taken_under_write_load_restores_into_a_fresh_file_that_serves_its_users() {
    let db = Db::new();
    let server = Server::start(&db, &[("SCIM_BOOTSTRAP_TOKEN", TOKEN)]);
    server.wait_stdout(TOKEN);
    // Users that exist before the backup starts must all be in it.
    for i in 0..20 {
        post_user(&server.addr, TOKEN, &format!("before-{i}@example.com"));
    }

    // Four writers create users while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, stop, created) = (server.addr.clone(), stop.clone(), created.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && i < 500 {
                    post_user(&addr, TOKEN, &format!("during-{w}-{i}@example.com"));
                    created.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    while created.load(Ordering::Relaxed) < 20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let file = db.dir.join("backup.db");
    let file_arg = file.display().to_string();
    let out = db.json(&["admin", "backup", &file_arg, "--json"]);
    assert_eq!(out["integrity"], "ok", "{out}");
    assert!(out["bytes"].as_u64().unwrap() > 0, "{out}");
    let during = created.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(during > 20, "writes went on during the backup");

    // No overwrite without --force; with it, a new copy.
    assert!(fails(&db, &["admin", "backup", &file_arg]).contains("already exists"));
    let again = db.json(&["admin", "backup", &file_arg, "--force", "--json"]);
    assert_eq!(again["integrity"], "ok");

    // The database is in use by the server: restore refuses and changes nothing.
    let err = fails(&db, &["admin", "restore-backup", &file_arg]);
    assert!(err.contains("in use"), "{err}");
    let (status, _) = server.get("/scim/v2/Users?count=0", TOKEN);
    assert!(status.contains("200"));

    // Restore into a fresh path, then serve it.
    let fresh = Db::empty();
    let restored = fresh.json(&["admin", "restore-backup", &file_arg, "--json"]);
    assert_eq!(restored["integrity"], "ok", "{restored}");
    assert_eq!(restored["applied"], serde_json::json!([]), "{restored}");
    let snapshot = scim_store::backup::verify(&fresh.dir.join("scim.db")).unwrap();
    assert!(snapshot.pending.is_empty());
    let other = Server::start(&fresh, &[]);
    assert!(!other.stderr.contains("first start"), "{}", other.stderr);
    let (status, body) = other.get("/scim/v2/Users?count=0", TOKEN);
    assert!(status.contains("200"), "{body}");
    let json: Value = serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let total = json["totalResults"].as_u64().unwrap();
    assert!((20..=20 + 4 * 500).contains(&total), "{total}");
    for i in 0..20 {
        let filter = format!("userName%20eq%20%22before-{i}@example.com%22");
        let (status, body) = other.get(&format!("/scim/v2/Users?filter={filter}"), TOKEN);
        assert!(status.contains("200") && body.contains("\"totalResults\":1"), "{body}");
    }
    // The restored server takes writes.
    post_user(&other.addr, TOKEN, "after-restore@example.com");
    drop(other);

    // Restore over an existing database once its server has stopped.
    assert!(server.terminate().success());
    let over = db.json(&["admin", "restore-backup", &file_arg, "--json"]);
    assert_eq!(over["integrity"], "ok");
}

#[test]
fn a_damaged_or_foreign_backup_is_refused_before_anything_is_replaced() {
    let db = Db::new();
    let file = db.dir.join("good.db");
    let good = file.display().to_string();
    db.json(&["admin", "backup", &good, "--json"]);

    // Truncated: SQLite finds it damaged; the target stays as it was.
    let bytes = std::fs::read(&file).unwrap();
    let bad = db.dir.join("bad.db");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let fresh = Db::empty();
    let out = fresh.cmd(&["admin", "restore-backup", &bad.display().to_string()]).output().unwrap();
    assert!(!out.status.success());
    assert!(!fresh.dir.join("scim.db").exists(), "nothing restored");

    // Not an SQLite file at all.
    let text = db.dir.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    assert!(
        !fresh
            .cmd(&["admin", "restore-backup", &text.display().to_string()])
            .output()
            .unwrap()
            .status
            .success()
    );
    // A missing backup; a backup into a directory that does not exist.
    let err = fails(&fresh, &["admin", "restore-backup", "nope.db"]);
    assert!(err.contains("nope.db: no such file"), "{err}");
    let err = fails(&db, &["admin", "backup", "no-such-dir/b.db"]);
    assert!(err.contains("no-such-dir: no such file or directory"), "{err}");
    assert!(!fresh.dir.join("scim.db").exists());
}

#[test]
fn postgres_and_mysql_get_their_own_tools_commands() {
    let db = Db::empty();
    for (url, tool) in [
        ("postgres://scim:secret@127.0.0.1:1/scim", "pg_dump --format=custom"),
        ("mysql://scim:secret@127.0.0.1:1/scim", "mysqldump --single-transaction"),
    ] {
        let out =
            db.cmd(&["admin", "backup", "x.db"]).env("SCIM_DATABASE_URL", url).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(tool), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
    let out = db
        .cmd(&["admin", "restore-backup", "x.db"])
        .env("SCIM_DATABASE_URL", "postgres://scim:secret@127.0.0.1:1/scim")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_restore"));
}
