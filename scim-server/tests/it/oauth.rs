//! OAuth2 client credentials (RFC 6749 section 4.4): the token endpoint, access tokens on both
//! families, multi-organization clients, scopes, expiry and revocation.

use crate::support::{TestApp, app_with, req, send};
use base64::Engine;
use http::Method;
use scim_server::admin;
use scim_store::Scope;
use serde_json::Value;

async fn client(
    app: &TestApp,
    orgs: &[scim_core::sid::OrganizationSid],
    scopes: &[Scope],
) -> (String, String) {
    let c = admin::create_client(app.state.store.as_ref(), orgs.to_vec(), scopes.to_vec())
        .await
        .unwrap();
    (c.client_id, c.client_secret)
}

fn form(body: &str) -> crate::support::ReqBuilder {
    req(Method::POST, "/oauth2/token")
        .bytes("application/x-www-form-urlencoded", body.as_bytes().to_vec())
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

async fn token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> Value {
    let body = match scope {
        Some(s) => format!("grant_type=client_credentials&scope={}", s.replace(' ', "+")),
        None => "grant_type=client_credentials".to_owned(),
    };
    let r = app.send(form(&body).header("authorization", &basic(id, secret)).build()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.bytes));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    r.json()
}

async fn no_cache() -> TestApp {
    app_with(|c| c.auth_cache_ttl_ms = 0).await
}

#[tokio::test]
async fn client_credentials_by_basic_and_by_form() {
    let app = no_cache().await;
    let (id, secret) = client(&app, &[app.org], Scope::ALL).await;
    let t = token(&app, &id, &secret, None).await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "scim:read scim:write");
    let access = t["access_token"].as_str().unwrap();
    let r = app.send(req(Method::GET, "/scim/v2/Users").bearer(access).build()).await;
    assert_eq!(r.status, 200);

    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let r = app.send(form(&body).build()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.bytes));
    let access = r.json()["access_token"].as_str().unwrap().to_owned();
    let r =
        app.send(req(Method::GET, "/scim/v2/ServiceProviderConfig").bearer(&access).build()).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn token_endpoint_errors_speak_rfc_6749() {
    let app = no_cache().await;
    let (id, secret) = client(&app, &[app.org], Scope::ALL).await;
    let cases: Vec<(crate::support::ReqBuilder, u16, &str)> = vec![
        (
            form("grant_type=client_credentials").header("authorization", &basic(&id, "wrong")),
            401,
            "invalid_client",
        ),
        (
            form("grant_type=client_credentials")
                .header("authorization", &basic("CLnope", &secret)),
            401,
            "invalid_client",
        ),
        (form("grant_type=client_credentials"), 401, "invalid_client"),
        (
            form("grant_type=password").header("authorization", &basic(&id, &secret)),
            400,
            "unsupported_grant_type",
        ),
        (
            form("scope=scim:read").header("authorization", &basic(&id, &secret)),
            400,
            "invalid_request",
        ),
        (
            form("grant_type=client_credentials&scope=admin")
                .header("authorization", &basic(&id, &secret)),
            400,
            "invalid_scope",
        ),
        (
            req(Method::POST, "/oauth2/token")
                .json(&serde_json::json!({"grant_type":"client_credentials"})),
            400,
            "invalid_request",
        ),
    ];
    for (i, (builder, status, error)) in cases.into_iter().enumerate() {
        let r = app.send(builder.build()).await;
        assert_eq!(r.status.as_u16(), status, "case {i}: {}", String::from_utf8_lossy(&r.bytes));
        assert_eq!(r.json()["error"], error, "case {i}");
        assert!(r.json().get("schemas").is_none(), "not a SCIM error");
    }
    let r = app
        .send(
            form("grant_type=client_credentials")
                .header("authorization", &basic(&id, "wrong"))
                .build(),
        )
        .await;
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
}

#[tokio::test]
async fn narrower_scope_is_enforced() {
    let app = no_cache().await;
    let (id, secret) = client(&app, &[app.org], Scope::ALL).await;
    let t = token(&app, &id, &secret, Some("scim:read")).await;
    assert_eq!(t["scope"], "scim:read");
    let access = t["access_token"].as_str().unwrap();
    let user = serde_json::json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"o@x.io"});
    let r = app.send(req(Method::POST, "/scim/v2/Users").bearer(access).json(&user).build()).await;
    r.assert_error(403, 20403);
    let (rid, rsecret) = client(&app, &[app.org], &[Scope::Read]).await;
    let r = app
        .send(
            form("grant_type=client_credentials&scope=scim:write")
                .header("authorization", &basic(&rid, &rsecret))
                .build(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_scope");
}

#[tokio::test]
async fn multi_organization_clients_name_the_organization() {
    let app = no_cache().await;
    let second = app.org("second").await;
    let third = app.org("third").await;
    let (id, secret) = client(&app, &[app.org, second], Scope::ALL).await;
    let access = token(&app, &id, &secret, None).await["access_token"].as_str().unwrap().to_owned();
    let spc = "/scim/v2/ServiceProviderConfig";
    let r = app.send(req(Method::GET, spc).bearer(&access).build()).await;
    r.assert_error(400, 29400);
    for org in [app.org, second] {
        let r = app
            .send(
                req(Method::GET, spc)
                    .bearer(&access)
                    .header("scim-organization", &org.to_string())
                    .build(),
            )
            .await;
        assert_eq!(r.status, 200);
        let r = app
            .send(
                req(Method::GET, &format!("/Organizations/{org}/scim/Users"))
                    .bearer(&access)
                    .build(),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = app
        .send(
            req(Method::GET, spc)
                .bearer(&access)
                .header("zuora-entity-ids", &third.to_string())
                .build(),
        )
        .await;
    r.assert_error(403, 21403);
    let r = app
        .send(
            req(Method::GET, &format!("/Organizations/{third}/scim/Users")).bearer(&access).build(),
        )
        .await;
    r.assert_error(403, 21403);
}

#[tokio::test]
async fn tampered_expired_and_revoked_tokens_are_401() {
    let app = app_with(|c| {
        c.auth_cache_ttl_ms = 0;
        c.access_token_ttl_secs = 1;
    })
    .await;
    let (id, secret) = client(&app, &[app.org], Scope::ALL).await;
    let access = token(&app, &id, &secret, None).await["access_token"].as_str().unwrap().to_owned();
    let spc = "/scim/v2/ServiceProviderConfig";
    assert_eq!(app.send(req(Method::GET, spc).bearer(&access).build()).await.status, 200);
    // Another organization in the payload, same signature: rejected.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    claims["orgs"] = serde_json::json!(["OR0123456789abcdef0123456789abcdef"]);
    parts[1] = engine.encode(serde_json::to_vec(&claims).unwrap());
    let forged = parts.join(".");
    app.send(req(Method::GET, spc).bearer(&forged).build()).await.assert_error(401, 21401);
    let none_alg = format!("{}.{}.", engine.encode(br#"{"alg":"none"}"#), parts[1]);
    app.send(req(Method::GET, spc).bearer(&none_alg).build()).await.assert_error(401, 21401);

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = app.send(req(Method::GET, spc).bearer(&access).build()).await;
    let v = r.assert_error(401, 21401);
    assert!(v["detail"].as_str().unwrap().contains("expired"));

    let access = token(&app, &id, &secret, None).await["access_token"].as_str().unwrap().to_owned();
    assert!(app.state.store.revoke_client(&id).await.unwrap());
    app.send(req(Method::GET, spc).bearer(&access).build()).await.assert_error(401, 21401);
    let r = app
        .send(
            form("grant_type=client_credentials")
                .header("authorization", &basic(&id, &secret))
                .build(),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn token_endpoint_only_takes_post() {
    let app = no_cache().await;
    let r = send(&app.router, req(Method::GET, "/oauth2/token").build()).await;
    assert_eq!(r.status, 405);
}
