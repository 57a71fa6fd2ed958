//! A small product with SCIM provisioning: its own axum application mounts the SCIM
//! service at `/scim` (`scim_server::embed`), authenticates identity providers with its
//! own API keys, and records each provisioning change through the change hook.
//!
//! The product's keys are an in-memory map here; a real product looks them up in its own
//! database. Each key belongs to one customer (an organization of the SCIM store).

use async_trait::async_trait;
use axum::Router;
use axum::routing::get;
use http::request::Parts;
use scim_core::sid::OrganizationSid;
use scim_server::embed::{Authenticate, Change, ChangeHook, Principal, Refusal, Scim};
use scim_store::{Scope, Store};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The header the product's identity-provider connections send their key in.
pub const API_KEY: &str = "x-api-key";

/// The product's API keys: key -> (customer organization, connection name).
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(pub HashMap<String, (OrganizationSid, String)>);

#[async_trait]
impl Authenticate for ApiKeys {
    async fn authenticate(&self, parts: &Parts) -> Result<Principal, Refusal> {
        let key = parts
            .headers
            .get(API_KEY)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Refusal::Unauthenticated(format!("send the {API_KEY} header")))?;
        // A real product compares hashed keys in constant time.
        let (org, connection) =
            self.0.get(key).ok_or_else(|| Refusal::Unauthenticated("unknown API key".into()))?;
        Ok(Principal {
            org: *org,
            scopes: vec![Scope::Read, Scope::Write],
            actor: connection.clone(),
        })
    }
}

/// The product's reaction to provisioning: here, each change goes into a channel (a real
/// product would update its own user table, send a welcome mail, ...).
#[derive(Debug, Clone)]
pub struct Provisioned(pub mpsc::UnboundedSender<Change>);

#[async_trait]
impl ChangeHook for Provisioned {
    async fn on_change(&self, change: Change) {
        let _ = self.0.send(change);
    }
}

/// The product's application: its own routes, and SCIM under `/scim`.
pub fn app(store: Arc<dyn Store>, keys: ApiKeys, hook: Provisioned) -> Router {
    let scim = Scim::builder(store).authenticate(keys).on_change(hook).router();
    Router::new().route("/", get(|| async { "the product" })).nest_service("/scim", scim)
}
