//! Memberships: a group's `members` and a user's `groups` as read, member changes, and the
//! groups a member's delete or restore touches.

use super::conn::Exec;
use super::conn::get;
use super::filter::{T, Translator, col};
use super::outcome::db_err;
use super::rows::{Row, raw_row_with_groups, ref_item};
use super::shapes::{self, Shape};
use super::store::{CHUNK, SqlStore};
use super::values::invalid_value;
use crate::{MemberKind, MemberOp, MemberRow, RawStored, ReadOptions, Result, StoreError, Stored};
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, JoinType, OnConflict, Order, Query as Q, SelectStatement,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

impl SqlStore {
    /// A live user and its groups in one statement, where the backend can aggregate them
    /// (`None`: it cannot, read them apart; `Some(None)`: no such user). One statement is
    /// one read transaction and one round trip instead of two.
    pub(super) async fn user_with_groups<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        id: &str,
    ) -> Result<Option<Option<RawStored>>> {
        if !self.aggregates_groups() {
            return Ok(None);
        }
        let kind = ResourceKind::User;
        let values: Vec<sea_orm::Value> = vec![
            org.to_string().into(),
            false.into(),
            id.into(),
            org.to_string().into(),
            kind.name().into(),
            false.into(),
        ];
        let q = self.shapes.get(self.backend.sea(), Shape::UserWithGroups, values, || {
            let groups = self
                .groups_column(org)?
                .ok_or_else(|| StoreError::Internal("no groups column".into()))?;
            let mut q = self.select_rows()?;
            q.expr_as(groups, Alias::new("refs"))
                .and_where(col("id").eq(id))
                .and_where(self.org_beside_ids(org)?)
                .and_where(col("kind").eq(kind.name()))
                .and_where(col("deleted").eq(false));
            Ok(q)
        })?;
        let Some(row) = c.query_one(&q).await.map_err(db_err)? else {
            return Ok(Some(None));
        };
        Ok(Some(Some(raw_row_with_groups(row)?)))
    }

    /// Whether [`SqlStore::groups_column`] exists on this backend (a check that builds
    /// nothing, for the hot paths).
    pub(super) fn aggregates_groups(&self) -> bool {
        self.backend.groups_aggregate().is_some()
    }

    /// A column of a select from `resources` with the groups of the user in its row: the
    /// live groups' ids and displays as a JSON array of pairs (read by
    /// [`raw_row_with_groups`]), or NULL without groups. `None` on MySQL, whose JSON
    /// aggregates come back in a type the driver does not read as text.
    pub(super) fn groups_column(&self, org: OrganizationSid) -> Result<Option<Expr>> {
        let Some(template) = self.backend.groups_aggregate() else { return Ok(None) };
        let args = vec![Expr::val(org.to_string()), Expr::col((T, "id")), Expr::val(false)];
        Ok(Some(self.backend.cust(template, args)?))
    }

    /// `members` of groups, keyed by group id (live members only, one join).
    pub(super) async fn members_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        groups: &[String],
    ) -> Result<HashMap<String, Vec<Value>>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for chunk in groups.chunks(CHUNK) {
            let mut q = Self::live_memberships(org);
            q.columns([("m", "group_id"), ("m", "member_id"), ("m", "member_type")])
                .column(("r", "display"))
                .and_where(Expr::col(("m", "group_id")).is_in(chunk.iter().cloned()))
                .order_by(("m", "group_id"), Order::Asc)
                .order_by(("m", "member_id"), Order::Asc);
            for r in c.query_all(&q).await.map_err(db_err)? {
                let g: String = get(&r, "group_id")?;
                let item =
                    ref_item(get(&r, "member_id")?, get(&r, "display")?, get(&r, "member_type")?);
                out.entry(g).or_default().push(item);
            }
        }
        Ok(out)
    }

    /// `groups` of users, keyed by user id (direct memberships in live groups).
    pub(super) async fn groups_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        users: &[String],
    ) -> Result<HashMap<String, Vec<Value>>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for chunk in users.chunks(CHUNK) {
            let build = || {
                let mut q = Q::select();
                q.columns([("m", "member_id"), ("m", "group_id")])
                    .column(("r", "display"))
                    .from_as("memberships", "m")
                    .join_as(
                        JoinType::InnerJoin,
                        T,
                        Alias::new("r"),
                        Expr::col(("r", "id")).equals(("m", "group_id")),
                    )
                    .and_where(Expr::col(("m", "org")).eq(org.to_string()))
                    .and_where(Expr::col(("m", "member_id")).is_in(chunk.iter().cloned()))
                    .and_where(Expr::col(("r", "deleted")).eq(false))
                    .order_by(("m", "member_id"), Order::Asc)
                    .order_by(("m", "group_id"), Order::Asc);
                Ok(q)
            };
            let q = match chunk {
                [user] => {
                    let values = vec![org.to_string().into(), user.clone().into(), false.into()];
                    self.shapes.get(self.backend.sea(), Shape::GroupsOfOne, values, build)?
                }
                _ => shapes::Stmt::Built(Box::new(build()?)),
            };
            for r in c.query_all(&q).await.map_err(db_err)? {
                let u: String = get(&r, "member_id")?;
                let item = ref_item(get(&r, "group_id")?, get(&r, "display")?, "direct".into());
                out.entry(u).or_default().push(item);
            }
        }
        Ok(out)
    }

    /// `members` of the groups and `groups` of the users among `items` (kind and id), per
    /// `read`, keyed by id.
    /// Groups over `read.members_limit` go into `omitted`, their members unread.
    pub(super) async fn refs<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        items: impl Iterator<Item = (ResourceKind, &str)>,
        read: ReadOptions,
        omitted: &mut HashSet<String>,
    ) -> Result<HashMap<String, Vec<Value>>> {
        let (mut groups, mut users) = (Vec::new(), Vec::new());
        for (kind, id) in items {
            match kind {
                ResourceKind::Group if read.members => groups.push(id.to_owned()),
                ResourceKind::User if read.groups => users.push(id.to_owned()),
                _ => {}
            }
        }
        if let Some(limit) = read.members_limit {
            let mut within = Vec::with_capacity(groups.len());
            for g in groups {
                if self.has_more_members(c, org, &g, limit).await? {
                    omitted.insert(g);
                } else {
                    within.push(g);
                }
            }
            groups = within;
        }
        let mut out = HashMap::new();
        if !groups.is_empty() {
            out.extend(self.members_of(c, org, &groups).await?);
        }
        if !users.is_empty() {
            out.extend(self.groups_of(c, org, &users).await?);
        }
        Ok(out)
    }

    /// Whether group `g` has more than `limit` live members (reads at most `limit + 1`).
    pub(super) async fn has_more_members<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        g: &str,
        limit: u32,
    ) -> Result<bool> {
        let mut q = Self::live_memberships(org);
        q.column(("m", "member_id"))
            .and_where(Expr::col(("m", "group_id")).eq(g))
            .limit(u64::from(limit) + 1);
        Ok(c.query_all(&q).await.map_err(db_err)?.len() > limit as usize)
    }

    /// Whether `read` fills the references of a resource of `kind`.
    pub(super) fn reads_refs(kind: ResourceKind, read: ReadOptions) -> bool {
        match kind {
            ResourceKind::Group => read.members,
            ResourceKind::User => read.groups,
        }
    }

    /// `FROM memberships m JOIN resources r ON r.id = m.member_id` for `org`'s live members
    /// (a soft-deleted member is not one), columns to be added.
    pub(super) fn live_memberships(org: OrganizationSid) -> SelectStatement {
        let mut q = Q::select();
        q.from_as("memberships", "m")
            .join_as(
                JoinType::InnerJoin,
                T,
                Alias::new("r"),
                Expr::col(("r", "id")).equals(("m", "member_id")),
            )
            .and_where(Expr::col(("m", "org")).eq(org.to_string()))
            .and_where(Expr::col(("r", "deleted")).eq(false));
        q
    }

    /// Rows to [`Stored`], with members/groups per `read`.
    pub(super) async fn stored<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        rows: Vec<Row>,
        read: ReadOptions,
    ) -> Result<Vec<Stored>> {
        let mut omitted = HashSet::new();
        let items = rows.iter().map(|r| (r.kind, r.id.as_str()));
        let mut refs = self.refs(c, org, items, read, &mut omitted).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mine = (Self::reads_refs(r.kind, read) && !omitted.contains(&r.id))
                    .then(|| refs.remove(&r.id).unwrap_or_default());
                r.into_stored(mine)
            })
            .collect())
    }

    /// Rows still as text, with members/groups per `read`.
    pub(super) async fn raw_stored<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        mut rows: Vec<RawStored>,
        read: ReadOptions,
    ) -> Result<Vec<RawStored>> {
        let mut omitted = HashSet::new();
        let items = rows.iter().map(|r| (r.kind, r.id.as_str()));
        let mut refs = self.refs(c, org, items, read, &mut omitted).await?;
        for r in &mut rows {
            if Self::reads_refs(r.kind, read) && !omitted.contains(&r.id) {
                r.refs = Some(refs.remove(&r.id).unwrap_or_default());
            }
        }
        Ok(rows)
    }

    pub(super) async fn one_stored<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        row: Row,
        read: ReadOptions,
    ) -> Result<Stored> {
        let refs = self.refs_of(c, org, &row, read).await?;
        Ok(row.into_stored(refs))
    }

    /// The members (group) or groups (user) of one row, as `read` asks: `None` when they
    /// are not read (or too many for a write's answer).
    pub(super) async fn refs_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        row: &Row,
        read: ReadOptions,
    ) -> Result<Option<Vec<Value>>> {
        if !Self::reads_refs(row.kind, read) {
            return Ok(None);
        }
        let mut omitted = HashSet::new();
        let item = std::iter::once((row.kind, row.id.as_str()));
        let mut refs = self.refs(c, org, item, read, &mut omitted).await?;
        Ok((!omitted.contains(&row.id)).then(|| refs.remove(&row.id).unwrap_or_default()))
    }

    /// The groups that list `member` (a user or a group) in their `members` change when it
    /// leaves or rejoins them (delete, soft delete, restore): their `version` and
    /// `lastModified` move on in the same transaction, each with a change-log entry, so
    /// ETags and conditional requests on those groups see the change. Runs before the
    /// membership rows go.
    pub(super) async fn touch_groups_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        member: &str,
        at: &str,
    ) -> Result<()> {
        let mut groups = Q::select();
        groups
            .column(("memberships", "group_id"))
            .from("memberships")
            .and_where(Expr::col(("memberships", "org")).eq(org.to_string()))
            .and_where(Expr::col(("memberships", "member_id")).eq(member));
        // The live groups that list `member`: the rows to touch, then to log.
        let live_groups = Cond::all()
            .add(self.org_beside_ids(org)?)
            .add(col("kind").eq(ResourceKind::Group.name()))
            .add(col("deleted").eq(false))
            .add(col("id").in_subquery(groups));
        let mut up = Q::update();
        up.table(T)
            .value("version", Expr::col((T, "version")).add(1))
            .value("last_modified", Expr::val(at))
            .cond_where(live_groups.clone());
        if c.execute(&up).await.map_err(db_err)?.rows_affected() == 0 {
            return Ok(());
        }
        let mut rows = Q::select();
        rows.columns([(T, "org"), (T, "kind"), (T, "id")])
            .expr(Expr::val("update"))
            .column((T, "version"))
            .expr(Expr::val(at));
        let ctx = crate::sql::change_log::context();
        rows.expr(Expr::val(ctx.actor))
            .expr(Expr::val(ctx.request_id))
            .expr(Expr::val(ctx.method))
            .expr(Expr::val("members"))
            .column((T, "external_id"))
            .expr(Expr::val(Option::<bool>::None))
            .from(T)
            .cond_where(live_groups);
        let mut ins = Q::insert();
        ins.into_table("change_log")
            .columns(crate::sql::change_log::COLUMNS)
            .select_from(rows)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        c.execute(&ins).await.map_err(db_err)?;
        Ok(())
    }

    /// Applies membership changes to group `group` in order.
    pub(super) async fn apply_members<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        group: &str,
        changes: Vec<MemberOp>,
    ) -> Result<()> {
        let base = |q: &mut sea_orm::sea_query::DeleteStatement| {
            q.from_table("memberships")
                .and_where(Expr::col(("memberships", "org")).eq(org.to_string()))
                .and_where(Expr::col(("memberships", "group_id")).eq(group));
        };
        for change in changes {
            match change {
                MemberOp::Add(rows) => self.add_members(c, org, group, rows).await?,
                MemberOp::Remove(ids) => {
                    for chunk in ids.chunks(CHUNK) {
                        let mut q = Q::delete();
                        base(&mut q);
                        q.and_where(
                            Expr::col(("memberships", "member_id")).is_in(chunk.iter().cloned()),
                        );
                        c.execute(&q).await.map_err(db_err)?;
                    }
                }
                MemberOp::RemoveWhere(f) => {
                    let tr = Translator {
                        backend: self.backend,
                        reg: &self.registry,
                        kind: ResourceKind::Group,
                    };
                    let cond = tr.member_filter(&f)?;
                    let mut q = Q::delete();
                    base(&mut q);
                    q.and_where(cond);
                    c.execute(&q).await.map_err(db_err)?;
                }
                MemberOp::Clear => {
                    let mut q = Q::delete();
                    base(&mut q);
                    c.execute(&q).await.map_err(db_err)?;
                }
                MemberOp::ReplaceAll(rows) => {
                    let mut q = Q::delete();
                    base(&mut q);
                    c.execute(&q).await.map_err(db_err)?;
                    if !rows.is_empty() {
                        self.add_members(c, org, group, rows).await?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn add_members<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        group: &str,
        rows: Vec<MemberRow>,
    ) -> Result<()> {
        let mut seen = HashSet::new();
        let rows: Vec<MemberRow> =
            rows.into_iter().filter(|r| seen.insert(r.value.clone())).collect();
        let missing = |v: &str| {
            invalid_value(format!(
                "member '{}' does not exist in this organization",
                v.chars().take(80).collect::<String>()
            ))
        };
        for chunk in rows.chunks(CHUNK) {
            if let Some(r) = chunk.iter().find(|r| r.value == group) {
                return Err(invalid_value(format!(
                    "group '{}' cannot be a member of itself",
                    r.value
                )));
            }
            // Existence in THIS organization, with the right kind; the error is the same
            // whether the id exists elsewhere or nowhere.
            let mut q = Q::select();
            q.columns([(T, "id"), (T, "kind")])
                .from(T)
                .and_where(self.org_beside_ids(org)?)
                .and_where(col("deleted").eq(false))
                .and_where(col("id").is_in(chunk.iter().map(|r| r.value.clone())));
            let found: HashMap<String, String> = c
                .query_all(&q)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| Ok((get::<String>(r, "id")?, get::<String>(r, "kind")?)))
                .collect::<Result<_>>()?;
            for r in chunk {
                let want = match r.kind {
                    MemberKind::User => "User",
                    MemberKind::Group => "Group",
                };
                if found.get(&r.value).map(String::as_str) != Some(want) {
                    return Err(missing(&r.value));
                }
            }
            // A member already present stays as it is: one statement, no lookup first, and
            // a concurrent add of the same member is not an error.
            let mut ins = Q::insert();
            ins.into_table("memberships")
                .columns(["org", "group_id", "member_id", "member_type"])
                .on_conflict(
                    OnConflict::columns(["group_id", "member_id"])
                        .do_nothing_on(["member_id"])
                        .to_owned(),
                );
            for r in chunk {
                let t = match r.kind {
                    MemberKind::User => "User",
                    MemberKind::Group => "Group",
                };
                ins.values([
                    Expr::val(org.to_string()),
                    Expr::val(group),
                    Expr::val(r.value.clone()),
                    Expr::val(t),
                ])
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            }
            c.execute(&ins).await.map_err(db_err)?;
        }
        Ok(())
    }
}
