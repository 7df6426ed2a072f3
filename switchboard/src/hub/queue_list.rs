//! What a connection's `queue` frames list about each waiting customer —
//! their first unanswered message, newest messages and opt-out — read from
//! the store by the connection's own task (the router only names the
//! conversations and how far each has got).
//!
//! Each connection remembers the entries it last listed: a `queue` frame
//! sent because one customer wrote again, or because one was taken, reads
//! only the entries whose conversation moved on, not all of them.

use crate::router::Queued;
use crate::store::{MessageLog, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_protocol::{ConversationId, Direction, QueueEntry, Seq, QUEUE_RECENT_MESSAGES};

/// How far back a queue entry's first unanswered message is looked for:
/// a customer who wrote more than this since the last answer is shown from
/// the oldest of these.
const LOOKBACK: Seq = 20;

/// The entries one connection last listed, by conversation, with the head
/// each was read at.
#[derive(Default)]
pub struct QueueList {
    listed: HashMap<ConversationId, (Seq, QueueEntry)>,
}

impl QueueList {
    /// The entries for `queued`, in its order: unchanged ones as last read,
    /// the others read from the store.
    pub async fn entries(
        &mut self,
        store: &Arc<dyn MessageLog>,
        queued: Vec<Queued>,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let mut listed = HashMap::with_capacity(queued.len());
        let mut entries = Vec::with_capacity(queued.len());
        for q in queued {
            let entry = match self.listed.remove(&q.conversation) {
                Some((head, entry)) if head == q.head => entry,
                _ => read_entry(store, &q).await?,
            };
            listed.insert(q.conversation.clone(), (q.head, entry.clone()));
            entries.push(entry);
        }
        self.listed = listed;
        Ok(entries)
    }
}

/// A queued conversation as the `queue` frame lists it: its customer's
/// unanswered messages (those after the last answer by an agent; automatic
/// texts are no answer) read from the store.
async fn read_entry(
    store: &Arc<dyn MessageLog>,
    queued: &Queued,
) -> Result<QueueEntry, StoreError> {
    let opted_out = store
        .conversation(&queued.conversation)
        .await?
        .is_some_and(|r| r.opted_out);
    let recent = store
        .history(
            &queued.conversation,
            queued.head.saturating_sub(LOOKBACK),
            queued.head,
        )
        .await?;
    let answered = recent
        .iter()
        .rposition(|m| m.direction == Direction::Outbound && !m.is_automatic())
        .map_or(0, |i| i + 1);
    let unanswered: Vec<&switchboard_protocol::Message> = recent[answered..]
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    let first = unanswered.first();
    let skip = unanswered.len().saturating_sub(QUEUE_RECENT_MESSAGES);
    Ok(QueueEntry {
        conversation: queued.conversation.clone(),
        waiting_since_ms: first.map_or(queued.since_ms, |m| m.at_ms),
        preview: first.map(|m| m.body.clone()).unwrap_or_default(),
        recent: unanswered[skip..].iter().map(|m| m.body.clone()).collect(),
        opted_out,
    })
}
