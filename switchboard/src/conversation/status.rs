//! Delivery statuses of outbound messages.
//!
//! Twilio's callbacks arrive in any order and may repeat, so a status only
//! ever moves forward by [`DeliveryStatus::rank`]: `delivered` after `sent`
//! applies, `sent` after `delivered` is stale. Statuses of equal rank
//! (`delivered`, `undelivered`, `failed`) are final for each other: the
//! first one wins.
//!
//! A callback can beat Twilio's answer to our send request, i.e. arrive
//! for a SID not recorded yet. The store keeps it as an *early status* and
//! merges it when the SID is recorded.

use switchboard_protocol::{DeliveryError, DeliveryStatus};

/// A status with the error that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub status: DeliveryStatus,
    pub error: Option<DeliveryError>,
}

/// Whether `incoming` moves a message that has `current` forward.
/// A message without a status is `queued`.
pub fn advances(current: Option<DeliveryStatus>, incoming: DeliveryStatus) -> bool {
    incoming.rank() > current.unwrap_or(DeliveryStatus::Queued).rank()
}

/// Whether a status for an unknown SID replaces the early status already
/// kept for it (only a later one does).
pub fn replaces_early(kept: Option<DeliveryStatus>, incoming: DeliveryStatus) -> bool {
    kept.is_none_or(|kept| incoming.rank() > kept.rank())
}

/// The status to apply when the SID is recorded: the update's own, or the
/// early one when that is further along.
pub fn merge_early(update: StatusReport, early: Option<StatusReport>) -> StatusReport {
    match early {
        Some(early) if early.status.rank() > update.status.rank() => early,
        _ => update,
    }
}
