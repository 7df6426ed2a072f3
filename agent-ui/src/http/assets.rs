//! `/static/…`: CSS, JS and icons, from `STATIC_DIR` or from S3 with `STATIC_DIR`
//! as the fallback; compressed when the browser accepts it and cacheable for an
//! hour.

use std::path::PathBuf;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use switchboard_cloud::files::FileStore;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// An hour: assets change only with a deploy, and a stale stylesheet for up to an
/// hour after one is acceptable for an internal console.
const CACHE_CONTROL: &str = "public, max-age=3600";

/// Where the static assets come from.
#[derive(Debug, Clone)]
pub enum StaticSource {
    /// A local directory only.
    Dir(PathBuf),
    /// S3 (under `STATIC_S3_PREFIX`) first, the store's local root (`STATIC_DIR`)
    /// when S3 does not have the file or does not answer.
    S3(FileStore),
}

/// The assets, to be nested under `/static`.
pub fn service(source: &StaticSource) -> Router {
    let files = match source {
        StaticSource::Dir(dir) => Router::new().fallback_service(ServeDir::new(dir)),
        StaticSource::S3(store) => Router::new()
            .route("/{*path}", get(from_store))
            .with_state(store.clone()),
    };
    files
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

async fn from_store(
    State(store): State<FileStore>,
    method: Method,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    match path {
        Ok(Path(path)) => store.serve(&method, &path, &headers).await,
        Err(rejection) => rejection.into_response(),
    }
}
