//! The debug capture's pages: the switch on an organization's page and a captured
//! request's bodies (what is kept, and how, is in [`crate::operator::capture`]).

use super::{Nav, Posted, Signed, csrf_field, html_page, layout, time_ms};
use crate::admin::AdminError;
use crate::operator::capture::{KEPT, LIMIT, MAX_MINUTES};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::StatusCode;
use maud::{Markup, html};
use scim_core::sid::OrganizationSid;

/// The durations offered, in minutes.
const OFFERED: [u64; 3] = [5, 15, 60];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/orgs/{org}/capture", post(switch))
        .route("/console/requests/captures/{id}", get(show))
}

/// The capture section of an organization's page.
pub(super) fn section(signed: &Signed, org: OrganizationSid) -> Markup {
    let now = crate::operator::reqlog::now_ms();
    let action = format!("/console/orgs/{org}/capture");
    html! {
        h2 { "Debug capture" }
        @if let Some(until) = signed.console.captures.until(org, now) {
            p.notice #capture-state {
                "Capturing this organization's request and response bodies on this replica until "
                (time_ms(until)) " UTC. "
                a href={ "/console/requests?org=" (org) } { "See them in the request log." }
            }
            form.inline method="post" action=(action) {
                (csrf_field(signed))
                input type="hidden" name="minutes" value="0";
                button.danger type="submit" { "Stop capture" }
            }
        } @else {
            p.muted {
                "Keeps the bodies of this organization's SCIM requests and responses, on this "
                "replica and in memory only, for a limited time: at most " (KEPT) " requests and "
                (LIMIT / 1024) " KiB per body; passwords are redacted, headers are not kept."
            }
            form.inline method="post" action=(action) {
                (csrf_field(signed))
                label { "For " select name="minutes" {
                    @for m in OFFERED { option value=(m) selected[m == 15] { (m) " minutes" } }
                } }
                " "
                button type="submit" { "Start capture" }
            }
        }
    }
}

/// The capture switch's form: `minutes`, 0 to stop.
#[derive(serde::Deserialize)]
struct Switch {
    #[serde(default)]
    minutes: String,
}

/// Starts (`minutes` from 1 to [`MAX_MINUTES`]) or stops (`minutes` 0) the capture of an
/// organization.
async fn switch(
    State(st): State<AppState>,
    Path(org): Path<String>,
    Posted { signed, form: f }: Posted<Switch>,
) -> Response {
    let captures = &signed.console.captures;
    let credential = &signed.session.credential_id;
    let out = async {
        let sid = crate::admin::resolve_org(st.store.as_ref(), &org).await?.sid;
        match f.minutes.trim().parse::<u64>() {
            Ok(0) => {
                captures.stop(sid);
                tracing::info!(target: "scim_server::console", org = %sid, %credential,
                               "debug capture stopped");
                Ok("Debug capture stopped.".to_owned())
            }
            Ok(m) if m <= MAX_MINUTES => {
                let until = captures.start(sid, m, crate::operator::reqlog::now_ms());
                tracing::info!(target: "scim_server::console", org = %sid, %credential,
                               minutes = m, "debug capture started");
                Ok(format!("Debug capture on until {} UTC.", time_ms(until)))
            }
            _ => Err(AdminError::Usage(format!("A capture runs for 1 to {MAX_MINUTES} minutes."))),
        }
    }
    .await;
    super::orgs::done(&signed, &format!("/console/orgs/{org}"), out)
}

/// One captured request: what was asked and the two bodies.
async fn show(signed: Signed, Path(id): Path<String>) -> Response {
    let Some(c) = id.parse::<u64>().ok().and_then(|id| signed.console.captures.get(id)) else {
        return super::message_page(
            StatusCode::NOT_FOUND,
            "No such captured request: this replica keeps the last ones only.",
        );
    };
    let pending = "(not complete yet: reload)";
    let body = html! {
        h1 { (c.method.as_str()) " " code { (c.target) } }
        p.muted {
            (time_ms(c.at_ms)) " UTC · status " (c.status) " · organization "
            a href={ "/console/orgs/" (c.org) } { code { (c.org) } }
        }
        h2 { "Request body" }
        pre.json #capture-request { (c.request().as_deref().unwrap_or(pending)) }
        h2 { "Response body" }
        pre.json #capture-response { (c.response().as_deref().unwrap_or(pending)) }
    };
    html_page(StatusCode::OK, layout("Captured request", Nav::Requests, &signed, body))
}
