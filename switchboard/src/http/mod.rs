//! The HTTP surface: Twilio webhooks, the agent WebSocket endpoint, health.

mod agent_auth;
mod agent_ws;
mod files;
mod form_decode;
mod health;
mod inbound;
mod status_callback;
mod twilio_form;

use crate::config::Config;
use crate::router::RouterHandle;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::watch;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub router: RouterHandle,
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
}

/// Path of Twilio's inbound-message webhook.
pub const INBOUND_PATH: &str = "/twilio/sms";
/// The original system's path for the same webhook.
pub const LEGACY_INBOUND_PATH: &str = "/smswebhook";
/// Path of the delivery-status callback.
pub const STATUS_PATH: &str = "/twilio/status";

pub fn app(state: AppState) -> Router {
    let webhook_limit = DefaultBodyLimit::max(state.config.max_webhook_bytes);
    Router::new()
        .route("/", get(health::ping))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(INBOUND_PATH, post(inbound::receive).layer(webhook_limit))
        .route(
            LEGACY_INBOUND_PATH,
            post(inbound::receive).layer(webhook_limit),
        )
        .route(
            STATUS_PATH,
            post(status_callback::receive).layer(webhook_limit),
        )
        .route(switchboard_protocol::AGENT_WS_PATH, get(agent_ws::upgrade))
        .route(files::FILES_PATH, get(files::serve))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
