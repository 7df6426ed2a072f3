//! Customers' messages the store could not take yet: [`Spooled`], a
//! decorator of a remote store's message log (and of its lifecycle, to
//! drain at close).
//!
//! With DynamoDB as the store, an AWS outage must not turn Twilio's webhooks
//! into 5xx: Twilio retries those only when the webhook URL carries a retry
//! policy, so the message would be lost. `server.rs` therefore wraps the
//! DynamoDB store's message log in [`Spooled`], whose
//! [`MessageLog::accept_inbound`] (what the
//! webhook calls) writes the validated message to this spool when the store
//! fails or does not answer within [`DIRECT_LIMIT`] — a tree in the job
//! database, flushed before the 200. A forwarder task appends spooled
//! messages to the store, oldest first, as soon as it answers again,
//! retrying with [`crate::backoff::SPOOL_FORWARD`]. Every other call goes
//! straight to the store; the other ports are not wrapped at all.
//!
//! * **Order, per customer.** A webhook holds its customer's turn (one of
//!   `TURNS` striped locks) from the direct attempt until the message is
//!   stored or spooled, and while a customer has messages spooled, new ones
//!   queue behind them: a customer's messages reach the store in the order
//!   they reached us.
//! * **Once.** Appends are keyed by `MessageSid`, and cancelling one part-way
//!   is safe (`store/dynamo/append.rs`): a message whose timed-out first
//!   append landed after all, or that Twilio retried, is stored once.
//! * **Outage, not poison.** After a direct attempt fails, webhooks go
//!   straight to the spool (no 3 s wait each) until the forwarder stores
//!   something or [`PROBE_EVERY`] passes; then a webhook tries the store
//!   again. So one message the store keeps refusing does not divert every
//!   new webhook to the spool; but the spool is one queue, forwarded oldest
//!   first, so what is already spooled behind that message (any customer's)
//!   waits for it.
//! * **Leftovers first.** Messages an earlier run left are forwarded from
//!   the start, and new messages of those customers queue behind them.
//! * **Drained at shutdown.** [`Lifecycle::close`] gives the forwarder up to
//!   [`DRAIN_LIMIT`] to empty the spool before closing the store; whatever is
//!   left goes at the next start.
//! * **Scope.** Only a remote store is wrapped. With sled the spool would
//!   sit on the same disk as the store, so a failure is answered 5xx, and
//!   the webhook touches neither the spool nor the job database.
//!
//! Replies are not spooled: an agent whose reply the store refuses gets an
//! `unavailable` error frame asking to send it again.

use super::queue::{JobQueue, QueueError};
use crate::backoff::{sleep_or_stop, SPOOL_FORWARD};
use crate::store::{
    Accepted, Appended, ConversationRecord, InboundMessage, Lifecycle, MessageLog, ReplyOutcome,
    StatusOutcome, StatusUpdate, StoreError,
};
use async_trait::async_trait;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use switchboard_protocol::{Message, Seq};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a webhook waits for the store before spooling instead. Well
/// inside Twilio's 15 s webhook timeout, and longer than a healthy
/// DynamoDB append under load.
pub const DIRECT_LIMIT: Duration = Duration::from_secs(3);
/// After a failed direct attempt, how long webhooks skip the store.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// How long closing the store waits for the spool to drain into it.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// How long closing waits for the forwarder to stop after the drain.
const STOP_LIMIT: Duration = Duration::from_secs(2);
/// Striped per-customer locks: enough that unrelated customers rarely wait
/// for each other, few enough to allocate up front.
const TURNS: usize = 64;

/// Spooled messages, keyed by arrival (big-endian counter).
const TREE: &str = "inbound_spool";
/// Records this binary cannot read, set aside so they do not block the rest.
const UNREADABLE_TREE: &str = "inbound_spool_unreadable";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("spooled message is unreadable: {0}")]
    Encoding(#[from] serde_json::Error),
}

impl From<SpoolError> for StoreError {
    fn from(e: SpoolError) -> Self {
        match e {
            SpoolError::Store(e) => e,
            other => StoreError::Storage(format!("inbound spool: {other}")),
        }
    }
}

/// A remote store's message log with the inbound spool in front of its
/// append path (see the module docs). Built only around DynamoDB, by
/// `server.rs`, which uses it as the message log and lifecycle ports.
pub struct Spooled<S> {
    /// The store itself; every call but `accept_inbound` goes straight to it.
    store: Arc<S>,
    spool: Arc<InboundSpool>,
    /// The forwarder's stop signal and task, taken by `close`.
    forwarder: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
}

impl<S: MessageLog + Lifecycle> Spooled<S> {
    /// Opens the spool in the job database and starts forwarding to
    /// `store` what an earlier run left, then what webhooks spool.
    pub fn open(store: Arc<S>, queue: &JobQueue) -> Result<Spooled<S>, QueueError> {
        let spool = InboundSpool::open(queue)?;
        if !spool.is_empty() {
            tracing::info!(
                waiting = spool.len(),
                "inbound messages spooled by an earlier run go to the store first"
            );
        }
        // Its own stop signal, fired by `close`: webhooks still finishing
        // after the service's stop may spool.
        let (stop, stopped) = watch::channel(false);
        let target: Arc<dyn MessageLog> = store.clone();
        let task = tokio::spawn(spool.clone().forward(target, stopped));
        Ok(Spooled {
            store,
            spool,
            forwarder: Mutex::new(Some((stop, task))),
        })
    }

    /// Messages waiting in the spool.
    pub fn spooled(&self) -> usize {
        self.spool.len()
    }

    /// Gives the spool [`DRAIN_LIMIT`] to reach the store (webhooks may
    /// have spooled until the HTTP server stopped), then stops the
    /// forwarder. An append cut short here is absorbed as a duplicate at
    /// the next start if it landed.
    async fn drain(&self) {
        let forwarder = self
            .forwarder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((stop, mut task)) = forwarder else {
            return;
        };
        let deadline = Instant::now() + DRAIN_LIMIT;
        while !self.spool.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = stop.send(true);
        if tokio::time::timeout(STOP_LIMIT, &mut task).await.is_err() {
            task.abort();
        }
        if !self.spool.is_empty() {
            tracing::warn!(
                waiting = self.spool.len(),
                "inbound messages still spooled at shutdown; they go to the store at the next start"
            );
        }
    }
}

/// How many messages an earlier run left in the spool of `queue`'s
/// database: `server.rs` warns about them when the store is not remote
/// (they wait for the next start with `STORE=dynamodb`).
pub fn leftovers(queue: &JobQueue) -> Result<usize, QueueError> {
    Ok(queue.tree(TREE)?.iter().count())
}

#[async_trait]
impl<S: MessageLog> MessageLog for Spooled<S> {
    async fn append_inbound(&self, message: InboundMessage) -> crate::store::Result<Appended> {
        self.store.append_inbound(message).await
    }

    async fn accept_inbound(&self, message: InboundMessage) -> crate::store::Result<Accepted> {
        Ok(self.spool.accept(self.store.as_ref(), message).await?)
    }

    async fn append_reply(&self, reply: crate::store::Reply) -> crate::store::Result<ReplyOutcome> {
        self.store.append_reply(reply).await
    }

    async fn update_status(&self, update: StatusUpdate) -> crate::store::Result<StatusOutcome> {
        self.store.update_status(update).await
    }

    async fn set_opted_out(&self, conversation: &str, opted_out: bool) -> crate::store::Result<()> {
        self.store.set_opted_out(conversation, opted_out).await
    }

    async fn message(&self, conversation: &str, seq: Seq) -> crate::store::Result<Option<Message>> {
        self.store.message(conversation, seq).await
    }

    async fn history(
        &self,
        conversation: &str,
        after: Seq,
        upto: Seq,
    ) -> crate::store::Result<Vec<Message>> {
        self.store.history(conversation, after, upto).await
    }

    async fn conversation(
        &self,
        conversation: &str,
    ) -> crate::store::Result<Option<ConversationRecord>> {
        self.store.conversation(conversation).await
    }
}

#[async_trait]
impl<S: MessageLog + Lifecycle> Lifecycle for Spooled<S> {
    async fn ready(&self) -> crate::store::Result<()> {
        self.store.ready().await
    }

    /// Drains the spool (bounded), then closes the store.
    async fn close(&self) -> crate::store::Result<()> {
        self.drain().await;
        self.store.close().await
    }
}

/// The spool itself: a tree in the job database plus an in-memory index.
struct InboundSpool {
    queue: JobQueue,
    tree: sled::Tree,
    unreadable: sled::Tree,
    /// Next key, and spooled messages per customer. One lock, so keys are
    /// inserted in the order they are taken.
    index: Mutex<Index>,
    turns: Vec<tokio::sync::Mutex<()>>,
    /// Until when webhooks skip the store (a direct attempt just failed).
    skip_store_until: Mutex<Option<Instant>>,
    wake: Notify,
}

struct Index {
    next_key: u64,
    per_customer: HashMap<String, usize>,
}

impl InboundSpool {
    /// Opens the spool in the job database.
    fn open(queue: &JobQueue) -> Result<Arc<Self>, QueueError> {
        let tree = queue.tree(TREE)?;
        let next_key = match tree.last()? {
            Some((key, _)) => key_number(&key)? + 1,
            None => 1,
        };
        let mut per_customer = HashMap::new();
        for entry in tree.iter() {
            let (_, value) = entry?;
            // Unreadable records are set aside by the forwarder.
            if let Ok(message) = serde_json::from_slice::<InboundMessage>(&value) {
                *per_customer.entry(message.from).or_default() += 1;
            }
        }
        Ok(Arc::new(InboundSpool {
            queue: queue.clone(),
            unreadable: queue.tree(UNREADABLE_TREE)?,
            tree,
            index: Mutex::new(Index {
                next_key,
                per_customer,
            }),
            turns: (0..TURNS).map(|_| tokio::sync::Mutex::new(())).collect(),
            skip_store_until: Mutex::new(None),
            wake: Notify::new(),
        }))
    }

    /// Messages waiting for the store (from the in-memory index: sled's
    /// own `len` walks the whole tree).
    fn len(&self) -> usize {
        self.index
            .lock()
            .map(|index| index.per_customer.values().sum())
            .unwrap_or(0)
    }

    /// From the in-memory index, so async code may ask without touching
    /// the disk (records this version cannot read are not counted).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `message`, or spools it when the store cannot take it now.
    /// Either way it is durable when this returns `Ok`.
    async fn accept(
        self: &Arc<Self>,
        store: &dyn MessageLog,
        message: InboundMessage,
    ) -> Result<Accepted, SpoolError> {
        let _turn = self.turn(&message.from).lock().await;
        if !self.has_spooled(&message.from) && !self.skipping_store() {
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
            self.skip_store_for(PROBE_EVERY);
        }
        self.push(&message).await?;
        Ok(Accepted::Spooled)
    }

    fn turn(&self, customer: &str) -> &tokio::sync::Mutex<()> {
        let mut hasher = DefaultHasher::new();
        customer.hash(&mut hasher);
        &self.turns[(hasher.finish() % TURNS as u64) as usize]
    }

    fn has_spooled(&self, customer: &str) -> bool {
        let index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        index.per_customer.contains_key(customer)
    }

    fn skipping_store(&self) -> bool {
        let until = self
            .skip_store_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        until.is_some_and(|t| Instant::now() < t)
    }

    fn skip_store_for(&self, wait: Duration) {
        *self
            .skip_store_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + wait);
    }

    fn store_answers(&self) {
        *self
            .skip_store_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    async fn push(self: &Arc<Self>, message: &InboundMessage) -> Result<(), SpoolError> {
        let value = serde_json::to_vec(message)?;
        let (spool, customer) = (self.clone(), message.from.clone());
        // sled may wait for the disk: on the blocking pool, like every
        // other sled access from async code.
        let key = blocking(move || {
            let mut index = spool.index.lock().unwrap_or_else(PoisonError::into_inner);
            let key = index.next_key;
            spool.tree.insert(key.to_be_bytes(), value)?;
            index.next_key += 1;
            *index.per_customer.entry(customer).or_default() += 1;
            Ok(key)
        })
        .await?;
        self.queue.written();
        self.queue.make_durable().await?;
        tracing::debug!(sid = message.message_sid, key, "inbound message spooled");
        self.wake.notify_one();
        Ok(())
    }

    /// Forgets a message the store took.
    fn remove(&self, key: u64, customer: &str) -> Result<(), QueueError> {
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        self.tree.remove(key.to_be_bytes())?;
        if let Some(count) = index.per_customer.get_mut(customer) {
            *count -= 1;
            if *count == 0 {
                index.per_customer.remove(customer);
            }
        }
        Ok(())
    }

    /// Appends spooled messages to `store`, oldest first, until `stop`.
    /// A message leaves the spool only after the store took it.
    async fn forward(self: Arc<Self>, store: Arc<dyn MessageLog>, mut stop: watch::Receiver<bool>) {
        let mut retry = SPOOL_FORWARD.delays();
        let mut forwarded = 0u64;
        let mut attempts = 0u32;
        loop {
            if *stop.borrow() {
                return;
            }
            let spool = self.clone();
            let (key, message) = match blocking(move || spool.oldest()).await {
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
                    if sleep_or_stop(&mut stop, SPOOL_FORWARD.max).await {
                        return;
                    }
                    continue;
                }
            };
            let (sid, customer) = (message.message_sid.clone(), message.from.clone());
            match store.append_inbound(message).await {
                Ok(appended) => {
                    self.store_answers();
                    tracing::debug!(
                        sid,
                        seq = appended.seq,
                        duplicate = appended.duplicate,
                        "spooled message stored"
                    );
                    // Not flushed here: if the removal is lost in a crash the
                    // message is appended again and absorbed as a duplicate.
                    let spool = self.clone();
                    let removed = blocking(move || spool.remove(key, &customer)).await;
                    if let Err(e) = removed {
                        tracing::error!(sid, error = %e, "could not remove a stored message from the inbound spool");
                        if sleep_or_stop(&mut stop, SPOOL_FORWARD.max).await {
                            return;
                        }
                    }
                    self.queue.written();
                    forwarded += 1;
                    attempts = 0;
                    retry.reset();
                }
                Err(StoreError::Closed) => return,
                Err(e) => {
                    attempts += 1;
                    let wait = retry.next_delay();
                    tracing::warn!(sid, customer, attempts, waiting = self.len(), error = %e, retry_in = ?wait, "the store still cannot take spooled messages");
                    if sleep_or_stop(&mut stop, wait).await {
                        return;
                    }
                }
            }
        }
    }

    /// The oldest readable spooled message; unreadable ones are set aside.
    fn oldest(&self) -> Result<Option<(u64, InboundMessage)>, QueueError> {
        while let Some((key, value)) = self.tree.first()? {
            let decoded = key_number(&key).and_then(|number| {
                let message = serde_json::from_slice(&value)
                    .map_err(|e| QueueError::Corrupt(e.to_string()))?;
                Ok((number, message))
            });
            match decoded {
                Ok(entry) => return Ok(Some(entry)),
                Err(e) => {
                    tracing::error!(key = ?key, error = %e, "a spooled record this version cannot read; set aside in {UNREADABLE_TREE}");
                    self.unreadable.insert(&key, value)?;
                    self.tree.remove(&key)?;
                    self.queue.written();
                }
            }
        }
        Ok(None)
    }
}

/// Runs sled work on tokio's blocking pool (it may wait for the disk).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
) -> Result<T, QueueError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| QueueError::Storage(format!("spool task failed: {e}")))?
}

fn key_number(key: &[u8]) -> Result<u64, QueueError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| QueueError::Corrupt(format!("inbound spool key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::Durability;

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
            let spool = InboundSpool::open(&queue).expect("spool");
            for i in 1..=3 {
                spool.push(&message(i)).await.expect("push");
            }
        }
        let (queue, _arrivals) = crate::jobs::queue::reopen_in_tests(dir.path()).await;
        let spool = InboundSpool::open(&queue).expect("spool");
        assert_eq!(spool.len(), 3);
        assert!(spool.has_spooled("+15550000001"));
        // New arrivals queue behind what an earlier run left.
        spool.push(&message(4)).await.expect("push");
        let mut bodies = Vec::new();
        while let Some((key, m)) = spool.oldest().expect("oldest") {
            bodies.push(m.body.clone());
            spool.remove(key, &m.from).expect("remove");
        }
        assert_eq!(bodies, ["message 1", "message 2", "message 3", "message 4"]);
        assert!(!spool.has_spooled("+15550000001"));
    }

    #[tokio::test]
    async fn leftovers_reach_the_store_first_and_new_messages_queue_behind_them() {
        use crate::store::memory::MemoryStore;
        let dir = tempfile::tempdir().expect("temp dir");
        let (queue, _arrivals) = JobQueue::open(dir.path(), Durability::Flush).expect("open");
        // An earlier run left two messages of this customer.
        {
            let earlier = InboundSpool::open(&queue).expect("spool");
            for i in 1..=2 {
                earlier.push(&message(i)).await.expect("push");
            }
        }
        let (store, _accepted) = MemoryStore::new();
        let store = Arc::new(store);
        let spooled = Spooled::open(store.clone(), &queue).expect("spooled");
        // Queued behind the leftovers, or stored after them: either way third.
        let accepted = spooled.accept_inbound(message(3)).await.expect("accept");
        // Another customer, with nothing spooled, goes straight to the store.
        let mut other = message(4);
        other.from = "+15550000002".into();
        match spooled.accept_inbound(other).await.expect("accept") {
            Accepted::Stored(appended) => assert_eq!(appended.seq, 1),
            Accepted::Spooled => panic!("a customer with nothing spooled was spooled"),
        }
        // What `close` does before closing the store.
        spooled.drain().await;
        assert_eq!(spooled.spooled(), 0, "the spool drained");
        let bodies: Vec<String> = store
            .history("+15550000001", 0, 10)
            .await
            .expect("history")
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(
            bodies,
            ["message 1", "message 2", "message 3"],
            "accepted as {accepted:?}"
        );
    }

    #[tokio::test]
    async fn an_unreadable_record_is_set_aside_without_blocking_the_rest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (queue, _arrivals) = JobQueue::open(dir.path(), Durability::Flush).expect("open");
        let spool = InboundSpool::open(&queue).expect("spool");
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
