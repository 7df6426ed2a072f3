//! The lease's DynamoDB calls: one [`Call`] of the state machine
//! (`lease.rs`) becomes one request on the lease item in the `meta` table,
//! and its answer an [`Outcome`]. Nothing is decided here.
//!
//! The client has its own timeouts, a fraction of the lease timeout, so a
//! call that hangs cannot outlast the lease it is meant to keep (the caller
//! also races each call against the lease's deadline).

use super::lease::{Call, Item, Outcome};
use crate::store::dynamo::schema;
use crate::store::fence::{ATTR_BEAT, ATTR_EPOCH, ATTR_HOLDER, LEASE_ID};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;
use switchboard_cloud::aws::error_code;

/// The key attribute of the `meta` table.
const ATTR_ID: &str = "id";

/// The lease item of one table set, on its own DynamoDB client.
pub struct DynamoLease {
    client: aws_sdk_dynamodb::Client,
    /// The `meta` table's full name.
    table: String,
    /// This instance's id, written as the holder.
    me: String,
}

/// What one call answered.
pub enum Answer {
    /// A read: the item, `None` when absent.
    Read(Result<Option<Item>, ()>),
    /// A conditional write.
    Wrote(Outcome),
}

impl DynamoLease {
    /// Connects through the standard AWS chain, with attempts bounded by a
    /// fraction of `timeout` (and at most a few seconds: a long lease must
    /// not make a dead DynamoDB hold up a contender or a shutdown).
    pub async fn connect(table_prefix: &str, me: String, timeout: Duration) -> Self {
        let conf = switchboard_cloud::aws::sdk_config().await;
        let attempt = (timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
        let call = (timeout / 2).clamp(attempt, Duration::from_secs(12));
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(switchboard_cloud::aws::CONNECT_TIMEOUT.min(attempt))
            .operation_attempt_timeout(attempt)
            .operation_timeout(call)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&conf)
                .timeout_config(timeouts)
                .interceptor(crate::store::dynamo::usage::Usage { client: "lease" })
                .build(),
        );
        DynamoLease {
            client,
            table: schema::table_name(table_prefix, schema::META),
            me,
        }
    }

    /// Performs one call of the lease.
    pub async fn perform(&self, call: &Call) -> Answer {
        match call {
            Call::Read => Answer::Read(self.read().await),
            Call::Take { seen, epoch } => Answer::Wrote(self.take(seen.as_ref(), *epoch).await),
            Call::Renew { epoch, beat } => Answer::Wrote(self.renew(*epoch, *beat).await),
            Call::Release { epoch } => Answer::Wrote(self.release(*epoch).await),
        }
    }

    async fn read(&self) -> Result<Option<Item>, ()> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ATTR_ID, s(LEASE_ID))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| log("GetItem", &self.table, &e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let number = |name: &str| -> Result<u64, ()> {
            match item.get(name) {
                Some(AttributeValue::N(n)) => n.parse().map_err(|_| ()),
                None => Ok(0),
                Some(_) => Err(()),
            }
        };
        let holder = match item.get(ATTR_HOLDER) {
            Some(AttributeValue::S(holder)) => Some(holder.clone()),
            _ => None,
        };
        let parsed = (number(ATTR_EPOCH), number(ATTR_BEAT));
        match parsed {
            (Ok(epoch), Ok(beat)) => Ok(Some(Item {
                holder,
                epoch,
                beat,
            })),
            _ => {
                tracing::error!(
                    table = self.table,
                    "the lease item's epoch or beat is not a number"
                );
                Err(())
            }
        }
    }

    /// Writes (me, `epoch`, beat + 1) if the item is still exactly `seen`.
    async fn take(&self, seen: Option<&Item>, epoch: u64) -> Outcome {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(ATTR_ID, s(LEASE_ID))
            .item(ATTR_HOLDER, s(&self.me))
            .item(ATTR_EPOCH, n(epoch))
            .item(ATTR_BEAT, n(seen.map_or(0, |i| i.beat) + 1))
            .expression_attribute_names("#id", ATTR_ID);
        put = match seen {
            None => put.condition_expression("attribute_not_exists(#id)"),
            Some(item) => {
                let put = put
                    .expression_attribute_names("#e", ATTR_EPOCH)
                    .expression_attribute_names("#b", ATTR_BEAT)
                    .expression_attribute_names("#h", ATTR_HOLDER)
                    .expression_attribute_values(":e", n(item.epoch))
                    .expression_attribute_values(":b", n(item.beat));
                match &item.holder {
                    Some(holder) => put
                        .condition_expression("attribute_exists(#id) AND #e = :e AND #b = :b AND #h = :h")
                        .expression_attribute_values(":h", s(holder)),
                    None => put.condition_expression(
                        "attribute_exists(#id) AND #e = :e AND #b = :b AND attribute_not_exists(#h)",
                    ),
                }
            }
        };
        outcome(put.send().await, "PutItem", &self.table)
    }

    /// Sets `beat` if the item still names me at `epoch`.
    async fn renew(&self, epoch: u64, beat: u64) -> Outcome {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ATTR_ID, s(LEASE_ID))
            .update_expression("SET #b = :b")
            .condition_expression("#h = :me AND #e = :e")
            .expression_attribute_names("#b", ATTR_BEAT)
            .expression_attribute_names("#h", ATTR_HOLDER)
            .expression_attribute_names("#e", ATTR_EPOCH)
            .expression_attribute_values(":b", n(beat))
            .expression_attribute_values(":me", s(&self.me))
            .expression_attribute_values(":e", n(epoch))
            .send()
            .await;
        outcome(update, "UpdateItem", &self.table)
    }

    /// Removes the holder if the item still names me at `epoch`.
    async fn release(&self, epoch: u64) -> Outcome {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ATTR_ID, s(LEASE_ID))
            .update_expression("REMOVE #h")
            .condition_expression("#h = :me AND #e = :e")
            .expression_attribute_names("#h", ATTR_HOLDER)
            .expression_attribute_names("#e", ATTR_EPOCH)
            .expression_attribute_values(":me", s(&self.me))
            .expression_attribute_values(":e", n(epoch))
            .send()
            .await;
        outcome(update, "UpdateItem", &self.table)
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A conditional write's answer: a failed condition is news, not an error.
fn outcome<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    operation: &'static str,
    table: &str,
) -> Outcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(_) => Outcome::Done,
        Err(e) if error_code(&e).as_deref() == Some("ConditionalCheckFailedException") => {
            Outcome::Conflict
        }
        Err(e) => {
            log(operation, table, &e);
            Outcome::Failed
        }
    }
}

fn log<E, R>(operation: &'static str, table: &str, e: &SdkError<E, R>)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    switchboard_cloud::aws::log_failure("dynamodb", operation, table, e);
}
