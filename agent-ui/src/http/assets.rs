//! `/static/…`: CSS, JS and icons from `STATIC_DIR`, compressed when the browser
//! accepts it and cacheable for an hour.

use std::path::Path;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// An hour: assets change only with a deploy, and a stale stylesheet for up to an
/// hour after one is acceptable for an internal console.
const CACHE_CONTROL: &str = "public, max-age=3600";

/// The files of `dir`, to be nested under `/static`.
pub fn service(dir: &Path) -> Router {
    Router::new()
        .fallback_service(ServeDir::new(dir))
        .layer(CompressionLayer::new())
        // Only successful answers are cacheable: a 404 during a deploy must not stick.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            |response: &Response| {
                response
                    .status()
                    .is_success()
                    .then(|| HeaderValue::from_static(CACHE_CONTROL))
            },
        ))
}
