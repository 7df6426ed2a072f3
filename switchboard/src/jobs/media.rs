//! Inbound MMS media: where our copy lives, and the job that fetches it from
//! Twilio into the file store.
//!
//! The webhook decides the key of each item before answering (so the stored
//! message links to our copy from the start, never to Twilio) and queues one
//! [`Job::FetchMedia`] per item. Twilio's media URLs need the account's
//! Basic auth and answer with a redirect to a CDN; reqwest follows it and
//! drops the `Authorization` header when the redirect leaves the host, so the
//! credentials never reach the CDN.

use super::worker::{Failure, JobContext};
use super::Job;
use crate::store::InboundMessage;
use crate::twilio::client::error_chain;
use bytes::{Bytes, BytesMut};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::StatusCode;
use switchboard_cloud::files::FileKey;

/// Where the file server is mounted (switchboard and agent UI alike).
pub const FILES_PATH: &str = "/files";
/// Largest media item accepted (Twilio's own limit is 5 MB per message).
pub const MAX_MEDIA_BYTES: usize = 16 * 1024 * 1024;
/// A 4xx from Twilio (other than 429) is retried this often before giving
/// up: the media may not be ready yet, but a missing item stays missing.
const CLIENT_ERROR_ATTEMPTS: u32 = 3;

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `media/<conversation>/<MessageSid>/<index>.<ext>`.
pub fn media_key(
    conversation: &str,
    message_sid: &str,
    index: usize,
    content_type: &str,
) -> String {
    format!(
        "media/{conversation}/{message_sid}/{index}.{}",
        extension(content_type)
    )
}

/// The link to our copy of `key`: `/files/` plus the key with each segment
/// percent-encoded, relative so it works behind any proxy, on the
/// switchboard and on the agent UI.
pub fn files_url(key: &str) -> String {
    let mut url = String::from(FILES_PATH);
    for segment in key.split('/') {
        url.push('/');
        url.extend(utf8_percent_encode(segment, SEGMENT));
    }
    url
}

/// A file extension for a media type: the usual one for common types,
/// else one mime_guess knows for it, else `bin`.
pub fn extension(content_type: &str) -> String {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let usual = match essence.as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Some("jpg"),
        "text/plain" => Some("txt"),
        "audio/mpeg" => Some("mp3"),
        "text/vcard" | "text/x-vcard" | "text/directory" => Some("vcf"),
        "video/quicktime" => Some("mov"),
        _ => None,
    };
    if let Some(ext) = usual {
        return ext.to_string();
    }
    let known = mime_guess::get_mime_extensions_str(&essence).unwrap_or(&[]);
    let subtype = essence.split('/').nth(1).unwrap_or("");
    known
        .iter()
        .find(|ext| **ext == subtype)
        .or_else(|| known.first())
        .filter(|ext| !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|ext| ext.to_string())
        .unwrap_or_else(|| "bin".to_string())
}

/// Points each media item of `message` at our copy and returns the fetch
/// jobs, keyed by the file key (so a webhook retry queues nothing new).
pub fn plan(message: &mut InboundMessage) -> Vec<(String, Job)> {
    let conversation = message.from.clone();
    let sid = message.message_sid.clone();
    message
        .media
        .iter_mut()
        .enumerate()
        .map(|(index, media)| {
            let key = media_key(&conversation, &sid, index, &media.content_type);
            let job = Job::FetchMedia {
                conversation: conversation.clone(),
                message_sid: sid.clone(),
                index,
                twilio_url: std::mem::replace(&mut media.url, files_url(&key)),
                content_type: media.content_type.clone(),
                key: key.clone(),
            };
            (key, job)
        })
        .collect()
}

/// Downloads one item with the account's credentials and stores it.
pub async fn fetch(
    ctx: &JobContext,
    twilio_url: &str,
    content_type: &str,
    key: &str,
) -> Result<(), Failure> {
    let key = FileKey::parse(key).map_err(Failure::from_file)?;
    let bytes = download(ctx, twilio_url).await?;
    tracing::debug!(key = %key, bytes = bytes.len(), "media fetched from Twilio");
    ctx.files
        .put(&key, bytes, content_type)
        .await
        .map_err(Failure::from_file)
}

/// Whether `url` is on Twilio's API host (`api_host`, from
/// `TWILIO_API_BASE`) or any `twilio.com` host. Media URLs arrive in the
/// webhook, so the account's credentials must not follow them elsewhere.
fn is_twilio_host(url: &str, api_host: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    host == api_host.to_ascii_lowercase() || host == "twilio.com" || host.ends_with(".twilio.com")
}

async fn download(ctx: &JobContext, url: &str) -> Result<Bytes, Failure> {
    let failure = |message: String| Failure::new("twilio", "GET media", message);
    let mut request = ctx.http.get(url);
    if is_twilio_host(url, &ctx.twilio_api_host) {
        request = request.basic_auth(&ctx.twilio_account_sid, Some(&ctx.twilio_auth_token));
    } else {
        tracing::warn!(
            url,
            "media URL is not on Twilio's API host; fetching it without the account's credentials"
        );
    }
    let mut response = request.send().await.map_err(|e| failure(error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        let f = failure(format!("{url} answered HTTP {status}")).with_code(status.as_str());
        let retry_forever = status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || !status.is_client_error();
        return Err(if retry_forever {
            f
        } else {
            f.give_up_after(CLIENT_ERROR_ATTEMPTS)
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_MEDIA_BYTES as u64)
    {
        return Err(
            failure(format!("{url} is larger than {MAX_MEDIA_BYTES} bytes")).give_up_after(1),
        );
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failure(error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_MEDIA_BYTES {
            return Err(
                failure(format!("{url} is larger than {MAX_MEDIA_BYTES} bytes")).give_up_after(1),
            );
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_only_go_to_twilio() {
        let api = "api.twilio.com";
        assert!(is_twilio_host(
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            api
        ));
        assert!(is_twilio_host("https://media.twilio.com/x", api));
        assert!(is_twilio_host("http://127.0.0.1:4000/x", "127.0.0.1"));
        assert!(!is_twilio_host("https://evil.example/x", api));
        assert!(!is_twilio_host(
            "https://api.twilio.com.evil.example/x",
            api
        ));
        assert!(!is_twilio_host(
            "http://169.254.169.254/latest/meta-data",
            api
        ));
        assert!(!is_twilio_host("not a url", api));
    }
    use switchboard_protocol::Media;

    #[test]
    fn extensions_for_common_media_types() {
        assert_eq!(extension("image/jpeg"), "jpg");
        assert_eq!(extension("image/png"), "png");
        assert_eq!(extension("IMAGE/GIF; x=y"), "gif");
        assert_eq!(extension("video/mp4"), "mp4");
        assert_eq!(extension("text/vcard"), "vcf");
        assert_eq!(extension("application/pdf"), "pdf");
        assert_eq!(extension("application/x-nonsense"), "bin");
        assert_eq!(extension(""), "bin");
    }

    #[test]
    fn links_encode_each_segment() {
        let key = media_key("+15550001111", "MM0123", 2, "image/png");
        assert_eq!(key, "media/+15550001111/MM0123/2.png");
        assert_eq!(files_url(&key), "/files/media/%2B15550001111/MM0123/2.png");
        assert_eq!(files_url("a b/c?d#e"), "/files/a%20b/c%3Fd%23e");
        assert!(FileKey::parse(&key).is_ok());
    }

    #[test]
    fn plan_rewrites_urls_and_keeps_twilios_for_the_job() {
        let mut message = InboundMessage {
            message_sid: "MMabc".into(),
            from: "+15550001111".into(),
            to: "+15550009999".into(),
            body: String::new(),
            country: None,
            media: vec![
                Media {
                    url: "https://api.twilio.com/m/0".into(),
                    content_type: "image/jpeg".into(),
                },
                Media {
                    url: "https://api.twilio.com/m/1".into(),
                    content_type: "image/gif".into(),
                },
            ],
            at_ms: 0,
        };
        let jobs = plan(&mut message);
        assert_eq!(
            message.media[0].url,
            "/files/media/%2B15550001111/MMabc/0.jpg"
        );
        assert_eq!(
            message.media[1].url,
            "/files/media/%2B15550001111/MMabc/1.gif"
        );
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].0, "media/+15550001111/MMabc/1.gif");
        match &jobs[1].1 {
            Job::FetchMedia {
                twilio_url, index, ..
            } => {
                assert_eq!(twilio_url, "https://api.twilio.com/m/1");
                assert_eq!(*index, 1);
            }
            other => panic!("{other:?}"),
        }
    }
}
