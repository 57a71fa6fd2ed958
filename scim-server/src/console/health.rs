//! Provisioning health: per organization (and per credential in it), requests and errors
//! of the last hour as bar charts drawn on the server (inline SVG), the most frequent error
//! codes with their documentation, and the last successful request. From this replica's
//! counters ([`crate::operator::reqlog`]), kept since it started.

use super::{Nav, Signed, doc_link, html_page, layout};
use crate::operator::reqlog::{MINUTES, Minute, Stats, now_ms};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/health", get(page))
}

#[derive(Debug, Default, Deserialize)]
struct Filter {
    #[serde(default)]
    org: String,
}

/// The chart's size in SVG units.
const W: u32 = 600;
const H: u32 = 120;

/// Requests (grey) and errors (red) per minute, the last [`MINUTES`] minutes.
fn chart(series: &[Minute], label: &str) -> Markup {
    let max = series.iter().map(|m| m.requests).max().unwrap_or(0).max(1);
    let bar = W / MINUTES as u32;
    let height = |n: u32| (u64::from(n) * u64::from(H - 14) / u64::from(max)) as u32;
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            line.axis x1="0" y1=(H - 12) x2=(W) y2=(H - 12) {}
            @for (i, m) in series.iter().enumerate() {
                @let x = i as u32 * bar;
                @let r = height(m.requests);
                @let e = height(m.errors);
                @if m.requests > 0 {
                    rect.req x=(x + 1) y=(H - 12 - r) width=(bar - 2) height=(r) {
                        title { (m.requests) " requests, " (m.errors) " errors at "
                                (super::time_ms(m.minute * 60_000)) }
                    }
                }
                @if m.errors > 0 {
                    rect.errbar x=(x + 1) y=(H - 12 - e) width=(bar - 2) height=(e) {}
                }
            }
            text x="0" y=(H - 1) { "-60 min" }
            text x=(W - 24) y=(H - 1) { "now" }
            text x="2" y="10" { "max " (max) "/min" }
        }
    }
}

fn ago(ms: Option<u64>) -> String {
    match ms {
        None => "never (since this replica started)".into(),
        Some(t) => {
            let s = now_ms().saturating_sub(t) / 1000;
            format!("{} ({s} s ago)", super::time_ms(t))
        }
    }
}

/// One line anyone can read: is it working?
fn verdict(s: &Stats, series: &[Minute]) -> (&'static str, String) {
    let (r, e) = series
        .iter()
        .rev()
        .take(15)
        .fold((0u64, 0u64), |(r, e), m| (r + u64::from(m.requests), e + u64::from(m.errors)));
    if r == 0 {
        return ("idle", "No request in the last 15 minutes.".into());
    }
    let rate = e * 100 / r;
    if rate >= 50 {
        ("bad", format!("{rate}% of the last 15 minutes' {r} requests failed."))
    } else if e > 0 {
        ("warn", format!("{e} of the last 15 minutes' {r} requests failed ({rate}%)."))
    } else if s.last_success_ms.is_some() {
        ("good", format!("All of the last 15 minutes' {r} requests succeeded."))
    } else {
        ("idle", "No successful request yet.".into())
    }
}

fn codes(headers: &HeaderMap, st: &AppState, s: &Stats) -> Markup {
    html! {
        @let top = s.top_codes(5);
        @if top.is_empty() { p.muted { "No error with a code." } }
        @else {
            table {
                thead { tr { th { "Error code" } th { "Name" } th { "Count" } } }
                tbody { @for (c, n) in &top {
                    tr { td { a.code href=(doc_link(headers, st, *c)) { (c.code()) } }
                         td { (c.name()) } td.num { (n) } }
                } }
            }
        }
    }
}

async fn page(
    signed: Signed,
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> Response {
    let now_minute = now_ms() / 60_000;
    let orgs = crate::admin::list_orgs(st.store.as_ref()).await.unwrap_or_default();
    let name = |sid| orgs.iter().find(|o| o.sid == sid).map(|o| o.name.clone()).unwrap_or_default();
    let log = &signed.console.requests;
    let selected =
        orgs.iter().find(|o| o.sid.to_string() == f.org.trim() || o.name == f.org.trim());
    let body = match selected {
        None => {
            let mut all = log.all_org_stats();
            all.sort_by_key(|b| std::cmp::Reverse(b.1.last_ms));
            html! {
                h1 { "Health" }
                p.muted { "Requests this replica answered since it started, per organization. "
                          "Pick one for its charts." }
                table {
                    thead { tr { th { "Organization" } th { "State" } th { "Requests" }
                                 th { "Errors" } th { "Last success" } } }
                    tbody { @for (sid, s) in &all {
                        @let series = s.series(now_minute);
                        @let (class, text) = verdict(s, &series);
                        tr {
                            td { a href={ "/console/health?org=" (sid) } { (name(*sid)) " " code { (sid) } } }
                            td { span class={ "state " (class) } title=(text) { (class) } }
                            td.num { (s.requests) } td.num { (s.errors) }
                            td { (ago(s.last_success_ms)) }
                        }
                    } }
                }
                @if all.is_empty() { p.muted { "No SCIM request yet." } }
            }
        }
        Some(o) => {
            let s = log.org_stats(o.sid);
            let series = s.series(now_minute);
            let (class, text) = verdict(&s, &series);
            let creds = log.credential_stats(o.sid);
            html! {
                h1 { "Health of " (o.name) " " small.muted { code { (o.sid) } } }
                p class={ "verdict " (class) } { (text) }
                p { "Last successful request: " strong { (ago(s.last_success_ms)) } }
                h2 { "Requests and errors per minute" }
                (chart(&series, &format!("Requests and errors per minute of {}", o.name)))
                h2 { "Most frequent errors" }
                (codes(&headers, &st, &s))
                h2 { "Per credential" }
                @for (c, cs) in &creds {
                    @let cseries = cs.series(now_minute);
                    section.cred {
                        h3 { code { (c) } " " span.muted { (cs.requests) " requests, " (cs.errors)
                             " errors; last success " (ago(cs.last_success_ms)) } }
                        (chart(&cseries, &format!("Requests and errors per minute of {c}")))
                        (codes(&headers, &st, cs))
                        p { a href={ "/console/requests?credential=" (c) } { "Its requests" } }
                    }
                }
                @if creds.is_empty() { p.muted { "No credential has acted on it yet." } }
            }
        }
    };
    html_page(StatusCode::OK, layout("Health", Nav::Health, &signed, body))
}
