//! Resources on the wire: a schema-driven generic [`Resource`] that carries any extension,
//! its [`Meta`], and typed views ([`User`], [`Group`], [`EnterpriseUser`]) for code that
//! wants fields rather than JSON.

use crate::error::ScimError;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

/// A SCIM resource as a JSON object: core attributes at the top level, each extension's
/// attributes under its schema URN (RFC 7643 3.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resource(pub Map<String, Value>);

impl Resource {
    /// Wraps a JSON value, which must be an object.
    pub fn from_value(v: Value) -> Result<Self, ScimError> {
        match v {
            Value::Object(m) => Ok(Self(m)),
            other => Err(ScimError::invalid_syntax(format!(
                "a resource must be a JSON object, not {}",
                json_kind(&other)
            ))),
        }
    }

    /// The JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The JSON object, mutably.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }

    /// Unwraps into the JSON object.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Unwraps into a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }

    /// A top-level member by name, case-insensitively (RFC 7643 2.1).
    pub fn get(&self, name: &str) -> Option<&Value> {
        get_ci(&self.0, name)
    }

    /// `id`, when present and a string.
    pub fn id(&self) -> Option<&str> {
        self.get("id").and_then(Value::as_str)
    }

    /// `externalId`, when present and a string.
    pub fn external_id(&self) -> Option<&str> {
        self.get("externalId").and_then(Value::as_str)
    }

    /// The `schemas` URIs.
    pub fn schemas(&self) -> Vec<&str> {
        self.get("schemas")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// `meta`, when present and well-formed.
    pub fn meta(&self) -> Option<Meta> {
        self.get("meta").and_then(|m| Meta::deserialize(m).ok())
    }

    /// A typed view (e.g. [`User`]) of this resource.
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<T, ScimError> {
        T::deserialize(Value::Object(self.0.clone()))
            .map_err(|e| ScimError::invalid_syntax(e.to_string()))
    }

    /// Builds a resource from a typed view.
    pub fn from_typed<T: Serialize>(typed: &T) -> Result<Self, ScimError> {
        serde_json::to_value(typed)
            .map_err(|e| ScimError::invalid_syntax(e.to_string()))
            .and_then(Self::from_value)
    }
}

/// A member of a JSON object by name, case-insensitively; the exact spelling wins.
pub fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The key under which `name` is stored in `map`, case-insensitively.
pub fn key_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    if map.contains_key(name) {
        return map.get_key_value(name).map(|(k, _)| k.as_str());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).map(String::as_str)
}

/// The JSON type name of a value, for error details.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Resource metadata (RFC 7643 3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `User` or `Group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Last modification time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Absolute URL of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Weak ETag, `W/"<n>"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One value of a multi-valued attribute such as `emails` (RFC 7643 2.4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiValue {
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Human-readable form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// A label such as `work`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether this is the preferred value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Reference to the value's resource.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A user's name components.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Prefix such as `Ms.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    /// Suffix such as `III`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
}

/// A typed view of a core User; attributes without a field (and extensions) land in
/// `extra`, so nothing is lost in a round trip.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Schema URIs.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Server-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Unique login name.
    pub user_name: String,
    /// Name components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the account is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// E-mail addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<MultiValue>,
    /// Groups (read-only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<MultiValue>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Everything else, extensions included.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A group member (RFC 7643 4.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The member's id.
    pub value: String,
    /// Reference to the member.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// `User` or `Group`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Kind of a group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberKind {
    /// A user.
    User,
    /// A (nested) group.
    Group,
}

/// One member of a group as the store keeps it (a membership row): its id and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The member's id (`US...` or `GR...`).
    pub value: String,
    /// User or group.
    pub kind: MemberKind,
}

impl MemberRow {
    /// The member a member item `{"value": ..., "type": ...}` names ([`MemberRow::of`]).
    pub fn from_item(item: &Value) -> Result<MemberRow, ScimError> {
        let Some(obj) = item.as_object() else {
            return Err(ScimError::invalid_value(
                "a group member must be an object with a 'value'",
            ));
        };
        let value = get_ci(obj, "value")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ScimError::invalid_value("a group member needs a non-empty 'value'"))?;
        Ok(Self::of(value, get_ci(obj, "type").and_then(Value::as_str)))
    }

    /// The member `id`, declared of type `declared`. A user or group id of this service
    /// (`US...`, `GR...`) is what its prefix says, whatever the declared type: validation
    /// fills a missing `type` with `User` (Okta sends none), so the declared type cannot
    /// tell a nested group apart. Any other id keeps its declared type (`User` when none);
    /// the store then finds no such member and refuses the write.
    pub fn of(id: &str, declared: Option<&str>) -> MemberRow {
        use crate::sid::{GroupSid, UserSid};
        let kind = if UserSid::is_valid(id) {
            MemberKind::User
        } else if GroupSid::is_valid(id)
            || declared.is_some_and(|t| t.eq_ignore_ascii_case("Group"))
        {
            MemberKind::Group
        } else {
            MemberKind::User
        };
        MemberRow { value: id.to_owned(), kind }
    }
}

/// A typed view of a core Group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Schema URIs.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Server-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client-assigned id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The manager of an enterprise user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manager {
    /// The manager's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Reference to the manager.
    #[serde(default, rename = "$ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The manager's display name (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A typed view of the Enterprise User extension (RFC 7643 4.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnterpriseUser {
    /// Employee number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    /// Cost center.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    /// Organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
}

impl User {
    /// The Enterprise User extension part, if present.
    pub fn enterprise(&self) -> Option<EnterpriseUser> {
        get_ci(&self.extra, crate::schema::ENTERPRISE_USER_SCHEMA)
            .and_then(|v| EnterpriseUser::deserialize(v).ok())
    }
}
