//! The request log page: this replica's recent requests, newest first, filtered by status
//! class, error code and organization; an error's code links to its documentation. The
//! table refreshes itself every second with JavaScript (`/console/requests/rows`).

use super::{Nav, Signed, doc_link, html_page, layout};
use crate::operator::reqlog::Entry;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/requests", get(page)).route("/console/requests/rows", get(rows))
}

/// Rows shown at most.
const SHOWN: usize = 200;

/// The filters (query parameters).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filter {
    /// `2xx`, `4xx`, `5xx` (or `3xx`).
    #[serde(default)]
    status: String,
    /// A numeric SCIM error code.
    #[serde(default)]
    code: String,
    /// An organization sid.
    #[serde(default)]
    org: String,
    /// A credential id.
    #[serde(default)]
    credential: String,
}

impl Filter {
    fn keeps(&self, e: &Entry) -> bool {
        let class = self.status.trim().chars().next().and_then(|c| c.to_digit(10));
        class.is_none_or(|c| u32::from(e.status / 100) == c)
            && (self.code.trim().is_empty()
                || e.code.is_some_and(|c| c.code().to_string() == self.code.trim()))
            && (self.org.trim().is_empty()
                || e.org.is_some_and(|o| o.to_string() == self.org.trim()))
            && (self.credential.trim().is_empty()
                || e.credential.as_deref() == Some(self.credential.trim()))
    }

    fn query(&self) -> String {
        serde_urlencoded::to_string([
            ("status", self.status.as_str()),
            ("code", self.code.as_str()),
            ("org", self.org.as_str()),
            ("credential", self.credential.as_str()),
        ])
        .unwrap_or_default()
    }
}

/// The organization filter as a sid: a name is looked up (the first organization of that
/// name; an unknown name matches nothing).
async fn org_sid(st: &AppState, f: &mut Filter) {
    let named = f.org.trim();
    if named.is_empty() || named.starts_with("OR") {
        return;
    }
    if let Ok(o) = crate::admin::resolve_org(st.store.as_ref(), named).await {
        f.org = o.sid.to_string();
    }
}

fn table_rows(signed: &Signed, headers: &HeaderMap, st: &AppState, f: &Filter) -> Markup {
    let entries = signed.console.requests.recent(SHOWN, |e| f.keeps(e));
    html! {
        @for e in &entries {
            tr.err[e.status >= 400] {
                td { (super::time_ms(e.at_ms)) }
                td { (e.method.as_str()) }
                td.path {
                    (e.path)
                    @if let Some(id) = e.capture {
                        " " a.capture href={ "/console/requests/captures/" (id) } { "bodies" }
                    }
                }
                td { (e.status) }
                td {
                    @if let Some(c) = e.code {
                        a.code href=(doc_link(headers, st, c)) title=(c.name()) { (c.code()) }
                    }
                }
                td.num { (format!("{:.1}", e.latency_us as f64 / 1000.0)) }
                td { @if let Some(o) = e.org { a href={ "/console/orgs/" (o) } { code { (o) } } } }
                td { code { (e.credential.as_deref().unwrap_or("")) } }
                td { code { (e.request_id.to_str().unwrap_or("-")) } }
            }
        }
        @if entries.is_empty() { tr { td colspan="9" .muted { "No request matches." } } }
    }
}

async fn page(
    signed: Signed,
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(mut f): Query<Filter>,
) -> Response {
    org_sid(&st, &mut f).await;
    let total = signed.console.requests.len();
    let body = html! {
        h1 { "Requests" }
        p.muted { "The last " (st.config.request_log_size)
                  " requests this replica answered (" (total) " kept); newest first, at most "
                  (SHOWN) " shown. No body, query string or secret is kept, unless a debug "
                  "capture runs for the organization (its page switches one on)." }
        form.filters method="get" action="/console/requests" {
            label { "Status " select name="status" {
                @for (v, l) in [("", "any"), ("2xx", "2xx"), ("3xx", "3xx"), ("4xx", "4xx"), ("5xx", "5xx")] {
                    option value=(v) selected[f.status == v] { (l) }
                }
            } }
            label { "Error code " input type="text" name="code" value=(f.code) size="6"; }
            label { "Organization " input type="text" name="org" value=(f.org) size="30"; }
            label { "Credential " input type="text" name="credential" value=(f.credential) size="30"; }
            button type="submit" { "Filter" }
        }
        table.log #requests {
            thead { tr { th { "Time (UTC)" } th { "Method" } th { "Path" } th { "Status" }
                         th { "Error" } th { "ms" } th { "Organization" } th { "Credential" }
                         th { "Request id" } } }
            tbody data-refresh={ "/console/requests/rows?" (f.query()) } {
                (table_rows(&signed, &headers, &st, &f))
            }
        }
    };
    html_page(StatusCode::OK, layout("Requests", Nav::Requests, &signed, body))
}

/// The table's rows alone, for the page's refresh.
async fn rows(
    signed: Signed,
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(mut f): Query<Filter>,
) -> Response {
    org_sid(&st, &mut f).await;
    let body = html! { table { tbody { (table_rows(&signed, &headers, &st, &f)) } } };
    html_page(StatusCode::OK, body)
}
