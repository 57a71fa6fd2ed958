//! The difference between a resource as a file wants it and as the server has it, as
//! PATCH operations (RFC 7644 3.5.2) on only what changed: one `replace` per changed
//! simple attribute or sub-attribute (`name.givenName`, `urn:...:User:department`), a
//! multi-valued attribute (`emails`) replaced as a whole when it differs, a `remove` for an
//! attribute the file sets to `null`. Attributes the file does not mention are left alone,
//! as an identity provider leaves unmapped attributes alone.

use scim_core::message::{PatchOpKind, PatchOperation};
use scim_core::resource::get_ci;
use serde_json::{Map, Value};

/// Never compared: assigned by the server, read-only, or never returned.
const SKIP: [&str; 5] = ["schemas", "id", "meta", "groups", "password"];

/// The operations that turn `current` into `desired` for the attributes `desired` has.
pub(crate) fn diff(
    desired: &Map<String, Value>,
    current: &Map<String, Value>,
) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    for (key, want) in desired {
        if SKIP.iter().any(|s| s.eq_ignore_ascii_case(key)) {
            continue;
        }
        let have = get_ci(current, key);
        match want {
            // An extension, or a complex single-valued attribute: per sub-attribute.
            Value::Object(subs) => {
                let have = have.and_then(Value::as_object);
                let sep = if key.starts_with("urn:") { ':' } else { '.' };
                for (sub, w) in subs {
                    let h = have.and_then(|h| get_ci(h, sub));
                    if !same(w, h) {
                        ops.push(op(format!("{key}{sep}{sub}"), w));
                    }
                }
            }
            Value::Array(items) => {
                if !same_multi(items, have) {
                    ops.push(op(key.clone(), want));
                }
            }
            _ => {
                if !same(want, have) {
                    ops.push(op(key.clone(), want));
                }
            }
        }
    }
    ops
}

fn op(path: String, value: &Value) -> PatchOperation {
    if value.is_null() {
        PatchOperation { op: PatchOpKind::Remove, path: Some(path), value: None }
    } else {
        PatchOperation { op: PatchOpKind::Replace, path: Some(path), value: Some(value.clone()) }
    }
}

/// Whether the server's value `have` already is what the file wants: equal scalars
/// (numbers by value), objects whose every wanted member is equal (the server may add
/// members such as `$ref` or `display`), `null` and absent alike.
fn same(want: &Value, have: Option<&Value>) -> bool {
    match (want, have) {
        (Value::Null, None | Some(Value::Null)) => true,
        (_, None) => false,
        (Value::Number(a), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (Value::Object(w), Some(Value::Object(h))) => w.iter().all(|(k, v)| same(v, get_ci(h, k))),
        (Value::Array(w), h) => same_multi(w, h),
        (w, Some(h)) => w == h,
    }
}

/// Multi-valued attributes: the same number of values, each wanted value matching a
/// different one of the server's (in any order).
fn same_multi(want: &[Value], have: Option<&Value>) -> bool {
    let have: &[Value] = match have {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(_) => return false,
    };
    if want.len() != have.len() {
        return false;
    }
    let mut used = vec![false; have.len()];
    want.iter().all(|w| {
        let found = have.iter().zip(used.iter_mut()).find(|(h, u)| !**u && same(w, Some(h)));
        match found {
            Some((_, u)) => {
                *u = true;
                true
            }
            None => false,
        }
    })
}

/// Reactivation for sync: a user in the file is meant to be active. When the file says
/// nothing about `active` and the server has the user inactive, `active` is set to true.
pub(crate) fn reactivate(
    desired: &Map<String, Value>,
    current: &Map<String, Value>,
) -> Option<PatchOperation> {
    let inactive = get_ci(current, "active") == Some(&Value::Bool(false));
    (get_ci(desired, "active").is_none() && inactive).then(|| PatchOperation {
        op: PatchOpKind::Replace,
        path: Some("active".to_owned()),
        value: Some(Value::Bool(true)),
    })
}

/// The paths the operations touch, for the plan (`name.givenName, emails`).
pub(crate) fn paths(ops: &[PatchOperation]) -> String {
    ops.iter().filter_map(|o| o.path.as_deref()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn only_changed_attributes() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let server = obj(json!({
            "id": "US1", "userName": "ada", "active": true,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "a@x.test", "type": "work", "primary": true}],
            ent: {"department": "R&D"},
            "meta": {"version": "W/\"1\""}
        }));
        let same_file = obj(json!({
            "schemas": [], "userName": "ada", "name": {"givenName": "Ada"},
            "emails": [{"type": "work", "value": "a@x.test"}], ent: {"department": "R&D"}
        }));
        assert!(diff(&same_file, &server).is_empty());

        let changed = obj(json!({
            "userName": "ada", "name": {"givenName": "Augusta"},
            "emails": [{"type": "work", "value": "b@x.test"}], ent: {"department": "Ops"},
            "title": null, "nickName": "countess"
        }));
        let ops = diff(&changed, &server);
        assert_eq!(paths(&ops), format!("name.givenName, emails, {ent}:department, nickName"));
        assert_eq!(ops[1].value, Some(json!([{"type": "work", "value": "b@x.test"}])));

        let removes = diff(&obj(json!({"nickName": null})), &obj(json!({"nickName": "x"})));
        assert_eq!(removes[0].op, PatchOpKind::Remove);
    }

    #[test]
    fn multi_valued_in_any_order() {
        let a = json!([{"value": "1"}, {"value": "2"}]);
        let b = json!([{"value": "2"}, {"value": "1", "display": "x"}]);
        assert!(same_multi(a.as_array().unwrap(), Some(&b)));
        assert!(!same_multi(a.as_array().unwrap(), Some(&json!([{"value": "1"}]))));
    }
}
