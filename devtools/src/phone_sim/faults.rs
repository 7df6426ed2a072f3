//! Fault injection: tests queue what the next `Messages.json` requests
//! should suffer (`POST /sim/faults`), one fault per request, in order.
//!
//! A fault is either an HTTP error in Twilio's format (rate limiting, a
//! refused recipient, an outage) or an accepted message whose delivery ends
//! badly, which is only visible later through the status callbacks, or
//! whose answer never comes (`hold_response`), or that is created only
//! after a while (`accept_after_ms`: a slow Twilio, whose request may
//! outlive the client that sent it).

use super::errors::{SimError, TwilioError};
use super::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// How an accepted message's delivery ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinalStatus {
    Delivered,
    Undelivered,
    Failed,
}

impl FinalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Delivered => "delivered",
            FinalStatus::Undelivered => "undelivered",
            FinalStatus::Failed => "failed",
        }
    }
}

/// What happens to one `Messages.json` request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this error instead of accepting the message.
    Reject(TwilioErrorSpec),
    /// Accept the message, then end its delivery this way.
    Accept {
        final_status: FinalStatus,
        error_code: Option<u32>,
        /// Never answer the request (the message exists all the same): what
        /// a client sees when the answer is lost or it dies waiting for it.
        hold_response: bool,
        /// Hold the request this long before creating the message; it is
        /// created even if the client went away meanwhile.
        accept_after: Option<std::time::Duration>,
    },
}

/// The parts of a [`TwilioError`] a fault fixes in advance.
#[derive(Debug, Clone, PartialEq)]
pub struct TwilioErrorSpec {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl From<TwilioErrorSpec> for TwilioError {
    fn from(spec: TwilioErrorSpec) -> Self {
        TwilioError {
            status: spec.status,
            code: spec.code,
            message: spec.message,
            retry_after_secs: spec.retry_after_secs,
        }
    }
}

/// A fault as tests write it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// HTTP status of the answer; 2xx means "accept the message".
    pub status: u16,
    /// Twilio error code of an error answer (default 20000 + status, the
    /// way Twilio numbers its generic HTTP errors such as 20429).
    pub code: Option<u32>,
    pub message: Option<String>,
    pub retry_after_secs: Option<u64>,
    /// For accepted messages: how delivery ends (default `delivered`).
    pub final_status: Option<FinalStatus>,
    /// For `undelivered` / `failed`: the `ErrorCode` of the callbacks
    /// (default 30003 "Unreachable destination handset" / 30008 "Unknown error").
    pub error_code: Option<u32>,
    /// For accepted messages: accept, then never send the answer.
    #[serde(default)]
    pub hold_response: bool,
    /// For accepted messages: hold the request this many milliseconds
    /// before creating the message (created even if the client left).
    pub accept_after_ms: Option<u64>,
}

impl TryFrom<FaultSpec> for Fault {
    type Error = String;

    fn try_from(spec: FaultSpec) -> Result<Self, String> {
        let status = StatusCode::from_u16(spec.status)
            .map_err(|_| format!("{} is not an HTTP status", spec.status))?;
        if status.is_success() {
            if spec.code.is_some() || spec.message.is_some() || spec.retry_after_secs.is_some() {
                return Err(format!(
                    "status {status}: code, message and retry_after_secs belong to error answers"
                ));
            }
            let final_status = spec.final_status.unwrap_or(FinalStatus::Delivered);
            let error_code = match (final_status, spec.error_code) {
                (FinalStatus::Delivered, Some(_)) => {
                    return Err("error_code needs final_status undelivered or failed".into())
                }
                (FinalStatus::Delivered, None) => None,
                (FinalStatus::Undelivered, code) => Some(code.unwrap_or(30003)),
                (FinalStatus::Failed, code) => Some(code.unwrap_or(30008)),
            };
            return Ok(Fault::Accept {
                final_status,
                error_code,
                hold_response: spec.hold_response,
                accept_after: spec.accept_after_ms.map(std::time::Duration::from_millis),
            });
        }
        if !(status.is_client_error() || status.is_server_error()) {
            return Err(format!("status {status} is neither a success nor an error"));
        }
        if spec.final_status.is_some()
            || spec.error_code.is_some()
            || spec.hold_response
            || spec.accept_after_ms.is_some()
        {
            return Err(format!(
                "status {status}: final_status, error_code, hold_response and accept_after_ms belong to accepted (2xx) messages"
            ));
        }
        Ok(Fault::Reject(TwilioErrorSpec {
            status,
            code: spec.code.unwrap_or(20_000 + u32::from(spec.status)),
            message: spec
                .message
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string()),
            retry_after_secs: spec.retry_after_secs,
        }))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsRequest {
    pub faults: Vec<FaultSpec>,
}

/// `POST /sim/faults`: queue faults behind any already waiting.
pub async fn push(
    State(state): State<AppState>,
    request: Result<Json<FaultsRequest>, JsonRejection>,
) -> Result<Json<Value>, SimError> {
    let Json(request) = request.map_err(|e| SimError::new(e.body_text()))?;
    let faults = request
        .faults
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            Fault::try_from(spec).map_err(|e| SimError::new(format!("faults[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let added = faults.len();
    let pending = state.push_faults(faults);
    tracing::info!(added, pending, "phone simulator: faults queued");
    Ok(Json(json!({ "pending": pending })))
}

/// `DELETE /sim/faults`: forget every queued fault.
pub async fn clear(State(state): State<AppState>) -> StatusCode {
    state.clear_faults();
    tracing::info!("phone simulator: faults cleared");
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<Fault, String> {
        Fault::try_from(serde_json::from_str::<FaultSpec>(json).map_err(|e| e.to_string())?)
    }

    #[test]
    fn error_faults_get_twilio_defaults() {
        let Ok(Fault::Reject(e)) = spec(r#"{"status":429,"retry_after_secs":1}"#) else {
            panic!("429 should reject");
        };
        assert_eq!(
            (e.status.as_u16(), e.code, e.retry_after_secs),
            (429, 20429, Some(1))
        );
        assert_eq!(e.message, "Too Many Requests");
        let Ok(Fault::Reject(e)) = spec(
            r#"{"status":400,"code":21610,"message":"Attempt to send to unsubscribed recipient"}"#,
        ) else {
            panic!("400 should reject");
        };
        assert_eq!(
            (e.code, e.message.as_str()),
            (21610, "Attempt to send to unsubscribed recipient")
        );
    }

    #[test]
    fn accept_faults_pick_final_status() {
        assert_eq!(
            spec(r#"{"status":201,"final_status":"undelivered","error_code":30003}"#),
            Ok(Fault::Accept {
                final_status: FinalStatus::Undelivered,
                error_code: Some(30003),
                hold_response: false,
                accept_after: None,
            })
        );
        assert_eq!(
            spec(r#"{"status":201}"#),
            Ok(Fault::Accept {
                final_status: FinalStatus::Delivered,
                error_code: None,
                hold_response: false,
                accept_after: None,
            })
        );
        assert_eq!(
            spec(r#"{"status":201,"hold_response":true}"#),
            Ok(Fault::Accept {
                final_status: FinalStatus::Delivered,
                error_code: None,
                hold_response: true,
                accept_after: None,
            })
        );
        assert_eq!(
            spec(r#"{"status":201,"final_status":"failed"}"#),
            Ok(Fault::Accept {
                final_status: FinalStatus::Failed,
                error_code: Some(30008),
                hold_response: false,
                accept_after: None,
            })
        );
    }

    #[test]
    fn contradictory_faults_are_refused() {
        assert!(spec(r#"{"status":302}"#).is_err());
        assert!(spec(r#"{"status":99}"#).is_err());
        assert!(spec(r#"{"status":500,"final_status":"failed"}"#).is_err());
        assert!(spec(r#"{"status":503,"hold_response":true}"#).is_err());
        assert!(spec(r#"{"status":201,"code":21610}"#).is_err());
        assert!(spec(r#"{"status":201,"error_code":30003}"#).is_err());
        assert!(spec(r#"{"status":201,"colour":"red"}"#).is_err());
    }
}
