//! Read-only views of the simulator for the page and for tests: the
//! messages that went through it and how it is set up.

use super::errors::SimError;
use super::state::{AppState, SimMessage};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    /// Only messages to or from this number.
    pub number: Option<String>,
}

/// `GET /sim/messages[?number=+1555…]`: every message, oldest first.
pub async fn messages(
    State(state): State<AppState>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<Vec<SimMessage>>, SimError> {
    let Query(query) = query.map_err(|e| SimError::new(e.body_text()))?;
    let number = query.number.as_deref().map(normalize_number);
    Ok(Json(state.messages(number.as_deref())))
}

/// An unencoded `+` in a query string arrives as a space (`?number=+1555…`
/// typed by hand), so a number without its `+` gets it back.
fn normalize_number(raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.starts_with('+') {
        trimmed.to_string()
    } else {
        format!("+{trimmed}")
    }
}

/// `GET /sim/info`: what the page tells the customer about the setup.
pub async fn info(State(state): State<AppState>) -> Json<Value> {
    let config = state.config();
    Json(json!({
        "twilio_from": config.twilio_from,
        "webhook_url": state.webhook_url(),
        "delivery_delay_ms": config.delivery_delay_ms,
    }))
}

#[cfg(test)]
mod tests {
    use super::normalize_number;

    #[test]
    fn restores_plus_lost_in_query_strings() {
        assert_eq!(normalize_number(" 15551230001"), "+15551230001");
        assert_eq!(normalize_number("+15551230001"), "+15551230001");
    }
}
