//! Twilio's inbound-message webhook.
//!
//! The message is validated, then stored; the 200 (empty TwiML) goes out only
//! after the store says it is durable — or, with a remote store that cannot
//! take it now, after it is durable in the inbound spool the store is wrapped
//! in ([`crate::jobs::inbound_spool::Spooled`]). Routing happens later, from the change
//! feed. A Twilio retry of the same `MessageSid` is answered 200 and stored
//! nothing new.
//!
//! MMS media is never linked at Twilio: each item's URL is rewritten to our
//! copy (`/files/media/…`) and a fetch job is queued durably before the 200,
//! on a retry too (the first attempt may have died between the two writes;
//! the job key makes the repeat a no-op). Plain SMS never touches the job
//! queue.

use super::twilio_form::{Rejection, TwilioForm};
use super::AppState;
use crate::clock::now_ms;
use crate::jobs::media;
use crate::phone::is_e164;
use crate::store::{Accepted, InboundMessage};
use crate::telemetry::WebhookOutcome;
use crate::twilio::sid::is_message_sid;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use switchboard_protocol::Media;
use tracing::Instrument;

/// Twilio accepts at most 10 media items per message.
const MAX_MEDIA: usize = 10;
/// Twilio's own limit for a message body.
const MAX_BODY_CHARS: usize = 1600;

pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

pub async fn receive(State(state): State<AppState>, form: TwilioForm) -> Response {
    let message = match parse(&form) {
        Ok(message) => message,
        Err(reason) => return Rejection(StatusCode::BAD_REQUEST, reason).into_response(),
    };
    // Every line about this message carries its SID and conversation; the
    // conversation and seq are what the router, hub and agent UI log.
    let span = tracing::info_span!("inbound", message_sid = %message.message_sid, conversation = %message.from);
    store_and_answer(state, message).instrument(span).await
}

/// Queues the media fetches, then stores the message (or spools it) and
/// answers: the 200 goes out only once it is durable.
async fn store_and_answer(state: AppState, mut message: InboundMessage) -> Response {
    let sid = message.message_sid.clone();
    let fetches = media::plan(&mut message);
    // The fetches are queued before the message is stored: a stored message
    // is routed at once, and its media must not depend on Twilio retrying a
    // 5xx. A fetch queued for a message that then failed to store is
    // harmless (keyed, and the retry stores the message).
    if let Err(e) = state.jobs.enqueue_all(&fetches).await {
        tracing::error!(sid, error = %e, "could not queue the media fetches");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "could not queue the media; retry",
        )
            .into_response();
    }
    match state.store.accept_inbound(message).await {
        Ok(accepted) => {
            let outcome = match accepted {
                Accepted::Stored(appended) => {
                    tracing::debug!(
                        seq = appended.seq,
                        duplicate = appended.duplicate,
                        "inbound stored"
                    );
                    if appended.duplicate {
                        WebhookOutcome::Duplicate
                    } else {
                        WebhookOutcome::Stored
                    }
                }
                Accepted::Spooled => {
                    tracing::debug!("inbound spooled until the store is back");
                    WebhookOutcome::Spooled
                }
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/xml")],
                Extension(outcome),
                EMPTY_TWIML,
            )
                .into_response()
        }
        Err(e) => {
            // Not acknowledged, so not ours to lose: Twilio retries a 5xx
            // when the webhook URL has a retry policy, else reports it.
            tracing::error!(sid, error = %e, "could not store an inbound message");
            crate::telemetry::store_error("accept_inbound");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the message; retry",
            )
                .into_response()
        }
    }
}

fn parse(form: &TwilioForm) -> Result<InboundMessage, String> {
    let message_sid = required(form, "MessageSid")?;
    if !is_message_sid(message_sid) {
        return Err(format!(
            "MessageSid `{message_sid}` is not a Twilio message SID (SM/MM + 32 hex digits)"
        ));
    }
    let from = required(form, "From")?;
    if !is_e164(from) {
        return Err(format!(
            "From `{from}` is not an E.164 number like +15551234567"
        ));
    }
    let to = required(form, "To")?;
    if !is_e164(to) {
        return Err(format!(
            "To `{to}` is not an E.164 number like +15551234567"
        ));
    }
    let body = form.get("Body").unwrap_or("");
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(format!("Body is longer than {MAX_BODY_CHARS} characters"));
    }
    let media = media(form)?;
    if body.is_empty() && media.is_empty() {
        return Err("a message needs a Body or media".into());
    }
    Ok(InboundMessage {
        message_sid: message_sid.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        body: body.to_string(),
        country: form
            .get("FromCountry")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        media,
        at_ms: now_ms(),
    })
}

fn required<'a>(form: &'a TwilioForm, name: &str) -> Result<&'a str, String> {
    match form.get(name) {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(format!("missing required field {name}")),
    }
}

fn media(form: &TwilioForm) -> Result<Vec<Media>, String> {
    let count = match form.get("NumMedia") {
        None | Some("") => 0,
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| format!("NumMedia `{n}` is not a number"))?,
    };
    if count > MAX_MEDIA {
        return Err(format!(
            "NumMedia {count} is more than Twilio's {MAX_MEDIA}"
        ));
    }
    (0..count)
        .map(|i| {
            let url = required(form, &format!("MediaUrl{i}"))?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("MediaUrl{i} is not an http(s) URL"));
            }
            let content_type = form
                .get(&format!("MediaContentType{i}"))
                .unwrap_or("application/octet-stream");
            Ok(Media {
                url: url.to_string(),
                content_type: content_type.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> TwilioForm {
        TwilioForm(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const SID: &str = "SM0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_a_plain_message_and_media() {
        let m = parse(&form(&[
            ("MessageSid", SID),
            ("From", "+15550001111"),
            ("To", "+15550002222"),
            ("Body", "hello"),
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/media/1"),
            ("MediaContentType0", "image/png"),
            ("FromCountry", "US"),
        ]))
        .unwrap();
        assert_eq!(m.media.len(), 1);
        assert_eq!(m.country.as_deref(), Some("US"));
    }

    #[test]
    fn explains_what_is_wrong() {
        let err = parse(&form(&[("From", "+15550001111")])).unwrap_err();
        assert!(err.contains("MessageSid"), "{err}");
        let err = parse(&form(&[
            ("MessageSid", SID),
            ("From", "5550001111"),
            ("To", "+15550002222"),
            ("Body", "x"),
        ]))
        .unwrap_err();
        assert!(err.contains("E.164"), "{err}");
        let err = parse(&form(&[
            ("MessageSid", SID),
            ("From", "+15550001111"),
            ("To", "+15550002222"),
            ("Body", "x"),
            ("NumMedia", "2"),
            ("MediaUrl0", "https://x"),
        ]))
        .unwrap_err();
        assert!(err.contains("MediaUrl1"), "{err}");
        let err = parse(&form(&[
            ("MessageSid", "SMxyz"),
            ("From", "+15550001111"),
            ("To", "+15550002222"),
            ("Body", "x"),
        ]))
        .unwrap_err();
        assert!(err.contains("SID"), "{err}");
    }
}
