//! Updating a user or group (PUT and PATCH): the read-modify-write of `Store::modify`,
//! in one of two ways with the same outcome.
//!
//! - **Locked**: a transaction locks the row, the modifier makes the change from it, and
//!   the change is written in the same transaction. Groups always go this way (member
//!   operations write other rows, and identity providers send many at once to one
//!   group), and so does everything on a backend without data-modifying common table
//!   expressions (SQLite and MySQL).
//! - **Optimistic**, for a user on a backend that writes in one statement (PostgreSQL):
//!   the row is read without a lock or transaction, the modifier makes the change, and one
//!   statement writes it (the `UPDATE`, the e-mail rows and the change-log entry as
//!   `WITH w0 AS (UPDATE ... WHERE version = <read> RETURNING id) ... INSERT INTO
//!   change_log SELECT ... FROM w0`). The statement writes nothing when a concurrent write
//!   moved the row on after the read; the update then starts again from a fresh read (and,
//!   after [`OPTIMISTIC_TRIES`], takes the locked way). Two round trips instead of a
//!   transaction's six (`BEGIN`, lock, groups, `UPDATE`, log, `COMMIT`).
//!
//! Either way the modifier sees the stored state the write is conditional on, a change is
//! written with its change-log entry or not at all, and the version goes up by one.

use super::change_log::{Detail, Entry};
use super::columns::{Cols, cols, cols_lenient, sanitize, stored_key};
use super::conn::{Exec, Txn};
use super::filter::{T, col};
use super::outcome::db_err;
use super::resources::{self, locked_live_row};
use super::rows::Row;
use super::shapes::{Shape, Stmt};
use super::store::SqlStore;
use super::values::now;
use crate::sql::change_log;
use crate::{Change, ChangeOp, MemberOp, Modifier, ReadOptions, Result, StoreError, Stored};
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{
    CommonTableExpression, Expr, ExprTrait, OnConflict, Query as Q, UpdateStatement, WithClause,
};
use serde_json::{Map, Value};

/// Optimistic attempts before an update takes the locked way: only writes to the same
/// user racing each other use more than one.
const OPTIMISTIC_TRIES: usize = 3;

/// The most e-mail values (kept plus added) an optimistic write binds; a longer list is
/// written by the locked way in chunks.
const ONE_STATEMENT_EMAILS: usize = 64;

pub(super) async fn modify(
    store: &SqlStore,
    org: OrganizationSid,
    kind: ResourceKind,
    id: &str,
    expected_version: Option<u64>,
    read: ReadOptions,
    mut modifier: Modifier,
) -> Result<Stored> {
    if kind == ResourceKind::User && store.backend.writes_in_one_statement() {
        for _ in 0..OPTIMISTIC_TRIES {
            match optimistic(store, org, id, expected_version, read, &mut modifier).await? {
                Attempt::Done(stored) => return Ok(stored),
                Attempt::Moved => {}
                Attempt::Locked => break,
            }
        }
    }
    locked(store, org, kind, id, expected_version, read, modifier).await
}

/// The outcome of an optimistic update.
enum Attempt {
    /// Written (or nothing to write).
    Done(Stored),
    /// A concurrent write moved the row on after the read: nothing was written.
    Moved,
    /// This change needs the locked way: nothing was written.
    Locked,
}

/// The row read, the change the modifier made of it, and what both mean for the write.
struct Planned {
    /// The row read, its document moved to `before`.
    row: Row,
    /// The stored state as the modifier saw it: the document read with `id`, `meta` and
    /// the references (see [`RawStored::assemble`](crate::RawStored)).
    before: Stored,
    doc: Map<String, Value>,
    cols: Cols,
    old: Option<Cols>,
    change: Change,
    /// What changed outside the document, for the change log.
    extra: Vec<&'static str>,
    at: String,
}

impl Planned {
    /// The plan, or the current state when the modifier changed nothing. The modifier sees
    /// the row by reference: its document is not copied here (a modifier copies what it
    /// changes).
    fn of(
        mut row: Row,
        refs: Option<Vec<Value>>,
        modifier: &mut Modifier,
    ) -> Result<std::result::Result<Planned, Stored>> {
        let kind = row.kind;
        let old = cols_lenient(kind, &row.doc);
        let before = row.stored_view(refs);
        let mut change = modifier(&before)?;
        if !change.changed {
            return Ok(Err(before));
        }
        let doc = sanitize(kind, std::mem::take(&mut change.resource).into_map());
        let cols = cols(kind, &doc)?;
        let mut extra = Vec::new();
        if !change.members.is_empty() {
            extra.push("members");
        }
        if change.password_hash.is_some() {
            extra.push("password");
        }
        Ok(Ok(Planned { row, before, doc, cols, old, change, extra, at: now() }))
    }

    fn version(&self) -> u64 {
        self.row.version + 1
    }

    fn name_same(&self) -> bool {
        self.old.as_ref().is_some_and(|o| o.name_key == self.cols.name_key)
    }

    fn ext_same(&self) -> bool {
        self.old.as_ref().is_some_and(|o| o.external_id == self.cols.external_id)
    }

    /// Whether the write changes a unique key: only such a key can newly collide (the
    /// unique indexes stay the last word either way).
    fn keys_changed(&self) -> bool {
        !(self.name_same() && self.ext_same())
    }

    /// Which optional columns the `UPDATE` sets. An indexed column is set only when its
    /// value changes: SQLite rewrites the entries of every index on a column an UPDATE
    /// sets, changed or not.
    fn update_shape(&self) -> Shape {
        Shape::Update {
            name_key: !self.name_same(),
            external_id: !self.ext_same(),
            display_name_lower: self.old.as_ref().map(|c| &c.display_name_lower)
                != Some(&self.cols.display_name_lower),
            password: self.change.password_hash.is_some(),
        }
    }

    /// The values of the `UPDATE` in the order it binds them: the new document (as
    /// text), its columns, and the row's id, organization and version read.
    fn update_values(&self, org: OrganizationSid) -> Result<Vec<sea_orm::Value>> {
        let Shape::Update { name_key, external_id, display_name_lower, password } =
            self.update_shape()
        else {
            return Err(StoreError::Internal("not an update shape".into()));
        };
        let cols = &self.cols;
        let text =
            serde_json::to_string(&self.doc).map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut v: Vec<sea_orm::Value> = Vec::with_capacity(12);
        v.extend([
            text.into(),
            cols.display.clone().into(),
            cols.active.into(),
            self.at.clone().into(),
            i64::try_from(self.version()).unwrap_or(i64::MAX).into(),
        ]);
        if name_key {
            v.push(cols.name_key.clone().into());
        }
        if external_id {
            v.push(cols.external_id.clone().into());
        }
        if display_name_lower {
            v.push(cols.display_name_lower.clone().into());
        }
        if password && let Some(hash) = &self.change.password_hash {
            v.push(hash.clone().into());
        }
        v.extend([
            self.row.id.clone().into(),
            org.to_string().into(),
            i64::try_from(self.row.version).unwrap_or(i64::MAX).into(),
        ]);
        Ok(v)
    }

    /// The `UPDATE` of the row to the new document, which matches only the row at the
    /// version read; `values` are [`Planned::update_values`], which it binds in order.
    fn update(&self, store: &SqlStore, values: &[sea_orm::Value]) -> Result<UpdateStatement> {
        let Shape::Update { name_key, external_id, display_name_lower, password } =
            self.update_shape()
        else {
            return Err(StoreError::Internal("not an update shape".into()));
        };
        let mut v = values.iter().cloned();
        let mut next = || v.next().ok_or_else(|| StoreError::Internal("update values".into()));
        let doc = match next()? {
            sea_orm::Value::String(Some(text)) => store.backend.doc_value(text.to_string())?,
            _ => return Err(StoreError::Internal("an update's document is not text".into())),
        };
        let mut up = Q::update();
        up.table(T).values([
            ("doc", doc),
            ("display", Expr::val(next()?)),
            ("active", Expr::val(next()?)),
            ("last_modified", Expr::val(next()?)),
            ("version", Expr::val(next()?)),
        ]);
        for (set, column) in [
            (name_key, "name_key"),
            (external_id, "external_id"),
            (display_name_lower, "display_name_lower"),
            (password, "password_hash"),
        ] {
            if set {
                up.value(column, Expr::val(next()?));
            }
        }
        let id = next()?;
        let sea_orm::Value::String(Some(org)) = next()? else {
            return Err(StoreError::Internal("an update's organization is not text".into()));
        };
        up.and_where(col("id").eq(Expr::val(id)))
            .and_where(store.backend.org_beside_ids(col("org"), org.to_string())?)
            .and_where(col("version").eq(Expr::val(next()?)));
        Ok(up)
    }

    /// [`Planned::update`] as a statement to run, its text written once per shape.
    fn update_stmt(&self, store: &SqlStore, org: OrganizationSid) -> Result<Stmt> {
        let values = self.update_values(org)?;
        store.shapes.get_from_values(store.backend.sea(), self.update_shape(), values, |v| {
            self.update(store, v)
        })
    }

    fn emails_changed(&self) -> bool {
        self.old.as_ref().map(|c| &c.emails) != Some(&self.cols.emails)
    }

    /// The change-log entry of the write.
    fn entry(&self, org: OrganizationSid) -> Entry<'_> {
        let kind = self.row.kind;
        let detail = Detail::updated(
            self.before.resource.as_map(),
            |k| stored_key(kind, k),
            &self.doc,
            &self.extra,
            self.cols.external_id.as_ref(),
        );
        Entry {
            org,
            kind: self.row.kind,
            id: &self.row.id,
            op: ChangeOp::Update,
            version: self.version(),
            detail,
            at: &self.at,
        }
    }

    /// The row as written (the update matched it by id and version: no read back).
    fn written(self) -> (Row, Option<Vec<Value>>) {
        let version = self.version();
        let refs = Row::refs_of_view(self.row.kind, self.before);
        let row =
            Row { doc: self.doc, version, last_modified: self.at, deleted: false, ..self.row };
        (row, refs)
    }
}

/// Reads the row without a lock, makes the change, and writes it in one statement that
/// holds only at the version read.
async fn optimistic(
    store: &SqlStore,
    org: OrganizationSid,
    id: &str,
    expected_version: Option<u64>,
    read: ReadOptions,
    modifier: &mut Modifier,
) -> Result<Attempt> {
    let kind = ResourceKind::User;
    let Some(mut raw) = resources::get_raw(store, org, kind, id, read).await? else {
        return Err(StoreError::NotFound(format!("{} '{id}'", kind.name())));
    };
    let refs = raw.refs.take();
    let row = Row::parse(raw)?;
    if let Some(v) = expected_version
        && v != row.version
    {
        return Err(StoreError::PreconditionFailed { current: row.version });
    }
    let plan = match Planned::of(row, refs, modifier)? {
        Ok(plan) => plan,
        Err(unchanged) => return Ok(Attempt::Done(unchanged)),
    };
    // The e-mail rows become the new list: the rows of addresses not in it go, the added
    // ones come (one already there is kept), so the rows end as the document says even if
    // they had drifted from it. A stored document whose columns cannot be read, or a long
    // list (bound parameters), takes the locked way, which rewrites the rows in chunks.
    let Some(old) = plan.old.as_ref() else { return Ok(Attempt::Locked) };
    let emails_changed = plan.emails_changed();
    let added: Vec<String> =
        plan.cols.emails.iter().filter(|e| !old.emails.contains(e)).cloned().collect();
    if emails_changed && plan.cols.emails.len() + added.len() > ONE_STATEMENT_EMAILS {
        return Ok(Attempt::Locked);
    }
    if plan.keys_changed() {
        store.check_unique(&store.db, org, kind, &plan.cols, Some(id)).await?;
    }

    let mut up = plan.update(store, &plan.update_values(org)?)?;
    up.and_where(col("kind").eq(kind.name()))
        .and_where(col("deleted").eq(false))
        .returning_col("id");
    let mut with = WithClause::new();
    with.cte(CommonTableExpression::new().query(up).table_name("w0").to_owned());
    if emails_changed {
        let mut del = Q::delete();
        del.from_table("resource_emails").and_where(
            Expr::col("resource_id").in_subquery(Q::select().column("id").from("w0").to_owned()),
        );
        if !plan.cols.emails.is_empty() {
            del.and_where(Expr::col("value_lower").is_not_in(plan.cols.emails.iter().cloned()));
        }
        with.cte(CommonTableExpression::new().query(del).table_name("w1").to_owned());
        for (i, e) in added.into_iter().enumerate() {
            let mut row = Q::select();
            row.expr(Expr::val(org.to_string())).column("id").expr(Expr::val(e)).from("w0");
            let mut ins = Q::insert();
            ins.into_table("resource_emails")
                .columns(["org", "resource_id", "value_lower"])
                .select_from(row)
                .map_err(|e| StoreError::Internal(e.to_string()))?
                .on_conflict(
                    OnConflict::columns(["resource_id", "value_lower"]).do_nothing().to_owned(),
                );
            with.cte(
                CommonTableExpression::new().query(ins).table_name(format!("e{i}")).to_owned(),
            );
        }
    }
    let mut log_row = Q::select();
    log_row.exprs(plan.entry(org).row(&change_log::context())).from("w0");
    let mut log = Q::insert();
    log.into_table("change_log")
        .columns(change_log::COLUMNS)
        .select_from(log_row)
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    let statement = with.query(log);

    let done = store
        .db
        .execute(&statement)
        .await
        .map_err(|e| store.write_err(e, kind, Some(&plan.cols)))?;
    if done.rows_affected() != 1 {
        return Ok(Attempt::Moved);
    }
    let (row, refs) = plan.written();
    Ok(Attempt::Done(row.into_stored(refs)))
}

/// The live row of `id`, locked for the rest of `txn`, with its `groups` or `members` as
/// `read` asks. A user and its groups come in one statement where the backend aggregates
/// them and the one writer holds the whole database (SQLite: no row lock to take).
async fn locked_row(
    store: &SqlStore,
    txn: &Txn,
    org: OrganizationSid,
    kind: ResourceKind,
    id: &str,
    expected_version: Option<u64>,
    read: ReadOptions,
) -> Result<(Row, Option<Vec<Value>>)> {
    if kind == ResourceKind::User
        && read.groups
        && !store.backend.locks_rows()
        && let Some(found) = store.user_with_groups(txn, org, id).await?
    {
        let mut raw =
            found.ok_or_else(|| StoreError::NotFound(format!("{} '{id}'", kind.name())))?;
        let refs = raw.refs.take();
        let row = Row::parse(raw)?;
        if let Some(v) = expected_version
            && v != row.version
        {
            return Err(StoreError::PreconditionFailed { current: row.version });
        }
        return Ok((row, refs));
    }
    let row = locked_live_row(store, txn, org, kind, id, expected_version).await?;
    let refs = store.refs_of(txn, org, &row, read).await?;
    Ok((row, refs))
}

/// The read-modify-write in one transaction that locks the row first.
async fn locked(
    store: &SqlStore,
    org: OrganizationSid,
    kind: ResourceKind,
    id: &str,
    expected_version: Option<u64>,
    read: ReadOptions,
    mut modifier: Modifier,
) -> Result<Stored> {
    let txn = store.begin().await?;
    let (row, refs) = locked_row(store, &txn, org, kind, id, expected_version, read).await?;
    let mut plan = match Planned::of(row, refs, &mut modifier)? {
        Ok(plan) => plan,
        Err(unchanged) => {
            txn.commit().await.map_err(db_err)?;
            return Ok(unchanged);
        }
    };
    if plan.keys_changed() {
        store.check_unique(&txn, org, kind, &plan.cols, Some(id)).await?;
    }
    let up = plan.update_stmt(store, org)?;
    let done = txn.execute(&up).await.map_err(|e| store.write_err(e, kind, Some(&plan.cols)))?;
    if done.rows_affected() != 1 {
        return Err(StoreError::PreconditionFailed { current: plan.row.version });
    }
    if plan.emails_changed() {
        store.write_emails(&txn, org, id, &plan.cols.emails, true).await?;
    }
    let members = std::mem::take(&mut plan.change.members);
    let mut added = 0u64;
    if kind == ResourceKind::Group && !members.is_empty() {
        for m in &members {
            if let MemberOp::Add(rows) = m {
                added += u64::try_from(rows.len()).unwrap_or(u64::MAX);
            }
        }
        store.apply_members(&txn, org, id, members).await?;
    }
    store.log(&txn, plan.entry(org)).await?;
    let (row, refs) = plan.written();
    // A user's groups are what they were (no write to a user changes them, and the read
    // above ran in this transaction); a group's members are read again.
    let refs = match kind {
        ResourceKind::User => refs,
        ResourceKind::Group => store.refs_of(&txn, org, &row, read).await?,
    };
    let stored = row.into_stored(refs);
    txn.commit().await.map_err(db_err)?;
    store.stats.wrote(store.backend, &store.db, added);
    Ok(stored)
}
