//! The embedded store: sled on local disk.
//!
//! Writes go through the group-commit writer thread
//! ([`super::group_commit`]); reads go straight to sled's trees, on tokio's
//! blocking pool (a read may wait for the disk, which must not stall the
//! runtime's threads). The change feed is the shared sled change log
//! ([`super::change_log::ChangeLog`]): the writer stages each batch's
//! changes in the batch's transaction and publishes them after the flush —
//! so the router only ever sees what a crash cannot take back. The router's
//! cursor becomes durable with the store's next flush (the writer's next
//! batch, or close), as the change-feed port allows.

use super::change_log::ChangeLog;
use super::group_commit::{StoredMessage, Trees, Write, Writer};
use super::history::{Closed, Cursor, History, Resolution};
use super::keys;
use super::search::{self, Query};
use super::word_index::{PrefixWalk, WordIndex};
use super::{AgentSettings, CannedList, CannedStore, Claim, RouteRecord, RouteWrite, RoutingState};
use super::{
    Appended, Change, ChangeFeed, ChangeId, ConversationRecord, InboundMessage, Lifecycle,
    MessageLog, PendingReplies, PendingReply, Reply, ReplyOutcome, Result, SendIntent,
    StatusOutcome, StatusUpdate, StoreError,
};
use crate::durability::Durability;
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::Path;
use switchboard_protocol::{CannedReply, ConversationId, Message, Seq};
use tokio::sync::{mpsc, oneshot};

/// Writes waiting for the writer before callers are slowed down.
const WRITE_QUEUE: usize = 65_536;

pub struct SledStore {
    trees: Trees,
    /// Conversation → [`RouteRecord`] (JSON); written only by the router.
    routes: sled::Tree,
    /// Agent name → [`AgentSettings`] (JSON); written only by the router.
    agents: sled::Tree,
    /// [`CANNED_KEY`] → the team's [`CannedList`] (JSON), replaced with a
    /// compare-and-swap (`canned.rs`).
    canned: sled::Tree,
    /// The resolves (`history.rs`), written with their route.
    resolved: ResolvedTrees,
    /// sled's data file, synced after each routing write with
    /// `DURABILITY=fsync`.
    routing_fsync: Option<std::sync::Arc<std::fs::File>>,
    /// The change feed and the router's cursor; the writer appends to it.
    changes: ChangeLog,
    /// The search index, kept by its own thread from the change feed.
    words: WordIndex,
    /// Routing writes made so far (bumped after each insert).
    routing_written: std::sync::atomic::AtomicU64,
    /// Routing writes known durable; the lock serialises routing flushes,
    /// so writes made during one flush share the next instead of each
    /// paying for its own (the router writes routes of many conversations
    /// side by side).
    routing_durable: tokio::sync::Mutex<u64>,
    writes: mpsc::Sender<Write>,
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
            outbox: db.open_tree("outbox")?,
            early_status: db.open_tree("early_status")?,
        };
        let routes = db.open_tree("routes")?;
        let agents = db.open_tree("agents")?;
        let canned = db.open_tree("canned")?;
        let resolved = ResolvedTrees {
            by_number: db.open_tree("resolved_by_number")?,
            by_time: db.open_tree("resolved_by_time")?,
            by_agent: db.open_tree("resolved_by_agent")?,
        };
        let changes = ChangeLog::open(&db)?;
        let words = WordIndex::start(&db, trees.messages.clone(), changes.clone())?;

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
        let (outbox_tx, outbox_rx) = mpsc::unbounded_channel();
        let (writes, rx) = mpsc::channel(WRITE_QUEUE);
        let writer = Writer {
            db,
            trees: trees.clone(),
            fsync_file,
            changes: changes.clone(),
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
                canned,
                resolved,
                routing_fsync,
                changes,
                words,
                routing_written: std::sync::atomic::AtomicU64::new(0),
                routing_durable: tokio::sync::Mutex::new(0),
                writes,
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

    /// Runs a read on tokio's blocking pool.
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

/// The outbox entries, oldest reply first. An entry's value is empty until
/// the outbox records its send intent there.
fn outbox(trees: &Trees) -> Result<Vec<PendingReply>> {
    let mut with_time = Vec::new();
    for entry in trees.outbox.iter() {
        let (key, value) = entry?;
        let (conversation, seq) =
            keys::parse_message(&key).ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
        let intent = if value.is_empty() {
            None
        } else {
            Some(
                serde_json::from_slice::<SendIntent>(&value)
                    .map_err(|e| StoreError::Corrupt(format!("send intent: {e}")))?,
            )
        };
        let at = stored(trees, &key)?.map(|s| s.message.at_ms).unwrap_or(0);
        with_time.push((
            at,
            PendingReply {
                conversation,
                seq,
                intent,
            },
        ));
    }
    // Oldest first across conversations.
    with_time
        .sort_by(|a, b| (a.0, &a.1.conversation, a.1.seq).cmp(&(b.0, &b.1.conversation, b.1.seq)));
    Ok(with_time.into_iter().map(|(_, pending)| pending).collect())
}

#[async_trait]
impl MessageLog for SledStore {
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
}

#[async_trait]
impl PendingReplies for SledStore {
    async fn pending_replies(&self) -> Result<Vec<PendingReply>> {
        self.blocking(outbox).await
    }

    async fn record_intent(&self, conversation: &str, seq: Seq, intent: &SendIntent) -> Result<()> {
        let (conversation, intent) = (conversation.to_string(), intent.clone());
        self.write(|tx| Write::Intent(conversation, seq, intent, tx))
            .await
    }

    /// The `sids` index: inbound MessageSids and our replies' SIDs.
    async fn sid_owner(&self, sid: &str) -> Result<Option<(ConversationId, Seq)>> {
        let sid = sid.as_bytes().to_vec();
        self.blocking(move |trees| match trees.sids.get(sid)? {
            Some(key) => keys::parse_message(&key)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt("sid index entry".into())),
            None => Ok(None),
        })
        .await
    }
}

/// Served by the shared change log.
#[async_trait]
impl ChangeFeed for SledStore {
    async fn changes_after(
        &self,
        after: ChangeId,
        limit: usize,
    ) -> Result<Vec<(ChangeId, Change)>> {
        self.changes.changes_after(after, limit).await
    }

    async fn wait_for_changes(&self, after: ChangeId) -> Result<()> {
        self.changes.wait_for_changes(after).await
    }

    async fn load_cursor(&self) -> Result<ChangeId> {
        self.changes.load_cursor().await
    }

    async fn save_cursor(&self, cursor: ChangeId) -> Result<()> {
        self.changes.save_cursor(cursor).await
    }
}

#[async_trait]
impl Lifecycle for SledStore {
    /// A read of sled (the router's cursor).
    async fn ready(&self) -> Result<()> {
        self.changes.load_cursor().await.map(|_| ())
    }

    async fn close(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel::<Result<()>>();
        if self.writes.send(Write::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.words.stop().await;
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
        match route {
            RouteRecord::Resolved {
                at_ms,
                upto_seq,
                by,
            } => {
                // What it closed, read once here rather than on every
                // Resolved page that lists it (a stretch never changes).
                let (resolved, number, upto) =
                    (self.resolved.clone(), conversation.to_string(), *upto_seq);
                let closed = self
                    .blocking(move |trees| resolved.closed(trees, &number, upto))
                    .await?;
                let resolution = Resolution {
                    conversation: conversation.to_string(),
                    upto_seq: *upto_seq,
                    at_ms: *at_ms,
                    by: by.clone(),
                    closed: Some(closed),
                };
                let resolved = self.resolved.clone();
                blocking(move || resolved.record(&tree, &key, &bytes, &resolution)).await?;
            }
            _ => {
                blocking(move || Ok(tree.insert(key, bytes)?)).await?;
            }
        }
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

/// The key of the one canned-replies value.
const CANNED_KEY: &[u8] = b"list";

#[async_trait]
impl CannedStore for SledStore {
    async fn canned(&self) -> Result<CannedList> {
        let tree = self.canned.clone();
        let bytes = blocking(move || Ok(tree.get(CANNED_KEY)?)).await?;
        match bytes {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
            }
            None => Ok(CannedList::default()),
        }
    }

    async fn replace_canned(&self, expected: u64, replies: &[CannedReply]) -> Result<bool> {
        let next = CannedList {
            version: expected + 1,
            replies: replies.to_vec(),
        };
        let bytes = serde_json::to_vec(&next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tree = self.canned.clone();
        let swapped = blocking(move || {
            // Compare the version, not the bytes: the stored value is ours to
            // decode, and an equal version means nobody else replaced it.
            let current = tree.get(CANNED_KEY)?;
            let version = match &current {
                Some(bytes) => {
                    serde_json::from_slice::<CannedList>(bytes)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?
                        .version
                }
                None => 0,
            };
            if version != expected {
                return Ok(false);
            }
            let swapped = tree.compare_and_swap(CANNED_KEY, current, Some(bytes))?;
            Ok(swapped.is_ok())
        })
        .await?;
        if swapped {
            self.make_routing_durable().await?;
        }
        Ok(swapped)
    }
}

/// The resolves, indexed three ways (`keys.rs` layouts), all written in one
/// transaction with the route that records the resolve.
#[derive(Clone)]
struct ResolvedTrees {
    /// `number 0x00 upto_seq` → [`Resolution`] (JSON): a customer's resolves.
    by_number: sled::Tree,
    /// `newest_first(at, number, upto_seq)` → [`Resolution`]: the team's.
    by_time: sled::Tree,
    /// `agent 0x00 newest_first(at, number, upto_seq)` → [`Resolution`]:
    /// one agent's.
    by_agent: sled::Tree,
}

impl ResolvedTrees {
    /// What a resolve of `conversation` up to `upto` closes: the texts
    /// after the customer's previous resolve.
    fn closed(&self, trees: &Trees, conversation: &str, upto: Seq) -> Result<Closed> {
        let earlier: Vec<Resolution> = self
            .by_number
            .scan_prefix(keys::under_prefix(conversation))
            .values()
            .map(|value| decode_resolution(&value?))
            .collect::<Result<_>>()?;
        let after = Closed::starts_after(&earlier, upto);
        Ok(Closed::of(&history(trees, conversation, after, upto)?))
    }

    /// Writes the `Resolved` route and its resolve; a resolve written again
    /// (same number and `upto_seq`) replaces the earlier entry.
    fn record(
        &self,
        routes: &sled::Tree,
        route_key: &[u8],
        route: &[u8],
        resolution: &Resolution,
    ) -> Result<()> {
        use sled::transaction::ConflictableTransactionError as Conflict;
        use sled::Transactional;
        let value =
            serde_json::to_vec(resolution).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let number_key = keys::message(&resolution.conversation, resolution.upto_seq);
        (routes, &self.by_number, &self.by_time, &self.by_agent)
            .transaction(|(routes, by_number, by_time, by_agent)| {
                routes.insert(route_key, route)?;
                if let Some(old) = by_number.insert(number_key.as_slice(), value.as_slice())? {
                    let old: Resolution = serde_json::from_slice(&old)
                        .map_err(|e| Conflict::Abort(StoreError::Corrupt(e.to_string())))?;
                    by_time.remove(keys::newest_first(
                        old.at_ms,
                        &old.conversation,
                        old.upto_seq,
                    ))?;
                    if let Some(agent) = &old.by {
                        by_agent.remove(keys::under(
                            agent,
                            old.at_ms,
                            &old.conversation,
                            old.upto_seq,
                        ))?;
                    }
                }
                let r = resolution;
                by_time.insert(
                    keys::newest_first(r.at_ms, &r.conversation, r.upto_seq),
                    value.as_slice(),
                )?;
                if let Some(agent) = &r.by {
                    by_agent.insert(
                        keys::under(agent, r.at_ms, &r.conversation, r.upto_seq),
                        value.as_slice(),
                    )?;
                }
                Ok(())
            })
            .map_err(
                |e: sled::transaction::TransactionError<StoreError>| match e {
                    sled::transaction::TransactionError::Abort(e) => e,
                    sled::transaction::TransactionError::Storage(e) => e.into(),
                },
            )
    }
}

/// Reads `limit` values of `tree` in key order from `start` (exclusive
/// when `after`) while keys start with `prefix`.
fn walk<'a>(
    tree: &'a sled::Tree,
    prefix: &[u8],
    start: Vec<u8>,
    exclusive: bool,
) -> impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + 'a {
    use std::ops::Bound;
    let from = if exclusive {
        Bound::Excluded(start)
    } else {
        Bound::Included(start)
    };
    let prefix = prefix.to_vec();
    tree.range::<Vec<u8>, _>((from, Bound::Unbounded))
        .take_while(move |entry| match entry {
            Ok((key, _)) => key.starts_with(&prefix),
            Err(_) => true,
        })
}

fn decode_resolution(bytes: &[u8]) -> Result<Resolution> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("resolve: {e}")))
}

/// The search index and the resolve trees; every read on tokio's blocking
/// pool.
#[async_trait]
impl History for SledStore {
    /// One key range of `resolved_by_number`.
    async fn resolutions(&self, conversation: &str) -> Result<Vec<Resolution>> {
        let tree = self.resolved.by_number.clone();
        let prefix = keys::message(conversation, 0)[..conversation.len() + 1].to_vec();
        blocking(move || {
            tree.scan_prefix(prefix)
                .values()
                .map(|value| decode_resolution(&value?))
                .collect()
        })
        .await
    }

    /// A forward walk of `resolved_by_time` (or the agent's range of
    /// `resolved_by_agent`) from the cursor: `limit` entries read.
    async fn recent_resolutions(
        &self,
        agent: Option<&str>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Resolution>> {
        let position = after.map(|c| keys::newest_first(c.at_ms, &c.conversation, c.seq));
        let exclusive = position.is_some();
        let (tree, prefix) = match agent {
            Some(agent) => (self.resolved.by_agent.clone(), keys::under_prefix(agent)),
            None => (self.resolved.by_time.clone(), Vec::new()),
        };
        let start = [prefix.clone(), position.unwrap_or_default()].concat();
        blocking(move || {
            walk(&tree, &prefix, start, exclusive)
                .take(limit)
                .map(|entry| decode_resolution(&entry?.1))
                .collect()
        })
        .await
    }

    /// Words: a walk of the index entries of every word beginning with the
    /// rarest term, merged newest first from the cursor (`word_index.rs`),
    /// each candidate's body checked against the whole query. Numbers: the
    /// `conversations` keys that contain the digits (one key per customer),
    /// each one's newest message.
    async fn search(
        &self,
        query: &Query,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        // Every message stored before this search is in the index.
        self.words.catch_up().await?;
        let (query, after) = (query.clone(), after.cloned());
        let index = self.words.tree().clone();
        self.blocking(move |trees| {
            let mut hits = Vec::new();
            if let Some(term) = query.rarest_word() {
                let mut walk = PrefixWalk::new(&index, term, after.as_ref())?;
                while let Some((conversation, seq)) = walk.next_message()? {
                    let Some(stored) = stored(trees, &keys::message(&conversation, seq))? else {
                        continue;
                    };
                    if query.words_match(&stored.message) {
                        hits.push(stored.message);
                        if hits.len() >= limit {
                            break;
                        }
                    }
                }
            }
            if query.digits.is_some() {
                for entry in trees.conversations.iter() {
                    let (key, value) = entry?;
                    let conversation = String::from_utf8_lossy(&key).into_owned();
                    if !query.number_matches(&conversation) {
                        continue;
                    }
                    let record: ConversationRecord = serde_json::from_slice(&value)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let key = keys::message(&conversation, record.last_seq);
                    if let Some(stored) = stored(trees, &key)? {
                        hits.push(stored.message);
                    }
                }
            }
            Ok(search::newest_first(hits, after.as_ref(), limit))
        })
        .await
    }
}
