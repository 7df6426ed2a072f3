//! The `sb_session` cookie: a signed-in session carried by the browser itself,
//! so it survives an agent-UI restart and works on every agent-UI instance
//! that shares the `SESSION_SECRET`.
//!
//! The cookie is *private* in the `cookie` crate's sense: its value is the
//! session's [`Claims`] as JSON, encrypted and authenticated with AES-256-GCM
//! under a key derived (HKDF) from `SESSION_SECRET`. A browser can neither
//! read nor alter it; a cookie made under another secret, or edited, opens
//! nothing. The claims carry the agent's password because any instance must
//! be able to open the agent's upstream socket to the switchboard, which
//! checks agents by password (see SECURITY.md for what that means for the
//! secret). `seen` is the session's last activity: the cookie is re-issued as
//! the agent keeps using it (see `http::session::refresh`), and an instance
//! refuses one idle for longer than `SESSION_IDLE_SECS`.
//!
//! Without `SESSION_SECRET` (local demo mode) a random key is made per
//! process: sessions then end when the process restarts, and the sign-in page
//! says so.

use std::fmt;

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar, SameSite};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sb_session";
/// Name of the cookie that names the signed-in agent, in clear, for a proxy's
/// instance affinity (`hash $cookie_sb_agent` in `deploy/nginx.conf`): every
/// browser of one agent lands on the same agent-UI instance, so one agent has
/// one upstream socket and one instance's read marks (two instances serving
/// one agent also work: each has its own connection). It grants nothing.
pub const AGENT_COOKIE: &str = "sb_agent";
/// Fewest bytes a `SESSION_SECRET` may have (the key derivation's minimum).
pub const MIN_SECRET_BYTES: usize = 32;

/// `SESSION_SECRET`: the master secret of the session cookies. Every agent-UI
/// instance of one deployment must have the same one.
#[derive(Clone)]
pub struct SessionSecret(String);

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(…)")
    }
}

/// Parses `SESSION_SECRET` (clap value parser): at least 32 bytes, so the key
/// derivation has enough input (e.g. `openssl rand -hex 32`).
pub fn parse_session_secret(text: &str) -> Result<SessionSecret, String> {
    if text.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "SESSION_SECRET must be at least {MIN_SECRET_BYTES} characters (e.g. the output of `openssl rand -hex 32`)"
        ));
    }
    Ok(SessionSecret(text.to_string()))
}

/// The key that seals and opens session cookies.
#[derive(Clone)]
pub struct CookieKey {
    key: Key,
    /// True when made up at start (no `SESSION_SECRET`): cookies die with the process.
    pub ephemeral: bool,
}

impl CookieKey {
    /// The key of `SESSION_SECRET`, or a random one (with a warning) without it.
    pub fn new(secret: Option<&SessionSecret>) -> CookieKey {
        match secret {
            Some(SessionSecret(secret)) => CookieKey {
                // At least 32 bytes, checked by `parse_session_secret`.
                key: Key::derive_from(secret.as_bytes()),
                ephemeral: false,
            },
            None => {
                tracing::warn!(
                    "SESSION_SECRET is not set: using a random key for this process only; \
                     every agent is signed out when it restarts, and other agent-UI \
                     instances do not accept its sessions (set SESSION_SECRET in production)"
                );
                CookieKey {
                    key: Key::generate(),
                    ephemeral: true,
                }
            }
        }
    }

    /// The `Set-Cookie` jar carrying `claims`, sealed with this key.
    pub fn seal(&self, claims: &Claims, https: bool) -> PrivateCookieJar {
        // Serialising a struct of strings and numbers cannot fail.
        let value = serde_json::to_string(claims).unwrap_or_default();
        let cookie = Cookie::build((SESSION_COOKIE, value))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            // Behind a TLS-terminating proxy (a `TRUSTED_PROXIES` one saying
            // `X-Forwarded-Proto: https`) the cookie must not travel over plain
            // HTTP; on a plain-HTTP local run it must be allowed to.
            .secure(https);
        PrivateCookieJar::new(self.key.clone()).add(cookie)
    }

    /// What the request's session cookie says.
    pub fn open(&self, headers: &HeaderMap) -> Opened {
        if CookieJar::from_headers(headers)
            .get(SESSION_COOKIE)
            .is_none()
        {
            return Opened::Missing;
        }
        let opened = PrivateCookieJar::from_headers(headers, self.key.clone())
            .get(SESSION_COOKIE)
            .and_then(|cookie| serde_json::from_str::<Claims>(cookie.value()).ok());
        match opened {
            Some(claims) => Opened::Claims(claims),
            None => Opened::Unreadable,
        }
    }
}

/// What a session cookie holds.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// A random id of this session: what sign-out revokes and logs name.
    pub sid: String,
    /// The agent's name on the switchboard.
    pub agent: String,
    /// The agent's password, for the upstream socket (the cookie is encrypted).
    pub password: String,
    /// Last activity, in Unix seconds.
    pub seen: u64,
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("sid", &self.sid)
            .field("agent", &self.agent)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// A request's session cookie, read.
#[derive(Debug)]
pub enum Opened {
    /// No `sb_session` cookie.
    Missing,
    /// A cookie this key did not seal (another secret, a restart without one, forged).
    Unreadable,
    /// A genuine cookie; whether it is still valid is the registry's call.
    Claims(Claims),
}

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    fn secret(s: &str) -> SessionSecret {
        parse_session_secret(s).expect("valid secret")
    }

    fn claims() -> Claims {
        Claims {
            sid: "s1".into(),
            agent: "alice".into(),
            password: "alice-pw".into(),
            seen: 1_700_000_000,
        }
    }

    /// The `Cookie:` header a browser would send back after `jar`'s `Set-Cookie`.
    fn request_headers(jar: PrivateCookieJar) -> HeaderMap {
        let response = (jar, ()).into_response();
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        let pair = set_cookie.split(';').next().unwrap().to_string();
        let mut headers = HeaderMap::new();
        headers.insert("cookie", pair.parse().unwrap());
        headers
    }

    #[test]
    fn a_sealed_cookie_opens_under_the_same_secret_on_any_instance() {
        let one = CookieKey::new(Some(&secret(&"k".repeat(40))));
        let two = CookieKey::new(Some(&secret(&"k".repeat(40))));
        let headers = request_headers(one.seal(&claims(), false));
        let value = headers["cookie"].to_str().unwrap();
        assert!(
            !value.contains("alice"),
            "the claims are encrypted: {value}"
        );
        match two.open(&headers) {
            Opened::Claims(c) => assert_eq!(c, claims()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_secret_or_an_edited_cookie_opens_nothing() {
        let one = CookieKey::new(Some(&secret(&"k".repeat(40))));
        let other = CookieKey::new(Some(&secret(&"x".repeat(40))));
        let headers = request_headers(one.seal(&claims(), false));
        assert!(matches!(other.open(&headers), Opened::Unreadable));

        let value = headers["cookie"].to_str().unwrap();
        let mut edited = value.as_bytes().to_vec();
        let last = edited.len() - 2;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            String::from_utf8(edited).unwrap().parse().unwrap(),
        );
        assert!(matches!(one.open(&headers), Opened::Unreadable));
        assert!(matches!(one.open(&HeaderMap::new()), Opened::Missing));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(parse_session_secret("short").is_err());
        assert!(parse_session_secret(&"a".repeat(32)).is_ok());
        assert_eq!(format!("{:?}", secret(&"s".repeat(32))), "SessionSecret(…)");
        assert!(!format!("{:?}", claims()).contains("alice-pw"));
    }
}
