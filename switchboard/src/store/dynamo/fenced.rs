//! Fenced writes: routing and outbox writes that DynamoDB itself refuses
//! once this instance no longer holds the router lease.
//!
//! Each fenced write is a `TransactWriteItems`: a `ConditionCheck` that the
//! lease item ([`LEASE_ID`] in `meta`) still names this instance's holder
//! and epoch ([`Fence`]), and the write itself with its own condition —
//! routes and agents' settings (`routes.rs`), send intents (`mod.rs`),
//! stream checkpoints (`checkpoints.rs`). The outbox's recorded result is
//! the one exception, written right after a fenced guard rather than inside
//! it (`status.rs` says why). DynamoDB applies both or neither, so a leader that stalled
//! past its lease (a GC pause, SIGSTOP) and wakes up still believing it
//! leads cannot write: the new leader bumped the epoch. The two conditions
//! are told apart by the transaction's cancellation reasons (one per item,
//! in order): the lease check failing is [`StoreError::Fenced`] (and
//! [`FenceCell::report_refused`], so the lease steps down at once), the
//! write's own condition failing is [`Written::ConditionFailed`], which the
//! caller reads as it read a refused conditional write before.
//!
//! Without a fence (`FenceCell::get() == None`: this instance does not
//! lead) nothing is sent and the write is `Fenced` too: a follower never
//! writes routing or outbox state.
//!
//! On moto 5.2 a cancelled transaction is undone by restoring a snapshot
//! of each table in it (`append.rs`), which can drop a concurrent writer's
//! item on that table. None of the tables written here has a stream, and a
//! cancellation is rare with one leader (a claim refused as held elsewhere,
//! an intent already recorded, a lease that moved).
//!
//! [`LEASE_ID`]: crate::store::fence::LEASE_ID
//! [`FenceCell::report_refused`]: crate::store::fence::FenceCell::report_refused

use super::error;
use super::items::{attr, n, s};
use super::DynamoStore;
use crate::store::fence::{Fence, FenceCell, ATTR_BEAT, ATTR_EPOCH, ATTR_HOLDER, LEASE_ID};
use crate::store::{Result, StoreError};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, ReturnValue, TransactWriteItem};

/// What a fenced write did (when the lease check held).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    /// Both conditions held: the write is durable.
    Written,
    /// The write's own condition did not hold; nothing was written.
    ConditionFailed,
}

/// DynamoDB's cancellation reason for a condition that did not hold.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// What a fenced write needs: the client, the table holding the lease item,
/// and the fence. Cheap to clone (the stream checkpointer has its own).
#[derive(Clone)]
pub(super) struct Fencing {
    /// The store's DynamoDB client.
    pub client: aws_sdk_dynamodb::Client,
    /// The `meta` table, where the lease item is.
    pub meta: String,
    /// The fence the lease sets while this instance leads.
    pub cell: FenceCell,
}

impl Fencing {
    /// Writes `writes` (each a `Put`, `Update` or `Delete` carrying its own
    /// condition; at most 99) all or none, only if this instance still
    /// holds the router lease at the epoch of its fence. `operation` and
    /// `table` name the write in logs.
    pub async fn write_all(
        &self,
        operation: &'static str,
        table: &str,
        writes: Vec<TransactWriteItem>,
    ) -> Result<Written> {
        let Some(fence) = self.cell.get() else {
            return Err(StoreError::Fenced);
        };
        let mut items = vec![self.lease_check(&fence)?];
        items.extend(writes);
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Written::Written),
            Err(e) => match cancellation(&e).as_slice() {
                [Some(lease), ..] if lease == CONDITION_FAILED => {
                    tracing::warn!(
                        operation,
                        table,
                        holder = fence.holder,
                        epoch = fence.epoch,
                        "write refused: the router lease moved to another instance"
                    );
                    self.cell.report_refused();
                    Err(StoreError::Fenced)
                }
                [_, own @ ..]
                    if own
                        .iter()
                        .any(|code| code.as_deref() == Some(CONDITION_FAILED)) =>
                {
                    Ok(Written::ConditionFailed)
                }
                // A conflicting transaction or throttling: a storage
                // failure like any other, retried by the caller.
                _ => Err(error::dynamo(operation, table, &e)),
            },
        }
    }

    /// The transaction item that holds only while the lease item still
    /// names `fence`'s holder at its epoch.
    fn lease_check(&self, fence: &Fence) -> Result<TransactWriteItem> {
        let check = ConditionCheck::builder()
            .table_name(&self.meta)
            .key(attr::ID, s(LEASE_ID))
            .condition_expression("#holder = :holder AND #epoch = :epoch")
            .expression_attribute_names("#holder", ATTR_HOLDER)
            .expression_attribute_names("#epoch", ATTR_EPOCH)
            .expression_attribute_values(":holder", s(&fence.holder))
            .expression_attribute_values(":epoch", n(fence.epoch))
            .build()
            .map_err(|e| StoreError::Storage(format!("building the lease check: {e}")))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

impl DynamoStore {
    /// One fenced write (see [`Fencing::write_all`]).
    pub(super) async fn fenced(
        &self,
        operation: &'static str,
        table: &str,
        write: TransactWriteItem,
    ) -> Result<Written> {
        self.fencing.write_all(operation, table, vec![write]).await
    }

    /// Takes the lease item for `holder` whoever holds it, with the next
    /// epoch, and returns the fence to write with. This is no lease (there
    /// is no heartbeat and no waiting for the holder's timeout): it is what
    /// a single instance does while no router lease runs, and how the tests
    /// play "another instance took over".
    pub async fn take_lease_unconditionally(&self, holder: &str) -> Result<Fence> {
        let table = &self.tables.meta;
        let out = self
            .client
            .update_item()
            .table_name(table)
            .key(attr::ID, s(LEASE_ID))
            .update_expression("SET #holder = :holder, #beat = :zero ADD #epoch :one")
            .expression_attribute_names("#holder", ATTR_HOLDER)
            .expression_attribute_names("#beat", ATTR_BEAT)
            .expression_attribute_names("#epoch", ATTR_EPOCH)
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| error::dynamo("UpdateItem", table, &e))?;
        let epoch = out
            .attributes
            .as_ref()
            .and_then(|item| super::items::get_n(item, ATTR_EPOCH))
            .ok_or_else(|| StoreError::Corrupt("the lease item has no epoch".into()))?;
        Ok(Fence {
            holder: holder.to_string(),
            epoch,
        })
    }
}

/// The cancellation reason code of each transaction item, in order, when
/// DynamoDB cancelled the transaction; empty for any other failure.
fn cancellation<R>(e: &SdkError<TransactWriteItemsError, R>) -> Vec<Option<String>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// On the AWS emulator (moto), with the real SDK: a fenced write goes
/// through while this instance holds the lease, and is refused — nothing
/// written — once another holder took the lease item.
#[cfg(test)]
mod tests {
    use crate::store::contract::{open_dynamodb, DynamoHarness};
    use crate::store::dynamo::items::{self, attr, s};
    use crate::store::{
        AgentSettings, Claim, InboundMessage, Lifecycle, MessageLog, PendingReplies, Reply,
        ReplyOutcome, RouteRecord, RouteWrite, RoutingState, SendIntent, StatusTarget,
        StatusUpdate, StoreError,
    };
    use switchboard_protocol::DeliveryStatus;

    const CUSTOMER: &str = "+15550100001";

    fn claim(agent: &str, previous: Option<&str>) -> Claim {
        Claim {
            conversation: CUSTOMER.into(),
            agent: agent.into(),
            previous: previous.map(str::to_string),
            since_ms: 10,
            waiting_since_ms: 5,
        }
    }

    /// Another instance takes the lease item (as a contender would after
    /// this one's lease timed out); this store's fence still names the old
    /// epoch, as a stalled leader's would.
    async fn another_instance_takes_the_lease(h: &DynamoHarness) {
        let stale = h.fence.get();
        h.store
            .take_lease_unconditionally("another-instance")
            .await
            .expect("take the lease item");
        h.fence.set(stale);
    }

    async fn route(h: &DynamoHarness) -> Option<RouteRecord> {
        let routes = h.store.routes().await.expect("routes");
        routes
            .into_iter()
            .find(|(c, _)| c == CUSTOMER)
            .map(|(_, r)| r)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn routing_writes_are_refused_once_another_instance_took_the_lease() {
        let h = open_dynamodb().await;
        let mut refusals = h.fence.refusals();
        // With the current fence: written, and the write's own condition
        // still decides (a claim of a held conversation is not `Fenced`).
        let alice = claim("alice", None);
        assert_eq!(
            h.store.claim(&alice).await.expect("claim"),
            RouteWrite::Written
        );
        assert_eq!(
            h.store.claim(&claim("carol", None)).await.expect("claim"),
            RouteWrite::HeldElsewhere
        );
        let away = AgentSettings {
            available: false,
            capacity: 2,
        };
        h.store.save_agent("alice", away).await.expect("settings");

        another_instance_takes_the_lease(&h).await;
        // A transfer that the route's own condition allows: refused.
        let transfer = h.store.claim(&claim("bob", Some("alice"))).await;
        assert!(
            matches!(transfer, Err(StoreError::Fenced)),
            "got {transfer:?}"
        );
        assert_eq!(h.fence.get(), None, "the refusal cleared the fence");
        assert!(refusals.has_changed().expect("watch"), "the lease was told");
        refusals.mark_unchanged();
        assert_eq!(route(&h).await, Some(alice.route()), "route unchanged");

        // The stale fence again: a resolve and a settings write, refused.
        another_instance_takes_the_lease(&h).await;
        let h_fence = h.fence.get();
        h.fence.set(h_fence.map(|mut f| {
            f.epoch -= 1;
            f
        }));
        let resolved = RouteRecord::Resolved {
            at_ms: 20,
            upto_seq: 1,
            by: None,
        };
        let resolve = h.store.save_route(CUSTOMER, &resolved).await;
        assert!(
            matches!(resolve, Err(StoreError::Fenced)),
            "got {resolve:?}"
        );
        assert_eq!(route(&h).await, Some(alice.route()), "route unchanged");
        // No fence at all (a follower): refused without a call.
        let free = AgentSettings {
            available: true,
            capacity: 1,
        };
        let settings = h.store.save_agent("alice", free).await;
        assert!(
            matches!(settings, Err(StoreError::Fenced)),
            "got {settings:?}"
        );
        assert_eq!(
            h.store.agents().await.expect("agents"),
            vec![("alice".to_string(), away)],
            "settings unchanged"
        );
        h.store.close().await.expect("close");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outbox_writes_are_refused_once_another_instance_took_the_lease() {
        let h = open_dynamodb().await;
        h.store
            .append_inbound(InboundMessage {
                message_sid: "SMfence1".into(),
                from: CUSTOMER.into(),
                to: "+15550199999".into(),
                body: "hi".into(),
                country: Some("US".into()),
                media: Vec::new(),
                at_ms: 1,
            })
            .await
            .expect("inbound");
        let mut seqs = Vec::new();
        for client_id in ["r1", "r2", "r3"] {
            let reply = Reply {
                kind: Default::default(),
                conversation: CUSTOMER.into(),
                agent: "alice".into(),
                client_id: client_id.into(),
                body: format!("reply {client_id}"),
                media: Vec::new(),
                at_ms: 2,
            };
            match h.store.append_reply(reply).await.expect("reply") {
                ReplyOutcome::Accepted { seq, .. } => seqs.push(seq),
                other => panic!("reply not accepted: {other:?}"),
            }
        }
        let (first, second, third) = (seqs[0], seqs[1], seqs[2]);
        let intent = SendIntent {
            from: "+15550199999".into(),
            at_ms: 3,
        };
        let sent = |seq, sid: &str| StatusUpdate {
            target: StatusTarget::Position(CUSTOMER.into(), seq),
            status: DeliveryStatus::Sending,
            error: None,
            twilio_sid: Some(sid.into()),
            outbox_done: true,
        };
        // With the current fence: the intent and the result are recorded,
        // and the settled reply's intent is deleted.
        for seq in [first, second] {
            h.store
                .record_intent(CUSTOMER, seq, &intent)
                .await
                .expect("intent");
        }
        h.store
            .update_status(sent(first, "SMout1"))
            .await
            .expect("settle");
        let lookups = crate::store::dynamo::schema::table_name(
            &h.prefix,
            crate::store::dynamo::schema::LOOKUPS,
        );
        let left = h
            .store
            .client
            .get_item()
            .table_name(&lookups)
            .key(attr::ID, s(items::intent_id(CUSTOMER, first)))
            .consistent_read(true)
            .send()
            .await
            .expect("read the intent");
        assert_eq!(left.item, None, "a settled reply's intent is deleted");

        let status_of = |seq| {
            let store = &h.store;
            async move {
                let message = store.message(CUSTOMER, seq).await.expect("read");
                message.expect("stored").status
            }
        };
        let second_before = status_of(second).await;
        another_instance_takes_the_lease(&h).await;
        let settle = h.store.update_status(sent(second, "SMout2")).await;
        assert!(matches!(settle, Err(StoreError::Fenced)), "got {settle:?}");
        another_instance_takes_the_lease(&h).await;
        let recorded = h.store.record_intent(CUSTOMER, third, &intent).await;
        assert!(
            matches!(recorded, Err(StoreError::Fenced)),
            "got {recorded:?}"
        );
        // Both still in the outbox as they were: the new leader finds the
        // second with its intent (it looks in Twilio's list before sending)
        // and the third without one.
        let pending: Vec<_> = h
            .store
            .pending_replies()
            .await
            .expect("outbox")
            .into_iter()
            .map(|p| (p.seq, p.intent))
            .collect();
        assert_eq!(pending, [(second, Some(intent)), (third, None)]);
        assert_eq!(status_of(second).await, second_before, "status unchanged");
        // A status callback is not fenced: every instance takes them.
        let callback = StatusUpdate {
            target: StatusTarget::Position(CUSTOMER.into(), first),
            status: DeliveryStatus::Delivered,
            error: None,
            twilio_sid: None,
            outbox_done: false,
        };
        h.store.update_status(callback).await.expect("callback");
        h.store.close().await.expect("close");
    }
}
