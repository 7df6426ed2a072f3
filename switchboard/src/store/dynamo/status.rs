//! Delivery statuses and opt-outs.
//!
//! The rules are [`crate::conversation::status`]'s. A status is written
//! with a condition on `status_rank` — `status::advances` said in DynamoDB's
//! condition language, since only the write itself can decide it atomically
//! — so it only ever moves forward whoever writes it and in whatever order
//! callbacks arrive. An early status is kept the same way
//! (`status::replaces_early`) and merged with `status::merge_early`.
//! The outbox's own update (Twilio accepted the message: here is its SID)
//! also takes the message out of the sparse outbox index in the same write;
//! only the leader sends replies, so that update (`outbox_done`) is
//! preceded by a fenced guard (`outbox_guard`: the router lease's check,
//! with the SID's lookup entry) and is refused with `Fenced` when the lease
//! moved; once it landed the reply's send intent is deleted. A status
//! callback is not fenced: every instance takes them.
//!
//! A callback can beat Twilio's answer to our POST, i.e. arrive for a SID
//! we have not recorded yet. It is kept as `early:<sid>` in `lookups`. Both
//! sides write first and look second — the outbox writes `sid:<sid>` then
//! reads `early:<sid>`, the callback writes `early:<sid>` then reads
//! `sid:<sid>` again — so at least one of them sees the other and the status
//! is applied (applying it twice is harmless: the rank condition refuses the
//! second).

use super::error::{self, condition_failed};
use super::fenced::Written;
use super::items::{self, attr, n, s};
use super::DynamoStore;
use crate::conversation::status::{merge_early, StatusReport};
use crate::store::{Result, StatusOutcome, StatusTarget, StatusUpdate, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use switchboard_protocol::{DeliveryError, DeliveryStatus, Seq};

impl DynamoStore {
    pub(super) async fn update_status_impl(&self, update: StatusUpdate) -> Result<StatusOutcome> {
        let mut report = StatusReport {
            status: update.status,
            error: update.error.clone(),
        };
        let (conversation, seq) = match &update.target {
            StatusTarget::Position(conversation, seq) => (conversation.clone(), *seq),
            StatusTarget::TwilioSid(sid) => match self.lookup(&items::sid_id(sid)).await? {
                Some(position) => position,
                None => {
                    self.save_early(sid, &report).await?;
                    match self.lookup(&items::sid_id(sid)).await? {
                        // Recorded meanwhile: apply it here after all.
                        Some(position) => position,
                        None => return Ok(StatusOutcome::Deferred),
                    }
                }
            },
        };
        let mut early_seen = None;
        if update.outbox_done {
            // Only the leader records what became of a reply: refused
            // (`Fenced`) before anything is written when the lease moved.
            self.outbox_guard(&conversation, seq, update.twilio_sid.as_deref())
                .await?;
        }
        if let Some(sid) = &update.twilio_sid {
            if !update.outbox_done {
                self.put_lookup(&items::sid_id(sid), &conversation, seq)
                    .await?;
            }
            if let Some(early) = self.early(sid).await? {
                report = merge_early(report, Some(early));
                early_seen = Some(sid.clone());
            }
        }
        let outcome = self
            .write_status(&conversation, seq, report.status, &report.error, &update)
            .await?;
        if let Some(sid) = early_seen {
            self.delete_early(&sid).await;
        }
        if let StatusTarget::TwilioSid(sid) = &update.target {
            // It was deferred a moment ago and then found: it is applied now.
            self.delete_early(sid).await;
        }
        Ok(outcome)
    }

    async fn write_status(
        &self,
        conversation: &str,
        seq: Seq,
        status: DeliveryStatus,
        error: &Option<DeliveryError>,
        update: &StatusUpdate,
    ) -> Result<StatusOutcome> {
        let table = &self.tables.messages;
        let mut request = Update::builder()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .key(attr::SEQ, n(seq))
            .condition_expression(
                "attribute_exists(#seq) AND (attribute_not_exists(#rank) OR #rank < :rank)",
            )
            .expression_attribute_names("#seq", attr::SEQ)
            .expression_attribute_names("#rank", attr::STATUS_RANK)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#error", attr::ERROR)
            .expression_attribute_values(":rank", n(status.rank().into()))
            .expression_attribute_values(":status", s(items::enum_str(&status)?));
        let mut sets = vec!["#status = :status".to_string(), "#rank = :rank".to_string()];
        let mut removes = Vec::new();
        match error {
            Some(error) => {
                let json =
                    serde_json::to_string(error).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                request = request.expression_attribute_values(":error", s(json));
                sets.push("#error = :error".into());
            }
            None => removes.push("#error"),
        }
        if let Some(sid) = &update.twilio_sid {
            request = request
                .expression_attribute_names("#sid", attr::TWILIO_SID)
                .expression_attribute_values(":sid", s(sid));
            sets.push("#sid = :sid".into());
        }
        if update.outbox_done {
            request = request.expression_attribute_names("#outbox", attr::OUTBOX);
            removes.push("#outbox");
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let request = request
            .update_expression(expression)
            .build()
            .map_err(|e| StoreError::Storage(format!("building a status write: {e}")))?;
        match self.conditional_update(request).await? {
            Written::Written => {
                if update.outbox_done {
                    self.delete_intent(conversation, seq).await;
                }
                Ok(StatusOutcome::Applied)
            }
            Written::ConditionFailed => {
                // Stale (or missing): still record the SID and settle the outbox.
                self.settle(conversation, seq, update).await?;
                Ok(StatusOutcome::Stale)
            }
        }
    }

    /// Records Twilio's SID and takes the message out of the outbox without
    /// touching its status; fails when the message does not exist.
    async fn settle(&self, conversation: &str, seq: Seq, update: &StatusUpdate) -> Result<()> {
        let table = &self.tables.messages;
        let mut request = Update::builder()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .key(attr::SEQ, n(seq))
            .condition_expression("attribute_exists(#seq)")
            .expression_attribute_names("#seq", attr::SEQ);
        let mut expression = String::new();
        if let Some(sid) = &update.twilio_sid {
            request = request
                .expression_attribute_names("#sid", attr::TWILIO_SID)
                .expression_attribute_values(":sid", s(sid));
            expression.push_str("SET #sid = :sid");
        }
        if update.outbox_done {
            request = request.expression_attribute_names("#outbox", attr::OUTBOX);
            expression.push_str(" REMOVE #outbox");
        }
        if expression.is_empty() {
            // Nothing to write; only make sure the message exists.
            return match self.message_item(conversation, seq).await? {
                Some(_) => Ok(()),
                None => Err(missing(conversation, seq)),
            };
        }
        let request = request
            .update_expression(expression.trim())
            .build()
            .map_err(|e| StoreError::Storage(format!("building a settle write: {e}")))?;
        match self.conditional_update(request).await? {
            Written::Written => {
                if update.outbox_done {
                    self.delete_intent(conversation, seq).await;
                }
                Ok(())
            }
            Written::ConditionFailed => Err(missing(conversation, seq)),
        }
    }

    /// The fenced step of recording a reply's result (`fenced.rs`): one
    /// transaction of the lease check and, when Twilio gave us one, the
    /// SID's lookup entry (which the result needs first anyway, see the
    /// module docs). The message's own update follows as a plain
    /// conditional write, not inside the transaction: moto 5.2 undoes a
    /// cancelled transaction by restoring a snapshot of each table in it,
    /// which on the messages table also orphans its stream (see
    /// `append.rs`), and a status write is refused as stale often (a
    /// callback beat the POST's answer). So the result lands right after
    /// the check, not atomically with it: a leader that stalls exactly in
    /// between still writes it — Twilio's own answer, true whoever records it.
    async fn outbox_guard(&self, conversation: &str, seq: Seq, sid: Option<&str>) -> Result<()> {
        let table = &self.tables.lookups;
        let writes = match sid {
            Some(sid) => {
                let put = Put::builder()
                    .table_name(table)
                    .item(attr::ID, s(items::sid_id(sid)))
                    .item(attr::CONVERSATION, s(conversation))
                    .item(attr::SEQ, n(seq))
                    .build()
                    .map_err(|e| StoreError::Storage(format!("building a SID lookup: {e}")))?;
                vec![TransactWriteItem::builder().put(put).build()]
            }
            None => Vec::new(),
        };
        self.fencing
            .write_all("TransactWriteItems", table, writes)
            .await?;
        Ok(())
    }

    /// A conditional `UpdateItem`; its condition failing is
    /// [`Written::ConditionFailed`].
    async fn conditional_update(&self, update: Update) -> Result<Written> {
        let table = update.table_name().to_string();
        let sent = self
            .client
            .update_item()
            .table_name(&table)
            .set_key(Some(update.key().clone()))
            .update_expression(update.update_expression())
            .set_condition_expression(update.condition_expression().map(str::to_string))
            .set_expression_attribute_names(update.expression_attribute_names().cloned())
            .set_expression_attribute_values(update.expression_attribute_values().cloned())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Written::Written),
            Err(e) if condition_failed(&e) => Ok(Written::ConditionFailed),
            Err(e) => Err(error::dynamo("UpdateItem", &table, &e)),
        }
    }

    /// Best effort, once a reply left the outbox: its send intent is read
    /// only while the reply is pending, so it would only take up space.
    /// (One left behind by a crash just before this is harmless.)
    async fn delete_intent(&self, conversation: &str, seq: Seq) {
        let table = &self.tables.lookups;
        if let Err(e) = self
            .client
            .delete_item()
            .table_name(table)
            .key(attr::ID, s(items::intent_id(conversation, seq)))
            .send()
            .await
        {
            error::dynamo("DeleteItem", table, &e);
        }
    }

    /// Keeps a status for a SID not recorded yet (only if it is newer than
    /// one already kept).
    async fn save_early(&self, sid: &str, report: &StatusReport) -> Result<()> {
        let (status, error) = (report.status, &report.error);
        let table = &self.tables.lookups;
        let mut request = self
            .client
            .put_item()
            .table_name(table)
            .item(attr::ID, s(items::early_id(sid)))
            .item(attr::STATUS, s(items::enum_str(&status)?))
            .item(attr::STATUS_RANK, n(status.rank().into()))
            .condition_expression("attribute_not_exists(#id) OR #rank < :rank")
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_names("#rank", attr::STATUS_RANK)
            .expression_attribute_values(":rank", n(status.rank().into()));
        if let Some(error) = error {
            let json =
                serde_json::to_string(error).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            request = request.item(attr::ERROR, s(json));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(error::dynamo("PutItem", table, &e)),
        }
    }

    async fn early(&self, sid: &str) -> Result<Option<StatusReport>> {
        let table = &self.tables.lookups;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(attr::ID, s(items::early_id(sid)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::dynamo("GetItem", table, &e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let status = items::get_s(&item, attr::STATUS)
            .and_then(|text| serde_json::from_value(serde_json::Value::String(text.into())).ok());
        let error =
            items::get_s(&item, attr::ERROR).and_then(|json| serde_json::from_str(json).ok());
        Ok(status.map(|status| StatusReport { status, error }))
    }

    /// Best effort: a leftover early status is harmless (it never wins
    /// against a status already applied).
    async fn delete_early(&self, sid: &str) {
        let table = &self.tables.lookups;
        if let Err(e) = self
            .client
            .delete_item()
            .table_name(table)
            .key(attr::ID, s(items::early_id(sid)))
            .send()
            .await
        {
            error::dynamo("DeleteItem", table, &e);
        }
    }

    pub(super) async fn set_opted_out_impl(
        &self,
        conversation: &str,
        opted_out: bool,
    ) -> Result<()> {
        let table = &self.tables.conversations;
        match self
            .client
            .update_item()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .update_expression("SET #opted = :opted")
            .condition_expression("attribute_exists(#c) AND #opted <> :opted")
            .expression_attribute_names("#c", attr::CONVERSATION)
            .expression_attribute_names("#opted", attr::OPTED_OUT)
            .expression_attribute_values(":opted", AttributeValue::Bool(opted_out))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already so, or no such conversation: nothing to change.
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(error::dynamo("UpdateItem", table, &e)),
        }
    }
}

fn missing(conversation: &str, seq: Seq) -> StoreError {
    StoreError::Corrupt(format!(
        "status for a message that does not exist ({conversation} #{seq})"
    ))
}
