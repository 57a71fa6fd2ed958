//! The database going away and coming back (code 20503: 503 with `Retry-After`, the
//! process keeps running and recovers by itself). A switchable wrapper around the real
//! store stands in for the outage.

use crate::support::{app, req, send};
use async_trait::async_trait;
use http::Method;
use scim_core::schema::ResourceKind;
use scim_core::sid::{OrganizationSid, ResourceId, UserSid};
use scim_server::{AppState, router};
use scim_store::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug)]
struct Switchable {
    inner: Arc<dyn Store>,
    down: AtomicBool,
}

impl Switchable {
    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("connection refused (postgres at 10.0.0.1)".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for Switchable {
    async fn ping(&self) -> Result<()> {
        self.check()?;
        self.inner.ping().await
    }
    async fn create_organization(&self, name: &str, policies: &[Policy]) -> Result<Organization> {
        self.check()?;
        self.inner.create_organization(name, policies).await
    }
    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        self.check()?;
        self.inner.prune(retention).await
    }
    async fn bootstrap(
        &self,
        name: &str,
        scopes: &[Scope],
        token_name: Option<&str>,
        secret_hash: [u8; 32],
    ) -> Result<Option<Bootstrap>> {
        self.check()?;
        self.inner.bootstrap(name, scopes, token_name, secret_hash).await
    }
    async fn organization(&self, org: OrganizationSid) -> Result<Option<Organization>> {
        self.check()?;
        self.inner.organization(org).await
    }
    async fn organizations(&self) -> Result<Vec<Organization>> {
        self.check()?;
        self.inner.organizations().await
    }
    async fn create_token(&self, new: NewToken) -> Result<TokenRecord> {
        self.check()?;
        self.inner.create_token(new).await
    }
    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
        self.check()?;
        self.inner.token_by_hash(hash).await
    }
    async fn tokens(&self, org: OrganizationSid) -> Result<Vec<TokenRecord>> {
        self.check()?;
        self.inner.tokens(org).await
    }
    async fn revoke_token(&self, id: &str) -> Result<bool> {
        self.check()?;
        self.inner.revoke_token(id).await
    }
    async fn create_client(&self, new: NewClient) -> Result<ClientRecord> {
        self.check()?;
        self.inner.create_client(new).await
    }
    async fn client(&self, client_id: &str) -> Result<Option<(ClientRecord, [u8; 32])>> {
        self.check()?;
        self.inner.client(client_id).await
    }
    async fn revoke_client(&self, client_id: &str) -> Result<bool> {
        self.check()?;
        self.inner.revoke_client(client_id).await
    }
    async fn shared_secret(&self, name: &str) -> Result<[u8; 32]> {
        self.check()?;
        self.inner.shared_secret(name).await
    }
    async fn rename_organization(&self, org: OrganizationSid, name: &str) -> Result<bool> {
        self.check()?;
        self.inner.rename_organization(org, name).await
    }
    async fn set_policies(&self, org: OrganizationSid, policies: &[Policy]) -> Result<bool> {
        self.check()?;
        self.inner.set_policies(org, policies).await
    }
    async fn organization_contents(&self, org: OrganizationSid) -> Result<Option<OrgContents>> {
        self.check()?;
        self.inner.organization_contents(org).await
    }
    async fn delete_organization(
        &self,
        org: OrganizationSid,
        only_if_empty: bool,
    ) -> Result<OrgDeletion> {
        self.check()?;
        self.inner.delete_organization(org, only_if_empty).await
    }
    async fn touch_token(&self, id: &str, at: &str) -> Result<()> {
        self.check()?;
        self.inner.touch_token(id, at).await
    }
    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        self.check()?;
        self.inner.clients().await
    }
    async fn create(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<Stored> {
        self.check()?;
        self.inner.create(org, kind, new).await
    }
    async fn create_many(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        new: Vec<NewResource>,
    ) -> Result<Vec<Stored>> {
        self.check()?;
        self.inner.create_many(org, kind, new).await
    }
    async fn get_raw(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        read: ReadOptions,
    ) -> Result<Option<RawStored>> {
        self.check()?;
        self.inner.get_raw(org, id, read).await
    }
    async fn modify(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        expected_version: Option<u64>,
        read: ReadOptions,
        modifier: Modifier,
    ) -> Result<Stored> {
        self.check()?;
        self.inner.modify(org, id, expected_version, read, modifier).await
    }
    async fn delete(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        expected_version: Option<u64>,
        soft: bool,
    ) -> Result<()> {
        self.check()?;
        self.inner.delete(org, id, expected_version, soft).await
    }
    async fn restore(&self, org: OrganizationSid, id: ResourceId) -> Result<Stored> {
        self.check()?;
        self.inner.restore(org, id).await
    }
    async fn query_raw(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        query: &Query,
    ) -> Result<RawPage> {
        self.check()?;
        self.inner.query_raw(org, kind, query).await
    }
    async fn deactivate_users(&self, org: OrganizationSid, ids: &[UserSid]) -> Result<Vec<Stored>> {
        self.check()?;
        self.inner.deactivate_users(org, ids).await
    }
    async fn idempotency_begin(
        &self,
        org: OrganizationSid,
        key: &str,
        fingerprint: &[u8; 32],
    ) -> Result<IdempotencyBegin> {
        self.check()?;
        self.inner.idempotency_begin(org, key, fingerprint).await
    }
    async fn idempotency_complete(
        &self,
        org: OrganizationSid,
        key: &str,
        answer: IdempotentAnswer,
    ) -> Result<()> {
        self.check()?;
        self.inner.idempotency_complete(org, key, answer).await
    }
    async fn idempotency_abort(&self, org: OrganizationSid, key: &str) -> Result<()> {
        self.check()?;
        self.inner.idempotency_abort(org, key).await
    }
    async fn changes(
        &self,
        org: OrganizationSid,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ChangeRecord>> {
        self.check()?;
        self.inner.changes(org, after, limit).await
    }
}

#[tokio::test]
async fn outage_gives_503_with_retry_after_and_recovery_is_automatic() {
    let base = app().await;
    let store =
        Arc::new(Switchable { inner: base.state.store.clone(), down: AtomicBool::new(false) });
    let state =
        AppState::new(store.clone(), base.state.registry.clone(), base.state.config.clone());
    let router = router(state);
    let spc = || req(Method::GET, "/scim/v2/Users").bearer(&base.token).build();
    assert_eq!(send(&router, spc()).await.status, 200);
    assert_eq!(send(&router, req(Method::GET, "/readyz").build()).await.status, 200);

    store.down.store(true, Ordering::SeqCst);
    let r = send(&router, req(Method::GET, "/readyz").build()).await;
    r.assert_error(503, 20503);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    let r = send(&router, spc()).await;
    let v = r.assert_error(503, 20503);
    assert!(r.header("retry-after").is_some());
    assert!(!v.to_string().contains("10.0.0.1"), "no internals in the body: {v}");
    assert_eq!(send(&router, req(Method::GET, "/healthz").build()).await.status, 200);

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(send(&router, spc()).await.status, 200);
    assert_eq!(send(&router, req(Method::GET, "/readyz").build()).await.status, 200);
}
