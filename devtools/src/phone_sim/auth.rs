//! HTTP Basic authentication of the simulated REST API, as an extractor:
//! a handler that takes [`TwilioAuth`] only runs for the configured
//! account SID and auth token, everyone else gets Twilio's 20003 answer.

use super::errors::TwilioError;
use super::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

/// Proof that the request carried the account's credentials.
#[derive(Debug, Clone, Copy)]
pub struct TwilioAuth;

impl FromRequestParts<AppState> for TwilioAuth {
    type Rejection = TwilioError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, TwilioError> {
        let (user, password) = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(basic_credentials)
            .ok_or_else(TwilioError::authenticate)?;
        let config = state.config();
        // Evaluate both comparisons so timing does not tell which one failed.
        let user_ok = constant_time_eq(user.as_bytes(), config.twilio_account_sid.as_bytes());
        let password_ok =
            constant_time_eq(password.as_bytes(), config.twilio_auth_token.as_bytes());
        if user_ok & password_ok {
            Ok(TwilioAuth)
        } else {
            Err(TwilioError::authenticate())
        }
    }
}

/// `(user, password)` of an `Authorization: Basic …` header value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        let header = format!("Basic {}", BASE64.encode("AC1:tok:en"));
        assert_eq!(
            basic_credentials(&header),
            Some(("AC1".into(), "tok:en".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(
            basic_credentials(&format!("basic {}", BASE64.encode("nocolon"))),
            None
        );
    }
}
