//! `GET /v1/history/…`: resolved conversations and search, for agents (the
//! same Basic credentials as the agent WebSocket; the agent UI calls these
//! with its signed-in agent's). Under `/v1/` like the agent socket, so a
//! proxy that forwards agents' traffic forwards these too. Read-only, so any instance serves them —
//! leader or not — straight from the store's history port
//! (`store/history.rs`).
//!
//! * `GET /v1/history/search?q=…&after=…&limit=…` — messages matching `q`
//!   (words in the body, or a number), newest first: `{items, next}`;
//! * `GET /v1/history/resolved?mine=true&after=…&limit=…` — recently resolved
//!   conversations (the agent's own with `mine=true`, else the team's),
//!   newest resolve first: `{items, next}`;
//! * `GET /v1/history/customer/{number}` — a customer's conversations, the
//!   open one first: `{items}`;
//! * `GET /v1/history/messages/{number}?after=…&upto=…` — the messages of one
//!   of them (seq in `(after, upto]`, at most [`MAX_MESSAGES`]);
//! * `GET /v1/history/stats?span=hours|days&offset=…` — supervisors only
//!   (`SUPERVISORS`; others get 403): the team's figures over the last 24
//!   hours by hour or 14 days by day (`offset`: the asker's minutes east of
//!   UTC, for local days), see `crate::stats`.
//!
//! `next`, when present, is the `after` of the next page. Every agent reads
//! every customer's history: looking up what the team said before is the
//! point; writing still needs the conversation (the router's rules).

use super::{agent_auth, AppState};
use crate::clock::now_ms;
use crate::conversation::figures::Span;
use crate::store::history::{self, Cursor};
use crate::store::search::Query;
use crate::store::StoreError;
use axum::extract::{ConnectInfo, Path, Query as QueryString, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::net::SocketAddr;

/// Most messages one `/v1/history/messages` call returns.
pub const MAX_MESSAGES: u64 = 500;
/// Page size when the caller names none.
const DEFAULT_PAGE: usize = 20;

/// The query string of the paged listings.
#[derive(Debug, Deserialize)]
pub struct Paging {
    /// The search text (`/v1/history/search`).
    #[serde(default)]
    q: String,
    /// The `next` of the previous page.
    after: Option<String>,
    limit: Option<usize>,
    /// Only the asking agent's resolves (`/v1/history/resolved`).
    #[serde(default)]
    mine: bool,
}

/// The query string of `/v1/history/stats`.
#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    /// `hours` (the default) or `days`.
    span: Option<String>,
    /// Minutes east of UTC (−840…840); 0 when absent.
    #[serde(default)]
    offset: i32,
}

/// The query string of `/v1/history/messages`.
#[derive(Debug, Deserialize)]
pub struct Range {
    #[serde(default)]
    after: u64,
    upto: Option<u64>,
}

fn bad_request(why: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, why).into_response()
}

fn unavailable(e: StoreError) -> Response {
    tracing::warn!(error = %e, "a history read failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the conversation store cannot answer right now",
    )
        .into_response()
}

/// The `after` of a paged listing; `Err` when it is not a cursor we gave.
fn cursor(after: Option<&str>) -> Result<Option<Cursor>, &'static str> {
    match after {
        None | Some("") => Ok(None),
        Some(text) => Cursor::parse(text)
            .map(Some)
            .ok_or("`after` is not a cursor this server gave"),
    }
}

pub async fn search(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    QueryString(paging): QueryString<Paging>,
) -> Response {
    if let Err(refused) = agent_auth::authenticate(&state, peer, &headers).await {
        return refused;
    }
    let Some(query) = Query::parse(&paging.q) else {
        return bad_request("type a word of two letters or more, or at least 3 digits of a number");
    };
    let after = match cursor(paging.after.as_deref()) {
        Ok(after) => after,
        Err(why) => return bad_request(why),
    };
    let limit = paging.limit.unwrap_or(DEFAULT_PAGE);
    match history::search_page(&*state.history, &query, after.as_ref(), limit).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn resolved(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    QueryString(paging): QueryString<Paging>,
) -> Response {
    let agent = match agent_auth::authenticate(&state, peer, &headers).await {
        Ok(agent) => agent,
        Err(refused) => return refused,
    };
    let after = match cursor(paging.after.as_deref()) {
        Ok(after) => after,
        Err(why) => return bad_request(why),
    };
    let by = paging.mine.then_some(agent.as_str());
    let limit = paging.limit.unwrap_or(DEFAULT_PAGE);
    let page =
        history::resolved_page(&*state.store, &*state.history, by, after.as_ref(), limit).await;
    match page {
        Ok(page) => Json(page).into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn customer(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Response {
    if let Err(refused) = agent_auth::authenticate(&state, peer, &headers).await {
        return refused;
    }
    match history::past(&*state.store, &*state.history, &number).await {
        Ok(items) => Json(serde_json::json!({ "items": items })).into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn messages(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(number): Path<String>,
    QueryString(range): QueryString<Range>,
) -> Response {
    if let Err(refused) = agent_auth::authenticate(&state, peer, &headers).await {
        return refused;
    }
    let upto = range
        .upto
        .unwrap_or(u64::MAX)
        .min(range.after.saturating_add(MAX_MESSAGES));
    let upto = match state.store.conversation(&number).await {
        Ok(Some(record)) => upto.min(record.last_seq),
        Ok(None) => return (StatusCode::NOT_FOUND, "no such customer").into_response(),
        Err(e) => return unavailable(e),
    };
    match state.store.history(&number, range.after, upto).await {
        Ok(items) => Json(serde_json::json!({ "items": items })).into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn stats(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    QueryString(query): QueryString<StatsQuery>,
) -> Response {
    let agent = match agent_auth::authenticate(&state, peer, &headers).await {
        Ok(agent) => agent,
        Err(refused) => return refused,
    };
    // Validated at start-up, so this lists the configured supervisors.
    let supervisors = state.config.supervisor_names().unwrap_or_default();
    if !supervisors.contains(&agent) {
        return (
            StatusCode::FORBIDDEN,
            "only supervisors see the team's figures",
        )
            .into_response();
    }
    let Some(span) = Span::parse(query.span.as_deref().unwrap_or("hours")) else {
        return bad_request("`span` is `hours` or `days`");
    };
    if !(-840..=840).contains(&query.offset) {
        return bad_request("`offset` is minutes east of UTC, −840 to 840");
    }
    match state.stats.report(span, query.offset, now_ms()).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => unavailable(e),
    }
}
