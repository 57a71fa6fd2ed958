//! Discovery documents (RFC 7644 section 4, RFC 7643 sections 5 to 7).

use crate::support::{app, app_from, app_with, req};
use http::Method;
use scim_core::schema::Registry;
use scim_server::Config;
use scim_server::config::load_registry;

#[tokio::test]
async fn service_provider_config_is_truthful() {
    let app = app_with(|c| {
        c.bulk_max_operations = 7;
        c.bulk_max_payload_bytes = 4096;
        c.max_page_size = 250;
        c.default_page_size = 50;
    })
    .await;
    let r = app.get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("application/scim+json"));
    let v = r.json();
    assert_eq!(v["schemas"][0], "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig");
    assert_eq!(v["patch"]["supported"], true);
    assert_eq!(
        v["bulk"],
        serde_json::json!({"supported":true,"maxOperations":7,"maxPayloadSize":4096})
    );
    assert_eq!(v["filter"], serde_json::json!({"supported":true,"maxResults":250}));
    assert_eq!(v["changePassword"]["supported"], false);
    assert_eq!(v["sort"]["supported"], true);
    assert_eq!(v["etag"]["supported"], true);
    let p = &v["pagination"];
    assert_eq!(p["cursor"], true);
    assert_eq!(p["index"], true);
    assert_eq!(p["defaultPaginationMethod"], "index");
    assert_eq!(p["defaultPageSize"], 50);
    assert_eq!(p["maxPageSize"], 250);
    assert!(p["cursorTimeout"].as_u64().unwrap() > 0);
    assert_eq!(v["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(v["meta"]["resourceType"], "ServiceProviderConfig");
    assert_eq!(v["meta"]["location"], "http://127.0.0.1:8080/scim/v2/ServiceProviderConfig");
}

#[tokio::test]
async fn locations_follow_host_forwarded_headers_and_public_url() {
    let app = app().await;
    let r = app
        .send(
            req(Method::GET, "/scim/v2/ServiceProviderConfig")
                .bearer(&app.token)
                .header("host", "scim.example:8443")
                .header("x-forwarded-proto", "https")
                .build(),
        )
        .await;
    assert_eq!(
        r.json()["meta"]["location"],
        "https://scim.example:8443/scim/v2/ServiceProviderConfig"
    );
    let r = app
        .send(
            req(Method::GET, "/scim/v2/ServiceProviderConfig")
                .bearer(&app.token)
                .header("host", "evil.example/path?x")
                .build(),
        )
        .await;
    assert_eq!(r.json()["meta"]["location"], "http://127.0.0.1:8080/scim/v2/ServiceProviderConfig");
    let app = app_with(|c| c.public_url = Some("https://public.example/".into())).await;
    let r = app.get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(
        r.json()["meta"]["location"],
        "https://public.example/scim/v2/ServiceProviderConfig"
    );
}

#[tokio::test]
async fn schemas_list_and_single() {
    let app = app().await;
    let r = app.get("/scim/v2/Schemas").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");
    assert_eq!(v["totalResults"], 3);
    let ids: Vec<&str> =
        v["Resources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:User"));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:Group"));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    for s in v["Resources"].as_array().unwrap() {
        assert_eq!(s["schemas"][0], "urn:ietf:params:scim:schemas:core:2.0:Schema");
        assert_eq!(s["meta"]["resourceType"], "Schema");
        let loc = s["meta"]["location"].as_str().unwrap();
        assert_eq!(
            loc,
            format!("http://127.0.0.1:8080/scim/v2/Schemas/{}", s["id"].as_str().unwrap())
        );
        assert!(!s["attributes"].as_array().unwrap().is_empty());
    }
    let r = app.get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["id"], "urn:ietf:params:scim:schemas:core:2.0:User");
    let user_name =
        v["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "userName").unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    app.get("/scim/v2/Schemas/urn:nope").await.assert_error(404, 20404);
}

#[tokio::test]
async fn resource_types_list_and_single() {
    let app = app().await;
    let v = app.get("/scim/v2/ResourceTypes").await.json();
    assert_eq!(v["totalResults"], 2);
    let user = v["Resources"].as_array().unwrap().iter().find(|r| r["id"] == "User").unwrap();
    assert_eq!(user["schemas"][0], "urn:ietf:params:scim:schemas:core:2.0:ResourceType");
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], "urn:ietf:params:scim:schemas:core:2.0:User");
    assert_eq!(
        user["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );
    assert_eq!(user["meta"]["resourceType"], "ResourceType");
    assert_eq!(user["meta"]["location"], "http://127.0.0.1:8080/scim/v2/ResourceTypes/User");
    let g = app.get("/scim/v2/ResourceTypes/Group").await;
    assert_eq!(g.status, 200);
    assert_eq!(g.json()["endpoint"], "/Groups");
    app.get("/scim/v2/ResourceTypes/Device").await.assert_error(404, 20404);
}

#[tokio::test]
async fn discovery_rejects_writes_with_405() {
    let app = app().await;
    for (m, path) in [
        (Method::POST, "/scim/v2/ServiceProviderConfig"),
        (Method::PUT, "/scim/v2/Schemas"),
        (Method::DELETE, "/scim/v2/ResourceTypes/User"),
        (Method::PATCH, "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"),
    ] {
        let r = app.send(req(m.clone(), path).bearer(&app.token).build()).await;
        r.assert_error(405, 20405);
        assert!(r.header("allow").unwrap().contains("GET"), "{m} {path}");
    }
}

#[tokio::test]
async fn me_is_501() {
    let app = app().await;
    app.get("/scim/v2/Me").await.assert_error(501, 20501);
    let r = app.send(req(Method::POST, "/scim/v2/Me").bearer(&app.token).build()).await;
    r.assert_error(501, 20501);
}

#[tokio::test]
async fn entra_flag_and_unknown_query_parameters_are_ignored() {
    let app = app().await;
    assert_eq!(app.get("/scim/v2?aadOptscim062020").await.status, 200);
    assert_eq!(app.get("/scim/v2/?aadOptscim062020").await.status, 200);
    assert_eq!(app.get("/scim/v2/ServiceProviderConfig?aadOptscim062020&x=1").await.status, 200);
    assert_eq!(app.get("/scim/v2/Schemas?aadOptscim062020").await.status, 200);
    let org = format!("/Organizations/{}/scim?aadOptscim062020", app.org);
    assert_eq!(app.get(&org).await.status, 200);
}

const VENDOR: &str = r#"{
  "id": "urn:acme:scim:schemas:1.0:UserExtension",
  "name": "AcmeUser",
  "attributes": [
    {"name": "organizationId", "type": "string", "multiValued": false, "required": false},
    {"name": "ssoEnabled", "type": "boolean", "multiValued": false, "required": false}
  ]
}"#;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    let dir = std::env::temp_dir().join(format!("scim-it-{name}-{}", hex::encode(b)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn loaded_extension_schemas_are_advertised() {
    let dir = temp_dir("schemas");
    std::fs::write(dir.join("acme.json"), VENDOR).unwrap();
    std::fs::write(dir.join("README.txt"), "not a schema").unwrap();
    let registry = load_registry(Some(&dir)).unwrap();
    let config = Config { docs_base: Some("https://docs.test".into()), ..Config::default() };
    let app = app_from(config, registry).await;
    let v = app.get("/scim/v2/Schemas").await.json();
    assert_eq!(v["totalResults"], 4);
    let r = app.get("/scim/v2/Schemas/urn:acme:scim:schemas:1.0:UserExtension").await;
    assert_eq!(r.status, 200);
    let user = app.get("/scim/v2/ResourceTypes/User").await.json();
    let ext: Vec<&str> = user["schemaExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["schema"].as_str().unwrap())
        .collect();
    assert!(ext.contains(&"urn:acme:scim:schemas:1.0:UserExtension"), "{ext:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn malformed_schema_file_fails_with_its_name() {
    let dir = temp_dir("bad-schemas");
    std::fs::write(dir.join("broken.json"), "{\"id\": ").unwrap();
    let err = load_registry(Some(&dir)).unwrap_err().to_string();
    assert!(err.contains("broken.json"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
    assert!(load_registry(Some(std::path::Path::new("/nonexistent/scim-schemas"))).is_err());
    let _ = Registry::builtin();
}
