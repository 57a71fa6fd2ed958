//! The [`Store`] trait on [`SqlStore`]: each operation is a function of the module of its
//! concern.

use super::change_log;
use super::credentials;
use super::idempotency;
use super::organizations;
use super::query;
use super::resources;
use super::setup;
use super::store::SqlStore;
use super::update;
use crate::{
    AuditQuery, Bootstrap, ChangeRecord, ClientRecord, EventStream, IdempotencyBegin,
    IdempotentAnswer, Modifier, NewClient, NewResource, NewToken, OrgContents, OrgDeletion,
    Organization, Policy, Pruned, Query, RawPage, RawStored, ReadOptions, Result, Retention, Scope,
    SigningKey, Store, StoreError, Stored, StreamState, TokenRecord,
};
use async_trait::async_trait;
use scim_core::schema::ResourceKind;
use scim_core::sid::{OrganizationSid, ResourceId, UserSid};

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn pool_stats(&self) -> Option<crate::PoolStats> {
        self.db.pool_stats()
    }

    async fn create_organization(&self, name: &str, policies: &[Policy]) -> Result<Organization> {
        setup::insert_organization(&self.db, name, policies).await
    }

    async fn bootstrap(
        &self,
        name: &str,
        scopes: &[Scope],
        token_name: Option<&str>,
        secret_hash: [u8; 32],
    ) -> Result<Option<Bootstrap>> {
        self.while_locked(|| self.bootstrap_once(name, scopes, token_name, secret_hash)).await
    }

    async fn organization(&self, org: OrganizationSid) -> Result<Option<Organization>> {
        organizations::organization(self, org).await
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        organizations::organizations(self).await
    }

    async fn rename_organization(&self, org: OrganizationSid, name: &str) -> Result<bool> {
        organizations::rename_organization(self, org, name).await
    }

    async fn set_policies(&self, org: OrganizationSid, policies: &[Policy]) -> Result<bool> {
        organizations::set_policies(self, org, policies).await
    }

    async fn organization_contents(&self, org: OrganizationSid) -> Result<Option<OrgContents>> {
        organizations::organization_contents(self, org).await
    }

    async fn delete_organization(
        &self,
        org: OrganizationSid,
        only_if_empty: bool,
    ) -> Result<OrgDeletion> {
        organizations::delete_organization(self, org, only_if_empty).await
    }

    async fn create_token(&self, new: NewToken) -> Result<TokenRecord> {
        setup::insert_token(&self.db, new).await
    }

    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
        credentials::token_by_hash(self, hash).await
    }

    async fn touch_token(&self, id: &str, at: &str) -> Result<()> {
        credentials::touch_token(self, id, at).await
    }

    async fn tokens(&self, org: OrganizationSid) -> Result<Vec<TokenRecord>> {
        credentials::tokens(self, org).await
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        credentials::revoke_token(self, id).await
    }

    async fn create_client(&self, new: NewClient) -> Result<ClientRecord> {
        credentials::create_client(self, new).await
    }

    async fn client(&self, client_id: &str) -> Result<Option<(ClientRecord, [u8; 32])>> {
        credentials::client(self, client_id).await
    }

    async fn revoke_client(&self, client_id: &str) -> Result<bool> {
        credentials::revoke_client(self, client_id).await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        credentials::clients(self).await
    }

    async fn shared_secret(&self, name: &str) -> Result<[u8; 32]> {
        self.secret(name).await
    }

    async fn create(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<Stored> {
        // One code path for single and batch creates.
        self.create_many(org, kind, vec![new])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Internal("created row not found".into()))
    }

    async fn create_many(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        new: Vec<NewResource>,
    ) -> Result<Vec<Stored>> {
        resources::create_many(self, org, kind, new).await
    }

    async fn get_raw(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        read: ReadOptions,
    ) -> Result<Option<RawStored>> {
        resources::get_raw(self, org, id.kind(), &id.to_string(), read).await
    }

    async fn modify(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        expected_version: Option<u64>,
        read: ReadOptions,
        modifier: Modifier,
    ) -> Result<Stored> {
        let (kind, id) = (id.kind(), id.to_string());
        update::modify(self, org, kind, &id, expected_version, read, modifier).await
    }

    async fn delete(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        expected_version: Option<u64>,
        soft: bool,
    ) -> Result<()> {
        resources::delete(self, org, id.kind(), &id.to_string(), expected_version, soft).await
    }

    async fn restore(&self, org: OrganizationSid, id: ResourceId) -> Result<Stored> {
        resources::restore(self, org, id.kind(), &id.to_string()).await
    }

    async fn query_raw(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        query: &Query,
    ) -> Result<RawPage> {
        query::query_raw(self, org, kind, query).await
    }

    async fn deactivate_users(&self, org: OrganizationSid, ids: &[UserSid]) -> Result<Vec<Stored>> {
        resources::deactivate_users(self, org, ids).await
    }

    async fn idempotency_begin(
        &self,
        org: OrganizationSid,
        key: &str,
        fingerprint: &[u8; 32],
    ) -> Result<IdempotencyBegin> {
        idempotency::idempotency_begin(self, org, key, fingerprint).await
    }

    async fn idempotency_complete(
        &self,
        org: OrganizationSid,
        key: &str,
        answer: IdempotentAnswer,
    ) -> Result<()> {
        idempotency::idempotency_complete(self, org, key, answer).await
    }

    async fn idempotency_abort(&self, org: OrganizationSid, key: &str) -> Result<()> {
        idempotency::idempotency_abort(self, org, key).await
    }

    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        self.prune_batch(retention).await
    }

    async fn changes(
        &self,
        org: OrganizationSid,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ChangeRecord>> {
        change_log::changes(self, org, after, limit).await
    }

    async fn changes_pending(&self, org: OrganizationSid, after: u64, cap: u64) -> Result<u64> {
        change_log::pending(self, org, after, cap).await
    }

    async fn audit(&self, org: OrganizationSid, q: &AuditQuery) -> Result<Vec<ChangeRecord>> {
        change_log::audit(self, org, q).await
    }

    async fn stream_create(&self, stream: &EventStream) -> Result<EventStream> {
        self.stream_insert(stream).await
    }

    async fn streams(&self, org: Option<OrganizationSid>) -> Result<Vec<EventStream>> {
        self.stream_list(org).await
    }

    async fn stream(&self, id: &str) -> Result<Option<EventStream>> {
        self.stream_get(id).await
    }

    async fn stream_set_state(&self, id: &str, state: StreamState) -> Result<bool> {
        self.stream_state(id, state).await
    }

    async fn stream_delete(&self, id: &str) -> Result<bool> {
        self.stream_remove(id).await
    }

    async fn stream_claim(
        &self,
        id: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        self.lease(id, owner, now_ms, until_ms).await
    }

    async fn stream_advance(&self, id: &str, owner: Option<&str>, seq: u64) -> Result<bool> {
        self.advance(id, owner, seq).await
    }

    async fn stream_failed(&self, id: &str, error: &str, pause_after: u32) -> Result<u32> {
        self.failed(id, error, pause_after).await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        self.keys().await
    }

    async fn add_signing_key(&self, key: &SigningKey) -> Result<()> {
        self.key_add(key).await
    }
}
