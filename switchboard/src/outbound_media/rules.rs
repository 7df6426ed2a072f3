//! The rules of an agent-sent picture, pure (no I/O): which files are
//! accepted, where they are stored, how a reply names them, and how many and
//! how large a message's pictures may be.
//!
//! Twilio's rules for an outbound MMS: at most 10 media per message and
//! 5 MB in total; JPEG, PNG and GIF are the types every carrier gets
//! (others are transcoded or dropped per carrier, so they are not
//! accepted here); the body may be empty when there is media. The type is
//! decided by the file's first bytes, never by what the browser declared
//! or the file's name: what is stored and sent is what it really is.

use percent_encoding::percent_decode_str;

use crate::jobs::media::{files_url, FILES_PATH};

/// Most pictures in one message (Twilio: 10 `MediaUrl`s).
pub const MAX_ITEMS: usize = 10;
/// Most bytes of one message's pictures together (Twilio: 5 MB), which is
/// also the most one picture may have.
pub const MAX_MESSAGE_BYTES: u64 = 5 * 1024 * 1024;
/// The folder, inside a conversation's media folder, of the pictures its
/// agents upload (inbound media are in `<MessageSid>` folders, which start
/// with `MM`/`SM`, never with this).
pub const OUTBOUND_FOLDER: &str = "outbound";

/// A picture type every carrier gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Gif,
}

impl ImageType {
    /// The type of a file from its first bytes (its "magic number").
    pub fn sniff(bytes: &[u8]) -> Option<ImageType> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageType::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageType::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageType::Gif)
        } else {
            None
        }
    }

    /// The media type sent to Twilio and stored with the file.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Gif => "image/gif",
        }
    }

    /// The file name extension of stored files of this type.
    pub fn extension(self) -> &'static str {
        match self {
            ImageType::Jpeg => "jpg",
            ImageType::Png => "png",
            ImageType::Gif => "gif",
        }
    }

    fn from_extension(extension: &str) -> Option<ImageType> {
        [ImageType::Jpeg, ImageType::Png, ImageType::Gif]
            .into_iter()
            .find(|t| t.extension() == extension)
    }
}

/// Why a picture or a message's pictures are refused. `code` is what the
/// upload's JSON answer and the reply's `error` frame say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaProblem {
    #[error("the file is empty")]
    Empty,
    #[error("the picture has {bytes} bytes; at most 5 MB (5,242,880 bytes) can be sent")]
    TooLarge { bytes: u64 },
    #[error("only JPEG, PNG and GIF pictures can be sent")]
    UnsupportedType,
    #[error("at most 10 pictures can be sent in one message")]
    TooMany,
    #[error("the pictures have {bytes} bytes together; at most 5 MB (5,242,880 bytes) can be sent in one message")]
    MessageTooLarge { bytes: u64 },
    #[error("{0} is not a picture uploaded to this conversation")]
    NotUploaded(String),
}

impl MediaProblem {
    /// A machine-readable name of the problem.
    pub fn code(&self) -> &'static str {
        match self {
            MediaProblem::Empty => "empty",
            MediaProblem::TooLarge { .. } => "too_large",
            MediaProblem::UnsupportedType => "unsupported_type",
            MediaProblem::TooMany => "too_many",
            MediaProblem::MessageTooLarge { .. } => "message_too_large",
            MediaProblem::NotUploaded(_) => "not_uploaded",
        }
    }
}

/// Checks an uploaded file and tells its type (from its bytes).
pub fn check_upload(bytes: &[u8]) -> Result<ImageType, MediaProblem> {
    let len = bytes.len() as u64;
    if len == 0 {
        return Err(MediaProblem::Empty);
    }
    if len > MAX_MESSAGE_BYTES {
        return Err(MediaProblem::TooLarge { bytes: len });
    }
    ImageType::sniff(bytes).ok_or(MediaProblem::UnsupportedType)
}

/// A new random id for an uploaded picture (128 bits, as 32 hex digits).
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Where an uploaded picture is stored:
/// `media/<conversation>/outbound/<id>.<ext>`.
pub fn outbound_key(conversation: &str, id: &str, image: ImageType) -> String {
    format!(
        "media/{conversation}/{OUTBOUND_FOLDER}/{id}.{}",
        image.extension()
    )
}

/// An uploaded picture's key split into its parts, when `key` (already
/// percent-decoded) is one: `(conversation, id, type)`.
pub fn parse_outbound_key(key: &str) -> Option<(&str, &str, ImageType)> {
    let mut segments = key.split('/');
    let (Some("media"), Some(conversation), Some(OUTBOUND_FOLDER), Some(name), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    let (id, extension) = name.split_once('.')?;
    let id_ok = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if conversation.is_empty() || !id_ok {
        return None;
    }
    Some((conversation, id, ImageType::from_extension(extension)?))
}

/// The file key a reply's media link names, when it is a picture uploaded
/// to `conversation`: the link is `/files/` + the key, as the upload
/// answered it (each segment percent-encoded; decoded here, so any
/// spelling of the same key is the same picture).
pub fn reply_media_key(conversation: &str, url: &str) -> Result<(String, ImageType), MediaProblem> {
    let not_uploaded = || MediaProblem::NotUploaded(url.chars().take(200).collect());
    let encoded = url
        .strip_prefix(FILES_PATH)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(not_uploaded)?;
    let mut key = String::new();
    for (i, segment) in encoded.split('/').enumerate() {
        let decoded = percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| not_uploaded())?;
        if decoded.contains('/') {
            return Err(not_uploaded());
        }
        if i > 0 {
            key.push('/');
        }
        key.push_str(&decoded);
    }
    match parse_outbound_key(&key) {
        Some((owner, _, image)) if owner == conversation => Ok((key, image)),
        _ => Err(not_uploaded()),
    }
}

/// The link a stored reply keeps for an uploaded picture (as for inbound
/// pictures: `/files/…`, read through either service's file server).
pub fn reply_media_url(key: &str) -> String {
    files_url(key)
}

/// Checks a message's pictures together, given each one's size in bytes.
pub fn check_message(sizes: &[u64]) -> Result<(), MediaProblem> {
    if sizes.len() > MAX_ITEMS {
        return Err(MediaProblem::TooMany);
    }
    let total: u64 = sizes.iter().sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(MediaProblem::MessageTooLarge { bytes: total });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(check_upload(PNG), Ok(ImageType::Png));
        assert_eq!(check_upload(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(ImageType::Jpeg));
        assert_eq!(check_upload(b"GIF89a...."), Ok(ImageType::Gif));
        assert_eq!(check_upload(b"GIF87a...."), Ok(ImageType::Gif));
        // WebP, HEIC, SVG (script!), PDF, text: refused whatever they claim.
        for other in [
            &b"RIFF\0\0\0\0WEBPVP8 "[..],
            b"\0\0\0\x18ftypheic",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\">",
            b"%PDF-1.7",
            b"hello",
        ] {
            assert_eq!(check_upload(other), Err(MediaProblem::UnsupportedType));
        }
    }

    #[test]
    fn empty_and_oversized_files_are_refused() {
        assert_eq!(check_upload(b""), Err(MediaProblem::Empty));
        let mut big = PNG.to_vec();
        big.resize(MAX_MESSAGE_BYTES as usize, 0);
        assert_eq!(
            check_upload(&big),
            Ok(ImageType::Png),
            "exactly 5 MB is fine"
        );
        big.push(0);
        assert_eq!(
            check_upload(&big),
            Err(MediaProblem::TooLarge {
                bytes: MAX_MESSAGE_BYTES + 1
            })
        );
        assert_eq!(
            check_upload(&big).unwrap_err().code(),
            "too_large",
            "the code a client sees"
        );
    }

    #[test]
    fn a_message_has_at_most_ten_pictures_and_five_megabytes() {
        assert_eq!(check_message(&[]), Ok(()));
        assert_eq!(check_message(&[1; 10]), Ok(()));
        assert_eq!(check_message(&[1; 11]), Err(MediaProblem::TooMany));
        let half = MAX_MESSAGE_BYTES / 2;
        assert_eq!(check_message(&[half, half]), Ok(()));
        assert_eq!(
            check_message(&[half, half, 1]),
            Err(MediaProblem::MessageTooLarge {
                bytes: MAX_MESSAGE_BYTES + 1
            })
        );
    }

    #[test]
    fn uploads_are_stored_in_the_conversations_outbound_folder() {
        let key = outbound_key("+15550001111", ID, ImageType::Gif);
        assert_eq!(key, format!("media/+15550001111/outbound/{ID}.gif"));
        assert_eq!(
            parse_outbound_key(&key),
            Some(("+15550001111", ID, ImageType::Gif))
        );
        // Inbound media, other folders, other shapes: not uploads.
        for other in [
            "media/+15550001111/MM0123/0.jpg".to_string(),
            format!("media/+15550001111/outbound/{ID}.webp"),
            format!("media/+15550001111/outbound/{ID}"),
            format!("media/+15550001111/outbound/x/{ID}.png"),
            "media/+15550001111/outbound/0123.png".to_string(),
            format!("media/+15550001111/outbound/{}.png", ID.to_uppercase()),
            format!("transcripts/+15550001111/outbound/{ID}.png"),
            format!("media//outbound/{ID}.png"),
        ] {
            assert_eq!(parse_outbound_key(&other), None, "{other}");
        }
        assert_eq!(new_id().len(), 32);
        assert!(parse_outbound_key(&outbound_key("+1", &new_id(), ImageType::Png)).is_some());
    }

    #[test]
    fn a_reply_names_only_pictures_uploaded_to_its_own_conversation() {
        let key = outbound_key("+15550001111", ID, ImageType::Png);
        let url = reply_media_url(&key);
        assert_eq!(
            url,
            format!("/files/media/%2B15550001111/outbound/{ID}.png")
        );
        assert_eq!(
            reply_media_key("+15550001111", &url),
            Ok((key.clone(), ImageType::Png))
        );
        // Any spelling of the same key is the same picture.
        let literal = format!("/files/media/+15550001111/outbound/{ID}.png");
        assert_eq!(
            reply_media_key("+15550001111", &literal),
            Ok((key, ImageType::Png))
        );
        for bad in [
            // Another conversation's picture.
            format!("/files/media/%2B15550002222/outbound/{ID}.png"),
            // An inbound picture, a transcript, another host, a traversal.
            "/files/media/%2B15550001111/MM1/0.jpg".to_string(),
            "/files/transcripts/%2B15550001111/1.json".to_string(),
            format!("https://evil.example/files/media/%2B15550001111/outbound/{ID}.png"),
            format!("/files/media/%2B15550001111/outbound/..%2F{ID}.png"),
            format!("/files/media/%2B15550001111%2Foutbound/{ID}.png"),
            String::new(),
        ] {
            let refused = reply_media_key("+15550001111", &bad);
            assert!(
                matches!(refused, Err(MediaProblem::NotUploaded(_))),
                "{bad}: {refused:?}"
            );
        }
    }
}
