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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound_media::rules::{outbound_key, ImageType, MAX_MESSAGE_BYTES};
    use bytes::Bytes;
    use switchboard_cloud::files::FileKey;

    const CONVERSATION: &str = "+15550001111";

    /// Stores a PNG of `size` bytes on local disk; returns its `/files/…` link.
    async fn stored(files: &FileStore, id: &str, size: usize) -> String {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.resize(size, 0);
        let key = outbound_key(CONVERSATION, id, ImageType::Png);
        files
            .put(
                &FileKey::parse(&key).expect("key"),
                Bytes::from(png),
                "image/png",
            )
            .await
            .expect("put");
        reply_media_url(&key)
    }

    fn media(url: &str, content_type: &str) -> Media {
        Media {
            url: url.into(),
            content_type: content_type.into(),
        }
    }

    #[tokio::test]
    async fn stored_uploads_pass_with_their_real_type_and_the_rest_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = FileStore::new(dir.path().to_path_buf(), None);
        let a = stored(&files, "0123456789abcdef0123456789abcdef", 100).await;
        let literal = a.replace("%2B", "+");
        // The client's type is replaced by the stored file's, the link by its
        // canonical spelling.
        let checked = check_reply_media(&files, CONVERSATION, &[media(&literal, "text/html")])
            .await
            .expect("accepted");
        assert_eq!(checked, vec![media(&a, "image/png")]);

        let never = a.replace("0123", "9999");
        let refused = check_reply_media(&files, CONVERSATION, &[media(&never, "")]).await;
        assert!(
            matches!(
                refused,
                Err(ReplyMediaError::Problem(MediaProblem::NotUploaded(_)))
            ),
            "{refused:?}"
        );
        let refused = check_reply_media(&files, "+15550002222", &[media(&a, "")]).await;
        assert!(
            matches!(
                refused,
                Err(ReplyMediaError::Problem(MediaProblem::NotUploaded(_)))
            ),
            "{refused:?}"
        );
        let eleven = vec![media(&a, ""); 11];
        let refused = check_reply_media(&files, CONVERSATION, &eleven).await;
        assert!(
            matches!(
                refused,
                Err(ReplyMediaError::Problem(MediaProblem::TooMany))
            ),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn the_sizes_of_a_messages_pictures_are_summed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = FileStore::new(dir.path().to_path_buf(), None);
        let half = (MAX_MESSAGE_BYTES / 2) as usize;
        let a = stored(&files, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", half).await;
        let b = stored(&files, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", half).await;
        let c = stored(&files, "cccccccccccccccccccccccccccccccc", 1).await;
        let two = [media(&a, ""), media(&b, "")];
        assert_eq!(
            check_reply_media(&files, CONVERSATION, &two)
                .await
                .expect("5 MB")
                .len(),
            2
        );
        let three = [media(&a, ""), media(&b, ""), media(&c, "")];
        let refused = check_reply_media(&files, CONVERSATION, &three).await;
        assert!(
            matches!(refused, Err(ReplyMediaError::Problem(MediaProblem::MessageTooLarge { bytes })) if bytes == MAX_MESSAGE_BYTES + 1),
            "{refused:?}"
        );
    }
}
