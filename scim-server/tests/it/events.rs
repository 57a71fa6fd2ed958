//! SCIM events end to end: a real receiver (an axum server on 127.0.0.1:0) gets exactly one
//! SET per committed change, in order, verifiable against the JWKS; a receiver that was
//! down gets everything afterwards with duplicates carrying the same `jti`; polling with
//! acknowledgements drains a stream. (A killed server resuming is in `cli.rs`.)

use crate::harness::{Backend, TestApp};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use http::StatusCode;
use scim_core::schema::Registry;
use scim_server::events::manage::{self, NewStream};
use scim_server::events::{push::Pusher, set};
use scim_server::{AppState, Config};
use scim_store::{Delivery, EventForm, SigningAlg};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver got, and whether it is "down" (answers 503).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<String>>>,
    down: Arc<AtomicBool>,
}

async fn receive(State(r): State<Receiver>, headers: http::HeaderMap, body: String) -> StatusCode {
    if r.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    assert_eq!(headers["content-type"], "application/secevent+jwt");
    r.got.lock().unwrap().push(body);
    StatusCode::ACCEPTED
}

/// Starts a receiver; its URL.
async fn receiver(r: &Receiver) -> String {
    let app = Router::new().route("/events", post(receive)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/events")
}

fn start_pusher(app: &TestApp) {
    let state = AppState::new(
        app.store.clone(),
        Arc::new(Registry::builtin()),
        Arc::new(Config { events_pause_after: 0, ..Config::default() }),
    );
    tokio::spawn(Pusher::new(&state).unwrap().run());
}

/// `n` random changes of every kind through the HTTP API; the most changes they can have
/// logged: one each, plus the group's own change when its member is deleted.
async fn random_changes(app: &TestApp, n: usize) -> usize {
    let mut users: Vec<String> = Vec::new();
    let mut group: Option<String> = None;
    let mut member: Option<String> = None;
    let mut most = n;
    let mut rnd = [0u8; 64];
    getrandom::fill(&mut rnd).unwrap();
    for i in 0..n {
        let pick = rnd[i % rnd.len()] % 5;
        match (pick, users.last().cloned()) {
            (1, Some(u)) => {
                app.patch(
                    &format!("/Users/{u}"),
                    json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations":[{"op":"replace","path":"active","value":false}]}),
                )
                .await
                .expect(200);
            }
            (2, Some(u)) => {
                app.put(
                    &format!("/Users/{u}"),
                    json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
                           "userName": format!("put{i}@x.io"), "externalId": format!("x{i}")}),
                )
                .await
                .expect(200);
            }
            (3, Some(u)) if users.len() > 1 => {
                app.delete(&format!("/Users/{u}")).await.expect(204);
                if member.as_ref() == Some(&u) {
                    most += 1;
                }
                users.pop();
            }
            (4, Some(u)) if group.is_none() => {
                group = Some(app.group(&format!("g{i}"), &[u.as_str()]).await);
                member = Some(u);
            }
            _ => users.push(app.user(&format!("u{i}@x.io")).await),
        }
    }
    most
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn jwks(app: &TestApp) -> Value {
    let r = app.call_root("GET", "/events/jwks.json").token(None).send().await;
    assert_eq!(r.status, 200);
    r.body
}

fn claims_of(sets: &[String], jwks: &Value) -> Vec<Value> {
    sets.iter()
        .map(|s| set::verify_es256(s, jwks).unwrap_or_else(|| panic!("SET does not verify: {s}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn n_random_changes_push_exactly_n_signed_events_in_order() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if !backend.enabled() {
            continue;
        }
        let app = TestApp::on(backend, &[]).await;
        let r = Receiver::default();
        let url = receiver(&r).await;
        let stream = manage::create_stream(
            app.store.as_ref(),
            NewStream {
                org: app.org,
                delivery: Delivery::Push,
                url: Some(url),
                events: vec![],
                form: EventForm::Notice,
                alg: SigningAlg::ES256,
            },
        )
        .await
        .unwrap()
        .stream;
        start_pusher(&app);
        let most = random_changes(&app, 40).await;
        let expected: Vec<u64> = app
            .store
            .changes(app.org, stream.cursor, 1000)
            .await
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect();
        // A PATCH that changes nothing (deactivating an inactive user) commits nothing and
        // logs nothing; every other request logs one change (two when it deletes the
        // group's member).
        assert!(
            expected.len() > 40 / 2 && expected.len() <= most,
            "{backend:?} {} of {most}",
            expected.len()
        );
        wait_for("all events", || r.got.lock().unwrap().len() >= expected.len()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = r.got.lock().unwrap().clone();
        assert_eq!(got.len(), expected.len(), "exactly one SET per change ({backend:?})");
        let claims = claims_of(&got, &jwks(&app).await);
        let seqs: Vec<u64> = claims.iter().map(|c| c["scim_seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, expected, "in change-log order ({backend:?})");
        for c in &claims {
            assert_eq!(c["jti"], json!(set::jti(&stream.id, c["scim_seq"].as_u64().unwrap())));
            assert_eq!(c["scim_org"], json!(app.org.to_string()));
            assert!(c["scim_actor"].as_str().unwrap().starts_with("TK"), "{c}");
            assert!(c["txn"].is_string(), "the request id: {c}");
            let (uri, ev) = c["events"].as_object().unwrap().iter().next().unwrap();
            assert!(set::uri::ALL.contains(&uri.as_str()), "{uri}");
            assert!(ev["version"].as_str().unwrap().starts_with("W/\""));
            assert!(c["sub_id"]["uri"].as_str().unwrap().ends_with(ev["id"].as_str().unwrap()));
        }
        let kinds: Vec<&str> = claims
            .iter()
            .map(|c| c["events"].as_object().unwrap().keys().next().unwrap().as_str())
            .collect();
        assert_eq!(kinds[0], set::uri::CREATE_NOTICE);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_down_for_a_while_gets_every_event_afterwards() {
    let metrics = scim_server::ops::prometheus().unwrap();
    let app = TestApp::new().await;
    let r = Receiver::default();
    r.down.store(true, Ordering::SeqCst);
    let url = receiver(&r).await;
    let created = manage::create_stream(
        app.store.as_ref(),
        NewStream {
            org: app.org,
            delivery: Delivery::Push,
            url: Some(url),
            events: vec![],
            form: EventForm::Full,
            alg: SigningAlg::ES256,
        },
    )
    .await
    .unwrap();
    start_pusher(&app);
    let most = random_changes(&app, 25).await;
    // While it is down the stream records failures and delivers nothing.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = app.store.stream(&created.stream.id).await.unwrap().unwrap();
        if s.failures > 0 && s.last_error.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no failure recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(r.got.lock().unwrap().is_empty());
    let expected = app.store.changes(app.org, created.stream.cursor, 1000).await.unwrap();
    // A PATCH that changes nothing logs nothing; deleting the group's member also logs
    // the group's change.
    assert!(expected.len() > 25 / 2 && expected.len() <= most, "{} of {most}", expected.len());
    let listed = manage::list_streams(app.store.as_ref(), Some(app.org)).await.unwrap();
    assert_eq!(listed[0].lag, u64::try_from(expected.len()).unwrap(), "{listed:?}");
    // The backlog gauge tells the same, then drops to 0 once it is delivered.
    let gauge = |n: usize| format!("scim_events_pending{{stream=\"{}\"}} {n}\n", created.stream.id);
    wait_for("the backlog gauge", || metrics.render().contains(&gauge(expected.len()))).await;
    r.down.store(false, Ordering::SeqCst);
    wait_for("the backlog", || {
        let got = r.got.lock().unwrap();
        let jwks_free: std::collections::HashSet<&String> = got.iter().collect();
        jwks_free.len() >= expected.len()
    })
    .await;
    let got = r.got.lock().unwrap().clone();
    let claims = claims_of(&got, &jwks(&app).await);
    let mut seen = std::collections::BTreeMap::new();
    for c in &claims {
        let jti = c["jti"].as_str().unwrap().to_owned();
        // A duplicate is the same event: same jti, same sequence number.
        if let Some(prev) = seen.insert(jti, c["scim_seq"].clone()) {
            assert_eq!(prev, c["scim_seq"]);
        }
    }
    let want: Vec<String> = expected.iter().map(|c| set::jti(&created.stream.id, c.seq)).collect();
    let have: Vec<String> = seen.keys().cloned().collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(have, want_sorted, "none lost");
    // Full events carry the resource when it still exists.
    assert!(
        claims.iter().any(|c| c["events"][set::uri::CREATE_FULL]["data"]["userName"].is_string())
    );
    let s = app.store.stream(&created.stream.id).await.unwrap().unwrap();
    assert_eq!((s.failures, s.cursor), (0, expected.last().unwrap().seq));
    wait_for("the backlog gauge at 0", || metrics.render().contains(&gauge(0))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_with_acknowledgements_drains_the_stream() {
    let app = TestApp::new().await;
    let created = manage::create_stream(
        app.store.as_ref(),
        NewStream {
            org: app.org,
            delivery: Delivery::Poll,
            url: None,
            events: vec![],
            form: EventForm::Notice,
            alg: SigningAlg::HS256,
        },
    )
    .await
    .unwrap();
    let secret = created.secret.clone().unwrap();
    let id = created.stream.id.clone();
    for i in 0..7 {
        app.user(&format!("p{i}@x.io")).await;
    }
    let path = format!("/events/streams/{id}/poll");
    // Without a credential: 401; another organization's credential: 404.
    assert_eq!(app.call_root("POST", &path).token(None).json(json!({})).send().await.status, 401);
    let (_, other) = app.other_org().await;
    let r = app
        .call_root("POST", &path)
        .token(Some(&other))
        .json(json!({"returnImmediately": true}))
        .send()
        .await;
    assert_eq!(r.status, 404);

    let mut acked: Vec<String> = Vec::new();
    let mut all = Vec::new();
    loop {
        let r = app
            .call_root("POST", &path)
            .json(json!({"ack": acked, "maxEvents": 3, "returnImmediately": true}))
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let sets = r.body["sets"].as_object().unwrap().clone();
        assert!(sets.len() <= 3);
        if sets.is_empty() {
            assert_eq!(r.body["moreAvailable"], json!(false));
            break;
        }
        acked = sets.keys().cloned().collect();
        for (jti, token) in &sets {
            let c = set::verify_hs256(token.as_str().unwrap(), &secret).expect("HS256 verifies");
            assert_eq!(&c["jti"], jti);
            all.push(c["scim_seq"].as_u64().unwrap());
        }
    }
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    // Acknowledged: a new poll waits (bounded) and returns nothing.
    let started = Instant::now();
    let r = app.call_root("POST", &path).json(json!({"maxEvents": 5})).send().await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["sets"].as_object().unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_secs(1), "a long poll waits");
    assert!(started.elapsed() < Duration::from_secs(40));
    // Limits: too many acknowledgements is a 400.
    let many: Vec<String> = (0..10_001).map(|i| format!("{id}-{i}")).collect();
    let r = app
        .call_root("POST", &path)
        .json(json!({"ack": many, "returnImmediately": true}))
        .send()
        .await;
    assert_eq!(r.status, 400);
}

/// Polls `stream` once (acknowledging `ack`); the verified claims in order.
async fn poll_claims(app: &TestApp, stream: &str, secret: &str, ack: &[String]) -> Vec<Value> {
    let r = app
        .call_root("POST", &format!("/events/streams/{stream}/poll"))
        .json(json!({"ack": ack, "maxEvents": 100, "returnImmediately": true}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut claims: Vec<Value> = r.body["sets"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| set::verify_hs256(t.as_str().unwrap(), secret).expect("HS256 verifies"))
        .collect();
    claims.sort_by_key(|c| c["scim_seq"].as_u64());
    claims
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_name_the_changed_attributes_and_active_switches() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if !backend.enabled() {
            continue;
        }
        let app = TestApp::on(backend, &[]).await;
        let created = manage::create_stream(
            app.store.as_ref(),
            NewStream {
                org: app.org,
                delivery: Delivery::Poll,
                url: None,
                events: vec![],
                form: EventForm::Notice,
                alg: SigningAlg::HS256,
            },
        )
        .await
        .unwrap();
        let (id, secret) = (created.stream.id.clone(), created.secret.clone().unwrap());
        let user = app
            .post(
                "/Users",
                json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "userName":"n@x.io","externalId":"ext-1","displayName":"N"}),
            )
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let patch = |ops: Value| json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":ops});
        let path = format!("/Users/{user}");
        app.patch(&path, patch(json!([{"op":"replace","path":"displayName","value":"M"}])))
            .await
            .expect(200);
        app.patch(&path, patch(json!([{"op":"replace","path":"active","value":false}])))
            .await
            .expect(200);
        app.patch(&path, patch(json!([{"op":"replace","path":"active","value":true}])))
            .await
            .expect(200);
        let group = app.group("g", &[]).await;
        app.patch(
            &format!("/Groups/{group}"),
            patch(json!([{"op":"add","path":"members","value":[{"value": user}]}])),
        )
        .await
        .expect(200);
        app.delete(&path).await.expect(204);

        let claims = poll_claims(&app, &id, &secret, &[]).await;
        let events: Vec<&serde_json::Map<String, Value>> =
            claims.iter().map(|c| c["events"].as_object().unwrap()).collect();
        assert_eq!(events.len(), 8, "{backend:?}: {claims:#?}");
        let create = &events[0][set::uri::CREATE_NOTICE];
        assert_eq!(create["externalId"], "ext-1");
        let attrs: Vec<&str> =
            create["attributes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(attrs.contains(&"userName") && attrs.contains(&"displayName"), "{attrs:?}");
        assert!(!attrs.contains(&"id") && !attrs.contains(&"meta"), "{attrs:?}");
        // Only what changed, with the externalId, and no extra statement.
        assert_eq!(events[1].len(), 1, "{:?}", events[1]);
        assert_eq!(events[1][set::uri::PATCH_NOTICE]["attributes"], json!(["displayName"]));
        assert_eq!(events[1][set::uri::PATCH_NOTICE]["externalId"], "ext-1");
        // Switching `active` adds the deactivate / activate statement to the same SET.
        assert_eq!(events[2][set::uri::PATCH_NOTICE]["attributes"], json!(["active"]));
        assert_eq!(events[2][set::uri::DEACTIVATE]["id"], json!(user));
        assert!(!events[2].contains_key(set::uri::ACTIVATE));
        assert_eq!(events[3][set::uri::ACTIVATE]["id"], json!(user));
        assert!(!events[3].contains_key(set::uri::DEACTIVATE));
        // The group's creation, then its membership change names `members`.
        assert!(events[4].contains_key(set::uri::CREATE_NOTICE));
        assert_eq!(events[5][set::uri::PATCH_NOTICE]["attributes"], json!(["members"]));
        // Deleting the user takes it out of the group: the group's change names `members`.
        assert_eq!(events[6][set::uri::PATCH_NOTICE]["id"], json!(group));
        assert_eq!(events[6][set::uri::PATCH_NOTICE]["attributes"], json!(["members"]));
        // A delete names no attributes and no externalId.
        let delete = &events[7][set::uri::DELETE];
        assert_eq!(delete["id"], json!(user));
        assert!(delete.get("attributes").is_none() && delete.get("externalId").is_none());

        // A stream of deactivations only gets exactly the one SET, with only that statement.
        let only = manage::create_stream(
            app.store.as_ref(),
            NewStream {
                org: app.org,
                delivery: Delivery::Poll,
                url: None,
                events: vec![set::uri::DEACTIVATE.to_owned()],
                form: EventForm::Notice,
                alg: SigningAlg::HS256,
            },
        )
        .await
        .unwrap();
        // A new stream starts at the end of the log.
        let u2 = app.user("d@x.io").await;
        app.patch(
            &format!("/Users/{u2}"),
            patch(json!([{"op":"replace","path":"active","value":false}])),
        )
        .await
        .expect(200);
        let claims = poll_claims(&app, &only.stream.id, only.secret.as_deref().unwrap(), &[]).await;
        assert_eq!(claims.len(), 1, "{claims:#?}");
        let ev = claims[0]["events"].as_object().unwrap();
        assert_eq!(ev.keys().collect::<Vec<_>>(), vec![set::uri::DEACTIVATE]);
    }
}
