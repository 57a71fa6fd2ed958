//! Operations on `members` when a group's members are kept as rows outside the document:
//! they become [`MemberOp`]s for the store.

use super::{MemberOp, Target};
use crate::error::ScimError;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::message::PatchOpKind;
use crate::resource::{Member, MemberRow, get_ci};
use crate::schema::Attribute;
use crate::validate::{self, Mode};
use serde_json::Value;

pub(super) fn members_op(
    kind: PatchOpKind,
    t: &Target<'_>,
    value: Option<&Value>,
    out: &mut Vec<MemberOp>,
) -> Result<(), ScimError> {
    if t.sub.is_some() {
        // RFC 7643 4.2: members' sub-attributes are immutable.
        return Err(ScimError::mutability(format!(
            "'{}' is immutable: remove the member and add it again",
            t.label()
        )));
    }
    let value = value.filter(|v| !v.is_null());
    match (kind, &t.filter) {
        (PatchOpKind::Remove, None) => match value {
            Some(v) => out.push(MemberOp::Remove(member_ids(v)?)),
            None => out.push(MemberOp::Clear),
        },
        (PatchOpKind::Remove, Some(f)) => out.push(match ids_of_filter(f) {
            Some(ids) => MemberOp::Remove(ids),
            None => MemberOp::RemoveWhere(f.clone()),
        }),
        (PatchOpKind::Add, _) => match value {
            Some(v) => out.push(MemberOp::Add(parse_members(t.attr, v)?)),
            None => return Err(ScimError::invalid_value("add of 'members' needs a 'value'")),
        },
        (PatchOpKind::Replace, None) => {
            let members = match value {
                Some(v) => parse_members(t.attr, v)?,
                None => Vec::new(),
            };
            out.push(MemberOp::ReplaceAll(members));
        }
        (PatchOpKind::Replace, Some(f)) => {
            // RFC 7644 3.5.2.3: the matching members are replaced by the value.
            out.push(MemberOp::RemoveWhere(f.clone()));
            if let Some(v) = value {
                out.push(MemberOp::Add(parse_members(t.attr, v)?));
            }
        }
    }
    Ok(())
}

/// Members from a PATCH or PUT value (an array, one object, or bare ids), validated like
/// the document's members (non-empty `value`, `type` `User` or `Group`, default `User`),
/// each a user or a group ([`MemberRow::of`]), no id twice.
pub(crate) fn parse_members(attr: &Attribute, value: &Value) -> Result<Vec<MemberRow>, ScimError> {
    let items = match validate::check_value(attr, value.clone(), Mode::Input)? {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut out: Vec<MemberRow> = Vec::with_capacity(items.len());
    for mut item in items {
        validate::normalize_member(&mut item)?;
        let member: Member = serde_json::from_value(item)
            .map_err(|e| ScimError::invalid_value(format!("malformed member: {e}")))?;
        if !out.iter().any(|m| m.value == member.value.trim()) {
            out.push(MemberRow::of(member.value.trim(), member.kind.as_deref()));
        }
    }
    Ok(out)
}

fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(m) => get_ci(m, "value").and_then(Value::as_str),
            _ => None,
        };
        match id {
            Some(id) if !id.is_empty() => ids.push(id.to_owned()),
            _ => {
                return Err(ScimError::invalid_value(
                    "each member to remove needs a non-empty 'value'",
                ));
            }
        }
    }
    Ok(ids)
}

/// `value eq "a"` or `value eq "a" or value eq "b"`: the ids, for a cheap removal.
fn ids_of_filter(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(s))
            if p.sub_attr.is_none() && p.urn.is_none() && p.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = ids_of_filter(a)?;
            ids.extend(ids_of_filter(b)?);
            Some(ids)
        }
        _ => None,
    }
}
