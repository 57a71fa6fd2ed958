//! Property tests of `scim-client` against this server over real HTTP:
//!
//! - random users and groups go client -> server -> client and come back equal, modulo
//!   what the server assigns (`id`, `meta`, `groups`, and a member's `$ref`/`display`/`type`);
//! - random filters built with `scim_client::filter` select on the server exactly what
//!   `scim-core`'s evaluator (`Filter::matches`) selects on the same documents;
//! - random PATCH requests applied by the server give what `scim_core::patch::apply` gives
//!   locally (the same document, or an error with the same code).
//!
//! One server per test, one tokio runtime driving both ends; 32 cases each.

use crate::client::serve;
use crate::harness::TestApp;
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as PtConfig, TestCaseError, TestRunner};
use scim_client::filter::{Expr, attr, not};
use scim_client::{Client, Query};
use scim_core::filter::CompareOp;
use scim_core::message::{PATCH_OP, PatchOpKind, PatchOperation, PatchRequest};
use scim_core::patch::{self, PatchContext};
use scim_core::resource::{Group, Member, MultiValue, Name, Resource, User};
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind, USER_SCHEMA};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

const CASES: u32 = 32;

static SEQ: AtomicU64 = AtomicU64::new(0);

fn seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn runner() -> TestRunner {
    TestRunner::new(PtConfig { cases: CASES, failure_persistence: None, ..PtConfig::default() })
}

async fn live() -> (TestApp, Client) {
    let app = TestApp::new().await;
    let origin = serve(app.router.clone()).await;
    let client = Client::builder(format!("{origin}/scim/v2")).bearer(&app.token).build().unwrap();
    (app, client)
}

/// Short strings over a small mixed-case alphabet, so that random filters hit data and
/// case-insensitive matching matters.
fn word() -> impl Strategy<Value = String> {
    "[abcABC]{1,4}"
}

/// Free text: any printable Unicode, quotes and backslashes included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[^\\p{C}]{1,12}", "[a-z\"\\\\ ]{1,8}"]
}

fn email_type() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["work", "home", "other"]).prop_map(str::to_owned)
}

fn emails(value: BoxedStrategy<String>) -> impl Strategy<Value = Vec<MultiValue>> {
    prop::collection::vec((value, email_type()), 0..3).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (value, kind))| MultiValue {
                value: Some(format!("{value}{i}@x.io")),
                kind: Some(kind),
                primary: (i == 0).then_some(true),
                ..Default::default()
            })
            .collect()
    })
}

/// A random user; `userName` and `externalId` get a unique suffix.
fn user(s: BoxedStrategy<String>) -> impl Strategy<Value = User> {
    (
        s.clone(),
        prop::option::of(s.clone()),
        prop::option::of((prop::option::of(s.clone()), prop::option::of(s.clone()))),
        prop::option::of(any::<bool>()),
        emails(s.clone()),
        prop::option::of(s.clone()),
        prop::option::of((prop::option::of(s.clone()), prop::option::of(s))),
        any::<bool>(),
    )
        .prop_map(|(name, display, names, active, emails, title, ent, ext_id)| {
            let n = seq();
            let mut extra = Map::new();
            let mut schemas = vec![USER_SCHEMA.to_owned()];
            if let Some(t) = title {
                extra.insert("title".into(), Value::String(t));
            }
            if let Some((num, dept)) = ent.filter(|(a, b)| a.is_some() || b.is_some()) {
                let mut e = Map::new();
                if let Some(v) = num {
                    e.insert("employeeNumber".into(), Value::String(v));
                }
                if let Some(v) = dept {
                    e.insert("department".into(), Value::String(v));
                }
                extra.insert(ENTERPRISE_USER_SCHEMA.into(), Value::Object(e));
                schemas.push(ENTERPRISE_USER_SCHEMA.to_owned());
            }
            User {
                schemas,
                external_id: ext_id.then(|| format!("ext-{n}")),
                user_name: format!("{name}-{n}"),
                name: names.filter(|(g, f)| g.is_some() || f.is_some()).map(|(g, f)| Name {
                    given_name: g,
                    family_name: f,
                    ..Default::default()
                }),
                display_name: display,
                active,
                emails,
                extra,
                ..Default::default()
            }
        })
}

/// The user as sent, and as returned without what the server assigns.
fn comparable(u: &User) -> User {
    User { id: None, meta: None, groups: Vec::new(), ..u.clone() }
}

#[test]
fn client_prop_users_and_groups_round_trip() {
    let rt = runtime();
    let (_app, client) = rt.block_on(live());
    let mut runner = runner();
    let strategy =
        (user(text().boxed()), prop::collection::vec(user(text().boxed()), 0..3), text());
    runner
        .run(&strategy, |(u, members, group_name)| {
            rt.block_on(async {
                let created = client.users().create(&u).await.map_err(fail)?;
                prop_assert_eq!(comparable(&created.resource), comparable(&u));
                let id = created.resource.id.clone().unwrap();
                let got = client.users().get(&id).await.map_err(fail)?;
                prop_assert_eq!(comparable(&got.resource), comparable(&u));

                let mut ids = Vec::new();
                for m in &members {
                    ids.push(client.users().create(m).await.map_err(fail)?.resource.id.unwrap());
                }
                let g = Group {
                    schemas: vec![scim_core::schema::GROUP_SCHEMA.to_owned()],
                    display_name: format!("{group_name}-{}", seq()),
                    external_id: Some(format!("gext-{}", seq())),
                    members: ids
                        .iter()
                        .map(|id| Member { value: id.clone(), ..Default::default() })
                        .collect(),
                    ..Default::default()
                };
                let back = client.groups().create(&g).await.map_err(fail)?.resource;
                let back = client.groups().get(back.id.as_deref().unwrap()).await.map_err(fail)?;
                let back = back.resource;
                prop_assert_eq!(&back.display_name, &g.display_name);
                prop_assert_eq!(&back.external_id, &g.external_id);
                prop_assert_eq!(&back.schemas, &g.schemas);
                let want: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
                let have: BTreeSet<&str> = back.members.iter().map(|m| m.value.as_str()).collect();
                prop_assert_eq!(have, want);
                Ok(())
            })
        })
        .unwrap();
}

fn fail(e: scim_client::Error) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Paths the filter generator compares, with a strategy for their values.
fn compare_leaf() -> impl Strategy<Value = Expr> {
    let string_path = prop::sample::select(vec![
        "userName",
        "displayName",
        "name.givenName",
        "name.familyName",
        "title",
        "emails",
        "emails.value",
        "emails.type",
        "externalId",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    ]);
    let op = prop::sample::select(CompareOp::ALL.to_vec());
    prop_oneof![
        4 => (string_path.clone(), op, word()).prop_map(|(p, o, v)| attr(p).compare(o, v)),
        1 => (prop::sample::select(vec![CompareOp::Eq, CompareOp::Ne]), any::<bool>())
            .prop_map(|(o, v)| attr("active").compare(o, v)),
        1 => string_path.prop_map(|p| attr(p).pr()),
        1 => prop::sample::select(vec!["active", "name", "emails", "nickName"])
            .prop_map(|p| attr(p).pr()),
        1 => (email_type(), prop::sample::select(vec![CompareOp::Sw, CompareOp::Co, CompareOp::Eq]), word())
            .prop_map(|(t, o, v)| {
                attr("emails").has(attr("type").eq(t).and(attr("value").compare(o, v)))
            }),
    ]
}

fn filter_expr() -> impl Strategy<Value = Expr> {
    compare_leaf().prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            inner.prop_map(not),
        ]
    })
}

#[test]
fn client_prop_filters_select_what_the_core_evaluator_selects() {
    let rt = runtime();
    let (_app, client) = rt.block_on(live());
    let registry = Registry::builtin();
    // One population for every case: 16 users over a small alphabet.
    let mut setup = TestRunner::deterministic();
    let users: Vec<User> =
        (0..16).map(|_| user(word().boxed()).new_tree(&mut setup).unwrap().current()).collect();
    let docs: Vec<Value> = rt.block_on(async {
        for u in &users {
            client.users().create(u).await.unwrap();
        }
        let all: Vec<Resource> =
            client.resources::<Resource>("Users").list(Query::new()).try_collect().await.unwrap();
        all.into_iter().map(Resource::into_value).collect()
    });
    assert_eq!(docs.len(), 16);
    let mut runner = runner();
    let selective = std::cell::Cell::new(0u32);
    runner
        .run(&filter_expr(), |e| {
            let f = e.clone().build().unwrap();
            let want: BTreeSet<String> = docs
                .iter()
                .filter(|d| f.matches(d, &registry, ResourceKind::User))
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect();
            let have: BTreeSet<String> = rt.block_on(async {
                let q = Query::new().filter(e).attributes(["id"]);
                let found: Vec<Resource> = client
                    .resources::<Resource>("Users")
                    .list(q)
                    .try_collect()
                    .await
                    .map_err(fail)?;
                Ok::<_, TestCaseError>(found.iter().map(|r| r.id().unwrap().to_owned()).collect())
            })?;
            if !want.is_empty() && want.len() < docs.len() {
                selective.set(selective.get() + 1);
            }
            prop_assert_eq!(have, want, "filter: {}", f);
            Ok(())
        })
        .unwrap();
    // The generator is useful: many filters select some users but not all.
    assert!(selective.get() >= CASES / 4, "only {} selective filters", selective.get());
}

fn patch_op() -> impl Strategy<Value = PatchOperation> {
    let kind =
        prop::sample::select(vec![PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove]);
    let s = |p: &'static str| Just(Some(p.to_owned()));
    let string = || word().prop_map(Value::String);
    let emails = (word(), email_type())
        .prop_map(|(v, t)| json!([{"value": format!("{v}@y.io"), "type": t}]));
    // Mostly a value of the path's type; sometimes anything (the error must agree too).
    let typed = prop_oneof![
        (
            prop_oneof![
                s("displayName"),
                s("title"),
                s("nickName"),
                s("name.givenName"),
                s("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
            ],
            string()
        ),
        (s("active"), any::<bool>().prop_map(Value::Bool)),
        (s("name"), (word(), word()).prop_map(|(g, f)| json!({"givenName": g, "familyName": f}))),
        (s("emails"), emails),
        (s("emails[type eq \"work\"].value"), word().prop_map(|v| json!(format!("{v}@w.io")))),
        (s("emails[type eq \"home\"]"), word().prop_map(|v| json!({"value": format!("{v}@h.io")}))),
        (
            Just(None),
            (word(), any::<bool>()).prop_map(|(d, a)| json!({"displayName": d, "active": a}))
        ),
    ];
    let anything = (
        prop::sample::select(vec![
            Some("displayName"),
            Some("active"),
            Some("emails"),
            Some("name"),
            None,
        ]),
        prop_oneof![
            string(),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            Just(json!([]))
        ],
    )
        .prop_map(|(p, v)| (p.map(str::to_owned), v));
    (kind, prop_oneof![6 => typed, 1 => anything]).prop_map(|(op, (path, value))| PatchOperation {
        op,
        value: if op == PatchOpKind::Remove { None } else { Some(value) },
        path,
    })
}

/// The document without what changes on every write (`meta`).
fn without_meta(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("meta");
    }
    v
}

#[test]
fn client_prop_patch_matches_the_core_engine() {
    let rt = runtime();
    let (_app, client) = rt.block_on(live());
    let registry = Registry::builtin();
    let users = client.resources::<Resource>("Users");
    let mut runner = runner();
    let outcomes = std::cell::Cell::new((0u32, 0u32));
    let strategy = (user(word().boxed()), prop::collection::vec(patch_op(), 1..4));
    runner
        .run(&strategy, |(u, ops)| {
            rt.block_on(async {
                let created = client.users().create(&u).await.map_err(fail)?;
                let id = created.resource.id.unwrap();
                let before = users.get(&id).await.map_err(fail)?.resource;
                let mut local = before.clone();
                let ctx = PatchContext::new(&registry, ResourceKind::User);
                let expected = patch::apply(&mut local, &ops, &ctx);
                let req =
                    PatchRequest { schemas: vec![PATCH_OP.to_owned()], operations: ops.clone() };
                let served = users.patch(&id, &req, None).await;
                match (expected, served) {
                    (Ok(_), Ok(_)) => {
                        outcomes.set((outcomes.get().0 + 1, outcomes.get().1));
                        let after = users.get(&id).await.map_err(fail)?.resource;
                        prop_assert_eq!(
                            without_meta(after.into_value()),
                            without_meta(local.into_value()),
                            "ops: {}",
                            serde_json::to_string(&ops).unwrap()
                        );
                    }
                    (Err(want), Err(got)) => {
                        outcomes.set((outcomes.get().0, outcomes.get().1 + 1));
                        let code = got.api().and_then(|a| a.code);
                        prop_assert_eq!(
                            code,
                            Some(want.code.code()),
                            "ops: {}: {} vs {}",
                            serde_json::to_string(&ops).unwrap(),
                            want,
                            got
                        );
                    }
                    (want, got) => {
                        prop_assert!(
                            false,
                            "ops {}: core {:?}, server {:?}",
                            serde_json::to_string(&ops).unwrap(),
                            want,
                            got.map(|_| ())
                        );
                    }
                }
                Ok(())
            })
        })
        .unwrap();
    let (ok, err) = outcomes.get();
    assert!(ok >= CASES / 4 && err >= 1, "{ok} successful and {err} failed PATCH requests");
}
