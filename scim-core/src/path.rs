//! Attribute paths (RFC 7644 3.10): `attrPath = [URI ":"] ATTRNAME *1subAttr`. A PATCH
//! path, which may also be `attrPath "[" valFilter "]" ["." subAttr]` (RFC 7644 3.5.2),
//! is `PatchPath` of the `patch` module, built on these.
//!
//! Two ways to split off a URN prefix:
//!
//! - [`AttrPath::parse`] works without a registry: the URN is everything up to the
//!   **last** `:` (an ATTRNAME never contains `:` or `.`), so
//!   `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` has URN
//!   `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, name `manager`, sub-attribute
//!   `value`. It keeps the spelling as written.
//! - [`AttrPath::parse_with`] splits on the longest schema URN registered for the resource
//!   type ([`Registry::split_urn`]) and normalises it to the registered spelling. Only it can
//!   recognise a path that *is* a whole schema URN (`urn:...:enterprise:2.0:User`, which PATCH
//!   and `attributes` allow): such a path is represented as `urn = Some(URN)` with an **empty
//!   `name`** (see [`AttrPath::is_schema`]). Without a registry the same text would parse as
//!   URN `urn:...:enterprise:2.0`, name `User`; [`AttrPath::normalize`] fixes such values up.

use crate::error::{ErrorCode, ScimError};
use crate::schema::{Registry, ResourceKind};
use std::borrow::Cow;
use std::fmt;

/// Longest PATCH path accepted, in bytes (the value filter inside gets the filter
/// [`Limits`] default as well).
pub const MAX_PATH_LEN: usize = 4096;

/// How many characters of the input a [`PathError`] keeps.
const SHOWN_INPUT: usize = 80;

/// A path that does not parse.
///
/// Its display is the `detail` of the `invalidPath` error it becomes:
/// `invalid path 'emails[type eq]' at byte 14: expected a value ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path '{input}' at byte {offset}: expected {expected}")]
#[non_exhaustive]
pub struct PathError {
    /// Byte offset into the input where parsing failed.
    pub offset: usize,
    /// What the parser expected there.
    pub expected: Cow<'static, str>,
    /// The input, shortened to its first 80 characters (with `...` when cut).
    pub input: String,
}

impl PathError {
    /// A new error at `offset` of `input`.
    pub fn new(input: &str, offset: usize, expected: impl Into<Cow<'static, str>>) -> Self {
        Self { offset, expected: expected.into(), input: shorten(input) }
    }
}

impl From<PathError> for ScimError {
    fn from(e: PathError) -> Self {
        ScimError::new(ErrorCode::InvalidPath, e.to_string())
    }
}

pub(crate) fn shorten(input: &str) -> String {
    match input.char_indices().nth(SHOWN_INPUT) {
        Some((i, _)) => format!("{}...", input.get(..i).unwrap_or_default()),
        None => input.to_owned(),
    }
}

/// RFC 7643 2.1: `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`,
/// plus the reserved `$ref`. Returns the byte offset of the first bad character.
pub(crate) fn check_attr_name(name: &str) -> Result<(), (usize, &'static str)> {
    if name == "$ref" {
        return Ok(());
    }
    let mut bytes = name.bytes().enumerate();
    match bytes.next() {
        None => return Err((0, "an attribute name")),
        Some((_, c)) if c.is_ascii_alphabetic() => {}
        Some((_, _)) => return Err((0, "an attribute name starting with a letter")),
    }
    for (i, c) in bytes {
        if !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
            return Err((i, "a letter, digit, '-' or '_' (attribute names allow nothing else)"));
        }
    }
    Ok(())
}

/// Whether `s` is a valid ATTRNAME (RFC 7643 2.1), `$ref` included.
pub fn is_attr_name(s: &str) -> bool {
    check_attr_name(s).is_ok()
}

/// Characters allowed in a URN prefix: RFC 8141 NSS characters minus those that delimit
/// filters (`(`, `)`, `[`, `]`, `"`, space) and minus `=`, `,`, `;`, `@`, `!`, `*`, `'`,
/// `&`, `?`, `#`, which no schema URN in use contains.
pub(crate) fn is_urn_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b':' | b'%' | b'/' | b'+' | b'~')
}

fn check_urn(urn: &str) -> Result<(), (usize, &'static str)> {
    let ok_prefix = urn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) && urn.len() > 4;
    if !ok_prefix {
        return Err((0, "an attribute name, or a schema URN ('urn:...') before the last ':'"));
    }
    match urn.bytes().position(|c| !is_urn_byte(c)) {
        Some(i) => {
            Err((i, "a URN character (letter, digit, '-', '.', '_', ':', '%', '/', '+', '~')"))
        }
        None => Ok(()),
    }
}

/// `[URI ":"] ATTRNAME [ "." subAttr ]`.
///
/// Names keep their spelling as written; compare them case-insensitively (RFC 7643 2.1).
/// An empty `name` (with `urn` set) means the path is a whole schema URN; only
/// [`AttrPath::parse_with`] and [`AttrPath::normalize`] produce that.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, as written (without the trailing `:`).
    pub urn: Option<String>,
    /// The attribute name, as written (compare case-insensitively).
    pub name: String,
    /// The sub-attribute name, as written.
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A path without URN: `name` or `name.sub`. Does not validate the names.
    pub fn new(name: impl Into<String>, sub_attr: Option<&str>) -> Self {
        Self { urn: None, name: name.into(), sub_attr: sub_attr.map(str::to_owned) }
    }

    /// Parses `[URN ":"] ATTRNAME ["." subAttr]` without a registry: the URN is everything
    /// before the last `:` and must start with `urn:`.
    pub fn parse(s: &str) -> Result<AttrPath, PathError> {
        Self::parse_at(s, 0).map_err(|(off, exp)| PathError::new(s, off, exp))
    }

    /// [`AttrPath::parse`] with error offsets shifted by `base`, for callers that parse a
    /// path out of a longer text (the filter parser).
    pub(crate) fn parse_at(s: &str, base: usize) -> Result<AttrPath, (usize, &'static str)> {
        let (urn, rest, rest_at) = match s.rfind(':') {
            Some(i) => {
                (Some(s.get(..i).unwrap_or_default()), s.get(i + 1..).unwrap_or_default(), i + 1)
            }
            None => (None, s, 0),
        };
        if let Some(u) = urn {
            check_urn(u).map_err(|(o, e)| (base + o, e))?;
            if rest.is_empty() {
                return Err((base + rest_at, "an attribute name after the schema URN"));
            }
        }
        let mut path = Self::parse_name_sub(rest).map_err(|(o, e)| (base + rest_at + o, e))?;
        path.urn = urn.map(str::to_owned);
        Ok(path)
    }

    /// `ATTRNAME ["." subAttr]`.
    fn parse_name_sub(s: &str) -> Result<AttrPath, (usize, &'static str)> {
        let (name, sub) = match s.split_once('.') {
            Some((n, sub)) => (n, Some(sub)),
            None => (s, None),
        };
        check_attr_name(name)?;
        if let Some(sub) = sub {
            let sub_at = name.len() + 1;
            if let Some(i) = sub.find('.') {
                return Err((sub_at + i, "the end of the path (at most one sub-attribute)"));
            }
            check_attr_name(sub).map_err(|(o, e)| {
                (sub_at + o, if sub.is_empty() { "a sub-attribute name after '.'" } else { e })
            })?;
        }
        Ok(AttrPath { urn: None, name: name.to_owned(), sub_attr: sub.map(str::to_owned) })
    }

    /// Parses with the registry at hand: the URN prefix is the longest schema URN of `kind`
    /// that the path starts with (case-insensitively), normalised to its registered
    /// spelling. A path that is exactly a schema URN gives `urn = Some(URN)` and an empty
    /// `name`. A URN that is not registered for `kind` is kept as written, as
    /// [`AttrPath::parse`] would.
    pub fn parse_with(
        s: &str,
        registry: &Registry,
        kind: ResourceKind,
    ) -> Result<AttrPath, PathError> {
        match registry.split_urn(kind, s) {
            Some((urn, "")) => {
                Ok(AttrPath { urn: Some(urn.to_owned()), name: String::new(), sub_attr: None })
            }
            // A longer, unregistered URN (`<registered>:Extra:x`): fall back to the last ':'.
            Some((_, rest)) if rest.contains(':') => Self::parse(s),
            Some((urn, rest)) => {
                let rest_at = s.len() - rest.len();
                let mut path = Self::parse_name_sub(rest)
                    .map_err(|(o, e)| PathError::new(s, rest_at + o, e))?;
                path.urn = Some(urn.to_owned());
                Ok(path)
            }
            None => Self::parse(s),
        }
    }

    /// The same path re-split against the registry, as [`AttrPath::parse_with`] would have
    /// split its text: registered URNs get their registered spelling, and a naive split of a
    /// whole schema URN (`urn:...:enterprise:2.0` + name `User`) becomes that schema.
    /// Paths without URN are returned unchanged.
    pub fn normalize(&self, registry: &Registry, kind: ResourceKind) -> AttrPath {
        if self.urn.is_none() {
            return self.clone();
        }
        Self::parse_with(&self.to_string(), registry, kind).unwrap_or_else(|_| self.clone())
    }

    /// Whether the path names a whole schema (its URN with an empty `name`).
    pub fn is_schema(&self) -> bool {
        self.urn.is_some() && self.name.is_empty()
    }

    /// The same path without its sub-attribute.
    pub fn without_sub_attr(&self) -> AttrPath {
        AttrPath { urn: self.urn.clone(), name: self.name.clone(), sub_attr: None }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.urn, self.name.is_empty()) {
            (Some(urn), true) => return f.write_str(urn),
            (Some(urn), false) => write!(f, "{urn}:")?,
            (None, _) => {}
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for AttrPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ENTERPRISE_USER_SCHEMA;

    #[test]
    fn splits_urn_on_last_colon() {
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(p.urn.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(p.name, "manager");
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
    }

    #[test]
    fn whole_schema_with_registry() {
        let r = Registry::builtin();
        let lower = ENTERPRISE_USER_SCHEMA.to_ascii_lowercase();
        let p = AttrPath::parse_with(&lower, &r, ResourceKind::User).unwrap();
        assert!(p.is_schema());
        assert_eq!(p.urn.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(p.to_string(), ENTERPRISE_USER_SCHEMA);
        let naive = AttrPath::parse(ENTERPRISE_USER_SCHEMA).unwrap();
        assert_eq!(naive.name, "User");
        assert_eq!(naive.normalize(&r, ResourceKind::User), p);
    }

    #[test]
    fn errors_carry_offsets() {
        let e = AttrPath::parse("name.given.x").unwrap_err();
        assert_eq!(e.offset, 10);
        let e = AttrPath::parse("1abc").unwrap_err();
        assert_eq!(e.offset, 0);
        let e = AttrPath::parse("foo:bar").unwrap_err();
        assert_eq!(e.offset, 0);
        let se: ScimError = e.into();
        assert_eq!(se.code, ErrorCode::InvalidPath);
    }
}
