//! The customers' messages this process stored a moment ago, kept in memory
//! so the agent connection that delivers them does not read them back.
//!
//! Every inbound message takes this path: the webhook stores it, the change
//! feed tells the router, the router queues "messages `(a, b]` of this
//! conversation" on an agent's connection, and the connection's task reads
//! them to build the frames. Reading back what was written a millisecond
//! earlier costs a trip to the blocking pool (sled) or a network round trip
//! (DynamoDB) per message, which dominated the CPU spent per message.
//!
//! [`RecentInbound`] decorates the message log: an inbound message appended
//! through it is remembered as stored (`InboundMessage::to_message`, exactly
//! what every backend writes), and `history` / `message` are answered from
//! memory when every message asked for is there; otherwise the store
//! answers, as before. Only inbound messages are kept: they never change
//! after they are stored, while a reply's status moves on and must be read
//! from the store. Only durable messages are kept (the append returned), and
//! a miss is never an error, so the log's contract is unchanged. The memory
//! is bounded: the oldest entries go first.

use super::log::{
    Accepted, Appended, ConversationRecord, InboundMessage, MessageLog, Reply, ReplyOutcome,
    StatusOutcome, StatusUpdate,
};
use super::Result;
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use switchboard_protocol::{Message, Seq};

/// Messages kept by default: a few seconds of traffic at thousands per
/// second (a message is a few hundred bytes).
pub const DEFAULT_CAPACITY: usize = 8192;

/// A message log that remembers the inbound messages it just stored.
pub struct RecentInbound {
    /// The store that has every message.
    inner: Arc<dyn MessageLog>,
    /// The remembered messages.
    recent: Mutex<Recent>,
}

/// Messages by position, and the order they were remembered in.
struct Recent {
    /// The most messages kept.
    capacity: usize,
    by_position: HashMap<(String, Seq), Arc<Message>>,
    /// Oldest first, for eviction.
    order: VecDeque<(String, Seq)>,
}

impl Recent {
    fn remember(&mut self, message: Message) {
        let key = (message.conversation.clone(), message.seq);
        if self
            .by_position
            .insert(key.clone(), Arc::new(message))
            .is_some()
        {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.by_position.remove(&oldest);
            }
        }
    }

    /// Every message of `(after, upto]`, or `None` if any is missing.
    fn range(&self, conversation: &str, after: Seq, upto: Seq) -> Option<Vec<Message>> {
        let mut key = (conversation.to_string(), 0);
        let mut messages = Vec::with_capacity(upto.saturating_sub(after) as usize);
        for seq in after + 1..=upto {
            key.1 = seq;
            messages.push(Message::clone(self.by_position.get(&key)?));
        }
        Some(messages)
    }
}

impl RecentInbound {
    /// Wraps `inner`, remembering at most `capacity` messages.
    pub fn new(inner: Arc<dyn MessageLog>, capacity: usize) -> RecentInbound {
        RecentInbound {
            inner,
            recent: Mutex::new(Recent {
                capacity: capacity.max(1),
                by_position: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    fn remember(&self, message: &InboundMessage, appended: Appended) {
        // A duplicate is the message stored earlier, which may differ from
        // this retry's fields (Twilio resends the same ones, a forger may not).
        if appended.duplicate {
            return;
        }
        if let Ok(mut recent) = self.recent.lock() {
            recent.remember(message.to_message(appended.seq));
        }
    }

    fn lookup(&self, conversation: &str, after: Seq, upto: Seq) -> Option<Vec<Message>> {
        self.recent.lock().ok()?.range(conversation, after, upto)
    }
}

#[async_trait]
impl MessageLog for RecentInbound {
    async fn append_inbound(&self, message: InboundMessage) -> Result<Appended> {
        let appended = self.inner.append_inbound(message.clone()).await?;
        self.remember(&message, appended);
        Ok(appended)
    }

    async fn accept_inbound(&self, message: InboundMessage) -> Result<Accepted> {
        let accepted = self.inner.accept_inbound(message.clone()).await?;
        if let Accepted::Stored(appended) = accepted {
            self.remember(&message, appended);
        }
        Ok(accepted)
    }

    async fn append_reply(&self, reply: Reply) -> Result<ReplyOutcome> {
        self.inner.append_reply(reply).await
    }

    async fn update_status(&self, update: StatusUpdate) -> Result<StatusOutcome> {
        self.inner.update_status(update).await
    }

    async fn set_opted_out(&self, conversation: &str, opted_out: bool) -> Result<()> {
        self.inner.set_opted_out(conversation, opted_out).await
    }

    async fn message(&self, conversation: &str, seq: Seq) -> Result<Option<Message>> {
        if seq > 0 {
            if let Some(mut found) = self.lookup(conversation, seq - 1, seq) {
                return Ok(found.pop());
            }
        }
        self.inner.message(conversation, seq).await
    }

    async fn history(&self, conversation: &str, after: Seq, upto: Seq) -> Result<Vec<Message>> {
        if upto <= after {
            return Ok(Vec::new());
        }
        match self.lookup(conversation, after, upto) {
            Some(messages) => Ok(messages),
            None => self.inner.history(conversation, after, upto).await,
        }
    }

    async fn conversation(&self, conversation: &str) -> Result<Option<ConversationRecord>> {
        self.inner.conversation(conversation).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::StatusTarget;
    use switchboard_protocol::{DeliveryStatus, Direction};

    fn inbound(sid: &str, from: &str, body: &str) -> InboundMessage {
        InboundMessage {
            message_sid: sid.into(),
            from: from.into(),
            to: "+15550000000".into(),
            body: body.into(),
            country: None,
            media: Vec::new(),
            at_ms: 1_000,
        }
    }

    /// The store, the log wrapping it, and the store's outbox receiver
    /// (kept alive so replies are accepted).
    fn wrapped(
        capacity: usize,
    ) -> (
        Arc<MemoryStore>,
        RecentInbound,
        tokio::sync::mpsc::UnboundedReceiver<(String, Seq)>,
    ) {
        let (store, outbox) = MemoryStore::new();
        let store = Arc::new(store);
        let log = RecentInbound::new(store.clone(), capacity);
        (store, log, outbox)
    }

    #[tokio::test]
    async fn what_is_read_from_memory_is_what_the_store_holds() {
        let (store, log, _outbox) = wrapped(16);
        for (i, body) in ["hi", "STOP", "are you there?"].iter().enumerate() {
            log.accept_inbound(inbound(&format!("SM{i}"), "+15551230001", body))
                .await
                .unwrap();
        }
        let remembered = log.history("+15551230001", 0, 3).await.unwrap();
        let stored = store.history("+15551230001", 0, 3).await.unwrap();
        assert_eq!(remembered, stored);
        assert_eq!(
            log.message("+15551230001", 2).await.unwrap(),
            store.message("+15551230001", 2).await.unwrap()
        );
    }

    #[tokio::test]
    async fn a_range_with_a_reply_in_it_is_read_from_the_store_with_its_current_status() {
        let (_store, log, _outbox) = wrapped(16);
        let conversation = "+15551230002";
        log.accept_inbound(inbound("SM1", conversation, "hello"))
            .await
            .unwrap();
        log.append_reply(Reply {
            kind: Default::default(),
            conversation: conversation.into(),
            agent: "alice".into(),
            client_id: "c1".into(),
            body: "hi there".into(),
            media: Vec::new(),
            at_ms: 2_000,
        })
        .await
        .unwrap();
        log.update_status(StatusUpdate {
            target: StatusTarget::Position(conversation.into(), 2),
            status: DeliveryStatus::Delivered,
            error: None,
            twilio_sid: Some("SMreply".into()),
            outbox_done: true,
        })
        .await
        .unwrap();
        let history = log.history(conversation, 0, 2).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].direction, Direction::Outbound);
        assert_eq!(history[1].status, Some(DeliveryStatus::Delivered));
    }

    #[tokio::test]
    async fn a_duplicate_webhook_is_not_remembered_over_the_stored_message() {
        let (_store, log, _outbox) = wrapped(16);
        let conversation = "+15551230003";
        log.accept_inbound(inbound("SM1", conversation, "original"))
            .await
            .unwrap();
        // Same MessageSid, different body: the store keeps the first.
        let again = log
            .accept_inbound(inbound("SM1", conversation, "changed"))
            .await
            .unwrap();
        assert!(matches!(
            again,
            Accepted::Stored(Appended {
                duplicate: true,
                ..
            })
        ));
        let stored = log.message(conversation, 1).await.unwrap().unwrap();
        assert_eq!(stored.body, "original");
    }

    #[tokio::test]
    async fn the_oldest_messages_are_forgotten_and_then_read_from_the_store() {
        let (_store, log, _outbox) = wrapped(2);
        let conversation = "+15551230004";
        for i in 1..=3 {
            log.accept_inbound(inbound(&format!("SM{i}"), conversation, &format!("m{i}")))
                .await
                .unwrap();
        }
        assert!(
            log.lookup(conversation, 0, 1).is_none(),
            "seq 1 was evicted"
        );
        assert!(log.lookup(conversation, 1, 3).is_some());
        let all = log.history(conversation, 0, 3).await.unwrap();
        let bodies: Vec<_> = all.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["m1", "m2", "m3"]);
    }
}
