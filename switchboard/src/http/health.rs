//! Liveness and readiness probes, and the original's ping at `/`.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

pub async fn ping() -> &'static str {
    "Switchboard is active"
}

/// The process is up; `role` says whether it routes (`leader`) or only
/// takes webhooks (`follower`, `STORE=dynamodb` without the router lease).
pub async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "role": state.role.name() }))
}

/// Ready for traffic: the store answers (with `STORE=dynamodb`, DynamoDB
/// itself) and we are not shutting down. A follower is ready too: it takes
/// webhooks.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match state.readiness.ready().await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable"),
    }
}
