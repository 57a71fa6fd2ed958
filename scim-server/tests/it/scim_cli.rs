//! The `scim` command-line tool (scim-client's `cli` feature) against this server over
//! real HTTP: each command runs in-process through `scim_client::cli::run`, with its
//! output captured, against the router served on 127.0.0.1.

use crate::client::live;
use futures::TryStreamExt;
use scim_client::cli::{Io, Status, run};
use scim_client::{Client, Query};
use scim_core::resource::User;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A fresh directory for a test's files.
fn dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "scim-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Out {
    status: Status,
    out: String,
    err: String,
}

/// Runs `scim ARGS` in-process.
async fn scim(args: &[&str]) -> Out {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let status = {
        let mut io = Io { out: &mut out, err: &mut err, terminal: false };
        run(std::iter::once("scim").chain(args.iter().copied()), &mut io).await
    };
    Out { status, out: String::from_utf8(out).unwrap(), err: String::from_utf8(err).unwrap() }
}

/// `scim --url URL --token TOKEN ARGS`.
async fn scim_at(base: &str, token: &str, args: &[&str]) -> Out {
    let mut all = vec!["--url", base, "--token", token];
    all.extend_from_slice(args);
    scim(&all).await
}

async fn users_by_name(client: &Client) -> BTreeMap<String, User> {
    let all: Vec<User> = client.users().list(Query::new()).try_collect().await.unwrap();
    all.into_iter().map(|u| (u.user_name.clone(), u)).collect()
}

fn version(u: &User) -> String {
    u.meta.as_ref().and_then(|m| m.version.clone()).unwrap()
}

const CSV: &str = "userName,name.givenName,name.familyName,emails[type eq \"work\"].value,active,\
urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department
ada,Ada,Lovelace,ada@example.com,true,Engineering
bob,Bob,Babbage,bob@example.com,maybe,Engineering
carol,Carol,Shaw,carol@example.com,false,Sales
";

#[tokio::test]
async fn scim_cli_import_csv_reports_bad_rows_and_writes_a_reimportable_failures_file() {
    let (_app, origin, client) = live().await;
    let base = format!("{origin}/scim/v2");
    let token = &_app.token;
    let d = dir();
    let file = d.join("users.csv");
    std::fs::write(&file, CSV).unwrap();
    let r = scim_at(&base, token, &["import", file.to_str().unwrap(), "-j", "4"]).await;
    assert_eq!(r.status, Status::ItemsFailed, "{}{}", r.out, r.err);
    assert!(r.err.contains("line 3: column 5 (active): expected true or false"), "{}", r.err);
    assert!(r.out.contains("created 2, updated 0, unchanged 0, failed 1"), "{}", r.out);
    let failed = d.join("users.failed.csv");
    let text = std::fs::read_to_string(&failed).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with("userName,") && text.contains("bob,Bob"), "{text}");

    let users = users_by_name(&client).await;
    let ada = &users["ada"];
    assert_eq!(ada.name.as_ref().unwrap().given_name.as_deref(), Some("Ada"));
    assert_eq!(ada.emails[0].value.as_deref(), Some("ada@example.com"));
    assert_eq!(ada.enterprise().unwrap().department.as_deref(), Some("Engineering"));
    assert_eq!(users["carol"].active, Some(false));

    // Fixed, the failures file imports; the whole file again changes nothing.
    std::fs::write(&failed, text.replace("maybe", "true")).unwrap();
    let r = scim_at(&base, token, &["--json", "import", failed.to_str().unwrap()]).await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    let v: Value = serde_json::from_str(r.out.trim()).unwrap();
    assert_eq!((v["created"].as_u64(), v["failed"].as_u64()), (Some(1), Some(0)), "{v}");
    std::fs::write(&file, CSV.replace("maybe", "true")).unwrap();
    let r = scim_at(&base, token, &["--json", "import", file.to_str().unwrap()]).await;
    let v: Value = serde_json::from_str(r.out.trim()).unwrap();
    assert_eq!(v["unchanged"], 3, "{v} {}", r.err);
    // A changed file updates only the changed user.
    std::fs::write(&file, CSV.replace("maybe", "true").replace("Lovelace", "King")).unwrap();
    let r = scim_at(&base, token, &["--json", "import", file.to_str().unwrap()]).await;
    let v: Value = serde_json::from_str(r.out.trim()).unwrap();
    assert_eq!((v["updated"].as_u64(), v["unchanged"].as_u64()), (Some(1), Some(2)), "{v}");

    // A header that is not an attribute path is a usage error naming the column.
    std::fs::write(&file, "userName,emails[type co \"w\"].value\nx,y\n").unwrap();
    let r = scim_at(&base, token, &["import", file.to_str().unwrap()]).await;
    assert_eq!(r.status, Status::Usage);
    assert!(r.err.contains("line 1, column 2"), "{}", r.err);
}

#[tokio::test]
async fn scim_cli_import_jsonl_then_export_jsonl_and_csv_round_trip() {
    let (app, origin, _client) = live().await;
    let base = format!("{origin}/scim/v2");
    let d = dir();
    let file = d.join("users.jsonl");
    let mut lines = String::new();
    for i in 0..25 {
        let u = serde_json::json!({
            "userName": format!("user{i:02}"),
            "externalId": format!("ext-{i}"),
            "name": {"givenName": format!("Given{i}"), "familyName": "Family"},
            "emails": [{"value": format!("user{i}@example.com"), "type": "work"}],
            "active": true,
            ENT: {"department": "R&D"},
        });
        lines.push_str(&format!("{u}\n"));
    }
    lines.push_str("{not json\n");
    std::fs::write(&file, &lines).unwrap();
    let r = scim_at(&base, &app.token, &["import", file.to_str().unwrap()]).await;
    assert_eq!(r.status, Status::ItemsFailed, "{}", r.err);
    assert!(r.out.contains("created 25,"), "{}", r.out);
    assert!(r.err.contains("line 26: column 2"), "{}", r.err);
    assert_eq!(std::fs::read_to_string(d.join("users.failed.jsonl")).unwrap(), "{not json\n");

    // Export as JSON Lines (to a file) and CSV (to standard output).
    let jsonl = d.join("export.jsonl");
    let r = scim_at(&base, &app.token, &["export", "-o", jsonl.to_str().unwrap()]).await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    assert!(r.err.contains("exported 25 users"), "{}", r.err);
    let exported: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), 25);
    assert!(exported.iter().all(|u| u[ENT]["department"] == "R&D"));
    let r = scim_at(&base, &app.token, &["export", "--format", "csv"]).await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    let csv_text = r.out;
    assert_eq!(csv_text.lines().count(), 26);
    assert!(csv_text.starts_with(&format!(
        "id,externalId,userName,name.givenName,name.familyName,displayName,active,\
         \"emails[type eq \"\"work\"\"].value\",{ENT}:department\n"
    )));

    // Both import into an empty server and export the same again.
    for (name, text) in
        [("again.jsonl", std::fs::read_to_string(&jsonl).unwrap()), ("again.csv", csv_text)]
    {
        let (app2, origin2, _) = live().await;
        let base2 = format!("{origin2}/scim/v2");
        let path = d.join(name);
        std::fs::write(&path, text).unwrap();
        let r = scim_at(&base2, &app2.token, &["import", path.to_str().unwrap()]).await;
        assert_eq!(r.status, Status::Ok, "{name}: {}{}", r.out, r.err);
        assert!(r.out.contains("created 25,"), "{}", r.out);
        let r = scim_at(&base2, &app2.token, &["export", "--format", "jsonl"]).await;
        let strip = |v: &Value| {
            let mut v = v.clone();
            for k in ["id", "meta"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        };
        let again: BTreeMap<String, Value> = r
            .out
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| (v["userName"].as_str().unwrap().to_owned(), strip(&v)))
            .collect();
        for u in &exported {
            assert_eq!(again[u["userName"].as_str().unwrap()], strip(u), "{name}");
        }
    }
}

#[tokio::test]
async fn scim_cli_sync_dry_run_then_apply_only_changes_then_deactivate_missing() {
    let (app, origin, client) = live().await;
    let base = format!("{origin}/scim/v2");
    let d = dir();
    let file = d.join("people.csv");
    let header = "externalId,userName,name.givenName,emails[type eq \"work\"].value\n";
    std::fs::write(
        &file,
        format!("{header}e1,ada,Ada,ada@example.com\ne2,bob,Bob,bob@example.com\ne3,dave,Dave,dave@example.com\n"),
    )
    .unwrap();
    let r = scim_at(&base, &app.token, &["sync", file.to_str().unwrap()]).await;
    assert_eq!(r.status, Status::Ok, "{}{}", r.out, r.err);
    assert!(r.out.contains("plan: create 3, update 0, deactivate 0, unchanged 0"), "{}", r.out);
    let before = users_by_name(&client).await;

    // Ada renamed (matched by externalId), Ada's e-mail changed, Carol new, Dave gone.
    std::fs::write(
        &file,
        format!("{header}e1,ada,Augusta,augusta@example.com\ne2,bob,Bob,bob@example.com\ne4,carol,Carol,carol@example.com\n"),
    )
    .unwrap();
    let r = scim_at(
        &base,
        &app.token,
        &["sync", file.to_str().unwrap(), "--dry-run", "--deactivate-missing"],
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    assert!(r.out.contains("plan: create 1, update 1, deactivate 1, unchanged 1"), "{}", r.out);
    assert!(r.out.contains("update      ada  name.givenName, emails"), "{}", r.out);
    assert!(r.out.contains("create      carol") && r.out.contains("deactivate  dave"), "{}", r.out);
    assert!(r.out.contains("dry run: nothing was changed"));
    let after_dry = users_by_name(&client).await;
    assert_eq!(after_dry.len(), 3);
    for (name, u) in &before {
        assert_eq!(version(u), version(&after_dry[name]), "{name} changed by a dry run");
    }

    // Without --deactivate-missing: Dave is left alone, only Ada is PATCHed.
    let r = scim_at(&base, &app.token, &["--json", "sync", file.to_str().unwrap()]).await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    let mut lines = r.out.lines().map(|l| serde_json::from_str::<Value>(l).unwrap());
    let plan = lines.next().unwrap();
    assert_eq!(
        (plan["update"].as_u64(), plan["not_in_file"].as_u64()),
        (Some(1), Some(1)),
        "{plan}"
    );
    let ops = &plan["plan"].as_array().unwrap().iter().find(|s| s["action"] == "update").unwrap()["operations"];
    assert_eq!(ops.as_array().unwrap().len(), 2, "{ops}");
    let result = lines.next().unwrap();
    assert_eq!(
        (result["result"]["created"].as_u64(), result["result"]["updated"].as_u64()),
        (Some(1), Some(1))
    );
    let after = users_by_name(&client).await;
    assert_ne!(version(&after["ada"]), version(&before["ada"]));
    assert_eq!(after["ada"].name.as_ref().unwrap().given_name.as_deref(), Some("Augusta"));
    assert_eq!(after["ada"].emails[0].value.as_deref(), Some("augusta@example.com"));
    assert_eq!(version(&after["bob"]), version(&before["bob"]), "bob is unchanged");
    assert_eq!(version(&after["dave"]), version(&before["dave"]));
    assert!(after.contains_key("carol"));

    // With it, Dave is deactivated (not deleted) and nothing else changes.
    let r =
        scim_at(&base, &app.token, &["sync", file.to_str().unwrap(), "--deactivate-missing"]).await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    assert!(
        r.out.contains("created 0, updated 0, deactivated 1, unchanged 3, failed 0"),
        "{}",
        r.out
    );
    let last = users_by_name(&client).await;
    assert_eq!(last["dave"].active, Some(false));
    for name in ["ada", "bob", "carol"] {
        assert_eq!(version(&last[name]), version(&after[name]), "{name}");
    }
    // Back in the file, Dave is reactivated.
    std::fs::write(&file, format!("{header}e3,dave,Dave,dave@example.com\n")).unwrap();
    let r = scim_at(&base, &app.token, &["sync", file.to_str().unwrap()]).await;
    assert!(r.out.contains("update      dave  active"), "{}", r.out);
    assert_eq!(users_by_name(&client).await["dave"].active, Some(true));

    // An unreadable row stops a sync that would deactivate.
    std::fs::write(&file, "userName,active\nada,perhaps\n").unwrap();
    let r =
        scim_at(&base, &app.token, &["sync", file.to_str().unwrap(), "--deactivate-missing"]).await;
    assert_eq!(r.status, Status::Usage);
    assert!(
        r.err.contains("line 2: column 2 (active)") && r.err.contains("nothing was changed"),
        "{}",
        r.err
    );
}

#[tokio::test]
async fn scim_cli_groups_sync_adds_and_removes_members() {
    let (app, origin, client) = live().await;
    let base = format!("{origin}/scim/v2");
    let d = dir();
    for n in ["ada", "bob", "carol"] {
        client.users().create(&crate::client::user(n)).await.unwrap();
    }
    let file = d.join("members.csv");
    std::fs::write(&file, "group,member\nEngineering,ada\nEngineering,bob\nSales,carol\n").unwrap();
    let r = scim_at(&base, &app.token, &["groups", "sync", file.to_str().unwrap()]).await;
    assert_eq!(r.status, Status::Ok, "{}{}", r.out, r.err);
    assert!(r.out.contains("groups created 2, updated 0"), "{}", r.out);

    let ids: BTreeMap<String, String> =
        users_by_name(&client).await.into_iter().map(|(n, u)| (n, u.id.unwrap())).collect();
    std::fs::write(
        &file,
        format!(
            "group,member\nEngineering,bob\nEngineering,{}\nSales,carol\nSales,nobody\n",
            ids["carol"]
        ),
    )
    .unwrap();
    let r =
        scim_at(&base, &app.token, &["groups", "sync", file.to_str().unwrap(), "--dry-run"]).await;
    assert_eq!(r.status, Status::ItemsFailed, "an unknown member");
    assert!(r.out.contains("update  Engineering  +1 -1"), "{}", r.out);
    assert!(r.err.contains("line 5: no user or group 'nobody'"), "{}", r.err);
    let r = scim_at(&base, &app.token, &["groups", "sync", file.to_str().unwrap()]).await;
    assert!(r.out.contains("groups created 0, updated 1, unchanged 1, failed 1"), "{}", r.out);
    let groups: Vec<scim_core::resource::Group> =
        client.groups().list(Query::new()).try_collect().await.unwrap();
    let eng = groups.iter().find(|g| g.display_name == "Engineering").unwrap();
    let members: std::collections::BTreeSet<&str> =
        eng.members.iter().map(|m| m.value.as_str()).collect();
    assert_eq!(members, [ids["bob"].as_str(), ids["carol"].as_str()].into_iter().collect());
}

#[tokio::test]
async fn scim_cli_profiles_json_output_errors_and_exit_codes() {
    let (app, origin, client) = live().await;
    let base = format!("{origin}/scim/v2");
    let d = dir();
    let config = d.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default_profile = \"local\"\n\n[profiles.local]\nurl = \"{base}\"\ntoken = \"{}\"\n\n\
             [profiles.wrong]\nurl = \"{base}\"\ntoken = \"not-a-token\"\n",
            app.token
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let ada = client.users().create(&crate::client::user("ada")).await.unwrap().resource;
    let id = ada.id.unwrap();

    // The default profile, a table; --json, one object per line.
    let r = scim(&["--config", cfg, "users", "list"]).await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    assert!(r.out.starts_with("ID") && r.out.contains("ada@example.com"), "{}", r.out);
    let r = scim(&["--config", cfg, "--profile", "local", "users", "get", &id, "--json"]).await;
    let v: Value = serde_json::from_str(r.out.trim()).unwrap();
    assert_eq!(v["userName"], "ada");
    let r =
        scim(&["--config", cfg, "users", "patch", &id, "--set", "displayName=Ada L.", "--json"])
            .await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    assert_eq!(serde_json::from_str::<Value>(r.out.trim()).unwrap()["displayName"], "Ada L.");
    let r = scim(&["--config", cfg, "search", "userName sw \"a\"", "--json"]).await;
    assert_eq!(serde_json::from_str::<Value>(r.out.trim()).unwrap()["totalResults"], 1);

    // Usage and configuration errors: 2.
    let r = scim(&["--config", cfg, "--profile", "nope", "users", "list"]).await;
    assert_eq!(r.status, Status::Usage);
    assert!(r.err.contains("no profile 'nope'"), "{}", r.err);
    let r = scim(&["--config", cfg, "users", "list", "--filter", "userName eq"]).await;
    assert_eq!(r.status, Status::Usage, "{}", r.err);
    let r = scim(&["--config", cfg, "users", "frobnicate"]).await;
    assert_eq!(r.status, Status::Usage);

    // Server errors: 3, with status, scimType, detail and code.
    let r = scim(&["--config", cfg, "users", "get", "US00000000000000000000000000000000"]).await;
    assert_eq!(r.status, Status::Server);
    assert!(r.err.contains("answered 404") && r.err.contains("code: 20404"), "{}", r.err);
    let r = scim(&["--config", cfg, "--profile", "wrong", "--json", "users", "list"]).await;
    assert_eq!(r.status, Status::Server);
    let e: Value = serde_json::from_str(r.err.trim()).unwrap();
    assert_eq!((e["status"].as_u64(), e["exit"].as_u64()), (Some(401), Some(3)), "{e}");
    let r =
        scim(&["--config", cfg, "users", "create", d.join("missing.json").to_str().unwrap()]).await;
    assert_eq!(r.status, Status::Usage);
    let dup = d.join("dup.json");
    std::fs::write(
        &dup,
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada"}"#,
    )
    .unwrap();
    let r = scim(&["--config", cfg, "users", "create", dup.to_str().unwrap()]).await;
    assert_eq!(r.status, Status::Server);
    assert!(r.err.contains("scimType: uniqueness") && r.err.contains("code: 20409"), "{}", r.err);

    let r = scim(&["--config", cfg, "users", "delete", &id]).await;
    assert_eq!((r.status, r.out.trim()), (Status::Ok, format!("deleted {id}").as_str()));
}

#[tokio::test]
async fn scim_cli_token_fetches_a_client_credentials_token() {
    let (app, origin, _client) = live().await;
    let c = scim_server::admin::create_client(
        app.store.as_ref(),
        vec![app.org],
        vec![scim_store::Scope::Read, scim_store::Scope::Write],
    )
    .await
    .unwrap();
    let base = format!("{origin}/scim/v2");
    let creds =
        ["--url", base.as_str(), "--client-id", &c.client_id, "--client-secret", &c.client_secret];
    let mut args = creds.to_vec();
    args.push("token");
    let r = scim(&args).await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    let token = r.out.trim().to_owned();
    assert!(!token.is_empty());
    // The token works as a bearer token, and so do the client credentials themselves.
    let r = scim_at(&base, &token, &["users", "list", "--json"]).await;
    assert_eq!(r.status, Status::Ok, "{}", r.err);
    let mut args = creds.to_vec();
    args.extend(["users", "list"]);
    assert_eq!(scim(&args).await.status, Status::Ok);
    let bad =
        ["--url", base.as_str(), "--client-id", &c.client_id, "--client-secret", "wrong", "token"];
    assert_eq!(scim(&bad).await.status, Status::Server);
}

/// A server extension the built-in schemas do not know: its CSV columns are typed by the
/// schema the server serves (`/Schemas`), so a number column is sent as a JSON number.
#[tokio::test]
async fn scim_cli_import_csv_types_the_servers_own_extension_attributes() {
    const ACME: &str = "urn:acme:scim:schemas:1.0:UserExtension";
    let schema = serde_json::json!({
        "id": ACME,
        "name": "AcmeUser",
        "attributes": [
            {"name": "badge", "type": "integer", "multiValued": false, "required": false},
            {"name": "ssoEnabled", "type": "boolean", "multiValued": false, "required": false}
        ]
    });
    let mut registry = scim_core::schema::Registry::builtin();
    registry.add_extension_json(&schema.to_string()).unwrap();
    let config = scim_server::Config {
        docs_base: Some("https://docs.test".into()),
        ..scim_server::Config::default()
    };
    let app = crate::support::app_from(config, registry).await;
    let origin = crate::client::serve(app.router.clone()).await;
    let base = format!("{origin}/scim/v2");
    let d = dir();
    let file = d.join("acme.csv");
    std::fs::write(&file, format!("userName,{ACME}:badge,{ACME}:ssoEnabled\nada,42,true\n"))
        .unwrap();
    let out = scim_at(&base, &app.token, &["import", file.to_str().unwrap()]).await;
    assert_eq!(out.status, Status::Ok, "{}{}", out.out, out.err);
    let client = Client::builder(&base).bearer(&app.token).build().unwrap();
    let found: Vec<Value> = client
        .resources::<Value>("Users")
        .list(Query::new().filter(scim_client::filter::attr("userName").eq("ada")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0][ACME], serde_json::json!({"badge": 42, "ssoEnabled": true}));
    std::fs::remove_dir_all(d).unwrap();
}
