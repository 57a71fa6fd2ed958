//! Reading `resources` rows: the row types, the select of a row by id, and the terms every
//! statement by id shares.

use super::conn::take;
use super::conn::{DbRow, Exec};
use super::filter::{T, col};
use super::outcome::db_err;
use super::shapes::Shape;
use super::store::SqlStore;
use super::values::kind_of;
use crate::{RawStored, Result, StoreError, Stored};
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, Query as Q, SelectStatement};
use serde_json::{Map, Value};

/// One `resources` row as read.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) id: String,
    pub(super) kind: ResourceKind,
    pub(super) doc: Map<String, Value>,
    pub(super) version: u64,
    pub(super) created: String,
    pub(super) last_modified: String,
    pub(super) deleted: bool,
}

/// A user's `groups` from the `[[group_id, display], ...]` aggregate of
/// `SqlStore::user_with_groups` (`NULL` when there are none), in group id order as
/// `SqlStore::groups_of` gives them.
pub(super) fn group_refs(json: Option<&str>) -> Result<Vec<Value>> {
    let mut pairs: Vec<(String, Option<String>)> = match json {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| StoreError::Internal(format!("a group list is not JSON: {e}")))?,
        None => Vec::new(),
    };
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(pairs
        .into_iter()
        .map(|(value, display)| ref_item(value, display, "direct".into()))
        .collect())
}

/// One item of a group's `members` or a user's `groups`: `value`, `display` when known,
/// `type`.
pub(super) fn ref_item(value: String, display: Option<String>, kind: String) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), Value::String(value));
    if let Some(d) = display {
        m.insert("display".into(), Value::String(d));
    }
    m.insert("type".into(), Value::String(kind));
    Value::Object(m)
}

/// One `resources` row as read, its document still text.
pub(super) fn raw_row(mut r: DbRow) -> Result<RawStored> {
    raw_fields(&mut r)
}

/// The fields of [`raw_row`], taken out of `r`.
fn raw_fields(r: &mut DbRow) -> Result<RawStored> {
    let version: i64 = take(r, "version")?;
    Ok(RawStored {
        id: take(r, "id")?,
        kind: kind_of(&take::<String>(r, "kind")?)?,
        version: u64::try_from(version).unwrap_or_default(),
        deleted: take(r, "deleted")?,
        created: take(r, "created")?,
        last_modified: take(r, "last_modified")?,
        doc: take(r, "doc")?,
        refs: None,
    })
}

/// [`raw_row`] of a select with a [`SqlStore::groups_column`] named `refs`.
pub(super) fn raw_row_with_groups(mut r: DbRow) -> Result<RawStored> {
    let mut raw = raw_fields(&mut r)?;
    raw.refs = Some(group_refs(take::<Option<String>>(&mut r, "refs")?.as_deref())?);
    Ok(raw)
}

impl Row {
    pub(super) fn from(r: DbRow) -> Result<Row> {
        Row::parse(raw_row(r)?)
    }

    /// The row of `raw`, its document parsed (its `refs` are dropped).
    pub(super) fn parse(raw: RawStored) -> Result<Row> {
        let doc = match serde_json::from_str(&raw.doc) {
            Ok(Value::Object(m)) => m,
            _ => return Err(StoreError::Internal("a stored document is not a JSON object".into())),
        };
        Ok(Row {
            id: raw.id,
            kind: raw.kind,
            doc,
            version: raw.version,
            created: raw.created,
            last_modified: raw.last_modified,
            deleted: raw.deleted,
        })
    }

    /// The document as the API shows it: `schemas`, `id`, the rest, members/groups, `meta`.
    pub(super) fn into_stored(self, refs: Option<Vec<Value>>) -> Stored {
        let raw = RawStored {
            id: self.id,
            kind: self.kind,
            version: self.version,
            deleted: self.deleted,
            created: self.created,
            last_modified: self.last_modified,
            doc: String::new(),
            refs,
        };
        raw.assemble(self.doc)
    }

    /// [`Row::into_stored`] that keeps the row (its document moved out), for a modifier
    /// to see before the row is written again.
    pub(super) fn stored_view(&mut self, refs: Option<Vec<Value>>) -> Stored {
        let raw = RawStored {
            id: self.id.clone(),
            kind: self.kind,
            version: self.version,
            deleted: self.deleted,
            created: self.created.clone(),
            last_modified: self.last_modified.clone(),
            doc: String::new(),
            refs,
        };
        raw.assemble(std::mem::take(&mut self.doc))
    }

    /// The references [`Row::stored_view`] put into `view`'s document (which never holds
    /// them otherwise: see `columns::sanitize`).
    pub(super) fn refs_of_view(kind: ResourceKind, mut view: Stored) -> Option<Vec<Value>> {
        match view.resource.0.shift_remove(scim_core::envelope::refs_attribute(kind)) {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        }
    }
}

impl SqlStore {
    pub(super) fn doc_value(&self, doc: &Map<String, Value>) -> Result<Expr> {
        let text = serde_json::to_string(doc).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.backend.doc_value(text)
    }

    pub(super) fn doc_read(&self) -> Result<Expr> {
        self.backend.doc_read(col("doc"))
    }

    /// `SELECT <row columns> FROM resources`.
    pub(super) fn select_rows(&self) -> Result<SelectStatement> {
        let mut q = Q::select();
        q.columns([
            (T, "id"),
            (T, "kind"),
            (T, "version"),
            (T, "created"),
            (T, "last_modified"),
            (T, "deleted"),
        ])
        .expr_as(self.doc_read()?, Alias::new("doc"))
        .from(T);
        Ok(q)
    }

    pub(super) fn lock(&self, q: &mut SelectStatement) {
        if self.backend.locks_rows() {
            q.lock(LockType::Update);
        }
    }

    /// The `resources` row of `id`.
    pub(super) async fn row_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        id: &str,
        deleted: Option<bool>,
        lock: bool,
    ) -> Result<Option<DbRow>> {
        let mut values: Vec<sea_orm::Value> =
            vec![id.into(), org.to_string().into(), kind.name().into()];
        values.extend(deleted.map(sea_orm::Value::from));
        let q =
            self.shapes.get(self.backend.sea(), Shape::Row { deleted, lock }, values, || {
                let mut q = self.select_rows()?;
                q.and_where(col("id").eq(id))
                    .and_where(self.org_beside_ids(org)?)
                    .and_where(col("kind").eq(kind.name()));
                if let Some(d) = deleted {
                    q.and_where(col("deleted").eq(d));
                }
                if lock {
                    self.lock(&mut q);
                }
                Ok(q)
            })?;
        c.query_one(&q).await.map_err(db_err)
    }

    pub(super) async fn row<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        id: &str,
        deleted: Option<bool>,
        lock: bool,
    ) -> Result<Option<Row>> {
        match self.row_of(c, org, kind, id, deleted, lock).await? {
            Some(r) => Ok(Some(Row::from(r)?)),
            None => Ok(None),
        }
    }

    /// `resources.org = ?` for a statement that also pins `id`, in the backend's form that
    /// leaves the primary key to the planner (see
    /// [`Backend::org_beside_ids`](super::backend::Backend::org_beside_ids)).
    pub(super) fn org_beside_ids(&self, org: OrganizationSid) -> Result<Expr> {
        self.backend.org_beside_ids(col("org"), org.to_string())
    }
}
