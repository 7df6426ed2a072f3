//! The server-rendered pages: askama templates from the workspace's `templates/`
//! (see `askama.toml`), HTML-escaped by default.

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// `templates/login.html`: the sign-in form, with the last error if any.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub error: Option<String>,
    /// What the agent typed, so a failed attempt does not clear it.
    pub name: String,
    /// The form's CSRF token (also in the `sb_login` cookie).
    pub csrf: String,
}

/// `templates/console.html`: the agent's console; everything live comes over `/ws`.
#[derive(Template)]
#[template(path = "console.html")]
pub struct ConsolePage {
    pub agent: String,
}

/// Renders a page with a status. Pages are per agent, so they are never cached.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not render the page",
            )
                .into_response()
        }
    }
}
