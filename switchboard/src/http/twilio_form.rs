//! Extractor for a signed, form-encoded Twilio request.
//!
//! Reads the body once, decodes it strictly (bad percent-encoding or invalid
//! UTF-8 is a 400, not silently replaced), and checks `X-Twilio-Signature`
//! against the public URL the request was sent to. Handlers only ever see
//! parameters that Twilio really sent.

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

/// Strict `application/x-www-form-urlencoded` decoding: a `%` not followed by
/// two hex digits, or bytes that are not UTF-8 once decoded, is an error that
/// says where, never a lenient guess (a guess would be stored as the
/// customer's words, and checked against a signature Twilio never made).
pub fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut offset = 0;
    let mut params = Vec::new();
    for pair in body.split(|&b| b == b'&') {
        let start = offset;
        offset += pair.len() + 1;
        if pair.is_empty() {
            continue;
        }
        let (name, value, value_at) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..], start + i + 1),
            None => (pair, &[][..], start + pair.len()),
        };
        params.push((
            decode_component(name, start)?,
            decode_component(value, value_at)?,
        ));
    }
    Ok(params)
}

/// Decodes one name or value (`+` is a space, `%XY` one byte). `at` is its
/// offset in the body, for the error.
fn decode_component(part: &[u8], at: usize) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        match part[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let byte = match (part.get(i + 1), part.get(i + 2)) {
                    (Some(&high), Some(&low)) => hex_value(high)
                        .zip(hex_value(low))
                        .map(|(high, low)| high << 4 | low),
                    _ => None,
                };
                let Some(byte) = byte else {
                    let end = (i + 3).min(part.len());
                    return Err(format!(
                        "bad percent-encoding `{}` at byte {} of the body: `%` must be followed by two hex digits",
                        String::from_utf8_lossy(&part[i..end]),
                        at + i
                    ));
                };
                bytes.push(byte);
                i += 2;
            }
            other => bytes.push(other),
        }
        i += 1;
    }
    String::from_utf8(bytes)
        .map_err(|_| "the body is not valid UTF-8 once percent-decoded".to_string())
}

/// The value of one ASCII hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::decode_form;

    #[test]
    fn decodes_plus_percent_and_unicode() {
        let form =
            decode_form(b"From=%2B15551234567&Body=hi+there+%F0%9F%99%8F&Empty=&Flag").unwrap();
        assert_eq!(form[0], ("From".into(), "+15551234567".into()));
        assert_eq!(form[1], ("Body".into(), "hi there 🙏".into()));
        assert_eq!(form[2], ("Empty".into(), "".into()));
        assert_eq!(form[3], ("Flag".into(), "".into()));
    }

    #[test]
    fn rejects_bad_percent_encoding_with_a_reason() {
        for body in [
            &b"Body=%zz"[..],
            b"Body=%",
            b"Body=%4",
            b"Body=100%",
            b"Body=%4g",
            b"Body=%+1",
            b"B%y=x",
            b"From=%2B1&Body=50%25+off+100%",
        ] {
            let err = decode_form(body).expect_err(&String::from_utf8_lossy(body));
            assert!(err.contains("percent-encoding"), "{err}");
        }
        // The reason points at the offending bytes.
        let err = decode_form(b"From=%2B1&Body=100%").unwrap_err();
        assert!(err.contains("`%`") && err.contains("byte 18"), "{err}");
        let err = decode_form(b"Body=%zz1").unwrap_err();
        assert!(err.contains("`%zz`") && err.contains("byte 5"), "{err}");
        // Well-formed escapes, upper or lower case, still decode.
        assert_eq!(
            decode_form(b"Body=50%25%2a%2A").unwrap(),
            vec![("Body".into(), "50%**".into())]
        );
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert!(decode_form(b"Body=%FF%FE").is_err());
        assert!(decode_form(&[b'B', b'=', 0xff]).is_err());
    }
}
