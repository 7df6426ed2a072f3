//! The canned-replies port: the team's list of canned replies as one
//! versioned value, read whole and replaced whole with a compare-and-set.
//!
//! Semantics for every backend ([`CannedStore`]):
//!
//! * a fresh store holds the empty list at version 0;
//! * `replace_canned(expected, list)` stores `list` as version
//!   `expected + 1` only when the stored version is still `expected`, and
//!   says whether it did — two agents editing at once cannot lose each
//!   other's change (the loser re-reads and applies its edit again,
//!   `crate::canned`);
//! * a replace returns once it is durable; a read sees every completed
//!   replace.
//!
//! The list is small (at most `canned::rules::MAX_REPLIES` entries), so one
//! value keeps renames atomic and the port narrow.

use super::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_protocol::CannedReply;

/// The stored list and its version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedList {
    /// Bumped by every replace; 0 before the first.
    pub version: u64,
    /// Sorted by keyword.
    pub replies: Vec<CannedReply>,
}

/// The canned replies; see the module docs for the contract.
#[async_trait]
pub trait CannedStore: Send + Sync + 'static {
    /// The current list.
    async fn canned(&self) -> Result<CannedList>;

    /// Stores `replies` if the stored version is still `expected`; false
    /// (nothing written) when another replace came first.
    async fn replace_canned(&self, expected: u64, replies: &[CannedReply]) -> Result<bool>;
}
