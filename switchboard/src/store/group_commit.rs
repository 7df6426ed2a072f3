//! The single writer of the sled store: group commit.
//!
//! Every write (inbound message, reply, status, opt-out, send intent) is sent to one
//! thread. It takes everything that is pending and applies it all in one sled
//! transaction. A second thread, the flusher, makes applied batches durable:
//! one sled flush (plus `fdatasync` when configured) covers every batch
//! applied before it started, and only then are the callers answered and the
//! change log's durable watermark that wakes the router advanced
//! ([`super::change_log`]: each batch stages its changes in its own
//! transaction). The two overlap — the writer applies batch N+1 while batch
//! N is being flushed. One transaction and one flush per batch instead of
//! per request is what makes durable ingest cheap; one writer is also what
//! keeps per-number sequence numbers gap-free without read-modify-write
//! races.

use super::change_log::{ChangeLog, Staged, Staging};
use super::keys;
use super::{
    Appended, Change, ConversationRecord, InboundMessage, Reply, ReplyOutcome, Result, SendIntent,
    StatusOutcome, StatusTarget, StatusUpdate, StoreError,
};
use crate::conversation::status::{self as status_rule, StatusReport};
use crate::conversation::{self, inbound, reply, Dedupe};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;
use std::collections::HashMap;
use std::fs::File;
use switchboard_protocol::{
    ConversationId, DeliveryError, DeliveryStatus, Direction, Message, Seq,
};
use tokio::sync::{mpsc, oneshot};

/// Most writes applied in one transaction.
const MAX_BATCH: usize = 2048;
/// Conversation records kept in the writer's memory before it starts over.
const MAX_CACHED_CONVERSATIONS: usize = 100_000;

/// A message as stored: what agents see plus Twilio's SID.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredMessage {
    pub message: Message,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_sid: Option<String>,
}

/// A status that arrived before we knew its Twilio SID.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EarlyStatus {
    status: DeliveryStatus,
    error: Option<DeliveryError>,
}

impl EarlyStatus {
    fn into_report(self) -> StatusReport {
        StatusReport {
            status: self.status,
            error: self.error,
        }
    }
}

pub(super) enum Write {
    Inbound(InboundMessage, oneshot::Sender<Result<Appended>>),
    Reply(Reply, oneshot::Sender<Result<ReplyOutcome>>),
    Status(StatusUpdate, oneshot::Sender<Result<StatusOutcome>>),
    OptOut(ConversationId, bool, oneshot::Sender<Result<()>>),
    /// The outbox is about to POST this reply (kept in its outbox entry).
    Intent(ConversationId, Seq, SendIntent, oneshot::Sender<Result<()>>),
    /// Finish what is queued, then stop.
    Close(oneshot::Sender<Result<()>>),
}

enum Outcome {
    Appended(Appended),
    Reply(ReplyOutcome, Option<(ConversationId, Seq)>),
    Status(StatusOutcome),
    OptOut,
    Intent,
}

/// The trees the writer touches, in transaction order.
#[derive(Clone)]
pub(super) struct Trees {
    pub messages: sled::Tree,
    pub conversations: sled::Tree,
    pub sids: sled::Tree,
    pub client_replies: sled::Tree,
    pub outbox: sled::Tree,
    pub early_status: sled::Tree,
}

pub(super) struct Writer {
    pub db: sled::Db,
    pub trees: Trees,
    /// Open handle on sled's data file, when every flush must be fdatasync'ed.
    pub fsync_file: Option<File>,
    /// Where each batch stages its changes.
    pub changes: ChangeLog,
    /// Told about each newly accepted reply, once it is durable.
    pub outbox_tx: mpsc::UnboundedSender<(ConversationId, Seq)>,
    pub cache: HashMap<ConversationId, ConversationRecord>,
}

/// A batch that is applied and waits for the flusher.
struct Applied {
    batch: Vec<Write>,
    outcomes: Vec<Result<Outcome>>,
    /// Newest change id written by this batch or any before it.
    last_change: u64,
}

/// Makes applied batches durable, then answers their callers.
struct Flusher {
    db: sled::Db,
    fsync_file: Option<File>,
    /// Published up to each flushed batch's last change.
    changes: ChangeLog,
    outbox_tx: mpsc::UnboundedSender<(ConversationId, Seq)>,
}

impl Flusher {
    fn run(self, rx: std::sync::mpsc::Receiver<Applied>) {
        while let Ok(first) = rx.recv() {
            let mut pending = vec![first];
            pending.extend(rx.try_iter());
            let started = std::time::Instant::now();
            match self.make_durable() {
                Ok(()) => {
                    let writes = pending.iter().map(|a| a.batch.len()).sum();
                    crate::telemetry::store_batch(writes, started.elapsed());
                    let last = pending.iter().map(|a| a.last_change).max().unwrap_or(0);
                    self.changes.published(last);
                    for applied in pending {
                        for (write, outcome) in applied.batch.into_iter().zip(applied.outcomes) {
                            respond(write, outcome, &self.outbox_tx);
                        }
                    }
                }
                Err(e) => {
                    // The writes are applied but not known durable: callers
                    // get an error and retry; dedupe absorbs the repeat.
                    tracing::error!(error = %e, "flush failed; callers get an error");
                    crate::telemetry::store_error("flush");
                    for write in pending.into_iter().flat_map(|a| a.batch) {
                        fail(write, &e);
                    }
                }
            }
        }
    }

    fn make_durable(&self) -> Result<()> {
        self.db.flush()?;
        if let Some(file) = &self.fsync_file {
            file.sync_data()
                .map_err(|e| StoreError::Storage(format!("fdatasync: {e}")))?;
        }
        Ok(())
    }
}

impl Writer {
    /// Runs until the channel closes or a `Close` arrives; a `Close` is
    /// answered once everything before it is durable.
    pub fn run(mut self, mut rx: mpsc::Receiver<Write>) {
        let (flush_tx, flush_rx) = std::sync::mpsc::channel();
        let flusher = Flusher {
            db: self.db.clone(),
            fsync_file: self.fsync_file.take(),
            changes: self.changes.clone(),
            outbox_tx: self.outbox_tx.clone(),
        };
        let flusher = match std::thread::Builder::new()
            .name("sled-flusher".into())
            .spawn(move || flusher.run(flush_rx))
        {
            Ok(handle) => handle,
            Err(e) => {
                tracing::error!(error = %e, "could not start the flusher thread");
                return;
            }
        };
        let mut closing = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(write) => batch.push(write),
                    Err(_) => break,
                }
            }
            let (close, batch): (Vec<Write>, Vec<Write>) = batch
                .into_iter()
                .partition(|w| matches!(w, Write::Close(_)));
            if !batch.is_empty() {
                self.commit(batch, &flush_tx);
            }
            if !close.is_empty() {
                closing = close;
                rx.close();
                // Anything that raced in before close() is still served.
                let rest: Vec<Write> = std::iter::from_fn(|| rx.try_recv().ok())
                    .filter(|w| !matches!(w, Write::Close(_)))
                    .collect();
                if !rest.is_empty() {
                    self.commit(rest, &flush_tx);
                }
                break;
            }
        }
        drop(flush_tx);
        if flusher.join().is_err() {
            tracing::error!("the flusher thread panicked");
        }
        for done in closing {
            fail(done, &StoreError::Closed);
        }
    }

    fn commit(&mut self, batch: Vec<Write>, flush_tx: &std::sync::mpsc::Sender<Applied>) {
        match self.apply(&batch) {
            Ok((outcomes, overlay, staged)) => {
                if self.cache.len() + overlay.conversations.len() > MAX_CACHED_CONVERSATIONS {
                    self.cache.clear();
                }
                self.cache.extend(overlay.conversations);
                let last_change = staged.last();
                self.changes.committed(staged);
                let applied = Applied {
                    batch,
                    outcomes,
                    last_change,
                };
                if let Err(std::sync::mpsc::SendError(applied)) = flush_tx.send(applied) {
                    for write in applied.batch {
                        fail(write, &StoreError::Closed);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, writes = batch.len(), "store write failed; callers get an error");
                crate::telemetry::store_error("write");
                // The transaction may or may not have reached sled; re-read
                // conversation records from disk from now on.
                self.cache.clear();
                for write in batch {
                    fail(write, &e);
                }
            }
        }
    }

    fn apply(&self, batch: &[Write]) -> Result<(Vec<Result<Outcome>>, Overlay, Staged)> {
        let t = &self.trees;
        let trees = (
            &t.messages,
            &t.conversations,
            &t.sids,
            &t.client_replies,
            self.changes.tree(),
            &t.outbox,
            &t.early_status,
        );
        trees
            .transaction(
                |(messages, conversations, sids, client_replies, changes, outbox, early)| {
                    let mut tx = Tx {
                        messages,
                        conversations,
                        sids,
                        client_replies,
                        changes: self.changes.stage(changes),
                        outbox,
                        early,
                        cache: &self.cache,
                        overlay: Overlay {
                            conversations: HashMap::new(),
                        },
                    };
                    let mut outcomes = Vec::with_capacity(batch.len());
                    for write in batch {
                        outcomes.push(tx.apply(write)?);
                    }
                    tx.write_conversations()?;
                    let staged = tx.changes.staged();
                    Ok((outcomes, tx.overlay, staged))
                },
            )
            .map_err(
                |e: sled::transaction::TransactionError<StoreError>| match e {
                    sled::transaction::TransactionError::Abort(e) => e,
                    sled::transaction::TransactionError::Storage(e) => e.into(),
                },
            )
    }
}

fn respond(
    write: Write,
    outcome: Result<Outcome>,
    outbox_tx: &mpsc::UnboundedSender<(ConversationId, Seq)>,
) {
    // A caller that went away (client disconnected) just misses its answer;
    // the write itself is durable either way.
    match (write, outcome) {
        (Write::Inbound(_, tx), Ok(Outcome::Appended(a))) => drop(tx.send(Ok(a))),
        (Write::Reply(_, tx), Ok(Outcome::Reply(r, queued))) => {
            if let Some(position) = queued {
                let _ = outbox_tx.send(position);
            }
            drop(tx.send(Ok(r)))
        }
        (Write::Status(_, tx), Ok(Outcome::Status(s))) => drop(tx.send(Ok(s))),
        (Write::OptOut(_, _, tx), Ok(Outcome::OptOut)) => drop(tx.send(Ok(()))),
        (Write::Intent(_, _, _, tx), Ok(Outcome::Intent)) => drop(tx.send(Ok(()))),
        (write, Err(e)) => fail(write, &e),
        (write, Ok(_)) => fail(write, &StoreError::Storage("mismatched outcome".into())),
    }
}

fn fail(write: Write, e: &StoreError) {
    match write {
        Write::Inbound(_, tx) => drop(tx.send(Err(e.clone()))),
        Write::Reply(_, tx) => drop(tx.send(Err(e.clone()))),
        Write::Status(_, tx) => drop(tx.send(Err(e.clone()))),
        Write::OptOut(_, _, tx) => drop(tx.send(Err(e.clone()))),
        Write::Intent(_, _, _, tx) => drop(tx.send(Err(e.clone()))),
        Write::Close(tx) => drop(tx.send(Ok(()))),
    }
}

/// What a batch changed that the writer keeps once it commits.
struct Overlay {
    conversations: HashMap<ConversationId, ConversationRecord>,
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

/// One run of the batch transaction (sled may run it more than once).
struct Tx<'a> {
    messages: &'a TransactionalTree,
    conversations: &'a TransactionalTree,
    sids: &'a TransactionalTree,
    client_replies: &'a TransactionalTree,
    changes: Staging<'a>,
    outbox: &'a TransactionalTree,
    early: &'a TransactionalTree,
    cache: &'a HashMap<ConversationId, ConversationRecord>,
    overlay: Overlay,
}

impl Tx<'_> {
    /// Storage errors abort the batch; a bad record only fails its own write.
    fn apply(&mut self, write: &Write) -> TxResult<Result<Outcome>> {
        match write {
            Write::Inbound(message, _) => self.inbound(message),
            Write::Reply(reply, _) => self.reply(reply),
            Write::Status(update, _) => self.status(update),
            Write::OptOut(conversation, opted_out, _) => {
                let Some(mut record) = self.conversation(conversation)? else {
                    return Ok(Ok(Outcome::OptOut));
                };
                if record.opted_out != *opted_out {
                    record.opted_out = *opted_out;
                    self.overlay
                        .conversations
                        .insert(conversation.clone(), record);
                    self.push_change(&Change::OptOut {
                        c: conversation.clone(),
                    })?;
                }
                Ok(Ok(Outcome::OptOut))
            }
            Write::Intent(conversation, seq, intent, _) => {
                // Only an entry still in the outbox and without an intent:
                // the first intent's time opens the window to search.
                let key = keys::message(conversation, *seq);
                if let Some(entry) = self.outbox.get(key.as_slice())? {
                    if entry.is_empty() {
                        self.outbox.insert(key.as_slice(), encode(intent)?)?;
                    }
                }
                Ok(Ok(Outcome::Intent))
            }
            Write::Close(_) => Ok(Ok(Outcome::OptOut)),
        }
    }

    fn inbound(&mut self, m: &InboundMessage) -> TxResult<Result<Outcome>> {
        let existing = match self.sids.get(m.message_sid.as_bytes())? {
            Some(position) => match keys::parse_message(&position) {
                Some((_, seq)) => Some(seq),
                None => {
                    return Ok(Err(StoreError::Corrupt(format!(
                        "index entry of {}",
                        m.message_sid
                    ))))
                }
            },
            None => None,
        };
        let current = self.conversation(&m.from)?;
        let state = current.as_ref().map(ConversationRecord::state);
        let effect = match conversation::dedupe(existing, || inbound::apply(state, &m.body)) {
            Dedupe::Duplicate(seq) => {
                return Ok(Ok(Outcome::Appended(Appended {
                    seq,
                    duplicate: true,
                })))
            }
            Dedupe::New(effect) => effect,
        };
        let mut record = current.unwrap_or_else(|| ConversationRecord {
            to: m.to.clone(),
            country: m.country.clone(),
            ..Default::default()
        });
        record.set_state(effect.apply_to(state));
        let (seq, opt_change) = (effect.seq, effect.opt_change);
        let key = keys::message(&m.from, seq);
        let stored = StoredMessage {
            message: m.to_message(seq),
            twilio_sid: Some(m.message_sid.clone()),
        };
        self.messages.insert(key.as_slice(), encode(&stored)?)?;
        self.sids.insert(m.message_sid.as_bytes(), key)?;
        self.overlay.conversations.insert(m.from.clone(), record);
        self.push_change(&Change::Message {
            c: m.from.clone(),
            s: seq,
            d: Some(Direction::Inbound),
        })?;
        if opt_change.is_some() {
            self.push_change(&Change::OptOut { c: m.from.clone() })?;
        }
        Ok(Ok(Outcome::Appended(Appended {
            seq,
            duplicate: false,
        })))
    }

    fn reply(&mut self, r: &Reply) -> TxResult<Result<Outcome>> {
        let client_key = keys::client_reply(&r.agent, &r.client_id);
        let existing = match self.client_replies.get(client_key.as_slice())? {
            Some(position) => match keys::parse_message(&position) {
                Some((_, seq)) => Some(seq),
                None => {
                    return Ok(Err(StoreError::Corrupt(format!(
                        "reply index entry of {}",
                        r.client_id
                    ))))
                }
            },
            None => None,
        };
        let current = self.conversation(&r.conversation)?;
        let state = current.as_ref().map(ConversationRecord::state);
        let seq = match conversation::dedupe(existing, || reply::apply(state, r.sends())) {
            Dedupe::Duplicate(seq) => {
                let accepted = ReplyOutcome::Accepted {
                    seq,
                    duplicate: true,
                };
                return Ok(Ok(Outcome::Reply(accepted, None)));
            }
            Dedupe::New(Err(refusal)) => {
                return Ok(Ok(Outcome::Reply(refusal.into(), None)));
            }
            Dedupe::New(Ok(seq)) => seq,
        };
        let Some(mut record) = current else {
            return Ok(Err(StoreError::Corrupt(
                "reply accepted without a conversation".into(),
            )));
        };
        record.last_seq = seq;
        let key = keys::message(&r.conversation, seq);
        let message = r.to_message(seq);
        let direction = message.direction;
        let stored = StoredMessage {
            message,
            twilio_sid: None,
        };
        self.messages.insert(key.as_slice(), encode(&stored)?)?;
        self.client_replies.insert(client_key, key.as_slice())?;
        // Notes and timeline events are never sent: no outbox entry.
        if r.sends() {
            self.outbox.insert(key.as_slice(), &[])?;
        }
        self.overlay
            .conversations
            .insert(r.conversation.clone(), record);
        self.push_change(&Change::Message {
            c: r.conversation.clone(),
            s: seq,
            d: Some(direction),
        })?;
        Ok(Ok(Outcome::Reply(
            ReplyOutcome::Accepted {
                seq,
                duplicate: false,
            },
            r.sends().then(|| (r.conversation.clone(), seq)),
        )))
    }

    fn status(&mut self, u: &StatusUpdate) -> TxResult<Result<Outcome>> {
        let key = match &u.target {
            StatusTarget::Position(conversation, seq) => keys::message(conversation, *seq),
            StatusTarget::TwilioSid(sid) => match self.sids.get(sid.as_bytes())? {
                Some(key) => key.to_vec(),
                None => {
                    self.defer(sid, u.status, &u.error)?;
                    return Ok(Ok(Outcome::Status(StatusOutcome::Deferred)));
                }
            },
        };
        let Some(bytes) = self.messages.get(key.as_slice())? else {
            return Ok(Err(StoreError::Corrupt(
                "status for a message that does not exist".into(),
            )));
        };
        let mut stored: StoredMessage = match serde_json::from_slice(&bytes) {
            Ok(stored) => stored,
            Err(e) => return Ok(Err(StoreError::Corrupt(e.to_string()))),
        };
        let mut report = StatusReport {
            status: u.status,
            error: u.error.clone(),
        };
        if let Some(sid) = &u.twilio_sid {
            stored.twilio_sid = Some(sid.clone());
            self.sids.insert(sid.as_bytes(), key.as_slice())?;
            // A callback may have beaten Twilio's answer to our POST.
            if let Some(early) = self.early.remove(sid.as_bytes())? {
                let early = serde_json::from_slice::<EarlyStatus>(&early).ok();
                report = status_rule::merge_early(report, early.map(EarlyStatus::into_report));
            }
        }
        if u.outbox_done {
            self.outbox.remove(key.as_slice())?;
        }
        let outcome = if status_rule::advances(stored.message.status, report.status) {
            stored.message.status = Some(report.status);
            stored.message.error = report.error;
            let (conversation, seq) = (stored.message.conversation.clone(), stored.message.seq);
            self.push_change(&Change::Status {
                c: conversation,
                s: seq,
            })?;
            StatusOutcome::Applied
        } else {
            StatusOutcome::Stale
        };
        self.messages.insert(key.as_slice(), encode(&stored)?)?;
        Ok(Ok(Outcome::Status(outcome)))
    }

    fn defer(
        &mut self,
        sid: &str,
        status: DeliveryStatus,
        error: &Option<DeliveryError>,
    ) -> TxResult<()> {
        let kept = match self.early.get(sid.as_bytes())? {
            // An unreadable record is replaced.
            Some(bytes) => serde_json::from_slice::<EarlyStatus>(&bytes)
                .ok()
                .map(|e| e.status),
            None => None,
        };
        if status_rule::replaces_early(kept, status) {
            let early = EarlyStatus {
                status,
                error: error.clone(),
            };
            self.early.insert(sid.as_bytes(), encode(&early)?)?;
        }
        Ok(())
    }

    fn conversation(&self, id: &str) -> TxResult<Option<ConversationRecord>> {
        if let Some(record) = self
            .overlay
            .conversations
            .get(id)
            .or_else(|| self.cache.get(id))
        {
            return Ok(Some(record.clone()));
        }
        match self.conversations.get(id.as_bytes())? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                ConflictableTransactionError::Abort(StoreError::Corrupt(e.to_string()))
            }),
            None => Ok(None),
        }
    }

    fn write_conversations(&self) -> TxResult<()> {
        for (id, record) in &self.overlay.conversations {
            self.conversations.insert(id.as_bytes(), encode(record)?)?;
        }
        Ok(())
    }

    fn push_change(&mut self, change: &Change) -> TxResult<()> {
        self.changes.push(change).map(|_| ())
    }
}

fn encode<T: Serialize>(value: &T) -> TxResult<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| ConflictableTransactionError::Abort(StoreError::Corrupt(e.to_string())))
}
