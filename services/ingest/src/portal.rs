//! The tenant portal under `/portal`: the static pages and scripts of `services/ingest/portal/`,
//! embedded in release builds (read from that folder in debug builds). The pages call the
//! public API from the browser with the tenant's key; the server renders nothing per tenant.
//!
//! Answers carry a strict Content-Security-Policy (no inline script or style, nothing from
//! another origin) and an `ETag`, so a browser revalidates instead of downloading again.

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Redirect;
use poem::{IntoResponse, Request, Response, Route, get, handler};

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

#[handler]
fn file(req: &Request) -> Response {
    let path = req.uri().path().trim_start_matches("/portal/");
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(file) = Files::get(path) else {
        return ApiError::not_found("portal page").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|seen| seen.as_bytes() == etag.as_bytes());
    let mut response = if unchanged {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .finish()
    } else {
        Response::builder()
            .content_type(file.metadata.mimetype())
            .body(file.data.into_owned())
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
