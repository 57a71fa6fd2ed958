//! Wire behaviour against tiny local axum stubs: retries on 503 and 429 honouring
//! `Retry-After`, the `Idempotency-Key` that makes a POST retryable, typed errors for
//! non-SCIM bodies, gzip-compressed request bodies, connection failures.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use scim_client::{Client, Error, RetryPolicy, TransportKind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Serves `router` on 127.0.0.1 on an ephemeral port; the base URL `/scim/v2` below it.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/scim/v2")
}

const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"U1","userName":"ada","meta":{"version":"W/\"1\""}}"#;

fn scim(status: StatusCode, body: &'static str) -> Response {
    (status, [("content-type", "application/scim+json")], body).into_response()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default().base_delay(Duration::from_millis(5))
}

#[derive(Default)]
struct Seen {
    calls: usize,
    keys: Vec<Option<String>>,
}

#[tokio::test]
async fn retries_503_and_429_honouring_retry_after() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let router = Router::new().route(
        "/scim/v2/Users/U1",
        get(move || {
            let s = s.clone();
            async move {
                let n = {
                    let mut s = s.lock().unwrap();
                    s.calls += 1;
                    s.calls
                };
                match n {
                    1 => (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")], "down")
                        .into_response(),
                    2 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down")
                        .into_response(),
                    _ => scim(StatusCode::OK, USER),
                }
            }
        }),
    );
    let base = serve(router).await;
    let client = Client::builder(&base).bearer("t").retry(fast_retries()).build().unwrap();
    let started = Instant::now();
    let u = client.users().get("U1").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for Retry-After: 1");
    assert_eq!(u.resource.user_name, "ada");
    assert_eq!(u.etag.as_deref(), Some("W/\"1\""));
    assert_eq!(seen.lock().unwrap().calls, 3);
}

#[tokio::test]
async fn post_is_retried_with_one_idempotency_key_and_not_without_retries() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let router = Router::new().route(
        "/scim/v2/Users",
        post(move |headers: HeaderMap| {
            let s = s.clone();
            async move {
                let n = {
                    let mut s = s.lock().unwrap();
                    s.calls += 1;
                    let key =
                        headers.get("idempotency-key").map(|v| v.to_str().unwrap().to_owned());
                    s.keys.push(key);
                    s.calls
                };
                if n == 1 || n == 3 {
                    (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")], "busy")
                        .into_response()
                } else {
                    scim(StatusCode::CREATED, USER)
                }
            }
        }),
    );
    let base = serve(router).await;
    let user = scim_core::resource::User { user_name: "ada".into(), ..Default::default() };
    let client = Client::builder(&base).bearer("t").retry(fast_retries()).build().unwrap();
    client.users().create(&user).await.unwrap();
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.calls, 2);
        assert!(s.keys[0].is_some());
        assert_eq!(s.keys[0], s.keys[1], "a retry repeats the key");
    }

    // Retries off: no key, the 503 comes back typed, with the delay the server asked for.
    let client = Client::builder(&base).bearer("t").retry(RetryPolicy::none()).build().unwrap();
    let err = client.users().create(&user).await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.status, 503);
    assert_eq!(api.retry_after, Some(Duration::ZERO));
    assert_eq!(api.detail.as_deref(), Some("busy"));
    assert!(!api.scim_body);
    let s = seen.lock().unwrap();
    assert_eq!(s.calls, 3);
    assert_eq!(s.keys[2], None);
}

#[tokio::test]
async fn retry_after_beyond_the_cap_returns_the_error() {
    let router = Router::new().route(
        "/scim/v2/Users/U1",
        get(|| async {
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "3600")], "maintenance")
                .into_response()
        }),
    );
    let base = serve(router).await;
    let client = Client::builder(&base).retry(fast_retries()).build().unwrap();
    let started = Instant::now();
    let err = client.users().get("U1").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.api().unwrap().retry_after, Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn scim_error_bodies_and_link_codes_are_typed() {
    let router = Router::new().route(
        "/scim/v2/Users",
        post(|| async {
            (
                StatusCode::CONFLICT,
                [
                    ("content-type", "application/scim+json"),
                    ("link", "<https://docs.test/errors#20409>; rel=\"help\""),
                    ("x-request-id", "req-1"),
                ],
                r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName 'ada' is taken"}"#,
            )
        }),
    );
    let base = serve(router).await;
    let client = Client::builder(&base).build().unwrap();
    let user = scim_core::resource::User { user_name: "ada".into(), ..Default::default() };
    let err = client.users().create(&user).await.unwrap_err();
    let Error::Api(api) = &err else { panic!("{err:?}") };
    assert_eq!(api.status, 409);
    assert_eq!(api.scim_type.as_deref(), Some("uniqueness"));
    assert_eq!(api.code, Some(20409));
    assert_eq!(api.error_code(), Some(scim_core::ErrorCode::Uniqueness));
    assert_eq!(api.request_id.as_deref(), Some("req-1"));
    assert_eq!(api.more_info.as_deref(), Some("https://docs.test/errors#20409"));
    assert!(err.to_string().contains("userName 'ada' is taken"), "{err}");
}

#[tokio::test]
async fn large_request_bodies_are_gzipped_when_asked() {
    let seen = Arc::new(Mutex::new(Vec::<(Option<String>, Vec<u8>)>::new()));
    let s = seen.clone();
    let router = Router::new().route(
        "/scim/v2/Users",
        post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                let enc = headers.get("content-encoding").map(|v| v.to_str().unwrap().to_owned());
                s.lock().unwrap().push((enc, body.to_vec()));
                scim(StatusCode::CREATED, USER)
            }
        }),
    );
    let base = serve(router).await;
    let big = scim_core::resource::User {
        user_name: "ada".into(),
        display_name: Some("x".repeat(4000)),
        ..Default::default()
    };
    let small = scim_core::resource::User { user_name: "ada".into(), ..Default::default() };
    let client = Client::builder(&base).gzip_requests(1024).build().unwrap();
    client.users().create(&big).await.unwrap();
    client.users().create(&small).await.unwrap();
    let plain = Client::builder(&base).build().unwrap();
    plain.users().create(&big).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0.as_deref(), Some("gzip"));
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&seen[0].1[..]), &mut out)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["displayName"].as_str().unwrap().len(), 4000);
    assert!(seen[0].1.len() < 1000);
    assert_eq!(seen[1].0, None, "small bodies go as they are");
    assert_eq!(seen[2].0, None, "off by default");
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_after_retries() {
    // Bind and drop: nothing listens there any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::builder(format!("http://127.0.0.1:{port}/scim/v2"))
        .retry(fast_retries())
        .build()
        .unwrap();
    let err = client.users().get("U1").await.unwrap_err();
    assert!(matches!(err, Error::Transport { kind: TransportKind::Connect, .. }), "{err:?}");
}

#[tokio::test]
async fn a_timed_out_get_is_retried_and_a_post_without_retries_is_not() {
    let seen = Arc::new(Mutex::new(0usize));
    let s = seen.clone();
    let slow_once = move || {
        let s = s.clone();
        async move {
            let n = {
                let mut s = s.lock().unwrap();
                *s += 1;
                *s
            };
            if n == 1 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            scim(StatusCode::OK, USER)
        }
    };
    let router = Router::new()
        .route("/scim/v2/Users/U1", get(slow_once.clone()))
        .route("/scim/v2/Users", post(slow_once));
    let base = serve(router).await;
    let client = Client::builder(&base)
        .bearer("t")
        .timeout(Some(Duration::from_millis(300)))
        .retry(fast_retries())
        .build()
        .unwrap();
    let u = client.users().get("U1").await.unwrap();
    assert_eq!(u.resource.user_name, "ada");
    assert_eq!(*seen.lock().unwrap(), 2, "the timed-out attempt and one retry");

    *seen.lock().unwrap() = 0;
    let once = Client::builder(&base)
        .bearer("t")
        .timeout(Some(Duration::from_millis(300)))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let user: scim_core::resource::User = serde_json::from_str(USER).unwrap();
    let err = once.users().create(&user).await.unwrap_err();
    assert!(matches!(err, Error::Transport { kind: TransportKind::Timeout, .. }), "{err:?}");
    assert_eq!(*seen.lock().unwrap(), 1, "a POST without retries is sent once");
}

#[tokio::test]
async fn bad_arguments_are_refused_before_sending() {
    assert!(matches!(Client::builder("not a url").build(), Err(Error::InvalidArgument(_))));
    assert!(matches!(Client::builder("ftp://x/scim").build(), Err(Error::InvalidArgument(_))));
    let client = Client::builder("http://127.0.0.1:9/scim/v2").build().unwrap();
    assert!(matches!(client.users().get("").await, Err(Error::InvalidArgument(_))));
    let q = scim_client::Query::new().filter(scim_client::filter::attr("a b").pr());
    assert!(matches!(client.users().search(&q).await, Err(Error::Filter(_))));
}

#[tokio::test]
async fn cli_search_falls_back_to_get_when_the_server_has_no_dot_search() {
    let list = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"startIndex":1,"itemsPerPage":1,"Resources":[{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"U1","userName":"ada"}]}"#;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let router = Router::new()
        .route(
            "/scim/v2/Users/.search",
            post(move || {
                s1.lock().unwrap().push("POST".into());
                async { StatusCode::METHOD_NOT_ALLOWED }
            }),
        )
        .route(
            "/scim/v2/Users",
            get(move |q: axum::extract::RawQuery| {
                s2.lock().unwrap().push(format!("GET {}", q.0.unwrap_or_default()));
                async move { scim(StatusCode::OK, list) }
            }),
        );
    let base = serve(router).await;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = {
        let mut io = scim_client::cli::Io { out: &mut out, err: &mut err, terminal: false };
        let args =
            ["scim", "--url", &base, "--token", "t", "--json", "search", "userName eq \"ada\""];
        scim_client::cli::run(args, &mut io).await
    };
    let (out, err) = (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap());
    assert_eq!(status, scim_client::cli::Status::Ok, "{out}{err}");
    assert!(err.contains("answered 405 to POST Users/.search; searching with GET"), "{err}");
    assert!(out.contains("\"ada\""), "{out}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[1].starts_with("GET ") && seen[1].contains("filter="), "{seen:?}");
}
