//! SCIM filters (RFC 7644 3.4.2.2): the AST, a bounded parser, a printer whose output
//! parses back to the same AST, and an evaluator against JSON resources that honours the
//! schema's `caseExact` and attribute types.
//!
//! - [`Filter::parse`] / [`Filter::parse_with`]: the complete RFC 7644 3.4.2.2 grammar,
//!   bounded by [`Limits`]; errors are [`FilterError`]s with a byte offset, which become
//!   `invalidFilter` [`ScimError`](crate::error::ScimError)s.
//! - `Display`: prints with the fewest parentheses the precedence allows, such that
//!   `Filter::parse(&f.to_string()) == Ok(f)` for every filter the parser can produce.
//! - [`matches()`] / [`Filter::matches`]: evaluation against a JSON resource, with the
//!   semantics documented on [`matches()`]; [`matches_element()`] /
//!   [`Filter::matches_element`] evaluate a value filter's inside against one value of a
//!   multi-valued attribute (PATCH's `emails[type eq "work"]`), with the same semantics;
//!   [`Filter::validate`] checks the attributes against the registry.
//! - [`resolve_path`] / [`compared_attr`]: the schema definitions behind a filter's paths,
//!   for the SQL translation in `scim-store`.

mod eval;
mod parse;
mod print;

pub use eval::{compared_attr, matches, matches_element, resolve_path};

pub(crate) use parse::parse_value_filter;
pub use parse::{DEPTH_CAP, FilterError, Limits};

use crate::path::AttrPath;

/// A comparison operator (RFC 7644 3.4.2.2, table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `co`
    Co,
    /// `sw`
    Sw,
    /// `ew`
    Ew,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

/// A literal on the right of a comparison (`compValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON string (unescaped).
    Str(String),
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath compareOp compValue`
    Compare(AttrPath, CompareOp, CompValue),
    /// `attrPath pr`
    Present(AttrPath),
    /// `not (filter)`
    Not(Box<Filter>),
    /// `filter and filter`
    And(Box<Filter>, Box<Filter>),
    /// `filter or filter`
    Or(Box<Filter>, Box<Filter>),
    /// `attrPath [valFilter]`: paths inside are relative to the attribute's elements.
    ValuePath(AttrPath, Box<Filter>),
}

impl CompareOp {
    /// Every operator, in the RFC's order.
    pub const ALL: [CompareOp; 9] =
        [Self::Eq, Self::Ne, Self::Co, Self::Sw, Self::Ew, Self::Gt, Self::Ge, Self::Lt, Self::Le];

    /// The keyword, lowercase (`eq`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// The operator of a keyword, case-insensitively (`EQ`, `Eq`, `eq`).
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        Self::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// Whether this is an ordering operator (`gt`, `ge`, `lt`, `le`), which RFC 7644
    /// 3.4.2.2 forbids on boolean and binary attributes.
    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    /// Whether this is a substring operator (`co`, `sw`, `ew`).
    pub fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }
}

impl Filter {
    /// Parses a filter with the default [`Limits`].
    pub fn parse(s: &str) -> Result<Filter, FilterError> {
        parse::parse(s, &Limits::default())
    }

    /// Parses a filter with the given limits (the server passes its configured ones).
    pub fn parse_with(s: &str, limits: &Limits) -> Result<Filter, FilterError> {
        parse::parse(s, limits)
    }

    /// `left and right`.
    pub fn and(left: Filter, right: Filter) -> Filter {
        Filter::And(Box::new(left), Box::new(right))
    }

    /// `left or right`.
    pub fn or(left: Filter, right: Filter) -> Filter {
        Filter::Or(Box::new(left), Box::new(right))
    }

    /// `not (inner)`.
    pub fn negate(inner: Filter) -> Filter {
        Filter::Not(Box::new(inner))
    }

    /// Calls `f` with every attribute path in the filter and, for paths inside a value
    /// filter `emails[...]`, the path of the attribute whose elements they are relative to.
    pub fn visit_paths<'f>(&'f self, f: &mut impl FnMut(&'f AttrPath, Option<&'f AttrPath>)) {
        self.visit_paths_in(None, f);
    }

    fn visit_paths_in<'f>(
        &'f self,
        parent: Option<&'f AttrPath>,
        f: &mut impl FnMut(&'f AttrPath, Option<&'f AttrPath>),
    ) {
        match self {
            Filter::Compare(p, _, _) | Filter::Present(p) => f(p, parent),
            Filter::Not(inner) => inner.visit_paths_in(parent, f),
            Filter::And(l, r) | Filter::Or(l, r) => {
                l.visit_paths_in(parent, f);
                r.visit_paths_in(parent, f);
            }
            Filter::ValuePath(p, inner) => {
                f(p, parent);
                inner.visit_paths_in(Some(p), f);
            }
        }
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}
