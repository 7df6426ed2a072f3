//! Pictures the switchboard sends (`MediaUrl`), fetched as Twilio fetches
//! them: once the message is accepted, each URL is fetched without any
//! credentials (a signed link must work on its own), and the result is
//! kept — the customer's page shows the picture from the simulator's own
//! `/sim/media/{sid}/{index}`, and `/sim/messages` lists, per picture, what
//! the fetch answered (`media_fetch`), so tests see what Twilio would have
//! got.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::state::AppState;

/// Twilio takes at most 5 MB of media per message.
const MAX_BYTES: usize = 5 * 1024 * 1024;

/// What fetching one `MediaUrl` gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedMedia {
    /// The URL's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there is no picture (no answer, not 200, too large).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer's `Content-Type`.
    #[serde(default)]
    pub content_type: String,
    /// How many bytes came.
    #[serde(default)]
    pub bytes: u64,
    /// Where the simulator serves its copy (only when fetched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_url: Option<String>,
}

/// Fetches each of `urls` of the message `sid` in the background and
/// records the outcome on the message.
pub fn spawn(state: AppState, sid: String, urls: Vec<String>) {
    if urls.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut outcomes = Vec::with_capacity(urls.len());
        for (index, url) in urls.iter().enumerate() {
            let outcome = fetch(&state, url).await;
            let fetched = match outcome {
                Ok((content_type, bytes)) => {
                    let local_url = format!("/sim/media/{sid}/{index}");
                    let size = bytes.len() as u64;
                    state.keep_media(&sid, index, content_type.clone(), bytes);
                    FetchedMedia {
                        status: Some(200),
                        error: None,
                        content_type,
                        bytes: size,
                        local_url: Some(local_url),
                    }
                }
                Err((status, error)) => FetchedMedia {
                    status,
                    error: Some(error),
                    content_type: String::new(),
                    bytes: 0,
                    local_url: None,
                },
            };
            tracing::info!(sid, url, ?fetched.status, bytes = fetched.bytes, "phone simulator: fetched a MediaUrl");
            outcomes.push(fetched);
        }
        state.update(&sid, |message| message.media_fetch = outcomes);
    });
}

async fn fetch(state: &AppState, url: &str) -> Result<(String, Bytes), (Option<u16>, String)> {
    let answer = state
        .http()
        .get(url)
        .send()
        .await
        .map_err(|e| (None, e.to_string()))?;
    let status = answer.status().as_u16();
    if status != 200 {
        return Err((Some(status), format!("the MediaUrl answered {status}")));
    }
    let content_type = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| (Some(status), e.to_string()))?;
    if bytes.len() > MAX_BYTES {
        return Err((Some(status), format!("{} bytes: over 5 MB", bytes.len())));
    }
    Ok((content_type, bytes))
}

/// `GET /sim/media/{sid}/{index}`: the simulator's copy of a fetched picture.
pub async fn serve(
    State(state): State<AppState>,
    Path((sid, index)): Path<(String, usize)>,
) -> Response {
    match state.media(&sid, index) {
        Some((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such picture").into_response(),
    }
}
