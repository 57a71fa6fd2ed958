//! The operator console (`/console`, `docs/console.md`): server-rendered HTML pages to
//! manage organizations and credentials and to watch what the service does.
//!
//! Off unless `console` (which needs `admin_api`); mounted where the admin API is, on
//! `admin_listen` when that is set. The pages call the same functions as the admin API
//! ([`crate::admin`], [`crate::events::manage`]), never the API over HTTP.
//!
//! Invariants:
//! - every page but sign-in needs a session ([`session`]), made by signing in with a token
//!   whose only scope is `admin`, verified as the admin API verifies it;
//! - every state change is a `POST` that carries the session's CSRF token (compared in
//!   constant time) and passes an `Origin`/`Sec-Fetch-Site` check; a `GET` changes nothing;
//! - every response carries a strict Content-Security-Policy: no inline script or style,
//!   scripts and styles only from `/console/assets/` (embedded in the binary);
//! - HTML is written with `maud`, which escapes every value; nothing from a request or the
//!   store reaches a page unescaped;
//! - a secret is shown once: it travels from the `POST` that made it to the next page in
//!   the session's one-time messages, and exists nowhere else;
//! - the request log ([`crate::operator::reqlog`]) keeps no body, query string or header
//!   but the request id;
//!   only a debug capture ([`crate::operator::capture`]), switched on for one organization for a limited
//!   time, keeps bodies (redacted) and query strings.

mod activity;
mod capture;
mod directory;
mod health;
mod orgs;
mod requests;

use crate::operator::session;
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use maud::{DOCTYPE, Markup, html};
use scim_store::Scope;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The console's base path.
pub const BASE: &str = "/console";

/// The Content-Security-Policy of every console response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

pub use crate::operator::Console;

/// Marker in a response's extensions: a console page, answered as it is (the edge does not
/// rewrite its error statuses into SCIM errors).
#[derive(Debug, Clone, Copy)]
pub struct Page;

/// Every console route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { redirect("/console/orgs") }))
        .route("/console/", get(|| async { redirect("/console/orgs") }))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/assets/{name}", get(asset))
        .merge(orgs::routes())
        .merge(directory::routes())
        .merge(activity::routes())
        .merge(requests::routes())
        .merge(health::routes())
        .merge(capture::routes())
        .layer(axum::middleware::map_response(secure_headers))
}

async fn secure_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res.extensions_mut().insert(Page);
    res
}

// ---------------------------------------------------------------------------------------
// Sessions and forms.

/// A signed-in operator: the extractor of every page but sign-in. Without a live session,
/// a `GET` is sent to the sign-in page and anything else is answered 401.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The session.
    pub session: session::View,
    /// The console (sessions, request log).
    pub console: Arc<Console>,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let refuse = |parts: &Parts| {
            if parts.method == Method::GET && !parts.uri.path().ends_with("/stream") {
                redirect("/console/login")
            } else {
                message_page(StatusCode::UNAUTHORIZED, "Sign in first.")
            }
        };
        let Some(console) = state.console.clone() else {
            return Err(StatusCode::NOT_FOUND.into_response());
        };
        let Some(view) = session::cookie(&parts.headers).and_then(|c| console.sessions.get(&c))
        else {
            return Err(refuse(parts));
        };
        // The admin token behind the session must still be live: revoking it signs out.
        if !admin_token_live(state, &view.token_hash).await {
            console.sessions.remove(&view.key);
            return Err(refuse(parts));
        }
        Ok(Signed { session: view, console })
    }
}

async fn admin_token_live(state: &AppState, hash: &[u8; 32]) -> bool {
    match state.store.token_by_hash(hash).await {
        Ok(Some(t)) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            t.scopes == [Scope::Admin]
                && t.expires.as_deref().is_none_or(|e| crate::auth::unix_seconds(e) > now)
        }
        _ => false,
    }
}

/// Whether a state-changing request comes from a page of this origin: a browser's
/// `Sec-Fetch-Site` must be `same-origin`, and an `Origin` must name this host.
pub(crate) fn same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    // Under `Referrer-Policy: no-referrer` a browser sends `Origin: null` with a form;
    // then its `Sec-Fetch-Site` (checked above) must be there to vouch for it.
    if origin == "null" {
        return site.is_some();
    }
    let Ok(uri) = origin.parse::<http::Uri>() else { return false };
    let Some(authority) = uri.authority().map(|a| a.as_str().to_ascii_lowercase()) else {
        return false;
    };
    let ours = crate::context::origin(headers, state);
    let ours = ours.split_once("://").map(|(_, rest)| rest).unwrap_or(&ours);
    let ours = ours.split('/').next().unwrap_or_default().to_ascii_lowercase();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    authority == ours || authority == host
}

/// A form posted by a signed-in operator, its CSRF token and origin checked ([`Posted`]).
fn form<T: serde::de::DeserializeOwned>(
    signed: &Signed,
    headers: &HeaderMap,
    state: &AppState,
    body: &Bytes,
) -> Result<T, Box<Response>> {
    let forbidden = |why: &str| Box::new(message_page(StatusCode::FORBIDDEN, why));
    if !same_origin(headers, state) {
        return Err(forbidden("This form was sent from another site."));
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| Box::new(message_page(StatusCode::BAD_REQUEST, "The form is malformed.")))?;
    let sent = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_bytes());
    let expected = signed.session.csrf.as_bytes();
    if !sent.is_some_and(|s| bool::from(s.ct_eq(expected))) {
        return Err(forbidden("The form's CSRF token is missing or wrong: reload the page."));
    }
    serde_urlencoded::from_bytes(body).map_err(|e| {
        Box::new(message_page(StatusCode::BAD_REQUEST, &format!("The form is malformed: {e}")))
    })
}

/// A form posted by a signed-in operator, its CSRF token and origin checked ([`form`]): the
/// extractor of every console `POST` but sign-in. It reads the body, so it comes last.
pub(crate) struct Posted<T> {
    /// The operator.
    pub(crate) signed: Signed,
    /// The form's fields.
    pub(crate) form: T,
}

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, st: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, st).await?;
        let Ok(body) = axum::body::to_bytes(body, st.config.max_body_bytes).await else {
            return Err(message_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."));
        };
        let form = form(&signed, &parts.headers, st, &body).map_err(|r| *r)?;
        Ok(Posted { signed, form })
    }
}

/// A `303 See Other` to `to`.
pub(crate) fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// An HTML page with `status`.
pub(crate) fn html_page(status: StatusCode, markup: Markup) -> Response {
    let mut res = (status, markup.into_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

/// A bare page with one message (errors of the console itself).
pub(crate) fn message_page(status: StatusCode, message: &str) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            (head(status.canonical_reason().unwrap_or("Error"), false))
            body { main { h1 { (status.as_u16()) } p.error { (message) }
                          p { a href="/console/orgs" { "Back to the console" } } } }
        }
    };
    html_page(status, body)
}

/// The pages of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Orgs,
    Activity,
    Requests,
    Health,
}

/// A whole page: head, navigation (with the sign-out form), the flash messages, `body`.
pub(crate) fn layout(title: &str, nav: Nav, signed: &Signed, body: Markup) -> Markup {
    let flashes = signed.console.sessions.take_flash(&signed.session.key);
    let item = |n: Nav, href: &str, label: &str| {
        html! { a href=(href) aria-current=[(n == nav).then_some("page")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, true))
            body {
                header.top {
                    strong { "SCIM console" }
                    nav {
                        (item(Nav::Orgs, "/console/orgs", "Organizations"))
                        (item(Nav::Activity, "/console/activity", "Activity"))
                        (item(Nav::Requests, "/console/requests", "Requests"))
                        (item(Nav::Health, "/console/health", "Health"))
                    }
                    form.inline method="post" action="/console/logout" {
                        (csrf_field(signed))
                        span.muted { (signed.session.credential_id) " " }
                        button type="submit" { "Sign out" }
                    }
                }
                main {
                    @for f in &flashes {
                        @match f {
                            session::Flash::Notice(m) => p.notice role="status" { (m) },
                            session::Flash::Error(m) => p.error role="alert" { (m) },
                            session::Flash::Secret(s) => (orgs::secret_box(s)),
                        }
                    }
                    (body)
                }
            }
        }
    }
}

/// The `head` of a page titled `title`: the stylesheet, and the script (refreshes, copy
/// buttons) on the pages of a signed-in operator.
fn head(title: &str, script: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · SCIM console" }
            link rel="stylesheet" href="/console/assets/console.css";
            @if script { script src="/console/assets/console.js" defer {} }
        }
    }
}

/// The hidden CSRF field of every form.
pub(crate) fn csrf_field(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.session.csrf); }
}

/// The documentation link of an error code, as the error's `Link` header gives it.
pub(crate) fn doc_link(
    headers: &HeaderMap,
    state: &AppState,
    code: scim_core::ErrorCode,
) -> String {
    format!(
        "{}/errors#{}",
        crate::mount::docs_base(headers, &state.config).trim_end_matches('/'),
        code.code()
    )
}

/// A Unix-milliseconds time as `2026-12-05 18:09:39` UTC.
pub(crate) fn time_ms(ms: u64) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    i64::try_from(ms / 1000)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(f).ok())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Sign-in and sign-out.

fn login_markup(error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in", false))
            body {
                main.narrow {
                    h1 { "SCIM console" }
                    @if let Some(e) = error { p.error role="alert" { (e) } }
                    form method="post" action="/console/login" {
                        label for="token" { "Admin token" }
                        input #token type="password" name="token" autocomplete="off" required
                            autofocus;
                        p.muted { "A token with the scope admin, made with "
                                  code { "scim-server admin token create --scope admin" } "." }
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    }
}

async fn login_page() -> Response {
    html_page(StatusCode::OK, login_markup(None))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(console) = state.console.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !same_origin(&headers, &state) {
        return message_page(StatusCode::FORBIDDEN, "This form was sent from another site.");
    }
    let refused = |why: &str| {
        tracing::warn!(target: "scim_server::console", reason = why, "console sign-in refused");
        html_page(StatusCode::UNAUTHORIZED, login_markup(Some(why)))
    };
    let Ok(f) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return refused("The form is malformed.");
    };
    let token = f.token.trim();
    let mut auth = HeaderMap::new();
    match HeaderValue::from_str(&format!("Bearer {token}")) {
        Ok(v) => auth.insert(header::AUTHORIZATION, v),
        Err(_) => return refused("That token is not valid."),
    };
    // The same verification as the admin API's (`AdminCaller`).
    let cred = match crate::context::authenticate(&auth, &state).await {
        Ok(c) => c,
        Err(_) => return refused("That token is not valid."),
    };
    if state.check_rate(&cred.id).is_err() {
        return refused("Too many attempts: wait a moment.");
    }
    if cred.scopes != [Scope::Admin] || crate::oauth::looks_like_jwt(token) {
        return refused("That token has no admin scope: the console takes an admin token.");
    }
    let hash = crate::token::hash(token);
    let Ok(id) = console.sessions.create(hash, cred.id.clone()) else {
        return message_page(StatusCode::INTERNAL_SERVER_ERROR, "The random source failed.");
    };
    tracing::info!(target: "scim_server::console", credential = %cred.id, "console sign-in");
    let secure = crate::context::origin(&headers, &state).starts_with("https://");
    let cookie = format!(
        "{}={id}; HttpOnly; SameSite=Strict; Path={BASE}{}",
        session::COOKIE,
        if secure { "; Secure" } else { "" }
    );
    let mut res = redirect("/console/orgs");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

async fn logout(Posted { signed, form: Empty {} }: Posted<Empty>) -> Response {
    signed.console.sessions.remove(&signed.session.key);
    let mut res = redirect("/console/login");
    let gone = format!("{}=; HttpOnly; SameSite=Strict; Path={BASE}; Max-Age=0", session::COOKIE);
    if let Ok(v) = HeaderValue::from_str(&gone) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// A form with no field but the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Empty {}

// ---------------------------------------------------------------------------------------
// Assets, embedded in the binary.

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

async fn asset(Path(name): Path<String>) -> Response {
    let (body, ty) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return message_page(StatusCode::NOT_FOUND, "No such file."),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    res
}
