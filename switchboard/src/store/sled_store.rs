//! The embedded store: sled on local disk.
//!
//! Writes go through the group-commit writer thread
//! ([`super::group_commit`]); reads go straight to sled's trees, on tokio's
//! blocking pool (a read may wait for the disk, which must not stall the
//! runtime's threads). The change feed is the `changes` tree, read up to the
//! durable watermark the writer publishes after each flush — so the router
//! only ever sees what a crash cannot take back.
//!
//! The router's cursor (`meta`) is not flushed on its own: it becomes
//! durable with the store's next flush (the writer's next batch, or close).
//! After a crash the router may therefore start from an older cursor and
//! see changes again; it treats a replayed change as already seen (a
//! resolved route remembers `upto_seq`, delivery ranges only grow).

use super::group_commit::{StoredMessage, Trees, Write, Writer};
use super::keys;
use super::{AgentSettings, Claim, RouteRecord, RouteWrite, RoutingState};
use super::{
    Appended, Change, ChangeId, ConversationRecord, InboundMessage, Reply, ReplyOutcome, Result,
    StatusOutcome, StatusUpdate, Store, StoreError,
};
use crate::durability::Durability;
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::Path;
use switchboard_protocol::{ConversationId, Message, Seq};
use tokio::sync::{mpsc, oneshot, watch};

const CURSOR_KEY: &[u8] = b"router_cursor";
/// Prune the change log once the router is this far past the last prune:
/// pruning writes to the tree the writer's transactions use, so doing it per
/// batch would make them conflict and retry.
const PRUNE_EVERY: u64 = 4096;
/// Writes waiting for the writer before callers are slowed down.
const WRITE_QUEUE: usize = 65_536;

pub struct SledStore {
    trees: Trees,
    /// Conversation → [`RouteRecord`] (JSON); written only by the router.
    routes: sled::Tree,
    /// Agent name → [`AgentSettings`] (JSON); written only by the router.
    agents: sled::Tree,
    /// sled's data file, synced after each routing write with
    /// `DURABILITY=fsync`.
    routing_fsync: Option<std::sync::Arc<std::fs::File>>,
    /// Routing writes made so far (bumped after each insert).
    routing_written: std::sync::atomic::AtomicU64,
    /// Routing writes known durable; the lock serialises routing flushes,
    /// so writes made during one flush share the next instead of each
    /// paying for its own (the router writes routes of many conversations
    /// side by side).
    routing_durable: tokio::sync::Mutex<u64>,
    meta: sled::Tree,
    writes: mpsc::Sender<Write>,
    durable: watch::Receiver<u64>,
    pruned_upto: std::sync::atomic::AtomicU64,
}

/// Options of [`SledStore::open`].
pub struct SledOptions<'a> {
    pub path: &'a Path,
    pub cache_mb: u64,
    pub durability: Durability,
}

impl SledStore {
    /// Opens (or creates) the store and starts its writer thread. The
    /// receiver yields each accepted reply once it is durable, for the
    /// outbox worker.
    pub fn open(
        options: SledOptions<'_>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<(ConversationId, Seq)>)> {
        std::fs::create_dir_all(options.path).map_err(|e| {
            StoreError::Storage(format!("creating {}: {e}", options.path.display()))
        })?;
        let db = sled::Config::new()
            .path(options.path)
            .cache_capacity(options.cache_mb.saturating_mul(1024 * 1024))
            .open()?;
        let trees = Trees {
            messages: db.open_tree("messages")?,
            conversations: db.open_tree("conversations")?,
            sids: db.open_tree("sids")?,
            client_replies: db.open_tree("client_replies")?,
            changes: db.open_tree("changes")?,
            outbox: db.open_tree("outbox")?,
            early_status: db.open_tree("early_status")?,
        };
        let routes = db.open_tree("routes")?;
        let agents = db.open_tree("agents")?;
        let meta = db.open_tree("meta")?;

        let cursor = read_cursor(&meta)?;
        let last_change = match trees.changes.last()? {
            Some((key, _)) => keys::parse_change(&key).unwrap_or(0),
            None => 0,
        };
        let next_change = last_change.max(cursor) + 1;

        // sled flushes with sync_file_range, which does not survive power
        // loss; an explicit fdatasync of its data file after each group
        // flush does.
        let fsync_file = match options.durability {
            Durability::Fsync => Some(
                std::fs::File::open(options.path.join("db"))
                    .map_err(|e| StoreError::Storage(format!("opening sled's data file: {e}")))?,
            ),
            Durability::Flush => None,
        };

        // The router's writes bypass the writer; with `DURABILITY=fsync`
        // they get their own fdatasync (see the `RoutingState` impl).
        let routing_fsync = match &fsync_file {
            Some(file) => Some(std::sync::Arc::new(file.try_clone().map_err(|e| {
                StoreError::Storage(format!("opening sled's data file: {e}"))
            })?)),
            None => None,
        };
        let (durable_tx, durable) = watch::channel(next_change - 1);
        let (outbox_tx, outbox_rx) = mpsc::unbounded_channel();
        let (writes, rx) = mpsc::channel(WRITE_QUEUE);
        let writer = Writer {
            db,
            trees: trees.clone(),
            fsync_file,
            next_change,
            durable: durable_tx,
            outbox_tx,
            cache: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("sled-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Storage(format!("starting the writer thread: {e}")))?;

        Ok((
            SledStore {
                trees,
                routes,
                agents,
                routing_fsync,
                routing_written: std::sync::atomic::AtomicU64::new(0),
                routing_durable: tokio::sync::Mutex::new(0),
                meta,
                writes,
                durable,
                pruned_upto: std::sync::atomic::AtomicU64::new(0),
            },
            outbox_rx,
        ))
    }

    async fn write<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Write) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.writes
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read (or a prune) on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Trees) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let trees = self.trees.clone();
        tokio::task::spawn_blocking(move || read(&trees))
            .await
            .map_err(|e| StoreError::Storage(format!("a store read panicked: {e}")))?
    }
}

fn stored(trees: &Trees, key: &[u8]) -> Result<Option<StoredMessage>> {
    match trees.messages.get(key)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

fn history(trees: &Trees, conversation: &str, after: Seq, upto: Seq) -> Result<Vec<Message>> {
    if upto <= after {
        return Ok(Vec::new());
    }
    let range = keys::message(conversation, after + 1)..=keys::message(conversation, upto);
    trees
        .messages
        .range(range)
        .values()
        .map(|bytes| {
            let bytes = bytes?;
            serde_json::from_slice::<StoredMessage>(&bytes)
                .map(|s| s.message)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect()
}

fn outbox(trees: &Trees) -> Result<Vec<(ConversationId, Seq)>> {
    let mut pending = Vec::new();
    for key in trees.outbox.iter().keys() {
        let key = key?;
        let position =
            keys::parse_message(&key).ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
        pending.push(position);
    }
    // Oldest first across conversations.
    let mut with_time = Vec::with_capacity(pending.len());
    for (conversation, seq) in pending {
        let at = stored(trees, &keys::message(&conversation, seq))?
            .map(|s| s.message.at_ms)
            .unwrap_or(0);
        with_time.push((at, conversation, seq));
    }
    with_time.sort();
    Ok(with_time.into_iter().map(|(_, c, s)| (c, s)).collect())
}

fn changes(
    trees: &Trees,
    after: ChangeId,
    durable: ChangeId,
    limit: usize,
) -> Result<Vec<(ChangeId, Change)>> {
    let range = keys::change(after + 1)..=keys::change(durable);
    let mut changes = Vec::new();
    for entry in trees.changes.range(range).take(limit) {
        let (key, value) = entry?;
        let id =
            keys::parse_change(&key).ok_or_else(|| StoreError::Corrupt("change key".into()))?;
        let change =
            serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        changes.push((id, change));
    }
    Ok(changes)
}

/// Removes changes at or before `upto` (the router is past them; the writer
/// only ever writes ids above the durable watermark, hence above them).
fn prune_changes(trees: &Trees, upto: ChangeId) -> Result<()> {
    let mut prune = sled::Batch::default();
    for key in trees.changes.range(..=keys::change(upto)).keys() {
        prune.remove(key?);
    }
    trees.changes.apply_batch(prune)?;
    Ok(())
}

fn read_cursor(meta: &sled::Tree) -> Result<ChangeId> {
    Ok(match meta.get(CURSOR_KEY)? {
        Some(bytes) => {
            keys::parse_change(&bytes).ok_or_else(|| StoreError::Corrupt("router cursor".into()))?
        }
        None => 0,
    })
}

#[async_trait]
impl Store for SledStore {
    async fn append_inbound(&self, message: InboundMessage) -> Result<Appended> {
        self.write(|tx| Write::Inbound(message, tx)).await
    }

    async fn append_reply(&self, reply: Reply) -> Result<ReplyOutcome> {
        self.write(|tx| Write::Reply(reply, tx)).await
    }

    async fn update_status(&self, update: StatusUpdate) -> Result<StatusOutcome> {
        self.write(|tx| Write::Status(update, tx)).await
    }

    async fn set_opted_out(&self, conversation: &str, opted_out: bool) -> Result<()> {
        let conversation = conversation.to_string();
        self.write(|tx| Write::OptOut(conversation, opted_out, tx))
            .await
    }

    async fn message(&self, conversation: &str, seq: Seq) -> Result<Option<Message>> {
        let key = keys::message(conversation, seq);
        self.blocking(move |trees| Ok(stored(trees, &key)?.map(|s| s.message)))
            .await
    }

    async fn history(&self, conversation: &str, after: Seq, upto: Seq) -> Result<Vec<Message>> {
        let conversation = conversation.to_string();
        self.blocking(move |trees| history(trees, &conversation, after, upto))
            .await
    }

    async fn conversation(&self, conversation: &str) -> Result<Option<ConversationRecord>> {
        let conversation = conversation.to_string();
        self.blocking(
            move |trees| match trees.conversations.get(conversation.as_bytes())? {
                Some(bytes) => serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(e.to_string())),
                None => Ok(None),
            },
        )
        .await
    }

    async fn outbox(&self) -> Result<Vec<(ConversationId, Seq)>> {
        self.blocking(outbox).await
    }

    async fn changes_after(
        &self,
        after: ChangeId,
        limit: usize,
    ) -> Result<Vec<(ChangeId, Change)>> {
        let durable = *self.durable.borrow();
        if durable <= after {
            return Ok(Vec::new());
        }
        self.blocking(move |trees| changes(trees, after, durable, limit))
            .await
    }

    async fn wait_for_changes(&self, after: ChangeId) -> Result<()> {
        let mut durable = self.durable.clone();
        loop {
            if *durable.borrow_and_update() > after {
                return Ok(());
            }
            durable.changed().await.map_err(|_| StoreError::Closed)?;
        }
    }

    async fn load_cursor(&self) -> Result<ChangeId> {
        let meta = self.meta.clone();
        self.blocking(move |_| read_cursor(&meta)).await
    }

    /// Not flushed by itself: see the module docs.
    async fn save_cursor(&self, cursor: ChangeId) -> Result<()> {
        use std::sync::atomic::Ordering;
        // Entries the router is past are never read again.
        let prune = cursor.saturating_sub(self.pruned_upto.load(Ordering::Relaxed)) >= PRUNE_EVERY;
        let meta = self.meta.clone();
        self.blocking(move |trees| {
            meta.insert(CURSOR_KEY, &keys::change(cursor))?;
            if prune {
                prune_changes(trees, cursor)?;
            }
            Ok(())
        })
        .await?;
        if prune {
            self.pruned_upto.store(cursor, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn ready(&self) -> Result<()> {
        self.load_cursor().await.map(|_| ())
    }

    async fn close(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel::<Result<()>>();
        if self.writes.send(Write::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        Ok(())
    }
}

/// Routing state lives in its own trees, written by the router alone (one
/// router per sled store), so nothing is ever refused. Each write is durable
/// before it returns, as `DURABILITY` says: flushed (sled's `flush_async`)
/// and, with `fsync`, the data file synced — off the runtime's threads.
#[async_trait]
impl RoutingState for SledStore {
    async fn save_route(&self, conversation: &str, route: &RouteRecord) -> Result<RouteWrite> {
        let bytes = serde_json::to_vec(route).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (tree, key) = (self.routes.clone(), conversation.as_bytes().to_vec());
        blocking(move || Ok(tree.insert(key, bytes)?)).await?;
        self.make_routing_durable().await?;
        Ok(RouteWrite::Written)
    }

    async fn routes(&self) -> Result<Vec<(ConversationId, RouteRecord)>> {
        let tree = self.routes.clone();
        blocking(move || {
            let mut routes = Vec::new();
            for entry in tree.iter() {
                let (key, value) = entry?;
                let conversation = String::from_utf8(key.to_vec())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let route = serde_json::from_slice(&value)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                routes.push((conversation, route));
            }
            Ok(routes)
        })
        .await
    }

    async fn claim(&self, claim: &Claim) -> Result<RouteWrite> {
        self.save_route(&claim.conversation, &claim.route()).await
    }

    async fn save_agent(&self, agent: &str, settings: AgentSettings) -> Result<()> {
        let bytes =
            serde_json::to_vec(&settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (tree, key) = (self.agents.clone(), agent.as_bytes().to_vec());
        blocking(move || Ok(tree.insert(key, bytes)?)).await?;
        self.make_routing_durable().await
    }

    async fn agents(&self) -> Result<Vec<(String, AgentSettings)>> {
        let tree = self.agents.clone();
        blocking(move || {
            let mut agents = Vec::new();
            for entry in tree.iter() {
                let (key, value) = entry?;
                let name = String::from_utf8(key.to_vec())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let settings = serde_json::from_slice(&value)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                agents.push((name, settings));
            }
            Ok(agents)
        })
        .await
    }
}

impl SledStore {
    /// Makes the routing write just made durable: flushes sled and, with
    /// `DURABILITY=fsync`, syncs its data file — unless a flush that began
    /// after the write already did.
    async fn make_routing_durable(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        let wanted = self.routing_written.fetch_add(1, Ordering::SeqCst) + 1;
        let mut durable = self.routing_durable.lock().await;
        if *durable >= wanted {
            return Ok(());
        }
        let upto = self.routing_written.load(Ordering::SeqCst);
        self.routes.flush_async().await?;
        if let Some(file) = self.routing_fsync.clone() {
            blocking(move || {
                file.sync_data()
                    .map_err(|e| StoreError::Storage(format!("syncing sled's data file: {e}")))
            })
            .await?;
        }
        *durable = upto;
        Ok(())
    }
}

/// Runs blocking sled or file work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    scan: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(scan)
        .await
        .map_err(|e| StoreError::Storage(format!("scan task failed: {e}")))?
}
