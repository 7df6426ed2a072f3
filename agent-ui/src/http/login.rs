//! Sign-in and sign-out.
//!
//! Credentials are checked by the switchboard itself: sign-in opens the agent's
//! upstream WebSocket with them (401 there means a wrong password), and that socket
//! becomes the agent's session, so the agent UI keeps no password list of its own.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::session::{CurrentSession, NotSignedIn};
use super::{AppState, SESSION_COOKIE};
use crate::pages::{self, LoginPage};
use switchboard_protocol::client::{self, ConnectError, Credentials};

/// Agent names are short identifiers on the switchboard; this only bounds garbage.
const MAX_NAME_CHARS: usize = 64;
const MAX_PASSWORD_CHARS: usize = 256;

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// `GET /login`.
pub async fn form(session: Result<CurrentSession, NotSignedIn>) -> Response {
    if session.is_ok() {
        return Redirect::to("/").into_response();
    }
    page(StatusCode::OK, None, "")
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let name = form.name.trim();
    if name.is_empty() || form.password.is_empty() {
        return page(
            StatusCode::BAD_REQUEST,
            Some("enter your name and password"),
            name,
        );
    }
    // A colon cannot travel in Basic auth's user part; such a name cannot exist.
    let plausible = name.chars().count() <= MAX_NAME_CHARS
        && form.password.chars().count() <= MAX_PASSWORD_CHARS
        && !name.contains(':')
        && !name
            .chars()
            .chain(form.password.chars())
            .any(char::is_control);
    if !plausible {
        return page(StatusCode::UNAUTHORIZED, Some("wrong name or password"), "");
    }
    let credentials = Credentials {
        url: state.registry.switchboard_url().to_string(),
        name: name.to_string(),
        password: form.password.clone(),
    };
    let probe = match client::connect(&credentials).await {
        Ok(socket) => socket,
        Err(ConnectError::Unauthorized) => {
            tracing::info!(agent = name, "sign-in refused: wrong name or password");
            return page(
                StatusCode::UNAUTHORIZED,
                Some("wrong name or password"),
                name,
            );
        }
        Err(e) => {
            tracing::warn!(agent = name, error = %e, "sign-in failed: switchboard not reachable");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some("the switchboard is unreachable"),
                name,
            );
        }
    };
    // A browser signing in again leaves its previous session behind.
    if let Some(old) = jar.get(SESSION_COOKIE) {
        state.registry.sign_out(old.value()).await;
    }
    let session_id = state.registry.sign_in(name, &form.password, probe);
    let cookie = Cookie::build((SESSION_COOKIE, session_id))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        // Behind a TLS-terminating proxy the cookie must not travel over plain HTTP;
        // on a plain-HTTP local run it must be allowed to.
        .secure(forwarded_https(&headers));
    (jar.add(cookie), Redirect::to("/")).into_response()
}

/// `POST /logout`.
pub async fn sign_out(State(state): State<AppState>, jar: CookieJar) -> Response {
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        state.registry.sign_out(cookie.value()).await;
    }
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    (jar, Redirect::to("/login")).into_response()
}

fn page(status: StatusCode, error: Option<&str>, name: &str) -> Response {
    pages::render(
        status,
        &LoginPage {
            error: error.map(str::to_string),
            name: name.to_string(),
        },
    )
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}
