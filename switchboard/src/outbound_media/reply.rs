//! A reply's pictures, checked against the file store before the router
//! sees the reply (the agent socket's reader runs this): each must be an
//! upload to the reply's conversation that is really stored, and together
//! they must keep to Twilio's count and size.

use axum::http::{header, HeaderMap, Method, StatusCode};
use switchboard_cloud::files::FileStore;
use switchboard_protocol::Media;

use super::rules::{check_message, reply_media_key, reply_media_url, MediaProblem, MAX_ITEMS};

/// Why a reply's pictures were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReplyMediaError {
    /// The agent's mistake: an `invalid_media` error frame.
    #[error(transparent)]
    Problem(#[from] MediaProblem),
    /// The file store could not say: an `unavailable` error frame (retry).
    #[error("the file store could not be read: {0}")]
    Unavailable(String),
}

/// The pictures as the reply will be stored: each link in its canonical
/// spelling, its type from the stored file's name (whatever the client
/// said).
pub async fn check_reply_media(
    files: &FileStore,
    conversation: &str,
    media: &[Media],
) -> Result<Vec<Media>, ReplyMediaError> {
    if media.len() > MAX_ITEMS {
        return Err(MediaProblem::TooMany.into());
    }
    let mut checked = Vec::with_capacity(media.len());
    let mut sizes = Vec::with_capacity(media.len());
    for item in media {
        let (key, image) = reply_media_key(conversation, &item.url)?;
        sizes.push(stored_size(files, &key, &item.url).await?);
        checked.push(Media {
            url: reply_media_url(&key),
            content_type: image.content_type().to_string(),
        });
    }
    check_message(&sizes)?;
    Ok(checked)
}

/// The stored file's size, from a HEAD through the file server (S3 with
/// the local copy as fallback, as every read).
async fn stored_size(files: &FileStore, key: &str, url: &str) -> Result<u64, ReplyMediaError> {
    let head = files.serve(&Method::HEAD, key, &HeaderMap::new()).await;
    match head.status() {
        StatusCode::OK => head
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ReplyMediaError::Unavailable(format!("no size for {key}"))),
        StatusCode::NOT_FOUND => {
            Err(MediaProblem::NotUploaded(url.chars().take(200).collect()).into())
        }
        other => Err(ReplyMediaError::Unavailable(format!("{key}: {other}"))),
    }
}
