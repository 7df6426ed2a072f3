//! Twilio's delivery-status callback for our outbound messages.
//!
//! Signed like the inbound webhook. The store moves the status forward only
//! (a late `sent` after `delivered` is ignored); a callback that beats our
//! record of Twilio's SID is kept until the SID is known.

use super::twilio_form::{Rejection, TwilioForm};
use super::AppState;
use crate::store::{StatusTarget, StatusUpdate};
use crate::twilio::OPTED_OUT_ERROR;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchboard_protocol::{DeliveryError, DeliveryStatus};

pub async fn receive(State(state): State<AppState>, form: TwilioForm) -> Response {
    let Some(sid) = form
        .get("MessageSid")
        .or_else(|| form.get("SmsSid"))
        .filter(|s| !s.is_empty())
    else {
        return Rejection(
            StatusCode::BAD_REQUEST,
            "missing required field MessageSid".into(),
        )
        .into_response();
    };
    let Some(raw_status) = form.get("MessageStatus").or_else(|| form.get("SmsStatus")) else {
        return Rejection(
            StatusCode::BAD_REQUEST,
            "missing required field MessageStatus".into(),
        )
        .into_response();
    };
    let Some(status) = DeliveryStatus::from_twilio(raw_status) else {
        // e.g. `receiving`: nothing to record for an outbound message.
        return StatusCode::NO_CONTENT.into_response();
    };
    let code = match form.get("ErrorCode").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match c.parse::<u32>() {
            Ok(code) => Some(code),
            Err(_) => {
                return Rejection(
                    StatusCode::BAD_REQUEST,
                    format!("ErrorCode `{c}` is not a number"),
                )
                .into_response()
            }
        },
    };
    let error = match status {
        DeliveryStatus::Failed | DeliveryStatus::Undelivered => Some(DeliveryError {
            code,
            message: form
                .get("ErrorMessage")
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| crate::twilio::describe_error(code)),
        }),
        _ => None,
    };
    let update = StatusUpdate {
        target: StatusTarget::TwilioSid(sid.to_string()),
        status,
        error,
        twilio_sid: None,
        outbox_done: false,
    };
    if let Err(e) = state.store.update_status(update).await {
        tracing::error!(sid, error = %e, "could not store a status callback");
        crate::telemetry::store_error("update_status");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "could not store the status; retry",
        )
            .into_response();
    }
    if code == Some(OPTED_OUT_ERROR) {
        if let Some(to) = form.get("To") {
            if let Err(e) = state.store.set_opted_out(to, true).await {
                tracing::error!(to, error = %e, "could not record an opt-out");
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}
