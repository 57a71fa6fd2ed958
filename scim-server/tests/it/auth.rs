//! Authentication, scopes and tenancy (`docs/http.md`, `docs/configuration.md`).

use crate::support::{app, app_with, req};
use http::Method;
use scim_store::Scope;

const SPC: &str = "/scim/v2/ServiceProviderConfig";

#[tokio::test]
async fn missing_token_is_401_with_www_authenticate() {
    let app = app().await;
    let r = app.send(req(Method::GET, SPC).build()).await;
    r.assert_error(401, 20401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
}

#[tokio::test]
async fn unknown_malformed_and_wrong_scheme_tokens_are_401() {
    let app = app().await;
    for auth in ["Bearer scim_nope", "Bearer", "Basic dXNlcjpwYXNz", "Bearer  ", "scim_x"] {
        let r = app.send(req(Method::GET, SPC).header("authorization", auth).build()).await;
        r.assert_error(401, 21401);
        assert!(r.header("www-authenticate").is_some(), "{auth}");
    }
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let app = app().await;
    let auth = format!("bearer {}", app.token);
    let r = app.send(req(Method::GET, SPC).header("authorization", &auth).build()).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn revoked_token_is_401() {
    let app = app_with(|c| c.auth_cache_ttl_ms = 0).await;
    let (id, token) = app.token(app.org, Scope::ALL).await;
    assert_eq!(app.send(req(Method::GET, SPC).bearer(&token).build()).await.status, 200);
    assert!(app.state.store.revoke_token(&id).await.unwrap());
    app.send(req(Method::GET, SPC).bearer(&token).build()).await.assert_error(401, 21401);
}

#[tokio::test]
async fn revocation_takes_effect_within_the_auth_cache_ttl() {
    let app = app_with(|c| c.auth_cache_ttl_ms = 300).await;
    let (id, token) = app.token(app.org, Scope::ALL).await;
    assert_eq!(app.send(req(Method::GET, SPC).bearer(&token).build()).await.status, 200);
    assert!(app.state.store.revoke_token(&id).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    app.send(req(Method::GET, SPC).bearer(&token).build()).await.assert_error(401, 21401);
}

#[tokio::test]
async fn missing_scope_is_403() {
    let app = app().await;
    let (_, write_only) = app.token(app.org, &[Scope::Write]).await;
    let r = app.send(req(Method::GET, SPC).bearer(&write_only).build()).await;
    let v = r.assert_error(403, 20403);
    assert!(v["detail"].as_str().unwrap().contains("scim:read"));
    let (_, read_only) = app.token(app.org, &[Scope::Read]).await;
    assert_eq!(app.send(req(Method::GET, SPC).bearer(&read_only).build()).await.status, 200);
}

#[tokio::test]
async fn family_b_serves_the_granted_organization() {
    let app = app().await;
    let uri = format!("/Organizations/{}/scim/ServiceProviderConfig", app.org);
    let r = app.get(&uri).await;
    assert_eq!(r.status, 200);
    let loc = r.json()["meta"]["location"].as_str().unwrap().to_owned();
    assert!(loc.ends_with(&uri), "{loc}");
}

#[tokio::test]
async fn family_b_rejects_other_organizations_with_403() {
    let app = app().await;
    let other = app.org("other").await;
    let r = app.get(&format!("/Organizations/{other}/scim/ServiceProviderConfig")).await;
    r.assert_error(403, 21403);
    // An organization that does not exist looks the same as one not granted.
    let absent = "OR0123456789abcdef0123456789abcdef";
    app.get(&format!("/Organizations/{absent}/scim/ServiceProviderConfig"))
        .await
        .assert_error(403, 21403);
}

#[tokio::test]
async fn family_b_malformed_sid_is_400() {
    let app = app().await;
    for bad in ["ORxyz", "or0123456789abcdef0123456789abcdef", "OR0123456789ABCDEF0123456789ABCDEF"]
    {
        let r = app.get(&format!("/Organizations/{bad}/scim/ServiceProviderConfig")).await;
        let v = r.assert_error(400, 30400);
        assert!(v["detail"].as_str().unwrap().contains("32 lowercase hex"), "{v}");
    }
}

#[tokio::test]
async fn family_b_authenticates_before_judging_the_sid() {
    let app = app().await;
    let r = app.send(req(Method::GET, "/Organizations/ORxyz/scim/Schemas").build()).await;
    r.assert_error(401, 20401);
}

#[tokio::test]
async fn organization_header_on_family_a() {
    let app = app().await;
    let own = app.org.to_string();
    let ok = req(Method::GET, SPC).bearer(&app.token).header("scim-organization", &own).build();
    assert_eq!(app.send(ok).await.status, 200);
    let alias = req(Method::GET, SPC).bearer(&app.token).header("zuora-entity-ids", &own).build();
    assert_eq!(app.send(alias).await.status, 200);
    let other = app.org("other").await.to_string();
    let r = app
        .send(req(Method::GET, SPC).bearer(&app.token).header("scim-organization", &other).build())
        .await;
    r.assert_error(403, 21403);
    let r = app
        .send(req(Method::GET, SPC).bearer(&app.token).header("scim-organization", "nope").build())
        .await;
    r.assert_error(400, 30400);
}

#[tokio::test]
async fn tokens_of_one_organization_do_not_open_another() {
    let app = app().await;
    let other = app.org("other").await;
    let (_, other_token) = app.token(other, Scope::ALL).await;
    let r = app
        .send(
            req(Method::GET, &format!("/Organizations/{}/scim/Schemas", app.org))
                .bearer(&other_token)
                .build(),
        )
        .await;
    r.assert_error(403, 21403);
    let r = app
        .send(
            req(Method::GET, &format!("/Organizations/{other}/scim/Schemas"))
                .bearer(&other_token)
                .build(),
        )
        .await;
    assert_eq!(r.status, 200);
}
