//! What the agent UI adds to a message before a browser sees it: the sentiment of
//! inbound messages and the humanized time of every message.
//!
//! Pure functions of the message and "now", so the model and the tests can drive the
//! clock.

use chrono::{Local, TimeZone};
use switchboard_protocol::{Direction, Message};

use crate::browser::{EnrichedMessage, SentimentView, TimeLabel};
use crate::{humanize, sentiment};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Scores and labels one message.
pub fn enrich(message: Message, now_ms: u64) -> EnrichedMessage {
    let sentiment = (message.direction == Direction::Inbound).then(|| {
        let analysis = sentiment::analyze(&message.body);
        SentimentView {
            score: analysis.score,
            label: analysis.label,
            words: analysis.words,
        }
    });
    let time = TimeLabel {
        label: label(message.at_ms, now_ms),
        exact: exact_local(message.at_ms),
    };
    EnrichedMessage {
        message,
        sentiment,
        time,
    }
}

/// The humanized label of an instant. Instants slightly ahead of our clock (the
/// switchboard's clock may run ahead of ours) read as "now", never "in a few seconds".
pub fn label(at_ms: u64, now_ms: u64) -> String {
    let (then, now) = clamped(at_ms, now_ms);
    humanize::from_now(then, now)
}

/// Milliseconds until [`label`] may change.
pub fn next_change_in(at_ms: u64, now_ms: u64) -> u64 {
    let (then, now) = clamped(at_ms, now_ms);
    humanize::next_change_in(then, now)
}

fn clamped(at_ms: u64, now_ms: u64) -> (i64, i64) {
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let then = i64::try_from(at_ms).unwrap_or(i64::MAX).min(now);
    (then, now)
}

/// The server's local time of an instant, "2026-11-21 14:03:07".
pub fn exact_local(at_ms: u64) -> String {
    i64::try_from(at_ms)
        .ok()
        .and_then(|ms| Local.timestamp_millis_opt(ms).single())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::Label;

    fn message(direction: Direction, body: &str, at_ms: u64) -> Message {
        Message {
            conversation: "+15550001".into(),
            seq: 1,
            direction,
            body: body.into(),
            at_ms,
            media: vec![],
            agent: None,
            client_id: None,
            status: None,
            error: None,
            sid: None,
            event: None,
        }
    }

    #[test]
    fn inbound_messages_get_sentiment_and_time() {
        let now = 1_800_000_000_000;
        let m = enrich(
            message(
                Direction::Inbound,
                "NEVER again!!! worst service ever",
                now - 3_000,
            ),
            now,
        );
        let s = m.sentiment.expect("inbound has sentiment");
        assert_eq!(s.label, Label::Devil);
        assert!(!s.words.is_empty());
        assert_eq!(m.time.label, "a few seconds ago");
        assert_eq!(m.time.exact.len(), "2026-11-21 14:03:07".len());
    }

    #[test]
    fn outbound_messages_get_time_only() {
        let now = 1_800_000_000_000;
        let m = enrich(message(Direction::Outbound, "hello", now - 5 * 60_000), now);
        assert!(m.sentiment.is_none());
        assert_eq!(m.time.label, "5 minutes ago");
    }

    #[test]
    fn a_clock_ahead_of_ours_reads_as_now() {
        assert_eq!(label(10_000, 9_000), "a few seconds ago");
        assert_eq!(next_change_in(10_000, 9_000), 44_500);
    }
}
