//! Schemas as data (RFC 7643 section 7): attribute definitions and their characteristics,
//! the built-in core User, core Group and Enterprise User schemas, and the [`Registry`]
//! that resolves attribute paths to definitions case-insensitively (RFC 7643 2.1).

mod registry;

pub use registry::{Registry, RegistryError, ResolvedAttr};

use serde::{Deserialize, Serialize};

/// URN of the core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// URN of the core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// URN of the Enterprise User extension.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// URN of the schema of schema documents.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// URN of the ResourceType schema.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// URN of the ServiceProviderConfig schema.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// An attribute's data type (RFC 7643 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    /// A sequence of characters.
    #[default]
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An `xsd:dateTime` string.
    DateTime,
    /// Base64-encoded bytes.
    Binary,
    /// A URI.
    Reference,
    /// A set of sub-attributes.
    Complex,
}

/// Whether and how an attribute may be changed (RFC 7643 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Set by the service provider only; ignored on input.
    ReadOnly,
    /// Freely changed.
    #[default]
    ReadWrite,
    /// Set once, then never changed.
    Immutable,
    /// Set by the client, never returned.
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always, whatever `attributes`/`excludedAttributes` say.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    #[default]
    Default,
    /// Only when named in `attributes`.
    Request,
}

/// How unique an attribute's value is (RFC 7643 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No uniqueness.
    #[default]
    None,
    /// Unique within the organization (the service provider's scope).
    Server,
    /// Globally unique.
    Global,
}

/// One attribute definition (RFC 7643 7, `attributes` and `subAttributes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    /// The attribute's name, as declared (compared case-insensitively).
    pub name: String,
    /// The data type.
    #[serde(rename = "type", default)]
    pub kind: AttrType,
    /// Whether the attribute holds an array.
    #[serde(default)]
    pub multi_valued: bool,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether a resource must carry it.
    #[serde(default)]
    pub required: bool,
    /// Suggested (or, with `strict_canonical_values`, the only) values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// Project extension: reject values outside `canonicalValues` (case-insensitively).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_canonical_values: bool,
    /// Whether string comparisons are case-sensitive.
    #[serde(default)]
    pub case_exact: bool,
    /// Mutability.
    #[serde(default)]
    pub mutability: Mutability,
    /// Return policy.
    #[serde(default)]
    pub returned: Returned,
    /// Uniqueness.
    #[serde(default)]
    pub uniqueness: Uniqueness,
    /// For references: the resource types referred to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// For complex attributes: the sub-attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    /// The sub-attribute named `name`, case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&Attribute> {
        // Exact first: stored and most client documents use the schema's own spelling.
        let subs = &self.sub_attributes;
        subs.iter()
            .find(|a| same_name(&a.name, name))
            .or_else(|| subs.iter().find(|a| a.name.eq_ignore_ascii_case(name)))
    }

    /// A single-valued attribute of the given type with RFC defaults.
    pub fn simple(name: &str, kind: AttrType) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            multi_valued: false,
            description: None,
            required: false,
            canonical_values: Vec::new(),
            strict_canonical_values: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }
}

/// A schema document (RFC 7643 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The schema URN.
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Top-level attributes.
    #[serde(default)]
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// The top-level attribute named `name`, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        // Exact first: stored and most client documents use the schema's own spelling.
        let attrs = &self.attributes;
        attrs
            .iter()
            .find(|a| same_name(&a.name, name))
            .or_else(|| attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name)))
    }
}

/// `a == b` for attribute names, comparing the first bytes before the rest: a lookup
/// compares the name it looks for with most of a schema's names, and names of the same
/// length mostly differ at the start.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// A schema extension of a resource type (RFC 7643 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaExtension {
    /// The extension schema URN.
    pub schema: String,
    /// Whether every resource of the type must carry it.
    pub required: bool,
}

/// A resource type (RFC 7643 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    /// The type's id, e.g. `User`.
    pub id: String,
    /// The type's name, e.g. `User`.
    pub name: String,
    /// The endpoint relative to the base, e.g. `/Users`.
    pub endpoint: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The core schema URN.
    pub schema: String,
    /// Extension schemas.
    #[serde(default)]
    pub schema_extensions: Vec<SchemaExtension>,
}

/// The two resource kinds the service stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceKind {
    /// `User`.
    User,
    /// `Group`.
    Group,
}

impl ResourceKind {
    /// The resource type name (`User`, `Group`).
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// The endpoint (`/Users`, `/Groups`).
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "/Users",
            Self::Group => "/Groups",
        }
    }

    /// The core schema URN.
    pub fn core_schema(self) -> &'static str {
        match self {
            Self::User => USER_SCHEMA,
            Self::Group => GROUP_SCHEMA,
        }
    }
}

#[cfg(test)]
mod same_name_tests {
    use super::same_name;
    use proptest::prelude::*;

    proptest! {
        /// `same_name` is string equality.
        #[test]
        fn same_name_is_equality(a in "[a-cA-C$é]{0,4}", b in "[a-cA-C$é]{0,4}") {
            prop_assert_eq!(same_name(&a, &b), a == b);
            prop_assert!(same_name(&a, &a));
        }
    }
}
