//! Delivery of an accepted outbound message, played out in the background:
//! each step waits `SIM_DELIVERY_DELAY_MS`, updates the recorded status and
//! POSTs a signed status callback the way Twilio does.
//!
//! Twilio does not retry status callbacks, so neither do we; a callback the
//! switchboard cannot take is logged and the delivery goes on.

use super::faults::FinalStatus;
use super::state::AppState;
use super::twilio_format::API_VERSION;
use switchboard::twilio::signature;

/// The message whose delivery is played out.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub sid: String,
    pub from: String,
    pub to: String,
    pub status_callback: Option<String>,
    pub final_status: FinalStatus,
    pub error_code: Option<u32>,
}

impl Delivery {
    /// The statuses the message goes through after `queued`. A failed
    /// message never reaches the carrier, so it skips `sent`.
    fn steps(&self) -> Vec<(&'static str, Option<u32>)> {
        match self.final_status {
            FinalStatus::Failed => vec![("failed", self.error_code)],
            last => vec![("sent", None), (last.as_str(), self.error_code)],
        }
    }
}

/// Plays out `delivery` on its own task.
pub fn spawn(state: AppState, delivery: Delivery) {
    tokio::spawn(run(state, delivery));
}

async fn run(state: AppState, delivery: Delivery) {
    let delay = state.config().delivery_delay();
    for (status, error_code) in delivery.steps() {
        tokio::time::sleep(delay).await;
        state.update(&delivery.sid, |message| {
            message.status = status.to_string();
            message.error_code = error_code;
        });
        tracing::info!(sid = %delivery.sid, status, "phone simulator: delivery status");
        // Sequential on purpose: callbacks reach the switchboard in order.
        if let Some(url) = &delivery.status_callback {
            post_callback(&state, &delivery, url, status, error_code).await;
        }
    }
}

async fn post_callback(
    state: &AppState,
    delivery: &Delivery,
    url: &str,
    status: &str,
    error_code: Option<u32>,
) {
    let config = state.config();
    let mut params: Vec<(String, String)> = [
        ("AccountSid", config.twilio_account_sid.as_str()),
        ("ApiVersion", API_VERSION),
        ("From", delivery.from.as_str()),
        ("To", delivery.to.as_str()),
        ("MessageSid", delivery.sid.as_str()),
        ("SmsSid", delivery.sid.as_str()),
        ("MessageStatus", status),
        ("SmsStatus", status),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    if let Some(code) = error_code {
        params.push(("ErrorCode".to_string(), code.to_string()));
    }
    let signature = signature::compute(&config.twilio_auth_token, url, &params);
    let outcome = state
        .http()
        .post(url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await;
    match outcome {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => tracing::warn!(
            sid = %delivery.sid, status, url, http_status = %response.status(),
            "phone simulator: status callback refused"
        ),
        Err(error) => tracing::warn!(
            sid = %delivery.sid, status, url, %error,
            "phone simulator: status callback failed"
        ),
    }
}
