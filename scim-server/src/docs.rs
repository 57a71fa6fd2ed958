//! The documentation the service serves itself, so that the `moreInfo` link of every error
//! body resolves without anything outside the process: `GET /docs/errors` is
//! `docs/errors.md` as a small self-contained HTML page (its `<a id="{code}">` anchors kept,
//! so `#20409` jumps to the entry), `GET /docs/errors.md` the markdown as written. Both are
//! embedded at compile time; like `/healthz` they need no credential.

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::sync::OnceLock;

/// `docs/errors.md`, embedded at compile time (through the link `scim-server/docs/errors.md`,
/// so that the packaged crate carries it).
pub const ERRORS_MD: &str = include_str!("../docs/errors.md");

/// The documentation routes, relative to the root.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/docs/errors", get(errors_html)).route("/docs/errors.md", get(errors_md))
}

const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Error codes</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
code,pre{font-family:ui-monospace,monospace;font-size:.9em}
pre{background:#f4f4f4;padding:.75rem;overflow-x:auto}
table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}
h3{margin-top:1.75rem}
p:has(>a:target)+h3{background:#fff3c4}
</style>
</head>
<body>
<main>
"#;

const TAIL: &str = "</main>\n</body>\n</html>\n";

/// `docs/errors.md` rendered as a self-contained HTML page (rendered once, then reused).
pub fn errors_page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        let mut html = String::with_capacity(ERRORS_MD.len() * 2);
        html.push_str(HEAD);
        // Raw HTML in the markdown (the anchors) passes through unchanged. Links to the
        // other pages of `docs/` would be dead here (only this page is served): their text
        // stays, the link goes.
        let mut in_dropped_link = false;
        let events = Parser::new_ext(ERRORS_MD, Options::ENABLE_TABLES).filter(|e| match e {
            Event::Start(Tag::Link { dest_url, .. }) if !served(dest_url) => {
                in_dropped_link = true;
                false
            }
            Event::End(TagEnd::Link) if in_dropped_link => {
                in_dropped_link = false;
                false
            }
            _ => true,
        });
        pulldown_cmark::html::push_html(&mut html, events);
        html.push_str(TAIL);
        html
    })
}

/// Whether a link of the page leads somewhere from `/docs/errors`: anchors on the page,
/// the page itself, and absolute URLs; not the sibling pages of `docs/`.
fn served(dest: &str) -> bool {
    dest.starts_with('#')
        || dest.starts_with("errors.md#")
        || dest.starts_with("https://")
        || dest.starts_with("http://")
}

async fn errors_html() -> Response {
    page(errors_page(), "text/html; charset=utf-8")
}

async fn errors_md() -> Response {
    page(ERRORS_MD, "text/markdown; charset=utf-8")
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The page is static and self-contained: no scripts, no outside resources.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_keeps_every_anchor_and_renders_the_table() {
        let page = errors_page();
        assert!(page.starts_with("<!doctype html>"));
        for code in scim_core::ErrorCode::ALL {
            let anchor = format!("<a id=\"{}\"></a>", code.code());
            assert!(page.contains(&anchor), "page lacks {anchor}");
        }
        assert!(page.contains("<table>"));
        assert!(page.contains("<h3>20409 Uniqueness</h3>"));
        assert!(page.contains("<code>Retry-After</code>"));
        // Sibling pages are not served: their links become text.
        assert!(page.contains("compatibility.md"));
        assert!(!page.contains("href=\"compatibility.md\""));
        assert!(served("#20409") && served("https://x") && !served("configuration.md"));
    }
}
