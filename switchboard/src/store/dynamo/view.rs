//! The instance's local view of DynamoDB: a sled database in `DATA_DIR`
//! holding the change log the router reads (the shared
//! [`ChangeLog`](crate::store::change_log::ChangeLog)), the stream reader's
//! per-shard checkpoints, and a mirror of the messages the stream carried.
//!
//! The stream reader applies each page of stream records as one sled
//! transaction — the changes it produced (staged in the change log), the
//! mirrored messages and the shard's new checkpoint together — and flushes
//! before publishing the changes. A restart therefore resumes exactly after
//! the last applied record: nothing skipped, nothing applied twice.
//!
//! With each page it also keeps a *mark*: the shard's new checkpoint under
//! the newest change id the page left in the log. Once the router's saved
//! cursor reaches that id, every record up to the checkpoint has been
//! routed, and the checkpoint may go to DynamoDB for the next leader
//! (`checkpoints.rs`): [`LocalView::processed`] hands those out,
//! [`LocalView::forget_marks`] drops them once stored.

use super::super::change_log::ChangeLog;
use super::super::{keys, Change, ChangeId, Result, StoreError};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use switchboard_protocol::{Message, Seq};
use tokio::sync::watch;

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

/// Checkpoints the router has caught up with; see [`LocalView::processed`].
#[derive(Debug, Default)]
pub(super) struct Processed {
    /// Shard key → its newest processed checkpoint.
    pub checkpoints: BTreeMap<String, Checkpoint>,
    /// The marks they came from.
    pub marks: Vec<sled::IVec>,
}

fn mark_key(id: ChangeId, shard: &str) -> Vec<u8> {
    let mut key = keys::change(id).to_vec();
    key.extend_from_slice(shard.as_bytes());
    key
}

/// The local view; cheap to clone (one shared state).
#[derive(Clone)]
pub(super) struct LocalView {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    /// The change feed; only the stream reader appends to it.
    changes: ChangeLog,
    /// Shard → [`Checkpoint`] (JSON).
    checkpoints: sled::Tree,
    /// Message key ([`keys::message`]) → [`Message`] (JSON).
    mirror: sled::Tree,
    /// Change id (8 bytes, big-endian) + shard key → [`Checkpoint`] (JSON):
    /// where the shard stands once the router is past that id.
    marks: sled::Tree,
    /// Bumped after each applied page, so the checkpointer looks again.
    marked: watch::Sender<u64>,
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl LocalView {
    pub fn open(path: &Path, cache_mb: u64) -> Result<LocalView> {
        std::fs::create_dir_all(path)
            .map_err(|e| storage(format!("creating {}: {e}", path.display())))?;
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            .open()?;
        Ok(LocalView {
            inner: Arc::new(Inner {
                changes: ChangeLog::open(&db)?,
                checkpoints: db.open_tree("stream_checkpoints")?,
                mirror: db.open_tree("messages")?,
                marks: db.open_tree("checkpoint_marks")?,
                marked: watch::Sender::new(0),
                db,
            }),
        })
    }

    /// The change feed the router reads.
    pub fn changes(&self) -> &ChangeLog {
        &self.inner.changes
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
        let mut mirror = Vec::with_capacity(page.mirror.len());
        for message in &page.mirror {
            mirror.push((
                keys::message(&message.conversation, message.seq),
                serde_json::to_vec(message).map_err(corrupt)?,
            ));
        }
        let checkpoint_bytes = serde_json::to_vec(checkpoint).map_err(corrupt)?;
        // A sled transaction is blocking disk work: off the runtime threads.
        let inner = self.inner.clone();
        let checkpoint_key = checkpoint_key.to_string();
        let staged = tokio::task::spawn_blocking(move || {
            let log = &inner.changes;
            (log.tree(), &inner.checkpoints, &inner.mirror, &inner.marks)
                .transaction(|(tx_changes, tx_checkpoints, tx_mirror, tx_marks)| {
                    let mut staging = log.stage(tx_changes);
                    for change in &page.changes {
                        staging.push(change)?;
                    }
                    for (key, value) in &mirror {
                        tx_mirror.insert(key.as_slice(), value.as_slice())?;
                    }
                    tx_checkpoints
                        .insert(checkpoint_key.as_bytes(), checkpoint_bytes.as_slice())?;
                    let staged = staging.staged();
                    tx_marks.insert(
                        mark_key(staged.last(), &checkpoint_key),
                        checkpoint_bytes.as_slice(),
                    )?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(staged)
                })
                .map_err(|e: TransactionError<StoreError>| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => e.into(),
                })
        })
        .await
        .map_err(|e| storage(format!("applying a stream page panicked: {e}")))??;
        self.inner.db.flush_async().await?;
        // Only now: a page whose flush failed is applied again, at the same
        // ids, when the reader retries it.
        let last = staged.last();
        self.inner.changes.committed(staged);
        self.inner.changes.published(last);
        self.inner.marked.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Sets a shard's checkpoint outside a page: the reader starting from
    /// a checkpoint another instance stored in DynamoDB.
    pub fn set_checkpoint(&self, key: &str, checkpoint: &Checkpoint) -> Result<()> {
        let bytes = serde_json::to_vec(checkpoint).map_err(corrupt)?;
        self.inner.checkpoints.insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    /// Every shard's newest checkpoint whose records the router has
    /// processed (marked at or below `cursor`), and the marks they came
    /// from, to [`forget`](Self::forget_marks) once stored.
    pub fn processed(&self, cursor: ChangeId) -> Result<Processed> {
        let mut processed = Processed::default();
        let upto = keys::change(cursor.saturating_add(1));
        for entry in self.inner.marks.range(..upto.as_slice()) {
            let (key, value) = entry?;
            let shard = key
                .get(8..)
                .and_then(|k| std::str::from_utf8(k).ok())
                .ok_or_else(|| corrupt("a checkpoint mark's key"))?;
            let checkpoint: Checkpoint = serde_json::from_slice(&value).map_err(corrupt)?;
            // In id order: a later mark of the shard replaces an earlier one.
            processed.checkpoints.insert(shard.to_string(), checkpoint);
            processed.marks.push(key);
        }
        Ok(processed)
    }

    /// Drops marks whose checkpoints are stored.
    pub fn forget_marks(&self, marks: Vec<sled::IVec>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for key in marks {
            batch.remove(key);
        }
        self.inner.marks.apply_batch(batch)?;
        Ok(())
    }

    /// Drops every mark of `shard`: its checkpoint was replaced by one
    /// further on (another leader's), so they would move it back.
    pub fn forget_shard_marks(&self, shard: &str) -> Result<()> {
        let mut batch = sled::Batch::default();
        for key in self.inner.marks.iter().keys() {
            let key = key?;
            if key.get(8..) == Some(shard.as_bytes()) {
                batch.remove(key);
            }
        }
        self.inner.marks.apply_batch(batch)?;
        Ok(())
    }

    /// Wakes after each applied page.
    pub fn marked(&self) -> watch::Receiver<u64> {
        self.inner.marked.subscribe()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChangeFeed;
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
            sid: None,
            event: None,
        }
    }

    fn at(sequence: &str) -> Checkpoint {
        Checkpoint {
            sequence: Some(sequence.into()),
            events: Vec::new(),
            done: false,
        }
    }

    fn one_message(seq: Seq) -> Page {
        Page {
            changes: vec![Change::Message {
                c: "+15550001".into(),
                s: seq,
                d: None,
            }],
            mirror: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_checkpoint_is_processed_once_the_cursor_passes_its_page() {
        let dir = tempfile::tempdir().unwrap();
        let view = LocalView::open(dir.path(), 8).unwrap();
        // Messages: changes 1 and 2; conversations: a page with no change
        // after change 1 (processed as soon as change 1 is).
        view.apply(one_message(1), "msgs", &at("10")).await.unwrap();
        view.apply(Page::default(), "convs", &at("50"))
            .await
            .unwrap();
        view.apply(one_message(2), "msgs", &at("11")).await.unwrap();

        assert!(view.processed(0).unwrap().checkpoints.is_empty());
        let first = view.processed(1).unwrap();
        assert_eq!(
            first.checkpoints,
            BTreeMap::from([("convs".into(), at("50")), ("msgs".into(), at("10"))])
        );
        view.forget_marks(first.marks).unwrap();
        let second = view.processed(2).unwrap();
        assert_eq!(
            second.checkpoints,
            BTreeMap::from([("msgs".into(), at("11"))])
        );

        // Replaced by another leader's checkpoint: its marks are dropped.
        view.apply(one_message(3), "msgs", &at("12")).await.unwrap();
        view.forget_shard_marks("msgs").unwrap();
        assert!(view.processed(3).unwrap().checkpoints.is_empty());
    }

    #[tokio::test]
    async fn pages_checkpoints_and_the_cursor_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = "arn|shard-1";
        {
            let log = LocalView::open(dir.path(), 8).unwrap();
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
            let feed = log.changes();
            assert_eq!(feed.changes_after(0, 10).await.unwrap().len(), 2);
            feed.save_cursor(1).await.unwrap();
        }
        let log = crate::test_support::reopen(|| LocalView::open(dir.path(), 8)).await;
        assert_eq!(
            log.checkpoint(key).unwrap().sequence.as_deref(),
            Some("200")
        );
        assert_eq!(log.changes().load_cursor().await.unwrap(), 1);
        let after = log.changes().changes_after(1, 10).await.unwrap();
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
        assert_eq!(log.changes().changes_after(2, 10).await.unwrap()[0].0, 3);
    }
}
