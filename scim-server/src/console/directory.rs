//! The directory browser of one organization: users or groups, a search box that takes a
//! SCIM filter (checked as the SCIM routes check it; a bad one shows the server's SCIM
//! error), cursor paging (RFC 9865), and a detail view with the resource's JSON, its groups
//! or its members (paged, 100 a page; a group of more than 10,000 members is shown without
//! them), and its change history.

use super::{Nav, Signed, doc_link, html_page, layout};
use crate::admin;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use scim_core::ScimError;
use scim_core::schema::ResourceKind;
use scim_core::sid::ResourceId;
use scim_store::{AuditQuery, Pagination, Query as StoreQuery, ReadOptions};
use serde::Deserialize;
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/orgs/{org}/directory", get(list))
        .route("/console/orgs/{org}/directory/{id}", get(detail))
}

/// Resources per page.
const PAGE: u64 = 50;

/// Members or groups per page of a detail view.
const MEMBERS_PAGE: usize = 100;

/// A group with more members than this is shown without them (reading them all would cost
/// more than a page is worth).
const MEMBERS_READ: u32 = 10_000;

#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    /// 1-based page of the members or groups.
    #[serde(default)]
    page: usize,
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    cursor: String,
}

/// A SCIM error as its body (RFC 7644 3.12), with its documentation link.
fn scim_error(headers: &HeaderMap, st: &AppState, e: &ScimError) -> Markup {
    let base = crate::mount::docs_base(headers, &st.config);
    let body = serde_json::to_string_pretty(&e.to_body(&base)).unwrap_or_default();
    html! {
        div.error role="alert" {
            p { "The filter was refused: "
                a.code href=(doc_link(headers, st, e.code)) { (e.code.code()) } " " (e.code.name()) }
            pre { (body) }
        }
    }
}

fn attr<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("")
}

async fn list(
    signed: Signed,
    State(st): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let o = match admin::resolve_org(st.store.as_ref(), &org).await {
        Ok(o) => o,
        Err(e) => {
            return super::message_page(StatusCode::NOT_FOUND, &super::orgs::error_text(e));
        }
    };
    let kind = if q.kind == "groups" { ResourceKind::Group } else { ResourceKind::User };
    let checked = crate::handlers::search::parse_filter(&st, &q.filter).and_then(|f| {
        if let Some(f) = &f {
            crate::handlers::search::check_filter(&st.registry, kind, f)?;
        }
        Ok(f)
    });
    let (page, error) = match checked {
        Err(e) => (None, Some(e)),
        Ok(filter) => {
            let query = StoreQuery {
                filter,
                sort_by: None,
                sort_order: Default::default(),
                pagination: Pagination::Cursor {
                    cursor: Some(q.cursor.clone()).filter(|c| !c.is_empty()),
                    count: PAGE,
                },
                read: ReadOptions::default(),
            };
            match st.store.query(o.sid, kind, &query).await {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(ScimError::from(e))),
            }
        }
    };
    let base = format!("/console/orgs/{}/directory", o.sid);
    let kind_q = if kind == ResourceKind::Group { "groups" } else { "users" };
    let body = html! {
        h1 { "Directory of " a href={ "/console/orgs/" (o.sid) } { (o.name) } }
        form.filters method="get" action=(base) {
            label { "Show " select name="kind" {
                option value="users" selected[kind == ResourceKind::User] { "users" }
                option value="groups" selected[kind == ResourceKind::Group] { "groups" }
            } }
            label { "SCIM filter " input #filter type="text" name="filter" value=(q.filter) size="50"
                placeholder="userName sw \"a\" and active eq true"; }
            button type="submit" { "Search" }
        }
        @if let Some(e) = &error { (scim_error(&headers, &st, e)) }
        @if let Some(p) = &page {
            p.muted { (p.total_results) " match." }
            table #directory {
                thead { tr { th { "Id" }
                    @if kind == ResourceKind::User { th { "userName" } th { "Name" } th { "Active" } }
                    @else { th { "displayName" } }
                    th { "externalId" } th { "Last modified" } } }
                tbody { @for r in &p.resources {
                    @let v = serde_json::to_value(&r.resource).unwrap_or(Value::Null);
                    tr {
                        td { a href={ (base) "/" (r.id) } { code { (r.id) } } }
                        @if kind == ResourceKind::User {
                            td { (attr(&v, "userName")) }
                            td { (v.pointer("/name/formatted").and_then(Value::as_str).unwrap_or("")) }
                            td { (v.get("active").map(Value::to_string).unwrap_or_default()) }
                        } @else {
                            td { (attr(&v, "displayName")) }
                        }
                        td { (attr(&v, "externalId")) }
                        td { (v.pointer("/meta/lastModified").and_then(Value::as_str).unwrap_or("")) }
                    }
                } }
            }
            p.pager {
                @if !q.cursor.is_empty() {
                    a href={ (base) "?" (serde_urlencoded::to_string([("kind", kind_q), ("filter", q.filter.as_str())]).unwrap_or_default()) } { "First page" } " "
                }
                @if let Some(next) = &p.next_cursor {
                    a href={ (base) "?" (serde_urlencoded::to_string([("kind", kind_q), ("filter", q.filter.as_str()), ("cursor", next.as_str())]).unwrap_or_default()) } { "Next page" }
                }
            }
        }
    };
    html_page(StatusCode::OK, layout("Directory", Nav::Orgs, &signed, body))
}

async fn detail(
    signed: Signed,
    State(st): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    Query(dq): Query<DetailQuery>,
) -> Response {
    let o = match admin::resolve_org(st.store.as_ref(), &org).await {
        Ok(o) => o,
        Err(e) => {
            return super::message_page(StatusCode::NOT_FOUND, &super::orgs::error_text(e));
        }
    };
    let kind = if id.starts_with("GR") { ResourceKind::Group } else { ResourceKind::User };
    let read = ReadOptions { members: true, groups: true, members_limit: Some(MEMBERS_READ) };
    // A malformed id names nothing: the page of a resource not found.
    let found = match ResourceId::parse(kind, &id) {
        Ok(rid) => st.store.get(o.sid, rid, read).await,
        Err(_) => Ok(None),
    };
    let history = crate::events::manage::audit(
        st.store.as_ref(),
        o.sid,
        &AuditQuery { resource: Some(id.clone()), limit: 200, ..AuditQuery::default() },
    )
    .await
    .unwrap_or_default();
    let doc = match found {
        Ok(Some(s)) => Some(serde_json::to_value(&s.resource).unwrap_or(Value::Null)),
        Ok(None) => None,
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            return super::message_page(StatusCode::SERVICE_UNAVAILABLE, &e.0.detail);
        }
    };
    let base = format!("/console/orgs/{}/directory", o.sid);
    let links = |field: &str| -> Vec<(String, String)> {
        doc.as_ref()
            .and_then(|d| d.get(field))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|m| (attr(m, "value").to_owned(), attr(m, "display").to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (label, related) = if kind == ResourceKind::Group {
        ("Members", links("members"))
    } else {
        ("Groups", links("groups"))
    };
    let pages = related.len().div_ceil(MEMBERS_PAGE).max(1);
    let page = dq.page.clamp(1, pages);
    let body = html! {
        h1 { (kind.name()) " " code { (id) } " in " a href=(base) { (o.name) } }
        @match &doc {
            None => p.error { "No such " (kind.name()) " (deleted, or never made); its history is below." },
            Some(d) => {
                h2 { (label) " (" (related.len()) ")" }
                @if kind == ResourceKind::Group && d.get("members").is_none() {
                    p.muted { "More than " (MEMBERS_READ) " members: not listed here." }
                } @else if related.is_empty() { p.muted { "None." } }
                ul #related { @for (v, d) in related.iter().skip((page - 1) * MEMBERS_PAGE).take(MEMBERS_PAGE) {
                    li { a href={ (base) "/" (v) } { code { (v) } } " " (d) }
                } }
                @if pages > 1 {
                    p.pager {
                        "Page " (page) " of " (pages) " "
                        @if page > 1 { a href={ (base) "/" (id) "?page=" (page - 1) } { "Previous" } " " }
                        @if page < pages { a href={ (base) "/" (id) "?page=" (page + 1) } { "Next" } }
                    }
                }
                h2 { "JSON" }
                pre.json { (serde_json::to_string_pretty(d).unwrap_or_default()) }
            }
        }
        h2 { "History" }
        table.log {
            thead { tr { th { "Time (UTC)" } th { "Operation" } th { "Version" }
                         th { "Credential" } th { "Request id" } } }
            tbody { @for c in &history {
                tr { td { (c.at) } td { span.tag { (c.op) } " " (c.method.as_deref().unwrap_or("")) }
                     td { (c.version) } td { code { (c.actor.as_deref().unwrap_or("")) } }
                     td { code { (c.request_id.as_deref().unwrap_or("")) } } }
            } }
        }
    };
    html_page(StatusCode::OK, layout("Directory", Nav::Orgs, &signed, body))
}
