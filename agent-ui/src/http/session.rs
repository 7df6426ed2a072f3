//! The session cookie as an extractor, and the middleware that keeps an active
//! session's cookie fresh.
//!
//! Handlers that take [`CurrentSession`] only run for signed-in agents; the others
//! get `401` (or, through `Result<CurrentSession, NotSignedIn>`, decide themselves,
//! e.g. redirect, or explain on the sign-in page why the session ended).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::session_cookie::{unix_now, Claims, Opened, SESSION_COOKIE};
use crate::sessions::{SignedIn, SignedOutWhy};

/// The cookie is re-issued at most this often (and at least twice per idle
/// period), so an agent at work never reaches `SESSION_IDLE_SECS`.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// A request made with a valid session cookie.
pub struct CurrentSession(pub SignedIn);

/// No valid session; `Some` says why a cookie that was sent no longer works.
#[derive(Debug)]
pub struct NotSignedIn(pub Option<SignedOutWhy>);

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        (StatusCode::UNAUTHORIZED, "sign in first").into_response()
    }
}

/// The session of a request's cookie, if any.
fn current(parts: &Parts, state: &AppState) -> Result<(Claims, SignedIn), NotSignedIn> {
    match state.cookie_key.open(&parts.headers) {
        Opened::Missing => Err(NotSignedIn(None)),
        Opened::Unreadable => Err(NotSignedIn(Some(SignedOutWhy::Unreadable {
            ephemeral_key: state.cookie_key.ephemeral,
        }))),
        Opened::Claims(claims) => match state.registry.session(&claims) {
            Ok(signed_in) => Ok((claims, signed_in)),
            Err(why) => Err(NotSignedIn(Some(why))),
        },
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        current(parts, state).map(|(_, signed_in)| CurrentSession(signed_in))
    }
}

/// Middleware: a request with a valid session cookie whose `seen` time is getting
/// old gets the cookie back with `seen` = now (unless the handler set or removed
/// the cookie itself, as sign-in and sign-out do). The browser socket's upgrade
/// answer carries it too, so a tab that reconnects also renews its session.
pub async fn refresh(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let renew = match current(&parts, &state) {
        Ok((claims, _)) => {
            let every = REFRESH_AT_MOST_EVERY.min(state.registry.idle_expiry() / 2);
            let age = Duration::from_secs(unix_now().saturating_sub(claims.seen));
            (age >= every).then_some(claims)
        }
        Err(_) => None,
    };
    let https = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| state.proxies.client(peer.ip(), &parts.headers).https);
    let response = next.run(Request::from_parts(parts, body)).await;
    let (Some(mut claims), Some(https)) = (renew, https) else {
        return response;
    };
    let handler_set_it = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with(&format!("{SESSION_COOKIE}=")));
    if handler_set_it {
        return response;
    }
    claims.seen = unix_now();
    (state.cookie_key.seal(&claims, https), response).into_response()
}
