//! The tenant portal under `/portal`: the static pages and scripts of `services/ingest/portal/`,
//! embedded in release builds (read from that folder in debug builds). The server puts the
//! shared header into each page; the pages call the public API from the browser with the
//! tenant's key, so nothing is rendered per tenant.
//!
//! Answers carry a strict Content-Security-Policy (no inline script or style, nothing from
//! another origin) and an `ETag`, so a browser revalidates instead of downloading again.

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Redirect;
use poem::{IntoResponse, Request, Response, Route, get, handler};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "portal/"]
struct Files;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// Adds the portal's routes to `route`.
pub fn routes(route: Route) -> Route {
    route
        // Relative links in the pages resolve against `/portal/`, not `/`.
        .at("/portal", get(to_index))
        .at("/portal/", get(file))
        .at("/portal/*path", get(file))
}

#[handler]
fn to_index() -> Redirect {
    Redirect::permanent("/portal/")
}

/// Where a page takes the shared header (`_header.html`).
const HEADER_MARK: &str = "<!--#header-->";

/// A page with the shared header in place of its mark, the page's own link in it marked
/// `aria-current`. Files named `_...` are parts of pages, not pages.
fn page(path: &str) -> Option<(Vec<u8>, String)> {
    if path.starts_with('_') {
        return None;
    }
    let embedded = Files::get(path)?;
    let mimetype = embedded.metadata.mimetype().to_owned();
    let body = embedded.data.into_owned();
    let Some(at) = path
        .ends_with(".html")
        .then(|| find(&body, HEADER_MARK))
        .flatten()
    else {
        return Some((body, mimetype));
    };
    let header = Files::get("_header.html")?;
    let link = format!("href=\"/portal/{path}\"");
    let header = String::from_utf8_lossy(&header.data).replacen(
        &link,
        &format!("{link} aria-current=\"page\""),
        1,
    );
    let mut assembled = Vec::with_capacity(body.len() + header.len());
    assembled.extend_from_slice(&body[..at]);
    assembled.extend_from_slice(header.trim_end().as_bytes());
    assembled.extend_from_slice(&body[at + HEADER_MARK.len()..]);
    Some((assembled, mimetype))
}

fn find(haystack: &[u8], needle: &str) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle.as_bytes())
}

#[handler]
fn file(req: &Request) -> Response {
    let path = req.uri().path().trim_start_matches("/portal/");
    let path = if path.is_empty() { "index.html" } else { path };
    let Some((body, mimetype)) = page(path) else {
        return ApiError::not_found("portal page").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&body)));
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|seen| seen.as_bytes() == etag.as_bytes());
    let mut response = if unchanged {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .finish()
    } else {
        Response::builder().content_type(mimetype).body(body)
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}
