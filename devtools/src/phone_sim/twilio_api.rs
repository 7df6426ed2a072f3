//! The simulated part of Twilio's 2010-04-01 REST API: sending a message
//! (`Messages.json`), fetching it back, and pointing the phone number's SMS
//! webhook somewhere (`IncomingPhoneNumbers/{Sid}.json`). Listing messages
//! is `message_list.rs`.
//!
//! Requests are checked the way Twilio checks them — credentials, account,
//! required fields — and refused with Twilio's error codes, so the
//! switchboard's client meets the same answers it would in production.

use super::auth::TwilioAuth;
use super::config::parse_http_url;
use super::errors::TwilioError;
use super::faults::{Fault, FinalStatus};
use super::state::{AppState, SimDirection, SimMessage};
use super::status_callbacks::{self, Delivery};
use super::twilio_format::{new_sid, now_ms, num_segments, rfc2822, API_VERSION};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::{Form, Json};
use serde_json::{json, Value};
use switchboard::phone::is_e164;
use switchboard::twilio::sid::is_sid;
use switchboard_protocol::Media;

/// Twilio's limit on a message body, in characters.
const MAX_BODY_CHARS: usize = 1600;

/// Form fields as posted; Twilio allows some (`MediaUrl`) more than once.
type Params = Vec<(String, String)>;

/// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
pub async fn create_message(
    _auth: TwilioAuth,
    State(state): State<AppState>,
    Path(account_sid): Path<String>,
    uri: Uri,
    form: Result<Form<Params>, FormRejection>,
) -> Result<(StatusCode, Json<Value>), TwilioError> {
    ensure_account(&state, &account_sid, &uri)?;
    let Form(params) = form.map_err(form_error)?;
    let request = OutboundRequest::parse(&params, &state.config().twilio_from)?;

    // Faults apply to requests Twilio would otherwise accept, so a test's
    // fault is never used up by a request that was invalid anyway.
    let (final_status, error_code, hold_response, accept_after) = match state.take_fault() {
        Some(Fault::Reject(spec)) => {
            tracing::info!(to = %request.to, code = spec.code, "phone simulator: injected error");
            return Err(spec.into());
        }
        Some(Fault::Accept {
            final_status,
            error_code,
            hold_response,
            accept_after,
        }) => (final_status, error_code, hold_response, accept_after),
        None => (FinalStatus::Delivered, None, false, None),
    };

    let message = match accept_after {
        None => accept(&state, request, final_status, error_code),
        Some(delay) => {
            // A slow Twilio: the message is created after `delay` whether or
            // not the client is still waiting (a task of its own, which the
            // client's going away does not cancel).
            tracing::info!(to = %request.to, ?delay, "phone simulator: holding the request (injected fault)");
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                accept(&state, request, final_status, error_code)
            })
            .await
            .map_err(|e| {
                TwilioError::new(StatusCode::INTERNAL_SERVER_ERROR, 20500, e.to_string())
            })?
        }
    };
    if hold_response {
        // Accepted, but the answer never comes: the client sees a timeout
        // (or is killed meanwhile) and cannot know the message exists.
        tracing::info!(sid = %message.sid, "phone simulator: holding the answer (injected fault)");
        std::future::pending::<()>().await;
    }
    Ok((
        StatusCode::CREATED,
        Json(message_resource(&message, &account_sid)),
    ))
}

/// Creates an outbound message and starts its status callbacks.
fn accept(
    state: &AppState,
    request: OutboundRequest,
    final_status: FinalStatus,
    error_code: Option<u32>,
) -> SimMessage {
    let now = now_ms();
    let message = SimMessage {
        sid: new_sid("SM"),
        direction: SimDirection::Outbound,
        from: request.from,
        to: request.to,
        num_segments: num_segments(&request.body),
        body: request.body,
        media: request.media,
        media_fetch: Vec::new(),
        status: "queued".to_string(),
        error_code: None,
        status_callback: request.status_callback,
        webhook_url: None,
        webhook_status: None,
        webhook_error: None,
        received_at: Some(now),
        sent_at: None,
        updated_at: now,
    };
    tracing::info!(sid = %message.sid, to = %message.to, "phone simulator: message accepted");
    state.record(message.clone());
    super::media_fetch::spawn(
        state.clone(),
        message.sid.clone(),
        message.media.iter().map(|m| m.url.clone()).collect(),
    );
    status_callbacks::spawn(
        state.clone(),
        Delivery {
            sid: message.sid.clone(),
            from: message.from.clone(),
            to: message.to.clone(),
            status_callback: message.status_callback.clone(),
            final_status,
            error_code,
        },
    );
    message
}

/// `GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json`
pub async fn fetch_message(
    _auth: TwilioAuth,
    State(state): State<AppState>,
    Path((account_sid, file)): Path<(String, String)>,
    uri: Uri,
) -> Result<Json<Value>, TwilioError> {
    ensure_account(&state, &account_sid, &uri)?;
    file.strip_suffix(".json")
        .and_then(|sid| state.message(sid))
        .filter(|message| message.direction == SimDirection::Outbound)
        .map(|message| Json(message_resource(&message, &account_sid)))
        .ok_or_else(|| TwilioError::not_found(uri.path()))
}

/// `POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{PhoneNumberSid}.json`
///
/// Only the SMS webhook is simulated: customer messages go to `SmsUrl` from
/// now on.
pub async fn update_incoming_number(
    _auth: TwilioAuth,
    State(state): State<AppState>,
    Path((account_sid, file)): Path<(String, String)>,
    uri: Uri,
    form: Result<Form<Params>, FormRejection>,
) -> Result<Json<Value>, TwilioError> {
    ensure_account(&state, &account_sid, &uri)?;
    let number_sid = file
        .strip_suffix(".json")
        .filter(|sid| is_sid(sid, "PN"))
        .ok_or_else(|| TwilioError::not_found(uri.path()))?;
    let Form(params) = form.map_err(form_error)?;

    let sms_method = field(&params, "SmsMethod")
        .unwrap_or("POST")
        .to_ascii_uppercase();
    if !matches!(sms_method.as_str(), "GET" | "POST") {
        return Err(TwilioError::bad_request(
            21205,
            format!("SmsMethod {sms_method} is not GET or POST"),
        ));
    }
    if sms_method == "GET" {
        tracing::warn!(
            "phone simulator: SmsMethod GET recorded, but customer messages are always POSTed"
        );
    }
    if let Some(url) = field(&params, "SmsUrl") {
        parse_http_url(url)
            .map_err(|reason| TwilioError::bad_request(21205, format!("SmsUrl: {reason}")))?;
        tracing::info!(url, "phone simulator: SMS webhook registered");
        state.set_webhook_url(url.to_string());
    }

    let now = rfc2822(now_ms());
    let config = state.config();
    Ok(Json(json!({
        "account_sid": account_sid,
        "address_requirements": "none",
        "api_version": API_VERSION,
        "beta": false,
        "capabilities": { "voice": true, "sms": true, "mms": true, "fax": false },
        "date_created": now,
        "date_updated": now,
        "friendly_name": config.twilio_from,
        "phone_number": config.twilio_from,
        "sid": number_sid,
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": sms_method,
        "sms_url": state.webhook_url(),
        "status": "in-use",
        "uri": uri.path(),
    })))
}

/// The fields of a `Messages.json` request, checked in Twilio's order.
struct OutboundRequest {
    to: String,
    from: String,
    body: String,
    media: Vec<Media>,
    status_callback: Option<String>,
}

impl OutboundRequest {
    fn parse(params: &Params, our_number: &str) -> Result<Self, TwilioError> {
        let to = field(params, "To")
            .ok_or_else(|| TwilioError::bad_request(21604, "A 'To' phone number is required."))?;
        if !is_e164(to) {
            return Err(TwilioError::bad_request(
                21211,
                format!("Invalid 'To' Phone Number: {to}"),
            ));
        }
        // A messaging service sends from the account's number.
        let from = match (field(params, "From"), field(params, "MessagingServiceSid")) {
            (Some(from), _) => from,
            (None, Some(_)) => our_number,
            (None, None) => {
                return Err(TwilioError::bad_request(
                    21603,
                    "A 'From' phone number is required.",
                ))
            }
        };
        if from != our_number {
            return Err(TwilioError::bad_request(
                21606,
                format!("The From phone number {from} is not a valid, SMS-capable inbound phone number or short code for your account."),
            ));
        }
        let media: Vec<Media> = params
            .iter()
            .filter(|(name, value)| name == "MediaUrl" && !value.is_empty())
            // Twilio learns the type when it fetches the media; we never do.
            .map(|(_, url)| Media {
                url: url.clone(),
                content_type: String::new(),
            })
            .collect();
        let body = field(params, "Body").unwrap_or_default();
        if body.is_empty() && media.is_empty() {
            return Err(TwilioError::bad_request(21602, "Message body is required."));
        }
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(TwilioError::bad_request(
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            ));
        }
        let status_callback = field(params, "StatusCallback")
            .map(|url| {
                parse_http_url(url).map_err(|reason| {
                    TwilioError::bad_request(21609, format!("Invalid StatusCallback: {reason}"))
                })
            })
            .transpose()?;
        Ok(OutboundRequest {
            to: to.to_string(),
            from: from.to_string(),
            body: body.to_string(),
            media,
            status_callback,
        })
    }
}

/// The first non-empty value of a form field (Twilio treats empty as absent).
fn field<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

pub(super) fn ensure_account(
    state: &AppState,
    account_sid: &str,
    uri: &Uri,
) -> Result<(), TwilioError> {
    if account_sid == state.config().twilio_account_sid {
        Ok(())
    } else {
        Err(TwilioError::not_found(uri.path()))
    }
}

fn form_error(rejection: FormRejection) -> TwilioError {
    let status = rejection.status();
    TwilioError::new(
        status,
        20_000 + u32::from(status.as_u16()),
        rejection.body_text(),
    )
}

/// A message as Twilio's API returns it.
pub(super) fn message_resource(message: &SimMessage, account_sid: &str) -> Value {
    let base = format!(
        "/{API_VERSION}/Accounts/{account_sid}/Messages/{}",
        message.sid
    );
    let created = super::message_list::date_created_ms(message);
    let date_sent = super::message_list::date_sent_ms(message).map(rfc2822);
    let direction = match message.direction {
        SimDirection::Inbound => "inbound",
        SimDirection::Outbound => "outbound-api",
    };
    json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(created),
        "date_sent": date_sent,
        "date_updated": rfc2822(message.updated_at),
        "direction": direction,
        "error_code": message.error_code,
        "error_message": null,
        "from": message.from,
        "messaging_service_sid": null,
        "num_media": message.media.len().to_string(),
        "num_segments": message.num_segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": { "media": format!("{base}/Media.json") },
        "to": message.to,
        "uri": format!("{base}.json"),
    })
}
