//! Attribute paths (RFC 7644 3.10 and the PATCH `path` grammar of RFC 7644 3.5.2).
//!
//! `attrPath = [URI ":"] ATTRNAME *1subAttr`; a PATCH path may also be
//! `attrPath "[" valFilter "]" [subAttr]`. A URN prefix is split on the longest registered
//! schema URN when a [`Registry`](crate::schema::Registry) is at hand, so the dot in
//! `enterprise:2.0:User` is never a separator.

use crate::filter::Filter;

/// `[URI ":"] ATTRNAME [ "." subAttr ]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, as written (without the trailing `:`).
    pub urn: Option<String>,
    /// The attribute name, as written (compare case-insensitively).
    pub name: String,
    /// The sub-attribute name, as written.
    pub sub_attr: Option<String>,
}

/// A PATCH operation's `path`: an attribute path, optionally with a value filter on a
/// multi-valued attribute and a sub-attribute after it (`emails[type eq "work"].value`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (for a value-filtered path, without sub-attribute).
    pub attr: AttrPath,
    /// The value filter inside `[...]`, with paths relative to the attribute's elements.
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`.
    pub sub_attr: Option<String>,
}
