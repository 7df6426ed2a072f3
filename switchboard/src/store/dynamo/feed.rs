//! The instance's local view of DynamoDB: a sled database in `DATA_DIR`
//! holding the change log the router reads, the stream reader's per-shard
//! checkpoints, and a mirror of the messages the stream carried.
//!
//! The stream reader appends each page of stream records as one sled
//! transaction — the changes it produced, the mirrored messages and the
//! shard's new checkpoint together — and flushes before advancing the
//! durable watermark. A restart therefore resumes exactly after the last
//! applied record: nothing skipped, nothing applied twice. Reading the log
//! (`changes_after`, `wait_for_changes`, the router's cursor) works as in
//! the sled store.

use super::super::keys;
use super::super::{Change, ChangeId, Result, StoreError};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use switchboard_protocol::{Message, Seq};
use tokio::sync::watch;

const CURSOR_KEY: &[u8] = b"router_cursor";
/// Prune the change log once the router is this far past the last prune.
const PRUNE_EVERY: u64 = 4096;

/// Where the reader stands in one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    /// Sequence number of the last record applied.
    pub sequence: Option<String>,
    /// Event ids of the records applied with exactly that sequence number
    /// (one, unless an emulator hands out a number twice), so a record is
    /// recognised as applied even then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The shard is closed and every record of it was applied.
    pub done: bool,
}

/// One page of stream records, ready to apply.
#[derive(Debug, Default)]
pub(super) struct Page {
    pub changes: Vec<Change>,
    pub mirror: Vec<Message>,
}

#[derive(Clone)]
pub(super) struct FeedLog {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    changes: sled::Tree,
    checkpoints: sled::Tree,
    mirror: sled::Tree,
    meta: sled::Tree,
    /// Id the next change gets (only the stream reader appends).
    next: AtomicU64,
    durable: watch::Sender<ChangeId>,
    pruned_upto: AtomicU64,
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl FeedLog {
    pub fn open(path: &Path, cache_mb: u64) -> Result<FeedLog> {
        std::fs::create_dir_all(path)
            .map_err(|e| storage(format!("creating {}: {e}", path.display())))?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            .open()?;
        let changes = db.open_tree("changes")?;
        let checkpoints = db.open_tree("stream_checkpoints")?;
        let mirror = db.open_tree("messages")?;
        let meta = db.open_tree("meta")?;
        let cursor = read_cursor(&meta)?;
        let last = match changes.last()? {
            Some((key, _)) => keys::parse_change(&key).unwrap_or(0),
            None => 0,
        };
        let last = last.max(cursor);
        let (durable, _) = watch::channel(last);
        Ok(FeedLog {
            inner: Arc::new(Inner {
                db,
                changes,
                checkpoints,
                mirror,
                meta,
                next: AtomicU64::new(last + 1),
                durable,
                pruned_upto: AtomicU64::new(0),
            }),
        })
    }

    pub fn checkpoint(&self, key: &str) -> Result<Checkpoint> {
        match self.inner.checkpoints.get(key.as_bytes())? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(corrupt),
            None => Ok(Checkpoint::default()),
        }
    }

    /// Applies one page and the shard's new checkpoint atomically, makes it
    /// durable, then lets the router see the new changes.
    pub async fn apply(
        &self,
        page: Page,
        checkpoint_key: &str,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        let inner = &self.inner;
        let first = inner.next.load(Ordering::SeqCst);
        let mut changes = Vec::with_capacity(page.changes.len());
        for (i, change) in page.changes.iter().enumerate() {
            changes.push((
                keys::change(first + i as u64),
                serde_json::to_vec(change).map_err(corrupt)?,
            ));
        }
        let mut mirror = Vec::with_capacity(page.mirror.len());
        for message in &page.mirror {
            mirror.push((
                keys::message(&message.conversation, message.seq),
                serde_json::to_vec(message).map_err(corrupt)?,
            ));
        }
        let checkpoint_bytes = serde_json::to_vec(checkpoint).map_err(corrupt)?;
        let count = changes.len();
        // A sled transaction is blocking disk work: off the runtime threads.
        let tx_inner = inner.clone();
        let checkpoint_key = checkpoint_key.to_string();
        tokio::task::spawn_blocking(move || {
            (&tx_inner.changes, &tx_inner.checkpoints, &tx_inner.mirror)
                .transaction(|(tx_changes, tx_checkpoints, tx_mirror)| {
                    for (key, value) in &changes {
                        tx_changes.insert(key.as_slice(), value.as_slice())?;
                    }
                    for (key, value) in &mirror {
                        tx_mirror.insert(key.as_slice(), value.as_slice())?;
                    }
                    tx_checkpoints
                        .insert(checkpoint_key.as_bytes(), checkpoint_bytes.as_slice())?;
                    Ok::<(), ConflictableTransactionError<StoreError>>(())
                })
                .map_err(|e: TransactionError<StoreError>| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => e.into(),
                })
        })
        .await
        .map_err(|e| storage(format!("applying a stream page panicked: {e}")))??;
        inner.db.flush_async().await?;
        if count > 0 {
            let last = first + count as u64 - 1;
            inner.next.store(last + 1, Ordering::SeqCst);
            inner.durable.send_if_modified(|durable| {
                let advanced = last > *durable;
                *durable = (*durable).max(last);
                advanced
            });
        }
        Ok(())
    }

    pub fn changes_after(&self, after: ChangeId, limit: usize) -> Result<Vec<(ChangeId, Change)>> {
        let durable = *self.inner.durable.borrow();
        if durable <= after {
            return Ok(Vec::new());
        }
        let range = keys::change(after + 1)..=keys::change(durable);
        let mut changes = Vec::new();
        for entry in self.inner.changes.range(range).take(limit) {
            let (key, value) = entry?;
            let id = keys::parse_change(&key).ok_or_else(|| corrupt("change key"))?;
            changes.push((id, serde_json::from_slice(&value).map_err(corrupt)?));
        }
        Ok(changes)
    }

    pub async fn wait_for_changes(&self, after: ChangeId) -> Result<()> {
        let mut durable = self.inner.durable.subscribe();
        loop {
            if *durable.borrow_and_update() > after {
                return Ok(());
            }
            durable.changed().await.map_err(|_| StoreError::Closed)?;
        }
    }

    pub fn load_cursor(&self) -> Result<ChangeId> {
        read_cursor(&self.inner.meta)
    }

    pub fn save_cursor(&self, cursor: ChangeId) -> Result<()> {
        let inner = &self.inner;
        inner.meta.insert(CURSOR_KEY, &keys::change(cursor))?;
        // Entries the router is past are never read again.
        if cursor.saturating_sub(inner.pruned_upto.load(Ordering::Relaxed)) >= PRUNE_EVERY {
            let mut prune = sled::Batch::default();
            for key in inner.changes.range(..=keys::change(cursor)).keys() {
                prune.remove(key?);
            }
            inner.changes.apply_batch(prune)?;
            inner.pruned_upto.store(cursor, Ordering::Relaxed);
        }
        Ok(())
    }

    /// A message as the stream last showed it, if it did.
    pub fn message(&self, conversation: &str, seq: Seq) -> Result<Option<Message>> {
        match self.inner.mirror.get(keys::message(conversation, seq))? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(corrupt),
            None => Ok(None),
        }
    }

    /// Messages `(after, upto]` when the mirror holds every one of them.
    pub fn history(
        &self,
        conversation: &str,
        after: Seq,
        upto: Seq,
    ) -> Result<Option<Vec<Message>>> {
        if upto <= after {
            return Ok(Some(Vec::new()));
        }
        let range = keys::message(conversation, after + 1)..=keys::message(conversation, upto);
        let mut messages = Vec::new();
        for value in self.inner.mirror.range(range).values() {
            let message: Message = serde_json::from_slice(&value?).map_err(corrupt)?;
            if message.seq != after + 1 + messages.len() as u64 {
                return Ok(None);
            }
            messages.push(message);
        }
        Ok((messages.len() as u64 == upto - after).then_some(messages))
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> Result<()> {
        self.inner.db.flush_async().await?;
        Ok(())
    }
}

fn read_cursor(meta: &sled::Tree) -> Result<ChangeId> {
    Ok(match meta.get(CURSOR_KEY)? {
        Some(bytes) => keys::parse_change(&bytes).ok_or_else(|| corrupt("router cursor"))?,
        None => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::Direction;

    fn message(seq: Seq) -> Message {
        Message {
            conversation: "+15550001".into(),
            seq,
            direction: Direction::Inbound,
            body: format!("m{seq}"),
            at_ms: seq,
            media: Vec::new(),
            agent: None,
            client_id: None,
            status: None,
            error: None,
        }
    }

    #[tokio::test]
    async fn pages_checkpoints_and_the_cursor_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = "arn|shard-1";
        {
            let log = FeedLog::open(dir.path(), 8).unwrap();
            let page = Page {
                changes: vec![
                    Change::Message {
                        c: "+15550001".into(),
                        s: 1,
                        d: None,
                    },
                    Change::Message {
                        c: "+15550001".into(),
                        s: 2,
                        d: None,
                    },
                ],
                mirror: vec![message(1), message(2)],
            };
            let checkpoint = Checkpoint {
                sequence: Some("200".into()),
                events: vec!["e1".into()],
                done: false,
            };
            log.apply(page, key, &checkpoint).await.unwrap();
            assert_eq!(log.changes_after(0, 10).unwrap().len(), 2);
            log.save_cursor(1).unwrap();
        }
        let log = FeedLog::open(dir.path(), 8).unwrap();
        assert_eq!(
            log.checkpoint(key).unwrap().sequence.as_deref(),
            Some("200")
        );
        assert_eq!(log.load_cursor().unwrap(), 1);
        let after = log.changes_after(1, 10).unwrap();
        assert_eq!(
            after,
            vec![(
                2,
                Change::Message {
                    c: "+15550001".into(),
                    s: 2,
                    d: None,
                }
            )]
        );
        assert_eq!(
            log.history("+15550001", 0, 2).unwrap().map(|m| m.len()),
            Some(2)
        );
        assert_eq!(
            log.history("+15550001", 0, 3).unwrap(),
            None,
            "incomplete range"
        );
        // New changes continue after the old ids.
        let page = Page {
            changes: vec![Change::OptOut {
                c: "+15550001".into(),
            }],
            mirror: Vec::new(),
        };
        log.apply(page, key, &Checkpoint::default()).await.unwrap();
        assert_eq!(log.changes_after(2, 10).unwrap()[0].0, 3);
    }
}
