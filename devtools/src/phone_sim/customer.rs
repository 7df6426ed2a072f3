//! The customer's phone: `POST /sim/send` turns a text typed on the page (or
//! sent by a test) into the signed inbound-message webhook Twilio would post
//! to the switchboard.
//!
//! No retries: the caller sees the switchboard's answer (or why it could not
//! be reached) and decides, which is what a demo and a test both want.

use super::errors::SimError;
use super::state::{AppState, SimDirection, SimMessage};
use super::twilio_format::{country_of, new_sid, now_ms, num_segments, API_VERSION};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard::phone::is_e164;
use switchboard::twilio::signature;
use switchboard_protocol::Media;

/// Twilio forwards at most this many attachments per message.
const MAX_MEDIA: usize = 10;

/// Longest switchboard answer echoed back to the caller.
const MAX_ECHOED_BYTES: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The customer's number (E.164).
    pub from: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub media: Vec<Media>,
}

/// `POST /sim/send`: the customer texts the Twilio number.
pub async fn send(
    State(state): State<AppState>,
    request: Result<Json<SendRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), SimError> {
    let Json(request) = request.map_err(|e| SimError::new(e.body_text()))?;
    validate(&request)?;

    let config = state.config();
    let url = state.webhook_url();
    let sid = new_sid("SM");
    let params = webhook_params(
        &sid,
        &request,
        &config.twilio_account_sid,
        &config.twilio_from,
    );
    let signature = signature::compute(&config.twilio_auth_token, &url, &params);

    let now = now_ms();
    state.record(SimMessage {
        sid: sid.clone(),
        direction: SimDirection::Inbound,
        from: request.from.clone(),
        to: config.twilio_from.clone(),
        num_segments: num_segments(&request.body),
        body: request.body,
        media: request.media,
        media_fetch: Vec::new(),
        status: "received".to_string(),
        error_code: None,
        status_callback: None,
        webhook_url: Some(url.clone()),
        webhook_status: None,
        webhook_error: None,
        received_at: None,
        sent_at: Some(now),
        updated_at: now,
    });

    let outcome = state
        .http()
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await;
    let response = match outcome {
        Ok(response) => response,
        Err(error) => {
            let reason = format!("switchboard unreachable at {url}: {error}");
            tracing::warn!(%sid, %reason, "phone simulator: webhook failed");
            state.update(&sid, |m| m.webhook_error = Some(reason.clone()));
            return Ok((
                StatusCode::BAD_GATEWAY,
                Json(json!({ "message_sid": sid, "error": reason })),
            ));
        }
    };
    let status = response.status().as_u16();
    let body = match response.text().await {
        Ok(text) => truncate(text, MAX_ECHOED_BYTES),
        Err(error) => format!("(answer unreadable: {error})"),
    };
    tracing::info!(%sid, %url, status, "phone simulator: webhook answered");
    state.update(&sid, |m| m.webhook_status = Some(status));
    Ok((
        StatusCode::OK,
        Json(json!({ "message_sid": sid, "status": status, "body": body })),
    ))
}

fn validate(request: &SendRequest) -> Result<(), SimError> {
    if !is_e164(&request.from) {
        return Err(SimError::new(format!(
            "`from` must be an E.164 number like +15551234567, not `{}`",
            request.from
        )));
    }
    if request.body.is_empty() && request.media.is_empty() {
        return Err(SimError::new("a message needs a `body` or `media`"));
    }
    if request.media.len() > MAX_MEDIA {
        return Err(SimError::new(format!(
            "at most {MAX_MEDIA} media per message"
        )));
    }
    if let Some(bad) = request.media.iter().find(|m| {
        !(m.url.starts_with("http://") || m.url.starts_with("https://"))
            || m.content_type.is_empty()
    }) {
        return Err(SimError::new(format!(
            "media `{}` needs an http(s) url and a content_type",
            bad.url
        )));
    }
    Ok(())
}

/// The form fields of Twilio's inbound-message webhook. Location fields
/// Twilio cannot resolve are sent empty, as Twilio does.
fn webhook_params(
    sid: &str,
    request: &SendRequest,
    account_sid: &str,
    to: &str,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("ToCountry", country_of(to).unwrap_or_default()),
        ("ToState", ""),
        ("SmsMessageSid", sid),
        ("NumMedia", &request.media.len().to_string()),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", sid),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", &request.body),
        ("FromCountry", country_of(&request.from).unwrap_or_default()),
        ("To", to),
        ("ToZip", ""),
        ("NumSegments", &num_segments(&request.body).to_string()),
        ("MessageSid", sid),
        ("AccountSid", account_sid),
        ("From", &request.from),
        ("ApiVersion", API_VERSION),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    for (i, media) in request.media.iter().enumerate() {
        params.push((format!("MediaContentType{i}"), media.content_type.clone()));
        params.push((format!("MediaUrl{i}"), media.url.clone()));
    }
    params
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_carries_twilios_fields() {
        let request = SendRequest {
            from: "+447700900123".into(),
            body: "hi".into(),
            media: vec![Media {
                url: "https://x/a.png".into(),
                content_type: "image/png".into(),
            }],
        };
        let params = webhook_params("SMabc", &request, "AC1", "+15550000000");
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("FromCountry"), Some("GB"));
        assert_eq!(get("ToCountry"), Some("US"));
        assert_eq!(get("NumMedia"), Some("1"));
        assert_eq!(get("MediaUrl0"), Some("https://x/a.png"));
        assert_eq!(get("MediaContentType0"), Some("image/png"));
        assert_eq!(get("SmsStatus"), Some("received"));
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("héllo".into(), 2), "h…");
        assert_eq!(truncate("short".into(), 10), "short");
    }
}
