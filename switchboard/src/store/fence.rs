//! Fencing: the leader's epoch, which every routing and outbox write of a
//! shared store (DynamoDB) is conditioned on.
//!
//! Several switchboards share one DynamoDB table set; one of them, the
//! leader, routes and sends replies. Leadership is a lease item in the
//! `meta` table (id [`LEASE_ID`]). Each time an instance takes the lease it
//! bumps the item's `epoch`. A leader that stalled past its lease (a GC
//! pause, SIGSTOP) may still believe it leads when it wakes; its writes must
//! then be refused by DynamoDB itself, not by its own belief. So each fenced
//! write carries a condition that the lease item still names this holder
//! and this epoch (a `ConditionCheck` in the same transaction).
//!
//! [`FenceCell`] is the hand-over point between the lease (which sets the
//! fence when it gains leadership and clears it when it loses it) and the
//! store (which reads the fence for each fenced write, and reports a
//! refusal so the lease steps down at once instead of at its next
//! heartbeat). With the sled store there is one instance and no fence.

use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// The `meta` table item that holds the router lease.
pub const LEASE_ID: &str = "lease#router";
/// Attributes of the lease item: the instance holding it …
pub const ATTR_HOLDER: &str = "holder";
/// … the epoch, bumped each time the lease changes hands …
pub const ATTR_EPOCH: &str = "epoch";
/// … and the heartbeat counter, bumped by every renewal (a contender that
/// sees it unchanged for a whole lease timeout, on its own clock, may take
/// the lease).
pub const ATTR_BEAT: &str = "beat";

/// A leader's proof of leadership, as a write condition: the lease item
/// must still name `holder` at `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The instance id that holds the lease.
    pub holder: String,
    /// The epoch it took the lease at.
    pub epoch: u64,
}

/// The current fence, shared between the lease and the store.
#[derive(Clone)]
pub struct FenceCell {
    /// `None` while this instance does not lead.
    current: Arc<RwLock<Option<Fence>>>,
    /// Bumped each time a fenced write was refused; the lease watches it.
    refused: Arc<watch::Sender<u64>>,
    /// Bumped each time this instance lost the lease (not when it gave it
    /// up on shutdown); the outbox drops a POST in flight then.
    lost: Arc<watch::Sender<u64>>,
}

impl Default for FenceCell {
    fn default() -> Self {
        Self::new()
    }
}

impl FenceCell {
    /// No fence: this instance does not lead (yet).
    pub fn new() -> Self {
        Self {
            current: Arc::new(RwLock::new(None)),
            refused: Arc::new(watch::Sender::new(0)),
            lost: Arc::new(watch::Sender::new(0)),
        }
    }

    /// The fence to put on a write now, if this instance leads.
    pub fn get(&self) -> Option<Fence> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            // A panic while setting a plain value leaves it intact.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Called by the lease: `Some` on gaining leadership, `None` on losing it.
    pub fn set(&self, fence: Option<Fence>) {
        match self.current.write() {
            Ok(mut guard) => *guard = fence,
            Err(poisoned) => *poisoned.into_inner() = fence,
        }
    }

    /// Called by the store when DynamoDB refused a write because the lease
    /// moved on: this instance no longer leads.
    pub fn report_refused(&self) {
        self.set(None);
        self.refused.send_modify(|n| *n += 1);
    }

    /// Wakes whenever a fenced write was refused.
    pub fn refusals(&self) -> watch::Receiver<u64> {
        self.refused.subscribe()
    }

    /// Called by the lease loop when leadership was lost (it ran out, was
    /// taken, or a write was refused), not when it was given up.
    pub fn report_lost(&self) {
        self.lost.send_modify(|n| *n += 1);
    }

    /// Wakes whenever this instance lost the lease.
    pub fn losses(&self) -> watch::Receiver<u64> {
        self.lost.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_clears_the_fence_and_wakes_the_watcher() {
        let cell = FenceCell::new();
        let refusals = cell.refusals();
        cell.set(Some(Fence {
            holder: "a".into(),
            epoch: 3,
        }));
        assert_eq!(cell.get().map(|f| f.epoch), Some(3));
        cell.report_refused();
        assert_eq!(cell.get(), None);
        assert!(refusals.has_changed().unwrap_or(false));
    }

    #[test]
    fn a_loss_wakes_the_loss_watcher_and_no_one_else() {
        let cell = FenceCell::new();
        let (losses, refusals) = (cell.losses(), cell.refusals());
        cell.report_lost();
        assert!(losses.has_changed().unwrap_or(false));
        assert!(!refusals.has_changed().unwrap_or(true));
    }
}
