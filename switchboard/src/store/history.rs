//! The history port: resolved conversations stay findable.
//!
//! A customer's number is one log of messages (`MessageLog`); a
//! *conversation* in the agent's sense is a stretch of it that ended with a
//! resolve. Each resolve is recorded (by [`RoutingState::save_route`] with a
//! [`RouteRecord::Resolved`]) as a [`Resolution`]: the number, the newest
//! seq it closed, when and by whom. From those and the log, [`past`] and
//! [`resolved_page`] build [`PastConversation`]s.
//!
//! One semantics for every backend ([`History`]):
//!
//! * every `Resolved` route written is listed, once per `(number, upto_seq)`
//!   (a repeated write of the same resolve is one entry, the newest time);
//! * [`recent_resolutions`](History::recent_resolutions) and
//!   [`search`](History::search) are newest first and paged by a
//!   [`Cursor`]: a page holds the entries strictly after the cursor in that
//!   order, so paging never repeats or skips an entry;
//! * a search query is parsed by [`super::search::Query`]: words (every term
//!   of the query begins a word of the message's body, any case; a term of
//!   digits may also be anywhere in a number in it:
//!   [`super::search::term_matches`]) or a number (digits contained in the
//!   customer's number; one hit per customer: their newest message).
//!
//! [`RoutingState::save_route`]: super::RoutingState::save_route
//! [`RouteRecord::Resolved`]: super::RouteRecord::Resolved

use super::search::Query;
use super::{MessageLog, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_protocol::{ConversationId, Direction, Message, Seq};

/// One resolve, as the store recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The customer's number.
    pub conversation: ConversationId,
    /// The newest seq the resolve closed.
    pub upto_seq: Seq,
    /// When it was resolved.
    pub at_ms: u64,
    /// Who resolved it, when known (records written before this was kept
    /// have none).
    #[serde(default)]
    pub by: Option<String>,
    /// What it closed, summarised when the store recorded it (sled), so a
    /// Resolved page reads no messages; `None` from stores that do not keep
    /// it (memory, DynamoDB) and in records written before it was kept:
    /// then it is read from the log each time ([`Closed::of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Closed>,
}

/// The texts a resolve closed: those in `(the customer's previous resolve,
/// upto_seq]` that the customer and agents wrote (timeline events and notes
/// are not counted). A conversation in the history is a stretch with at
/// least one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// How many texts; 0 when the stretch held only events and notes (the
    /// other fields are then 0 too).
    pub texts: u64,
    pub first_seq: Seq,
    pub last_seq: Seq,
    pub first_at_ms: u64,
    pub last_at_ms: u64,
}

impl Closed {
    /// The summary of a stretch of a customer's log, in seq order.
    pub fn of(messages: &[Message]) -> Closed {
        let texts: Vec<&Message> = messages
            .iter()
            .filter(|m| matches!(m.direction, Direction::Inbound | Direction::Outbound))
            .collect();
        match (texts.first(), texts.last()) {
            (Some(first), Some(last)) => Closed {
                texts: texts.len() as u64,
                first_seq: first.seq,
                last_seq: last.seq,
                first_at_ms: first.at_ms,
                last_at_ms: last.at_ms,
            },
            _ => Closed {
                texts: 0,
                first_seq: 0,
                last_seq: 0,
                first_at_ms: 0,
                last_at_ms: 0,
            },
        }
    }

    /// Where a customer's stretch closed by `upto` begins: after the
    /// newest of their other resolves below it (0: from the start).
    pub fn starts_after(resolutions: &[Resolution], upto: Seq) -> Seq {
        resolutions
            .iter()
            .map(|r| r.upto_seq)
            .filter(|u| *u < upto)
            .max()
            .unwrap_or(0)
    }
}

/// A position in a newest-first listing: the entry last shown. The next
/// page starts strictly after it. Its text form (`at_ms-seq-number`) is
/// what the HTTP API hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at_ms: u64,
    pub conversation: ConversationId,
    /// The message's seq (search) or the resolve's `upto_seq` (resolved).
    pub seq: Seq,
}

impl Cursor {
    /// The sort key of newest-first listings: time descending, then number
    /// and seq ascending (a total order, so pages never overlap).
    pub fn key(&self) -> (std::cmp::Reverse<u64>, &str, Seq) {
        (std::cmp::Reverse(self.at_ms), &self.conversation, self.seq)
    }

    /// The cursor of a message (search hits).
    pub fn of_message(m: &Message) -> Cursor {
        Cursor {
            at_ms: m.at_ms,
            conversation: m.conversation.clone(),
            seq: m.seq,
        }
    }

    /// The cursor of a resolve (the resolved listing).
    pub fn of_resolution(r: &Resolution) -> Cursor {
        Cursor {
            at_ms: r.at_ms,
            conversation: r.conversation.clone(),
            seq: r.upto_seq,
        }
    }

    /// Parses the text form; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Cursor> {
        let mut parts = text.splitn(3, '-');
        let at_ms = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let conversation = parts.next()?.to_string();
        (!conversation.is_empty()).then_some(Cursor {
            at_ms,
            conversation,
            seq,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.at_ms, self.seq, self.conversation)
    }
}

/// A page of a newest-first listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

/// One of a customer's conversations: a stretch of their messages that a
/// resolve closed, or the open one after the last resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PastConversation {
    pub conversation: ConversationId,
    pub first_seq: Seq,
    pub last_seq: Seq,
    /// Time of its first and newest message.
    pub first_at_ms: u64,
    pub last_at_ms: u64,
    /// Messages in it (both directions, automatic texts included).
    pub messages: u64,
    /// When it was resolved; `None` while it is open.
    pub resolved_at_ms: Option<u64>,
    /// Who resolved it (the agent who held it last), when known.
    pub resolved_by: Option<String>,
}

/// The history port; see the module docs for the contract.
#[async_trait]
pub trait History: Send + Sync {
    /// Every resolve of one customer, in any order.
    async fn resolutions(&self, conversation: &str) -> Result<Vec<Resolution>>;

    /// Resolves newest first, after `after`, at most `limit`; only those
    /// by `agent` when given.
    async fn recent_resolutions(
        &self,
        agent: Option<&str>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Resolution>>;

    /// Messages matching `query`, newest first, after `after`, at most
    /// `limit`.
    async fn search(
        &self,
        query: &Query,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Message>>;
}

/// Largest page the HTTP API serves.
pub const MAX_PAGE: usize = 100;

/// One resolve per `upto_seq` (the newest), ordered by `upto_seq`.
fn distinct_by_upto(mut resolutions: Vec<Resolution>) -> Vec<Resolution> {
    resolutions.sort_by_key(|r| (r.upto_seq, std::cmp::Reverse(r.at_ms)));
    resolutions.dedup_by_key(|r| r.upto_seq);
    resolutions
}

/// The stretch `(after, upto]` of a customer's log as a conversation, from
/// the resolve's summary when it has one, else read from the log.
async fn stretch(
    log: &dyn MessageLog,
    conversation: &str,
    after: Seq,
    upto: Seq,
    resolution: Option<&Resolution>,
) -> Result<Option<PastConversation>> {
    if upto <= after {
        return Ok(None);
    }
    let closed = match resolution.and_then(|r| r.closed) {
        Some(closed) => closed,
        None => Closed::of(&log.history(conversation, after, upto).await?),
    };
    // Only what the customer and agents wrote makes a conversation: a
    // stretch of timeline events and notes alone (the `resolved` event after
    // a resolve, a reopen resolved again with nothing said) is none.
    if closed.texts == 0 {
        return Ok(None);
    }
    Ok(Some(PastConversation {
        conversation: conversation.to_string(),
        first_seq: closed.first_seq,
        last_seq: closed.last_seq,
        first_at_ms: closed.first_at_ms,
        last_at_ms: closed.last_at_ms,
        messages: closed.texts,
        resolved_at_ms: resolution.map(|r| r.at_ms),
        resolved_by: resolution.and_then(|r| r.by.clone()),
    }))
}

/// A customer's conversations, newest first: the open one (messages after
/// the last resolve), then each resolved one.
pub async fn past(
    log: &dyn MessageLog,
    history: &dyn History,
    conversation: &str,
) -> Result<Vec<PastConversation>> {
    let Some(record) = log.conversation(conversation).await? else {
        return Ok(Vec::new());
    };
    let resolutions = distinct_by_upto(history.resolutions(conversation).await?);
    let mut out = Vec::with_capacity(resolutions.len() + 1);
    let mut after = 0;
    for resolution in &resolutions {
        let upto = resolution.upto_seq.min(record.last_seq);
        if let Some(past) = stretch(log, conversation, after, upto, Some(resolution)).await? {
            out.push(past);
        }
        after = after.max(upto);
    }
    // What follows the last resolve is an open conversation once the
    // customer or an agent wrote in it: the resolve's own timeline event
    // (and notes) alone are not one.
    if let Some(open) = stretch(log, conversation, after, record.last_seq, None).await? {
        out.push(open);
    }
    out.reverse();
    Ok(out)
}

/// A page of recently resolved conversations (newest resolve first), by
/// `agent` or the whole team.
pub async fn resolved_page(
    log: &dyn MessageLog,
    history: &dyn History,
    agent: Option<&str>,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page<PastConversation>> {
    let limit = limit.clamp(1, MAX_PAGE);
    // One more than asked tells whether there is a next page.
    let mut found = history.recent_resolutions(agent, after, limit + 1).await?;
    let more = found.len() > limit;
    found.truncate(limit);
    let next = more
        .then(|| found.last().map(|r| Cursor::of_resolution(r).to_string()))
        .flatten();
    let mut items = Vec::with_capacity(found.len());
    for resolution in &found {
        // Where this conversation began: after the customer's previous
        // resolve (a resolve with its summary needs neither).
        let after = match resolution.closed {
            Some(_) => 0,
            None => Closed::starts_after(
                &history.resolutions(&resolution.conversation).await?,
                resolution.upto_seq,
            ),
        };
        if let Some(past) = stretch(
            log,
            &resolution.conversation,
            after,
            resolution.upto_seq,
            Some(resolution),
        )
        .await?
        {
            items.push(past);
        }
    }
    Ok(Page { items, next })
}

/// A page of search hits, newest first.
pub async fn search_page(
    history: &dyn History,
    query: &Query,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page<Message>> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut items = history.search(query, after, limit + 1).await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next = more
        .then(|| items.last().map(|m| Cursor::of_message(m).to_string()))
        .flatten();
    Ok(Page { items, next })
}

/// The newest-first page of `resolutions` after `after` (for backends that
/// list them all: the in-memory store, DynamoDB).
pub fn page_of_resolutions(
    resolutions: impl IntoIterator<Item = Resolution>,
    agent: Option<&str>,
    after: Option<&Cursor>,
    limit: usize,
) -> Vec<Resolution> {
    let mut all: Vec<Resolution> = resolutions
        .into_iter()
        .filter(|r| agent.is_none() || r.by.as_deref() == agent)
        .collect();
    // One entry per (number, upto_seq): the newest.
    all.sort_by(|a, b| {
        (&a.conversation, a.upto_seq, std::cmp::Reverse(a.at_ms)).cmp(&(
            &b.conversation,
            b.upto_seq,
            std::cmp::Reverse(b.at_ms),
        ))
    });
    all.dedup_by(|b, a| a.conversation == b.conversation && a.upto_seq == b.upto_seq);
    all.sort_by(|a, b| {
        Cursor::of_resolution(a)
            .key()
            .cmp(&Cursor::of_resolution(b).key())
    });
    all.into_iter()
        .filter(|r| match after {
            Some(after) => Cursor::of_resolution(r).key() > after.key(),
            None => true,
        })
        .take(limit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolution(conversation: &str, upto_seq: Seq, at_ms: u64, by: &str) -> Resolution {
        Resolution {
            conversation: conversation.into(),
            upto_seq,
            at_ms,
            by: Some(by.into()),
            closed: None,
        }
    }

    fn entry(seq: Seq, direction: Direction) -> Message {
        Message {
            conversation: "+1".into(),
            seq,
            direction,
            body: String::new(),
            at_ms: seq * 10,
            media: Vec::new(),
            agent: None,
            client_id: None,
            status: None,
            error: None,
            sid: None,
            event: None,
        }
    }

    #[test]
    fn a_closed_stretch_counts_only_texts_and_starts_after_the_previous_resolve() {
        let stretch = [
            entry(3, Direction::Event),
            entry(4, Direction::Inbound),
            entry(5, Direction::Note),
            entry(6, Direction::Outbound),
            entry(7, Direction::Event),
        ];
        let closed = Closed::of(&stretch);
        assert_eq!((closed.texts, closed.first_seq, closed.last_seq), (2, 4, 6));
        assert_eq!((closed.first_at_ms, closed.last_at_ms), (40, 60));
        assert_eq!(Closed::of(&stretch[..1]).texts, 0);
        let earlier = [resolution("+1", 2, 1, "a"), resolution("+1", 9, 2, "a")];
        assert_eq!(Closed::starts_after(&earlier, 7), 2);
        assert_eq!(Closed::starts_after(&earlier, 2), 0);
        assert_eq!(Closed::starts_after(&earlier, 12), 9);
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            at_ms: 1_700_000_000_000,
            conversation: "+15550001".into(),
            seq: 7,
        };
        assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        assert_eq!(Cursor::parse("12-x-+1555"), None);
        assert_eq!(Cursor::parse("12-3-"), None);
        assert_eq!(Cursor::parse(""), None);
    }

    #[test]
    fn resolutions_page_newest_first_without_repeats_or_gaps() {
        let all = vec![
            resolution("+1", 2, 10, "alice"),
            resolution("+2", 5, 30, "bob"),
            resolution("+1", 6, 30, "alice"),
            // The same resolve written twice: one entry, the newest time.
            resolution("+3", 1, 20, "alice"),
            resolution("+3", 1, 25, "alice"),
        ];
        let first = page_of_resolutions(all.clone(), None, None, 2);
        assert_eq!(
            first,
            vec![
                resolution("+1", 6, 30, "alice"),
                resolution("+2", 5, 30, "bob")
            ]
        );
        let cursor = Cursor::of_resolution(&first[1]);
        let second = page_of_resolutions(all.clone(), None, Some(&cursor), 10);
        assert_eq!(
            second,
            vec![
                resolution("+3", 1, 25, "alice"),
                resolution("+1", 2, 10, "alice")
            ]
        );
        let bobs = page_of_resolutions(all, Some("bob"), None, 10);
        assert_eq!(bobs, vec![resolution("+2", 5, 30, "bob")]);
    }
}
