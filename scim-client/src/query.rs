//! [`Query`]: the parameters of a search or list (RFC 7644 3.4.2, 3.4.3; RFC 9865).

use crate::filter::{Expr, FilterBuildError};
use scim_core::message::{SEARCH_REQUEST, SearchRequest, SortOrder};

/// What to search for and how to page: a filter (as the core AST, so that values cannot
/// change its structure; build one with [`crate::filter`]), projection, sorting, paging.
///
/// ```
/// use scim_client::{Query, filter::attr};
/// let q = Query::new()
///     .filter(attr("userName").sw("ada").and(attr("active").eq(true)))
///     .attributes(["userName", "emails"])
///     .count(100);
/// assert_eq!(
///     q.filter_text().unwrap().as_deref(),
///     Some(r#"userName sw "ada" and active eq true"#)
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[must_use]
pub struct Query {
    pub(crate) filter: Option<Expr>,
    pub(crate) attributes: Vec<String>,
    pub(crate) excluded_attributes: Vec<String>,
    pub(crate) sort_by: Option<String>,
    pub(crate) sort_order: Option<SortOrder>,
    pub(crate) start_index: Option<u64>,
    pub(crate) count: Option<u64>,
    pub(crate) cursor: Option<String>,
}

impl Query {
    /// Everything, server's default page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only resources matching `filter`.
    pub fn filter(mut self, filter: impl Into<Expr>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Return only these attributes (plus those always returned).
    pub fn attributes<S: Into<String>>(mut self, attrs: impl IntoIterator<Item = S>) -> Self {
        self.attributes = attrs.into_iter().map(Into::into).collect();
        self
    }

    /// Leave these attributes out.
    pub fn excluded_attributes<S: Into<String>>(
        mut self,
        attrs: impl IntoIterator<Item = S>,
    ) -> Self {
        self.excluded_attributes = attrs.into_iter().map(Into::into).collect();
        self
    }

    /// Sort by an attribute path, in `order`.
    pub fn sort_by(mut self, path: impl Into<String>, order: SortOrder) -> Self {
        self.sort_by = Some(path.into());
        self.sort_order = Some(order);
        self
    }

    /// 1-based index of the first result (index paging). Ignored by `list` streams that page
    /// by cursor.
    pub fn start_index(mut self, index: u64) -> Self {
        self.start_index = Some(index);
        self
    }

    /// Page size. A `list` stream clamps it to the server's advertised maximum.
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// An RFC 9865 cursor (`""` asks for the first page by cursor).
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// The filter, printed as it is sent; an error when the expression was malformed.
    pub fn filter_text(&self) -> Result<Option<String>, FilterBuildError> {
        match &self.filter {
            None => Ok(None),
            Some(e) => e.clone().build().map(|f| Some(f.to_string())),
        }
    }

    /// The query as an RFC 7644 3.4.3 search request body.
    pub fn to_search_request(&self) -> Result<SearchRequest, FilterBuildError> {
        Ok(SearchRequest {
            schemas: vec![SEARCH_REQUEST.to_owned()],
            attributes: self.attributes.clone(),
            excluded_attributes: self.excluded_attributes.clone(),
            filter: self.filter_text()?,
            sort_by: self.sort_by.clone(),
            sort_order: self.sort_order,
            start_index: self.start_index.and_then(|n| i64::try_from(n).ok()),
            count: self.count.and_then(|n| i64::try_from(n).ok()),
            cursor: self.cursor.clone(),
        })
    }

    /// The query as URL query parameters (RFC 7644 3.4.2).
    pub fn to_params(&self) -> Result<Vec<(&'static str, String)>, FilterBuildError> {
        let mut p = Vec::new();
        if let Some(f) = self.filter_text()? {
            p.push(("filter", f));
        }
        if !self.attributes.is_empty() {
            p.push(("attributes", self.attributes.join(",")));
        }
        if !self.excluded_attributes.is_empty() {
            p.push(("excludedAttributes", self.excluded_attributes.join(",")));
        }
        if let Some(s) = &self.sort_by {
            p.push(("sortBy", s.clone()));
        }
        if let Some(o) = self.sort_order {
            let o = match o {
                SortOrder::Ascending => "ascending",
                SortOrder::Descending => "descending",
            };
            p.push(("sortOrder", o.to_owned()));
        }
        if let Some(n) = self.start_index {
            p.push(("startIndex", n.to_string()));
        }
        if let Some(n) = self.count {
            p.push(("count", n.to_string()));
        }
        if let Some(c) = &self.cursor {
            p.push(("cursor", c.clone()));
        }
        Ok(p)
    }
}
