//! The schema registry: built-in and loaded schemas, the resource types that use them, and
//! case-insensitive resolution of attribute paths to their definitions.

use super::{
    AttrType, Attribute, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, Mutability, ResourceKind,
    ResourceType, Returned, Schema, SchemaExtension, USER_SCHEMA, Uniqueness,
};
use std::sync::Arc;

const USER_JSON: &str = include_str!("data/user.json");
const GROUP_JSON: &str = include_str!("data/group.json");
const ENTERPRISE_USER_JSON: &str = include_str!("data/enterprise_user.json");

/// Longest schema document accepted from a file, in bytes.
const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// Why a schema document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Not JSON, or not shaped like an RFC 7643 section 7 schema.
    #[error("schema document is malformed: {0}")]
    Malformed(String),
    /// The document is structurally valid JSON but breaks a schema rule.
    #[error("schema '{schema}' is invalid: {reason}")]
    Invalid {
        /// The schema id (or what stood in its place).
        schema: String,
        /// What rule it breaks.
        reason: String,
    },
    /// A schema with the same URN is already registered.
    #[error("schema '{0}' is already registered")]
    Duplicate(String),
}

/// An attribute path resolved against the registry.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr<'a> {
    /// URN of the schema that defines the attribute; `None` for the common attributes
    /// (`id`, `externalId`, `meta`, `schemas`) of RFC 7643 3.1.
    pub schema: Option<&'a str>,
    /// Whether that schema is an extension (attributes live under its URN key).
    pub extension: bool,
    /// The top-level attribute.
    pub attribute: &'a Attribute,
    /// The sub-attribute, when the path names one.
    pub sub_attribute: Option<&'a Attribute>,
}

impl<'a> ResolvedAttr<'a> {
    /// The attribute the path ends at.
    pub fn leaf(&self) -> &'a Attribute {
        self.sub_attribute.unwrap_or(self.attribute)
    }
}

/// Built-in and loaded schemas, and the resource types using them.
///
/// Cheap to clone (schemas are shared); the server builds one at start-up.
#[derive(Debug, Clone)]
pub struct Registry {
    schemas: Vec<Arc<Schema>>,
    common: Arc<Vec<Attribute>>,
    user: ResourceType,
    group: ResourceType,
}

fn parse_schema(json: &str) -> Result<Schema, RegistryError> {
    if json.len() > MAX_SCHEMA_BYTES {
        return Err(RegistryError::Malformed(format!(
            "document is {} bytes, over the limit of {MAX_SCHEMA_BYTES}",
            json.len()
        )));
    }
    let schema: Schema =
        serde_json::from_str(json).map_err(|e| RegistryError::Malformed(e.to_string()))?;
    check_schema(&schema)?;
    Ok(schema)
}

fn valid_attr_name(name: &str) -> bool {
    // RFC 7643 2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA;
    // "$ref" is the one reserved exception.
    if name == "$ref" {
        return true;
    }
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_attrs(schema: &str, attrs: &[Attribute], depth: usize) -> Result<(), RegistryError> {
    let invalid = |reason: String| RegistryError::Invalid { schema: schema.to_owned(), reason };
    let mut names = std::collections::HashSet::new();
    for a in attrs {
        if !valid_attr_name(&a.name) {
            return Err(invalid(format!("attribute name '{}' is not a valid ATTRNAME", a.name)));
        }
        if !names.insert(a.name.to_ascii_lowercase()) {
            return Err(invalid(format!("attribute '{}' is declared twice", a.name)));
        }
        match (a.kind, a.sub_attributes.is_empty()) {
            (AttrType::Complex, true) => {
                return Err(invalid(format!(
                    "complex attribute '{}' has no subAttributes",
                    a.name
                )));
            }
            (AttrType::Complex, false) if depth > 0 => {
                return Err(invalid(format!(
                    "sub-attribute '{}' is complex; RFC 7643 2.3.8 forbids nesting",
                    a.name
                )));
            }
            (AttrType::Complex, false) => check_attrs(schema, &a.sub_attributes, depth + 1)?,
            (_, false) => {
                return Err(invalid(format!(
                    "attribute '{}' is not complex but has subAttributes",
                    a.name
                )));
            }
            (_, true) => {}
        }
    }
    Ok(())
}

fn check_schema(schema: &Schema) -> Result<(), RegistryError> {
    let id = &schema.id;
    let ok_id = id.len() > 4
        && id[..4].eq_ignore_ascii_case("urn:")
        && id.len() <= 512
        && !id.ends_with(':')
        && id.chars().all(|c| c.is_ascii_graphic() && c != '[' && c != ']' && c != '"');
    if !ok_id {
        return Err(RegistryError::Invalid {
            schema: id.chars().take(80).collect(),
            reason: "id must be a URN (urn:...) of printable characters".into(),
        });
    }
    if schema.attributes.is_empty() {
        return Err(RegistryError::Invalid { schema: id.clone(), reason: "no attributes".into() });
    }
    check_attrs(id, &schema.attributes, 0)
}

fn common_attributes() -> Vec<Attribute> {
    let read_only = |name: &str, kind| Attribute {
        mutability: Mutability::ReadOnly,
        case_exact: true,
        ..Attribute::simple(name, kind)
    };
    let id = Attribute {
        returned: Returned::Always,
        uniqueness: Uniqueness::Server,
        ..read_only("id", AttrType::String)
    };
    let external_id =
        Attribute { case_exact: true, ..Attribute::simple("externalId", AttrType::String) };
    let meta = Attribute {
        sub_attributes: vec![
            read_only("resourceType", AttrType::String),
            read_only("created", AttrType::DateTime),
            read_only("lastModified", AttrType::DateTime),
            Attribute {
                reference_types: vec!["uri".into()],
                ..read_only("location", AttrType::Reference)
            },
            read_only("version", AttrType::String),
        ],
        ..read_only("meta", AttrType::Complex)
    };
    let schemas = Attribute {
        multi_valued: true,
        returned: Returned::Always,
        reference_types: vec!["uri".into()],
        case_exact: true,
        ..Attribute::simple("schemas", AttrType::Reference)
    };
    vec![id, external_id, meta, schemas]
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    /// The registry with the core User, core Group and Enterprise User schemas.
    pub fn builtin() -> Self {
        let schemas = [USER_JSON, GROUP_JSON, ENTERPRISE_USER_JSON]
            .into_iter()
            .filter_map(|j| parse_schema(j).ok())
            .map(Arc::new)
            .collect();
        Self {
            schemas,
            common: Arc::new(common_attributes()),
            user: ResourceType {
                id: "User".into(),
                name: "User".into(),
                endpoint: "/Users".into(),
                description: Some("User Account".into()),
                schema: USER_SCHEMA.into(),
                schema_extensions: vec![SchemaExtension {
                    schema: ENTERPRISE_USER_SCHEMA.into(),
                    required: false,
                }],
            },
            group: ResourceType {
                id: "Group".into(),
                name: "Group".into(),
                endpoint: "/Groups".into(),
                description: Some("Group".into()),
                schema: GROUP_SCHEMA.into(),
                schema_extensions: Vec::new(),
            },
        }
    }

    /// Adds an extension schema from its RFC 7643 section 7 JSON document and attaches it
    /// to a resource type. The document may name its resource type in a top-level
    /// `"resourceType": "User" | "Group"` member (a project extension); otherwise a URN
    /// whose last segment mentions `Group` extends Group and any other extends User.
    /// Returns the schema URN.
    pub fn add_extension_json(&mut self, json: &str) -> Result<String, RegistryError> {
        let schema = parse_schema(json)?;
        let explicit = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v.get("resourceType").and_then(|t| t.as_str()).map(str::to_owned));
        let kind = match explicit.as_deref() {
            Some(t) if t.eq_ignore_ascii_case("group") => ResourceKind::Group,
            Some(t) if t.eq_ignore_ascii_case("user") => ResourceKind::User,
            Some(t) => {
                return Err(RegistryError::Invalid {
                    schema: schema.id,
                    reason: format!("resourceType '{t}' is neither User nor Group"),
                });
            }
            None => {
                let last = schema.id.rsplit(':').next().unwrap_or_default();
                if last.to_ascii_lowercase().contains("group") {
                    ResourceKind::Group
                } else {
                    ResourceKind::User
                }
            }
        };
        self.add_extension(kind, schema, false)
    }

    /// Adds an extension schema to a resource type.
    pub fn add_extension(
        &mut self,
        kind: ResourceKind,
        schema: Schema,
        required: bool,
    ) -> Result<String, RegistryError> {
        check_schema(&schema)?;
        if self.schema(&schema.id).is_some() {
            return Err(RegistryError::Duplicate(schema.id));
        }
        let id = schema.id.clone();
        let rt = match kind {
            ResourceKind::User => &mut self.user,
            ResourceKind::Group => &mut self.group,
        };
        rt.schema_extensions.push(SchemaExtension { schema: id.clone(), required });
        self.schemas.push(Arc::new(schema));
        Ok(id)
    }

    /// Every registered schema.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        self.schemas.iter().map(|s| &**s)
    }

    /// The schema with this URN, case-insensitively.
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        self.schemas.iter().map(|s| &**s).find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// The resource type of a kind.
    pub fn resource_type(&self, kind: ResourceKind) -> &ResourceType {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    /// Both resource types.
    pub fn resource_types(&self) -> [&ResourceType; 2] {
        [&self.user, &self.group]
    }

    /// The resource type with this name, case-insensitively.
    pub fn resource_type_by_name(&self, name: &str) -> Option<ResourceKind> {
        [ResourceKind::User, ResourceKind::Group]
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// The core schema of a kind.
    pub fn core_schema(&self, kind: ResourceKind) -> Option<&Schema> {
        self.schema(kind.core_schema())
    }

    /// The extension schemas of a kind, in registration order.
    pub fn extensions(&self, kind: ResourceKind) -> impl Iterator<Item = &Schema> {
        self.resource_type(kind).schema_extensions.iter().filter_map(|e| self.schema(&e.schema))
    }

    /// The common attributes (`id`, `externalId`, `meta`, `schemas`) of RFC 7643 3.1.
    pub fn common_attributes(&self) -> &[Attribute] {
        &self.common
    }

    /// Whether `urn` is the core schema or an extension of `kind` (case-insensitive), and
    /// if so its registered spelling.
    pub fn schema_of(&self, kind: ResourceKind, urn: &str) -> Option<&str> {
        let rt = self.resource_type(kind);
        std::iter::once(rt.schema.as_str())
            .chain(rt.schema_extensions.iter().map(|e| e.schema.as_str()))
            .find(|s| s.eq_ignore_ascii_case(urn))
    }

    /// Splits a path on the longest schema URN of `kind` it starts with, so that the dot in
    /// `...:enterprise:2.0:User` is never taken as a separator. Returns the registered URN
    /// and the rest after its `:` (empty when the path is the URN itself).
    pub fn split_urn<'p>(&self, kind: ResourceKind, path: &'p str) -> Option<(&str, &'p str)> {
        let rt = self.resource_type(kind);
        std::iter::once(rt.schema.as_str())
            .chain(rt.schema_extensions.iter().map(|e| e.schema.as_str()))
            .filter_map(|urn| {
                let head = path.get(..urn.len())?;
                if !head.eq_ignore_ascii_case(urn) {
                    return None;
                }
                match path.get(urn.len()..)? {
                    "" => Some((urn, "")),
                    rest => rest.strip_prefix(':').map(|r| (urn, r)),
                }
            })
            .max_by_key(|(urn, _)| urn.len())
    }

    /// Resolves `name` (and optional `sub`) in schema `urn` (or, without one, the core
    /// schema then the common attributes) of `kind`, case-insensitively. Strict: a name
    /// without URN never reaches an extension attribute; filters resolve this way (RFC 7644
    /// 3.10 qualifies extension attributes by their schema URN). [`Registry::resolve_lenient`]
    /// adds the one leniency PATCH paths and `attributes`/`excludedAttributes` get.
    pub fn resolve_parts(
        &self,
        kind: ResourceKind,
        urn: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Option<ResolvedAttr<'_>> {
        let rt = self.resource_type(kind);
        let (schema_urn, attribute) = match urn {
            Some(u) => {
                let u = self.schema_of(kind, u)?;
                let attr = self.schema(u)?.attribute(name).or_else(|| {
                    // Common attributes are reachable through the core URN too.
                    if u.eq_ignore_ascii_case(&rt.schema) { self.common_attr(name) } else { None }
                })?;
                (Some(u), attr)
            }
            None => match self.schema(&rt.schema).and_then(|s| s.attribute(name)) {
                Some(a) => (Some(rt.schema.as_str()), a),
                None => (None, self.common_attr(name)?),
            },
        };
        let sub_attribute = match sub {
            Some(s) => Some(attribute.sub_attribute(s)?),
            None => None,
        };
        let extension = schema_urn.is_some_and(|u| !u.eq_ignore_ascii_case(&rt.schema));
        let schema = if attribute_is_common(&self.common, attribute) { None } else { schema_urn };
        Some(ResolvedAttr { schema, extension, attribute, sub_attribute })
    }

    /// Resolves like [`Registry::resolve_parts`], with this project's one leniency rule:
    /// a name that is unqualified (or qualified by the core schema's URN) and is neither a
    /// core-schema nor a common attribute resolves to the attribute of the **one**
    /// extension of `kind` that declares it, if exactly one does (Entra sends
    /// `manager.value` for the enterprise `manager`). When two extensions declare the
    /// name, it resolves to nothing. PATCH paths and projection
    /// (`attributes`/`excludedAttributes`) resolve this way; filters do not (their
    /// semantics are shared with the SQL translation, where an unqualified name is a core
    /// or common attribute only).
    pub fn resolve_lenient(
        &self,
        kind: ResourceKind,
        urn: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Option<ResolvedAttr<'_>> {
        if let Some(r) = self.resolve_parts(kind, urn, name, sub) {
            return Some(r);
        }
        if urn.is_some_and(|u| !u.eq_ignore_ascii_case(&self.resource_type(kind).schema)) {
            return None;
        }
        let mut declaring = self.extensions(kind).filter(|s| s.attribute(name).is_some());
        let sole = declaring.next()?;
        if declaring.next().is_some() {
            return None;
        }
        self.resolve_parts(kind, Some(&sole.id), name, sub)
    }

    /// Resolves a textual path (`userName`, `name.givenName`, `meta.created`,
    /// `urn:...:enterprise:2.0:User:manager.value`) case-insensitively.
    pub fn resolve(&self, kind: ResourceKind, path: &str) -> Option<ResolvedAttr<'_>> {
        let (urn, rest) = match self.split_urn(kind, path) {
            Some((u, r)) => (Some(u), r),
            None => (None, path),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        self.resolve_parts(kind, urn, name, sub)
    }

    /// The common attribute `name` (case-insensitive).
    pub(crate) fn common_attr(&self, name: &str) -> Option<&Attribute> {
        self.common.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

fn attribute_is_common(common: &[Attribute], attr: &Attribute) -> bool {
    common.iter().any(|c| std::ptr::eq(c, attr))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The projection looks names up exactly in the core schema and the common attributes
    /// before it compares them case-insensitively, which is only the same as the core
    /// schema first while no core attribute is also a common one's name in any case.
    #[test]
    fn core_attributes_never_share_a_name_with_common_ones() {
        let r = Registry::builtin();
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let core = r.schema(&r.resource_type(kind).schema).expect("core schema");
            for a in &core.attributes {
                let clash =
                    r.common_attributes().iter().find(|c| c.name.eq_ignore_ascii_case(&a.name));
                assert!(clash.is_none(), "{kind:?}: {} is also a common attribute", a.name);
            }
        }
    }

    #[test]
    fn builtin_schemas_load() {
        let r = Registry::builtin();
        assert_eq!(r.schemas().count(), 3);
        assert!(r.schema(USER_SCHEMA).is_some());
        assert!(r.schema(GROUP_SCHEMA).is_some());
        assert!(r.schema(ENTERPRISE_USER_SCHEMA).is_some());
    }

    #[test]
    fn resolves_case_insensitively() {
        let r = Registry::builtin();
        let a = r.resolve(ResourceKind::User, "USERNAME").unwrap();
        assert_eq!(a.attribute.name, "userName");
        assert_eq!(a.schema, Some(USER_SCHEMA));
        let a = r.resolve(ResourceKind::User, "Name.GivenName").unwrap();
        assert_eq!(a.leaf().name, "givenName");
        let a = r.resolve(ResourceKind::User, "meta.lastModified").unwrap();
        assert_eq!(a.leaf().kind, AttrType::DateTime);
        assert_eq!(a.schema, None);
        let a = r
            .resolve(
                ResourceKind::User,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            )
            .unwrap();
        assert!(a.extension);
        assert_eq!(a.leaf().name, "value");
        let a = r
            .resolve(ResourceKind::User, "urn:ietf:params:scim:schemas:core:2.0:User:emails.value")
            .unwrap();
        assert_eq!(a.attribute.name, "emails");
        assert!(r.resolve(ResourceKind::User, "nope").is_none());
        assert!(r.resolve(ResourceKind::Group, "userName").is_none());
    }

    #[test]
    fn lenient_resolution_finds_the_sole_extension() {
        let mut r = Registry::builtin();
        let k = ResourceKind::User;
        assert!(r.resolve_parts(k, None, "manager", None).is_none());
        let a = r.resolve_lenient(k, None, "Manager", Some("VALUE")).unwrap();
        assert!(a.extension);
        assert_eq!(a.schema, Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(a.leaf().name, "value");
        // Qualified by the core URN: the same fallback.
        let a = r.resolve_lenient(k, Some(&USER_SCHEMA.to_lowercase()), "employeeNumber", None);
        assert_eq!(a.map(|a| a.attribute.name.as_str()), Some("employeeNumber"));
        // Core and common attributes win; another extension's URN never falls back.
        assert!(!r.resolve_lenient(k, None, "userName", None).unwrap().extension);
        assert!(r.resolve_lenient(k, None, "id", None).unwrap().schema.is_none());
        assert!(r.resolve_lenient(k, Some(ENTERPRISE_USER_SCHEMA), "userName", None).is_none());
        assert!(r.resolve_lenient(ResourceKind::Group, None, "manager", None).is_none());
        // Two extensions declaring the name: ambiguous, nothing.
        r.add_extension_json(
            r#"{"id":"urn:acme:scim:schemas:1.0:User","attributes":[{"name":"manager","type":"string"}]}"#,
        )
        .unwrap();
        assert!(r.resolve_lenient(k, None, "manager", None).is_none());
        assert!(r.resolve_lenient(k, None, "employeeNumber", None).is_some());
    }

    #[test]
    fn splits_on_longest_urn() {
        let mut r = Registry::builtin();
        let ext = r#"{"id":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Extra",
            "attributes":[{"name":"x","type":"string"}]}"#;
        r.add_extension_json(ext).unwrap();
        let (urn, rest) = r
            .split_urn(
                ResourceKind::User,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Extra:x",
            )
            .unwrap();
        assert!(urn.ends_with(":Extra"));
        assert_eq!(rest, "x");
        let (urn, rest) = r
            .split_urn(
                ResourceKind::User,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            )
            .unwrap();
        assert_eq!(urn, ENTERPRISE_USER_SCHEMA);
        assert_eq!(rest, "");
    }

    #[test]
    fn loads_vendor_extension_and_rejects_malformed() {
        let mut r = Registry::builtin();
        let urn = r
            .add_extension_json(
                r#"{"id":"urn:acme:scim:schemas:1.0:UserExtension","name":"Acme",
                "attributes":[{"name":"organizationId","type":"string"},
                              {"name":"ssoEnabled","type":"boolean"}]}"#,
            )
            .unwrap();
        assert!(
            r.resource_type(ResourceKind::User).schema_extensions.iter().any(|e| e.schema == urn)
        );
        let a = r
            .resolve(ResourceKind::User, "urn:acme:scim:schemas:1.0:UserExtension:ssoenabled")
            .unwrap();
        assert_eq!(a.attribute.kind, AttrType::Boolean);

        for bad in [
            "not json",
            r#"{"attributes":[]}"#,
            r#"{"id":"acme","attributes":[{"name":"a"}]}"#,
            r#"{"id":"urn:x:y","attributes":[]}"#,
            r#"{"id":"urn:x:y","attributes":[{"name":"1a"}]}"#,
            r#"{"id":"urn:x:y","attributes":[{"name":"a","type":"complex"}]}"#,
            r#"{"id":"urn:x:y","attributes":[{"name":"a"},{"name":"A"}]}"#,
            r#"{"id":"urn:x:y","attributes":[{"name":"a","type":"wat"}]}"#,
        ] {
            assert!(r.add_extension_json(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            r.add_extension_json(
                r#"{"id":"urn:acme:scim:schemas:1.0:UserExtension","attributes":[{"name":"a"}]}"#
            ),
            Err(RegistryError::Duplicate(_))
        ));
    }
}
