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

use std::collections::{BTreeSet, HashMap};
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
    log: Arc<dyn MessageLog>,
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
