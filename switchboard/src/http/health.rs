//! Liveness and readiness probes, and the original's ping at `/`.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;

pub async fn ping() -> &'static str {
    "Switchboard is active"
}

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready for traffic: the store answers (with `STORE=dynamodb`, DynamoDB
/// itself) and we are not shutting down.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match state.readiness.ready().await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable"),
    }
}
