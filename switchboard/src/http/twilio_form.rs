//! Extractor for a signed, form-encoded Twilio request.
//!
//! Reads the body once, decodes it strictly (bad percent-encoding or invalid
//! UTF-8 is a 400, not silently replaced), and checks `X-Twilio-Signature`
//! against the public URL the request was sent to. Handlers only ever see
//! parameters that Twilio really sent.

use super::form_decode::decode_form;
use super::AppState;
use crate::twilio::signature;
use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The decoded parameters of a request whose signature checked out.
pub struct TwilioForm(pub Vec<(String, String)>);

impl TwilioForm {
    /// First value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a webhook was refused; the text tells the sender what to fix.
pub struct Rejection(pub StatusCode, pub String);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        tracing::warn!(status = self.0.as_u16(), reason = %self.1, "webhook refused");
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1,
        )
            .into_response()
    }
}

impl FromRequest<AppState> for TwilioForm {
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(Rejection(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: application/x-www-form-urlencoded".into(),
            ));
        }
        let signature = req
            .headers()
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let path_and_query = req
            .extensions()
            .get::<OriginalUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| req.uri().clone())
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("body larger than {} bytes", state.config.max_webhook_bytes)
            } else {
                format!("could not read the body: {e}")
            };
            Rejection(status, reason)
        })?;
        let params =
            decode_form(&body).map_err(|reason| Rejection(StatusCode::BAD_REQUEST, reason))?;

        if state.config.insecure_skip_twilio_signature {
            return Ok(TwilioForm(params));
        }
        let Some(signature) = signature else {
            return Err(Rejection(
                StatusCode::FORBIDDEN,
                "missing X-Twilio-Signature".into(),
            ));
        };
        let url = state.config.public_url_of(&path_and_query);
        // During a token rotation Twilio may sign with either token.
        let signed = state
            .config
            .webhook_tokens()
            .any(|token| signature::is_valid(token, &url, &params, &signature));
        if !signed {
            return Err(Rejection(
                StatusCode::FORBIDDEN,
                format!(
                    "X-Twilio-Signature does not match {url} (is PUBLIC_URL the URL Twilio calls?)"
                ),
            ));
        }
        Ok(TwilioForm(params))
    }
}
