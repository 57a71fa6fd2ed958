//! The axum handlers: thin adapters from HTTP (path, query, headers, body) to
//! [`super::ops`], [`super::search`] and [`super::bulk`], and back to responses.

use super::support::{self, Precondition, Projection};
use super::{bulk, ops, search};
use crate::body::{ScimBytes, ScimJson};
use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::response::{resource_headers, scim_bytes_with, scim_response};
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, StatusCode, header};
use scim_core::ScimError;
use scim_core::message::SearchRequest;
use scim_core::schema::ResourceKind;
use scim_core::sid::ResourceId;
use scim_store::Stored;
use serde_json::Value;

/// A resource type served by the generic handlers.
pub(crate) trait Kind: Send + Sync + 'static {
    /// The kind.
    const KIND: ResourceKind;
}

/// `/Users`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Users;
impl Kind for Users {
    const KIND: ResourceKind = ResourceKind::User;
}

/// `/Groups`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Groups;
impl Kind for Groups {
    const KIND: ResourceKind = ResourceKind::Group;
}

/// The query string as name/value pairs (percent-decoded), never rejected: unknown
/// parameters are ignored by the handlers (Entra appends `?aadOptscim062020`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or_default();
        Ok(Params(parse_query(q)))
    }
}

/// `application/x-www-form-urlencoded` pairs; malformed escapes are kept as written.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .take(256)
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Params {
    /// The projection parameters (`attributes`, `excludedAttributes`).
    fn projection(&self) -> Projection {
        let mut p = Projection::default();
        for (name, value) in &self.0 {
            if name.eq_ignore_ascii_case("attributes") {
                p.attributes = scim_core::message::split_attribute_list(value);
            } else if name.eq_ignore_ascii_case("excludedAttributes") {
                p.excluded = scim_core::message::split_attribute_list(value);
            }
        }
        p
    }
}

/// The `{id}` of `/Users/{id}` and `/Groups/{id}`: the family-relative path's last
/// segment, percent-decoded (read from the path itself, so that the routes
/// [`super::hot`] dispatches without the router take it the same way).
pub(crate) struct IdParam(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for IdParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let segment = parts.uri.path().rsplit('/').next().unwrap_or_default();
        match percent_encoding::percent_decode_str(segment).decode_utf8() {
            Ok(id) => Ok(IdParam(id.into_owned())),
            Err(_) => Err(ApiError::new(
                scim_core::ErrorCode::InvalidSyntax,
                "the id in the path is not UTF-8 once percent-decoded",
            )),
        }
    }
}

/// A request's `If-None-Match`, taken alone: axum's `HeaderMap` extractor copies every
/// header of the request.
pub(crate) struct IfNoneMatch(Option<http::HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatch(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn if_match(headers: &HeaderMap) -> Precondition {
    Precondition::parse(header_str(headers, header::IF_MATCH))
}

/// Whether the client asked for no body back (RFC 7240 `Prefer: return=minimal`).
fn wants_minimal(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("return=minimal")))
}

/// A single-resource response: the rendered resource, `ETag`, and `Location` on create.
fn resource_response(
    st: &AppState,
    ctx: &RequestCtx,
    kind: ResourceKind,
    status: StatusCode,
    stored: Stored,
    proj: &Projection,
) -> Response {
    let version = support::etag(stored.version);
    let location = (status == StatusCode::CREATED).then(|| ctx.location(kind, &stored.id));
    let mut body = Vec::with_capacity(1024);
    if let Err(e) =
        ops::render_into(ctx, kind, stored, &proj.projector(&st.registry, kind), &mut body)
    {
        return ApiError::from(e).into_response();
    }
    scim_bytes_with(status, body, resource_headers(&version, location.as_deref()))
}

/// `POST /Users`, `POST /Groups`.
pub(crate) async fn create<K: Kind>(
    State(st): State<AppState>,
    ctx: RequestCtx,
    params: Params,
    ScimJson(body): ScimJson<Value>,
) -> Result<Response, ApiError> {
    let proj = params.projection();
    let stored = ops::create(&st, &ctx, K::KIND, body).await?;
    Ok(resource_response(&st, &ctx, K::KIND, StatusCode::CREATED, stored, &proj))
}

/// `GET /Users/{id}`, `GET /Groups/{id}`; `If-None-Match` gives 304.
pub(crate) async fn get<K: Kind>(
    State(st): State<AppState>,
    ctx: RequestCtx,
    IdParam(id): IdParam,
    params: Params,
    if_none_match: IfNoneMatch,
) -> Result<Response, ApiError> {
    let proj = params.projection();
    let read = proj.read_options(&st.registry, K::KIND);
    let id = ResourceId::parse(K::KIND, &id)?;
    let raw = ops::get_raw(&st, &ctx, id, read).await?;
    let version = support::etag(raw.version);
    let none_match = if_none_match.0.as_ref().and_then(|v| v.to_str().ok());
    if support::none_match_hits(none_match, raw.version) {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().extend(resource_headers(&version, None));
        return Ok(res);
    }
    let mut body = Vec::with_capacity(raw.doc.len() + 512);
    ops::render_raw(&ctx, raw, &proj.projector(&st.registry, K::KIND), &mut body)?;
    Ok(scim_bytes_with(StatusCode::OK, body, resource_headers(&version, None)))
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`.
pub(crate) async fn replace<K: Kind>(
    State(st): State<AppState>,
    ctx: RequestCtx,
    IdParam(id): IdParam,
    params: Params,
    headers: HeaderMap,
    ScimJson(body): ScimJson<Value>,
) -> Result<Response, ApiError> {
    let proj = params.projection();
    let read = proj.write_read_options(&st.registry, K::KIND, st.config.write_response_max_members);
    let id = ResourceId::parse(K::KIND, &id)?;
    let stored = ops::replace(&st, &ctx, id, &if_match(&headers), body, read).await?;
    Ok(resource_response(&st, &ctx, K::KIND, StatusCode::OK, stored, &proj))
}

/// `PATCH /Users/{id}`, `PATCH /Groups/{id}`: 200 with the resource, or 204 with
/// `Prefer: return=minimal`.
pub(crate) async fn patch<K: Kind>(
    State(st): State<AppState>,
    ctx: RequestCtx,
    IdParam(id): IdParam,
    params: Params,
    headers: HeaderMap,
    ScimJson(body): ScimJson<Value>,
) -> Result<Response, ApiError> {
    let proj = params.projection();
    let minimal = wants_minimal(&headers);
    let read = if minimal {
        Default::default()
    } else {
        proj.write_read_options(&st.registry, K::KIND, st.config.write_response_max_members)
    };
    let req = ops::parse_patch(body)?;
    let id = ResourceId::parse(K::KIND, &id)?;
    let stored = ops::patch(&st, &ctx, id, &if_match(&headers), req, read).await?;
    if minimal {
        let mut res = StatusCode::NO_CONTENT.into_response();
        res.headers_mut().extend(resource_headers(&support::etag(stored.version), None));
        return Ok(res);
    }
    Ok(resource_response(&st, &ctx, K::KIND, StatusCode::OK, stored, &proj))
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}`: 204.
pub(crate) async fn delete<K: Kind>(
    State(st): State<AppState>,
    ctx: RequestCtx,
    IdParam(id): IdParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = ResourceId::parse(K::KIND, &id)?;
    ops::delete(&st, &ctx, id, &if_match(&headers)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /Users`, `GET /Groups`.
pub(crate) async fn list<K: Kind>(
    State(st): State<AppState>,
    ctx: RequestCtx,
    params: Params,
) -> Result<Response, ApiError> {
    let req = search::from_query(&params.0)?;
    let body = search::search(&st, &ctx, K::KIND, req).await?;
    Ok(scim_bytes_with(StatusCode::OK, body, HeaderMap::new()))
}

/// Parses a SearchRequest body.
fn search_body(body: Value) -> Result<SearchRequest, ScimError> {
    serde_json::from_value(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not a search request: {e}")))
}

/// `POST /Users/.search`, `POST /Groups/.search`.
pub(crate) async fn search_post<K: Kind>(
    State(st): State<AppState>,
    ctx: RequestCtx,
    ScimJson(body): ScimJson<Value>,
) -> Result<Response, ApiError> {
    let body = search::search(&st, &ctx, K::KIND, search_body(body)?).await?;
    Ok(scim_bytes_with(StatusCode::OK, body, HeaderMap::new()))
}

/// `POST /.search` across users and groups.
pub(crate) async fn search_root(
    State(st): State<AppState>,
    ctx: RequestCtx,
    ScimJson(body): ScimJson<Value>,
) -> Result<Response, ApiError> {
    let body = search::search_all(&st, &ctx, search_body(body)?).await?;
    Ok(scim_bytes_with(StatusCode::OK, body, HeaderMap::new()))
}

/// `POST /Bulk`.
pub(crate) async fn bulk(
    State(st): State<AppState>,
    ctx: RequestCtx,
    ScimBytes(body): ScimBytes,
) -> Result<Response, ApiError> {
    let body = bulk::bulk(&st, &ctx, &body).await?;
    Ok(scim_response(StatusCode::OK, &body))
}

/// `POST /Users/delete`: bulk deactivate.
pub(crate) async fn deactivate(
    State(st): State<AppState>,
    ctx: RequestCtx,
    ScimJson(body): ScimJson<Value>,
) -> Result<Response, ApiError> {
    let body = bulk::deactivate(&st, &ctx, body).await?;
    Ok(scim_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q = parse_query("filter=userName+eq+%22a%40x.io%22&aadOptscim062020&count=2&bad=%zz");
        assert_eq!(q[0], ("filter".into(), "userName eq \"a@x.io\"".into()));
        assert_eq!(q[1], ("aadOptscim062020".into(), String::new()));
        assert_eq!(q[3].1, "%zz");
    }

    #[test]
    fn prefer() {
        let mut h = HeaderMap::new();
        assert!(!wants_minimal(&h));
        h.insert("prefer", "return=minimal".parse().unwrap());
        assert!(wants_minimal(&h));
    }
}
