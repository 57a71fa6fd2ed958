//! Live activity: the changes of the change log (every replica's, since it is in the
//! database) as they commit. The page renders the recent changes first; its script then
//! opens `/console/activity/stream`, server-sent events (`text/event-stream`) fed by polling
//! the change log after the last sequence number every 400 ms. Filters: organization,
//! credential (the actor) and operation.

use super::{Nav, Signed, html_page, layout};
use crate::events::manage::{self, AuditEntry};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::html;
use scim_core::sid::OrganizationSid;
use scim_store::AuditQuery;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/activity", get(page))
        .route("/console/activity/stream", get(stream))
}

/// How often the stream looks for new changes.
const TICK: Duration = Duration::from_millis(400);

/// Changes the page shows at first.
const FIRST: usize = 100;

/// The filters (query parameters); `after` and `since` are the stream's start.
#[derive(Debug, Default, Deserialize)]
struct Filter {
    #[serde(default)]
    org: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    after: u64,
    #[serde(default)]
    since: String,
}

impl Filter {
    fn keeps(&self, c: &AuditEntry) -> bool {
        (self.actor.trim().is_empty() || c.actor.as_deref() == Some(self.actor.trim()))
            && (self.op.trim().is_empty() || c.op == self.op.trim())
    }
}

/// One change as the page and the stream show it.
#[derive(Debug, Serialize)]
struct Row {
    seq: u64,
    at: String,
    org: OrganizationSid,
    kind: String,
    id: String,
    op: String,
    actor: Option<String>,
    request_id: Option<String>,
    method: Option<String>,
}

fn row(org: OrganizationSid, c: AuditEntry) -> Row {
    Row {
        seq: c.seq,
        at: c.at,
        org,
        kind: c.kind,
        id: c.id,
        op: c.op,
        actor: c.actor,
        request_id: c.request_id,
        method: c.method,
    }
}

/// RFC 3339 UTC, as the change log stores times, `back` before now.
fn rfc3339_ago(back: Duration) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    (time::OffsetDateTime::now_utc() - back).format(f).unwrap_or_default()
}

/// The organizations the filter names (all when none), or an error to show.
async fn orgs(st: &AppState, f: &Filter) -> Result<Vec<OrganizationSid>, String> {
    if f.org.trim().is_empty() {
        return crate::admin::list_orgs(st.store.as_ref())
            .await
            .map(|v| v.into_iter().map(|o| o.sid).collect())
            .map_err(super::orgs::error_text);
    }
    crate::admin::resolve_org(st.store.as_ref(), f.org.trim())
        .await
        .map(|o| vec![o.sid])
        .map_err(super::orgs::error_text)
}

/// Changes of `orgs` after `after` and at or after `since`, filtered, oldest first.
async fn changes(
    st: &AppState,
    orgs: &[OrganizationSid],
    f: &Filter,
    after: u64,
    since: &str,
    limit: u64,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for org in orgs {
        let q = AuditQuery {
            since: Some(since.to_owned()).filter(|s| !s.is_empty()),
            after,
            limit,
            ..AuditQuery::default()
        };
        let got = manage::audit(st.store.as_ref(), *org, &q).await.map_err(|e| e.to_string())?;
        rows.extend(got.into_iter().filter(|c| f.keeps(c)).map(|c| row(*org, c)));
    }
    rows.sort_by_key(|r| r.seq);
    Ok(rows)
}

/// The recent changes: the last minute's, else the last hour's, else the last day's (the
/// change log reads oldest first, so a narrow window finds the newest cheaply).
async fn recent(st: &AppState, orgs: &[OrganizationSid], f: &Filter) -> (Vec<Row>, Option<String>) {
    let mut rows = Vec::new();
    for window in [60, 3600, 24 * 3600] {
        let since = rfc3339_ago(Duration::from_secs(window));
        match changes(st, orgs, f, 0, &since, 10_000).await {
            Ok(r) => rows = r,
            Err(e) => return (Vec::new(), Some(e)),
        }
        if rows.len() >= FIRST {
            break;
        }
    }
    (rows, None)
}

async fn page(signed: Signed, State(st): State<AppState>, Query(f): Query<Filter>) -> Response {
    let started = rfc3339_ago(Duration::from_secs(5));
    let (rows, error) = match orgs(&st, &f).await {
        Ok(o) => recent(&st, &o, &f).await,
        Err(e) => (Vec::new(), Some(e)),
    };
    let after = rows.iter().map(|r| r.seq).max().unwrap_or(0);
    let shown: Vec<&Row> = rows.iter().rev().take(FIRST).collect();
    let stream = format!(
        "/console/activity/stream?{}",
        serde_urlencoded::to_string([
            ("org", f.org.as_str()),
            ("actor", f.actor.as_str()),
            ("op", f.op.as_str()),
            ("after", &after.to_string()),
            ("since", &started),
        ])
        .unwrap_or_default()
    );
    let body = html! {
        h1 { "Activity" }
        p.muted { "Changes to users and groups as they commit, newest first (the last 24 hours, "
                  "then live). " span #live-state { "" } }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        form.filters method="get" action="/console/activity" {
            label { "Organization " input type="text" name="org" value=(f.org) size="30"; }
            label { "Credential " input type="text" name="actor" value=(f.actor) size="30"; }
            label { "Operation " select name="op" {
                @for v in ["", "create", "update", "delete", "restore"] {
                    option value=(v) selected[f.op == v] { (if v.is_empty() { "any" } else { v }) }
                }
            } }
            button type="submit" { "Filter" }
        }
        table.log #activity {
            thead { tr { th { "Time (UTC)" } th { "Operation" } th { "Resource" }
                         th { "Organization" } th { "Credential" } th { "Request id" } } }
            tbody data-stream=(stream) {
                @for r in &shown {
                    tr {
                        td { (r.at) }
                        td { span.tag { (r.op) } " " (r.method.as_deref().unwrap_or("")) }
                        td { (r.kind) " " a href={ "/console/orgs/" (r.org) "/directory/" (r.id) } { code { (r.id) } } }
                        td { a href={ "/console/orgs/" (r.org) } { code { (r.org) } } }
                        td { code { (r.actor.as_deref().unwrap_or("")) } }
                        td { code { (r.request_id.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
    };
    html_page(StatusCode::OK, layout("Activity", Nav::Activity, &signed, body))
}

struct Feed {
    st: AppState,
    signed: Signed,
    f: Filter,
    orgs: Vec<OrganizationSid>,
    after: u64,
    since: String,
    idle: u32,
}

async fn stream(
    signed: Signed,
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> Response {
    let orgs = match orgs(&st, &f).await {
        Ok(o) => o,
        Err(e) => return super::message_page(StatusCode::BAD_REQUEST, &e),
    };
    // A reconnecting EventSource names the last event it saw.
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let after = f.after.max(resumed);
    let since = f.since.clone();
    let feed = Feed { st, signed, f, orgs, after, since, idle: 0 };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        // One change-log query per organization per tick: with many organizations and no
        // filter, tick less often (at most about 60 queries a second per open page).
        let tick = TICK * u32::try_from(feed.orgs.len() / 25).unwrap_or(25).clamp(1, 25);
        loop {
            tokio::time::sleep(tick).await;
            if !feed.signed.console.sessions.contains(&feed.signed.session.key) {
                return None;
            }
            let got = changes(&feed.st, &feed.orgs, &feed.f, feed.after, &feed.since, 500).await;
            let mut out = String::new();
            if let Ok(rows) = got {
                for r in &rows {
                    feed.after = feed.after.max(r.seq);
                    let data = serde_json::to_string(r).unwrap_or_default();
                    out.push_str(&format!("id: {}\nevent: change\ndata: {data}\n\n", r.seq));
                }
            }
            feed.idle += 1;
            // A comment now and then keeps proxies from closing an idle stream.
            if out.is_empty() && feed.idle >= 38 {
                out.push_str(": keep-alive\n\n");
            }
            if !out.is_empty() {
                feed.idle = 0;
                return Some((Ok::<_, std::convert::Infallible>(Bytes::from(out)), feed));
            }
        }
    });
    let mut res = Body::from_stream(events).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
