//! The profile of route family B (`/Organizations/{OrganizationSid}/scim`): what Twilio's
//! published OpenAPI contract for the organization-scoped SCIM Users routes promises beyond
//! RFC 7643/7644, in one place.
//!
//! Family A (`/scim/v2`) follows the RFCs. Family B runs the same handlers and
//! adds two things, both only there:
//!
//! - **Input bounds.** [`USER_CONSTRAINTS`] is the contract's `ScimUser` schema as a table:
//!   lengths of `userName`, `externalId`, `displayName`, `name.givenName`,
//!   `name.familyName`, `emails.value`, `emails.type`, and `emails` having at least one item.
//!   [`check`] runs it on the result of every create, PUT and PATCH of a User on family B
//!   (bulk operations included: they run the same code). A value outside its bound is
//!   400 `invalidValue` (code 24400) whose detail names the attribute, the bound and the
//!   length found. Only values the request sets are checked: a value that is already
//!   stored, for example a 1-character `userName` created through family A under the
//!   RFC's rules, does not block an unrelated change such as a deactivation.
//! - **Error types.** The contract's `ScimError.scimType` is an enum of five values;
//!   [`scim_type`] maps every other `scimType` to the closest of them when the error
//!   renderer answers on family B. The numeric `code` stays as it is, so
//!   no failure becomes indistinguishable from another.
//!
//! `docs/compatibility.md` documents both for operators and client authors.

use crate::mount::Family;
use scim_core::ScimError;
use scim_core::error::ScimType;
use scim_core::resource::{Resource, get_ci};
use scim_core::schema::ResourceKind;
use serde_json::{Map, Value};

/// A bound the contract puts on an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Every string value at the path has `min..=max` characters (Unicode scalar values,
    /// as JSON Schema's `minLength`/`maxLength` count them).
    Length {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
    },
    /// The multi-valued attribute, when present, has at least `min` items (`minItems`).
    Items {
        /// Fewest items.
        min: usize,
    },
}

/// One row of the table: an attribute path and its bound. In a path, a multi-valued
/// attribute stands for each of its elements: `emails.value` is the `value` of every email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    /// The attribute path, core User schema, dot-separated (`name.givenName`).
    pub path: &'static str,
    /// Its bound.
    pub bound: Bound,
}

const fn length(path: &'static str, min: usize, max: usize) -> Constraint {
    Constraint { path, bound: Bound::Length { min, max } }
}

/// The contract's `ScimUser`, `ScimName` and `ScimEmailAddress` bounds (Twilio's
/// `twilio_iam_organizations.json`), checked on family B.
pub const USER_CONSTRAINTS: &[Constraint] = &[
    length("userName", 2, 255),
    length("externalId", 2, 255),
    length("displayName", 0, 255),
    length("name.givenName", 0, 255),
    length("name.familyName", 0, 255),
    Constraint { path: "emails", bound: Bound::Items { min: 1 } },
    length("emails.value", 2, 160),
    length("emails.type", 0, 64),
];

/// The `scimType` values the contract's `ScimError` allows.
pub const CONTRACT_SCIM_TYPES: &[ScimType] = &[
    ScimType::InvalidFilter,
    ScimType::Uniqueness,
    ScimType::Mutability,
    ScimType::InvalidValue,
    ScimType::InvalidSyntax,
];

/// Whether the profile's input bounds apply to resources of `kind` on `family`.
pub fn applies(family: Family, kind: ResourceKind) -> bool {
    family == Family::Organization && kind == ResourceKind::User
}

/// Checks the resource a create, PUT or PATCH would store (`new`) against the bounds of
/// `family` and `kind`; `old` is the stored resource it replaces (`None` on create), whose
/// values are not checked again. 400 `invalidValue` on the first value out of bounds.
pub fn check(
    family: Family,
    kind: ResourceKind,
    new: &Resource,
    old: Option<&Resource>,
) -> Result<(), ScimError> {
    if !applies(family, kind) {
        return Ok(());
    }
    for c in USER_CONSTRAINTS {
        let before = old.map(|o| values(o.as_map(), c.path)).unwrap_or_default();
        for v in values(new.as_map(), c.path) {
            check_value(c, v, &before)?;
        }
    }
    Ok(())
}

/// Checks one value found at `c.path`; values in `before` (already stored) pass.
fn check_value(c: &Constraint, v: &Value, before: &[&Value]) -> Result<(), ScimError> {
    match c.bound {
        Bound::Length { min, max } => {
            let strings: Vec<&str> = match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for s in strings {
                let n = s.chars().count();
                if (min..=max).contains(&n) || was_stored(before, s) {
                    continue;
                }
                let range = if min == 0 {
                    format!("at most {max} characters")
                } else {
                    format!("{min} to {max} characters")
                };
                return Err(ScimError::invalid_value(format!(
                    "{} must have {range} on the organization-scoped routes (Twilio \
                     contract), not {n}",
                    c.path
                )));
            }
        }
        Bound::Items { min } => {
            if let Value::Array(items) = v
                && items.len() < min
                && !before.contains(&v)
            {
                return Err(ScimError::invalid_value(format!(
                    "{} must have at least {min} item(s) on the organization-scoped routes \
                     (Twilio contract); leave the attribute out instead",
                    c.path
                )));
            }
        }
    }
    Ok(())
}

/// Whether string `s` is among the stored values of the same path.
fn was_stored(before: &[&Value], s: &str) -> bool {
    before.iter().any(|b| match b {
        Value::String(x) => x == s,
        Value::Array(items) => items.iter().any(|i| i.as_str() == Some(s)),
        _ => false,
    })
}

/// Every value at `path` in `doc`, descending into each element of multi-valued
/// attributes on the way (attribute names are case-insensitive, RFC 7643 2.1).
fn values<'a>(doc: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    if let Some((head, rest)) = segments.split_first()
        && let Some(v) = get_ci(doc, head)
    {
        collect(v, rest, &mut out);
    }
    out
}

fn collect<'a>(v: &'a Value, rest: &[&str], out: &mut Vec<&'a Value>) {
    match (rest.split_first(), v) {
        (None, _) => out.push(v),
        (Some(_), Value::Array(items)) => items.iter().for_each(|i| collect(i, rest, out)),
        (Some((head, tail)), Value::Object(m)) => {
            if let Some(x) = get_ci(m, head) {
                collect(x, tail, out);
            }
        }
        _ => {}
    }
}

/// The `scimType` an error carries on family B: the contract allows only
/// [`CONTRACT_SCIM_TYPES`], so the others become the closest of those. `invalidPath`,
/// `invalidVers` and `sensitive` say the request is malformed (`invalidSyntax`);
/// `noTarget`, `tooMany` and the cursor types say a value in it cannot be acted on
/// (`invalidValue`).
pub fn scim_type(t: ScimType) -> ScimType {
    match t {
        ScimType::InvalidFilter
        | ScimType::Uniqueness
        | ScimType::Mutability
        | ScimType::InvalidValue
        | ScimType::InvalidSyntax => t,
        ScimType::InvalidPath | ScimType::InvalidVers | ScimType::Sensitive => {
            ScimType::InvalidSyntax
        }
        // noTarget, tooMany, invalidCursor, expiredCursor, and any type added later.
        _ => ScimType::InvalidValue,
    }
}

/// The `scimType` of an error rendered on `family` (`None`: outside both families).
pub fn scim_type_for(t: ScimType, family: Option<Family>) -> ScimType {
    match family {
        Some(Family::Organization) => scim_type(t),
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_core::ErrorCode;
    use serde_json::json;

    fn user(v: Value) -> Resource {
        Resource(v.as_object().cloned().unwrap())
    }

    fn b(new: &Resource, old: Option<&Resource>) -> Result<(), ScimError> {
        check(Family::Organization, ResourceKind::User, new, old)
    }

    #[test]
    fn bounds_apply_to_users_on_family_b_only() {
        let short = user(json!({"userName": "a"}));
        let e = b(&short, None).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert!(e.detail.contains("userName must have 2 to 255 characters"), "{}", e.detail);
        assert!(check(Family::Rfc, ResourceKind::User, &short, None).is_ok());
        let group = user(json!({"displayName": "x".repeat(300)}));
        assert!(check(Family::Organization, ResourceKind::Group, &group, None).is_ok());
    }

    #[test]
    fn every_row_is_enforced() {
        let ok = json!({"userName": "ab", "externalId": "cd", "displayName": "",
            "name": {"givenName": "", "familyName": ""},
            "emails": [{"value": "e@x.io", "type": "work"}]});
        assert!(b(&user(ok.clone()), None).is_ok());
        let long = "x".repeat(256);
        for (pointer, bad) in [
            ("/userName", json!(long)),
            ("/externalId", json!("c")),
            ("/displayName", json!(long)),
            ("/name/givenName", json!(long)),
            ("/name/familyName", json!(long)),
            ("/emails", json!([])),
            ("/emails/0/value", json!("e")),
            ("/emails/0/value", json!("x".repeat(161))),
            ("/emails/0/type", json!("x".repeat(65))),
        ] {
            let mut doc = ok.clone();
            *doc.pointer_mut(pointer).unwrap() = bad;
            let e = b(&user(doc), None).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidValue, "{pointer}");
        }
        // Characters, not bytes: 255 two-byte characters fit.
        assert!(b(&user(json!({"userName": "é".repeat(255)})), None).is_ok());
    }

    #[test]
    fn stored_values_are_not_checked_again() {
        let old = user(json!({"userName": "a", "emails": [{"value": "b"}]}));
        let new = user(json!({"userName": "a", "emails": [{"value": "b"}], "active": false}));
        assert!(b(&new, Some(&old)).is_ok());
        let changed = user(json!({"userName": "c", "emails": [{"value": "b"}]}));
        assert!(b(&changed, Some(&old)).is_err());
    }

    #[test]
    fn scim_types_outside_the_contract_map_to_allowed_ones() {
        for t in [
            ScimType::InvalidFilter,
            ScimType::TooMany,
            ScimType::Uniqueness,
            ScimType::Mutability,
            ScimType::InvalidSyntax,
            ScimType::InvalidPath,
            ScimType::NoTarget,
            ScimType::InvalidValue,
            ScimType::InvalidVers,
            ScimType::Sensitive,
            ScimType::InvalidCursor,
            ScimType::ExpiredCursor,
        ] {
            assert!(CONTRACT_SCIM_TYPES.contains(&scim_type(t)), "{t:?}");
            assert_eq!(scim_type_for(t, Some(Family::Rfc)), t);
            assert_eq!(scim_type_for(t, None), t);
        }
        assert_eq!(scim_type(ScimType::InvalidPath), ScimType::InvalidSyntax);
        assert_eq!(scim_type(ScimType::NoTarget), ScimType::InvalidValue);
        assert_eq!(scim_type(ScimType::Uniqueness), ScimType::Uniqueness);
    }
}
