//! The DynamoDB store (`STORE=dynamodb`): DynamoDB is the system of record,
//! DynamoDB Streams the change feed across instances, and `DATA_DIR` only
//! this instance's local view of it.
//!
//! It keeps the contract of every store port like the sled store, for
//! any number of instances on the same tables: a write returns once
//! DynamoDB accepted it (an AWS failure is a [`StoreError`]; the webhook
//! then falls back to the inbound spool, `jobs/inbound_spool.rs`); seqs are
//! gap-free and claimed with
//! conditional writes (`append.rs`); MessageSid and reply client ids are
//! stored at most once; statuses only move forward (`status.rs`); exactly one
//! claimant wins an assignment (`routes.rs`).
//!
//! # Tables
//!
//! Created by `switchboard migrate` from `migrations/*.json`, names prefixed
//! with `DYNAMODB_TABLE_PREFIX`. On-demand billing.
//!
//! | table | key | attributes | stream |
//! |---|---|---|---|
//! | `messages` | `conversation` (S, the customer's number) + `seq` (N) | `direction` (`inbound`, `outbound`, `note`, `event`), `body`, `at_ms`, `event` (JSON: a timeline event's details), `media` (JSON), `agent`, `client_id`, `status`, `status_rank`, `error` (JSON), `twilio_sid`; bookkeeping: `dedupe` (its lookup id), `attempt`, `opt_change`, `to`, `country`; `outbox` = `pending` while a reply is unsettled (sparse GSI `outbox`: `outbox` + `at_ms`, keys only) | NEW_AND_OLD_IMAGES |
//! | `conversations` | `conversation` (S) | `last_seq` (every message up to it is in `lookups`), `to`, `country`, `opted_out` | NEW_AND_OLD_IMAGES |
//! | `lookups` | `id` (S) | `sid:<Twilio SID>` and `reply:<agent>/<client_id>` → `conversation`, `seq`; `early:<SID>` → `status`, `status_rank`, `error`; `job:<job key>` → `state`, `holder`, `until_ms` (which instance runs a job, `job_claims.rs`); `intent:<conversation>/<seq>` → `from`, `at_ms` (the outbox's send intent, written once before the first POST; read only for replies still in the outbox, deleted when the reply settles) | — |
//! | `routes` | `conversation` (S) | `route` (JSON [`RouteRecord`](crate::store::RouteRecord)), `owner` while assigned, `resolutions` (list of JSON [`Resolution`](crate::store::history::Resolution)s, appended by each resolve: `history.rs`); rows `agent#<name>` hold `agent_settings` | — |
//! | `meta` | `id` (S) | `store_format` → `version`, `applied_by`, `applied_at_ms`; `lease#router` → `holder`, `epoch`, `beat` (the router lease, `store/fence.rs`); `checkpoint#<stream ARN>\|<shard>` → `checkpoint` (JSON: a shard's checkpoint the router has processed, `checkpoints.rs`); `canned` → `replies` (JSON), `version` (the team's canned replies, replaced with a version condition, `canned.rs`) | — |
//!
//! # Change feed
//!
//! `stream_reader.rs` reads both streams (all shards, parents before
//! children) and appends the resulting changes, a mirror of the messages and
//! each shard's checkpoint to a local sled log in `DATA_DIR/dynamodb-view`
//! (`view.rs`) in one flushed transaction. That log is the same
//! [`ChangeLog`](crate::store::change_log::ChangeLog) the sled store
//! writes, and the router reads it the same way; message reads are served from the mirror
//! when it has them and from DynamoDB otherwise. Once the router's saved
//! cursor is past a page's changes, that shard's checkpoint is also stored
//! in `meta` (`checkpoints.rs`, fenced), and the reader starts from it when
//! it is further on than the local one: an instance with an empty
//! `DATA_DIR` (a new leader, an ephemeral disk) reads only what the router
//! had not processed, and whatever lies between is replayed and absorbed
//! (the router treats seen as seen; agents resume from their own points;
//! resolved conversations stay closed by
//! [`RouteRecord::Resolved`](crate::store::RouteRecord::Resolved)'s
//! `upto_seq`). A shard with no checkpoint anywhere starts at the oldest
//! record the streams keep (24 hours), so nothing written while no
//! instance ran is skipped.
//!
//! # Fencing
//!
//! Every routing write (`routes.rs`), the outbox's send intent and the
//! guard before its recorded result (`status.rs`), and the checkpoints are
//! fenced by the router lease (`fenced.rs`): refused with
//! [`StoreError::Fenced`] unless this instance holds the lease at its epoch.

mod append;
mod canned;
mod checkpoints;
mod error;
mod fenced;
mod history;
mod items;
mod job_claims;
mod routes;
pub mod schema;
mod status;
mod stream_reader;
pub mod usage;
mod view;

use super::fence::FenceCell;
use super::{
    Appended as StoreAppended, Change, ChangeFeed, ChangeId, ConversationRecord, InboundMessage,
    Lifecycle, MessageLog, PendingReplies, PendingReply, Reply, ReplyOutcome, Result, SendIntent,
    StatusOutcome, StatusUpdate, StoreError,
};
use append::{Appended, Draft};
use async_trait::async_trait;
use items::{attr, s};
use schema::MigrateError;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use stream_reader::{Source, StreamReader};
use switchboard_protocol::{ConversationId, Message, Seq};
use tokio::sync::{mpsc, watch};
use view::LocalView;

/// Conversations whose appends this process serializes independently.
const LOCK_STRIPES: usize = 1024;
/// Conversation seqs remembered before the memory starts over.
const MAX_CACHED: usize = 100_000;
/// How long the DynamoDB client may take per attempt and per call: a
/// webhook must get its answer before Twilio's 15 s timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_secs(12);

/// Options of [`DynamoStore::open`].
pub struct DynamoOptions<'a> {
    /// Where the local view (change log, checkpoints, mirror) lives.
    pub data_dir: &'a Path,
    pub table_prefix: &'a str,
    /// Pause between polls of an idle stream.
    pub stream_poll: Duration,
    pub cache_mb: u64,
    /// The router lease's fence, which every routing and outbox write is
    /// conditioned on (`fenced.rs`); set by the lease while this instance
    /// leads.
    pub fence: FenceCell,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Tables(#[from] MigrateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Tables {
    messages: String,
    conversations: String,
    lookups: String,
    routes: String,
    /// Holds the router lease item the fenced writes check.
    meta: String,
}

pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    tables: Tables,
    /// The change log, checkpoints and message mirror in `DATA_DIR`.
    view: LocalView,
    locks: Vec<tokio::sync::Mutex<()>>,
    /// The last seq this process completed per conversation.
    last_seqs: Mutex<HashMap<ConversationId, Seq>>,
    outbox_tx: mpsc::UnboundedSender<(ConversationId, Seq)>,
    /// What the Streams reader is built from, each time it starts.
    streams: aws_sdk_dynamodbstreams::Client,
    stream_poll: Duration,
    /// The running Streams reader and its stop signal: only the leader runs
    /// one (`start_stream_reader`, `stop_stream_reader`).
    reader: Mutex<Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>>,
    /// The router's saved cursor, for the checkpointer (`checkpoints.rs`).
    saved_cursor: watch::Sender<ChangeId>,
    /// Stops the checkpointer (after its last write) at close.
    stop_checkpointer: watch::Sender<bool>,
    /// The checkpointer's task, awaited (bounded) at close.
    checkpointer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
    /// The leader's fence and what checking it takes (`fenced.rs`).
    fencing: fenced::Fencing,
    /// This process, as the holder of job claims (`job_claims.rs`).
    instance: String,
}

/// The key `/readyz` reads: never a conversation (not a phone number).
const READY_PROBE: &str = "#readyz";

impl DynamoStore {
    /// Connects through the standard AWS chain, checks the tables (refusing
    /// to start when `switchboard migrate` has not run) and opens the local
    /// view in `data_dir`. The Streams reader that fills the view's change
    /// feed runs only on the leader: [`DynamoStore::start_stream_reader`].
    /// The receiver yields each accepted reply once it is stored, for the
    /// outbox worker.
    pub async fn open(
        options: DynamoOptions<'_>,
    ) -> std::result::Result<(Self, mpsc::UnboundedReceiver<(ConversationId, Seq)>), OpenError>
    {
        let conf = switchboard_cloud::aws::sdk_config().await;
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(switchboard_cloud::aws::CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(CALL_TIMEOUT)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&conf)
                .timeout_config(timeouts)
                .interceptor(usage::Usage { client: "store" })
                .build(),
        );
        let streams = aws_sdk_dynamodbstreams::Client::from_conf(
            aws_sdk_dynamodbstreams::config::Builder::from(&conf)
                .interceptor(usage::Usage { client: "streams" })
                .build(),
        );
        let prefix = options.table_prefix;
        schema::verify(&client, prefix).await?;
        let tables = Tables {
            messages: schema::table_name(prefix, schema::MESSAGES),
            conversations: schema::table_name(prefix, schema::CONVERSATIONS),
            lookups: schema::table_name(prefix, schema::LOOKUPS),
            routes: schema::table_name(prefix, schema::ROUTES),
            meta: schema::table_name(prefix, schema::META),
        };
        // Its own directory: the sled store's files may share DATA_DIR.
        let view = LocalView::open(&options.data_dir.join("dynamodb-view"), options.cache_mb)?;
        let fencing = fenced::Fencing {
            client: client.clone(),
            meta: tables.meta.clone(),
            cell: options.fence,
        };
        let cursor = view.changes().load_cursor().await?;
        let (saved_cursor, cursor) = watch::channel(cursor);
        let (stop_checkpointer, stop) = watch::channel(false);
        let checkpointer = checkpoints::Checkpointer {
            fencing: fencing.clone(),
            view: view.clone(),
        };
        let checkpointer = tokio::spawn(checkpointer.run(cursor, stop));
        let (outbox_tx, outbox_rx) = mpsc::unbounded_channel();
        Ok((
            DynamoStore {
                client,
                tables,
                view,
                locks: (0..LOCK_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
                last_seqs: Mutex::new(HashMap::new()),
                outbox_tx,
                streams,
                stream_poll: options.stream_poll,
                reader: Mutex::new(None),
                closed: AtomicBool::new(false),
                fencing,
                instance: format!("{:016x}", rand::random::<u64>()),
                saved_cursor,
                stop_checkpointer,
                checkpointer: Mutex::new(Some(checkpointer)),
            },
            outbox_rx,
        ))
    }

    /// Starts the Streams reader (the leader's duty): it copies both tables'
    /// stream records into the local change feed from the checkpoints on.
    /// Does nothing while one runs.
    pub fn start_stream_reader(&self) {
        let Ok(mut running) = self.reader.lock() else {
            return;
        };
        if running.is_some() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let reader = StreamReader {
            dynamo: self.client.clone(),
            streams: self.streams.clone(),
            view: self.view.clone(),
            poll: self.stream_poll,
            tables: vec![
                (Source::Messages, self.tables.messages.clone()),
                (Source::Conversations, self.tables.conversations.clone()),
            ],
            meta: self.tables.meta.clone(),
        };
        *running = Some((stop, tokio::spawn(reader.run(stopped))));
    }

    /// Stops the Streams reader, if it runs, and waits for it (bounded).
    pub async fn stop_stream_reader(&self) {
        let running = self.reader.lock().ok().and_then(|mut r| r.take());
        if let Some((stop, reader)) = running {
            let _ = stop.send(true);
            if tokio::time::timeout(CALL_TIMEOUT, reader).await.is_err() {
                tracing::warn!("the stream reader did not stop in time");
            }
        }
    }

    async fn lock(&self, conversation: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        conversation.hash(&mut hasher);
        let stripe = (hasher.finish() as usize) % self.locks.len();
        self.locks[stripe].lock().await
    }

    fn cached(&self, conversation: &str) -> Option<Seq> {
        self.last_seqs
            .lock()
            .ok()
            .and_then(|seqs| seqs.get(conversation).copied())
    }

    fn remember(&self, conversation: &str, seq: Seq) {
        if let Ok(mut seqs) = self.last_seqs.lock() {
            if seqs.len() >= MAX_CACHED {
                seqs.clear();
            }
            let known = seqs.entry(conversation.to_string()).or_insert(0);
            *known = (*known).max(seq);
        }
    }

    fn forget(&self, conversation: &str) {
        if let Ok(mut seqs) = self.last_seqs.lock() {
            seqs.remove(conversation);
        }
    }

    /// Runs a read of the local view (sled) on tokio's blocking pool, off
    /// the runtime's threads.
    async fn local<T: Send + 'static>(
        &self,
        work: impl FnOnce(&LocalView) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let view = self.view.clone();
        tokio::task::spawn_blocking(move || work(&view))
            .await
            .map_err(|e| StoreError::Storage(format!("a local view read panicked: {e}")))?
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    /// Messages `(after, upto]` straight from DynamoDB.
    async fn query_history(
        &self,
        conversation: &str,
        after: Seq,
        upto: Seq,
    ) -> Result<Vec<Message>> {
        let table = &self.tables.messages;
        let mut pages = self
            .client
            .query()
            .table_name(table)
            .key_condition_expression("#c = :c AND #seq BETWEEN :from AND :to")
            .expression_attribute_names("#c", attr::CONVERSATION)
            .expression_attribute_names("#seq", attr::SEQ)
            .expression_attribute_values(":c", s(conversation))
            .expression_attribute_values(":from", items::n(after + 1))
            .expression_attribute_values(":to", items::n(upto))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut messages = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| error::dynamo("Query", table, &e))?;
            messages.push(items::message_from_item(&item)?);
        }
        Ok(messages)
    }
}

#[async_trait]
impl MessageLog for DynamoStore {
    async fn append_inbound(&self, message: InboundMessage) -> Result<StoreAppended> {
        self.check_open()?;
        match self.append(Draft::Inbound(message)).await? {
            Appended::New(seq) => Ok(StoreAppended {
                seq,
                duplicate: false,
            }),
            Appended::Duplicate(seq) => Ok(StoreAppended {
                seq,
                duplicate: true,
            }),
            other => Err(StoreError::Storage(format!(
                "unexpected outcome {other:?} for an inbound message"
            ))),
        }
    }

    async fn append_reply(&self, reply: Reply) -> Result<ReplyOutcome> {
        self.check_open()?;
        let conversation = reply.conversation.clone();
        let sends = reply.sends();
        Ok(match self.append(Draft::Reply(reply)).await? {
            Appended::New(seq) => {
                if sends {
                    let _ = self.outbox_tx.send((conversation, seq));
                }
                ReplyOutcome::Accepted {
                    seq,
                    duplicate: false,
                }
            }
            Appended::Duplicate(seq) => ReplyOutcome::Accepted {
                seq,
                duplicate: true,
            },
            Appended::Refused(refusal) => refusal.into(),
        })
    }

    async fn update_status(&self, update: StatusUpdate) -> Result<StatusOutcome> {
        self.check_open()?;
        self.update_status_impl(update).await
    }

    async fn set_opted_out(&self, conversation: &str, opted_out: bool) -> Result<()> {
        self.check_open()?;
        self.set_opted_out_impl(conversation, opted_out).await
    }

    async fn message(&self, conversation: &str, seq: Seq) -> Result<Option<Message>> {
        let key = conversation.to_string();
        let mirrored = self.local(move |view| view.message(&key, seq)).await?;
        if let Some(message) = mirrored {
            return Ok(Some(message));
        }
        match self.message_item(conversation, seq).await? {
            Some(item) => items::message_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn history(&self, conversation: &str, after: Seq, upto: Seq) -> Result<Vec<Message>> {
        let key = conversation.to_string();
        let mirrored = self
            .local(move |view| view.history(&key, after, upto))
            .await?;
        if let Some(messages) = mirrored {
            return Ok(messages);
        }
        self.query_history(conversation, after, upto).await
    }

    async fn conversation(&self, conversation: &str) -> Result<Option<ConversationRecord>> {
        let head = self.current_head(conversation).await?;
        Ok(head.exists.then(|| ConversationRecord {
            to: head.to.unwrap_or_default(),
            country: head.country,
            opted_out: head.opted_out,
            last_seq: head.last_seq,
        }))
    }
}

#[async_trait]
impl PendingReplies for DynamoStore {
    async fn pending_replies(&self) -> Result<Vec<PendingReply>> {
        let table = &self.tables.messages;
        // The index is sorted by `at_ms`: oldest first.
        let mut pages = self
            .client
            .query()
            .table_name(table)
            .index_name(schema::OUTBOX_INDEX)
            .key_condition_expression("#outbox = :pending")
            .expression_attribute_names("#outbox", attr::OUTBOX)
            .expression_attribute_values(":pending", s(items::OUTBOX_PENDING))
            .into_paginator()
            .items()
            .send();
        let mut positions = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| error::dynamo("Query", table, &e))?;
            if let (Some(conversation), Some(seq)) = (
                items::get_s(&item, attr::CONVERSATION),
                items::get_n(&item, attr::SEQ),
            ) {
                positions.push((conversation.to_string(), seq));
            }
        }
        let mut intents = self.intents(&positions).await?;
        Ok(positions
            .into_iter()
            .map(|(conversation, seq)| PendingReply {
                intent: intents.remove(&items::intent_id(&conversation, seq)),
                conversation,
                seq,
            })
            .collect())
    }

    /// A conditional put: the first intent stays. Not checked against the
    /// outbox: an intent of a settled reply is never read. Fenced by the
    /// router lease (`fenced.rs`): an instance that lost leadership gets
    /// [`StoreError::Fenced`], so it does not go on to POST.
    async fn record_intent(&self, conversation: &str, seq: Seq, intent: &SendIntent) -> Result<()> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        self.check_open()?;
        let table = &self.tables.lookups;
        let put = Put::builder()
            .table_name(table)
            .item(attr::ID, s(items::intent_id(conversation, seq)))
            .item(attr::FROM, s(&intent.from))
            .item(attr::AT_MS, items::n(intent.at_ms))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::ID)
            .build()
            .map_err(|e| StoreError::Storage(format!("building a send intent: {e}")))?;
        let put = TransactWriteItem::builder().put(put).build();
        // The write's own condition failing means an intent is there already.
        self.fenced("TransactWriteItems", table, put).await?;
        Ok(())
    }

    async fn sid_owner(&self, sid: &str) -> Result<Option<(ConversationId, Seq)>> {
        self.lookup(&items::sid_id(sid)).await
    }
}

/// Keys per BatchGetItem call (DynamoDB's limit).
const BATCH_GET_KEYS: usize = 100;
/// Rounds of retrying the keys DynamoDB left unprocessed (throttling).
const BATCH_GET_ROUNDS: usize = 10;

impl DynamoStore {
    /// The send intents recorded for these replies, by lookup id: a few
    /// BatchGetItem calls, so a long outbox does not hold up the start.
    async fn intents(&self, positions: &[(String, Seq)]) -> Result<HashMap<String, SendIntent>> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let table = &self.tables.lookups;
        let mut found = HashMap::new();
        for chunk in positions.chunks(BATCH_GET_KEYS) {
            let keys = chunk
                .iter()
                .map(|(conversation, seq)| {
                    HashMap::from([(
                        attr::ID.to_string(),
                        s(items::intent_id(conversation, *seq)),
                    )])
                })
                .collect();
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Storage(format!("BatchGetItem on {table}: {e}")))?;
            for round in 0.. {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table.clone(), request)
                    .send()
                    .await
                    .map_err(|e| error::dynamo("BatchGetItem", table, &e))?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(table)
                    .unwrap_or_default()
                {
                    if let (Some(id), Some(from), Some(at_ms)) = (
                        items::get_s(&item, attr::ID),
                        items::get_s(&item, attr::FROM),
                        items::get_n(&item, attr::AT_MS),
                    ) {
                        let intent = SendIntent {
                            from: from.to_string(),
                            at_ms,
                        };
                        found.insert(id.to_string(), intent);
                    }
                }
                match out.unprocessed_keys.unwrap_or_default().remove(table) {
                    Some(left) if !left.keys().is_empty() => {
                        if round + 1 >= BATCH_GET_ROUNDS {
                            return Err(StoreError::Storage(format!(
                                "BatchGetItem on {table}: keys still unprocessed after {BATCH_GET_ROUNDS} rounds"
                            )));
                        }
                        tokio::time::sleep(Duration::from_millis(50 << round.min(5))).await;
                        request = left;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }
}

/// Served by the local view's change log.
#[async_trait]
impl ChangeFeed for DynamoStore {
    async fn changes_after(
        &self,
        after: ChangeId,
        limit: usize,
    ) -> Result<Vec<(ChangeId, Change)>> {
        self.view.changes().changes_after(after, limit).await
    }

    async fn wait_for_changes(&self, after: ChangeId) -> Result<()> {
        self.view.changes().wait_for_changes(after).await
    }

    async fn load_cursor(&self) -> Result<ChangeId> {
        self.view.changes().load_cursor().await
    }

    /// Saved in the local view; the checkpointer then stores in DynamoDB
    /// the stream checkpoints the router is now past (`checkpoints.rs`).
    async fn save_cursor(&self, cursor: ChangeId) -> Result<()> {
        self.view.changes().save_cursor(cursor).await?;
        self.saved_cursor.send_replace(cursor);
        Ok(())
    }
}

#[async_trait]
impl Lifecycle for DynamoStore {
    /// One small read of the conversations table: DynamoDB itself answers
    /// (the local view would answer while DynamoDB is down).
    async fn ready(&self) -> Result<()> {
        self.check_open()?;
        let table = &self.tables.conversations;
        self.client
            .get_item()
            .table_name(table)
            .key(attr::CONVERSATION, s(READY_PROBE))
            .send()
            .await
            .map_err(|e| error::dynamo("GetItem", table, &e))?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::SeqCst);
        self.stop_stream_reader().await;
        // Its last write stores what the router processed before it stopped.
        let _ = self.stop_checkpointer.send(true);
        let checkpointer = self.checkpointer.lock().ok().and_then(|mut c| c.take());
        if let Some(checkpointer) = checkpointer {
            if tokio::time::timeout(CALL_TIMEOUT, checkpointer)
                .await
                .is_err()
            {
                tracing::warn!("the last stream checkpoints were not stored in time");
            }
        }
        self.view.flush().await
    }
}
