//! Stream checkpoints in DynamoDB, so a new leader — or an instance whose
//! `DATA_DIR` a PaaS wiped — resumes the streams where the router left off
//! instead of replaying up to 24 hours of them.
//!
//! Each shard's checkpoint is a `meta` item `checkpoint#<stream ARN>|<shard>`
//! holding the local [`Checkpoint`] as JSON. It is written only for records
//! the router has already processed: the local view marks each applied page
//! with the newest change id it left (`view.rs`), and [`Checkpointer`] stores
//! the checkpoints whose marks the router's saved cursor has reached (as
//! KCL checkpoints after processing). A checkpoint ahead of the routing
//! would lose messages when the leader dies; one behind it only makes the
//! next leader read a few records again, which the router absorbs (what it
//! has seen it treats as seen; agents resume from their own points).
//!
//! The writes are fenced by the router lease (`fenced.rs`): only the leader
//! moves the checkpoints. At most one write per [`CHECKPOINT_EVERY`], and a
//! last one when the store closes.
//!
//! When the stream reader starts it takes, per shard, whichever is further
//! on: the local view's checkpoint or the one in DynamoDB ([`seed`]).

use super::error;
use super::fenced::Fencing;
use super::items::{attr, s};
use super::stream_reader::sequence_after;
use super::view::{Checkpoint, LocalView};
use crate::backoff::sleep_or_stop;
use crate::store::{ChangeId, Result, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::time::Duration;
use tokio::sync::watch;

/// Prefix of a checkpoint item's id in `meta`.
const ID_PREFIX: &str = "checkpoint#";
/// The attribute holding the checkpoint (JSON).
const ATTR_CHECKPOINT: &str = "checkpoint";
/// At most one checkpoint write per this long (each is a transaction).
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Items per transaction besides the lease check (DynamoDB allows 100).
const PER_TRANSACTION: usize = 99;

/// Stores the processed checkpoints in DynamoDB as the router moves on.
pub(super) struct Checkpointer {
    /// Writes the checkpoints, fenced by the router lease.
    pub fencing: Fencing,
    /// Where the marks of processed pages are.
    pub view: LocalView,
}

impl Checkpointer {
    /// Runs until `stop` turns true, then stores what the router processed
    /// last. `cursor` is the router's saved cursor.
    pub async fn run(self, mut cursor: watch::Receiver<ChangeId>, mut stop: watch::Receiver<bool>) {
        let mut marked = self.view.marked();
        loop {
            tokio::select! {
                changed = cursor.changed() => if changed.is_err() { break },
                changed = marked.changed() => if changed.is_err() { break },
                _ = stop.changed() => break,
            }
            let upto = *cursor.borrow_and_update();
            marked.mark_unchanged();
            self.store_upto(upto).await;
            if sleep_or_stop(&mut stop, CHECKPOINT_EVERY).await {
                break;
            }
        }
        let upto = *cursor.borrow();
        self.store_upto(upto).await;
    }

    /// Stores the checkpoints the router processed up to `cursor`; a
    /// failure is logged and the marks kept for the next round.
    async fn store_upto(&self, cursor: ChangeId) {
        let view = self.view.clone();
        let processed = tokio::task::spawn_blocking(move || view.processed(cursor)).await;
        let processed = match processed {
            Ok(Ok(processed)) => processed,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not read the stream checkpoints to store");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the stream checkpoints panicked");
                return;
            }
        };
        if processed.checkpoints.is_empty() {
            return;
        }
        let mut puts = Vec::new();
        for (shard, checkpoint) in &processed.checkpoints {
            match put(&self.fencing.meta, shard, checkpoint) {
                Ok(item) => puts.push(item),
                Err(e) => {
                    tracing::warn!(error = %e, "could not build a stream checkpoint write");
                    return;
                }
            }
        }
        let table = &self.fencing.meta;
        let mut stored = true;
        for chunk in puts.chunks(PER_TRANSACTION) {
            match self
                .fencing
                .write_all("TransactWriteItems", table, chunk.to_vec())
                .await
            {
                Ok(_) => {}
                Err(StoreError::Fenced) => {
                    // Not the leader: the leader's own router checkpoints.
                    tracing::debug!("stream checkpoints not stored: not the leader");
                    stored = false;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not store the stream checkpoints; will retry");
                    stored = false;
                    break;
                }
            }
        }
        if stored {
            tracing::debug!(
                shards = processed.checkpoints.len(),
                cursor,
                "stream checkpoints stored in DynamoDB"
            );
            let view = self.view.clone();
            let forgot = tokio::task::spawn_blocking(move || view.forget_marks(processed.marks));
            if !matches!(forgot.await, Ok(Ok(()))) {
                tracing::warn!("could not drop stored checkpoint marks; they are stored again");
            }
        }
    }
}

fn put(meta: &str, shard: &str, checkpoint: &Checkpoint) -> Result<TransactWriteItem> {
    let json = serde_json::to_string(checkpoint).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let put = Put::builder()
        .table_name(meta)
        .item(attr::ID, s(format!("{ID_PREFIX}{shard}")))
        .item(ATTR_CHECKPOINT, s(json))
        .build()
        .map_err(|e| StoreError::Storage(format!("building a checkpoint write: {e}")))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Every checkpoint stored in DynamoDB, by shard key.
async fn stored(
    client: &aws_sdk_dynamodb::Client,
    meta: &str,
) -> Result<Vec<(String, Checkpoint)>> {
    // `meta` holds a handful of items: a scan is one page.
    let mut pages = client
        .scan()
        .table_name(meta)
        .consistent_read(true)
        .filter_expression("begins_with(#id, :prefix)")
        .expression_attribute_names("#id", attr::ID)
        .expression_attribute_values(":prefix", s(ID_PREFIX))
        .into_paginator()
        .items()
        .send();
    let mut found = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| error::dynamo("Scan", meta, &e))?;
        let (Some(AttributeValue::S(id)), Some(AttributeValue::S(json))) =
            (item.get(attr::ID), item.get(ATTR_CHECKPOINT))
        else {
            continue;
        };
        let Some(shard) = id.strip_prefix(ID_PREFIX) else {
            continue;
        };
        let checkpoint =
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        found.push((shard.to_string(), checkpoint));
    }
    Ok(found)
}

/// Whether `stored` is further on in its shard than `local`.
fn ahead(stored: &Checkpoint, local: &Checkpoint) -> bool {
    if local.done {
        return false;
    }
    if stored.done {
        return true;
    }
    match (&stored.sequence, &local.sequence) {
        (Some(_), None) => true,
        (Some(stored), Some(local)) => sequence_after(stored, local),
        (None, _) => false,
    }
}

/// Copies into the local view each stored checkpoint that is further on
/// than the local one, and says where the reader starts.
pub(super) async fn seed(
    client: &aws_sdk_dynamodb::Client,
    meta: &str,
    view: &LocalView,
) -> Result<()> {
    let stored = stored(client, meta).await?;
    let count = stored.len();
    // sled reads and writes: off the runtime's threads.
    let view = view.clone();
    let (taken, local) = tokio::task::spawn_blocking(move || {
        let (mut taken, mut local) = (0, 0);
        for (shard, checkpoint) in &stored {
            if ahead(checkpoint, &view.checkpoint(shard)?) {
                view.set_checkpoint(shard, checkpoint)?;
                // Marks of an earlier term as leader would store it backwards.
                view.forget_shard_marks(shard)?;
                taken += 1;
            } else {
                local += 1;
            }
        }
        Ok::<_, StoreError>((taken, local))
    })
    .await
    .map_err(|e| StoreError::Storage(format!("seeding the checkpoints panicked: {e}")))??;
    if count == 0 {
        tracing::info!("stream reader: no checkpoint stored in DynamoDB; shards without a local one start at their oldest record");
    } else {
        tracing::info!(
            from_dynamodb = taken,
            local,
            "stream reader: resuming from the checkpoints stored in DynamoDB where they are further on"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::{open_dynamodb, open_dynamodb_at, DynamoHarness};
    use crate::store::{Change, ChangeFeed, InboundMessage, Lifecycle, MessageLog};

    /// Only a bound on waiting, never a pass mark.
    const WAIT: Duration = Duration::from_secs(60);
    const CUSTOMER: &str = "+15550100007";

    async fn text(h: &DynamoHarness, n: u64) {
        let message = InboundMessage {
            message_sid: format!("SMcheckpoint{n}"),
            from: CUSTOMER.into(),
            to: "+15550199999".into(),
            body: format!("message {n}"),
            country: Some("US".into()),
            media: Vec::new(),
            at_ms: n,
        };
        h.store.append_inbound(message).await.expect("append");
    }

    /// The messages the feed holds after `after`, once it holds `count`.
    async fn seqs_in_feed(
        h: &DynamoHarness,
        after: ChangeId,
        count: usize,
    ) -> Vec<(ChangeId, u64)> {
        let wait = async {
            loop {
                let changes = h.store.changes_after(after, 1000).await.expect("changes");
                let seqs: Vec<(ChangeId, u64)> = changes
                    .iter()
                    .filter_map(|(id, change)| match change {
                        Change::Message { s, .. } => Some((*id, *s)),
                        _ => None,
                    })
                    .collect();
                if seqs.len() >= count {
                    return seqs;
                }
                let last = changes.last().map_or(after, |(id, _)| *id);
                h.store.wait_for_changes(last).await.expect("wait");
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .expect("the feed brought the messages")
    }

    /// Every checkpoint stored in DynamoDB for `h`'s tables.
    async fn stored_checkpoints(h: &DynamoHarness) -> Vec<(String, Checkpoint)> {
        let meta =
            crate::store::dynamo::schema::table_name(&h.prefix, crate::store::dynamo::schema::META);
        stored(&h.store.client, &meta).await.expect("scan")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_instance_resumes_from_the_checkpoints_the_router_processed() {
        let a = open_dynamodb().await;
        for n in 1..=3 {
            text(&a, n).await;
        }
        let routed = seqs_in_feed(&a, 0, 3).await;
        assert_eq!(
            routed.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // The router processed them: their checkpoint goes to DynamoDB.
        let cursor = routed[2].0;
        a.store.save_cursor(cursor).await.expect("cursor");
        let messages_arn_part = format!("{}messages", a.prefix);
        let wait = async {
            loop {
                let stored = stored_checkpoints(&a).await;
                if stored
                    .iter()
                    .any(|(shard, _)| shard.contains(&messages_arn_part))
                {
                    return stored;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .expect("the messages stream's checkpoint is stored");
        // A fourth message reaches the feed but the router does not get to
        // it: its checkpoint must not be stored, not even at close.
        text(&a, 4).await;
        seqs_in_feed(&a, cursor, 1).await;
        a.store.close().await.expect("close");

        // A new instance with an empty DATA_DIR takes over: it reads from
        // the stored checkpoints, so the first message it routes is the
        // fourth (the stream is in order per item; a replay from the
        // stream's start would bring 1 first).
        let b = open_dynamodb_at(&a.prefix, false).await;
        let fed = seqs_in_feed(&b, 0, 1).await;
        assert_eq!(fed.first().map(|(_, s)| *s), Some(4), "{fed:?}");
        b.store.close().await.expect("close");
    }

    fn at(sequence: Option<&str>, done: bool) -> Checkpoint {
        Checkpoint {
            sequence: sequence.map(str::to_string),
            events: Vec::new(),
            done,
        }
    }

    #[test]
    fn the_checkpoint_further_on_wins() {
        assert!(ahead(&at(Some("5"), false), &at(None, false)));
        assert!(ahead(&at(Some("10"), false), &at(Some("9"), false)));
        assert!(!ahead(&at(Some("9"), false), &at(Some("10"), false)));
        assert!(!ahead(&at(Some("9"), false), &at(Some("9"), false)));
        assert!(ahead(&at(Some("9"), true), &at(Some("9"), false)));
        assert!(!ahead(&at(Some("99"), false), &at(Some("9"), true)));
        assert!(!ahead(&at(None, false), &at(Some("1"), false)));
    }
}
