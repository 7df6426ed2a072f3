//! The HTTP surface: Twilio webhooks, the agent WebSocket endpoint, files
//! and history for agents, health.

pub mod agent_auth;
mod agent_ws;
mod files;
mod form_decode;
mod health;
mod history;
mod inbound;
pub mod media;
mod status_callback;
mod twilio_form;

use crate::cluster::duties::Role;
use crate::config::Config;
use crate::store::{Lifecycle, MessageLog, RoutingState};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use switchboard_cloud::guard::headers::HeaderPolicy;
use tokio::sync::watch;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// The message log: webhooks, status callbacks, agent sockets' reads.
    pub store: Arc<dyn MessageLog>,
    /// Resolves and search (`/history/…`).
    pub history: Arc<dyn crate::store::History>,
    /// Who holds which conversation: `/files` reads it to decide whether an
    /// agent may read a customer's picture.
    pub routing: Arc<dyn RoutingState>,
    /// Asked by `/readyz`.
    pub readiness: Arc<dyn Lifecycle>,
    /// Whether this instance leads, and its router while it does: agent
    /// sockets are accepted only then.
    pub role: Role,
    /// Turns true when the service starts shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Source of agent connection ids.
    pub next_conn_id: Arc<AtomicU64>,
    /// Open agent sockets; shutdown waits for them to say goodbye.
    pub agent_sockets: tokio_util::task::TaskTracker,
    /// Background work that needs AWS or Twilio's media (MMS fetches).
    pub jobs: crate::jobs::JobQueue,
    /// Local files plus S3 (when configured): MMS media, transcripts.
    pub files: switchboard_cloud::files::FileStore,
    /// Agent sign-in limits and the trusted proxies.
    pub guard: agent_auth::Guard,
    /// The team's canned replies: agent sockets edit them and forward the
    /// newest list.
    pub canned: crate::canned::Canned,
    /// The supervisor's figures (`/v1/history/stats`), with their cache.
    pub stats: Arc<crate::stats::Stats>,
}

/// Path of Twilio's inbound-message webhook.
pub const INBOUND_PATH: &str = "/twilio/sms";
/// The original system's path for the same webhook.
pub const LEGACY_INBOUND_PATH: &str = "/smswebhook";
/// The switchboard serves no pages: nothing may load, run or frame anything.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Path of the delivery-status callback.
pub const STATUS_PATH: &str = "/twilio/status";

pub fn app(state: AppState) -> Router {
    let webhook_limit = DefaultBodyLimit::max(state.config.max_webhook_bytes);
    let measured = axum::middleware::from_fn(crate::telemetry::measure_webhook);
    let inbound = post(inbound::receive).layer(webhook_limit).layer(measured);
    let router = Router::new()
        .route("/", get(health::ping))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics))
        .route(INBOUND_PATH, inbound.clone())
        .route(LEGACY_INBOUND_PATH, inbound)
        .route(
            STATUS_PATH,
            post(status_callback::receive).layer(webhook_limit),
        )
        .route(switchboard_protocol::AGENT_WS_PATH, get(agent_ws::upgrade))
        .route(files::FILES_PATH, get(files::serve))
        .route(media::UPLOAD_PATH, post(media::upload))
        .route(media::SIGNED_PATH, get(media::serve_signed))
        .route("/v1/history/search", get(history::search))
        .route("/v1/history/resolved", get(history::resolved))
        .route("/v1/history/customer/{number}", get(history::customer))
        .route("/v1/history/messages/{number}", get(history::messages))
        .route("/v1/history/stats", get(history::stats))
        .layer(axum::middleware::from_fn_with_state(
            HeaderPolicy {
                csp: CONTENT_SECURITY_POLICY,
                proxies: state.guard.proxies.clone(),
            },
            switchboard_cloud::guard::headers::apply,
        ));
    switchboard_cloud::telemetry::with_http_layers(router).with_state(state)
}

/// `GET /metrics`: Prometheus' text format, behind `METRICS_TOKEN` (off
/// without it). Gauges kept on disk are read first.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    use switchboard_cloud::telemetry;
    if let Err(refused) = telemetry::authorize(state.config.metrics_token.as_ref(), &headers) {
        return refused.into_response();
    }
    crate::telemetry::sample(state.jobs.clone()).await;
    telemetry::exposition()
}
