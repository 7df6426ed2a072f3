//! Turning delivery logs (the agents', and the agent-UI browser tabs') into
//! figures: webhook → agent latency, WebSocket bytes per message as a
//! conversation's history grows, and the per-conversation exactly-once and
//! ordering checks.

use crate::agent::{Agent, Delivery, UNKNOWN};
use crate::ledger::{Ledger, Outcome};
use crate::stats;
use hdrhistogram::Histogram;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::Duration;

/// How long messages took to reach an agent.
#[derive(Debug)]
pub struct DeliveryLatency {
    /// Webhook sent → first arrival at an agent.
    pub from_send: Histogram<u64>,
    /// The webhook's `200` received → first arrival at an agent; 0 when the
    /// frame came first (both leave the server once the write is durable).
    pub from_answer: Histogram<u64>,
}

/// Latencies of the acknowledged webhooks with an id in `ids` that were sent
/// inside `window` (ledger clock).
pub fn delivery_latency(
    agents: &[Agent],
    ledger: &Ledger,
    ids: Range<u32>,
    window: Range<u64>,
) -> DeliveryLatency {
    let logs: Vec<_> = agents.iter().map(Agent::log).collect();
    latency_of(
        logs.iter().flat_map(|log| log.deliveries.iter()),
        ledger,
        ids,
        window,
    )
}

/// [`delivery_latency`] over any clients' deliveries (agents or browser tabs).
pub fn latency_of<'a>(
    deliveries: impl IntoIterator<Item = &'a Delivery>,
    ledger: &Ledger,
    ids: Range<u32>,
    window: Range<u64>,
) -> DeliveryLatency {
    let mut first_arrival: HashMap<u32, u64> = HashMap::new();
    for d in deliveries.into_iter().filter(|d| ids.contains(&d.id)) {
        first_arrival
            .entry(d.id)
            .and_modify(|at| *at = (*at).min(d.at_ns))
            .or_insert(d.at_ns);
    }
    let mut latency = DeliveryLatency {
        from_send: stats::histogram(),
        from_answer: stats::histogram(),
    };
    for (id, arrived) in first_arrival {
        if ledger.outcome(id) != Outcome::Acknowledged {
            continue;
        }
        let Some(sent) = ledger.sent_ns(id).filter(|sent| window.contains(sent)) else {
            continue;
        };
        let since = |t: u64| Duration::from_nanos(arrived.saturating_sub(t));
        stats::record(&mut latency.from_send, since(sent));
        if let Some(answered) = ledger.answered_ns(id) {
            stats::record(&mut latency.from_answer, since(answered));
        }
    }
    latency
}

/// WebSocket bytes and messages for one range of seqs of a conversation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryWindow {
    pub first_seq: u64,
    pub last_seq: u64,
    pub messages: u64,
    pub ws_bytes: u64,
}

impl HistoryWindow {
    pub fn bytes_per_message(&self) -> f64 {
        self.ws_bytes as f64 / self.messages.max(1) as f64
    }
}

/// Splits the deliveries of `conversation` into windows of `size` seqs and
/// charges each window the socket bytes read since the previous one.
/// `baseline[i]` is agent `i`'s byte count before the conversation began.
pub fn history_windows(
    agents: &[Agent],
    baseline: &[u64],
    conversation: u32,
    size: u64,
) -> Vec<HistoryWindow> {
    let Some((index, agent)) = agents.iter().enumerate().find(|(_, a)| {
        a.log()
            .deliveries
            .iter()
            .any(|d| d.conversation == conversation)
    }) else {
        return Vec::new();
    };
    let mut deliveries: Vec<_> = agent
        .log()
        .deliveries
        .iter()
        .filter(|d| d.conversation == conversation)
        .copied()
        .collect();
    deliveries.sort_by_key(|d| d.seq);
    let mut windows: Vec<HistoryWindow> = Vec::new();
    let mut window_start_bytes = baseline[index];
    let mut last_bytes = window_start_bytes;
    let mut current_slot = None;
    for d in deliveries {
        let slot = d.seq.saturating_sub(1) / size;
        if current_slot != Some(slot) {
            // Seqs are sorted, so a new slot means the previous window is complete.
            current_slot = Some(slot);
            window_start_bytes = last_bytes;
            windows.push(HistoryWindow {
                first_seq: slot * size + 1,
                last_seq: d.seq,
                messages: 0,
                ws_bytes: 0,
            });
        }
        let window = windows.last_mut().expect("pushed above");
        window.last_seq = d.seq;
        window.messages += 1;
        window.ws_bytes = d.ws_bytes.saturating_sub(window_start_bytes);
        last_bytes = d.ws_bytes;
    }
    windows
}

/// Checks that hold per conversation, independent of benchmark ids.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Consistency {
    /// (conversation, seq) pairs delivered more than once.
    pub duplicate_seqs: u64,
    /// Deliveries whose seq was not above the previous one the same agent
    /// received for that conversation.
    pub out_of_order: u64,
    /// Conversations delivered to more than one agent (stickiness broken;
    /// nothing in the bench disconnects or transfers).
    pub split_conversations: u64,
    /// Deliveries without a benchmark id or customer the bench created.
    pub foreign: u64,
}

pub fn consistency(agents: &[Agent]) -> Consistency {
    let logs: Vec<_> = agents.iter().map(Agent::log).collect();
    consistency_of(logs.iter().map(|log| log.deliveries.as_slice()))
}

/// [`consistency`] over any clients' deliveries, one slice per client.
pub fn consistency_of<'a>(per_client: impl IntoIterator<Item = &'a [Delivery]>) -> Consistency {
    let mut result = Consistency::default();
    let mut seen: HashSet<(u32, u64)> = HashSet::new();
    let mut owner: HashMap<u32, usize> = HashMap::new();
    let mut split: HashSet<u32> = HashSet::new();
    for (index, deliveries) in per_client.into_iter().enumerate() {
        let mut last_seq: HashMap<u32, u64> = HashMap::new();
        for d in deliveries {
            if d.id == UNKNOWN || d.conversation == UNKNOWN {
                result.foreign += 1;
            }
            if !seen.insert((d.conversation, d.seq)) {
                result.duplicate_seqs += 1;
            }
            if let Some(previous) = last_seq.insert(d.conversation, d.seq) {
                if d.seq <= previous {
                    result.out_of_order += 1;
                }
            }
            if *owner.entry(d.conversation).or_insert(index) != index {
                split.insert(d.conversation);
            }
        }
    }
    result.split_conversations = split.len() as u64;
    result
}
