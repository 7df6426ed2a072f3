//! Agent HTTP Basic authentication, shared by every agent-facing endpoint
//! (the WebSocket upgrade and the file server), with sign-in rate limiting:
//! failures per agent name and per client address (the peer, or what a
//! `TRUSTED_PROXIES` entry forwards — the agent UI forwards its browser's
//! address) are limited, and over the limit every attempt gets 429 with
//! `Retry-After` before its password is checked.

use super::AppState;
use crate::config::Config;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::net::SocketAddr;
use switchboard_cloud::guard::{Refused, SignInThrottle, TrustedProxies};

/// The sign-in limits and the proxies believed about client addresses.
#[derive(Clone)]
pub struct Guard {
    pub throttle: SignInThrottle,
    pub proxies: TrustedProxies,
}

impl Guard {
    pub fn from_config(config: &Config) -> Guard {
        Guard {
            throttle: config.sign_in.throttle(),
            proxies: config.sign_in.proxies(),
        }
    }
}

/// The agent's name when the Basic credentials are valid; otherwise the
/// answer to send (401, or 429 over the limit).
pub(super) async fn authenticate(
    state: &AppState,
    peer: ConnectInfo<SocketAddr>,
    headers: &HeaderMap,
) -> Result<String, Response> {
    let Some((name, password)) = basic_credentials(headers) else {
        return Err(challenge());
    };
    let client = state.guard.proxies.client(peer.0.ip(), headers);
    let throttle = &state.guard.throttle;
    throttle.check(&name, client.addr).map_err(too_many)?;
    if state.config.agents.verify(&name, &password).await {
        return Ok(name);
    }
    tracing::info!(agent = %name, client = %client.addr, "agent sign-in refused: wrong name or password");
    throttle.failed(&name, client.addr).map_err(too_many)?;
    Err(challenge())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

/// The 401 that asks for agent credentials.
fn challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"switchboard agents\"",
        )],
        "agent credentials required (HTTP Basic auth)",
    )
        .into_response()
}

/// The 429 of a name or address over its sign-in limit.
fn too_many(refused: Refused) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, refused.retry_after_secs().to_string())],
        "too many failed sign-ins; try again later",
    )
        .into_response()
}
