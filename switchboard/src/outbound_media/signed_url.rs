//! Time-limited signed links to uploaded pictures, for Twilio.
//!
//! Twilio fetches each `MediaUrl` itself, without an agent session, so the
//! link carries its own permission: `/media/<key after media/>?expires=<unix
//! seconds>&sig=<HMAC-SHA256>` on `PUBLIC_URL`. The signature covers the
//! file key and the expiry, under a secret only the switchboards know
//! (`MEDIA_URL_SECRET`, or one derived from `TWILIO_AUTH_TOKEN`); so a link
//! can be neither pointed at another file nor extended. Only keys of
//! uploaded pictures are ever signed or served (`rules::parse_outbound_key`).
//!
//! A reply's links are a pure function of its pictures' keys and its send
//! intent's time ([`link_expiry`]): a restart or a new leader that sends a
//! reply again (after finding it absent from Twilio's list) sends the very
//! same `MediaUrl`s.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::rules::reply_media_key;
use crate::jobs::media::files_url;
use switchboard_protocol::Media;

type HmacSha256 = Hmac<Sha256>;

/// How long a link works after the reply's first send attempt, in seconds.
/// Twilio fetches the media when it accepts the message, within seconds.
pub const URL_TTL_SECS: u64 = 3600;
/// A link about to expire is not reused for a new POST: it is renewed
/// when less than this is left (seconds), so Twilio has time to fetch it.
const MIN_LEFT_SECS: u64 = 600;

/// Why a signed link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature is not valid")]
    Forged,
}

/// Signs and checks media links. Cheap to clone.
#[derive(Clone)]
pub struct MediaSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for MediaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaSigner { key: <hidden> }")
    }
}

impl MediaSigner {
    /// Links signed with `secret` (`MEDIA_URL_SECRET`).
    pub fn new(secret: &[u8]) -> MediaSigner {
        MediaSigner {
            key: secret.to_vec(),
        }
    }

    /// Without `MEDIA_URL_SECRET`: a key derived from the Twilio auth token,
    /// which every switchboard of a deployment shares, under its own label
    /// (a link's signature says nothing about the token).
    pub fn from_auth_token(auth_token: &str) -> MediaSigner {
        MediaSigner::new(&hmac_sha256(
            auth_token.as_bytes(),
            b"switchboard outbound media links v1",
        ))
    }

    /// The signature of `key` (percent-decoded) until `expires`.
    pub fn signature(&self, key: &str, expires: u64) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.key, &signed_text(key, expires)))
    }

    /// The link's path and query: `/media/…?expires=…&sig=…` (the key's
    /// segments percent-encoded, as `/files/` links are).
    pub fn path(&self, key: &str, expires: u64) -> String {
        let encoded = files_url(key);
        let path = encoded
            .strip_prefix(crate::jobs::media::FILES_PATH)
            .unwrap_or(&encoded);
        format!(
            "{path}?expires={expires}&sig={}",
            self.signature(key, expires)
        )
    }

    /// Checks a link's signature (in constant time), then its expiry.
    pub fn verify(
        &self,
        key: &str,
        expires: u64,
        sig: &str,
        now_secs: u64,
    ) -> Result<(), UrlRefusal> {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return Err(UrlRefusal::Forged);
        };
        let mut mac = HmacSha256::new_from_slice(&self.key).map_err(|_| UrlRefusal::Forged)?;
        mac.update(&signed_text(key, expires));
        mac.verify_slice(&sig).map_err(|_| UrlRefusal::Forged)?;
        if now_secs >= expires {
            return Err(UrlRefusal::Expired);
        }
        Ok(())
    }
}

/// Turns a stored reply's pictures into the `MediaUrl`s Twilio is sent.
#[derive(Debug, Clone)]
pub struct MediaLinks {
    pub signer: MediaSigner,
    /// `PUBLIC_URL` without its trailing `/`.
    pub public_base: String,
}

impl MediaLinks {
    /// The absolute signed link of each picture of a reply to
    /// `conversation` (stored as `/files/…` links), expiring at `expires`.
    /// A link that is not an upload to the conversation (the agent socket
    /// let none through) is left out, and logged.
    pub fn urls(&self, conversation: &str, media: &[Media], expires: u64) -> Vec<String> {
        media
            .iter()
            .filter_map(|item| match reply_media_key(conversation, &item.url) {
                Ok((key, _)) => Some(format!(
                    "{}{}",
                    self.public_base,
                    self.signer.path(&key, expires)
                )),
                Err(e) => {
                    tracing::error!(conversation, error = %e, "a stored reply's picture is not an upload; not sent");
                    None
                }
            })
            .collect()
    }
}

/// When the links of a reply expire: an hour after its send intent (so
/// every attempt and every restart sends the same links), unless that
/// leaves less than ten minutes now — then an hour from now (Twilio never
/// took the earlier POST, or it would not be sent again).
pub fn link_expiry(intent_at_ms: u64, now_ms: u64) -> u64 {
    let from_intent = intent_at_ms / 1000 + URL_TTL_SECS;
    let now = now_ms / 1000;
    if from_intent >= now + MIN_LEFT_SECS {
        from_intent
    } else {
        now + URL_TTL_SECS
    }
}

fn signed_text(key: &str, expires: u64) -> Vec<u8> {
    format!("v1\n{key}\n{expires}").into_bytes()
}

fn hmac_sha256(key: &[u8], text: &[u8]) -> Vec<u8> {
    #[allow(clippy::expect_used)] // not input: HMAC takes a key of any length
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(text);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "media/+15550001111/outbound/0123456789abcdef0123456789abcdef.png";

    fn signer() -> MediaSigner {
        MediaSigner::new(b"a test secret of thirty-two bytes!")
    }

    #[test]
    fn a_signed_link_works_until_it_expires() {
        let s = signer();
        let sig = s.signature(KEY, 2_000);
        assert_eq!(s.verify(KEY, 2_000, &sig, 1_999), Ok(()));
        assert_eq!(s.verify(KEY, 2_000, &sig, 2_000), Err(UrlRefusal::Expired));
        assert_eq!(s.verify(KEY, 2_000, &sig, 9_999), Err(UrlRefusal::Expired));
    }

    #[test]
    fn a_link_cannot_be_extended_moved_or_forged() {
        let s = signer();
        let sig = s.signature(KEY, 2_000);
        // Later expiry, another file, another secret, a mangled signature.
        assert_eq!(s.verify(KEY, 2_001, &sig, 1_000), Err(UrlRefusal::Forged));
        let other = KEY.replace("+15550001111", "+15550002222");
        assert_eq!(
            s.verify(&other, 2_000, &sig, 1_000),
            Err(UrlRefusal::Forged)
        );
        let theirs = MediaSigner::new(b"another secret").signature(KEY, 2_000);
        assert_eq!(
            s.verify(KEY, 2_000, &theirs, 1_000),
            Err(UrlRefusal::Forged)
        );
        assert_eq!(
            s.verify(KEY, 2_000, "not base64!", 1_000),
            Err(UrlRefusal::Forged)
        );
        assert_eq!(s.verify(KEY, 2_000, "", 1_000), Err(UrlRefusal::Forged));
        // A forged link is refused as forged even when it is also expired.
        assert_eq!(
            s.verify(KEY, 2_000, &theirs, 5_000),
            Err(UrlRefusal::Forged)
        );
    }

    #[test]
    fn the_link_is_the_key_under_media_with_its_expiry_and_signature() {
        let s = signer();
        let path = s.path(KEY, 2_000);
        assert_eq!(
            path,
            format!(
                "/media/%2B15550001111/outbound/0123456789abcdef0123456789abcdef.png?expires=2000&sig={}",
                s.signature(KEY, 2_000)
            )
        );
        // The derived key is not the token itself, and is stable.
        let a = MediaSigner::from_auth_token("token");
        assert_eq!(
            a.signature(KEY, 1),
            MediaSigner::from_auth_token("token").signature(KEY, 1)
        );
        assert_ne!(
            a.signature(KEY, 1),
            MediaSigner::new(b"token").signature(KEY, 1)
        );
    }

    #[test]
    fn a_replys_pictures_become_absolute_links_on_the_public_url() {
        let links = MediaLinks {
            signer: signer(),
            public_base: "https://sb.example".into(),
        };
        let media = |url: &str| Media {
            url: url.into(),
            content_type: "image/png".into(),
        };
        let stored = [
            media("/files/media/%2B15550001111/outbound/0123456789abcdef0123456789abcdef.png"),
            media("/files/media/%2B15550009999/outbound/0123456789abcdef0123456789abcdef.png"),
        ];
        assert_eq!(
            links.urls("+15550001111", &stored, 2_000),
            vec![format!("https://sb.example{}", signer().path(KEY, 2_000))],
            "another conversation's picture is never signed"
        );
    }

    #[test]
    fn every_attempt_of_a_reply_sends_the_same_links() {
        let intent = 1_000_000_000;
        let expiry = link_expiry(intent, intent);
        assert_eq!(expiry, 1_000_000 + URL_TTL_SECS);
        // Retries and a restart twenty minutes on: the same expiry.
        assert_eq!(link_expiry(intent, intent + 20 * 60 * 1000), expiry);
        // Sent again long after (Twilio never got it): a fresh hour.
        let later = intent + 3 * 3600 * 1000;
        assert_eq!(link_expiry(intent, later), later / 1000 + URL_TTL_SECS);
    }
}
