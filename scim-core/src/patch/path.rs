//! A PATCH operation's `path` (RFC 7644 3.5.2): an attribute path ([`AttrPath`]),
//! optionally with a value filter and a sub-attribute after it.

use crate::filter::{Filter, Limits};
use crate::path::{AttrPath, MAX_PATH_LEN, PathError, check_attr_name, shorten};
use crate::schema::{Registry, ResourceKind};
use std::fmt;

/// A PATCH operation's `path`: an attribute path, optionally with a value filter on a
/// multi-valued attribute and a sub-attribute after it (`emails[type eq "work"].value`).
///
/// Without a value filter, `attr` carries the whole path (`name.givenName` has
/// `attr.sub_attr = Some("givenName")` and `sub_attr = None`); with one, `attr` has no
/// sub-attribute and `sub_attr` is what follows `]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (for a value-filtered path, without sub-attribute).
    pub attr: AttrPath,
    /// The value filter inside `[...]`, with paths relative to the attribute's elements.
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`.
    pub sub_attr: Option<String>,
}

impl PatchPath {
    /// Parses `attrPath` or `attrPath "[" valFilter "]" ["." subAttr]` (RFC 7644 3.5.2)
    /// without a registry (see [`AttrPath::parse`] for how the URN is split).
    pub fn parse(s: &str) -> Result<PatchPath, PathError> {
        Self::parse_impl(s, AttrPath::parse)
    }

    /// Parses with the registry at hand (see [`AttrPath::parse_with`]), so that a path
    /// that is a whole extension URN is recognised and URNs get their registered spelling.
    pub fn parse_with(
        s: &str,
        registry: &Registry,
        kind: ResourceKind,
    ) -> Result<PatchPath, PathError> {
        Self::parse_impl(s, |attr| AttrPath::parse_with(attr, registry, kind))
    }

    fn parse_impl(
        s: &str,
        parse_attr: impl Fn(&str) -> Result<AttrPath, PathError>,
    ) -> Result<PatchPath, PathError> {
        if s.len() > MAX_PATH_LEN {
            return Err(PathError::new(s, MAX_PATH_LEN, "a path of at most 4096 bytes"));
        }
        let Some(open) = s.find('[') else {
            let attr = parse_attr(s).map_err(|e| PathError { input: shorten(s), ..e })?;
            return Ok(PatchPath { attr, filter: None, sub_attr: None });
        };
        let head = s.get(..open).unwrap_or_default();
        let attr = parse_attr(head).map_err(|e| PathError { input: shorten(s), ..e })?;
        if attr.sub_attr.is_some() || attr.is_schema() {
            return Err(PathError::new(
                s,
                open,
                "the end of the path: '[' may only follow a multi-valued attribute's name",
            ));
        }
        let (filter, end) = crate::filter::parse_value_filter(s, open + 1, &Limits::default())
            .map_err(|e| PathError::new(s, e.offset(), e.expected()))?;
        let rest = s.get(end..).unwrap_or_default();
        let sub_attr = if rest.is_empty() {
            None
        } else if let Some(sub) = rest.strip_prefix('.') {
            check_attr_name(sub).map_err(|(o, e)| {
                PathError::new(
                    s,
                    end + 1 + o,
                    if sub.is_empty() { "a sub-attribute name after '.'" } else { e },
                )
            })?;
            Some(sub.to_owned())
        } else {
            return Err(PathError::new(s, end, "'.' and a sub-attribute, or the end of the path"));
        };
        Ok(PatchPath { attr, filter: Some(filter), sub_attr })
    }

    /// The path that the operation finally targets, ignoring the value filter
    /// (`emails[type eq "work"].value` -> `emails.value`).
    pub fn target(&self) -> AttrPath {
        match (&self.filter, &self.sub_attr) {
            (None, _) => self.attr.clone(),
            (Some(_), sub) => AttrPath { sub_attr: sub.clone(), ..self.attr.without_sub_attr() },
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PatchPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, ScimError};

    #[test]
    fn errors_carry_offsets() {
        let e = PatchPath::parse("emails[type eq \"work\"]x").unwrap_err();
        assert_eq!(e.offset, 22);
        let se: ScimError = e.into();
        assert_eq!(se.code, ErrorCode::InvalidPath);
    }
}
