//! A typed filter builder that cannot be injected.
//!
//! Filters are built as `scim-core`'s [`Filter`] AST and printed with its printer
//! (`Display`), which quotes and escapes every string value (RFC 7644 3.4.2.2 values are
//! JSON strings, RFC 8259 section 7). So no value, whatever it contains (quotes,
//! backslashes, `]`, `)`, ` or `), can change the structure of the filter: printing the
//! AST and parsing the text gives the same AST back. Attribute paths are parsed and
//! validated (RFC 7643 2.1 `ATTRNAME` characters); a malformed path makes the expression
//! an error rather than text.
//!
//! ```
//! use scim_client::filter::{attr, not};
//! let name = r#"x" or userName pr or "y"#; // hostile input stays a value
//! let f = attr("userName").eq(name)
//!     .and(attr("emails").has(attr("type").eq("work").and(attr("value").ew("@example.com"))))
//!     .or(not(attr("active").eq(true)))
//!     .build()
//!     .unwrap();
//! assert_eq!(
//!     f.to_string(),
//!     r#"userName eq "x\" or userName pr or \"y" and emails[type eq "work" and value ew "@example.com"] or not (active eq true)"#
//! );
//! assert_eq!(scim_core::filter::Filter::parse(&f.to_string()), Ok(f));
//! ```

pub use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::path::{AttrPath, PathError};

/// Why an expression cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterBuildError {
    /// An attribute path does not parse.
    #[error("{0}")]
    InvalidPath(#[from] PathError),
    /// A number is not finite (NaN or infinite), which JSON cannot carry.
    #[error("the number {0} cannot be a filter value (not finite)")]
    InvalidNumber(String),
    /// A value filter `attr[...]` on a path that already has a sub-attribute.
    #[error("a value filter needs a path without sub-attribute, not '{0}'")]
    ValuePathWithSubAttr(String),
}

/// An attribute path, the left side of a comparison. Made with [`attr`] or
/// [`Attr::from_path`].
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Attr {
    path: Result<AttrPath, FilterBuildError>,
}

/// A filter expression being built: a [`Filter`], or the first error met building it.
/// Turn it into the AST with [`Expr::build`]; [`Query::filter`](crate::Query::filter)
/// takes it directly.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Expr(Result<Filter, FilterBuildError>);

/// The attribute at `path` (`userName`, `name.givenName`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`).
pub fn attr(path: &str) -> Attr {
    Attr { path: AttrPath::parse(path).map_err(FilterBuildError::from) }
}

/// `not (inner)`.
pub fn not(inner: Expr) -> Expr {
    Expr(inner.0.map(Filter::negate))
}

/// A value that can stand on the right of a comparison: strings, booleans, integers,
/// finite floats, `Option` (`None` is `null`), or a core [`CompValue`].
pub trait IntoCompValue {
    /// The literal.
    fn into_comp_value(self) -> Result<CompValue, FilterBuildError>;
}

impl IntoCompValue for CompValue {
    fn into_comp_value(self) -> Result<CompValue, FilterBuildError> {
        Ok(self)
    }
}

impl IntoCompValue for &str {
    fn into_comp_value(self) -> Result<CompValue, FilterBuildError> {
        Ok(CompValue::Str(self.to_owned()))
    }
}

impl IntoCompValue for String {
    fn into_comp_value(self) -> Result<CompValue, FilterBuildError> {
        Ok(CompValue::Str(self))
    }
}

impl IntoCompValue for &String {
    fn into_comp_value(self) -> Result<CompValue, FilterBuildError> {
        Ok(CompValue::Str(self.clone()))
    }
}

impl IntoCompValue for bool {
    fn into_comp_value(self) -> Result<CompValue, FilterBuildError> {
        Ok(CompValue::Bool(self))
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl IntoCompValue for $t {
            fn into_comp_value(self) -> Result<CompValue, FilterBuildError> {
                Ok(CompValue::Number(self.into()))
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32, u64);

impl IntoCompValue for f64 {
    fn into_comp_value(self) -> Result<CompValue, FilterBuildError> {
        serde_json::Number::from_f64(self)
            .map(CompValue::Number)
            .ok_or_else(|| FilterBuildError::InvalidNumber(self.to_string()))
    }
}

impl<T: IntoCompValue> IntoCompValue for Option<T> {
    fn into_comp_value(self) -> Result<CompValue, FilterBuildError> {
        match self {
            Some(v) => v.into_comp_value(),
            None => Ok(CompValue::Null),
        }
    }
}

impl Attr {
    /// An already parsed path.
    pub fn from_path(path: AttrPath) -> Attr {
        Attr { path: Ok(path) }
    }

    /// `path op value`.
    pub fn compare(self, op: CompareOp, value: impl IntoCompValue) -> Expr {
        Expr(self.path.and_then(|p| Ok(Filter::Compare(p, op, value.into_comp_value()?))))
    }

    /// `path eq value`.
    pub fn eq(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Eq, value)
    }

    /// `path ne value`.
    pub fn ne(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Ne, value)
    }

    /// `path co value` (contains).
    pub fn co(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Co, value)
    }

    /// `path sw value` (starts with).
    pub fn sw(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Sw, value)
    }

    /// `path ew value` (ends with).
    pub fn ew(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Ew, value)
    }

    /// `path gt value`.
    pub fn gt(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Gt, value)
    }

    /// `path ge value`.
    pub fn ge(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Ge, value)
    }

    /// `path lt value`.
    pub fn lt(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Lt, value)
    }

    /// `path le value`.
    pub fn le(self, value: impl IntoCompValue) -> Expr {
        self.compare(CompareOp::Le, value)
    }

    /// `path pr` (present).
    pub fn pr(self) -> Expr {
        Expr(self.path.map(Filter::Present))
    }

    /// `path[inner]`: an element of the multi-valued attribute matches `inner`, whose
    /// paths are relative to the element (`attr("emails").has(attr("type").eq("work"))`).
    pub fn has(self, inner: Expr) -> Expr {
        Expr(self.path.and_then(|p| {
            if p.sub_attr.is_some() {
                return Err(FilterBuildError::ValuePathWithSubAttr(p.to_string()));
            }
            Ok(Filter::ValuePath(p, Box::new(inner.0?)))
        }))
    }
}

impl Expr {
    /// `self and other`.
    pub fn and(self, other: Expr) -> Expr {
        Expr(self.0.and_then(|l| Ok(Filter::and(l, other.0?))))
    }

    /// `self or other`.
    pub fn or(self, other: Expr) -> Expr {
        Expr(self.0.and_then(|l| Ok(Filter::or(l, other.0?))))
    }

    /// The core AST, or the first error met building it.
    pub fn build(self) -> Result<Filter, FilterBuildError> {
        self.0
    }

    /// The AST, when the expression is well-formed.
    pub fn as_filter(&self) -> Option<&Filter> {
        self.0.as_ref().ok()
    }
}

impl From<Filter> for Expr {
    fn from(f: Filter) -> Self {
        Expr(Ok(f))
    }
}

impl TryFrom<Expr> for Filter {
    type Error = FilterBuildError;
    fn try_from(e: Expr) -> Result<Filter, FilterBuildError> {
        e.0
    }
}
