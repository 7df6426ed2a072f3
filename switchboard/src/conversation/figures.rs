//! The supervisor's figures: what one resolved conversation says about the
//! team (how long the customer waited for a first answer, how long until it
//! was resolved, who handled it, how many of the customer's texts were
//! negative), and those figures summed up per time bucket.
//!
//! Pure functions over a conversation's entries (its stretch of the
//! customer's log, as [`crate::store::history`] cuts it: after the previous
//! resolve, up to this one), so every store gives the same numbers; the
//! stats service (`crate::stats`) only reads the data and caches.
//!
//! The rules, one test each in `tests` below:
//!
//! * **texts**: the customer's messages (inbound) and agents' replies
//!   (outbound by an agent). Automatic texts (queue place, after hours:
//!   [`AUTOMATIC_AUTHOR`]) answer nobody; notes and timeline events are
//!   internal. A stretch without any inbound or outbound message is no
//!   conversation (as in the history).
//! * **first response**: from the customer's first text to the first
//!   agent reply after it. None while no agent replied after it (an agent
//!   who wrote first, before the customer, has not answered yet).
//! * **time to resolve**: from the conversation's start to its resolve. It
//!   starts at its first text, or at an agent's reopening when that came
//!   first (a reopened conversation starts when it was reopened).
//! * **handled by**: every agent who replied in it (a transferred
//!   conversation counts for each agent who answered) and the agent who
//!   resolved it.
//! * **negative**: a customer's text with words whose sentiment score is
//!   below 0 (the console's unhappy and devil icons); texts without words
//!   (a picture alone) are not counted as texts for this share.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use switchboard_protocol::{Direction, Message, TimelineEvent, AUTOMATIC_AUTHOR};

/// What one resolved conversation contributes to the figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationFigures {
    /// When it was resolved: the bucket it falls in.
    pub resolved_at_ms: u64,
    /// Customer's first text → first agent reply after it; `None` when no
    /// agent replied after the customer wrote.
    pub first_response_ms: Option<u64>,
    /// Start → resolve.
    pub resolve_ms: u64,
    /// Agents who replied in it or resolved it, sorted.
    pub handled_by: BTreeSet<String>,
    /// The customer's texts with words.
    pub customer_texts: u64,
    /// Of those, the ones scored negative.
    pub negative_texts: u64,
}

/// An agent's reply: outbound, written by an agent (not an automatic text).
fn agent_reply(m: &Message) -> Option<&str> {
    match (m.direction, m.agent.as_deref()) {
        (Direction::Outbound, Some(agent)) if agent != AUTOMATIC_AUTHOR => Some(agent),
        _ => None,
    }
}

/// Whether a customer's text reads negative (the console's unhappy and
/// devil icons); `None` for a text without words.
fn negative(body: &str) -> Option<bool> {
    if !body.chars().any(char::is_alphanumeric) {
        return None;
    }
    Some(switchboard_sentiment::analyze(body).score < 0.0)
}

/// The figures of one conversation: its entries (seq order; the stretch
/// the resolve closed) and its resolve. `None` when the stretch holds no
/// text (see the module docs).
pub fn of_conversation(
    entries: &[Message],
    resolved_at_ms: u64,
    resolved_by: Option<&str>,
) -> Option<ConversationFigures> {
    let is_text = |m: &&Message| matches!(m.direction, Direction::Inbound | Direction::Outbound);
    let first_text = entries.iter().find(is_text)?;
    let reopened = entries.iter().find(|m| {
        matches!(m.event.as_deref(), Some(TimelineEvent::Reopened { .. })) && m.seq < first_text.seq
    });
    let start_ms = reopened.map_or(first_text.at_ms, |r| r.at_ms.min(first_text.at_ms));

    let first_inbound = entries.iter().find(|m| m.direction == Direction::Inbound);
    let first_response_ms = first_inbound.and_then(|asked| {
        entries
            .iter()
            .filter(|m| m.seq > asked.seq)
            .find(|m| agent_reply(m).is_some())
            .map(|answer| answer.at_ms.saturating_sub(asked.at_ms))
    });

    let mut handled_by: BTreeSet<String> = entries
        .iter()
        .filter_map(agent_reply)
        .map(str::to_string)
        .collect();
    handled_by.extend(
        resolved_by
            .filter(|by| *by != AUTOMATIC_AUTHOR)
            .map(str::to_string),
    );

    let scored: Vec<bool> = entries
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .filter_map(|m| negative(&m.body))
        .collect();

    Some(ConversationFigures {
        resolved_at_ms,
        first_response_ms,
        resolve_ms: resolved_at_ms.saturating_sub(start_ms),
        handled_by,
        customer_texts: scored.len() as u64,
        negative_texts: scored.iter().filter(|n| **n).count() as u64,
    })
}

/// The two ranges the supervisor can look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Span {
    /// The last 24 hours, one bucket per hour (the newest is the current,
    /// unfinished hour).
    Hours,
    /// The last 14 days, one bucket per day (local days of the asker's
    /// UTC offset; the newest is today).
    Days,
}

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

impl Span {
    /// `hours` or `days`.
    pub fn parse(text: &str) -> Option<Span> {
        match text {
            "hours" => Some(Span::Hours),
            "days" => Some(Span::Days),
            _ => None,
        }
    }

    fn bucket_ms(self) -> u64 {
        match self {
            Span::Hours => HOUR_MS,
            Span::Days => DAY_MS,
        }
    }

    fn buckets(self) -> u64 {
        match self {
            Span::Hours => 24,
            Span::Days => 14,
        }
    }

    /// The bucket boundaries at `now_ms`: `buckets + 1` instants, oldest
    /// first; the last is the end of the current bucket. Buckets are aligned
    /// to the hour or to local midnight, `offset_minutes` east of UTC.
    pub fn edges(self, now_ms: u64, offset_minutes: i32) -> Vec<u64> {
        let size = self.bucket_ms();
        let offset_ms = i64::from(offset_minutes) * 60_000;
        // Align in local time, then back to UTC instants.
        let local = (now_ms as i64).saturating_add(offset_ms).max(0) as u64;
        let current_start_local = local - local % size;
        let current_start = (current_start_local as i64 - offset_ms).max(0) as u64;
        let first = current_start.saturating_sub((self.buckets() - 1) * size);
        (0..=self.buckets()).map(|i| first + i * size).collect()
    }
}

/// Median and 90th percentile of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spread {
    /// The median (nearest rank).
    pub median_ms: u64,
    /// The 90th percentile (nearest rank).
    pub p90_ms: u64,
    /// How many durations.
    pub count: u64,
}

impl Spread {
    /// Nearest-rank percentiles (a value that occurred, never an
    /// interpolation); `None` for no values.
    pub fn of(mut values: Vec<u64>) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let rank = |p: u64| {
            let n = values.len() as u64;
            // ceil(p/100 · n), 1-based.
            let r = (p * n).div_ceil(100).max(1);
            values[(r - 1) as usize]
        };
        Some(Spread {
            median_ms: rank(50),
            p90_ms: rank(90),
            count: values.len() as u64,
        })
    }
}

/// The figures of one time bucket: the conversations resolved in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Its start (inclusive), ms since the epoch.
    pub start_ms: u64,
    /// Its end (exclusive).
    pub end_ms: u64,
    /// Conversations resolved in it.
    pub resolved: u64,
    /// First-response times of those with an agent's reply; `None`: none.
    pub first_response: Option<Spread>,
    /// Times to resolve; `None` when nothing was resolved in it.
    pub resolve: Option<Spread>,
    /// Conversations each agent handled (replied in or resolved).
    pub per_agent: BTreeMap<String, u64>,
    /// The customers' texts (with words) in those conversations.
    pub customer_texts: u64,
    /// Of those, the ones scored negative.
    pub negative_texts: u64,
}

/// Every bucket of `edges` (see [`Span::edges`]) with the conversations
/// resolved in it; conversations outside the range are left out.
pub fn buckets(edges: &[u64], conversations: &[ConversationFigures]) -> Vec<Bucket> {
    edges
        .windows(2)
        .map(|edge| {
            let (start_ms, end_ms) = (edge[0], edge[1]);
            let inside: Vec<&ConversationFigures> = conversations
                .iter()
                .filter(|c| (start_ms..end_ms).contains(&c.resolved_at_ms))
                .collect();
            let mut per_agent = BTreeMap::new();
            for agent in inside.iter().flat_map(|c| &c.handled_by) {
                *per_agent.entry(agent.clone()).or_insert(0) += 1;
            }
            Bucket {
                start_ms,
                end_ms,
                resolved: inside.len() as u64,
                first_response: Spread::of(
                    inside.iter().filter_map(|c| c.first_response_ms).collect(),
                ),
                resolve: Spread::of(inside.iter().map(|c| c.resolve_ms).collect()),
                per_agent,
                customer_texts: inside.iter().map(|c| c.customer_texts).sum(),
                negative_texts: inside.iter().map(|c| c.negative_texts).sum(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::Seq;

    const T: u64 = 1_700_000_000_000;

    fn entry(
        seq: Seq,
        at_s: u64,
        direction: Direction,
        agent: Option<&str>,
        body: &str,
    ) -> Message {
        Message {
            conversation: "+15550001".into(),
            seq,
            direction,
            body: body.into(),
            at_ms: T + at_s * 1000,
            media: Vec::new(),
            agent: agent.map(str::to_string),
            client_id: None,
            status: None,
            error: None,
            sid: None,
            event: None,
        }
    }

    fn customer(seq: Seq, at_s: u64, body: &str) -> Message {
        entry(seq, at_s, Direction::Inbound, None, body)
    }

    fn reply(seq: Seq, at_s: u64, agent: &str) -> Message {
        entry(seq, at_s, Direction::Outbound, Some(agent), "on it")
    }

    fn event(seq: Seq, at_s: u64, what: TimelineEvent) -> Message {
        let mut m = entry(seq, at_s, Direction::Event, Some("alice"), "");
        m.event = Some(Box::new(what));
        m
    }

    fn at(s: u64) -> u64 {
        T + s * 1000
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn first_response_is_the_customers_first_text_to_the_first_agent_reply() {
        let entries = [
            customer(1, 0, "hi, where is my order"),
            customer(2, 30, "hello?"),
            reply(3, 90, "alice"),
            customer(4, 100, "thanks"),
            reply(5, 500, "alice"),
        ];
        let f = of_conversation(&entries, at(600), Some("alice")).unwrap();
        assert_eq!(f.first_response_ms, Some(90_000));
        assert_eq!(f.resolve_ms, 600_000);
        assert_eq!(f.handled_by, names(&["alice"]));
    }

    #[test]
    fn no_reply_yet_has_no_first_response_but_a_resolve_time() {
        let entries = [customer(1, 0, "hi"), customer(2, 10, "anyone?")];
        let f = of_conversation(&entries, at(60), Some("bob")).unwrap();
        assert_eq!(f.first_response_ms, None);
        assert_eq!(f.resolve_ms, 60_000);
        // Resolving it is handling it.
        assert_eq!(f.handled_by, names(&["bob"]));
    }

    #[test]
    fn automatic_texts_and_notes_answer_nobody() {
        let mut note = entry(3, 20, Direction::Note, Some("alice"), "vip");
        note.body = "checking with the warehouse".into();
        let entries = [
            customer(1, 0, "hi"),
            entry(
                2,
                1,
                Direction::Outbound,
                Some(AUTOMATIC_AUTHOR),
                "you are 3rd in line",
            ),
            note,
            reply(4, 120, "alice"),
        ];
        let f = of_conversation(&entries, at(200), Some("alice")).unwrap();
        assert_eq!(f.first_response_ms, Some(120_000));
        assert_eq!(f.handled_by, names(&["alice"]));
    }

    #[test]
    fn an_agent_writing_first_has_not_answered_the_customer_yet() {
        let entries = [
            reply(1, 0, "alice"),
            customer(2, 50, "yes please"),
            reply(3, 80, "alice"),
        ];
        let f = of_conversation(&entries, at(100), Some("alice")).unwrap();
        assert_eq!(f.first_response_ms, Some(30_000));
        // It started with the agent's text.
        assert_eq!(f.resolve_ms, 100_000);
    }

    #[test]
    fn a_reopened_conversation_starts_when_it_was_reopened() {
        // The stretch after the earlier resolve: that resolve's own event,
        // the reopening, then texts.
        let entries = [
            event(7, 0, TimelineEvent::Resolved { by: "alice".into() }),
            event(8, 1000, TimelineEvent::Reopened { by: "bob".into() }),
            reply(9, 1060, "bob"),
            customer(10, 1100, "ok"),
            reply(11, 1150, "bob"),
        ];
        let f = of_conversation(&entries, at(1200), Some("bob")).unwrap();
        assert_eq!(f.resolve_ms, 200_000);
        assert_eq!(f.first_response_ms, Some(50_000));
        // The earlier resolver's event is not handling this one.
        assert_eq!(f.handled_by, names(&["bob"]));
    }

    #[test]
    fn a_transferred_conversation_counts_for_every_agent_who_answered() {
        let entries = [
            customer(1, 0, "my bill is wrong"),
            reply(2, 40, "alice"),
            event(
                3,
                50,
                TimelineEvent::Transferred {
                    from: "alice".into(),
                    to: Some("bob".into()),
                },
            ),
            reply(4, 70, "bob"),
        ];
        let f = of_conversation(&entries, at(100), Some("bob")).unwrap();
        assert_eq!(f.first_response_ms, Some(40_000));
        assert_eq!(f.handled_by, names(&["alice", "bob"]));
        // Transferred without an answer: only the one who answered (and resolved).
        let silent = [
            customer(1, 0, "hi"),
            event(
                2,
                5,
                TimelineEvent::Transferred {
                    from: "alice".into(),
                    to: Some("bob".into()),
                },
            ),
            reply(3, 70, "bob"),
        ];
        let f = of_conversation(&silent, at(100), Some("bob")).unwrap();
        assert_eq!(f.handled_by, names(&["bob"]));
    }

    #[test]
    fn a_stretch_without_texts_is_no_conversation() {
        let entries = [
            event(5, 0, TimelineEvent::Resolved { by: "alice".into() }),
            event(6, 10, TimelineEvent::Reopened { by: "alice".into() }),
            entry(7, 20, Direction::Note, Some("alice"), "nothing to say"),
        ];
        assert_eq!(of_conversation(&entries, at(30), Some("alice")), None);
        assert_eq!(of_conversation(&[], at(30), Some("alice")), None);
    }

    #[test]
    fn negative_share_counts_the_customers_texts_with_words() {
        let mut picture = customer(3, 20, "");
        picture.media = Vec::new();
        let entries = [
            customer(1, 0, "this is terrible, my package never arrived"),
            customer(2, 10, "thanks so much, great help"),
            picture,
            reply(4, 30, "alice"),
        ];
        let f = of_conversation(&entries, at(40), Some("alice")).unwrap();
        assert_eq!(f.customer_texts, 2);
        assert_eq!(f.negative_texts, 1);
    }

    #[test]
    fn spreads_are_nearest_rank() {
        assert_eq!(Spread::of(vec![]), None);
        let one = Spread::of(vec![7]).unwrap();
        assert_eq!((one.median_ms, one.p90_ms, one.count), (7, 7, 1));
        let ten = Spread::of((1..=10).rev().collect()).unwrap();
        assert_eq!((ten.median_ms, ten.p90_ms), (5, 9));
        let two = Spread::of(vec![100, 1]).unwrap();
        assert_eq!((two.median_ms, two.p90_ms), (1, 100));
    }

    #[test]
    fn hour_buckets_end_with_the_current_hour() {
        let now = 10 * HOUR_MS + 25 * 60_000; // 10:25 UTC on day 0
        let now = now + 30 * DAY_MS;
        let edges = Span::Hours.edges(now, 0);
        assert_eq!(edges.len(), 25);
        assert_eq!(edges[24], 30 * DAY_MS + 11 * HOUR_MS);
        assert_eq!(edges[0], 30 * DAY_MS + 11 * HOUR_MS - 24 * HOUR_MS);
    }

    #[test]
    fn day_buckets_start_at_local_midnight() {
        // 2023-11-14 22:13:20 UTC is 2023-11-15 00:13:20 at UTC+2.
        let edges = Span::Days.edges(T, 120);
        assert_eq!(edges.len(), 15);
        let midnight_local = (T + 2 * HOUR_MS) / DAY_MS * DAY_MS - 2 * HOUR_MS;
        assert_eq!(edges[13], midnight_local);
        assert!(edges[13] <= T && T < edges[14]);
        assert_eq!(edges[0], midnight_local - 13 * DAY_MS);
    }

    #[test]
    fn buckets_hold_the_conversations_resolved_in_them() {
        let edges = [0, 100, 200];
        let conv = |resolved_at_ms, first, resolve, agents: &[&str], neg| ConversationFigures {
            resolved_at_ms,
            first_response_ms: first,
            resolve_ms: resolve,
            handled_by: names(agents),
            customer_texts: 2,
            negative_texts: neg,
        };
        let all = [
            conv(10, Some(5), 50, &["alice"], 1),
            conv(99, None, 70, &["alice", "bob"], 0),
            conv(100, Some(8), 20, &["bob"], 2),
            conv(200, Some(1), 1, &["carol"], 2), // the end is not inside
        ];
        let out = buckets(&edges, &all);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].resolved, 2);
        assert_eq!(out[0].first_response.map(|s| s.count), Some(1));
        assert_eq!(out[0].resolve.map(|s| s.median_ms), Some(50));
        assert_eq!(out[0].per_agent.get("alice"), Some(&2));
        assert_eq!(out[0].per_agent.get("bob"), Some(&1));
        assert_eq!((out[0].customer_texts, out[0].negative_texts), (4, 1));
        assert_eq!(out[1].resolved, 1);
        assert_eq!(out[1].per_agent.get("carol"), None);
    }
}
