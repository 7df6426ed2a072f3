//! Byte layout of sled keys.
//!
//! Message keys are `conversation ++ 0x00 ++ seq (u64 big-endian)`, so one
//! conversation's messages are one contiguous, seq-ordered key range.
//! Conversation ids are E.164 numbers and never contain 0x00.

use switchboard_protocol::Seq;

pub fn message(conversation: &str, seq: Seq) -> Vec<u8> {
    let mut key = Vec::with_capacity(conversation.len() + 9);
    key.extend_from_slice(conversation.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Splits a message key back into (conversation, seq).
pub fn parse_message(key: &[u8]) -> Option<(String, Seq)> {
    if key.len() < 9 {
        return None;
    }
    let (conversation, rest) = key.split_at(key.len() - 9);
    if rest[0] != 0 {
        return None;
    }
    let seq = u64::from_be_bytes(rest[1..].try_into().ok()?);
    Some((String::from_utf8(conversation.to_vec()).ok()?, seq))
}

/// Index key of a reply: `agent ++ 0x00 ++ client_id`.
pub fn client_reply(agent: &str, client_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(agent.len() + client_id.len() + 1);
    key.extend_from_slice(agent.as_bytes());
    key.push(0);
    key.extend_from_slice(client_id.as_bytes());
    key
}

/// A position in newest-first order: `(u64::MAX - at_ms) big-endian ++
/// conversation ++ 0x00 ++ seq big-endian`, so a forward scan of keys
/// built this way walks newest first (the history indexes).
pub fn newest_first(at_ms: u64, conversation: &str, seq: Seq) -> Vec<u8> {
    let mut key = Vec::with_capacity(conversation.len() + 17);
    key.extend_from_slice(&(u64::MAX - at_ms).to_be_bytes());
    key.extend_from_slice(&message(conversation, seq));
    key
}

/// `prefix ++ 0x00 ++ newest_first(...)`: an agent's entry in the
/// resolved index (agent names never contain 0x00).
pub fn under(prefix: &str, at_ms: u64, conversation: &str, seq: Seq) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + conversation.len() + 18);
    key.extend_from_slice(prefix.as_bytes());
    key.push(0);
    key.extend_from_slice(&newest_first(at_ms, conversation, seq));
    key
}

/// Every [`under`] key of `prefix` starts with this.
pub fn under_prefix(prefix: &str) -> Vec<u8> {
    let mut key = prefix.as_bytes().to_vec();
    key.push(0);
    key
}

pub fn change(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn parse_change(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_round_trip_and_sort_by_seq() {
        let a = message("+15550001", 2);
        let b = message("+15550001", 10);
        assert!(a < b);
        assert_eq!(parse_message(&b), Some(("+15550001".to_string(), 10)));
        assert_eq!(parse_message(b"short"), None);
    }

    #[test]
    fn newest_first_keys_sort_newest_first_under_their_prefix() {
        let older = newest_first(10, "+15550001", 1);
        let newer = newest_first(20, "+15550001", 2);
        assert!(newer < older);
        let entry = under("alice", 20, "+15550001", 2);
        assert!(entry.starts_with(&under_prefix("alice")));
        assert!(!entry.starts_with(&under_prefix("ali")));
    }
}
