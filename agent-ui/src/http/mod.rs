//! The agent UI's HTTP surface: routes, shared state and the headers every response
//! carries. Each handler lives in its own module and stays small.

mod assets;
mod browser_ws;
mod console;
mod files;
mod health;
mod login;
mod session;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::sessions::Registry;

pub use assets::StaticSource;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sb_session";

/// Largest request body accepted (the sign-in form is tiny).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Pages load their scripts and styles from /static/ only, so a message body that
/// somehow became markup still could not run script. Images may come from the file
/// server or Twilio (MMS).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https: http:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    /// The switchboard's stored files (S3 and/or `FILES_DIR`), under `/files/`.
    pub files: switchboard_cloud::files::FileStore,
}

/// All routes, with the static assets served under `/static/`.
pub fn router(state: AppState, statics: &StaticSource) -> Router {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    Router::new()
        .route("/", get(console::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::sign_out))
        .route("/ws", get(browser_ws::upgrade))
        .route("/healthz", get(health::healthz))
        .route("/files/{*key}", get(files::serve))
        .nest_service("/static", assets::service(statics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
