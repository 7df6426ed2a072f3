//! Who may read which file key through `/files` — the one rule both services
//! apply (the switchboard against its routes, the agent UI against the
//! conversations on the agent's console):
//!
//! * `media/{conversation}/…` (MMS pictures): only the agent who holds that
//!   conversation now (assigned to them, also during the grace period after
//!   they disconnect). Held earlier is not enough: a resolved or transferred
//!   conversation's customer is no longer theirs.
//! * `transcripts/…`: no agent (they go by email to `TRANSCRIPT_TO`;
//!   supervisors read them there or in the bucket).
//! * anything else: no agent.
//!
//! The conversation is the key's second segment after percent-decoding, so
//! `%2B15550001111`, `%2b15550001111` and a literal `+15550001111` are the
//! same conversation and get the same answer.

use super::FileKey;

/// The conversation whose holder may read `key`, or `None` when no agent may.
pub fn reader_conversation(key: &FileKey) -> Option<&str> {
    let mut segments = key.as_str().split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("media"), Some(conversation), Some(_)) => Some(conversation),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(raw: &str) -> Option<String> {
        reader_conversation(&FileKey::parse(raw).unwrap()).map(str::to_string)
    }

    #[test]
    fn only_media_keys_name_a_conversation() {
        assert_eq!(
            conv("media/+15550001111/MM1/0.jpg").as_deref(),
            Some("+15550001111")
        );
        assert_eq!(conv("media/+15550001111"), None, "a folder is not a file");
        assert_eq!(conv("transcripts/+15550001111/1.json"), None);
        assert_eq!(conv("docs/hello.bin"), None);
        assert_eq!(conv("static/app.js"), None);
    }
}
