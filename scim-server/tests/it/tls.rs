//! Built-in TLS (`tls_cert`, `tls_key`, `docs/operations.md`): the real binary serves
//! HTTPS with a self-signed certificate, refuses plain HTTP, and hands new connections a
//! replaced certificate after SIGHUP or when the files change, keeping open connections and,
//! when the new files are bad, the old certificate.

use crate::cli::{Db, Server};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "tls-test-token-0123456789";

/// A self-signed certificate for `localhost` and 127.0.0.1: its PEM files' contents and
/// its DER.
struct Cert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn cert() -> Cert {
    let c =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    Cert {
        cert_pem: c.cert.pem(),
        key_pem: c.signing_key.serialize_pem(),
        der: c.cert.der().clone(),
    }
}

fn files(db: &Db) -> (PathBuf, PathBuf) {
    (db.dir.join("cert.pem"), db.dir.join("key.pem"))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn install(db: &Db, c: &Cert) {
    let (cert, key) = files(db);
    write(&cert, &c.cert_pem);
    write(&key, &c.key_pem);
}

fn start(db: &Db, extra: &[(&str, &str)]) -> Server {
    let (cert, key) = files(db);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let mut env = vec![
        ("SCIM_TLS_CERT", cert.as_str()),
        ("SCIM_TLS_KEY", key.as_str()),
        ("SCIM_BOOTSTRAP_TOKEN", TOKEN),
    ];
    env.extend_from_slice(extra);
    Server::start(db, &env)
}

/// An HTTPS connection that trusts `roots`; returns the request sender and the DER of the
/// certificate the server presented.
async fn connect(
    addr: &str,
    roots: &[&CertificateDer<'static>],
) -> (SendRequest<Full<Bytes>>, Vec<u8>) {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add((*r).clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let peer = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    (send, peer)
}

/// Sends one request on `send`; returns status, `Location` and body.
async fn request(
    send: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Option<String>, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/scim+json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    // Wait until the connection can take a request: right after the handshake its task
    // may not have run yet, and sending then fails with "connection was not ready".
    send.ready().await.unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, location, json)
}

/// What a plain-HTTP client gets from the HTTPS port: never an HTTP response.
fn plain_http(addr: &str) -> Vec<u8> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    // The server may close as soon as it has read the first bytes (they are no TLS
    // record): a failed write is an answer too.
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(request.as_bytes());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn hangup(server: &Server) {
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
}

/// Waits until the log after start-up holds `needle` `n` times.
fn wait_log_count(server: &Server, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = server.later.lock().unwrap().clone();
        if log.matches(needle).count() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "log never showed {needle} {n} times: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_scim_reloads_on_sighup_and_keeps_the_old_certificate_on_a_bad_reload() {
    let db = Db::new();
    let (a, b) = (cert(), cert());
    install(&db, &a);
    // Reload on SIGHUP only, so that each reload below is the signal's.
    let server = start(&db, &[("SCIM_TLS_RELOAD_SECS", "0")]);
    assert!(server.stderr.contains("tls=true"), "{}", server.stderr);
    let banner = server.wait_stdout(TOKEN);
    assert!(banner.contains(&format!("https://{}/scim/v2/Users", server.addr)), "{banner}");

    // A SCIM GET and a create over HTTPS; meta.location and Location use https.
    let (mut open, peer) = connect(&server.addr, &[&a.der, &b.der]).await;
    assert_eq!(peer, a.der.to_vec());
    let (status, _, list) = request(&mut open, "GET", "/scim/v2/Users", "").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["totalResults"], 0);
    let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"tls@example.com"}"#;
    let (status, location, created) = request(&mut open, "POST", "/scim/v2/Users", user).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(location.as_deref(), Some(format!("https://localhost/scim/v2/Users/{id}").as_str()));
    assert_eq!(created["meta"]["location"], format!("https://localhost/scim/v2/Users/{id}"));

    // Plain HTTP on the same port gets no HTTP answer.
    let plain = plain_http(&server.addr);
    assert!(!plain.starts_with(b"HTTP/"), "{}", String::from_utf8_lossy(&plain));

    // New files, SIGHUP: new connections get the new certificate; the open one goes on.
    install(&db, &b);
    hangup(&server);
    wait_log_count(&server, "TLS certificate reloaded", 1);
    let (mut fresh, peer) = connect(&server.addr, &[&a.der, &b.der]).await;
    assert_eq!(peer, b.der.to_vec(), "a new connection sees the new certificate");
    let (status, _, got) = request(&mut fresh, "GET", &format!("/scim/v2/Users/{id}"), "").await;
    assert_eq!(status, 200, "{got}");
    let (status, _, _) = request(&mut open, "GET", "/scim/v2/Users", "").await;
    assert_eq!(status, 200, "the connection opened before the reload still serves");

    // A bad certificate file: the reload fails, logged, and b still serves.
    let (cert_file, key_file) = files(&db);
    write(
        &cert_file,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    );
    hangup(&server);
    wait_log_count(&server, "TLS certificate reload failed", 1);
    let (mut after, peer) = connect(&server.addr, &[&a.der, &b.der]).await;
    assert_eq!(peer, b.der.to_vec());
    assert_eq!(request(&mut after, "GET", "/scim/v2/Users", "").await.0, 200);
    // A key that is not the certificate's: refused the same way.
    write(&cert_file, &a.cert_pem);
    write(&key_file, &b.key_pem);
    hangup(&server);
    wait_log_count(&server, "TLS certificate reload failed", 2);
    let log = server.later.lock().unwrap().clone();
    assert!(log.contains("does not match the certificate"), "{log}");
    let (_, peer) = connect(&server.addr, &[&a.der, &b.der]).await;
    assert_eq!(peer, b.der.to_vec());
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_files_are_picked_up_by_polling_the_admin_listener_is_https_and_a_silent_client_cannot_hold_the_handshake()
 {
    let db = Db::new();
    let (a, b) = (cert(), cert());
    install(&db, &a);
    let port = scim_test_support::free_port();
    let admin_addr = format!("127.0.0.1:{port}");
    let server = start(
        &db,
        &[
            ("SCIM_TLS_RELOAD_SECS", "1"),
            ("SCIM_HEADER_READ_TIMEOUT_SECS", "1"),
            ("SCIM_ADMIN_API", "true"),
            ("SCIM_ADMIN_LISTEN", &admin_addr),
        ],
    );
    // The admin listener serves HTTPS with the same certificate.
    server.wait_log("admin API listening");
    let (mut admin, peer) = connect(&admin_addr, &[&a.der]).await;
    assert_eq!(peer, a.der.to_vec());
    assert_eq!(request(&mut admin, "GET", "/healthz", "").await.0, 200);
    assert!(!plain_http(&admin_addr).starts_with(b"HTTP/"));
    // A client that connects and never starts the handshake is closed after the header
    // read timeout, and others are served meanwhile.
    let silent = std::net::TcpStream::connect(&server.addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let (mut send, peer) = connect(&server.addr, &[&a.der, &b.der]).await;
    assert_eq!(peer, a.der.to_vec());
    assert_eq!(request(&mut send, "GET", "/scim/v2/Users", "").await.0, 200);
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut &silent, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the silent connection is closed");
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());

    // The files change, key first (a moment where they do not match), then the
    // certificate: within a few polls new connections get b.
    let (cert_file, key_file) = files(&db);
    write(&key_file, &b.key_pem);
    std::thread::sleep(Duration::from_millis(1500));
    write(&cert_file, &b.cert_pem);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, peer) = connect(&server.addr, &[&a.der, &b.der]).await;
        if peer == b.der.to_vec() {
            break;
        }
        assert!(Instant::now() < deadline, "the changed files were never loaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_log_count(&server, "TLS certificate reloaded", 1);
    assert!(server.terminate().success());
}

#[test]
fn tls_settings_are_checked_at_start() {
    let db = Db::new();
    let (cert, key) = files(&db);
    let run = |env: &[(&str, &str)]| {
        let mut cmd = db.cmd(&["serve", "--listen", "127.0.0.1:0"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{env:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let c = cert.display().to_string();
    let k = key.display().to_string();
    assert!(run(&[("SCIM_TLS_CERT", &c)]).contains("tls_cert needs tls_key"));
    assert!(run(&[("SCIM_TLS_CERT", &c), ("SCIM_TLS_KEY", &k)]).contains("is not a readable file"));
    write(&cert, "garbage");
    write(&key, "garbage");
    let err = run(&[("SCIM_TLS_CERT", &c), ("SCIM_TLS_KEY", &k)]);
    assert!(err.contains("TLS certificate") && err.contains("no PEM certificate"), "{err}");
    let a = self::cert();
    write(&cert, &a.cert_pem);
    let err = run(&[("SCIM_TLS_CERT", &c), ("SCIM_TLS_KEY", &k)]);
    assert!(err.contains("TLS key"), "{err}");
}
