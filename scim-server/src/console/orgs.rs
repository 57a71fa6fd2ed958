//! Organizations: list, create, rename, policies; per organization its tokens and OAuth
//! clients (made, with the secret shown once, and revoked) and its event streams.
//! Every change calls the function the admin API's handler calls.

use super::{Nav, Posted, Signed, csrf_field, html_page, layout, redirect};
use crate::admin::{self, AdminError};
use crate::events::manage::EventsError;
use crate::operator::session::{Flash, NewSecret};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use scim_core::policy::Policy;
use scim_core::sid::OrganizationSid;
use scim_store::Scope;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/orgs", get(list).post(create))
        .route("/console/orgs/{org}", get(show))
        .route("/console/orgs/{org}/rename", post(rename))
        .route("/console/orgs/{org}/policies", post(policies))
        .route("/console/orgs/{org}/tokens", post(create_token))
        .route("/console/orgs/{org}/tokens/{id}/revoke", post(revoke_token))
        .route("/console/orgs/{org}/clients", post(create_client))
        .route("/console/orgs/{org}/clients/{id}/revoke", post(revoke_client))
        .route("/console/orgs/{org}/streams/{id}/state", post(stream_state))
}

/// The one-time box with a new secret, a copy button and the values to paste into Entra ID
/// and Okta.
pub(crate) fn secret_box(s: &NewSecret) -> Markup {
    html! {
        section.secret #new-secret {
            h2 { "New " (s.what) " " code { (s.id) } }
            p.warn { "Copy the secret now: it is shown only this once and is not stored." }
            label for="secret-value" { "Secret" }
            div.copy {
                input #secret-value type="text" readonly value=(s.secret);
                button type="button" data-copy="secret-value" { "Copy" }
            }
            @if let Some(token_url) = &s.token_url {
                h3 { "OAuth 2.0 client credentials" }
                dl {
                    dt { "Token endpoint" } dd { code { (token_url) } }
                    dt { "Client id" } dd { code { (s.id) } }
                    dt { "Client secret" } dd { "the secret above" }
                    dt { "SCIM base URL" } dd { code #tenant-url { (s.tenant_url) } }
                }
            } @else {
                h3 { "Microsoft Entra ID (Provisioning, Admin credentials)" }
                dl {
                    dt { "Tenant URL" } dd { code #tenant-url { (s.tenant_url) } }
                    dt { "Secret Token" } dd { "the secret above" }
                }
                h3 { "Okta (SCIM 2.0 app, Integration)" }
                dl {
                    dt { "SCIM connector base URL" } dd { code { (s.tenant_url) } }
                    dt { "Unique identifier field for users" } dd { code { "userName" } }
                    dt { "Authentication Mode" } dd { "HTTP Header, Bearer: the secret above" }
                }
            }
        }
    }
}

/// The form's fields, in order (a checkbox list repeats its name).
type Fields = Vec<(String, String)>;

fn values<'a>(f: &'a Fields, name: &str) -> Vec<&'a str> {
    f.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

fn value<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

fn owned(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_owned).collect()
}

/// Flashes the outcome of a change and goes back to `to`.
pub(super) fn done(signed: &Signed, to: &str, outcome: Result<String, AdminError>) -> Response {
    let f = match outcome {
        Ok(m) => Flash::Notice(m),
        Err(e) => Flash::Error(error_text(e)),
    };
    signed.console.sessions.flash(&signed.session.key, f);
    redirect(to)
}

/// What an operator reads of a failed change.
pub(crate) fn error_text(e: AdminError) -> String {
    match e {
        AdminError::Store(s) => crate::error::ApiError::from(s).0.detail,
        other => other.to_string(),
    }
}

fn policy_boxes(on: &[Policy]) -> Markup {
    html! {
        @for p in Policy::ALL {
            label.check {
                input type="checkbox" name="policies" value=(p.name()) checked[on.contains(p)];
                " " (p.name())
            }
        }
    }
}

async fn list(signed: Signed, State(st): State<AppState>) -> Response {
    let orgs = match admin::list_orgs(st.store.as_ref()).await {
        Ok(o) => o,
        Err(e) => return super::message_page(StatusCode::SERVICE_UNAVAILABLE, &error_text(e)),
    };
    let body = html! {
        h1 { "Organizations" }
        table {
            thead { tr { th { "Name" } th { "Id" } th { "Policies" } th { "Created" } } }
            tbody {
                @for o in &orgs {
                    tr {
                        td { a href={ "/console/orgs/" (o.sid) } { (o.name) } }
                        td { code { (o.sid) } }
                        td { @for p in &o.policies { span.tag { (p.name()) } " " } }
                        td { (o.created) }
                    }
                }
            }
        }
        h2 { "New organization" }
        form method="post" action="/console/orgs" {
            (csrf_field(&signed))
            label for="org-name" { "Name" }
            input #org-name type="text" name="name" required maxlength="200";
            fieldset { legend { "Policies" } (policy_boxes(&[])) }
            button type="submit" { "Create organization" }
        }
    };
    html_page(StatusCode::OK, layout("Organizations", Nav::Orgs, &signed, body))
}

async fn create(
    State(st): State<AppState>,
    Posted { signed, form: f }: Posted<Fields>,
) -> Response {
    let made = match admin::parse_policies(&owned(values(&f, "policies"))) {
        Ok(p) => admin::create_org(st.store.as_ref(), value(&f, "name"), &p).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(o) => done(
            &signed,
            &format!("/console/orgs/{}", o.sid),
            Ok(format!("Organization {} created.", o.name)),
        ),
        Err(e) => done(&signed, "/console/orgs", Err(e)),
    }
}

async fn rename(
    State(st): State<AppState>,
    Path(org): Path<String>,
    Posted { signed, form: f }: Posted<Fields>,
) -> Response {
    let out = admin::rename_org(st.store.as_ref(), &org, value(&f, "name")).await;
    done(&signed, &back(&org), out.map(|o| format!("Renamed to {}.", o.name)))
}

async fn policies(
    State(st): State<AppState>,
    Path(org): Path<String>,
    Posted { signed, form: f }: Posted<Fields>,
) -> Response {
    let store = st.store.as_ref();
    let out = async {
        let wanted = admin::parse_policies(&owned(values(&f, "policies")))?;
        let off: Vec<Policy> =
            Policy::ALL.iter().copied().filter(|p| !wanted.contains(p)).collect();
        admin::change_policies(store, &org, &wanted, true).await?;
        let o = admin::change_policies(store, &org, &off, false).await?;
        let names: Vec<&str> = o.policies.iter().map(|p| p.name()).collect();
        Ok(format!(
            "Policies: {}.",
            if names.is_empty() { "none".into() } else { names.join(", ") }
        ))
    }
    .await;
    done(&signed, &back(&org), out)
}

fn back(org: &str) -> String {
    format!("/console/orgs/{org}")
}

/// The organization named in the path and the scopes ticked in the form of a new secret.
async fn org_and_scopes(
    store: &dyn scim_store::Store,
    org: &str,
    f: &Fields,
) -> Result<(OrganizationSid, Vec<Scope>), AdminError> {
    let sid = admin::resolve_org(store, org).await?.sid;
    Ok((sid, admin::parse_scopes(&owned(values(f, "scopes")))?))
}

async fn create_token(
    State(st): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Posted { signed, form: f }: Posted<Fields>,
) -> Response {
    let store = st.store.as_ref();
    let origin = crate::context::origin(&headers, &st);
    let made = async {
        let (sid, scopes) = org_and_scopes(store, &org, &f).await?;
        if scopes.contains(&Scope::Admin) {
            // As the admin API: admin tokens come from the CLI only.
            return Err(AdminError::Usage(
                "admin tokens are created only with the CLI (scim-server admin token create \
                 --scope admin)"
                    .into(),
            ));
        }
        let name = Some(value(&f, "name").trim()).filter(|n| !n.is_empty()).map(str::to_owned);
        let expires = value(&f, "expires_in").trim();
        let lifetime =
            if expires.is_empty() { None } else { Some(admin::parse_lifetime(expires)?) };
        admin::create_token(store, sid, scopes, name, None, lifetime).await
    }
    .await;
    let made = made.map(|t| NewSecret {
        what: "token",
        id: t.id.clone(),
        org: t.org,
        secret: t.token,
        // Family A: a token grants one organization, so /scim/v2 finds it.
        tenant_url: format!("{origin}/scim/v2"),
        token_url: None,
    });
    secret_made(&signed, &org, made)
}

/// Shows a new secret once, on the organization's page, or why it was not made.
fn secret_made(signed: &Signed, org: &str, made: Result<NewSecret, AdminError>) -> Response {
    match made {
        Ok(secret) => {
            signed.console.sessions.flash(&signed.session.key, Flash::Secret(Box::new(secret)));
            redirect(&back(org))
        }
        Err(e) => done(signed, &back(org), Err(e)),
    }
}

async fn revoke_token(
    State(st): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    Posted { signed, form: super::Empty {} }: Posted<super::Empty>,
) -> Response {
    let store = st.store.as_ref();
    let out = async {
        let sid = admin::resolve_org(store, &org).await?.sid;
        // As the admin API: only a token of the organization in the path.
        if !admin::list_tokens(store, sid).await?.iter().any(|t| t.id == id) {
            return Err(AdminError::NotFound(format!("no live token {id} in {sid}")));
        }
        admin::revoke_token(store, &id).await.map(|r| format!("Token {} revoked.", r.id))
    }
    .await;
    done(&signed, &back(&org), out)
}

/// Pauses or resumes one of the organization's event streams (form field `state`:
/// `paused` or `active`). Resuming clears the failure count, as `admin stream resume` does.
async fn stream_state(
    State(st): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    Posted { signed, form: f }: Posted<Fields>,
) -> Response {
    let store = st.store.as_ref();
    let out = async {
        let sid = admin::resolve_org(store, &org).await?.sid;
        let state = match value(&f, "state") {
            "paused" => scim_store::StreamState::Paused,
            "active" => scim_store::StreamState::Active,
            other => return Err(AdminError::Usage(format!("unknown stream state '{other}'"))),
        };
        let not_found = || AdminError::NotFound(format!("no event stream {id} in {sid}"));
        // Only a stream of the organization in the path.
        match store.stream(&id).await? {
            Some(s) if s.org == sid => {}
            _ => return Err(not_found()),
        }
        // A store failure stays a store failure (the database gone is not "not found").
        let s =
            crate::events::manage::set_stream_state(store, &id, state).await.map_err(
                |e| match e {
                    EventsError::Store(e) => AdminError::Store(e),
                    EventsError::NotFound(_) => not_found(),
                    other => AdminError::Usage(other.to_string()),
                },
            )?;
        Ok(match s.state {
            scim_store::StreamState::Paused => format!("Stream {} paused.", s.id),
            scim_store::StreamState::Active => format!("Stream {} resumed.", s.id),
        })
    }
    .await;
    done(&signed, &back(&org), out)
}

async fn create_client(
    State(st): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Posted { signed, form: f }: Posted<Fields>,
) -> Response {
    let store = st.store.as_ref();
    let origin = crate::context::origin(&headers, &st);
    let made = async {
        let (sid, scopes) = org_and_scopes(store, &org, &f).await?;
        admin::create_client(store, vec![sid], scopes).await.map(|c| (sid, c))
    }
    .await;
    let made = made.map(|(sid, c)| NewSecret {
        what: "OAuth client",
        id: c.client_id,
        org: sid,
        secret: c.client_secret,
        tenant_url: format!("{origin}/Organizations/{sid}/scim"),
        token_url: Some(format!("{origin}/oauth2/token")),
    });
    secret_made(&signed, &org, made)
}

async fn revoke_client(
    State(st): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    Posted { signed, form: super::Empty {} }: Posted<super::Empty>,
) -> Response {
    let store = st.store.as_ref();
    let out = async {
        let sid = admin::resolve_org(store, &org).await?.sid;
        if !admin::list_clients(store, Some(sid)).await?.iter().any(|c| c.client_id == id) {
            return Err(AdminError::NotFound(format!("no live client {id} on {sid}")));
        }
        admin::revoke_client(store, &id).await.map(|r| format!("Client {} revoked.", r.client_id))
    }
    .await;
    done(&signed, &back(&org), out)
}

fn scope_boxes() -> Markup {
    html! {
        @for s in Scope::ALL {
            label.check {
                input type="checkbox" name="scopes" value=(s.name()) checked;
                " " (s.name())
            }
        }
    }
}

async fn show(signed: Signed, State(st): State<AppState>, Path(org): Path<String>) -> Response {
    let store = st.store.as_ref();
    let loaded = async {
        let o = admin::resolve_org(store, &org).await?;
        let tokens = admin::list_tokens(store, o.sid).await?;
        let clients = admin::list_clients(store, Some(o.sid)).await?;
        let streams = crate::events::manage::list_streams(store, Some(o.sid))
            .await
            .map_err(|e| AdminError::Usage(e.to_string()))?;
        Ok::<_, AdminError>((o, tokens, clients, streams))
    }
    .await;
    let (o, tokens, clients, streams) = match loaded {
        Ok(v) => v,
        Err(e @ AdminError::NotFound(_)) => {
            return super::message_page(StatusCode::NOT_FOUND, &error_text(e));
        }
        Err(e) => return super::message_page(StatusCode::SERVICE_UNAVAILABLE, &error_text(e)),
    };
    let sid = o.sid;
    let base = format!("/console/orgs/{sid}");
    let body = html! {
        h1 { (o.name) " " small.muted { code { (sid) } } }
        p.links {
            a href={ (base) "/directory" } { "Directory" } " · "
            a href={ "/console/activity?org=" (sid) } { "Activity" } " · "
            a href={ "/console/requests?org=" (sid) } { "Requests" } " · "
            a href={ "/console/health?org=" (sid) } { "Health" }
        }
        div.cols {
            form method="post" action={ (base) "/rename" } {
                (csrf_field(&signed))
                label for="rename" { "Name" }
                input #rename type="text" name="name" value=(o.name) required maxlength="200";
                button type="submit" { "Rename" }
            }
            form method="post" action={ (base) "/policies" } {
                (csrf_field(&signed))
                fieldset { legend { "Policies" } (policy_boxes(&o.policies)) }
                button type="submit" { "Save policies" }
            }
        }
        h2 { "Tokens" }
        table #tokens {
            thead { tr { th { "Id" } th { "Name" } th { "Scopes" } th { "Created" }
                         th { "Expires" } th { "Last used" } th {} } }
            tbody {
                @for t in &tokens {
                    tr {
                        td { code { (t.id) } }
                        td { (t.name.as_deref().unwrap_or("")) }
                        td { @for s in &t.scopes { span.tag { (s.name()) } " " } }
                        td { (t.created) }
                        td { (t.expires.as_deref().unwrap_or("never")) }
                        td { (t.last_used.as_deref().unwrap_or("never")) }
                        td {
                            form.inline method="post"
                                action={ (base) "/tokens/" (t.id) "/revoke" } {
                                (csrf_field(&signed))
                                button.danger type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
        form #new-token method="post" action={ (base) "/tokens" } {
            (csrf_field(&signed))
            label for="token-name" { "Name" }
            input #token-name type="text" name="name" placeholder="entra-prod" maxlength="200";
            label for="token-expires" { "Expires in" }
            input #token-expires type="text" name="expires_in" placeholder="90d (empty: never)";
            fieldset { legend { "Scopes" } (scope_boxes()) }
            button type="submit" { "Create token" }
        }
        h2 { "OAuth clients" }
        table #clients {
            thead { tr { th { "Client id" } th { "Scopes" } th { "Organizations" }
                         th { "Created" } th {} } }
            tbody {
                @for c in &clients {
                    tr {
                        td { code { (c.client_id) } }
                        td { @for s in &c.scopes { span.tag { (s.name()) } " " } }
                        td { @for g in &c.orgs { code { (g) } " " } }
                        td { (c.created) }
                        td {
                            form.inline method="post"
                                action={ (base) "/clients/" (c.client_id) "/revoke" } {
                                (csrf_field(&signed))
                                button.danger type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action={ (base) "/clients" } {
            (csrf_field(&signed))
            fieldset { legend { "Scopes" } (scope_boxes()) }
            button type="submit" { "Create OAuth client" }
        }
        (super::capture::section(&signed, sid))
        h2 { "Event streams" }
        @if streams.is_empty() {
            p.muted { "None. " code { "scim-server admin stream create" } " makes one (docs/events.md)." }
        } @else {
            table #streams {
                thead { tr { th { "Id" } th { "Delivery" } th { "Receiver" } th { "State" }
                             th { "Lag" } th { "Failures" } th { "Last error" } th {} } }
                tbody {
                    @for s in &streams {
                        tr {
                            td { code { (s.id) } }
                            td { (format!("{:?}", s.delivery).to_lowercase()) }
                            td { (s.url.as_deref().unwrap_or("(poll)")) }
                            td { span.tag.bad[s.state == scim_store::StreamState::Paused] {
                                (format!("{:?}", s.state).to_lowercase()) } }
                            td { (s.lag) @if s.lag >= 10_000 { "+" } }
                            td { (s.failures) }
                            td { (s.last_error.as_deref().unwrap_or("")) }
                            td {
                                form.inline method="post"
                                    action={ (base) "/streams/" (s.id) "/state" } {
                                    (csrf_field(&signed))
                                    @if s.state == scim_store::StreamState::Paused {
                                        input type="hidden" name="state" value="active";
                                        button type="submit" { "Resume" }
                                    } @else {
                                        input type="hidden" name="state" value="paused";
                                        button.danger type="submit" { "Pause" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html_page(StatusCode::OK, layout(&o.name, Nav::Orgs, &signed, body))
}
