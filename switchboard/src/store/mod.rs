//! Persistence, as narrow ports with one documented semantics each:
//!
//! * [`MessageLog`] (`log.rs`): the conversation log — conditional appends
//!   (deduplicated, gap-free seqs), status and opt-out writes, reads;
//! * [`ChangeFeed`] (`feed.rs`): the single-consumer feed of changes the
//!   router follows, with its cursor;
//! * [`RoutingState`] (`routing.rs`): routes and agents' settings, written
//!   by the router alone;
//! * [`PendingReplies`] (`outbox.rs`): the replies the outbox worker still
//!   has to send, and its send intents;
//! * [`Lifecycle`] (`lifecycle.rs`): readiness and close;
//! * [`CannedStore`] (`canned.rs`): the team's canned replies, one
//!   versioned list replaced with a compare-and-set;
//! * [`History`] (`history.rs`): every resolve, recent resolves and search
//!   over messages (`search.rs`: what a query matches), so resolved
//!   conversations stay findable;
//! * [`job_claims::JobClaims`] (`job_claims.rs`): which instance runs a
//!   job, with a store several instances share (DynamoDB only).
//!
//! [`recent::RecentInbound`] decorates any message log with the inbound
//! messages just stored, so delivering them to agents does not read them
//! back.
//!
//! A backend implements all of them — the embedded sled store
//! ([`sled_store::SledStore`]), DynamoDB ([`dynamo::DynamoStore`]) and the
//! in-memory reference ([`memory::MemoryStore`]) — and is then a [`Store`],
//! which `server.rs` splits into [`Ports`]; each consumer holds only the
//! ports it uses. Both sled-backed change feeds are one type,
//! [`change_log::ChangeLog`]. `contract/` holds the cases every backend
//! passes (tests only).

pub mod canned;
pub mod change_log;
#[cfg(test)]
mod contract;
pub mod dynamo;
pub mod feed;
pub mod fence;
mod group_commit;
pub mod history;
#[cfg(test)]
mod history_bench;
pub mod job_claims;
pub mod keys;
pub mod lifecycle;
pub mod log;
pub mod memory;
pub mod outbox;
pub mod recent;
pub mod routing;
pub mod search;
pub mod sled_store;
mod word_index;

pub use canned::{CannedList, CannedStore};
pub use feed::{Change, ChangeFeed, ChangeId};
pub use history::History;
pub use lifecycle::Lifecycle;
pub use log::{
    Accepted, Appended, ConversationRecord, EntryKind, InboundMessage, MessageLog, Reply,
    ReplyOutcome, StatusOutcome, StatusTarget, StatusUpdate,
};
pub use outbox::{PendingReplies, PendingReply, SendIntent};
pub use routing::{AgentSettings, Claim, RouteRecord, RouteWrite, RoutingState};
use std::sync::Arc;

/// Why a store call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    /// A fenced write (`fence.rs`) was refused: the router lease has moved
    /// to another instance, so this one must stop routing and sending.
    #[error("refused: this instance no longer holds the router lease")]
    Fenced,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Storage(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A whole backend: every port. Implemented for any type that implements
/// them all; `server.rs` opens one and splits it into [`Ports`].
pub trait Store:
    MessageLog + ChangeFeed + RoutingState + PendingReplies + Lifecycle + CannedStore + History
{
}

impl<T> Store for T where
    T: MessageLog + ChangeFeed + RoutingState + PendingReplies + Lifecycle + CannedStore + History
{
}

/// A backend's ports, each behind its own handle, so that a consumer holds
/// only what it uses and a decorator can wrap one port (the inbound spool
/// wraps a remote store's message log and lifecycle).
#[derive(Clone)]
pub struct Ports {
    /// Webhooks, status callbacks, agent sockets, the outbox worker, jobs,
    /// the router (replies, reads).
    pub log: Arc<dyn MessageLog>,
    /// The router.
    pub feed: Arc<dyn ChangeFeed>,
    /// The router.
    pub routing: Arc<dyn RoutingState>,
    /// The outbox worker, at start.
    pub outbox: Arc<dyn PendingReplies>,
    /// `/readyz`, and the server at shutdown.
    pub lifecycle: Arc<dyn Lifecycle>,
    /// Agent sockets (canned replies).
    pub canned: Arc<dyn CannedStore>,
    /// The history and search API (`http/history.rs`).
    pub history: Arc<dyn History>,
    /// The job worker, with a store several instances share (DynamoDB);
    /// `None` with one instance (sled).
    pub job_claims: Option<Arc<dyn job_claims::JobClaims>>,
}

impl Ports {
    /// Every port served by `store` itself.
    pub fn of(store: Arc<dyn Store>) -> Ports {
        Ports {
            log: store.clone(),
            feed: store.clone(),
            routing: store.clone(),
            outbox: store.clone(),
            canned: store.clone(),
            history: store.clone(),
            lifecycle: store,
            job_claims: None,
        }
    }
}
