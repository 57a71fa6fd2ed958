//! Queries: `GET /Users`, `POST /Users/.search` (and the same for groups) and the root
//! `POST /.search` across both types (RFC 7644 3.4.2 and 3.4.3, RFC 9865 cursors).
//!
//! Query parameters are matched case-insensitively and unknown ones are ignored (Entra
//! sends `?aadOptscim062020`). `count` is capped at the configured maximum, a negative
//! `count` counts as 0 and a `startIndex` below 1 as 1 (RFC 7644 3.4.2.4).
//!
//! The root search lists users first, then groups, each type in its own stable order
//! (`sortBy` applies within each type). Index pagination counts over that concatenation:
//! `startIndex` and `count` span the boundary, `totalResults` is the sum. Cursor
//! pagination walks the users' cursor, then the groups' (`nextCursor` is the type's own
//! cursor with a `u.`/`g.` prefix); the page at the boundary may hold fewer than `count`
//! resources while `nextCursor` is still present. A filter naming an attribute that only
//! one type has selects from that type alone.

use super::ops;
use super::support::Projection;
use crate::context::RequestCtx;
use crate::state::AppState;
use scim_core::filter::{Filter, Limits};
use scim_core::message::{ListEnvelope, SearchRequest, SortOrder};
use scim_core::path::AttrPath;
use scim_core::projection::Projector;
use scim_core::schema::{AttrType, Registry, ResourceKind};
use scim_core::{ErrorCode, ScimError};
use scim_store::{Pagination, Query, RawPage, RawStored};

/// Builds a [`SearchRequest`] from query parameters (names case-insensitive, unknown
/// names ignored, the last occurrence of a name wins).
pub(crate) fn from_query(pairs: &[(String, String)]) -> Result<SearchRequest, ScimError> {
    let mut req = SearchRequest::default();
    for (name, value) in pairs {
        let n = name.to_ascii_lowercase();
        match n.as_str() {
            "filter" => req.filter = Some(value.clone()),
            "sortby" => req.sort_by = Some(value.clone()),
            "sortorder" => {
                req.sort_order = Some(SortOrder::parse(value.trim()).ok_or_else(|| {
                    ScimError::new(
                        ErrorCode::InvalidParameter,
                        format!("sortOrder '{value}' is neither 'ascending' nor 'descending'"),
                    )
                })?);
            }
            "startindex" => req.start_index = Some(int_param("startIndex", value)?),
            "count" => req.count = Some(int_param("count", value)?),
            "attributes" => {
                req.attributes = scim_core::message::split_attribute_list(value);
            }
            "excludedattributes" => {
                req.excluded_attributes = scim_core::message::split_attribute_list(value);
            }
            "cursor" => req.cursor = Some(value.clone()),
            _ => {}
        }
    }
    Ok(req)
}

/// An integer query parameter; values beyond `i64` saturate.
fn int_param(name: &str, value: &str) -> Result<i64, ScimError> {
    let v = value.trim();
    if let Ok(n) = v.parse::<i64>() {
        return Ok(n);
    }
    let digits = v.strip_prefix('-').unwrap_or(v);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(if v.starts_with('-') { i64::MIN } else { i64::MAX });
    }
    let shown: String = value.chars().take(40).collect();
    Err(ScimError::new(ErrorCode::InvalidParameter, format!("{name} '{shown}' is not an integer")))
}

/// The projection a search request asks for.
pub(crate) fn projection_of(req: &SearchRequest) -> Projection {
    Projection { attributes: req.attributes.clone(), excluded: req.excluded_attributes.clone() }
}

/// Parses a filter with the configured limits.
pub(crate) fn parse_filter(st: &AppState, text: &str) -> Result<Option<Filter>, ScimError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let limits =
        Limits { max_len: st.config.max_filter_length, max_depth: st.config.max_filter_depth };
    Ok(Some(Filter::parse_with(text, &limits)?))
}

/// Checks that every attribute a filter names exists in `kind` and every operator fits
/// its attribute (RFC 7644 3.4.2.2: `invalidFilter` otherwise).
pub(crate) fn check_filter(
    registry: &Registry,
    kind: ResourceKind,
    filter: &Filter,
) -> Result<(), ScimError> {
    filter.validate(registry, kind)
}

/// Parses and checks `sortBy`: a known attribute that is not complex.
fn sort_path(
    registry: &Registry,
    kind: ResourceKind,
    text: &str,
) -> Result<Option<AttrPath>, ScimError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let path = AttrPath::parse_with(text.trim(), registry, kind)?;
    let resolved = registry
        .resolve_parts(kind, path.urn.as_deref(), &path.name, path.sub_attr.as_deref())
        .filter(|_| !path.is_schema());
    match resolved {
        None => Err(ScimError::invalid_path(format!(
            "sortBy '{path}' is not an attribute of {}",
            kind.name()
        ))),
        Some(r) if r.leaf().kind == AttrType::Complex => Err(ScimError::invalid_path(format!(
            "sortBy '{path}' is a complex attribute; name one of its sub-attributes"
        ))),
        Some(r) if r.attribute.multi_valued => Err(ScimError::invalid_path(format!(
            "sortBy '{path}' is multi-valued; sorting is supported on singular attributes"
        ))),
        Some(_) => Ok(Some(path)),
    }
}

/// The page size a request gets: the default when absent, at most the maximum, never
/// negative.
fn page_size(st: &AppState, count: Option<i64>) -> u64 {
    let max = st.config.max_page_size;
    match count {
        None => st.config.default_page_size.min(max),
        Some(n) if n <= 0 => 0,
        Some(n) => u64::try_from(n).unwrap_or(u64::MAX).min(max),
    }
}

fn start_index(req: &SearchRequest) -> u64 {
    match req.start_index {
        Some(n) if n >= 1 => u64::try_from(n).unwrap_or(1),
        _ => 1,
    }
}

/// Runs a query over one resource type and renders the ListResponse.
pub(crate) async fn search(
    st: &AppState,
    ctx: &RequestCtx,
    kind: ResourceKind,
    req: SearchRequest,
) -> Result<Vec<u8>, ScimError> {
    let filter = parse_filter(st, req.filter.as_deref().unwrap_or_default())?;
    if let Some(f) = &filter {
        check_filter(&st.registry, kind, f)?;
    }
    let sort_by = sort_path(&st.registry, kind, req.sort_by.as_deref().unwrap_or_default())?;
    let proj = projection_of(&req);
    let count = page_size(st, req.count);
    let start = start_index(&req);
    let pagination = match &req.cursor {
        Some(c) => Pagination::Cursor {
            cursor: Some(c.trim()).filter(|c| !c.is_empty()).map(str::to_owned),
            count,
        },
        None => Pagination::Index { start_index: start, count },
    };
    let cursor_mode = matches!(pagination, Pagination::Cursor { .. });
    let query = Query {
        filter,
        sort_by,
        sort_order: req.sort_order.unwrap_or_default(),
        pagination,
        read: proj.read_options(&st.registry, kind),
    };
    let page = st.store.query_raw(ctx.org.sid, kind, &query).await?;
    let mut items = Items::default();
    items.render(ctx, page.resources, &proj.projector(&st.registry, kind))?;
    Ok(items.list_response(page.total_results, (!cursor_mode).then_some(start), page.next_cursor))
}

/// The rendered `Resources` of a ListResponse.
#[derive(Default)]
struct Items {
    json: Vec<u8>,
    count: u64,
}

impl Items {
    /// Renders `page` (see [`ops::render_raw`]) after the items so far.
    fn render(
        &mut self,
        ctx: &RequestCtx,
        page: Vec<RawStored>,
        projector: &Projector<'_>,
    ) -> Result<(), ScimError> {
        if self.json.is_empty() {
            let size: usize = page.iter().map(|r| r.doc.len() + 384).sum();
            self.json.reserve(size);
        }
        for raw in page {
            if self.count > 0 {
                self.json.push(b',');
            }
            ops::render_raw(ctx, raw, projector, &mut self.json)?;
            self.count += 1;
        }
        Ok(())
    }

    /// The ListResponse (RFC 7644 3.4.2) holding these items, as JSON: the core
    /// [`ListEnvelope`] around the rendered items, byte for byte what serialising the core
    /// `ListResponse` gives (checked by a property test in scim-core).
    fn list_response(
        self,
        total: u64,
        start_index: Option<u64>,
        next_cursor: Option<String>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json.len() + ListEnvelope::OVERHEAD);
        let envelope = ListEnvelope {
            total_results: total,
            items_per_page: Some(self.count),
            start_index,
            next_cursor: next_cursor.as_deref(),
            previous_cursor: None,
        };
        envelope.write(&self.json, &mut out);
        out
    }
}

/// The per-type parts of a root search.
struct TypeQuery {
    kind: ResourceKind,
    filter: Option<Filter>,
    sort_by: Option<AttrPath>,
}

/// Runs a root search (`POST /.search`) across users and groups (module docs).
pub(crate) async fn search_all(
    st: &AppState,
    ctx: &RequestCtx,
    req: SearchRequest,
) -> Result<Vec<u8>, ScimError> {
    let filter = parse_filter(st, req.filter.as_deref().unwrap_or_default())?;
    let mut types = Vec::new();
    let mut first_error = None;
    for kind in [ResourceKind::User, ResourceKind::Group] {
        if let Some(f) = &filter
            && let Err(e) = check_filter(&st.registry, kind, f)
        {
            first_error.get_or_insert(e);
            continue;
        }
        // A sortBy that one type lacks sorts that type in its default order.
        let sort_by = sort_path(&st.registry, kind, req.sort_by.as_deref().unwrap_or_default())
            .ok()
            .flatten();
        types.push(TypeQuery { kind, filter: filter.clone(), sort_by });
    }
    if types.is_empty() {
        return Err(first_error
            .unwrap_or_else(|| ScimError::invalid_filter("the filter matches no resource type")));
    }
    let proj = projection_of(&req);
    let count = page_size(st, req.count);
    let order = req.sort_order.unwrap_or_default();
    let query = |t: &TypeQuery, pagination: Pagination| Query {
        filter: t.filter.clone(),
        sort_by: t.sort_by.clone(),
        sort_order: order,
        pagination,
        read: proj.read_options(&st.registry, t.kind),
    };
    match &req.cursor {
        None => {
            let start = start_index(&req);
            let mut offset = start - 1; // resources to skip before this page
            let mut remaining = count;
            let mut total = 0u64;
            let mut items = Items::default();
            for t in &types {
                // Skip `offset` of this type's results (the store counts from 1).
                let page: RawPage = st
                    .store
                    .query_raw(
                        ctx.org.sid,
                        t.kind,
                        &query(t, Pagination::Index { start_index: offset + 1, count: remaining }),
                    )
                    .await?;
                total += page.total_results;
                offset = offset.saturating_sub(page.total_results);
                remaining = remaining.saturating_sub(page.resources.len() as u64);
                items.render(ctx, page.resources, &proj.projector(&st.registry, t.kind))?;
            }
            Ok(items.list_response(total, Some(start), None))
        }
        Some(cursor) => {
            let cursor = cursor.trim();
            // Which type the cursor is in, and that type's own cursor.
            let (mut at, mut inner) = if cursor.is_empty() {
                (0usize, None)
            } else {
                let (prefix, rest) = cursor.split_once('.').ok_or_else(bad_cursor)?;
                let at = types
                    .iter()
                    .position(|t| type_prefix(t.kind) == prefix)
                    .ok_or_else(bad_cursor)?;
                (at, Some(rest.to_owned()).filter(|r| !r.is_empty()))
            };
            let mut total = 0u64;
            for t in &types {
                let p = st
                    .store
                    .query(
                        ctx.org.sid,
                        t.kind,
                        &query(t, Pagination::Index { start_index: 1, count: 0 }),
                    )
                    .await?;
                total += p.total_results;
            }
            loop {
                let Some(t) = types.get(at) else {
                    return Err(bad_cursor());
                };
                let page = st
                    .store
                    .query_raw(
                        ctx.org.sid,
                        t.kind,
                        &query(t, Pagination::Cursor { cursor: inner.clone(), count }),
                    )
                    .await?;
                let following = types.get(at + 1);
                // A type with nothing (left) to show hands over to the next one at once.
                if page.resources.is_empty()
                    && page.next_cursor.is_none()
                    && count > 0
                    && following.is_some()
                {
                    at += 1;
                    inner = None;
                    continue;
                }
                let next = match (&page.next_cursor, following) {
                    (Some(c), _) => Some(format!("{}.{c}", type_prefix(t.kind))),
                    (None, Some(n)) => Some(format!("{}.", type_prefix(n.kind))),
                    (None, None) => None,
                };
                let mut items = Items::default();
                items.render(ctx, page.resources, &proj.projector(&st.registry, t.kind))?;
                return Ok(items.list_response(total, None, next));
            }
        }
    }
}

fn type_prefix(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "u",
        ResourceKind::Group => "g",
    }
}

fn bad_cursor() -> ScimError {
    ScimError::new(
        ErrorCode::InvalidCursor,
        "the cursor is not one this server issued for /.search",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn query_params() {
        let r = from_query(&pairs(&[
            ("filter", "userName eq \"x\""),
            ("aadOptscim062020", ""),
            ("StartIndex", "0"),
            ("count", "99999999999999999999999"),
            ("excludedAttributes", "members, meta"),
        ]))
        .unwrap();
        assert_eq!(r.filter.as_deref(), Some("userName eq \"x\""));
        assert_eq!(r.start_index, Some(0));
        assert_eq!(r.count, Some(i64::MAX));
        assert_eq!(r.excluded_attributes, vec!["members", "meta"]);
        assert!(from_query(&pairs(&[("count", "ten")])).is_err());
        assert!(from_query(&pairs(&[("sortOrder", "up")])).is_err());
    }

    #[test]
    fn filters_are_checked_against_the_schema() {
        let r = Registry::builtin();
        let ok = Filter::parse("emails[type eq \"work\" and value ew \"@x.io\"] and meta.lastModified gt \"2020-01-01T00:00:00Z\"").unwrap();
        assert!(check_filter(&r, ResourceKind::User, &ok).is_ok());
        let ext = Filter::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"x\"",
        )
        .unwrap();
        assert!(check_filter(&r, ResourceKind::User, &ext).is_ok());
        let bad = Filter::parse("nope eq \"x\"").unwrap();
        assert_eq!(
            check_filter(&r, ResourceKind::User, &bad).unwrap_err().code,
            ErrorCode::InvalidFilter
        );
        let members = Filter::parse("members[value eq \"x\"]").unwrap();
        assert!(check_filter(&r, ResourceKind::User, &members).is_err());
        assert!(check_filter(&r, ResourceKind::Group, &members).is_ok());
    }

    #[test]
    fn sort_paths() {
        let r = Registry::builtin();
        assert!(sort_path(&r, ResourceKind::User, "userName").unwrap().is_some());
        assert!(sort_path(&r, ResourceKind::User, "name.familyName").unwrap().is_some());
        assert!(sort_path(&r, ResourceKind::User, "meta.created").unwrap().is_some());
        assert_eq!(
            sort_path(&r, ResourceKind::User, "name").unwrap_err().code,
            ErrorCode::InvalidPath
        );
        assert_eq!(
            sort_path(&r, ResourceKind::User, "bogus").unwrap_err().code,
            ErrorCode::InvalidPath
        );
    }
}
