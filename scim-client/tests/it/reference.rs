//! The client and the `scim` CLI against an independent SCIM 2.0 server: the Python
//! reference server `scim2-server` (pinned in `tests/reference/requirements.txt`), started
//! on a free loopback port for each test.
//!
//! `SCIM_TEST_REFERENCE_PYTHON` names the python of a venv that has it (`cargo xtask ci`
//! prepares one and sets the variable). Unset, the tests print a notice and pass without
//! running; set, a server that cannot start fails the test.

use futures::TryStreamExt;
use scim_client::bulk::BulkBuilder;
use scim_client::cli::{Io, Status, run};
use scim_client::filter::attr;
use scim_client::{Client, Error, Query, RetryPolicy};
use scim_core::message::{PatchOpKind, PatchOperation, SortOrder};
use scim_core::resource::{Group, User};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const VAR: &str = "SCIM_TEST_REFERENCE_PYTHON";
const TOKEN: &str = "reference-test-token";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A running `scim2-server`, stopped on drop.
struct Reference {
    child: Child,
    /// The SCIM base URL (`http://127.0.0.1:PORT/v2`).
    base: String,
    /// Files of this server (its log, configuration, test data).
    dir: PathBuf,
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Reference {
    fn client(&self) -> Client {
        Client::builder(&self.base)
            .bearer(TOKEN)
            .retry(RetryPolicy::none())
            .build()
            .expect("client")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

fn scratch_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "scim-reference-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts the reference server with the default configuration (every feature of RFC 7644
/// but cursors), or `None` (after a notice) when `SCIM_TEST_REFERENCE_PYTHON` is unset.
fn reference() -> Option<Reference> {
    reference_with(None)
}

/// The reference server advertising `config` as its ServiceProviderConfig, when given.
#[allow(clippy::print_stdout)] // the notice that the tests were skipped
fn reference_with(config: Option<Value>) -> Option<Reference> {
    let Some(python) = std::env::var_os(VAR).filter(|p| !p.is_empty()) else {
        println!(
            "skipped: {VAR} is not set; `cargo xtask ci` prepares the scim2-server venv and sets \
             it (CONTRIBUTING.md)"
        );
        return None;
    };
    let dir = scratch_dir();
    let mut last = String::new();
    // A port taken between our probe and the server's bind is retried with another.
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "scim2_server.testserver.cli", "--hostname", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--bearer-token", TOKEN])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(config) = &config {
            let path = dir.join("service-provider-config.json");
            std::fs::write(&path, config.to_string()).unwrap();
            cmd.arg("--service-provider-config").arg(&path);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("{VAR}={}: cannot start scim2-server: {e}", python.to_string_lossy())
        });
        let mut server =
            Reference { child, base: format!("http://127.0.0.1:{port}/v2"), dir: dir.clone() };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                last = format!("scim2-server exited with {status}:\n{}", server.log());
                // Keep the directory for the next attempt.
                server.dir = PathBuf::new();
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            if Instant::now() > deadline {
                panic!("scim2-server did not listen on port {port} within 20 s:\n{}", server.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{VAR}={}: scim2-server did not start: {last}", python.to_string_lossy());
}

fn user(name: &str, external: &str) -> User {
    serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": external,
        "name": {"givenName": name, "familyName": "Test"},
        "emails": [{"type": "work", "value": format!("{name}@example.com")}],
        "active": true,
    }))
    .unwrap()
}

struct Out {
    status: Status,
    out: String,
    err: String,
}

/// Runs `scim --url BASE --token TOKEN ARGS` in-process.
async fn scim(r: &Reference, args: &[&str]) -> Out {
    let mut all = vec!["scim", "--url", &r.base, "--token", TOKEN];
    all.extend_from_slice(args);
    let mut out = Vec::new();
    let mut err = Vec::new();
    let status = {
        let mut io = Io { out: &mut out, err: &mut err, terminal: false };
        run(all, &mut io).await
    };
    Out { status, out: String::from_utf8(out).unwrap(), err: String::from_utf8(err).unwrap() }
}

async fn all_users(client: &Client) -> BTreeMap<String, User> {
    let users: Vec<User> = client.users().list(Query::new()).try_collect().await.unwrap();
    users.into_iter().map(|u| (u.user_name.clone(), u)).collect()
}

#[tokio::test]
async fn reference_crud_patch_and_etags() {
    let Some(r) = reference() else { return };
    let client = r.client();
    let users = client.users();
    let created = users.create(&user("ada", "e-1")).await.unwrap();
    let id = created.resource.id.clone().unwrap();
    let etag = created.etag.clone().unwrap();
    assert!(created.location.as_deref().unwrap().ends_with(&id), "{:?}", created.location);

    let got = users.get(&id).await.unwrap();
    assert_eq!(got.resource.user_name, "ada");
    assert_eq!(got.resource.external_id.as_deref(), Some("e-1"));

    // PATCH (RFC 7644 3.5.2): a sub-attribute, an extension attribute, a remove.
    let ops = vec![
        PatchOperation {
            op: PatchOpKind::Replace,
            path: Some("name.givenName".into()),
            value: Some(json!("Augusta")),
        },
        PatchOperation {
            op: PatchOpKind::Add,
            path: Some(format!("{ENT}:department")),
            value: Some(json!("Engines")),
        },
        PatchOperation { op: PatchOpKind::Remove, path: Some("emails".into()), value: None },
    ];
    let patched = users.patch_ops(&id, ops, Some(&etag)).await.unwrap();
    let now = match patched {
        Some(t) => t.resource,
        None => users.get(&id).await.unwrap().resource,
    };
    assert_eq!(now.name.as_ref().unwrap().given_name.as_deref(), Some("Augusta"));
    assert_eq!(now.enterprise().unwrap().department.as_deref(), Some("Engines"));
    assert!(now.emails.is_empty(), "{:?}", now.emails);

    // The old entity tag no longer matches (RFC 7644 3.14).
    let stale = users.replace(&id, &user("ada", "e-1"), Some(&etag)).await.unwrap_err();
    assert_eq!(stale.status(), Some(412), "{stale}");

    // A uniqueness conflict is a typed API error.
    let dup = users.create(&user("ada", "e-2")).await.unwrap_err();
    let api = dup.api().unwrap();
    assert_eq!((api.status, api.scim_type.as_deref()), (409, Some("uniqueness")), "{dup}");

    // Groups with members.
    let group: Group = serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "engineers",
        "members": [{"value": id}],
    }))
    .unwrap();
    let g = client.groups().create(&group).await.unwrap();
    let gid = g.resource.id.clone().unwrap();
    assert_eq!(g.resource.members.len(), 1);
    client.groups().delete(&gid, None).await.unwrap();

    users.delete(&id, None).await.unwrap();
    let gone = users.get(&id).await.unwrap_err();
    assert_eq!(gone.status(), Some(404), "{gone}");
}

#[tokio::test]
async fn reference_list_pages_by_index_and_refuses_cursors_clearly() {
    let Some(r) = reference() else { return };
    let client = r.client();
    for i in 0..23 {
        client.users().create(&user(&format!("u{i:02}"), &format!("x{i}"))).await.unwrap();
    }
    let caps = client.capabilities().await.unwrap();
    assert!(!caps.cursor_paging(), "the reference server advertises no cursors");

    // No cursor pagination advertised: `list` pages by startIndex (RFC 7644 3.4.2.4).
    let q = Query::new().count(5).sort_by("userName", SortOrder::Descending);
    let names: Vec<String> =
        client.users().list(q).map_ok(|u| u.user_name).try_collect().await.unwrap();
    assert_eq!(names.len(), 23);
    assert_eq!(names.first().map(String::as_str), Some("u22"));
    assert_eq!(names.last().map(String::as_str), Some("u00"));

    // Asking for a cursor is refused before sending, with what the server lacks.
    let e = client.users().list(Query::new().cursor("")).try_collect::<Vec<_>>().await;
    match e {
        Err(Error::Unsupported(m)) => assert!(m.contains("cursor"), "{m}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let e = client.users().search(&Query::new().cursor("")).await.unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
}

#[tokio::test]
async fn reference_search_get_and_post() {
    let Some(r) = reference() else { return };
    let client = r.client();
    for name in ["ada", "alan", "bob"] {
        client.users().create(&user(name, &format!("e-{name}"))).await.unwrap();
    }
    let q = Query::new()
        .filter(attr("userName").sw("a").and(attr("emails").has(attr("type").eq("work"))))
        .sort_by("userName", SortOrder::Ascending)
        .attributes(["userName"]);
    let get = client.users().search(&q).await.unwrap();
    let post = client.users().search_post(&q).await.unwrap();
    for page in [&get, &post] {
        assert_eq!(page.total_results, 2);
        let names: Vec<&str> = page.resources.iter().map(|u| u.user_name.as_str()).collect();
        assert_eq!(names, ["ada", "alan"]);
    }
}

#[tokio::test]
async fn reference_bulk_and_deactivate_fall_back_to_patch() {
    let Some(r) = reference() else { return };
    let client = r.client();
    let request = BulkBuilder::new()
        .create("Users", "a", &user("ada", "e-1"))
        .unwrap()
        .create("Users", "b", &user("bob", "e-2"))
        .unwrap()
        .build();
    let resp = client.bulk(&request).await.unwrap();
    assert_eq!(resp.operations.len(), 2, "{resp:?}");
    let users = all_users(&client).await;
    assert_eq!(users.len(), 2);

    // `POST /Users/delete` is this project's extension; elsewhere each user gets a PATCH.
    let ids: Vec<String> = users.values().map(|u| u.id.clone().unwrap()).collect();
    let done = client.deactivate_users(&ids).await.unwrap();
    assert_eq!(done.len(), 2);
    for u in all_users(&client).await.values() {
        assert_eq!(u.active, Some(false), "{u:?}");
    }
}

#[tokio::test]
async fn reference_without_bulk_sort_or_filter_says_so() {
    let config = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": false, "maxResults": 0},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
    });
    let Some(r) = reference_with(Some(config)) else { return };
    let client = r.client();
    let e = client.bulk(&BulkBuilder::new().build()).await.unwrap_err();
    assert!(matches!(&e, Error::Unsupported(m) if m.contains("bulk")), "{e}");
    let sorted = Query::new().sort_by("userName", SortOrder::Ascending);
    let e = client.users().list(sorted).try_collect::<Vec<_>>().await.unwrap_err();
    assert!(matches!(&e, Error::Unsupported(m) if m.contains("sort")), "{e}");

    let r2 = scim(&r, &["users", "list", "--filter", "userName eq \"x\""]).await;
    assert_eq!(r2.status, Status::Server, "{}{}", r2.out, r2.err);
    assert!(r2.err.contains("not supported by the server: filtering"), "{}", r2.err);
}

const CSV: &str =
    "externalId,userName,name.givenName,name.familyName,emails[type eq \"work\"].value,active,\
urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department
e-1,ada,Ada,Lovelace,ada@example.com,true,Engineering
e-2,bob,Bob,Babbage,bob@example.com,true,Engineering
e-3,carol,Carol,Shaw,carol@example.com,false,Sales
";

#[tokio::test]
async fn reference_cli_import_export_list_search_patch() {
    let Some(r) = reference() else { return };
    let client = r.client();
    let file = r.dir.join("users.csv");
    std::fs::write(&file, CSV).unwrap();
    let o = scim(&r, &["import", file.to_str().unwrap(), "-j", "4"]).await;
    assert_eq!(o.status, Status::Ok, "{}{}\n{}", o.out, o.err, r.log());
    assert!(o.out.contains("created 3, updated 0, unchanged 0, failed 0"), "{}", o.out);
    // Again: each 409 is found by externalId and is unchanged; a change is one PATCH.
    std::fs::write(&file, CSV.replace("Lovelace", "King")).unwrap();
    let o = scim(&r, &["--json", "import", file.to_str().unwrap()]).await;
    let v: Value = serde_json::from_str(o.out.trim()).unwrap();
    assert_eq!((v["updated"].as_u64(), v["unchanged"].as_u64()), (Some(1), Some(2)), "{v}");
    let users = all_users(&client).await;
    assert_eq!(users["ada"].name.as_ref().unwrap().family_name.as_deref(), Some("King"));
    assert_eq!(users["ada"].enterprise().unwrap().department.as_deref(), Some("Engineering"));
    assert_eq!(users["carol"].active, Some(false));

    let o = scim(&r, &["--json", "users", "list", "--sort-by", "userName"]).await;
    assert_eq!(o.status, Status::Ok, "{}", o.err);
    let names: Vec<String> = o
        .out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["userName"].as_str().unwrap().into())
        .collect();
    assert_eq!(names, ["ada", "bob", "carol"]);

    let o = scim(&r, &["--json", "search", "userName sw \"b\"", "--attributes", "userName"]).await;
    assert_eq!(o.status, Status::Ok, "{}", o.err);
    assert!(o.out.contains("\"bob\"") && !o.out.contains("\"ada\""), "{}", o.out);

    let id = users["bob"].id.clone().unwrap();
    let o =
        scim(&r, &["users", "patch", &id, "--set", "title=Engineer", "--remove", "nickName"]).await;
    assert_eq!(o.status, Status::Ok, "{}{}", o.out, o.err);
    let bob = client.users().get(&id).await.unwrap().resource;
    assert_eq!(bob.extra.get("title"), Some(&json!("Engineer")));

    // Export as JSON Lines and as CSV; the CSV imports back unchanged (with `active`: a
    // user the file lists without it is reactivated).
    let jsonl = r.dir.join("all.jsonl");
    let o = scim(&r, &["export", "-o", jsonl.to_str().unwrap()]).await;
    assert_eq!(o.status, Status::Ok, "{}", o.err);
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 3);
    let csv = r.dir.join("all.csv");
    let o = scim(
        &r,
        &[
            "export",
            "--format",
            "csv",
            "-o",
            csv.to_str().unwrap(),
            "--columns",
            "externalId,userName,name.familyName,emails[type eq \"work\"].value,active",
        ],
    )
    .await;
    assert_eq!(o.status, Status::Ok, "{}", o.err);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains("e-1,ada,King,ada@example.com,true"), "{text}");
    let o = scim(&r, &["--json", "import", csv.to_str().unwrap()]).await;
    let v: Value = serde_json::from_str(o.out.trim()).unwrap();
    assert_eq!(v["unchanged"], 3, "{v} {}", o.err);

    // A cursor-less server: the CLI's listing still pages (by index).
    let o = scim(&r, &["users", "list", "--limit", "2"]).await;
    assert_eq!(o.status, Status::Ok, "{}", o.err);
}

#[tokio::test]
async fn reference_cli_sync_and_groups_sync() {
    let Some(r) = reference() else { return };
    let client = r.client();
    for (n, x) in [("ada", "e-1"), ("bob", "e-2"), ("dave", "e-4")] {
        client.users().create(&user(n, x)).await.unwrap();
    }
    let file = r.dir.join("people.csv");
    std::fs::write(&file, CSV).unwrap();
    let o = scim(&r, &["sync", file.to_str().unwrap(), "--deactivate-missing", "--dry-run"]).await;
    assert_eq!(o.status, Status::Ok, "{}{}", o.out, o.err);
    assert!(o.out.contains("plan: create 1, update 2, deactivate 1, unchanged 0"), "{}", o.out);
    let o = scim(&r, &["sync", file.to_str().unwrap(), "--deactivate-missing"]).await;
    assert_eq!(o.status, Status::Ok, "{}{}\n{}", o.out, o.err, r.log());
    let users = all_users(&client).await;
    assert_eq!(users["dave"].active, Some(false));
    assert_eq!(users["carol"].active, Some(false));
    assert_eq!(users["ada"].name.as_ref().unwrap().family_name.as_deref(), Some("Lovelace"));
    let o = scim(&r, &["sync", file.to_str().unwrap(), "--dry-run"]).await;
    assert!(o.out.contains("plan: create 0, update 0, deactivate 0, unchanged 3"), "{}", o.out);

    let groups = r.dir.join("groups.csv");
    std::fs::write(&groups, "group,member\nstaff,ada\nstaff,bob\n").unwrap();
    let o = scim(&r, &["groups", "sync", groups.to_str().unwrap()]).await;
    assert_eq!(o.status, Status::Ok, "{}{}\n{}", o.out, o.err, r.log());
    std::fs::write(&groups, "group,member\nstaff,ada\nstaff,carol\n").unwrap();
    let o = scim(&r, &["groups", "sync", groups.to_str().unwrap()]).await;
    assert_eq!(o.status, Status::Ok, "{}{}\n{}", o.out, o.err, r.log());
    let all: Vec<Group> = client.groups().list(Query::new()).try_collect().await.unwrap();
    let staff = all.iter().find(|g| g.display_name == "staff").unwrap();
    let mut members: Vec<&str> = staff.members.iter().map(|m| m.value.as_str()).collect();
    members.sort_unstable();
    let mut want = vec![users["ada"].id.as_deref().unwrap(), users["carol"].id.as_deref().unwrap()];
    want.sort_unstable();
    assert_eq!(members, want);
}
