//! The supervisor's figures over the last 24 hours or 14 days
//! (`GET /v1/history/stats`): the resolved conversations of the range, each
//! one's figures computed once by the pure rules of
//! [`crate::conversation::figures`] and summed per bucket.
//!
//! Bounded work: only *resolved* conversations count (a conversation shows
//! up in the figures of the bucket it was resolved in, once it is), at most
//! [`MAX_CONVERSATIONS`] of them per answer (the newest; `truncated` says
//! when more were resolved in the range), at most [`MAX_ENTRIES`] entries
//! read of each. A resolved conversation never changes, so its figures are
//! cached in memory by its resolve (number and the newest seq it closed):
//! an answer reads the range's resolves from the history port and only the
//! conversations this instance has not seen yet. The figures are as fresh
//! as the store: a resolve counts as soon as it is stored.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use switchboard_protocol::{ConversationId, Seq};

use crate::conversation::figures::{self, Bucket, ConversationFigures, Span};
use crate::store::history::{Cursor, Resolution};
use crate::store::{History, MessageLog, Result};

/// Most resolved conversations one answer covers (the newest of the range).
pub const MAX_CONVERSATIONS: usize = 5_000;
/// Most entries read of one conversation (its first ones).
pub const MAX_ENTRIES: u64 = 2_000;
/// Conversations read from the store at once, for those not cached yet.
const READS_AT_ONCE: usize = 8;
/// Cached figures older than this are dropped (the longest range, and a day).
const KEEP_MS: u64 = 15 * 24 * 3_600_000;

/// The answer of `/v1/history/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The range asked for.
    pub span: Span,
    /// When it was computed (the newest bucket ends after it).
    pub generated_at_ms: u64,
    /// Oldest first.
    pub buckets: Vec<Bucket>,
    /// Every agent named in any bucket, sorted.
    pub agents: Vec<String>,
    /// More conversations were resolved in the range than
    /// [`MAX_CONVERSATIONS`]: the oldest ones are left out.
    pub truncated: bool,
}

/// Where a cached figure came from: one resolve.
type ResolveKey = (ConversationId, Seq);

/// The figures service: the history port and the log to read, and the
/// figures of conversations already read.
pub struct Stats {
    /// Where each conversation's entries are read.
    log: Arc<dyn MessageLog>,
    /// Where the range's resolves are listed.
    history: Arc<dyn History>,
    /// Per resolve: its time (for eviction and a repeated write of the same
    /// resolve) and its figures (`None`: no conversation, see the rules).
    cache: Mutex<HashMap<ResolveKey, (u64, Option<ConversationFigures>)>>,
}

impl Stats {
    pub fn new(log: Arc<dyn MessageLog>, history: Arc<dyn History>) -> Stats {
        Stats {
            log,
            history,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The figures of `span` at `now_ms`, buckets aligned to the asker's
    /// local time (`offset_minutes` east of UTC).
    pub async fn report(&self, span: Span, offset_minutes: i32, now_ms: u64) -> Result<Report> {
        let edges = span.edges(now_ms, offset_minutes);
        let (start, end) = (edges[0], edges[edges.len() - 1]);
        // Newest first from the range's end; one more than the bound tells
        // whether the range holds more.
        let from_end = Cursor {
            at_ms: end,
            conversation: String::new(),
            seq: 0,
        };
        let listed = self
            .history
            .recent_resolutions(None, Some(&from_end), MAX_CONVERSATIONS + 1)
            .await?;
        let mut in_range: Vec<Resolution> = listed
            .into_iter()
            .filter(|r| (start..end).contains(&r.at_ms))
            .collect();
        // One entry per resolve, as the port promises; kept here too, so a
        // resolve listed twice could never count twice. Newest first stays.
        let mut seen = HashSet::new();
        in_range.retain(|r| seen.insert((r.conversation.clone(), r.upto_seq)));
        let truncated = in_range.len() > MAX_CONVERSATIONS;
        in_range.truncate(MAX_CONVERSATIONS);

        let missing: Vec<Resolution> = {
            let cache = self.lock_cache();
            in_range
                .iter()
                .filter(|r| {
                    cache
                        .get(&(r.conversation.clone(), r.upto_seq))
                        .is_none_or(|(at_ms, _)| *at_ms != r.at_ms)
                })
                .cloned()
                .collect()
        };
        let read: Vec<(Resolution, Option<ConversationFigures>)> = stream::iter(missing)
            .map(|r| async move {
                let figures = self.read(&r).await?;
                Ok::<_, crate::store::StoreError>((r, figures))
            })
            .buffer_unordered(READS_AT_ONCE)
            .try_collect()
            .await?;

        let conversations: Vec<ConversationFigures> = {
            let mut cache = self.lock_cache();
            for (r, figures) in read {
                cache.insert((r.conversation, r.upto_seq), (r.at_ms, figures));
            }
            cache.retain(|_, (at_ms, _)| at_ms.saturating_add(KEEP_MS) >= now_ms);
            in_range
                .iter()
                .filter_map(|r| {
                    let (_, figures) = cache.get(&(r.conversation.clone(), r.upto_seq))?;
                    figures.clone()
                })
                .collect()
        };
        let buckets = figures::buckets(&edges, &conversations);
        let agents: BTreeSet<String> = buckets
            .iter()
            .flat_map(|b| b.per_agent.keys().cloned())
            .collect();
        Ok(Report {
            span,
            generated_at_ms: now_ms,
            buckets,
            agents: agents.into_iter().collect(),
            truncated,
        })
    }

    fn lock_cache(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ResolveKey, (u64, Option<ConversationFigures>)>> {
        // A panic while holding it leaves only a cache: keep using it.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One resolved conversation's figures: the stretch of the customer's
    /// log after their previous resolve, up to this one.
    async fn read(&self, resolution: &Resolution) -> Result<Option<ConversationFigures>> {
        let number = &resolution.conversation;
        let after = self
            .history
            .resolutions(number)
            .await?
            .iter()
            .map(|r| r.upto_seq)
            .filter(|upto| *upto < resolution.upto_seq)
            .max()
            .unwrap_or(0);
        let upto = resolution.upto_seq.min(after.saturating_add(MAX_ENTRIES));
        let entries = self.log.history(number, after, upto).await?;
        Ok(figures::of_conversation(
            &entries,
            resolution.at_ms,
            resolution.by.as_deref(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::{InboundMessage, Reply, RouteRecord, RoutingState};

    const HOUR: u64 = 3_600_000;
    /// 2023-11-14 22:00 UTC, an hour's start.
    const T: u64 = 1_699_999_200_000;

    async fn text(store: &MemoryStore, number: &str, body: &str, at_ms: u64) {
        store
            .append_inbound(InboundMessage {
                message_sid: format!("SM{number}{at_ms}"),
                from: number.into(),
                to: "+15550009999".into(),
                body: body.into(),
                country: None,
                media: Vec::new(),
                at_ms,
            })
            .await
            .expect("inbound");
    }

    async fn reply(store: &MemoryStore, number: &str, agent: &str, at_ms: u64) {
        store
            .append_reply(Reply {
                conversation: number.into(),
                agent: agent.into(),
                client_id: format!("r{number}{at_ms}"),
                body: "on it".into(),
                media: Vec::new(),
                at_ms,
                kind: Default::default(),
            })
            .await
            .expect("reply");
    }

    async fn resolve(store: &MemoryStore, number: &str, upto_seq: Seq, by: &str, at_ms: u64) {
        let route = RouteRecord::Resolved {
            at_ms,
            upto_seq,
            by: Some(by.into()),
        };
        store.save_route(number, &route).await.expect("resolve");
    }

    fn service(store: &Arc<MemoryStore>) -> Stats {
        Stats::new(store.clone(), store.clone())
    }

    #[tokio::test]
    async fn each_conversation_counts_in_the_bucket_it_was_resolved_in() {
        let (store, _outbox) = MemoryStore::new();
        let store = Arc::new(store);
        // Resolved an hour ago: a text, alice's reply 30 s later.
        text(&store, "+1", "my order is late", T - HOUR + 1_000).await;
        reply(&store, "+1", "alice", T - HOUR + 31_000).await;
        resolve(&store, "+1", 2, "alice", T - HOUR + 60_000).await;
        // The same customer again, resolved in the current hour by bob.
        text(&store, "+1", "thanks, all good", T + 1_000).await;
        reply(&store, "+1", "bob", T + 11_000).await;
        resolve(&store, "+1", 4, "bob", T + 20_000).await;
        // Resolved two days ago: outside the last 24 hours.
        text(&store, "+2", "hello", T - 48 * HOUR).await;
        resolve(&store, "+2", 1, "alice", T - 48 * HOUR + 5_000).await;

        let stats = service(&store);
        let report = stats.report(Span::Hours, 0, T + 30_000).await.unwrap();
        assert_eq!(report.buckets.len(), 24);
        assert!(!report.truncated);
        assert_eq!(report.agents, vec!["alice".to_string(), "bob".to_string()]);
        let [.., earlier, current] = report.buckets.as_slice() else {
            panic!("24 buckets")
        };
        assert_eq!(earlier.resolved, 1);
        assert_eq!(earlier.first_response.map(|s| s.median_ms), Some(30_000));
        assert_eq!(earlier.resolve.map(|s| s.median_ms), Some(59_000));
        assert_eq!(current.resolved, 1);
        // Only the second conversation's texts: it starts after the first resolve.
        assert_eq!(current.first_response.map(|s| s.median_ms), Some(10_000));
        assert_eq!(current.per_agent.get("bob"), Some(&1));
        assert_eq!(current.per_agent.get("alice"), None);
        let total: u64 = report.buckets.iter().map(|b| b.resolved).sum();
        assert_eq!(total, 2, "the one two days ago is out of range");

        // By day it is in.
        let days = stats.report(Span::Days, 0, T + 30_000).await.unwrap();
        assert_eq!(days.buckets.iter().map(|b| b.resolved).sum::<u64>(), 3);
    }

    #[tokio::test]
    async fn figures_are_kept_per_resolve_until_older_than_the_longest_range() {
        let (store, _outbox) = MemoryStore::new();
        let store = Arc::new(store);
        text(&store, "+1", "this is terrible", T + 1_000).await;
        resolve(&store, "+1", 1, "alice", T + 2_000).await;
        text(&store, "+2", "hello", T + 3_000).await;
        resolve(&store, "+2", 1, "bob", T + 4_000).await;
        let stats = service(&store);
        let first = stats.report(Span::Hours, 0, T + 5_000).await.unwrap();
        assert_eq!(first.buckets[23].negative_texts, 1);
        assert_eq!(stats.lock_cache().len(), 2);
        // Asked again: the same figures, from the same two entries.
        let again = stats.report(Span::Days, 0, T + 5_000).await.unwrap();
        assert_eq!(again.buckets[13].resolved, 2);
        assert_eq!(again.buckets[13].negative_texts, 1);
        assert_eq!(stats.lock_cache().len(), 2);
        // Figures older than the longest range are dropped.
        stats
            .report(Span::Hours, 0, T + KEEP_MS + HOUR)
            .await
            .unwrap();
        assert!(stats.lock_cache().is_empty());
    }

    #[tokio::test]
    async fn one_answer_covers_at_most_the_newest_bound_of_conversations() {
        let (store, _outbox) = MemoryStore::new();
        let store = Arc::new(store);
        for i in 0..=MAX_CONVERSATIONS as u64 {
            let number = format!("+1{i:06}");
            text(&store, &number, "hi", T + i).await;
            resolve(&store, &number, 1, "alice", T + 10 + i).await;
        }
        let report = service(&store)
            .report(Span::Hours, 0, T + HOUR - 1)
            .await
            .unwrap();
        assert!(report.truncated);
        let total: u64 = report.buckets.iter().map(|b| b.resolved).sum();
        assert_eq!(total, MAX_CONVERSATIONS as u64);
    }
}
