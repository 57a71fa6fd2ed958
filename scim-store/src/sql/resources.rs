//! Writing users and groups: create (one or many), read by id, modify, delete, restore, bulk
//! deactivate, and the uniqueness of their keys.

use super::change_log::{self, Detail, Entry};
use super::columns::{Cols, cols, sanitize, tombstone, unique_attr};
use super::conn::get;
use super::conn::{Exec, ExecErr};
use super::filter::{T, col};
use super::outcome::db_err;
use super::rows::{Row, raw_row};
use super::shapes::{Shape, Stmt};
use super::store::{CHUNK, SqlStore};
use super::values::now;
use crate::{ChangeOp, MemberRow, NewResource, RawStored, ReadOptions, Result, StoreError, Stored};
use scim_core::resource::get_ci;
use scim_core::schema::ResourceKind;
use scim_core::sid::{GroupSid, OrganizationSid, UserSid};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, ExprTrait, InsertStatement, Query as Q, WithClause,
    WithQuery,
};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Rows per multi-row `INSERT` into `resources` (14 columns: 7,000 bound parameters, well
/// under SQLite's 32,766 and PostgreSQL's and MySQL's 65,535).
pub(super) const INSERT_ROWS: usize = 500;

/// A resource of a [`Store::create_many`] call, ready to insert.
#[derive(Debug)]
pub(super) struct Prep {
    pub(super) id: String,
    pub(super) doc: Map<String, Value>,
    pub(super) cols: Cols,
    pub(super) members: Vec<MemberRow>,
    pub(super) password_hash: Option<String>,
}

impl SqlStore {
    /// Uniqueness of `userName`/`displayName` and `externalId` within the organization
    /// and kind, among live resources (a soft-deleted one gives its keys up: see
    /// [`tombstone`]).
    pub(super) async fn check_unique<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        cols: &Cols,
        except: Option<&str>,
    ) -> Result<()> {
        let mut checks =
            vec![("name_key", cols.name_key.clone(), unique_attr(kind), cols.name.clone())];
        if let Some(x) = &cols.external_id {
            checks.push(("external_id", x.clone(), "externalId", x.clone()));
        }
        for (column, key, attribute, value) in checks {
            let mut q = Q::select();
            q.column((T, "id"))
                .from(T)
                .and_where(col("org").eq(org.to_string()))
                .and_where(col("kind").eq(kind.name()))
                .and_where(Expr::col((T, column)).eq(key))
                .limit(1);
            if let Some(id) = except {
                q.and_where(col("id").ne(id));
            }
            if c.query_one(&q).await.map_err(db_err)?.is_some() {
                return Err(StoreError::Conflict { attribute: attribute.into(), value });
            }
        }
        Ok(())
    }

    /// A write error: unique violations (a concurrent insert won the race) become a
    /// conflict naming the attribute (and the value, when one resource was written).
    pub(super) fn write_err(
        &self,
        e: ExecErr,
        kind: ResourceKind,
        cols: Option<&Cols>,
    ) -> StoreError {
        if e.is_unique() {
            let msg = e.to_string();
            let unknown = || "(taken by a concurrent write)".to_owned();
            if msg.contains("external_id") {
                return StoreError::Conflict {
                    attribute: "externalId".into(),
                    value: cols.and_then(|c| c.external_id.clone()).unwrap_or_else(unknown),
                };
            }
            return StoreError::Conflict {
                attribute: unique_attr(kind).into(),
                value: cols.map(|c| c.name.clone()).unwrap_or_else(unknown),
            };
        }
        db_err(e)
    }

    /// The error of a failed insert of `preps`: a unique violation names the first taken
    /// key (looked up again outside any transaction), or, when a concurrent writer took
    /// and gave it up again meanwhile, the attribute the violated index names.
    async fn unique_err_of_new(
        &self,
        e: ExecErr,
        org: OrganizationSid,
        kind: ResourceKind,
        preps: &[Prep],
    ) -> StoreError {
        if !e.is_unique() {
            return db_err(e);
        }
        if let Err(conflict) = self.check_unique_many(&self.db, org, kind, preps).await {
            return conflict;
        }
        let one = if preps.len() == 1 { preps.first().map(|p| &p.cols) } else { None };
        self.write_err(e, kind, one)
    }

    /// [`SqlStore::check_unique`] for a batch of new resources, with `create`'s semantics
    /// per resource in input order: against the stored resources (one indexed `IN` query
    /// per chunk and key) and against the earlier resources of the batch.
    pub(super) async fn check_unique_many<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        preps: &[Prep],
    ) -> Result<()> {
        let mut taken: [HashSet<String>; 2] = [HashSet::new(), HashSet::new()];
        for (slot, column) in ["name_key", "external_id"].into_iter().enumerate() {
            let keys: Vec<String> = preps
                .iter()
                .filter_map(|p| {
                    if slot == 0 {
                        Some(p.cols.name_key.clone())
                    } else {
                        p.cols.external_id.clone()
                    }
                })
                .collect();
            for chunk in keys.chunks(CHUNK) {
                let mut q = Q::select();
                q.expr_as(Expr::col((T, column)), Alias::new("k"))
                    .from(T)
                    .and_where(col("org").eq(org.to_string()))
                    .and_where(col("kind").eq(kind.name()))
                    .and_where(Expr::col((T, column)).is_in(chunk.iter().cloned()));
                for r in c.query_all(&q).await.map_err(db_err)? {
                    if let Some(set) = taken.get_mut(slot) {
                        set.insert(get::<String>(&r, "k")?);
                    }
                }
            }
        }
        let [mut names, mut externals] = taken;
        for p in preps {
            if !names.insert(p.cols.name_key.clone()) {
                return Err(StoreError::Conflict {
                    attribute: unique_attr(kind).into(),
                    value: p.cols.name.clone(),
                });
            }
            if let Some(x) = &p.cols.external_id
                && !externals.insert(x.clone())
            {
                return Err(StoreError::Conflict {
                    attribute: "externalId".into(),
                    value: x.clone(),
                });
            }
        }
        Ok(())
    }

    /// One multi-row `INSERT` into `resources`.
    pub(super) fn insert_rows(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        preps: &[Prep],
        at: &str,
    ) -> Result<sea_orm::sea_query::InsertStatement> {
        let mut ins = insert_into_resources();
        for p in preps {
            let values = insert_values(org, kind, p, at)?;
            ins.values(self.insert_exprs(&values)?)
                .map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        Ok(ins)
    }

    /// [`SqlStore::insert_rows`] of one resource as a statement to run, its text written
    /// once.
    pub(super) fn insert_one(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        p: &Prep,
        at: &str,
    ) -> Result<Stmt> {
        let values = insert_values(org, kind, p, at)?;
        self.shapes.get_from_values(self.backend.sea(), Shape::InsertOne, values, |v| {
            let mut ins = insert_into_resources();
            ins.values(self.insert_exprs(v)?).map_err(|e| StoreError::Internal(e.to_string()))?;
            Ok(ins)
        })
    }

    /// The expressions of a row's [`insert_values`]: the document's text as the backend
    /// stores a document, the others bound as they are.
    fn insert_exprs(&self, values: &[sea_orm::Value]) -> Result<Vec<Expr>> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| match (i, v) {
                (DOC_AT, sea_orm::Value::String(Some(text))) => {
                    self.backend.doc_value(text.to_string())
                }
                (DOC_AT, _) => Err(StoreError::Internal("a new document is not text".into())),
                _ => Ok(Expr::val(v.clone())),
            })
            .collect()
    }

    pub(super) async fn write_emails<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        id: &str,
        emails: &[String],
        replace: bool,
    ) -> Result<()> {
        if replace {
            let mut del = Q::delete();
            del.from_table("resource_emails").and_where(Expr::col("resource_id").eq(id));
            c.execute(&del).await.map_err(db_err)?;
        }
        for chunk in emails.chunks(CHUNK) {
            let mut ins = Q::insert();
            ins.into_table("resource_emails").columns(["org", "resource_id", "value_lower"]);
            for e in chunk {
                ins.values([Expr::val(org.to_string()), Expr::val(id), Expr::val(e.clone())])
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
            }
            c.execute(&ins).await.map_err(db_err)?;
        }
        Ok(())
    }
}

/// The columns of a new `resources` row, in the order [`insert_values`] gives them.
const INSERT_COLUMNS: [&str; 14] = [
    "id",
    "org",
    "kind",
    "doc",
    "name_key",
    "display_name_lower",
    "display",
    "external_id",
    "active",
    "created",
    "last_modified",
    "version",
    "deleted",
    "password_hash",
];

/// Where the document is in [`INSERT_COLUMNS`].
const DOC_AT: usize = 3;

/// The change-log entry of the creation of `p`.
fn created<'a>(
    org: OrganizationSid,
    kind: ResourceKind,
    p: &'a Prep,
    at: &'a str,
    detail: Detail,
) -> Entry<'a> {
    Entry { org, kind, id: &p.id, op: ChangeOp::Create, version: 1, at, detail }
}

fn insert_into_resources() -> sea_orm::sea_query::InsertStatement {
    let mut ins = Q::insert();
    ins.into_table(T).columns(INSERT_COLUMNS);
    ins
}

/// The values of a new resource's row, in the order of [`INSERT_COLUMNS`] (the document
/// as JSON text).
fn insert_values(
    org: OrganizationSid,
    kind: ResourceKind,
    p: &Prep,
    at: &str,
) -> Result<Vec<sea_orm::Value>> {
    let text = serde_json::to_string(&p.doc).map_err(|e| StoreError::Internal(e.to_string()))?;
    let cols = &p.cols;
    Ok(vec![
        p.id.clone().into(),
        org.to_string().into(),
        kind.name().into(),
        text.into(),
        cols.name_key.clone().into(),
        cols.display_name_lower.clone().into(),
        cols.display.clone().into(),
        cols.external_id.clone().into(),
        cols.active.into(),
        at.to_owned().into(),
        at.to_owned().into(),
        1i64.into(),
        false.into(),
        p.password_hash.clone().into(),
    ])
}

pub(super) async fn create_many(
    store: &SqlStore,
    org: OrganizationSid,
    kind: ResourceKind,
    new: Vec<NewResource>,
) -> Result<Vec<Stored>> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    // Everything that can fail without the database fails before the transaction.
    let mut preps = Vec::with_capacity(new.len());
    for n in new {
        let id = match kind {
            ResourceKind::User => UserSid::generate().map(|s| s.to_string()),
            ResourceKind::Group => GroupSid::generate().map(|s| s.to_string()),
        }
        .map_err(|e| StoreError::Internal(e.to_string()))?;
        let doc = sanitize(kind, n.resource.into_map());
        let cols = cols(kind, &doc)?;
        preps.push(Prep { id, doc, cols, members: n.members, password_hash: n.password_hash });
    }
    let at = now();
    // What the change log says of each (before the members move out).
    let mut details: Vec<Detail> = preps
        .iter()
        .map(|p| {
            let mut extra = Vec::new();
            if !p.members.is_empty() {
                extra.push("members");
            }
            if p.password_hash.is_some() {
                extra.push("password");
            }
            Detail::created(&p.doc, &extra, p.cols.external_id.as_ref())
        })
        .collect();
    let emails: Vec<(&str, &String)> =
        preps.iter().flat_map(|p| p.cols.emails.iter().map(move |e| (p.id.as_str(), e))).collect();
    let mut email_rows = Vec::new();
    for chunk in emails.chunks(CHUNK) {
        let mut ins = Q::insert();
        ins.into_table("resource_emails").columns(["org", "resource_id", "value_lower"]);
        for (id, e) in chunk {
            ins.values([Expr::val(org.to_string()), Expr::val(*id), Expr::val((*e).clone())])
                .map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        email_rows.push(ins);
    }
    let delta = i64::try_from(preps.len()).unwrap_or(i64::MAX);

    // One resource without members, on a database that runs writes inside common table
    // expressions (PostgreSQL): every row in one statement, atomic on its own, so the
    // create costs one round trip instead of a transaction's six.
    let single = preps.len() == 1 && preps.iter().all(|p| p.members.is_empty());
    if single && store.backend.writes_in_one_statement() && email_rows.len() <= 1 {
        let ctx = change_log::context();
        let mut log = Q::insert();
        log.into_table("change_log").columns(change_log::COLUMNS);
        for (p, detail) in preps.iter().zip(details) {
            log.values(created(org, kind, p, &at, detail).row(&ctx))
                .map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        let mut before = email_rows;
        before.extend(store.count_delta_row(org, kind, delta)?);
        before.push(log);
        let one = one_statement(store.insert_rows(org, kind, &preps, &at)?, before);
        if let Err(e) = store.db.execute(&one).await {
            return Err(store.unique_err_of_new(e, org, kind, &preps).await);
        }
        store.stats.wrote(store.backend, &store.db, 1);
        return answer_created(store, &store.db, org, kind, preps, &at).await;
    }

    let txn = store.begin().await?;
    // The unique indexes decide: a taken key fails the insert, and only then is the
    // batch checked key by key, to name the first conflict (two statements fewer per
    // create than checking first: creates that conflict are the rare ones).
    for chunk in preps.chunks(INSERT_ROWS) {
        let done = match chunk {
            [one] => txn.execute(&store.insert_one(org, kind, one, &at)?).await,
            _ => txn.execute(&store.insert_rows(org, kind, chunk, &at)?).await,
        };
        if let Err(e) = done {
            // Look outside the (now unusable on PostgreSQL) transaction.
            drop(txn);
            return Err(store.unique_err_of_new(e, org, kind, &preps).await);
        }
    }
    for ins in &email_rows {
        txn.execute(ins).await.map_err(db_err)?;
    }
    if kind == ResourceKind::Group {
        for p in &mut preps {
            let members = std::mem::take(&mut p.members);
            if !members.is_empty() {
                store.add_members(&txn, org, &p.id, members).await?;
            }
        }
    }
    store.count_delta(&txn, org, kind, delta).await?;
    if let [p] = preps.as_slice() {
        // One entry: its statement's text is written once (`SqlStore::log`).
        store.log(&txn, created(org, kind, p, &at, details.pop().unwrap_or_default())).await?;
    } else {
        let ctx = change_log::context();
        let mut details = details.into_iter();
        for chunk in preps.chunks(CHUNK) {
            let mut ins = Q::insert();
            ins.into_table("change_log").columns(change_log::COLUMNS);
            for p in chunk {
                let detail = details.next().unwrap_or_default();
                ins.values(created(org, kind, p, &at, detail).row(&ctx))
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
            }
            txn.execute(&ins).await.map_err(db_err)?;
        }
    }
    let stored = answer_created(store, &txn, org, kind, preps, &at).await?;
    txn.commit().await.map_err(db_err)?;
    store.stats.wrote(store.backend, &store.db, u64::try_from(stored.len()).unwrap_or(u64::MAX));
    Ok(stored)
}

/// `first` and `then` as one statement: each after the first a data-modifying common table
/// expression (`WITH w0 AS (INSERT ...), ... INSERT ...`), `first` included among them.
/// PostgreSQL runs each exactly once, all or none.
fn one_statement(first: InsertStatement, then: Vec<InsertStatement>) -> WithQuery {
    let mut all = vec![first];
    all.extend(then);
    let mut with = WithClause::new();
    // The last one is the main statement; every other is a CTE.
    let last = all.pop().unwrap_or_else(Q::insert);
    for (i, w) in all.into_iter().enumerate() {
        with.cte(CommonTableExpression::new().query(w).table_name(format!("w{i}")).to_owned());
    }
    with.query(last)
}

/// The resources just created, as written: answered from memory, reading only the
/// members of groups (through `c`, inside the write's transaction when there is one).
async fn answer_created<C: Exec>(
    store: &SqlStore,
    c: &C,
    org: OrganizationSid,
    kind: ResourceKind,
    preps: Vec<Prep>,
    at: &str,
) -> Result<Vec<Stored>> {
    let rows: Vec<Row> = preps
        .into_iter()
        .map(|p| Row {
            id: p.id,
            kind,
            doc: p.doc,
            version: 1,
            created: at.to_owned(),
            last_modified: at.to_owned(),
            deleted: false,
        })
        .collect();
    let read = ReadOptions { members: kind == ResourceKind::Group, ..ReadOptions::default() };
    store.stored(c, org, rows, read).await
}

pub(super) async fn get_raw(
    store: &SqlStore,
    org: OrganizationSid,
    kind: ResourceKind,
    id: &str,
    read: ReadOptions,
) -> Result<Option<RawStored>> {
    if kind == ResourceKind::User
        && read.groups
        && let Some(raw) = store.user_with_groups(&store.db, org, id).await?
    {
        return Ok(raw);
    }
    let Some(row) = store.row_of(&store.db, org, kind, id, Some(false), false).await? else {
        return Ok(None);
    };
    let mut raw = raw_row(row)?;
    if SqlStore::reads_refs(kind, read) {
        let mut omitted = HashSet::new();
        let items = std::iter::once((kind, id));
        let mut refs = store.refs(&store.db, org, items, read, &mut omitted).await?;
        if !omitted.contains(id) {
            raw.refs = Some(refs.remove(id).unwrap_or_default());
        }
    }
    Ok(Some(raw))
}

/// The live row of `id`, locked for the rest of `txn`, at `expected_version` when one is
/// given (else [`StoreError::PreconditionFailed`] with the current version).
pub(super) async fn locked_live_row<C: Exec>(
    store: &SqlStore,
    txn: &C,
    org: OrganizationSid,
    kind: ResourceKind,
    id: &str,
    expected_version: Option<u64>,
) -> Result<Row> {
    let row = store
        .row(txn, org, kind, id, Some(false), true)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("{} '{id}'", kind.name())))?;
    if let Some(v) = expected_version
        && v != row.version
    {
        return Err(StoreError::PreconditionFailed { current: row.version });
    }
    Ok(row)
}

pub(super) async fn delete(
    store: &SqlStore,
    org: OrganizationSid,
    kind: ResourceKind,
    id: &str,
    expected_version: Option<u64>,
    soft: bool,
) -> Result<()> {
    let txn = store.begin().await?;
    let row = locked_live_row(store, &txn, org, kind, id, expected_version).await?;
    let at = now();
    let version = row.version + 1;
    store.touch_groups_of(&txn, org, id, &at).await?;
    if soft {
        let mut doc = row.doc;
        let mut up = Q::update();
        if kind == ResourceKind::User {
            doc.insert("active".into(), Value::Bool(false));
            up.value("active", Expr::val(false));
        }
        // RFC 7644 3.6: a deleted resource is not in conflict with a new one, so its
        // unique keys give way (the document keeps them for a restore).
        up.table(T)
            .values([
                ("doc", store.doc_value(&doc)?),
                ("name_key", Expr::val(tombstone(id))),
                ("external_id", Expr::val(Option::<String>::None)),
                ("deleted", Expr::val(true)),
                ("deleted_at", Expr::val(at.clone())),
                ("last_modified", Expr::val(at.clone())),
                ("version", Expr::val(i64::try_from(version).unwrap_or(i64::MAX))),
            ])
            .and_where(col("id").eq(id))
            .and_where(store.org_beside_ids(org)?);
        txn.execute(&up).await.map_err(db_err)?;
    } else {
        // Memberships both ways: the resource out of its groups, and its own members
        // (two statements, so each uses its index rather than an OR over both).
        for end in ["member_id", "group_id"] {
            let mut q = Q::delete();
            q.from_table("memberships")
                .and_where(Expr::col("org").eq(org.to_string()))
                .and_where(Expr::col(end).eq(id));
            txn.execute(&q).await.map_err(db_err)?;
        }
        let mut q = Q::delete();
        q.from_table("resource_emails").and_where(Expr::col("resource_id").eq(id));
        txn.execute(&q).await.map_err(db_err)?;
        let mut q = Q::delete();
        q.from_table(T).and_where(Expr::col("id").eq(id)).and_where(store.org_beside_ids(org)?);
        txn.execute(&q).await.map_err(db_err)?;
    }
    store.count_delta(&txn, org, kind, -1).await?;
    store
        .log(
            &txn,
            Entry {
                org,
                kind,
                id,
                op: ChangeOp::Delete,
                version,
                detail: Detail::default(),
                at: &at,
            },
        )
        .await?;
    txn.commit().await.map_err(db_err)?;
    Ok(())
}

pub(super) async fn restore(
    store: &SqlStore,
    org: OrganizationSid,
    kind: ResourceKind,
    id: &str,
) -> Result<Stored> {
    let txn = store.begin().await?;
    let row = store
        .row(&txn, org, kind, id, Some(true), true)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("deleted {} '{id}'", kind.name())))?;
    let at = now();
    let version = row.version + 1;
    // The keys come back from the document, unless a live resource took them meanwhile.
    let keys = cols(kind, &row.doc)?;
    store.check_unique(&txn, org, kind, &keys, Some(id)).await?;
    let mut up = Q::update();
    up.table(T)
        .values([
            ("name_key", Expr::val(keys.name_key.clone())),
            ("external_id", Expr::val(keys.external_id.clone())),
            ("deleted", Expr::val(false)),
            ("deleted_at", Expr::val(Option::<String>::None)),
            ("last_modified", Expr::val(at.clone())),
            ("version", Expr::val(i64::try_from(version).unwrap_or(i64::MAX))),
        ])
        .and_where(col("id").eq(id))
        .and_where(store.org_beside_ids(org)?);
    txn.execute(&up).await.map_err(|e| store.write_err(e, kind, Some(&keys)))?;
    store.touch_groups_of(&txn, org, id, &at).await?;
    let detail = Detail { external_id: keys.external_id.clone(), ..Detail::default() };
    store.count_delta(&txn, org, kind, 1).await?;
    store
        .log(&txn, Entry { org, kind, id, op: ChangeOp::Restore, version, detail, at: &at })
        .await?;
    let row = store
        .row(&txn, org, kind, id, Some(false), false)
        .await?
        .ok_or_else(|| StoreError::Internal("restored row not found".into()))?;
    let stored = store.one_stored(&txn, org, row, ReadOptions::ALL).await?;
    txn.commit().await.map_err(db_err)?;
    Ok(stored)
}

pub(super) async fn deactivate_users(
    store: &SqlStore,
    org: OrganizationSid,
    ids: &[UserSid],
) -> Result<Vec<Stored>> {
    // The ids as the `id` column holds them, each once, in the order given.
    let mut seen = HashSet::new();
    let ids: Vec<String> =
        ids.iter().filter(|i| seen.insert(**i)).map(UserSid::to_string).collect();
    let txn = store.begin().await?;
    let mut rows: HashMap<String, Row> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = store.select_rows()?;
        q.and_where(store.org_beside_ids(org)?)
            .and_where(col("kind").eq(ResourceKind::User.name()))
            .and_where(col("deleted").eq(false))
            .and_where(col("id").is_in(chunk.iter().map(|s| s.to_string())));
        store.lock(&mut q);
        for r in txn.query_all(&q).await.map_err(db_err)? {
            let row = Row::from(r)?;
            rows.insert(row.id.clone(), row);
        }
    }
    let unknown: Vec<String> =
        ids.iter().filter(|i| !rows.contains_key(i.as_str())).map(|s| s.to_string()).collect();
    if !unknown.is_empty() {
        return Err(StoreError::UnknownIds(unknown));
    }
    let at = now();
    let mut out = Vec::with_capacity(ids.len());
    for id in &ids {
        let Some(mut row) = rows.remove(id.as_str()) else { continue };
        if get_ci(&row.doc, "active").and_then(Value::as_bool) != Some(false) {
            row.doc.retain(|k, _| !k.eq_ignore_ascii_case("active"));
            row.doc.insert("active".into(), Value::Bool(false));
            row.version += 1;
            row.last_modified = at.clone();
            let mut up = Q::update();
            up.table(T)
                .values([
                    ("doc", store.doc_value(&row.doc)?),
                    ("active", Expr::val(false)),
                    ("last_modified", Expr::val(at.clone())),
                    ("version", Expr::val(i64::try_from(row.version).unwrap_or(i64::MAX))),
                ])
                .and_where(col("id").eq(id.as_str()))
                .and_where(col("org").eq(org.to_string()));
            txn.execute(&up).await.map_err(db_err)?;
            let detail = Detail {
                attrs: Some("active".into()),
                external_id: get_ci(&row.doc, "externalId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                active: Some(false),
            };
            let (kind, op) = (ResourceKind::User, ChangeOp::Update);
            store
                .log(&txn, Entry { org, kind, id, op, version: row.version, detail, at: &at })
                .await?;
        }
        out.push(row.into_stored(None));
    }
    txn.commit().await.map_err(db_err)?;
    Ok(out)
}
