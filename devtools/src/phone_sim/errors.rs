//! Error answers of the simulator: Twilio's JSON error format on the
//! simulated REST API, a plain `{"error": …}` on the simulator's own endpoints.
//!
//! Clients under test branch on Twilio's `code` and on `Retry-After`, so the
//! REST side reproduces both exactly.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error as Twilio's REST API reports it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Twilio error {code} (HTTP {status}): {message}")]
pub struct TwilioError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    /// Sent as `Retry-After` (Twilio does so on 429).
    pub retry_after_secs: Option<u64>,
}

impl TwilioError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        TwilioError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// 20003: missing or wrong credentials.
    pub fn authenticate() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
    }

    /// 20404: no such resource (Twilio names the path it was asked for).
    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }

    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A refused request to one of the simulator's own `/sim/…` endpoints.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SimError(pub String);

impl SimError {
    pub fn new(reason: impl Into<String>) -> Self {
        SimError(reason.into())
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({ "error": self.0 }))).into_response()
    }
}
