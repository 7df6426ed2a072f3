//! The customer's page (`GET /`): one self-contained HTML file with plain
//! JS, compiled into the binary so the simulator needs no asset directory.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const PAGE: &str = include_str!("page.html");

/// `GET /`
pub async fn index() -> impl IntoResponse {
    (
        // The page only talks to its own origin; this keeps it that way.
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data: http: https:",
        )],
        Html(PAGE),
    )
}
