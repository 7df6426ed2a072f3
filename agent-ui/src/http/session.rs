//! The `sb_session` cookie as an extractor: handlers that take [`CurrentSession`] only
//! run for signed-in agents; the others get `401` (or, through
//! `Result<CurrentSession, NotSignedIn>`, decide themselves, e.g. redirect).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use super::{AppState, SESSION_COOKIE};
use crate::sessions::SignedIn;

/// A request made with a valid session cookie.
pub struct CurrentSession(pub SignedIn);

/// No cookie, or one that names no live session.
#[derive(Debug)]
pub struct NotSignedIn;

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        (StatusCode::UNAUTHORIZED, "sign in first").into_response()
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let id = jar.get(SESSION_COOKIE).ok_or(NotSignedIn)?;
        state
            .registry
            .session(id.value())
            .map(CurrentSession)
            .ok_or(NotSignedIn)
    }
}
