//! The change-feed port: what the router follows to learn about new
//! messages, status changes and opt-out changes, with its saved position.
//!
//! One semantics for every backend ([`ChangeFeed`]):
//!
//! * every stored message, status change and opt-out change appears exactly
//!   once in the feed, after it is durable, in commit order; ids only grow;
//! * the feed has one consumer (the router), whose position — the cursor —
//!   the feed keeps; changes at or before a saved cursor may be pruned;
//! * saving the cursor is not flushed by itself: it becomes durable with the
//!   store's next flush. After a crash the consumer may start from an older
//!   cursor and see changes again, so it must treat a replayed change as
//!   already seen (the router does: a resolved route remembers `upto_seq`,
//!   delivery ranges only grow).
//!
//! Both sled-backed feeds (the sled store's and the DynamoDB store's local
//! view of its stream) are one implementation, [`super::change_log::ChangeLog`].

use super::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_protocol::{ConversationId, Direction, Seq};

/// Position in the change feed. Ids only grow; 0 means "before the first".
pub type ChangeId = u64;

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Change {
    /// A message was appended.
    Message {
        c: ConversationId,
        s: Seq,
        /// Who wrote it, so the router can tell a customer's new
        /// conversation from a reply without reading the message back.
        /// Absent in records written before it existed: then the router
        /// reads the message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        d: Option<Direction>,
    },
    /// An outbound message's status changed.
    Status { c: ConversationId, s: Seq },
    /// The customer's opt-out state changed.
    OptOut { c: ConversationId },
}

/// The change feed; see the module docs for the contract.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Up to `limit` durable changes after `after`, oldest first.
    async fn changes_after(&self, after: ChangeId, limit: usize)
        -> Result<Vec<(ChangeId, Change)>>;

    /// Resolves once a durable change after `after` exists.
    async fn wait_for_changes(&self, after: ChangeId) -> Result<()>;

    /// The consumer's position in the feed, as last saved (0: none yet).
    async fn load_cursor(&self) -> Result<ChangeId>;

    /// Saves the consumer's position; changes at or before it may be
    /// pruned. Not flushed by itself (see the module docs).
    async fn save_cursor(&self, cursor: ChangeId) -> Result<()>;
}
