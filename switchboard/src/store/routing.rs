//! The routing-state port: where each conversation is in routing, who holds
//! it, and each agent's declared availability. Only the router writes it.
//!
//! One semantics for every backend:
//!
//! * a write returns once it is durable (sled: flushed to its log; DynamoDB:
//!   acknowledged by the service), so the router acts only on state that a
//!   restart will find again;
//! * [`claim`](RoutingState::claim) and [`save_route`](RoutingState::save_route)
//!   never take a conversation away from whoever holds it, except for the
//!   holder itself or the `previous` holder named in a transfer. When they
//!   refuse they return [`RouteWrite::HeldElsewhere`] — never `Ok(())` with
//!   nothing written — and the router drops the conversation from its memory.
//!   A single-instance store (sled: one router) never refuses.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_protocol::{ConversationId, Seq};

/// Where a conversation is in routing. Owned by the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RouteRecord {
    /// Waiting for an agent since `since_ms`.
    Queued {
        since_ms: u64,
        /// The agent who handed it back (not preferred when others are free).
        #[serde(default)]
        released_by: Option<String>,
    },
    /// Assigned to `agent` since `since_ms`.
    Assigned {
        agent: String,
        since_ms: u64,
        /// When the customer started waiting: the time the conversation
        /// last entered the queue (0 in records written before this field
        /// existed; `since_ms` stands in for it then).
        #[serde(default)]
        waiting_since_ms: u64,
    },
    /// Closed by an agent; the next message opens a new conversation.
    Resolved {
        at_ms: u64,
        /// The newest seq when it was closed: seeing a message up to it
        /// again (a change feed replayed from its start, as a new instance
        /// of the DynamoDB store does) does not reopen it.
        #[serde(default)]
        upto_seq: Seq,
        /// Who resolved it (absent in records written before this field
        /// existed); kept in the history (`history.rs`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
}

/// What a routing write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteWrite {
    /// Written (and durable).
    Written,
    /// Refused: another claimant holds the conversation (another instance
    /// routed it first). Nothing was written; leave the conversation alone.
    HeldElsewhere,
}

/// An assignment to record, see [`RoutingState::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub conversation: ConversationId,
    /// Who gets it.
    pub agent: String,
    /// Who held it until now (a transfer), allowed to be displaced.
    pub previous: Option<String>,
    /// When it is assigned.
    pub since_ms: u64,
    /// When the customer started waiting.
    pub waiting_since_ms: u64,
}

impl Claim {
    /// The record the claim writes.
    pub fn route(&self) -> RouteRecord {
        RouteRecord::Assigned {
            agent: self.agent.clone(),
            since_ms: self.since_ms,
            waiting_since_ms: self.waiting_since_ms,
        }
    }
}

/// What an agent last declared with `hello` or `availability`; kept across
/// restarts so an agent who set Away stays away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSettings {
    pub available: bool,
    pub capacity: u32,
}

impl Default for AgentSettings {
    /// Before an agent declares anything: available, one at a time.
    fn default() -> Self {
        AgentSettings {
            available: true,
            capacity: 1,
        }
    }
}

/// The routing-state port; see the module docs for the contract.
#[async_trait]
pub trait RoutingState: Send + Sync {
    /// Records `route` for `conversation`. An `Assigned` record is written
    /// unconditionally (use [`claim`](Self::claim) to take one); a `Queued`
    /// one handed back by `released_by` is refused unless nobody or that
    /// agent holds the conversation, and a `Queued` one without
    /// `released_by` unless nobody holds it. `Resolved` always writes.
    async fn save_route(
        &self,
        conversation: &str,
        route: &RouteRecord,
    ) -> crate::store::Result<RouteWrite>;

    /// Every routing record (live and resolved).
    async fn routes(&self) -> crate::store::Result<Vec<(ConversationId, RouteRecord)>>;

    /// Records the conversation as assigned to `claim.agent` unless someone
    /// else holds it: it succeeds when nobody holds it, the agent already
    /// does, or `claim.previous` does (a transfer).
    async fn claim(&self, claim: &Claim) -> crate::store::Result<RouteWrite>;

    /// Saves what an agent declared.
    async fn save_agent(&self, agent: &str, settings: AgentSettings) -> crate::store::Result<()>;

    /// Every agent's last declared settings.
    async fn agents(&self) -> crate::store::Result<Vec<(String, AgentSettings)>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::Durability;
    use crate::store::sled_store::{SledOptions, SledStore};
    use crate::store::Change;
    use switchboard_protocol::Direction;

    #[test]
    fn records_written_before_new_fields_still_read() {
        let old: RouteRecord =
            serde_json::from_str(r#"{"state":"assigned","agent":"alice","since_ms":7}"#).unwrap();
        assert_eq!(
            old,
            RouteRecord::Assigned {
                agent: "alice".into(),
                since_ms: 7,
                waiting_since_ms: 0
            }
        );
        let old: Change = serde_json::from_str(r#"{"k":"message","c":"+1555","s":3}"#).unwrap();
        assert_eq!(
            old,
            Change::Message {
                c: "+1555".into(),
                s: 3,
                d: None
            }
        );
        let new = Change::Message {
            c: "+1555".into(),
            s: 4,
            d: Some(Direction::Inbound),
        };
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), new);
    }

    #[tokio::test]
    async fn sled_routing_state_is_there_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        // The closed store's writer thread lets go of the files a moment
        // after `close` returns: wait for that (generously), not a fixed time.
        let open = || async {
            for _ in 0..500 {
                let opened = SledStore::open(SledOptions {
                    path: dir.path(),
                    cache_mb: 8,
                    durability: Durability::Fsync,
                });
                match opened {
                    Ok((store, _)) => return store,
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                }
            }
            panic!("the store did not reopen");
        };
        let store = open().await;
        let claim = Claim {
            conversation: "+15550001".into(),
            agent: "alice".into(),
            previous: None,
            since_ms: 20,
            waiting_since_ms: 10,
        };
        assert_eq!(store.claim(&claim).await.unwrap(), RouteWrite::Written);
        let queued = RouteRecord::Queued {
            since_ms: 30,
            released_by: None,
        };
        assert_eq!(
            store.save_route("+15550002", &queued).await.unwrap(),
            RouteWrite::Written
        );
        let away = AgentSettings {
            available: false,
            capacity: 4,
        };
        store.save_agent("bob", away).await.unwrap();
        crate::store::Lifecycle::close(&store).await.unwrap();
        drop(store);

        let store = open().await;
        let mut routes = store.routes().await.unwrap();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            routes,
            vec![
                ("+15550001".to_string(), claim.route()),
                ("+15550002".to_string(), queued)
            ]
        );
        assert_eq!(
            store.agents().await.unwrap(),
            vec![("bob".to_string(), away)]
        );
    }
}
