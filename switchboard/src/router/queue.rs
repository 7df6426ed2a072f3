//! The FIFO queue and assignment: who gets a conversation (least loaded,
//! ties round-robin, never over capacity), and claiming it in the store
//! before the agent is told.

use super::agents;
use super::event::{ClaimOutcome, Effect};
use super::machine::{Core, Live};
use crate::store::{Claim, RouteRecord};
use switchboard_protocol::ConversationId;

impl Core {
    /// Queues a live conversation (at the back, or at the front when it is
    /// handed back: its customer has waited longest) and records it.
    /// `released_by` is not preferred when others are free.
    pub(super) fn enqueue(
        &mut self,
        conversation: ConversationId,
        released_by: Option<String>,
        front: bool,
    ) {
        let route = RouteRecord::Queued {
            since_ms: self.now_ms,
            released_by,
        };
        self.effects.push(Effect::SaveRoute {
            conversation: conversation.clone(),
            route: route.clone(),
        });
        // A claim still being written is superseded (its answer is ignored).
        self.claiming.remove(&conversation);
        match self.live.get_mut(&conversation) {
            Some(live) => live.route = route,
            None => {
                self.live
                    .insert(conversation.clone(), Live { head: 0, route });
            }
        }
        self.queue.retain(|c| *c != conversation);
        if front {
            self.queue.push_front(conversation);
        } else {
            self.queue.push_back(conversation);
        }
    }

    /// Hands queued conversations, oldest first, to agents with room.
    pub(super) fn drain(&mut self) {
        while let Some(conversation) = self.queue.front().cloned() {
            let avoid = match self.live.get(&conversation).map(|l| &l.route) {
                Some(RouteRecord::Queued { released_by, .. }) => released_by.clone(),
                _ => {
                    debug_assert!(false, "{conversation} in the queue but not queued");
                    self.queue.pop_front();
                    continue;
                }
            };
            // After a failed transfer claim, back to the agent who held it
            // (see `hand_back`) if it has room; otherwise the usual pick.
            let holder = self.hand_back.remove(&conversation);
            let has_room = |a: &String| self.agents.get(a).is_some_and(|a| a.can_take_more());
            let picked = match &holder {
                Some(h) if has_room(h) => Some(h.clone()),
                _ => agents::pick(&self.agents, avoid.as_deref()).map(str::to_string),
            };
            let Some(agent) = picked else {
                if let Some(h) = holder {
                    self.hand_back.insert(conversation, h);
                }
                break;
            };
            // The failed claim's claimant takes it after all: its claim
            // names the holder, the other name the store may have.
            if let Some(h) = holder.filter(|h| *h != agent && avoid.as_ref() == Some(&agent)) {
                if let Some(RouteRecord::Queued { released_by, .. }) =
                    self.live.get_mut(&conversation).map(|l| &mut l.route)
                {
                    *released_by = Some(h);
                }
            }
            self.queue.pop_front();
            self.assign(&conversation, &agent);
        }
    }

    /// Gives a queued or assigned conversation to `agent` and claims it in
    /// the store; the agent is told once the claim is won ([`Self::claimed`]),
    /// not before, even if the customer writes again or the agent reconnects
    /// meanwhile (see `claiming`).
    pub(super) fn assign(&mut self, conversation: &str, agent: &str) {
        let Some(live) = self.live.get_mut(conversation) else {
            return;
        };
        let (previous, waiting_since_ms) = match &live.route {
            // A claim may displace whoever handed it back: the store may
            // still name them (a failed write).
            RouteRecord::Queued {
                since_ms,
                released_by,
            } => (released_by.clone(), *since_ms),
            RouteRecord::Assigned {
                agent,
                since_ms,
                waiting_since_ms,
            } => (
                Some(agent.clone()),
                if *waiting_since_ms == 0 {
                    *since_ms
                } else {
                    *waiting_since_ms
                },
            ),
            RouteRecord::Resolved { .. } => return,
        };
        let claim = Claim {
            conversation: conversation.to_string(),
            agent: agent.to_string(),
            previous,
            since_ms: self.now_ms,
            waiting_since_ms,
        };
        live.route = claim.route();
        self.queue.retain(|c| c != conversation);
        self.assignments += 1;
        self.claiming.insert(conversation.to_string());
        if let Some(a) = self.agents.get_mut(agent) {
            a.conversations.insert(conversation.to_string());
            a.last_assigned = self.assignments;
        }
        self.effects.push(Effect::Claim(claim));
    }

    /// The store answered a claim.
    pub(super) fn claimed(
        &mut self,
        conversation: &str,
        agent: &str,
        previous: Option<String>,
        outcome: ClaimOutcome,
    ) {
        if self.holder(conversation) != Some(agent) {
            // Taken from `agent` meanwhile; a later claim, if any, has its
            // own answer coming.
            return;
        }
        self.claiming.remove(conversation);
        match outcome {
            ClaimOutcome::Won => {
                tracing::debug!(agent, conversation, "conversation assigned");
                for conn in self.conns_of(agent) {
                    self.send_assigned(agent, conn, conversation);
                }
            }
            ClaimOutcome::HeldElsewhere => {
                tracing::info!(agent, conversation, "conversation claimed elsewhere");
                self.forget(conversation);
            }
            ClaimOutcome::Failed => {
                // Back to the front, retried after a wait. The store may have
                // applied the claim, or still name the previous holder: keep
                // that name so the next claim or write is not refused.
                let Some(live) = self.live.get_mut(conversation) else {
                    return;
                };
                let since_ms = match live.route {
                    RouteRecord::Assigned {
                        waiting_since_ms, ..
                    } => waiting_since_ms,
                    _ => self.now_ms,
                };
                // A transfer's claim names the agent who held it; the store
                // now names that agent or the claimant. The requeue names the
                // claimant, and the next claim goes back to the holder
                // (`hand_back`): a claim by anyone else would be refused.
                let released_by = match previous {
                    Some(holder) if holder != agent => {
                        self.hand_back.insert(conversation.to_string(), holder);
                        agent.to_string()
                    }
                    Some(holder) => holder,
                    None => agent.to_string(),
                };
                live.route = RouteRecord::Queued {
                    since_ms,
                    released_by: Some(released_by),
                };
                self.drop_holding(agent, conversation);
                self.queue.push_front(conversation.to_string());
                self.effects.push(Effect::RetryDrain);
            }
        }
    }

    /// Removes a conversation from the router's memory (another instance
    /// holds it).
    pub(super) fn forget(&mut self, conversation: &str) {
        if let Some(agent) = self.holder(conversation).map(str::to_string) {
            self.drop_holding(&agent, conversation);
        }
        self.live.remove(conversation);
        self.queue.retain(|c| c != conversation);
        self.hand_back.remove(conversation);
        self.end_watches(conversation);
    }

    /// Takes a conversation out of an agent's set and its sessions' state.
    pub(super) fn drop_holding(&mut self, agent: &str, conversation: &str) {
        self.claiming.remove(conversation);
        if let Some(a) = self.agents.get_mut(agent) {
            a.conversations.remove(conversation);
            for session in a.sessions.values_mut() {
                session.delivered.remove(conversation);
            }
        }
    }
}
