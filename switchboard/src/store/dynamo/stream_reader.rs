//! The change feed across instances: a DynamoDB Streams reader over every
//! shard of the messages and conversations tables.
//!
//! * **Shards and lineage.** The shard list is re-read every few seconds
//!   (and whenever a shard ends). A shard is read only once its parent is
//!   finished — or no longer listed, which means it was trimmed — so the
//!   records of one item always arrive in the order they were written.
//!   A closed shard is finished when `GetRecords` returns no next
//!   iterator.
//! * **Checkpoints.** Each page of records becomes one atomic, flushed
//!   write to the local view ([`LocalView`]): the changes, the mirrored messages and
//!   the shard's checkpoint (the last sequence number applied). After a
//!   restart each shard resumes `AFTER_SEQUENCE_NUMBER` its checkpoint; a
//!   shard never seen starts at `TRIM_HORIZON`, so nothing written while no
//!   instance was running is skipped.
//! * **Records → changes.** messages `INSERT` → [`Change::Message`] (plus
//!   [`Change::OptOut`] when the message was STOP/START); messages `MODIFY`
//!   of `status_rank` → [`Change::Status`]; conversations `MODIFY` of
//!   `opted_out` without a new message (Twilio's 21610) →
//!   [`Change::OptOut`]. Everything else only advances the checkpoint.
//! * **Idle.** When a round over all shards brings nothing, the reader
//!   sleeps `STREAM_POLL_MS`.

use super::super::{Change, Result, StoreError};
use super::checkpoints;
use super::error;
use super::items::{self, attr, Item};
use super::view::{Checkpoint, LocalView, Page};
use crate::backoff::{sleep_or_stop, STREAM_ERROR};
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Records asked for per `GetRecords` call (DynamoDB's maximum).
const PAGE: i32 = 1000;
/// How often the shard list is re-read while nothing ends.
const RELIST_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Messages,
    Conversations,
}

pub(super) struct StreamReader {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub view: LocalView,
    pub poll: Duration,
    pub tables: Vec<(Source, String)>,
    /// The `meta` table, where the checkpoints the router processed are
    /// stored (`checkpoints.rs`).
    pub meta: String,
}

struct Stream {
    source: Source,
    table: String,
    arn: Option<String>,
    shards: BTreeMap<String, Shard>,
    listed_at: Option<Instant>,
}

struct Shard {
    parent: Option<String>,
    checkpoint: Checkpoint,
    iterator: Option<String>,
}

impl StreamReader {
    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut streams: Vec<Stream> = self
            .tables
            .iter()
            .map(|(source, table)| Stream {
                source: *source,
                table: table.clone(),
                arn: None,
                shards: BTreeMap::new(),
                listed_at: None,
            })
            .collect();
        let mut errors = STREAM_ERROR.delays();
        // Start where the router left off, whichever instance it ran on.
        while let Err(e) = checkpoints::seed(&self.dynamo, &self.meta, &self.view).await {
            tracing::warn!(error = %e, "stream reader: could not read the stored checkpoints; will retry");
            if sleep_or_stop(&mut stop, errors.next_delay()).await {
                return;
            }
        }
        errors.reset();
        loop {
            if *stop.borrow() {
                break;
            }
            let mut records = 0;
            let mut failed = false;
            for stream in streams.iter_mut() {
                match self.round(stream).await {
                    Ok(n) => records += n,
                    Err(e) => {
                        failed = true;
                        tracing::warn!(table = stream.table, error = %e, "stream reader: will retry");
                    }
                }
            }
            if !failed {
                errors.reset();
            }
            if records == 0 && !failed {
                // Every shard read to its end: nothing is behind.
                crate::telemetry::stream_lag(Duration::ZERO);
            }
            if records == 0 {
                // After a failed call, back off so an outage is not hammered.
                let pause = if failed {
                    errors.next_delay()
                } else {
                    self.poll
                };
                if sleep_or_stop(&mut stop, pause).await {
                    break;
                }
            }
        }
        if let Err(e) = self.view.flush().await {
            tracing::error!(error = %e, "could not flush the local change log");
        }
    }

    /// Reads one page from every readable shard of `stream`; returns how
    /// many records were applied.
    async fn round(&self, stream: &mut Stream) -> Result<usize> {
        let due = stream
            .listed_at
            .is_none_or(|at| at.elapsed() >= RELIST_EVERY);
        if due {
            self.list(stream).await?;
        }
        let Some(arn) = stream.arn.clone() else {
            return Ok(0);
        };
        let mut applied = 0;
        let ids: Vec<String> = stream.shards.keys().cloned().collect();
        for id in ids {
            let readable = match stream.shards.get(&id) {
                Some(shard) if !shard.checkpoint.done => match &shard.parent {
                    Some(parent) => stream.shards.get(parent).is_none_or(|p| p.checkpoint.done),
                    None => true,
                },
                _ => false,
            };
            if !readable {
                continue;
            }
            applied += self.read_shard(stream, &arn, &id).await?;
        }
        Ok(applied)
    }

    /// Refreshes the stream ARN and the shard list.
    async fn list(&self, stream: &mut Stream) -> Result<()> {
        let table = self
            .dynamo
            .describe_table()
            .table_name(&stream.table)
            .send()
            .await
            .map_err(|e| error::dynamo("DescribeTable", &stream.table, &e))?;
        let arn = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_string);
        let Some(arn) = arn else {
            return Err(StoreError::Storage(format!(
                "table {} has no stream: run `switchboard migrate`",
                stream.table
            )));
        };
        if stream.arn.as_deref() != Some(arn.as_str()) {
            // A new stream (re-enabled): its shards are all new.
            stream.shards.clear();
            stream.arn = Some(arn.clone());
        }
        let mut listed = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| {
                    error::failed("dynamodbstreams", "DescribeStream", &stream.table, &e)
                })?;
            let Some(description) = out.stream_description else {
                break;
            };
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    listed.push((id.to_string(), shard.parent_shard_id().map(str::to_string)));
                }
            }
            match description.last_evaluated_shard_id() {
                Some(last) if start.as_deref() != Some(last) => start = Some(last.to_string()),
                _ => break,
            }
        }
        for (id, parent) in &listed {
            if !stream.shards.contains_key(id) {
                let checkpoint = self.view.checkpoint(&checkpoint_key(&arn, id))?;
                stream.shards.insert(
                    id.clone(),
                    Shard {
                        parent: parent.clone(),
                        checkpoint,
                        iterator: None,
                    },
                );
            }
        }
        // Shards no longer listed were trimmed (older than the stream's
        // retention): forget them, so their children become readable.
        stream.shards.retain(|id, shard| {
            let kept = listed.iter().any(|(l, _)| l == id);
            if !kept && !shard.checkpoint.done {
                tracing::warn!(
                    table = stream.table,
                    shard = id,
                    "a shard was trimmed before it was fully read; its unread records are lost"
                );
            }
            kept
        });
        stream.listed_at = Some(Instant::now());
        Ok(())
    }

    async fn read_shard(&self, stream: &mut Stream, arn: &str, id: &str) -> Result<usize> {
        let Some(shard) = stream.shards.get_mut(id) else {
            return Ok(0);
        };
        let key = checkpoint_key(arn, id);
        let iterator = match shard.iterator.take() {
            Some(iterator) => iterator,
            None => {
                self.iterator(&stream.table, arn, id, &shard.checkpoint)
                    .await?
            }
        };
        let out = match self
            .streams
            .get_records()
            .shard_iterator(&iterator)
            .limit(PAGE)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let expired = e
                    .as_service_error()
                    .is_some_and(|e| e.is_expired_iterator_exception());
                if expired {
                    // Iterators live 15 minutes; make a new one next round.
                    return Ok(0);
                }
                let throttled = e
                    .as_service_error()
                    .is_some_and(|e| e.is_limit_exceeded_exception());
                if throttled {
                    // Too many readers or polls on this shard (DynamoDB
                    // allows a few per second): try again next round.
                    tracing::warn!(
                        table = stream.table,
                        shard = id,
                        "GetRecords throttled; consider a larger STREAM_POLL_MS"
                    );
                    shard.iterator = Some(iterator);
                    return Ok(0);
                }
                let gone = e.as_service_error().is_some_and(|e| {
                    e.is_resource_not_found_exception() || e.is_trimmed_data_access_exception()
                });
                if gone {
                    stream.listed_at = None;
                }
                return Err(error::failed(
                    "dynamodbstreams",
                    "GetRecords",
                    &stream.table,
                    &e,
                ));
            }
        };
        let records = out.records();
        let mut page = Page::default();
        let mut checkpoint = shard.checkpoint.clone();
        let mut applied = 0;
        for record in records {
            let Some(sequence) = record.dynamodb().and_then(|d| d.sequence_number()) else {
                continue;
            };
            let event = record.event_id().unwrap_or_default().to_string();
            if already_applied(&checkpoint, sequence, &event) {
                continue;
            }
            convert(stream.source, record, &mut page);
            if checkpoint.sequence.as_deref() != Some(sequence) {
                checkpoint.sequence = Some(sequence.to_string());
                checkpoint.events.clear();
            }
            checkpoint.events.push(event);
            applied += 1;
        }
        let newest = records.last().and_then(|r| {
            r.dynamodb()?
                .approximate_creation_date_time()?
                .to_millis()
                .ok()
        });
        if let Some(created_ms) = newest {
            let age = crate::clock::now_ms().saturating_sub(u64::try_from(created_ms).unwrap_or(0));
            crate::telemetry::stream_lag(Duration::from_millis(age));
        }
        let next = out.next_shard_iterator().map(str::to_string);
        if next.is_none() {
            checkpoint.done = true;
            // Its children become readable; look for them now.
            stream.listed_at = None;
        }
        if checkpoint != shard.checkpoint {
            self.view.apply(page, &key, &checkpoint).await?;
            shard.checkpoint = checkpoint;
        }
        shard.iterator = next;
        Ok(applied)
    }

    async fn iterator(
        &self,
        table: &str,
        arn: &str,
        id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<String> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(id);
        let request = match &checkpoint.sequence {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => {
                tracing::info!(
                    table,
                    shard = id,
                    "stream reader: a shard without a checkpoint is read from its oldest record"
                );
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
        };
        match request.send().await {
            Ok(out) => out.shard_iterator.ok_or_else(|| {
                StoreError::Storage(format!("GetShardIterator on {table} returned no iterator"))
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_trimmed_data_access_exception()) =>
            {
                // The checkpoint is older than the stream's retention: what
                // lies between is gone. Carry on from the oldest record left.
                tracing::error!(
                    table,
                    shard = id,
                    "stream records after the checkpoint were trimmed before they were read"
                );
                let out = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(arn)
                    .shard_id(id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .map_err(|e| error::failed("dynamodbstreams", "GetShardIterator", table, &e))?;
                out.shard_iterator.ok_or_else(|| {
                    StoreError::Storage(format!("GetShardIterator on {table} returned no iterator"))
                })
            }
            Err(e) => Err(error::failed(
                "dynamodbstreams",
                "GetShardIterator",
                table,
                &e,
            )),
        }
    }
}

fn checkpoint_key(arn: &str, shard: &str) -> String {
    format!("{arn}|{shard}")
}

/// Sequence numbers are decimal strings of varying length.
pub(super) fn sequence_after(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

/// Whether a record was applied before: it is not after the checkpoint,
/// unless it shares the checkpoint's number but is another event (moto
/// 5.2 can give two concurrent writes the same number; DynamoDB never
/// does). Never applying a record twice is what makes resuming exact.
fn already_applied(checkpoint: &Checkpoint, sequence: &str, event: &str) -> bool {
    match checkpoint.sequence.as_deref() {
        None => false,
        Some(last) if last == sequence => checkpoint.events.iter().any(|e| e == event),
        Some(last) => !sequence_after(sequence, last),
    }
}

/// Adds what one stream record means to `page`.
fn convert(source: Source, record: &Record, page: &mut Page) {
    let Some(data) = record.dynamodb() else {
        return;
    };
    let new = data.new_image().map(items::from_stream_item);
    let old = data.old_image().map(items::from_stream_item);
    match (source, record.event_name()) {
        (Source::Messages, Some(OperationType::Insert | OperationType::Modify)) => {
            let Some(new) = new else { return };
            match items::message_from_item(&new) {
                Ok(message) => {
                    let (c, s) = (message.conversation.clone(), message.seq);
                    let inserted = record.event_name() == Some(&OperationType::Insert);
                    if inserted {
                        page.changes.push(Change::Message {
                            c: c.clone(),
                            s,
                            d: Some(message.direction),
                        });
                        if items::get_bool(&new, attr::OPT_CHANGE).is_some() {
                            page.changes.push(Change::OptOut { c: c.clone() });
                        }
                    } else if rank(old.as_ref()) != rank(Some(&new)) {
                        page.changes.push(Change::Status { c: c.clone(), s });
                    }
                    page.mirror.push(message);
                }
                Err(e) => {
                    tracing::error!(error = %e, "skipping a message stream record that cannot be read")
                }
            }
        }
        (Source::Conversations, Some(OperationType::Modify)) => {
            let (Some(old), Some(new)) = (old, new) else {
                return;
            };
            let flipped =
                items::get_bool(&old, attr::OPTED_OUT) != items::get_bool(&new, attr::OPTED_OUT);
            // An opt-out that came with a message is announced by the
            // message's own record, in order with it.
            let same_message =
                items::get_n(&old, attr::LAST_SEQ) == items::get_n(&new, attr::LAST_SEQ);
            if flipped && same_message {
                if let Some(c) = items::get_s(&new, attr::CONVERSATION) {
                    page.changes.push(Change::OptOut { c: c.to_string() });
                }
            }
        }
        _ => {}
    }
}

fn rank(image: Option<&Item>) -> Option<u64> {
    image.and_then(|i| items::get_n(i, attr::STATUS_RANK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(sequence_after("1000", "999"));
        assert!(!sequence_after("999", "1000"));
        assert!(!sequence_after("1000", "1000"));
        assert!(sequence_after(
            "1100000000017454423010",
            "1100000000017454423009"
        ));
    }

    #[test]
    fn records_at_or_before_the_checkpoint_are_not_applied_again() {
        let checkpoint = Checkpoint {
            sequence: Some("120".into()),
            events: vec!["a".into()],
            done: false,
        };
        assert!(already_applied(&checkpoint, "119", "x"));
        assert!(already_applied(&checkpoint, "120", "a"));
        assert!(
            !already_applied(&checkpoint, "120", "b"),
            "same number, other event"
        );
        assert!(!already_applied(&checkpoint, "121", "c"));
        assert!(!already_applied(&Checkpoint::default(), "1", "d"));
    }
}
