//! `GET /history/…`: the switchboard's history and search for the console,
//! asked with the signed-in agent's own credentials.
//!
//! The page calls `/history/search`, `/history/resolved`,
//! `/history/customer/{number}`, `/history/messages/{number}` and (a
//! supervisor's plots) `/history/stats` here; this
//! forwards each, with its query string, to the same path under the
//! switchboard's `/v1/history/` (next to its agent socket, `SWITCHBOARD_URL`
//! with `ws`→`http`), and hands back the status and JSON as they came. The
//! switchboard decides everything (what matches, pages, who may read); the
//! agent UI keeps no copy.

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::session::{CurrentSession, NotSignedIn};
use super::AppState;

/// A history read that takes longer is answered 504 (on DynamoDB a search
/// scans the messages table: seconds on a big one).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the switchboard's history API is, and the client that calls it.
#[derive(Clone)]
pub struct HistoryUpstream {
    client: reqwest::Client,
    /// `http(s)://host[:port]/…/v1/history`, no trailing slash.
    base: String,
}

impl HistoryUpstream {
    /// From the switchboard's agent socket URL (`ws://host/v1/agent`).
    pub fn from_ws_url(ws_url: &str) -> Result<HistoryUpstream, String> {
        let base = switchboard_protocol::client::history_base(ws_url)?;
        reqwest::Url::parse(&base).map_err(|e| format!("{ws_url}: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(UPSTREAM_TIMEOUT)
            .build()
            .map_err(|e| format!("an HTTP client: {e}"))?;
        Ok(HistoryUpstream { client, base })
    }

    /// The switchboard's picture upload for `conversation`
    /// (`…/v1/media/{conversation}`, beside the history API).
    pub(super) fn media_upload_url(&self, conversation: &str) -> Result<reqwest::Url, String> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| e.to_string())?;
        let prefix = url.path().trim_end_matches("/history").to_string();
        url.set_path(&prefix);
        url.path_segments_mut()
            .map_err(|()| "not a base URL".to_string())?
            .push("media")
            .push(conversation);
        Ok(url)
    }

    /// The client the switchboard's agent APIs are called with.
    pub(super) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The switchboard URL for the page's `/history/{rest}?{query}`.
    fn url(&self, rest: &str, query: Option<&str>) -> String {
        match query {
            Some(q) if !q.is_empty() => format!("{}/{rest}?{q}", self.base),
            _ => format!("{}/{rest}", self.base),
        }
    }
}

/// Only these are forwarded: the page cannot reach anything else upstream.
fn allowed(rest: &str) -> bool {
    let mut parts = rest.splitn(2, '/');
    match (parts.next(), parts.next()) {
        (Some("search" | "resolved" | "stats"), None) => true,
        (Some("customer" | "messages"), Some(number)) => {
            !number.is_empty()
                && number.len() <= 32
                && number
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c))
        }
        _ => false,
    }
}

pub async fn forward(
    State(state): State<AppState>,
    session: Result<CurrentSession, NotSignedIn>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let session = match session {
        Ok(CurrentSession(session)) => session,
        Err(not_signed_in) => return not_signed_in.into_response(),
    };
    if !allowed(&rest) {
        return (StatusCode::NOT_FOUND, "no such history listing").into_response();
    }
    let upstream = &state.history;
    let sent = upstream
        .client
        .get(upstream.url(&rest, query.as_deref()))
        .basic_auth(&session.agent, Some(session.password()))
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "the switchboard's history did not answer");
            let status = if e.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            return (status, "the switchboard cannot be reached").into_response();
        }
    };
    match relay(answer).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, "the switchboard's history answer broke off");
            (
                StatusCode::BAD_GATEWAY,
                "the switchboard's answer broke off",
            )
                .into_response()
        }
    }
}

/// The switchboard's answer as it came — its status, its body as JSON or
/// plain text — never cached; `Err` when the body broke off. Shared by the
/// history proxy and the picture upload.
pub(super) async fn relay(answer: reqwest::Response) -> Result<Response, reqwest::Error> {
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let json = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let body = answer.bytes().await?;
    let kind = if json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok((
        status,
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_api_sits_beside_the_agent_socket() {
        let up = HistoryUpstream::from_ws_url("ws://localhost:3000/v1/agent").unwrap();
        assert_eq!(
            up.url("search", Some("q=refund")),
            "http://localhost:3000/v1/history/search?q=refund"
        );
        let up = HistoryUpstream::from_ws_url("wss://proxy.example/sb/v1/agent").unwrap();
        assert_eq!(
            up.url("customer/+15550001", None),
            "https://proxy.example/sb/v1/history/customer/+15550001"
        );
        assert!(HistoryUpstream::from_ws_url("http://x/v1/agent").is_err());
        assert_eq!(
            up.media_upload_url("+15550001").unwrap().as_str(),
            "https://proxy.example/sb/v1/media/+15550001"
        );
    }

    #[test]
    fn only_the_history_listings_are_forwarded() {
        assert!(allowed("search"));
        assert!(allowed("resolved"));
        assert!(allowed("stats"));
        assert!(allowed("customer/+15550001"));
        assert!(allowed("messages/+15550001"));
        assert!(!allowed("customer/"));
        assert!(!allowed("customer/../agent"));
        assert!(!allowed("search/x"));
        assert!(!allowed("agent"));
    }
}
