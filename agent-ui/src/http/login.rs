//! Sign-in and sign-out, and the sign-in page that says why a session ended.
//!
//! Credentials are checked by the switchboard itself: sign-in opens the agent's
//! upstream WebSocket with them (401 there means a wrong password), and that socket
//! becomes the agent's session, so the agent UI keeps no password list of its own.
//!
//! The form is guarded against login CSRF (another site signing the browser in as
//! someone else): a sign-in whose `Origin` is another site is refused, and every
//! sign-in must carry the random token its form was rendered with, which is also in
//! the `SameSite=Strict` `sb_login` cookie (double submit: a foreign page can
//! neither read the token nor send the cookie). Failed sign-ins are limited per
//! agent name and per client address; over the limit the answer is 429 with
//! `Retry-After`, before the switchboard is asked.

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use rand::RngCore;
use serde::Deserialize;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

use super::browser_ws::same_origin;
use super::session::{CurrentSession, NotSignedIn};
use super::{AppState, AGENT_COOKIE, LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use crate::pages::{self, LoginPage};
use crate::session_cookie::Opened;
use switchboard_cloud::guard::Refused;
use switchboard_protocol::client::{self, ConnectError, Credentials};

/// Agent names are short identifiers on the switchboard; this only bounds garbage.
const MAX_NAME_CHARS: usize = 64;
const MAX_PASSWORD_CHARS: usize = 256;
/// Bytes of randomness in a form's CSRF token.
const CSRF_BYTES: usize = 32;

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    /// The token the form was rendered with.
    #[serde(default)]
    csrf: String,
}

/// `GET /login`: the form; with a cookie that no longer signs in, why (and the
/// cookie is removed).
pub async fn form(jar: CookieJar, session: Result<CurrentSession, NotSignedIn>) -> Response {
    match session {
        Ok(_) => Redirect::to("/").into_response(),
        Err(NotSignedIn(None)) => page(jar, StatusCode::OK, None, ""),
        Err(NotSignedIn(Some(why))) => {
            let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
            page(jar, StatusCode::OK, Some(why.explain()), "")
        }
    }
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) || !token_matches(&jar, &form.csrf) {
        tracing::info!("sign-in refused: cross-site, or the form's token is missing or stale");
        return page(
            jar,
            StatusCode::FORBIDDEN,
            Some("this sign-in form expired; please try again"),
            "",
        );
    }
    let client = state.proxies.client(peer.ip(), &headers);
    let name = form.name.trim();
    if name.is_empty() || form.password.is_empty() {
        return page(
            jar,
            StatusCode::BAD_REQUEST,
            Some("enter your name and password"),
            name,
        );
    }
    if let Err(refused) = state.throttle.check(name, client.addr) {
        return too_many(jar, refused, name);
    }
    // A colon cannot travel in Basic auth's user part; such a name cannot exist.
    let plausible = name.chars().count() <= MAX_NAME_CHARS
        && form.password.chars().count() <= MAX_PASSWORD_CHARS
        && !name.contains(':')
        && !name
            .chars()
            .chain(form.password.chars())
            .any(char::is_control);
    let credentials = Credentials {
        url: state.registry.switchboard_url().to_string(),
        name: name.to_string(),
        password: form.password.clone(),
    };
    let outcome = if plausible {
        client::connect_for_client(&credentials, client.addr).await
    } else {
        Err(ConnectError::Unauthorized)
    };
    let probe = match outcome {
        Ok(socket) => socket,
        Err(ConnectError::Unauthorized) => {
            tracing::info!(agent = name, client = %client.addr, "sign-in refused: wrong name or password");
            if let Err(refused) = state.throttle.failed(name, client.addr) {
                return too_many(jar, refused, name);
            }
            let name = if plausible { name } else { "" };
            return page(
                jar,
                StatusCode::UNAUTHORIZED,
                Some("wrong name or password"),
                name,
            );
        }
        Err(ConnectError::Refused(429)) => {
            // The switchboard's own limit (e.g. many agent UIs' failures).
            let refused = Refused {
                retry_after: std::time::Duration::from_secs(60),
            };
            return too_many(jar, refused, name);
        }
        Err(e) => {
            tracing::warn!(agent = name, error = %e, "sign-in failed: switchboard not reachable");
            return page(
                jar,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("the switchboard is unreachable"),
                name,
            );
        }
    };
    // A browser signing in again leaves its previous session behind.
    if let Opened::Claims(old) = state.cookie_key.open(&headers) {
        state.registry.sign_out(&old.sid).await;
    }
    let claims = state.registry.sign_in(name, &form.password, probe);
    let session = state.cookie_key.seal(&claims, client.https);
    // The agent's name in clear, for the proxy's instance affinity only.
    let affinity = Cookie::build((AGENT_COOKIE, cookie_safe(&claims.agent)))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(client.https);
    let jar = jar
        .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/login"))
        .add(affinity);
    (jar, session, Redirect::to("/")).into_response()
}

/// `POST /logout`.
pub async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    if let Opened::Claims(claims) = state.cookie_key.open(&headers) {
        state.registry.sign_out(&claims.sid).await;
    }
    let jar = jar
        .remove(Cookie::build(SESSION_COOKIE).path("/"))
        .remove(Cookie::build(AGENT_COOKIE).path("/"));
    (jar, Redirect::to("/login")).into_response()
}

/// `name` with every byte outside `[A-Za-z0-9._-]` percent-encoded, so any
/// agent name is a valid cookie value (the proxy only hashes it).
fn cookie_safe(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether the form's token is the one in the browser's `sb_login` cookie.
fn token_matches(jar: &CookieJar, token: &str) -> bool {
    match jar.get(LOGIN_CSRF_COOKIE) {
        Some(cookie) if !token.is_empty() => {
            cookie.value().as_bytes().ct_eq(token.as_bytes()).into()
        }
        _ => false,
    }
}

fn too_many(jar: CookieJar, refused: Refused, name: &str) -> Response {
    tracing::info!(agent = name, "sign-in refused: too many failed attempts");
    let mut response = page(
        jar,
        StatusCode::TOO_MANY_REQUESTS,
        Some("too many failed sign-ins; try again in a minute"),
        name,
    );
    if let Ok(value) = refused.retry_after_secs().to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The sign-in page with a fresh CSRF token (in the form and the cookie).
fn page(jar: CookieJar, status: StatusCode, error: Option<&str>, name: &str) -> Response {
    let csrf = new_token();
    let cookie = Cookie::build((LOGIN_CSRF_COOKIE, csrf.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/login");
    let page = pages::render(
        status,
        &LoginPage {
            error: error.map(str::to_string),
            name: name.to_string(),
            csrf,
        },
    );
    (jar.add(cookie), page).into_response()
}

fn new_token() -> String {
    let mut bytes = [0u8; CSRF_BYTES];
    // ThreadRng is a CSPRNG seeded from the OS.
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::cookie_safe;

    #[test]
    fn affinity_cookie_values_are_always_valid() {
        assert_eq!(cookie_safe("alice"), "alice");
        assert_eq!(cookie_safe("a b;c,d\"é"), "a%20b%3Bc%2Cd%22%C3%A9");
    }
}
