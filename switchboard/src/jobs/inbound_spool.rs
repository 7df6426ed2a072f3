//! Customers' messages the store could not take yet.
//!
//! With DynamoDB as the store, an AWS outage must not turn Twilio's webhooks
//! into 5xx: Twilio retries those only when the webhook URL carries a retry
//! policy, so the message would be lost. When the store fails, or does not
//! answer within [`DIRECT_LIMIT`], the webhook writes the validated message
//! to this spool — a tree in the job database, flushed before the 200 — and
//! [`InboundSpool::forward`] appends spooled messages to the store as soon as
//! it answers again, retrying with backoff.
//!
//! * **Order.** While anything is spooled, new messages queue behind it and
//!   the forwarder appends one at a time, oldest first: a customer's
//!   messages reach the store in the order they reached us.
//! * **Once.** Appends are keyed by `MessageSid`, so a message whose
//!   timed-out first append did land after all, or that Twilio retried, is
//!   stored once.
//! * **Scope.** Only a remote store diverts webhooks here. With sled the
//!   spool would sit on the same disk as the store, so a failure is answered
//!   5xx as before; the forwarder still drains whatever an earlier run left.
//!
//! Replies are not spooled: an agent whose reply the store refuses gets an
//! `unavailable` error frame asking to send it again.

use super::queue::{JobQueue, QueueError};
use crate::store::{Appended, InboundMessage, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How long a webhook waits for the store before spooling instead. Well
/// inside Twilio's 15 s webhook timeout, and longer than a healthy
/// DynamoDB append under load.
pub const DIRECT_LIMIT: Duration = Duration::from_secs(3);
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Spooled messages, keyed by arrival (big-endian counter).
const TREE: &str = "inbound_spool";
/// Records this binary cannot read, set aside so they do not block the rest.
const UNREADABLE_TREE: &str = "inbound_spool_unreadable";

/// What became of a webhook's message.
#[derive(Debug)]
pub enum Accepted {
    /// In the store.
    Stored(Appended),
    /// On local disk, waiting for the store.
    Spooled,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("spooled message is unreadable: {0}")]
    Encoding(#[from] serde_json::Error),
}

pub struct InboundSpool {
    queue: JobQueue,
    tree: sled::Tree,
    unreadable: sled::Tree,
    next_key: AtomicU64,
    wake: Notify,
    /// Whether webhooks fall back to the spool (a remote store).
    divert: bool,
}

impl InboundSpool {
    /// Opens the spool in the job database; `divert` says whether webhooks
    /// may use it (see the module docs).
    pub fn open(queue: &JobQueue, divert: bool) -> Result<Arc<Self>, QueueError> {
        let tree = queue.tree(TREE)?;
        let next_key = match tree.last()? {
            Some((key, _)) => key_number(&key)? + 1,
            None => 1,
        };
        Ok(Arc::new(InboundSpool {
            queue: queue.clone(),
            unreadable: queue.tree(UNREADABLE_TREE)?,
            tree,
            next_key: AtomicU64::new(next_key),
            wake: Notify::new(),
            divert,
        }))
    }

    /// Messages waiting for the store.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Stores `message`, or spools it when the store cannot take it now.
    /// Either way it is durable when this returns `Ok`.
    pub async fn accept(
        &self,
        store: &dyn Store,
        message: InboundMessage,
    ) -> Result<Accepted, SpoolError> {
        if !self.divert {
            return Ok(Accepted::Stored(store.append_inbound(message).await?));
        }
        if self.is_empty() {
            let sid = message.message_sid.clone();
            match tokio::time::timeout(DIRECT_LIMIT, store.append_inbound(message.clone())).await {
                Ok(Ok(appended)) => return Ok(Accepted::Stored(appended)),
                Ok(Err(StoreError::Closed)) => return Err(StoreError::Closed.into()),
                Ok(Err(e)) => {
                    tracing::warn!(sid, error = %e, "the store refused an inbound message; spooling it until the store is back")
                }
                Err(_) => {
                    tracing::warn!(sid, limit = ?DIRECT_LIMIT, "the store did not answer in time; spooling the inbound message until it does")
                }
            }
        }
        self.push(&message).await?;
        Ok(Accepted::Spooled)
    }

    async fn push(&self, message: &InboundMessage) -> Result<(), SpoolError> {
        let key = self.next_key.fetch_add(1, Ordering::SeqCst);
        self.tree
            .insert(key.to_be_bytes(), serde_json::to_vec(message)?)
            .map_err(QueueError::from)?;
        self.queue.written();
        self.queue.make_durable().await?;
        tracing::debug!(sid = message.message_sid, key, "inbound message spooled");
        self.wake.notify_one();
        Ok(())
    }

    /// Appends spooled messages to `store`, oldest first, until `stop`.
    /// A message leaves the spool only after the store took it.
    pub async fn forward(self: Arc<Self>, store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
        let mut retry = FIRST_RETRY;
        let mut forwarded = 0u64;
        loop {
            if *stop.borrow() {
                return;
            }
            let (key, message) = match self.oldest() {
                Ok(Some(entry)) => entry,
                Ok(None) => {
                    if forwarded > 0 {
                        tracing::info!(forwarded, "inbound spool drained into the store");
                        forwarded = 0;
                    }
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        changed = stop.changed() => if changed.is_err() { return },
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the inbound spool; retrying");
                    if sleep_or_stop(&mut stop, MAX_RETRY).await {
                        return;
                    }
                    continue;
                }
            };
            let sid = message.message_sid.clone();
            match store.append_inbound(message).await {
                Ok(appended) => {
                    tracing::debug!(
                        sid,
                        seq = appended.seq,
                        duplicate = appended.duplicate,
                        "spooled message stored"
                    );
                    // Not flushed here: if the removal is lost in a crash the
                    // message is appended again and absorbed as a duplicate.
                    if let Err(e) = self.tree.remove(key.to_be_bytes()) {
                        tracing::error!(sid, error = %e, "could not remove a stored message from the inbound spool");
                        if sleep_or_stop(&mut stop, MAX_RETRY).await {
                            return;
                        }
                    }
                    self.queue.written();
                    forwarded += 1;
                    retry = FIRST_RETRY;
                }
                Err(StoreError::Closed) => return,
                Err(e) => {
                    tracing::warn!(sid, waiting = self.len(), error = %e, retry_in = ?retry, "the store still cannot take spooled messages");
                    if sleep_or_stop(&mut stop, retry).await {
                        return;
                    }
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        }
    }

    /// The oldest readable spooled message; unreadable ones are set aside.
    fn oldest(&self) -> Result<Option<(u64, InboundMessage)>, QueueError> {
        while let Some((key, value)) = self.tree.first()? {
            let number = key_number(&key)?;
            match serde_json::from_slice(&value) {
                Ok(message) => return Ok(Some((number, message))),
                Err(e) => {
                    tracing::error!(key = number, error = %e, "a spooled message this version cannot read; set aside in {UNREADABLE_TREE}");
                    self.unreadable.insert(&key, value)?;
                    self.tree.remove(&key)?;
                    self.queue.written();
                }
            }
        }
        Ok(None)
    }
}

fn key_number(key: &[u8]) -> Result<u64, QueueError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| QueueError::Corrupt(format!("inbound spool key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Sleeps for `wait`; true when `stop` fired first.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;

    fn message(i: u32) -> InboundMessage {
        InboundMessage {
            message_sid: format!("SM{i:032x}"),
            from: "+15550000001".into(),
            to: "+15559999999".into(),
            body: format!("message {i}"),
            country: None,
            media: Vec::new(),
            at_ms: 1_700_000_000_000 + u64::from(i),
        }
    }

    #[tokio::test]
    async fn spooled_messages_come_back_oldest_first_across_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let (queue, _arrivals) = JobQueue::open(dir.path(), Durability::Flush).expect("open");
            let spool = InboundSpool::open(&queue, true).expect("spool");
            for i in 1..=3 {
                spool.push(&message(i)).await.expect("push");
            }
        }
        let (queue, _arrivals) = JobQueue::open(dir.path(), Durability::Flush).expect("reopen");
        let spool = InboundSpool::open(&queue, true).expect("spool");
        assert_eq!(spool.len(), 3);
        // New arrivals queue behind what an earlier run left.
        spool.push(&message(4)).await.expect("push");
        let mut bodies = Vec::new();
        while let Some((key, m)) = spool.oldest().expect("oldest") {
            bodies.push(m.body);
            spool.tree.remove(key.to_be_bytes()).expect("remove");
        }
        assert_eq!(bodies, ["message 1", "message 2", "message 3", "message 4"]);
    }

    #[tokio::test]
    async fn an_unreadable_record_is_set_aside_without_blocking_the_rest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (queue, _arrivals) = JobQueue::open(dir.path(), Durability::Flush).expect("open");
        let spool = InboundSpool::open(&queue, true).expect("spool");
        spool
            .tree
            .insert(0u64.to_be_bytes(), &b"{not json"[..])
            .expect("insert");
        spool.push(&message(1)).await.expect("push");
        let (_, oldest) = spool.oldest().expect("oldest").expect("a message");
        assert_eq!(oldest.body, "message 1");
        assert_eq!(spool.unreadable.len(), 1);
        assert_eq!(spool.len(), 1);
    }
}
