//! The agent UI's HTTP surface: routes, shared state and the headers every response
//! carries. Each handler lives in its own module and stays small.

mod assets;
mod browser_ws;
mod console;
mod files;
mod health;
pub mod history;
mod login;
mod media;
mod session;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use switchboard_cloud::guard::headers::HeaderPolicy;

use crate::sessions::Registry;

pub use assets::StaticSource;

pub use crate::session_cookie::{AGENT_COOKIE, SESSION_COOKIE};
/// Name of the sign-in form's CSRF cookie (double-submit: its value is also
/// a hidden field of the form).
pub const LOGIN_CSRF_COOKIE: &str = "sb_login";

/// Largest request body accepted (the sign-in form is tiny).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Headers every response carries: this CSP plus `switchboard_cloud::guard::headers`.
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
    /// Seals and opens session cookies (`SESSION_SECRET`).
    pub cookie_key: crate::session_cookie::CookieKey,
    /// The switchboard's stored files (S3 and/or `FILES_DIR`), under `/files/`.
    pub files: switchboard_cloud::files::FileStore,
    /// Guards `GET /metrics` (`METRICS_TOKEN`); `None` turns it off.
    pub metrics_token: Option<switchboard_cloud::telemetry::MetricsToken>,
    /// Failed sign-ins per agent name and client address.
    pub throttle: switchboard_cloud::guard::SignInThrottle,
    /// Proxies whose `X-Forwarded-For` / `-Proto` are believed.
    pub proxies: switchboard_cloud::guard::TrustedProxies,
    /// The switchboard's history and search API (`/history/…`).
    pub history: history::HistoryUpstream,
}

/// All routes, with the static assets served under `/static/`.
pub fn router(state: AppState, statics: &StaticSource) -> Router {
    let headers = HeaderPolicy {
        csp: CONTENT_SECURITY_POLICY,
        proxies: state.proxies.clone(),
    };
    let router = Router::new()
        .route("/", get(console::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::sign_out))
        .route("/ws", get(browser_ws::upgrade))
        .route("/healthz", get(health::healthz))
        .route("/files/{*key}", get(files::serve))
        .route("/history/{*rest}", get(history::forward))
        .route("/media/{conversation}", post(media::upload))
        .route("/metrics", get(metrics))
        .nest_service("/static", assets::service(statics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::refresh,
        ))
        .layer(axum::middleware::from_fn_with_state(
            headers,
            switchboard_cloud::guard::headers::apply,
        ));
    switchboard_cloud::telemetry::with_http_layers(router).with_state(state)
}

/// `GET /metrics`: Prometheus' text format, behind `METRICS_TOKEN` (off
/// without it).
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    use switchboard_cloud::telemetry;
    match telemetry::authorize(state.metrics_token.as_ref(), &headers) {
        Ok(()) => telemetry::exposition(),
        Err(refused) => refused.into_response(),
    }
}
