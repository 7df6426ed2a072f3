//! Agents' pictures (MMS), in and out of the file store:
//!
//! * `POST /v1/media/{conversation}` — an agent uploads a picture (the raw
//!   bytes as the body; the agent UI forwards the console's upload here with
//!   the agent's Basic credentials). Only the agent who holds the
//!   conversation; JPEG, PNG or GIF by its bytes, at most 5 MB
//!   (`outbound_media::rules`). `201 {url, content_type, bytes}`: `url` is
//!   the `/files/…` link a `reply` names it by. Refusals are
//!   `{code, message}`: 400 `empty`, 403 `not_holder`, 413 `too_large`,
//!   415 `unsupported_type`, 503 `unavailable`.
//! * `GET`/`HEAD /media/{…}?expires=…&sig=…` — the signed link Twilio
//!   fetches a reply's picture through (no session: the link is the
//!   permission, `outbound_media::signed_url`). 404 for anything that is
//!   not an uploaded picture's key (nothing else is ever served here),
//!   403 for a missing, forged or expired signature — both decided before
//!   the file is looked up.

use super::{agent_auth, files::holds, AppState};
use crate::outbound_media::rules::{
    check_upload, new_id, outbound_key, parse_outbound_key, reply_media_url,
};
use crate::outbound_media::{MediaProblem, MAX_MESSAGE_BYTES};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::BytesMut;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use switchboard_cloud::files::FileKey;

/// Where agents upload pictures.
pub const UPLOAD_PATH: &str = "/v1/media/{conversation}";
/// Where Twilio fetches them (the rest of the key after `media/`).
pub const SIGNED_PATH: &str = "/media/{*rest}";

/// The answer to an upload.
#[derive(Debug, Serialize, Deserialize)]
pub struct Uploaded {
    /// The picture's `/files/…` link: what a `reply`'s `media` names.
    pub url: String,
    /// What the bytes are (`image/jpeg`, `image/png`, `image/gif`).
    pub content_type: String,
    pub bytes: u64,
}

/// A refusal: a machine-readable `code` and a sentence for people.
fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "code": code, "message": message })),
    )
        .into_response()
}

fn refuse_problem(problem: &MediaProblem) -> Response {
    let status = match problem {
        MediaProblem::TooLarge { .. } | MediaProblem::MessageTooLarge { .. } => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        MediaProblem::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    refuse(status, problem.code(), &problem.to_string())
}

pub async fn upload(
    State(state): State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(conversation): Path<String>,
    body: Body,
) -> Response {
    // Credentials and the conversation before a byte of the body is read.
    let agent = match agent_auth::authenticate(&state, peer, &headers).await {
        Ok(agent) => agent,
        Err(refused) => return refused,
    };
    if !holds(&state, &agent, &conversation).await {
        tracing::info!(agent = %agent, conversation = %conversation, "picture upload refused: not a conversation this agent holds");
        return refuse(
            StatusCode::FORBIDDEN,
            "not_holder",
            "you can only send pictures in a conversation you hold",
        );
    }
    let bytes = match read_at_most(body, MAX_MESSAGE_BYTES).await {
        Ok(bytes) => bytes,
        Err(Some(problem)) => return refuse_problem(&problem),
        Err(None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "broken_upload",
                "the upload broke off",
            )
        }
    };
    let image = match check_upload(&bytes) {
        Ok(image) => image,
        Err(problem) => {
            tracing::info!(agent = %agent, conversation = %conversation, error = %problem, "picture upload refused");
            return refuse_problem(&problem);
        }
    };
    let key = outbound_key(&conversation, &new_id(), image);
    let Ok(file_key) = FileKey::parse(&key) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "no_conversation",
            "no such conversation",
        );
    };
    let size = bytes.len() as u64;
    if let Err(e) = state
        .files
        .put(&file_key, bytes, image.content_type())
        .await
    {
        tracing::warn!(key, error = %e, "could not store an uploaded picture");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the picture could not be stored; try again",
        );
    }
    tracing::info!(agent = %agent, conversation = %conversation, key, bytes = size, "picture uploaded");
    (
        StatusCode::CREATED,
        Json(Uploaded {
            url: reply_media_url(&key),
            content_type: image.content_type().to_string(),
            bytes: size,
        }),
    )
        .into_response()
}

/// The body, or `Err(Some(TooLarge))` once it passes `limit` bytes (the
/// rest is not read), `Err(None)` when it broke off.
async fn read_at_most(body: Body, limit: u64) -> Result<bytes::Bytes, Option<MediaProblem>> {
    let mut stream = body.into_data_stream();
    let mut bytes = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| None)?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > limit {
            return Err(Some(MediaProblem::TooLarge {
                bytes: bytes.len() as u64,
            }));
        }
    }
    Ok(bytes.freeze())
}

/// The query of a signed link.
#[derive(Debug, Deserialize)]
pub struct Link {
    expires: Option<u64>,
    sig: Option<String>,
}

pub async fn serve_signed(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(rest): Path<String>,
    link: Result<Query<Link>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let key = format!("media/{rest}");
    if parse_outbound_key(&key).is_none() || FileKey::parse(&key).is_err() {
        return (StatusCode::NOT_FOUND, "no such picture").into_response();
    }
    let Ok(Query(Link {
        expires: Some(expires),
        sig: Some(sig),
    })) = link
    else {
        return (StatusCode::FORBIDDEN, "this link is not signed").into_response();
    };
    let now = crate::clock::now_ms() / 1000;
    if let Err(refusal) = state.config.media_signer().verify(&key, expires, &sig, now) {
        tracing::info!(key, %refusal, "signed picture link refused");
        return (StatusCode::FORBIDDEN, refusal.to_string()).into_response();
    }
    tracing::info!(key, method = %method, "picture fetched through its signed link");
    let mut res = state.files.serve(&method, &key, &headers).await;
    switchboard_cloud::files::mark_private(&mut res);
    // Meant for another party (Twilio; the phone simulator's page shows it).
    res.headers_mut().insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    res
}
