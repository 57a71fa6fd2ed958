//! The plain data types of the store's public API (no sea-orm types here).

use scim_core::envelope::Envelope;
use scim_core::filter::Filter;
use scim_core::message::SortOrder;
use scim_core::path::AttrPath;
pub use scim_core::policy::Policy;
use scim_core::resource::Resource;
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use scim_core::{ErrorCode, ScimError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// The organization's sid.
    pub sid: OrganizationSid,
    /// Its name.
    pub name: String,
    /// Its policies.
    pub policies: Vec<Policy>,
    /// Creation time, RFC 3339.
    pub created: String,
}

impl Organization {
    /// Whether the organization has `policy`.
    pub fn has(&self, policy: Policy) -> bool {
        self.policies.contains(&policy)
    }
}

/// A permission carried by a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// GET and searches.
    #[serde(rename = "scim:read")]
    Read,
    /// Everything that changes data.
    #[serde(rename = "scim:write")]
    Write,
    /// The admin HTTP API (`/admin/v1`), over every organization. Never granted together
    /// with a SCIM scope, so an admin credential reaches no SCIM route.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Both SCIM scopes (`admin` is not among them: it is granted only on its own).
    pub const ALL: &'static [Scope] = &[Scope::Read, Scope::Write];

    /// The wire name (`scim:read`, `scim:write`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "scim:read",
            Self::Write => "scim:write",
            Self::Admin => "admin",
        }
    }

    /// Parses a wire name (`scim:read`, `scim:write` or `admin`).
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Read, Self::Write, Self::Admin].into_iter().find(|x| x.name() == s)
    }
}

/// A static bearer token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The organization it grants.
    pub org: OrganizationSid,
    /// A label.
    pub name: Option<String>,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// When it stops working, RFC 3339; `None`: never.
    pub expires: Option<String>,
}

/// How much of the change log, the idempotency records and the soft-deleted resources
/// [`crate::Store::prune`] keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Change-log rows older than this go (`None`: kept whatever their age).
    pub change_log_max_age: Option<time::Duration>,
    /// At most this many change-log rows are kept, the newest (`None`: no count limit).
    pub change_log_max_rows: Option<u64>,
    /// Soft-deleted users and groups deleted this long ago are purged for good, with their
    /// memberships (`None`: kept until restored).
    pub soft_deleted_max_age: Option<time::Duration>,
    /// Rows deleted per table and call, at most (1 to 10,000).
    pub batch: u64,
}

impl Default for Retention {
    /// Seven days and a million rows of change log, soft-deleted resources kept, batches
    /// of 1,000.
    fn default() -> Self {
        Self {
            change_log_max_age: Some(time::Duration::days(7)),
            change_log_max_rows: Some(1_000_000),
            soft_deleted_max_age: None,
            batch: 1000,
        }
    }
}

/// Rows one [`crate::Store::prune`] call deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Change-log rows.
    pub change_log: u64,
    /// Idempotency records (older than their 24 hours).
    pub idempotency: u64,
    /// Soft-deleted users and groups purged.
    pub soft_deleted: u64,
    /// Count delta rows folded into their sums (PostgreSQL and MySQL).
    pub count_deltas: u64,
}

/// What [`crate::Store::bootstrap`] created, when it was the caller that did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The first organization.
    pub org: Organization,
    /// Its token.
    pub token: TokenRecord,
}

/// A stored static bearer token (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Token id (`TK` + 32 hex), used to revoke it.
    pub id: String,
    /// The organization it grants.
    pub org: OrganizationSid,
    /// A label.
    pub name: Option<String>,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// Creation time, RFC 3339.
    pub created: String,
    /// When it stops working, RFC 3339; `None`: never.
    pub expires: Option<String>,
    /// When it was last used, RFC 3339, to the minute (recorded at most once a minute).
    pub last_used: Option<String>,
}

/// What an organization holds (live and soft-deleted resources alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrgContents {
    /// Users.
    pub users: u64,
    /// Groups.
    pub groups: u64,
    /// Live tokens.
    pub tokens: u64,
    /// Live OAuth2 clients granted on it.
    pub clients: u64,
}

/// The outcome of [`crate::Store::delete_organization`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgDeletion {
    /// Deleted, with everything it held.
    Deleted(OrgContents),
    /// Not deleted: it holds users or groups and the call asked for an empty one.
    NotEmpty(OrgContents),
    /// No such organization.
    NotFound,
}

/// An OAuth2 client to create.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// The public client id.
    pub client_id: String,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// The organizations it is granted on (at least one).
    pub orgs: Vec<OrganizationSid>,
    /// Its scopes.
    pub scopes: Vec<Scope>,
}

/// A stored OAuth2 client (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The public client id.
    pub client_id: String,
    /// The organizations it is granted on.
    pub orgs: Vec<OrganizationSid>,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// Creation time, RFC 3339.
    pub created: String,
}

pub use scim_core::patch::MemberOp;
pub use scim_core::resource::{MemberKind, MemberRow};

/// A resource to create.
#[derive(Debug, Clone)]
pub struct NewResource {
    /// The validated document, without `id` and `meta` (the store sets them) and without
    /// `members`/`groups` (rows) and `password` (hashed, below).
    pub resource: Resource,
    /// Initial members (groups only).
    pub members: Vec<MemberRow>,
    /// The password hash to keep outside the document.
    pub password_hash: Option<String>,
}

/// What to load with a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// Fill `members` of groups from the membership rows.
    pub members: bool,
    /// Fill `groups` of users from the membership rows.
    pub groups: bool,
    /// With `members`: leave `members` out (`None`) of a group that has more live members
    /// than this, without reading them (the answer to a member change on a large group).
    pub members_limit: Option<u32>,
}

impl ReadOptions {
    /// Load everything.
    pub const ALL: ReadOptions = ReadOptions { members: true, groups: true, members_limit: None };
}

/// A stored resource as read: the document with `id` and `meta` (`resourceType`,
/// `created`, `lastModified`, `version` = `W/"<n>"`; no `location`, which depends on the
/// request's route family) and, per [`ReadOptions`], `members`/`groups`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The document.
    pub resource: Resource,
    /// The resource's id.
    pub id: String,
    /// The version, bumped by every write.
    pub version: u64,
    /// Whether it is soft-deleted (only visible to `restore`).
    pub deleted: bool,
}

/// A stored resource as read, before its document is parsed: what a response renders
/// from without building a tree of the whole document (see
/// `scim_core::projection::Projector::write`). [`RawStored::parse`] gives the [`Stored`].
#[derive(Debug, Clone, PartialEq)]
pub struct RawStored {
    /// The resource's id.
    pub id: String,
    /// Its kind.
    pub kind: ResourceKind,
    /// The version, bumped by every write.
    pub version: u64,
    /// Whether it is soft-deleted.
    pub deleted: bool,
    /// `meta.created`.
    pub created: String,
    /// `meta.lastModified`.
    pub last_modified: String,
    /// The stored document, a JSON object: the resource without `id`, `meta`, `members`
    /// and `groups`.
    pub doc: String,
    /// `members` (groups) or `groups` (users) per [`ReadOptions`], each
    /// `{"value", "display"?, "type"}`; `None` when not read.
    pub refs: Option<Vec<Value>>,
}

impl RawStored {
    /// The name of the attribute [`RawStored::refs`] fills.
    pub fn refs_attribute(&self) -> &'static str {
        scim_core::envelope::refs_attribute(self.kind)
    }

    /// `id` and `meta` as the API shows them (`meta` without `location`).
    pub fn envelope(&self) -> Envelope {
        Envelope::stored(
            self.kind,
            self.id.clone(),
            self.created.clone(),
            self.last_modified.clone(),
            self.version,
        )
    }

    /// The envelope ([`RawStored::envelope`]), the document and the references, moved out
    /// rather than copied.
    pub fn split(self) -> (Envelope, String, Option<Vec<Value>>) {
        let envelope =
            Envelope::stored(self.kind, self.id, self.created, self.last_modified, self.version);
        (envelope, self.doc, self.refs)
    }

    /// Parses the document into a [`Stored`]: `schemas`, `id`, the rest of the document,
    /// `members`/`groups` when read, `meta`.
    pub fn parse(self) -> crate::Result<Stored> {
        let doc = match serde_json::from_str(&self.doc) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(StoreError::Internal("a stored document is not a JSON object".into()));
            }
        };
        Ok(self.assemble(doc))
    }

    /// [`RawStored::parse`] with the document already parsed.
    pub(crate) fn assemble(self, doc: Map<String, Value>) -> Stored {
        let key = self.refs_attribute();
        let (id, version, deleted) = (self.id.clone(), self.version, self.deleted);
        let (envelope, _, refs) = self.split();
        let resource = envelope.wrap(doc, refs.map(|r| (key, r)));
        Stored { resource, id, version, deleted }
    }
}

/// One page of results before their documents are parsed (see [`RawStored`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RawPage {
    /// The resources.
    pub resources: Vec<RawStored>,
    /// Total matches (index pagination always; cursor pagination too).
    pub total_results: u64,
    /// RFC 9865: cursor of the next page, `None` on the last page.
    pub next_cursor: Option<String>,
}

impl RawPage {
    /// Parses every document (see [`RawStored::parse`]).
    pub fn parse(self) -> crate::Result<Page> {
        Ok(Page {
            resources: self
                .resources
                .into_iter()
                .map(RawStored::parse)
                .collect::<Result<_, _>>()?,
            total_results: self.total_results,
            next_cursor: self.next_cursor,
        })
    }
}

/// The outcome of a [`Modifier`](crate::Modifier).
#[derive(Debug, Clone)]
pub struct Change {
    /// The new document (`id`/`meta` are reset by the store).
    pub resource: Resource,
    /// Membership row changes (groups).
    pub members: Vec<MemberOp>,
    /// `Some(hash)` to set the password hash, `Some(None)` to clear it.
    pub password_hash: Option<Option<String>>,
    /// False when nothing changed: no write, no version bump.
    pub changed: bool,
}

/// How to paginate a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pagination {
    /// RFC 7644 index pagination: 1-based `start_index`, page size `count` (0 = only the
    /// total).
    Index {
        /// 1-based index.
        start_index: u64,
        /// Page size.
        count: u64,
    },
    /// RFC 9865 cursor pagination; `None` asks for the first page.
    Cursor {
        /// The cursor from a previous page's `nextCursor`.
        cursor: Option<String>,
        /// Page size.
        count: u64,
    },
}

/// A query over one resource type of one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The filter, already parsed.
    pub filter: Option<Filter>,
    /// The attribute to sort by (singular attributes; default: creation order).
    pub sort_by: Option<AttrPath>,
    /// The direction.
    pub sort_order: SortOrder,
    /// The page.
    pub pagination: Pagination,
    /// What to load with each resource.
    pub read: ReadOptions,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The resources.
    pub resources: Vec<Stored>,
    /// Total matches (index pagination always; cursor pagination too).
    pub total_results: u64,
    /// RFC 9865: cursor of the next page, `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A recorded answer of an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentAnswer {
    /// HTTP status.
    pub status: u16,
    /// Response headers worth replaying (`Location`, `ETag`, `Content-Type`).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new and now claimed by this request.
    Claimed,
    /// The first request with this key is still running.
    InFlight,
    /// The same request ran before: replay its answer.
    Replay(IdempotentAnswer),
    /// The key was used with a different request.
    Mismatch,
}

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeOp {
    /// Created.
    Create,
    /// Replaced or patched.
    Update,
    /// Deleted (or soft-deleted).
    Delete,
    /// Restored after a soft delete.
    Restore,
}

/// One change-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Monotonic sequence number within the store.
    pub seq: u64,
    /// User or group.
    pub kind: scim_core::schema::ResourceKind,
    /// The resource id.
    pub id: String,
    /// What happened.
    pub op: ChangeOp,
    /// The version after the change.
    pub version: u64,
    /// When, RFC 3339.
    pub at: String,
    /// The credential that made the change, when it came through a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The request's id, when it came through a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The request's HTTP method (`PUT` or `PATCH` tell an update's event apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The top-level attributes the change set or removed (`members` for membership
    /// changes, `password` for a new password; never values). Empty for a delete, and for
    /// changes logged before this was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The resource's `externalId` after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `Some(new value)` when the change switched a user's `active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such resource (or organization) in this organization.
    #[error("{0} not found")]
    NotFound(String),
    /// A bulk deactivate named unknown ids.
    #[error("unknown ids: {}", .0.join(", "))]
    UnknownIds(Vec<String>),
    /// A unique attribute is taken.
    #[error("{attribute} '{value}' is taken")]
    Conflict {
        /// The attribute (`userName`, `externalId`, `displayName`).
        attribute: String,
        /// The value as given.
        value: String,
    },
    /// The expected version is not the current one.
    #[error("version mismatch: the resource is at version {current}")]
    PreconditionFailed {
        /// The current version.
        current: u64,
    },
    /// A cursor is malformed, tampered with, or for another query/organization.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// A cursor has expired.
    #[error("the cursor has expired")]
    ExpiredCursor,
    /// A SCIM-level rejection (from a modifier, a filter that cannot be translated, an
    /// unknown member).
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// The database cannot be reached (refused or timed-out connection, pool exhausted):
    /// worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database cannot be opened for a reason retrying cannot fix: an unknown URL
    /// scheme, a database that does not exist, rejected credentials. The message says why
    /// and never contains a password.
    #[error("{0}")]
    Connect(String),
    /// Anything else (a bug or a broken database); the detail is for logs only.
    #[error("internal store error: {0}")]
    Internal(String),
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => {
                ScimError::new(ErrorCode::ResourceNotFound, format!("{what} not found"))
            }
            StoreError::UnknownIds(ids) => ScimError::new(
                ErrorCode::ResourceNotFound,
                format!("no such users: {}", ids.join(", ")),
            ),
            StoreError::Conflict { attribute, value } => {
                ScimError::new(ErrorCode::Uniqueness, format!("{attribute} '{value}' is taken"))
            }
            StoreError::PreconditionFailed { current } => ScimError::new(
                ErrorCode::PreconditionFailed,
                format!(
                    "the resource has changed: current version is {}",
                    scim_core::etag::ETag(current)
                ),
            ),
            StoreError::InvalidCursor(why) => ScimError::new(ErrorCode::InvalidCursor, why),
            StoreError::ExpiredCursor => {
                ScimError::new(ErrorCode::ExpiredCursor, "the cursor has expired; start again")
            }
            StoreError::Scim(e) => e,
            StoreError::Unavailable(_) | StoreError::Connect(_) => {
                ScimError::new(ErrorCode::Unavailable, "the database is unavailable; retry later")
            }
            StoreError::Internal(_) => ScimError::new(ErrorCode::Internal, "internal error"),
        }
    }
}
