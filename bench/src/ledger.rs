//! Per-message bookkeeping shared by the load generator and the agents.
//!
//! One slot per benchmark id, written with plain atomics so neither the
//! request path nor the agent read path takes a lock: when the webhook was
//! sent, how it was answered, and how many times an agent received it. The
//! "messages lost" verdict and the webhook → agent latencies are computed
//! from it after each phase.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

/// How the server answered a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    NotSent = 0,
    InFlight = 1,
    /// `200`: the switchboard promises the message is durable.
    Acknowledged = 2,
    /// Any other status.
    Rejected = 3,
    /// The connection failed before a response arrived.
    TransportError = 4,
}

impl Outcome {
    fn from_u8(v: u8) -> Outcome {
        match v {
            1 => Outcome::InFlight,
            2 => Outcome::Acknowledged,
            3 => Outcome::Rejected,
            4 => Outcome::TransportError,
            _ => Outcome::NotSent,
        }
    }
}

#[derive(Debug)]
pub struct Ledger {
    /// Common time origin of the load generator and the agents (both run in
    /// this process, so one monotonic clock serves both).
    epoch: Instant,
    sent_ns: Vec<AtomicU64>,
    answered_ns: Vec<AtomicU64>,
    outcome: Vec<AtomicU8>,
    received: Vec<AtomicU32>,
}

impl Ledger {
    pub fn new(capacity: usize) -> Ledger {
        Ledger {
            epoch: Instant::now(),
            sent_ns: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            answered_ns: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            outcome: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            received: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.sent_ns.len()
    }

    /// Nanoseconds since the ledger's epoch (never 0, so 0 can mean "unset").
    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    pub fn ns_at(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
    }

    pub fn mark_sent(&self, id: u32, at: Instant) {
        if let Some(slot) = self.sent_ns.get(id as usize) {
            slot.store(self.ns_at(at), Ordering::Relaxed);
            self.outcome[id as usize].store(Outcome::InFlight as u8, Ordering::Relaxed);
        }
    }

    /// Records how and when the webhook was answered.
    pub fn mark_outcome(&self, id: u32, outcome: Outcome, at: Instant) {
        if let Some(slot) = self.outcome.get(id as usize) {
            slot.store(outcome as u8, Ordering::Relaxed);
            self.answered_ns[id as usize].store(self.ns_at(at), Ordering::Relaxed);
        }
    }

    /// Counts one delivery of `id` to an agent; ids outside the ledger are
    /// someone else's messages and ignored.
    pub fn mark_received(&self, id: u32) {
        if let Some(slot) = self.received.get(id as usize) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn sent_ns(&self, id: u32) -> Option<u64> {
        let ns = self.sent_ns.get(id as usize)?.load(Ordering::Relaxed);
        (ns != 0).then_some(ns)
    }

    pub fn answered_ns(&self, id: u32) -> Option<u64> {
        let ns = self.answered_ns.get(id as usize)?.load(Ordering::Relaxed);
        (ns != 0).then_some(ns)
    }

    pub fn outcome(&self, id: u32) -> Outcome {
        self.outcome.get(id as usize).map_or(Outcome::NotSent, |o| {
            Outcome::from_u8(o.load(Ordering::Relaxed))
        })
    }

    pub fn received(&self, id: u32) -> u32 {
        self.received
            .get(id as usize)
            .map_or(0, |r| r.load(Ordering::Relaxed))
    }

    /// Acknowledged ids in `range` that no agent has received yet.
    pub fn undelivered(&self, range: std::ops::Range<u32>) -> usize {
        range
            .filter(|&id| self.outcome(id) == Outcome::Acknowledged && self.received(id) == 0)
            .count()
    }

    /// The exactly-once verdict over `range`.
    pub fn audit(&self, range: std::ops::Range<u32>) -> Audit {
        let mut audit = Audit::default();
        for id in range {
            let received = self.received(id);
            match self.outcome(id) {
                Outcome::Acknowledged => {
                    audit.acknowledged += 1;
                    match received {
                        0 => audit.lost += 1,
                        1 => {}
                        _ => audit.duplicated += 1,
                    }
                }
                Outcome::NotSent => {}
                _ => {
                    audit.not_acknowledged += 1;
                    if received > 0 {
                        audit.delivered_unacknowledged += 1;
                    }
                }
            }
            audit.deliveries += u64::from(received);
        }
        audit
    }
}

/// Result of checking that every acknowledged webhook reached an agent once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Audit {
    pub acknowledged: u64,
    /// Acknowledged, never received by any agent.
    pub lost: u64,
    /// Acknowledged, received more than once.
    pub duplicated: u64,
    /// Sent but answered with an error, or never answered.
    pub not_acknowledged: u64,
    /// Of those, how many an agent received anyway (allowed: the server may
    /// store a message whose answer never arrived).
    pub delivered_unacknowledged: u64,
    /// Deliveries counted in all.
    pub deliveries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_counts_lost_and_duplicated() {
        let ledger = Ledger::new(5);
        let now = Instant::now();
        for id in 0..4 {
            ledger.mark_sent(id, now);
        }
        ledger.mark_outcome(0, Outcome::Acknowledged, now);
        ledger.mark_outcome(1, Outcome::Acknowledged, now);
        ledger.mark_outcome(2, Outcome::Acknowledged, now);
        ledger.mark_outcome(3, Outcome::Rejected, now);
        ledger.mark_received(0);
        ledger.mark_received(2);
        ledger.mark_received(2);
        ledger.mark_received(99);
        let audit = ledger.audit(0..5);
        assert_eq!(audit.acknowledged, 3);
        assert_eq!(audit.lost, 1);
        assert_eq!(audit.duplicated, 1);
        assert_eq!(audit.not_acknowledged, 1);
        assert_eq!(ledger.undelivered(0..5), 1);
        assert!(ledger.sent_ns(0).is_some());
        assert_eq!(ledger.sent_ns(4), None);
        assert!(ledger.answered_ns(0).is_some());
        assert_eq!(ledger.answered_ns(4), None);
    }
}
