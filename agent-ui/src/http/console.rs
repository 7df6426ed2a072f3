//! `GET /`: the console page for a signed-in agent; everyone else is sent to sign in.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::session::{CurrentSession, NotSignedIn};
use crate::pages::{self, ConsolePage};

pub async fn page(session: Result<CurrentSession, NotSignedIn>) -> Response {
    match session {
        Ok(CurrentSession(session)) => pages::render(
            StatusCode::OK,
            &ConsolePage {
                agent: session.agent,
            },
        ),
        Err(NotSignedIn(_)) => Redirect::to("/login").into_response(),
    }
}
