//! A read-only summary of the router's state for the metrics: queue length,
//! the longest wait, agents online and available, and each agent's load.
//! Pure (no I/O, no recording): the driver hands it to `telemetry`.

use super::machine::Core;
use crate::store::RouteRecord;

/// What `/metrics` shows of the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterStats {
    /// Conversations waiting for an agent.
    pub queued: usize,
    /// How long the head of the queue has waited, in milliseconds (0 when
    /// the queue is empty).
    pub longest_wait_ms: u64,
    /// Agents with at least one live socket.
    pub online: usize,
    /// Agents online, available and below capacity.
    pub available: usize,
    /// Conversations assigned to each configured agent.
    pub load: Vec<(String, usize)>,
}

impl Core {
    /// The summary at `now_ms`. The queue is kept longest-waiting first, so
    /// the longest wait is its head's.
    pub fn stats(&self, now_ms: u64) -> RouterStats {
        let head_since =
            self.queue
                .front()
                .and_then(|c| match self.live.get(c).map(|l| &l.route) {
                    Some(RouteRecord::Queued { since_ms, .. }) => Some(*since_ms),
                    _ => None,
                });
        RouterStats {
            queued: self.queue.len(),
            longest_wait_ms: head_since.map_or(0, |since| now_ms.saturating_sub(since)),
            online: self.agents.values().filter(|a| a.online()).count(),
            available: self.agents.values().filter(|a| a.can_take_more()).count(),
            load: self
                .agents
                .iter()
                .map(|(name, agent)| (name.clone(), agent.load()))
                .collect(),
        }
    }
}
