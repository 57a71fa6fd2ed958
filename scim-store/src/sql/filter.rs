//! The scim-core filter AST as sea-query conditions, and sort keys, over the `resources`
//! table. Semantics follow `scim_core::filter::eval` (the in-memory evaluator) so that a
//! filter means the same in the database and in memory:
//!
//! - `ne` is `not eq` (matches an absent attribute); `eq null` is `not pr`;
//! - a multi-valued attribute matches when any element does (`EXISTS` over the JSON array,
//!   or over the `resource_emails` / `memberships` rows for the indexed ones);
//! - strings compare case-insensitively unless the schema says `caseExact` (`LOWER()` on
//!   both sides for JSON values; pre-lowered columns get the value lowered in Rust);
//! - `co`/`sw`/`ew` are `LIKE` with `%`/`_` escaped; `dateTime` values compare as
//!   normalised RFC 3339 text; numbers numerically; values of the wrong JSON type match
//!   nothing; `co`/`sw`/`ew` on a `dateTime` compare its text.
//!
//! Every leaf is guarded with `IS NOT NULL`, so no condition is ever SQL `NULL` and `NOT`
//! is a true negation.

use super::backend::{Backend, like_escape};
use super::values::now_from;
use crate::StoreError;
use scim_core::ScimError;
use scim_core::filter::{CompValue, CompareOp, Filter, compared_attr, resolve_path};
use scim_core::path::AttrPath;
use scim_core::schema::{AttrType, Attribute, Registry, ResolvedAttr, ResourceKind};
use sea_orm::sea_query::{Expr, ExprTrait, Query};

pub(crate) const T: &str = "resources";

pub(crate) fn col(c: &'static str) -> Expr {
    Expr::col((T, c))
}

fn invalid(msg: String) -> StoreError {
    StoreError::Scim(ScimError::invalid_filter(msg))
}

fn never() -> Expr {
    Expr::cust("1 = 0")
}

/// How a text operand handles case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// Compare as stored.
    Exact,
    /// `LOWER()` both sides.
    Lower,
    /// The column holds lowercase text: lower the value in Rust.
    PreLowered,
    /// The column holds resource ids (`US`/`GR` + 32 lowercase hex digits) and the
    /// attribute is not caseExact (`members.value`, `groups.value`): an equality compares
    /// the value in the ids' one spelling (so the index still serves it), anything else
    /// `LOWER()`s both sides.
    Id,
}

/// `s` spelled as the store writes resource ids, when it is one in any case.
fn canonical_id(s: &str) -> String {
    let hex = s.get(2..).filter(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    match (s.get(..2).map(str::to_ascii_uppercase).as_deref(), hex) {
        (Some(p @ ("US" | "GR")), Some(h)) => format!("{p}{}", h.to_ascii_lowercase()),
        _ => s.to_owned(),
    }
}

/// A comparable value in SQL.
#[derive(Debug, Clone)]
enum Operand {
    Text(Expr, Case),
    /// A dateTime in the stored form (a column).
    DateTime(Expr),
    /// A dateTime as a document holds it (any offset).
    JsonDateTime(Expr),
    /// A boolean column.
    BoolCol(Expr),
    /// A JSON boolean read as text (`'true'`/`'false'`).
    BoolText(Expr),
    Number(Expr),
}

/// Where leaves of a (sub-)filter are evaluated.
#[derive(Clone)]
enum Ctx<'a> {
    /// The resource row.
    Resource,
    /// An element of a JSON array (inside `json_any`), of attribute `top`.
    Element { top: &'a AttrPath, elem: Expr },
    /// A `resource_emails` row.
    Emails,
    /// A `memberships` row: `group_side` = the row's group is the resource (`members`),
    /// else the row's member is (`groups`).
    Membership { group_side: bool },
}

/// Translates filters and sort keys of one resource type.
pub(crate) struct Translator<'a> {
    pub(crate) backend: &'a dyn Backend,
    pub(crate) reg: &'a Registry,
    pub(crate) kind: ResourceKind,
}

fn doc() -> Expr {
    col("doc")
}

/// The JSON keys of a resolved attribute (URN key for extensions, attribute, sub).
fn json_keys<'r>(r: &ResolvedAttr<'r>, with_sub: bool) -> Vec<&'r str> {
    let mut keys = Vec::with_capacity(3);
    if r.extension
        && let Some(s) = r.schema
    {
        keys.push(s);
    }
    keys.push(r.attribute.name.as_str());
    if with_sub && let Some(sub) = r.sub_attribute {
        keys.push(sub.name.as_str());
    }
    keys
}

impl<'a> Translator<'a> {
    /// The condition of a whole filter over the `resources` row.
    pub(crate) fn filter(&self, f: &Filter) -> Result<Expr, StoreError> {
        self.tr(f, &Ctx::Resource)
    }

    /// Whether `f` pins its matches through a unique or selective index (an `eq` on `id`,
    /// `externalId`, `userName`, `displayName` or an e-mail value; `and` with one such
    /// side, `or` of two), so that running it visits a handful of rows. Anything else may
    /// visit every row of the organization.
    pub(crate) fn selective(&self, f: &Filter) -> bool {
        match f {
            Filter::And(a, b) => self.selective(a) || self.selective(b),
            Filter::Or(a, b) => self.selective(a) && self.selective(b),
            Filter::Compare(p, CompareOp::Eq, v) if !matches!(v, CompValue::Null) => {
                let Some(r) = compared_attr(p, self.reg, self.kind, None) else { return false };
                if r.extension {
                    return false;
                }
                let sub = r.sub_attribute.map(|s| s.name.as_str());
                matches!(
                    (self.kind, r.attribute.name.as_str(), sub),
                    (_, "id" | "externalId" | "displayName", None)
                        | (ResourceKind::User, "userName", None)
                        | (ResourceKind::User, "emails", None | Some("value"))
                )
            }
            _ => false,
        }
    }

    /// The condition of a `members[...]` value filter over `memberships` rows (for
    /// `MemberOp::RemoveWhere`): paths are `value`, `type`, `display`.
    pub(crate) fn member_filter(&self, f: &Filter) -> Result<Expr, StoreError> {
        self.tr(f, &Ctx::Membership { group_side: true })
    }

    fn tr(&self, f: &Filter, ctx: &Ctx<'_>) -> Result<Expr, StoreError> {
        Ok(match f {
            Filter::And(a, b) => self.tr(a, ctx)?.and(self.tr(b, ctx)?),
            Filter::Or(a, b) => self.tr(a, ctx)?.or(self.tr(b, ctx)?),
            Filter::Not(a) => self.tr(a, ctx)?.not(),
            Filter::Present(p) => self.leaf(p, None, ctx)?,
            Filter::Compare(p, op, v) => match (op, v) {
                (CompareOp::Eq, CompValue::Null) => self.leaf(p, None, ctx)?.not(),
                (CompareOp::Ne, CompValue::Null) => self.leaf(p, None, ctx)?,
                (_, CompValue::Null) => never(),
                (CompareOp::Ne, v) => self.leaf(p, Some((CompareOp::Eq, v)), ctx)?.not(),
                (op, v) => self.leaf(p, Some((*op, v)), ctx)?,
            },
            Filter::ValuePath(p, inner) => self.value_path(p, inner, ctx)?,
        })
    }

    fn value_path(&self, p: &AttrPath, inner: &Filter, ctx: &Ctx<'_>) -> Result<Expr, StoreError> {
        if !matches!(ctx, Ctx::Resource) {
            return Err(invalid(format!("invalid filter: nested value filter in '{p}'")));
        }
        let r = resolve_path(p, self.reg, self.kind, None).ok_or_else(|| {
            invalid(format!(
                "invalid filter: attribute '{p}' is not defined for {} resources",
                self.kind.name()
            ))
        })?;
        if r.attribute.kind != AttrType::Complex || r.sub_attribute.is_some() {
            return Err(invalid(format!("invalid filter: '{p}' is not a complex attribute")));
        }
        match self.special(&r) {
            Some(Special::Emails) if only_value(inner) && needs_value(inner) => {
                self.emails_exists(inner)
            }
            Some(Special::Members) => self.membership_exists(inner, true),
            Some(Special::Groups) => self.membership_exists(inner, false),
            _ => {
                let keys = json_keys(&r, false);
                if !r.attribute.multi_valued {
                    // A singular complex attribute: its sub-attributes are object members.
                    // Without a value there is nothing for the filter to match, not even
                    // `name[not (givenName pr)]`.
                    let elem = self.single_obj(&keys)?;
                    let cond = self.tr(inner, &Ctx::Element { top: p, elem: elem.clone() })?;
                    return Ok(elem.is_not_null().and(cond));
                }
                self.backend
                    .json_any(doc(), &keys, &|elem| self.tr(inner, &Ctx::Element { top: p, elem }))
            }
        }
    }

    /// For `name[givenName eq "x"]`: the object itself stands in for the element.
    fn single_obj(&self, keys: &[&str]) -> Result<Expr, StoreError> {
        self.backend.json_object(doc(), keys)
    }

    fn special(&self, r: &ResolvedAttr<'_>) -> Option<Special> {
        if r.extension || r.schema.is_none() {
            return None;
        }
        let n = r.attribute.name.as_str();
        match (self.kind, n) {
            (ResourceKind::User, "emails") => Some(Special::Emails),
            (ResourceKind::User, "groups") => Some(Special::Groups),
            (ResourceKind::Group, "members") => Some(Special::Members),
            _ => None,
        }
    }

    fn emails_exists(&self, inner: &Filter) -> Result<Expr, StoreError> {
        let cond = self.tr(inner, &Ctx::Emails)?;
        let mut q = Query::select();
        q.expr(Expr::val(1))
            .from("resource_emails")
            .and_where(Expr::col(("resource_emails", "resource_id")).equals((T, "id")))
            .and_where(cond);
        Ok(Expr::exists(q.to_owned()))
    }

    fn membership_exists(&self, inner: &Filter, group_side: bool) -> Result<Expr, StoreError> {
        let cond = self.tr(inner, &Ctx::Membership { group_side })?;
        let mut q = Query::select();
        let own = if group_side { "group_id" } else { "member_id" };
        q.expr(Expr::val(1))
            .from("memberships")
            .and_where(Expr::col(("memberships", own)).equals((T, "id")))
            .and_where(cond);
        Ok(Expr::exists(q.to_owned()))
    }

    /// A leaf: `pred = None` is `pr`, else a comparison.
    fn leaf(
        &self,
        p: &AttrPath,
        pred: Option<(CompareOp, &CompValue)>,
        ctx: &Ctx<'_>,
    ) -> Result<Expr, StoreError> {
        match ctx {
            Ctx::Resource => self.resource_leaf(p, pred),
            Ctx::Element { top, elem } => {
                let r = resolve_path(p, self.reg, self.kind, Some(top)).ok_or_else(|| {
                    invalid(format!("invalid filter: '{p}' is not a sub-attribute of '{top}'"))
                })?;
                let leaf = r.leaf();
                let name = leaf.name.as_str();
                match pred {
                    None => self.backend.json_present(elem.clone(), &[name]),
                    Some((op, v)) => {
                        let o = self.json_operand(elem.clone(), &[name], leaf)?;
                        self.compare(o, op, v)
                    }
                }
            }
            Ctx::Emails => {
                let o =
                    Operand::Text(Expr::col(("resource_emails", "value_lower")), Case::PreLowered);
                match pred {
                    None => Ok(Expr::col(("resource_emails", "value_lower")).ne("")),
                    Some((op, v)) => self.compare(o, op, v),
                }
            }
            Ctx::Membership { group_side } => {
                let sub = if p.sub_attr.is_some()
                    && p.name.eq_ignore_ascii_case(if *group_side { "members" } else { "groups" })
                {
                    p.sub_attr.as_deref().unwrap_or_default()
                } else {
                    p.name.as_str()
                };
                let o = if sub.eq_ignore_ascii_case("value") {
                    let c = if *group_side { "member_id" } else { "group_id" };
                    Operand::Text(Expr::col(("memberships", c)), Case::Id)
                } else if sub.eq_ignore_ascii_case("type") && *group_side {
                    Operand::Text(Expr::col(("memberships", "member_type")), Case::Lower)
                } else if sub.eq_ignore_ascii_case("type") {
                    // A user's `groups` are direct memberships: every one reads back with
                    // `"type": "direct"` (RFC 7643 4.1.2), so that is what they compare.
                    Operand::Text(Expr::val("direct"), Case::Lower)
                } else if sub.eq_ignore_ascii_case("display") {
                    let other = if *group_side { "member_id" } else { "group_id" };
                    let mut q = Query::select();
                    q.column(("rd", "display"))
                        .from_as(T, "rd")
                        .and_where(Expr::col(("rd", "id")).equals(("memberships", other)));
                    Operand::Text(Expr::SubQuery(None, Box::new(q.to_owned().into())), Case::Lower)
                } else {
                    return Err(invalid(format!(
                        "invalid filter: '{p}' cannot be filtered on membership"
                    )));
                };
                match pred {
                    None => self.present(o),
                    Some((op, v)) => self.compare(o, op, v),
                }
            }
        }
    }

    fn resource_leaf(
        &self,
        p: &AttrPath,
        pred: Option<(CompareOp, &CompValue)>,
    ) -> Result<Expr, StoreError> {
        let unknown = || {
            invalid(format!(
                "invalid filter: attribute '{p}' is not defined for {} resources",
                self.kind.name()
            ))
        };
        let r = match pred {
            None => resolve_path(p, self.reg, self.kind, None),
            Some(_) => compared_attr(p, self.reg, self.kind, None),
        }
        .ok_or_else(unknown)?;
        // Multi-valued attributes with their own rows.
        match self.special(&r) {
            Some(Special::Emails) if r.sub_attribute.is_none_or(|s| s.name == "value") => {
                let inner = match pred {
                    None => Filter::Present(AttrPath::new("value", None)),
                    Some((op, v)) => Filter::Compare(AttrPath::new("value", None), op, v.clone()),
                };
                // `emails pr` is about whole elements (one with only a `type` is present);
                // the rows hold values only.
                let about_values = pred.is_some() || r.sub_attribute.is_some();
                if about_values && needs_value(&inner) {
                    return self.emails_exists(&inner);
                }
            }
            Some(s @ (Special::Members | Special::Groups)) => {
                let sub = r.sub_attribute.map(|a| a.name.as_str()).unwrap_or("value");
                let inner = match pred {
                    None => Filter::Present(AttrPath::new(sub, None)),
                    Some((op, v)) => Filter::Compare(AttrPath::new(sub, None), op, v.clone()),
                };
                return self.membership_exists(&inner, matches!(s, Special::Members));
            }
            _ => {}
        }
        if r.schema.is_none() {
            // Common attributes live in columns.
            let o = match (r.attribute.name.as_str(), r.sub_attribute.map(|s| s.name.as_str())) {
                ("id", None) => Operand::Text(col("id"), Case::Exact),
                ("externalId", None) => Operand::Text(col("external_id"), Case::Exact),
                ("meta", Some("created")) => Operand::DateTime(col("created")),
                ("meta", Some("lastModified")) => Operand::DateTime(col("last_modified")),
                ("meta", Some("resourceType")) => {
                    // caseExact (RFC 7643 3.1): `meta.resourceType eq "user"` is no match.
                    let case = if r.leaf().case_exact { Case::Exact } else { Case::Lower };
                    Operand::Text(Expr::val(self.kind.name()), case)
                }
                ("schemas", None) => {
                    return self.json_multi(&r, pred);
                }
                _ => return Err(invalid(format!("invalid filter: '{p}' cannot be filtered"))),
            };
            return match pred {
                None => self.present(o),
                Some((op, v)) => self.compare(o, op, v),
            };
        }
        if !r.extension {
            let o = match (self.kind, r.attribute.name.as_str(), r.sub_attribute) {
                (ResourceKind::User, "userName", None) => {
                    Some(Operand::Text(col("name_key"), Case::PreLowered))
                }
                (ResourceKind::Group, "displayName", None) => {
                    Some(Operand::Text(col("name_key"), Case::PreLowered))
                }
                (ResourceKind::User, "displayName", None) => {
                    Some(Operand::Text(col("display_name_lower"), Case::PreLowered))
                }
                (ResourceKind::User, "active", None) => Some(Operand::BoolCol(col("active"))),
                _ => None,
            };
            if let Some(o) = o {
                return match pred {
                    None => self.present(o),
                    Some((op, v)) => self.compare(o, op, v),
                };
            }
        }
        if pred.is_none()
            && r.sub_attribute.is_none()
            && r.attribute.kind == AttrType::Complex
            && !r.attribute.sub_attributes.is_empty()
        {
            // RFC 7644 3.4.2.2: a complex value is present when one of its sub-attributes
            // is (`"name": {}` is not).
            let keys = json_keys(&r, false);
            let any_sub = |base: Expr, prefix: &[&str]| -> Result<Expr, StoreError> {
                let mut out = never();
                for sub in &r.attribute.sub_attributes {
                    let mut path = prefix.to_vec();
                    path.push(sub.name.as_str());
                    out = out.or(self.backend.json_present(base.clone(), &path)?);
                }
                Ok(out)
            };
            return if r.attribute.multi_valued {
                self.backend.json_any(doc(), &keys, &|e| any_sub(e, &[]))
            } else {
                any_sub(doc(), &keys)
            };
        }
        if r.attribute.multi_valued {
            return self.json_multi(&r, pred);
        }
        let keys = json_keys(&r, true);
        match pred {
            None => self.backend.json_present(doc(), &keys),
            Some((op, v)) => {
                let o = self.json_operand(doc(), &keys, r.leaf())?;
                self.compare(o, op, v)
            }
        }
    }

    /// Any element of a multi-valued JSON attribute.
    fn json_multi(
        &self,
        r: &ResolvedAttr<'_>,
        pred: Option<(CompareOp, &CompValue)>,
    ) -> Result<Expr, StoreError> {
        let keys = json_keys(r, false);
        match (pred, r.sub_attribute) {
            (None, None) => self.backend.json_present(doc(), &keys),
            (None, Some(sub)) => self
                .backend
                .json_any(doc(), &keys, &|e| self.backend.json_present(e, &[sub.name.as_str()])),
            (Some((op, v)), Some(sub)) => self.backend.json_any(doc(), &keys, &|e| {
                let o = self.json_operand(e, &[sub.name.as_str()], sub)?;
                self.compare(o, op, v)
            }),
            (Some((op, v)), None) => self.backend.json_any(doc(), &keys, &|e| {
                let t = self.backend.element_text(e)?;
                let o = self.typed(t.clone(), t, r.attribute)?;
                self.compare(o, op, v)
            }),
        }
    }

    fn json_operand(&self, doc: Expr, keys: &[&str], a: &Attribute) -> Result<Operand, StoreError> {
        match a.kind {
            AttrType::Integer | AttrType::Decimal => {
                Ok(Operand::Number(self.backend.json_number(doc, keys)?))
            }
            _ => {
                let t = self.backend.json_text(doc, keys)?;
                self.typed(t.clone(), t, a)
            }
        }
    }

    fn typed(&self, text: Expr, num: Expr, a: &Attribute) -> Result<Operand, StoreError> {
        Ok(match a.kind {
            AttrType::Boolean => Operand::BoolText(text),
            AttrType::DateTime => Operand::JsonDateTime(text),
            AttrType::Integer | AttrType::Decimal => Operand::Number(self.backend.real_cast(num)?),
            AttrType::Complex => {
                return Err(invalid(format!(
                    "invalid filter: '{}' is complex and has no value",
                    a.name
                )));
            }
            _ => Operand::Text(text, if a.case_exact { Case::Exact } else { Case::Lower }),
        })
    }

    fn present(&self, o: Operand) -> Result<Expr, StoreError> {
        Ok(match o {
            Operand::Text(e, _) | Operand::DateTime(e) | Operand::JsonDateTime(e) => {
                e.clone().is_not_null().and(e.ne(""))
            }
            Operand::BoolCol(e) | Operand::BoolText(e) | Operand::Number(e) => e.is_not_null(),
        })
    }

    fn compare(&self, o: Operand, op: CompareOp, v: &CompValue) -> Result<Expr, StoreError> {
        use CompareOp as C;
        let guard = |e: &Expr, cond: Expr| e.clone().is_not_null().and(cond);
        match o {
            Operand::Text(e, case) => {
                let CompValue::Str(s) = v else { return Ok(never()) };
                let case = match (case, op) {
                    (Case::Id, C::Eq | C::Ne) => {
                        return Ok(guard(&e, e.clone().eq(Expr::val(canonical_id(s)))));
                    }
                    (Case::Id, _) => Case::Lower,
                    (other, _) => other,
                };
                let (lhs, rhs) = match case {
                    Case::Exact => (self.backend.exact(e.clone())?, Expr::val(s.clone())),
                    Case::PreLowered => (e.clone(), Expr::val(s.to_lowercase())),
                    Case::Lower | Case::Id => {
                        (self.backend.lower(e.clone())?, self.backend.lower(Expr::val(s.clone()))?)
                    }
                };
                let cond = match ordered(lhs.clone(), op, rhs) {
                    Some(cond) => cond,
                    None => {
                        let esc = like_escape(&if case == Case::PreLowered {
                            s.to_lowercase()
                        } else {
                            s.clone()
                        });
                        let pat = match op {
                            C::Co => format!("%{esc}%"),
                            C::Sw => format!("{esc}%"),
                            _ => format!("%{esc}"),
                        };
                        let pat = match case {
                            Case::Lower => self.backend.lower(Expr::val(pat))?,
                            _ => Expr::val(pat),
                        };
                        self.backend.like(lhs, pat)?
                    }
                };
                Ok(guard(&e, cond))
            }
            Operand::JsonDateTime(e) if !op.is_substring() => {
                self.compare(Operand::DateTime(self.backend.date_time(e)?), op, v)
            }
            Operand::DateTime(e) | Operand::JsonDateTime(e) if op.is_substring() => {
                // Substrings of the text as stored (`meta.created sw "2024-"`), as the
                // evaluator compares them: dateTime attributes are not caseExact.
                self.compare(Operand::Text(e, Case::Lower), op, v)
            }
            Operand::DateTime(e) | Operand::JsonDateTime(e) => {
                let CompValue::Str(s) = v else { return Ok(never()) };
                let Some(norm) = now_from(s) else {
                    return Err(invalid(format!(
                        "invalid filter: '{s}' is not an RFC 3339 dateTime"
                    )));
                };
                let lhs = self.backend.exact(e.clone())?;
                Ok(ordered(lhs, op, Expr::val(norm)).map_or_else(never, |c| guard(&e, c)))
            }
            // A boolean column compares with the value, JSON text with its spelling.
            Operand::BoolCol(e) => boolean(&e, op, v, Expr::val),
            Operand::BoolText(e) => {
                boolean(&e, op, v, |b| Expr::val(if b { "true" } else { "false" }))
            }
            Operand::Number(e) => {
                let CompValue::Number(n) = v else { return Ok(never()) };
                let Some(f) = n.as_f64() else { return Ok(never()) };
                Ok(ordered(e.clone(), op, Expr::val(f)).map_or_else(never, |c| guard(&e, c)))
            }
        }
    }

    /// The sort key for `sortBy` (RFC 7644 3.4.2.3): singular attributes only; strings
    /// that are not `caseExact` sort case-insensitively.
    pub(crate) fn sort_key(&self, p: &AttrPath) -> Result<SortKey, StoreError> {
        let bad = |why: &str| {
            StoreError::Scim(ScimError::new(
                scim_core::ErrorCode::InvalidPath,
                format!("invalid sortBy '{p}': {why}"),
            ))
        };
        let r =
            compared_attr(p, self.reg, self.kind, None).ok_or_else(|| bad("no such attribute"))?;
        if r.attribute.multi_valued {
            return Err(bad("sorting by a multi-valued attribute is not supported"));
        }
        let text = |e: Expr, nullable| SortKey { expr: e, kind: KeyKind::Text, nullable };
        if r.schema.is_none() {
            return match (r.attribute.name.as_str(), r.sub_attribute.map(|s| s.name.as_str())) {
                ("id", None) => Ok(text(col("id"), false)),
                ("externalId", None) => Ok(text(col("external_id"), true)),
                ("meta", Some("created")) => Ok(text(col("created"), false)),
                ("meta", Some("lastModified")) => Ok(text(col("last_modified"), false)),
                ("meta", Some("version")) => Ok(SortKey {
                    expr: self.backend.real_cast(col("version"))?,
                    kind: KeyKind::Real,
                    nullable: false,
                }),
                ("meta", Some(_)) => Ok(text(col("created"), false)),
                _ => Err(bad("not sortable")),
            };
        }
        if !r.extension {
            match (self.kind, r.attribute.name.as_str(), r.sub_attribute) {
                (ResourceKind::User, "userName", None)
                | (ResourceKind::Group, "displayName", None) => {
                    return Ok(text(col("name_key"), false));
                }
                (ResourceKind::User, "displayName", None) => {
                    return Ok(text(col("display_name_lower"), true));
                }
                (ResourceKind::User, "active", None) => {
                    return Ok(SortKey {
                        expr: col("active"),
                        kind: KeyKind::Bool,
                        nullable: true,
                    });
                }
                _ => {}
            }
        }
        let keys = json_keys(&r, true);
        let leaf = r.leaf();
        match leaf.kind {
            AttrType::Complex => Err(bad("a complex attribute has no value to sort by")),
            AttrType::Integer | AttrType::Decimal => Ok(SortKey {
                expr: self.backend.json_number(doc(), &keys)?,
                kind: KeyKind::Real,
                nullable: true,
            }),
            AttrType::String | AttrType::Reference if !leaf.case_exact => {
                Ok(text(self.backend.lower(self.backend.json_text(doc(), &keys)?)?, true))
            }
            _ => Ok(text(self.backend.exact(self.backend.json_text(doc(), &keys)?)?, true)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Special {
    Emails,
    Members,
    Groups,
}

/// Whether every path in a value filter is `value` (so the emails table answers it).
fn only_value(f: &Filter) -> bool {
    let mut ok = true;
    f.visit_paths(&mut |p, _| {
        if !(p.urn.is_none() && p.sub_attr.is_none() && p.name.eq_ignore_ascii_case("value")) {
            ok = false;
        }
    });
    ok
}

/// Whether `f`, over one element of `emails`, can only hold when the element has a value.
/// Only such filters may run over the `resource_emails` rows, which hold the values and not
/// the elements: `emails[not (value pr)]` or `emails.value ne "x"` match an element
/// without a value, which has no row.
fn needs_value(f: &Filter) -> bool {
    match f {
        Filter::Present(_) => true,
        Filter::Compare(_, op, v) => *op != CompareOp::Ne && !matches!(v, CompValue::Null),
        Filter::And(a, b) => needs_value(a) || needs_value(b),
        Filter::Or(a, b) => needs_value(a) && needs_value(b),
        Filter::Not(_) | Filter::ValuePath(..) => false,
    }
}

/// The type of a sort key's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Text,
    Real,
    Bool,
}

/// An `ORDER BY` expression.
#[derive(Debug, Clone)]
pub(crate) struct SortKey {
    pub(crate) expr: Expr,
    pub(crate) kind: KeyKind,
    pub(crate) nullable: bool,
}

/// `lhs op rhs` for the ordering operators (`eq`, `ne` (negated by the caller), `gt`, `ge`,
/// `lt`, `le`); `None` for the substring operators.
fn ordered(lhs: Expr, op: CompareOp, rhs: Expr) -> Option<Expr> {
    use CompareOp as C;
    Some(match op {
        C::Eq | C::Ne => lhs.eq(rhs),
        C::Gt => lhs.gt(rhs),
        C::Ge => lhs.gte(rhs),
        C::Lt => lhs.lt(rhs),
        C::Le => lhs.lte(rhs),
        C::Co | C::Sw | C::Ew => return None,
    })
}

/// A boolean operand `e` compared with `v` (`eq`/`ne` only), `spell` giving the value as
/// `e` holds it.
fn boolean(
    e: &Expr,
    op: CompareOp,
    v: &CompValue,
    spell: impl Fn(bool) -> Expr,
) -> Result<Expr, StoreError> {
    let CompValue::Bool(b) = v else { return Ok(never()) };
    if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Err(invalid(format!(
            "invalid filter: '{}' cannot be applied to a boolean",
            op.as_str()
        )));
    }
    Ok(e.clone().is_not_null().and(e.clone().eq(spell(*b))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn selective(kind: ResourceKind, f: &str) -> bool {
        let reg = Registry::builtin();
        let tr = Translator { backend: &crate::sql::sqlite::Sqlite, reg: &reg, kind };
        tr.selective(&Filter::parse(f).unwrap())
    }

    #[test]
    fn selective_filters_are_indexed_equalities() {
        use ResourceKind::{Group, User};
        assert!(selective(User, r#"userName eq "a@b.c""#));
        assert!(selective(User, r#"UserName eq "a@b.c" and active eq true"#));
        assert!(selective(User, r#"externalId eq "x" or id eq "y""#));
        assert!(selective(User, r#"emails.value eq "a@b.c""#));
        assert!(selective(User, r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#));
        assert!(selective(Group, r#"displayName eq "Sales""#));
        assert!(!selective(Group, r#"userName eq "a""#));
        assert!(!selective(User, r#"userName co "a""#));
        assert!(!selective(User, r#"userName eq "a" or title eq "b""#));
        assert!(!selective(User, r#"not (userName eq "a")"#));
        assert!(!selective(User, r#"name.givenName eq "a""#));
        assert!(!selective(User, "userName eq null"));
        assert!(!selective(User, "active eq true"));
    }
}
