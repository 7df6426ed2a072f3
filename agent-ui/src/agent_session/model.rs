//! One agent's state as its browsers see it, and how each switchboard frame changes it.
//!
//! [`AgentModel::apply`] turns an upstream frame into the browser frames to broadcast
//! (none when nothing visible changed), so the model is the single source of what the
//! browsers have been shown. That is what makes reconnects clean: a message whose seq
//! the model already holds is dropped, so nothing reaches a browser twice; and
//! [`AgentModel::resume`] tells the switchboard the last seq held per conversation, so
//! whatever was missed arrives.
//!
//! **Unread rule**: a conversation's unread count is the number of inbound messages
//! after the agent's last outbound reply in it (all of them if the agent has not
//! replied yet) that the agent has not seen yet (a tab showing the conversation
//! sends `read`). Replying or reading clears it; it is the same for every tab, and
//! the page shows it as sent. The customer's
//! **waiting** time runs from the first of those unread messages, and stops while
//! the customer has opted out (texted STOP): no reply can reach them, so nobody
//! should be hurried to answer.

use std::collections::BTreeMap;

use switchboard_protocol::{
    AgentPresence, CannedReply, ConversationId, ConversationInfo, DeliveryStatus, Direction,
    ErrorCode, Message, Seq, ServerFrame,
};

use super::lists::Lists;
use crate::browser::{
    BrowserFrame, ConversationView, EnrichedMessage, Relabel, Snapshot, UpstreamStatus, Waiting,
    WaitingRelabel, WatchedView,
};
use crate::enrich;

/// One conversation the agent holds.
#[derive(Debug, Clone)]
struct Conversation {
    info: ConversationInfo,
    /// In seq order, no duplicates.
    messages: Vec<EnrichedMessage>,
    /// When each message's time label may next change (epoch ms), parallel to
    /// `messages`: relabelling compares numbers and formats only what is due.
    due: Vec<u64>,
    /// Index of the last reply by an agent, if any (kept so unread is
    /// O(1)); the switchboard's automatic texts do not count: the customer
    /// still waits for a person.
    last_outbound: Option<usize>,
    /// Current waiting label (kept to know when it changes).
    waiting_label: Option<String>,
    /// Highest seq the agent has seen in any tab (kept by this server only: an
    /// agent UI restart forgets it, and the unread count falls back to the
    /// unanswered messages).
    read_seq: Seq,
}

impl Conversation {
    fn new(info: ConversationInfo) -> Self {
        Conversation {
            info,
            messages: Vec::new(),
            due: Vec::new(),
            last_outbound: None,
            waiting_label: None,
            read_seq: 0,
        }
    }

    fn last_seq(&self) -> Seq {
        self.messages.last().map(|m| m.message.seq).unwrap_or(0)
    }

    /// Index of the first inbound message after the last outbound one.
    fn first_unanswered(&self) -> usize {
        self.last_outbound.map(|i| i + 1).unwrap_or(0)
    }

    fn unread(&self) -> u32 {
        // Seqs ascend, so the unseen ones are a suffix of the unanswered ones.
        let unanswered = &self.messages[self.first_unanswered().min(self.messages.len())..];
        let seen = unanswered.partition_point(|m| m.message.seq <= self.read_seq);
        // The customer's texts only: an automatic text among them is ours.
        let unseen = unanswered[seen..]
            .iter()
            .filter(|m| m.message.direction == Direction::Inbound)
            .count();
        u32::try_from(unseen).unwrap_or(u32::MAX)
    }

    fn waiting_since(&self) -> Option<u64> {
        if self.info.opted_out {
            return None;
        }
        // The customer's first unanswered text: notes, timeline events and
        // automatic texts after the last reply do not start the wait.
        self.messages
            .iter()
            .skip(self.first_unanswered())
            .find(|m| m.message.direction == Direction::Inbound)
            .map(|m| m.message.at_ms)
    }

    fn waiting(&mut self, now_ms: u64) -> Option<Waiting> {
        let waiting = self.waiting_since().map(|since_ms| Waiting {
            since_ms,
            label: enrich::label(since_ms, now_ms),
        });
        self.waiting_label = waiting.as_ref().map(|w| w.label.clone());
        waiting
    }

    fn view(&mut self, now_ms: u64) -> ConversationView {
        ConversationView {
            info: self.info.clone(),
            unread: self.unread(),
            waiting: self.waiting(now_ms),
            messages: self.messages.clone(),
        }
    }

    /// Adds the messages after the last one held; returns the earliest time one of
    /// the new labels may change.
    fn extend(&mut self, history: Vec<Message>, now_ms: u64) -> Option<u64> {
        let mut earliest = None::<u64>;
        for message in history {
            if message.seq <= self.last_seq() {
                continue;
            }
            let due = now_ms + enrich::next_change_in(message.at_ms, now_ms);
            earliest = Some(earliest.map_or(due, |e| e.min(due)));
            if message.direction == Direction::Outbound && !message.is_automatic() {
                self.last_outbound = Some(self.messages.len());
            }
            self.messages.push(enrich::enrich(message, now_ms));
            self.due.push(due);
        }
        earliest
    }
}

/// Everything one agent's browsers show.
#[derive(Debug, Clone)]
pub struct AgentModel {
    agent: String,
    available: bool,
    capacity: u32,
    /// The Queue view's list and a supervisor's overview.
    lists: Lists,
    /// This agent may see the overview (`welcome.supervisor`).
    supervisor: bool,
    upstream: UpstreamStatus,
    upstream_detail: String,
    agents: Vec<AgentPresence>,
    /// In the order they were assigned.
    conversations: Vec<Conversation>,
    /// The team's canned replies, as the switchboard last sent them.
    canned: Vec<CannedReply>,
    /// The conversation a supervisor reads without holding it (`watch`),
    /// with who held it when the watch began.
    watched: Option<(Conversation, Option<String>)>,
    /// No label changes before this (epoch ms); may be early, never late.
    earliest_due: Option<u64>,
}

impl AgentModel {
    pub fn new(agent: &str) -> Self {
        AgentModel {
            agent: agent.to_string(),
            available: false,
            capacity: 1,
            lists: Lists::default(),
            supervisor: false,
            upstream: UpstreamStatus::Reconnecting,
            upstream_detail: "connecting to the switchboard".into(),
            agents: Vec::new(),
            conversations: Vec::new(),
            canned: Vec::new(),
            watched: None,
            earliest_due: None,
        }
    }

    /// The conversation being watched, if any: asked for again after a
    /// reconnect (a new upstream session watches nothing).
    pub fn watched_id(&self) -> Option<&str> {
        self.watched.as_ref().map(|(c, _)| c.info.id.as_str())
    }

    /// Whether the agent may read `conversation`'s media (`/files`): one
    /// they hold, or the one they watch — a supervisor's `watch` the
    /// switchboard accepted (it sent `watching`), so its pictures show too.
    pub fn may_read_media(&self, conversation: &str) -> bool {
        self.holds(conversation) || self.watched_id() == Some(conversation)
    }

    /// The page stopped reading (`unwatch`): nothing is watched, and
    /// nothing is asked for again after a reconnect.
    pub fn unwatch(&mut self) {
        self.watched = None;
    }

    fn watched_view(&mut self, now_ms: u64) -> Option<WatchedView> {
        let (conversation, holder) = self.watched.as_mut()?;
        let mut view = conversation.view(now_ms);
        view.unread = 0;
        Some(WatchedView {
            conversation: view,
            holder: holder.clone(),
        })
    }

    /// A held conversation, or else the watched one.
    fn find_shown(&mut self, id: &str) -> Option<&mut Conversation> {
        if let Some(i) = self.conversations.iter().position(|c| c.info.id == id) {
            return self.conversations.get_mut(i);
        }
        self.watched
            .as_mut()
            .map(|(c, _)| c)
            .filter(|c| c.info.id == id)
    }

    fn note_due(&mut self, due: Option<u64>) {
        if let Some(due) = due {
            self.earliest_due = Some(self.earliest_due.map_or(due, |e| e.min(due)));
        }
    }

    /// Records the upstream link's state; returns the frame to broadcast if it is news.
    pub fn set_upstream(&mut self, status: UpstreamStatus, detail: &str) -> Option<BrowserFrame> {
        if self.upstream == status && self.upstream_detail == detail {
            return None;
        }
        self.upstream = status;
        self.upstream_detail = detail.to_string();
        Some(BrowserFrame::Upstream {
            status,
            detail: detail.to_string(),
        })
    }

    /// Last seq held per conversation: `hello.resume`.
    /// Whether the agent holds `conversation` (it is on their console):
    /// what the agent UI's `/files` allows them to read.
    pub fn holds(&self, conversation: &str) -> bool {
        self.conversations.iter().any(|c| c.info.id == conversation)
    }

    pub fn resume(&self) -> BTreeMap<ConversationId, Seq> {
        self.conversations
            .iter()
            .map(|c| (c.info.id.clone(), c.last_seq()))
            .collect()
    }

    /// The `state` frame.
    pub fn snapshot(&mut self, now_ms: u64) -> BrowserFrame {
        BrowserFrame::State(Snapshot {
            agent: self.agent.clone(),
            available: self.available,
            capacity: self.capacity,
            queue_length: self.lists.queue_length(),
            upstream: self.upstream,
            upstream_detail: self.upstream_detail.clone(),
            agents: self.agents.clone(),
            canned: self.canned.clone(),
            conversations: self
                .conversations
                .iter_mut()
                .map(|c| c.view(now_ms))
                .collect(),
            queue: self.lists.queue_entries(),
            supervisor: self.supervisor,
            overview: self.lists.overview_view(),
            watching: self.watched_view(now_ms),
        })
    }

    fn find(&mut self, id: &str) -> Option<&mut Conversation> {
        self.conversations.iter_mut().find(|c| c.info.id == id)
    }

    /// Applies one switchboard frame; returns what the browsers must be told.
    pub fn apply(&mut self, frame: ServerFrame, now_ms: u64) -> Vec<BrowserFrame> {
        match frame {
            ServerFrame::Welcome {
                agent,
                available,
                capacity,
                queue_length,
                supervisor,
            } => {
                self.agent = agent;
                self.available = available;
                self.capacity = capacity;
                self.supervisor = supervisor;
                if !supervisor {
                    self.lists.clear_overview();
                }
                // Cheap and idempotent: after a reconnect the browsers learn what is in
                // force even if it changed meanwhile.
                vec![
                    BrowserFrame::Availability {
                        available,
                        capacity,
                    },
                    self.lists.set_queue_length(queue_length, now_ms),
                ]
            }
            ServerFrame::Presence { agents } => {
                self.agents = agents.clone();
                vec![BrowserFrame::Presence { agents }]
            }
            ServerFrame::Assigned {
                conversation,
                history,
                ..
            } => {
                // Held now (taken, or handed over): no longer watched.
                if self.watched_id() == Some(conversation.id.as_str()) {
                    self.watched = None;
                }
                let index = match self
                    .conversations
                    .iter()
                    .position(|c| c.info.id == conversation.id)
                {
                    Some(i) => {
                        self.conversations[i].info = conversation;
                        i
                    }
                    None => {
                        self.conversations.push(Conversation::new(conversation));
                        self.conversations.len() - 1
                    }
                };
                let entry = &mut self.conversations[index];
                let due = entry.extend(history, now_ms);
                let view = entry.view(now_ms);
                self.note_due(due);
                self.note_due(waiting_due(&view, now_ms));
                vec![BrowserFrame::Assigned { conversation: view }]
            }
            ServerFrame::Message { message } => {
                let watched = self.watched_id() == Some(message.conversation.as_str())
                    && !self.holds(&message.conversation);
                let Some(entry) = self.find_shown(&message.conversation) else {
                    tracing::warn!(
                        conversation = %message.conversation,
                        seq = message.seq,
                        "message for a conversation this agent does not hold; ignored"
                    );
                    return Vec::new();
                };
                let (seq, expected) = (message.seq, entry.last_seq() + 1);
                if seq < expected {
                    // Already shown (a resume overlap): never show it twice.
                    return Vec::new();
                }
                if seq > expected {
                    tracing::warn!(conversation = %entry.info.id, seq, expected, "gap in a conversation's seqs");
                }
                let due = entry.extend(vec![message], now_ms);
                let waiting = entry.waiting(now_ms);
                let shown = entry.messages.last().cloned();
                // Reading someone else's conversation is not answering it.
                let unread = if watched { 0 } else { entry.unread() };
                self.note_due(due);
                self.note_due(waiting.as_ref().map(|w| due_of(w.since_ms, now_ms)));
                shown
                    .map(|message| BrowserFrame::Message {
                        message,
                        unread,
                        waiting,
                    })
                    .into_iter()
                    .collect()
            }
            ServerFrame::Status {
                conversation,
                seq,
                status,
                error,
            } => {
                let Some(message) = self
                    .find_shown(&conversation)
                    .and_then(|c| c.messages.iter_mut().find(|m| m.message.seq == seq))
                else {
                    return Vec::new();
                };
                let current = &mut message.message;
                let news = current.status != Some(status) || current.error != error;
                if !news || !moves_forward(current.status, status) {
                    // A resume repeats the current status; the browsers have it already.
                    return Vec::new();
                }
                current.status = Some(status);
                current.error = error.clone();
                vec![BrowserFrame::Status {
                    conversation,
                    seq,
                    status,
                    error,
                }]
            }
            ServerFrame::OptOut {
                conversation,
                opted_out,
            } => match self.find_shown(&conversation) {
                Some(c) if c.info.opted_out != opted_out => {
                    c.info.opted_out = opted_out;
                    let waiting = c.waiting(now_ms);
                    self.note_due(waiting.as_ref().map(|w| due_of(w.since_ms, now_ms)));
                    vec![BrowserFrame::OptOut {
                        conversation,
                        opted_out,
                        waiting,
                    }]
                }
                _ => Vec::new(),
            },
            ServerFrame::Unassigned {
                conversation,
                reason,
            } => {
                let before = self.conversations.len();
                self.conversations.retain(|c| c.info.id != conversation);
                if self.conversations.len() == before {
                    return Vec::new();
                }
                vec![BrowserFrame::Unassigned {
                    conversation,
                    reason,
                }]
            }
            ServerFrame::Ack {
                client_id,
                conversation,
                seq,
            } => vec![BrowserFrame::Ack {
                client_id,
                conversation,
                seq,
            }],
            ServerFrame::Queue { length, entries } => {
                let frame = self.lists.set_queue(length, entries, now_ms);
                self.note_due(self.lists.next_due(now_ms));
                vec![frame]
            }
            ServerFrame::Overview {
                conversations,
                agents,
            } => {
                let frame = self.lists.set_overview(conversations, agents, now_ms);
                self.note_due(self.lists.next_due(now_ms));
                vec![frame]
            }
            // Declared through the agent's other connection (another instance's
            // browser): every tab here shows it too.
            ServerFrame::Availability {
                available,
                capacity,
            } => vec![self.set_availability(available, capacity)],
            ServerFrame::Watching {
                conversation,
                holder,
                history,
            } => {
                let mut entry = Conversation::new(conversation);
                let due = entry.extend(history, now_ms);
                self.note_due(due);
                self.watched = Some((entry, holder));
                self.watched_view(now_ms)
                    .map(BrowserFrame::Watching)
                    .into_iter()
                    .collect()
            }
            ServerFrame::WatchEnded { conversation } => {
                if self.watched_id() != Some(conversation.as_str()) {
                    return Vec::new();
                }
                self.watched = None;
                vec![BrowserFrame::WatchEnded { conversation }]
            }
            ServerFrame::Pong { .. } => Vec::new(),
            ServerFrame::Canned { replies } => {
                self.canned = replies.clone();
                vec![BrowserFrame::Canned { replies }]
            }
            ServerFrame::Error {
                code,
                message,
                client_id,
                conversation,
                ..
            } => {
                let mut frames = Vec::new();
                // A watch asked for again after a reconnect, of a conversation
                // resolved meanwhile: the watch is over.
                if code == ErrorCode::NotOpen && conversation.is_some() {
                    if let Some(id) = conversation
                        .clone()
                        .filter(|c| self.watched_id() == Some(c))
                    {
                        self.watched = None;
                        frames.push(BrowserFrame::WatchEnded { conversation: id });
                    }
                }
                frames.push(BrowserFrame::Error {
                    code: code.into(),
                    message,
                    client_id,
                    conversation,
                });
                frames
            }
        }
    }

    /// The agent has seen `conversation` up to `seq` (in some tab); returns the
    /// `unread` frame for every tab when that changed the count.
    pub fn mark_read(&mut self, conversation: &str, seq: Seq) -> Option<BrowserFrame> {
        let c = self.find(conversation)?;
        // A tab cannot have seen more than the conversation holds.
        let seq = seq.min(c.last_seq());
        if seq <= c.read_seq {
            return None;
        }
        let before = c.unread();
        c.read_seq = seq;
        let unread = c.unread();
        (unread != before).then(|| BrowserFrame::Unread {
            conversation: conversation.to_string(),
            unread,
        })
    }

    /// Records availability the agent asked for, before the switchboard's echo.
    pub fn set_availability(&mut self, available: bool, capacity: u32) -> BrowserFrame {
        self.available = available;
        self.capacity = capacity;
        BrowserFrame::Availability {
            available,
            capacity,
        }
    }

    /// Whether the switchboard said this agent is a supervisor.
    pub fn is_supervisor(&self) -> bool {
        self.supervisor
    }

    /// Recomputes the humanized labels that are due: a `relabel` frame with the
    /// conversations' labels that changed, and the queue or overview again if
    /// theirs did.
    pub fn relabel_all(&mut self, now_ms: u64) -> Vec<BrowserFrame> {
        let mut frames: Vec<BrowserFrame> = self.relabel(now_ms).into_iter().collect();
        frames.extend(self.lists.relabel(now_ms));
        let lists_due = self.lists.next_due(now_ms);
        self.note_due(lists_due);
        frames
    }

    /// Recomputes the humanized labels that are due; returns a `relabel` frame with
    /// those that changed, if any.
    pub fn relabel(&mut self, now_ms: u64) -> Option<BrowserFrame> {
        let mut labels = Vec::new();
        let mut waiting = Vec::new();
        let mut earliest = None::<u64>;
        let mut note = |due: u64| earliest = Some(earliest.map_or(due, |e: u64| e.min(due)));
        // The watched conversation's labels run like a held one's.
        let watched = self.watched.as_mut().map(|(c, _)| c);
        for c in self.conversations.iter_mut().chain(watched) {
            for (m, due) in c.messages.iter_mut().zip(c.due.iter_mut()) {
                if *due <= now_ms {
                    let label = enrich::label(m.message.at_ms, now_ms);
                    if label != m.time.label {
                        labels.push(Relabel {
                            conversation: c.info.id.clone(),
                            seq: m.message.seq,
                            label: label.clone(),
                        });
                        m.time.label = label;
                    }
                    *due = due_of(m.message.at_ms, now_ms);
                }
                note(*due);
            }
            let before = c.waiting_label.clone();
            if let Some(now) = c.waiting(now_ms) {
                note(due_of(now.since_ms, now_ms));
                if before.as_ref() != Some(&now.label) {
                    waiting.push(WaitingRelabel {
                        conversation: c.info.id.clone(),
                        label: now.label,
                    });
                }
            }
        }
        self.earliest_due = earliest;
        (!labels.is_empty() || !waiting.is_empty())
            .then_some(BrowserFrame::Relabel { labels, waiting })
    }

    /// Milliseconds until some label may change; `None` when nothing is shown.
    pub fn next_relabel_in(&self, now_ms: u64) -> Option<u64> {
        self.earliest_due.map(|due| due.saturating_sub(now_ms))
    }
}

/// Whether a message's delivery status may change from `current` to `next`:
/// statuses never move backwards (a late "sent" does not undo "delivered"), and
/// a final outcome is not flipped by another final one arriving late
/// ("delivered" then "undelivered", or the reverse). The page shows what this
/// lets through and has no rule of its own.
fn moves_forward(current: Option<DeliveryStatus>, next: DeliveryStatus) -> bool {
    let failed =
        |s: DeliveryStatus| matches!(s, DeliveryStatus::Failed | DeliveryStatus::Undelivered);
    match current {
        None => true,
        Some(now) if now.rank() > next.rank() => false,
        Some(now) if now.rank() == next.rank() && now != next => failed(now) == failed(next),
        Some(_) => true,
    }
}

/// When a label for `at_ms`, computed at `now_ms`, may next change.
fn due_of(at_ms: u64, now_ms: u64) -> u64 {
    now_ms + enrich::next_change_in(at_ms, now_ms)
}

fn waiting_due(view: &ConversationView, now_ms: u64) -> Option<u64> {
    view.waiting.as_ref().map(|w| due_of(w.since_ms, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::UnassignReason;

    const NOW: u64 = 1_800_000_000_000;
    const C: &str = "+15550001";

    fn msg(seq: Seq, direction: Direction, body: &str, at_ms: u64) -> Message {
        Message {
            conversation: C.into(),
            seq,
            direction,
            body: body.into(),
            at_ms,
            media: vec![],
            agent: None,
            client_id: None,
            status: (direction == Direction::Outbound).then_some(DeliveryStatus::Queued),
            error: None,
            sid: None,
            event: None,
        }
    }

    #[test]
    fn the_queue_and_a_supervisors_overview_reach_the_snapshot() {
        let mut model = AgentModel::new("bob");
        model.apply(
            ServerFrame::Welcome {
                agent: "bob".into(),
                available: false,
                capacity: 1,
                queue_length: 1,
                supervisor: true,
            },
            NOW,
        );
        assert!(model.is_supervisor());
        let out = model.apply(
            ServerFrame::Queue {
                length: 1,
                entries: vec![switchboard_protocol::QueueEntry {
                    conversation: C.into(),
                    waiting_since_ms: NOW - 120_000,
                    preview: "Where is my order?".into(),
                    recent: vec!["Where is my order?".into()],
                    opted_out: false,
                }],
            },
            NOW,
        );
        assert!(
            matches!(&out[..], [BrowserFrame::Queue { length: 1, entries }] if entries[0].waiting.label == "2 minutes ago")
        );
        model.apply(
            ServerFrame::Overview {
                conversations: vec![switchboard_protocol::OpenConversation {
                    conversation: C.into(),
                    agent: None,
                    since_ms: NOW - 120_000,
                }],
                agents: Vec::new(),
            },
            NOW,
        );
        let BrowserFrame::State(snapshot) = model.snapshot(NOW) else {
            panic!("not a state frame");
        };
        assert!(snapshot.supervisor);
        assert_eq!(snapshot.queue_length, 1);
        assert_eq!(snapshot.queue[0].preview, "Where is my order?");
        assert_eq!(snapshot.overview.map(|o| o.queue_length), Some(1));
        // The labels move on with time: the queue is sent again, relabelled.
        let later = model.relabel_all(NOW + 60_000);
        assert!(
            later.iter().any(|f| matches!(f, BrowserFrame::Queue { entries, .. } if entries[0].waiting.label == "3 minutes ago")),
            "{later:?}"
        );
    }

    #[test]
    fn a_watched_conversation_is_shown_apart_and_ends_when_resolved_or_taken() {
        let mut model = AgentModel::new("bob");
        let out = model.apply(
            ServerFrame::Watching {
                conversation: info(),
                holder: Some("alice".into()),
                history: vec![msg(1, Direction::Inbound, "where is it?", NOW)],
            },
            NOW,
        );
        assert!(
            matches!(&out[..], [BrowserFrame::Watching(w)] if w.holder.as_deref() == Some("alice")
                && w.conversation.unread == 0 && w.conversation.messages.len() == 1),
            "{out:?}"
        );
        assert!(!model.holds(C), "reading is not holding");
        assert!(
            model.may_read_media(C),
            "a watched conversation's pictures show"
        );
        assert!(!model.may_read_media("+15550002"));
        assert_eq!(model.resume().len(), 0, "nothing to resume as held");
        assert_eq!(model.watched_id(), Some(C));
        // A new message of it: shown once, with no unread count.
        let next = msg(2, Direction::Inbound, "hello??", NOW);
        let out = model.apply(
            ServerFrame::Message {
                message: next.clone(),
            },
            NOW,
        );
        assert!(
            matches!(&out[..], [BrowserFrame::Message { unread: 0, .. }]),
            "{out:?}"
        );
        assert!(model
            .apply(ServerFrame::Message { message: next }, NOW)
            .is_empty());
        let BrowserFrame::State(snapshot) = model.snapshot(NOW) else {
            panic!("not a state frame");
        };
        assert!(snapshot.conversations.is_empty());
        assert_eq!(
            snapshot.watching.map(|w| w.conversation.messages.len()),
            Some(2)
        );
        // The page stops reading and starts again.
        model.unwatch();
        assert_eq!(model.watched_id(), None);
        assert!(!model.may_read_media(C), "not after the watch");
        model.apply(
            ServerFrame::Watching {
                conversation: info(),
                holder: Some("alice".into()),
                history: vec![msg(1, Direction::Inbound, "where is it?", NOW)],
            },
            NOW,
        );
        // Resolved: over.
        let out = model.apply(
            ServerFrame::WatchEnded {
                conversation: C.into(),
            },
            NOW,
        );
        assert!(matches!(&out[..], [BrowserFrame::WatchEnded { .. }]));
        assert_eq!(model.watched_id(), None);
        // Watched, then taken: it is held, no longer watched.
        model.apply(
            ServerFrame::Watching {
                conversation: info(),
                holder: None,
                history: vec![msg(1, Direction::Inbound, "where is it?", NOW)],
            },
            NOW,
        );
        assigned(
            &mut model,
            vec![msg(1, Direction::Inbound, "where is it?", NOW)],
        );
        assert_eq!(model.watched_id(), None);
        assert!(model.holds(C));
    }

    fn info() -> ConversationInfo {
        ConversationInfo {
            id: C.into(),
            to: "+15559999".into(),
            country: Some("US".into()),
            opted_out: false,
            waiting_since_ms: Some(NOW),
        }
    }

    fn assigned(model: &mut AgentModel, history: Vec<Message>) -> Vec<BrowserFrame> {
        model.apply(
            ServerFrame::Assigned {
                conversation: info(),
                after: 0,
                history,
            },
            NOW,
        )
    }

    fn unread_of(model: &mut AgentModel) -> u32 {
        match model.snapshot(NOW) {
            BrowserFrame::State(s) => s.conversations[0].unread,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_reply_sent_through_another_instance_is_shown_once_and_answers_the_customer() {
        // The agent replied in a browser on the other agent-UI instance: this
        // one never saw the reply go out nor its `ack`, only the message
        // itself, from the switchboard's feed.
        let mut model = AgentModel::new("alice");
        assigned(&mut model, vec![msg(1, Direction::Inbound, "hi", NOW)]);
        assert_eq!(unread_of(&mut model), 1);
        let mut reply = msg(2, Direction::Outbound, "hello from the other console", NOW);
        reply.agent = Some("alice".into());
        reply.client_id = Some("sent-elsewhere".into());
        let shown = model.apply(
            ServerFrame::Message {
                message: reply.clone(),
            },
            NOW,
        );
        assert!(
            matches!(&shown[..], [BrowserFrame::Message { message, unread: 0, waiting: None }]
                if message.message.client_id.as_deref() == Some("sent-elsewhere")),
            "{shown:?}"
        );
        // Sent again on a resume: not shown twice.
        assert!(model
            .apply(ServerFrame::Message { message: reply }, NOW)
            .is_empty());
        match model.snapshot(NOW) {
            BrowserFrame::State(s) => assert_eq!(s.conversations[0].messages.len(), 2),
            _ => unreachable!(),
        }
        // Availability set on the other instance reaches every tab here.
        let told = model.apply(
            ServerFrame::Availability {
                available: false,
                capacity: 3,
            },
            NOW,
        );
        assert!(matches!(
            &told[..],
            [BrowserFrame::Availability {
                available: false,
                capacity: 3
            }]
        ));
        match model.snapshot(NOW) {
            BrowserFrame::State(s) => assert!(!s.available && s.capacity == 3),
            _ => unreachable!(),
        }
    }

    #[test]
    fn duplicates_are_dropped_and_resume_lists_the_last_seq() {
        let mut model = AgentModel::new("alice");
        assigned(&mut model, vec![msg(1, Direction::Inbound, "hi", NOW)]);
        let again = model.apply(
            ServerFrame::Message {
                message: msg(1, Direction::Inbound, "hi", NOW),
            },
            NOW,
        );
        assert!(again.is_empty());
        let new = model.apply(
            ServerFrame::Message {
                message: msg(2, Direction::Inbound, "anyone?", NOW),
            },
            NOW,
        );
        assert!(matches!(
            &new[..],
            [BrowserFrame::Message { unread: 2, .. }]
        ));
        assert_eq!(model.resume(), BTreeMap::from([(C.to_string(), 2)]));

        // A second `assigned` (e.g. after a requeue and reassignment) merges.
        let frames = assigned(
            &mut model,
            vec![
                msg(1, Direction::Inbound, "hi", NOW),
                msg(2, Direction::Inbound, "anyone?", NOW),
                msg(3, Direction::Inbound, "hello?", NOW),
            ],
        );
        match &frames[..] {
            [BrowserFrame::Assigned { conversation }] => {
                let seqs: Vec<_> = conversation
                    .messages
                    .iter()
                    .map(|m| m.message.seq)
                    .collect();
                assert_eq!(seqs, [1, 2, 3]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unread_counts_inbound_after_the_last_reply() {
        let mut model = AgentModel::new("alice");
        assigned(
            &mut model,
            vec![
                msg(1, Direction::Inbound, "a", NOW),
                msg(2, Direction::Outbound, "b", NOW),
                msg(3, Direction::Inbound, "c", NOW),
            ],
        );
        assert_eq!(unread_of(&mut model), 1);
        model.apply(
            ServerFrame::Message {
                message: msg(4, Direction::Outbound, "d", NOW),
            },
            NOW,
        );
        assert_eq!(unread_of(&mut model), 0);
    }

    #[test]
    fn an_automatic_text_is_no_answer_the_customer_still_waits() {
        let mut model = AgentModel::new("alice");
        let mut automatic = msg(2, Direction::Outbound, "You are number 1 in line.", NOW);
        automatic.agent = Some(switchboard_protocol::AUTOMATIC_AUTHOR.into());
        assigned(
            &mut model,
            vec![msg(1, Direction::Inbound, "a", NOW - 60_000), automatic],
        );
        assert_eq!(
            unread_of(&mut model),
            1,
            "the customer's text is still unanswered"
        );
        let view = model
            .conversations
            .iter_mut()
            .find(|c| c.info.id == C)
            .map(|c| c.view(NOW))
            .expect("held");
        assert_eq!(
            view.waiting.map(|w| w.since_ms),
            Some(NOW - 60_000),
            "waiting since the customer's text, not the automatic one"
        );
    }

    #[test]
    fn notes_and_timeline_events_are_no_reply_and_start_no_wait() {
        let mut model = AgentModel::new("alice");
        let mut note = msg(3, Direction::Note, "VIP, be gentle", NOW - 30_000);
        note.agent = Some("bob".into());
        let mut event = msg(4, Direction::Event, "wants a refund", NOW - 20_000);
        event.agent = Some("bob".into());
        event.event = Some(Box::new(switchboard_protocol::TimelineEvent::Transferred {
            from: "bob".into(),
            to: Some("alice".into()),
        }));
        let mut answered = msg(2, Direction::Outbound, "on it", NOW - 50_000);
        answered.agent = Some("bob".into());
        // Answered, then a note and a transfer: nobody is waiting.
        assigned(
            &mut model,
            vec![
                msg(1, Direction::Inbound, "refund?", NOW - 60_000),
                answered,
                note.clone(),
                event.clone(),
            ],
        );
        let view = |model: &mut AgentModel| {
            model
                .conversations
                .iter_mut()
                .find(|c| c.info.id == C)
                .map(|c| c.view(NOW))
                .expect("held")
        };
        assert_eq!(unread_of(&mut model), 0);
        assert_eq!(
            view(&mut model).waiting,
            None,
            "a note does not make anyone wait"
        );
        // The customer writes, then an agent adds a note: still waiting
        // since the customer's text, still unread.
        model.apply(
            ServerFrame::Message {
                message: msg(5, Direction::Inbound, "hello?", NOW - 10_000),
            },
            NOW,
        );
        let mut later = note;
        later.seq = 6;
        later.at_ms = NOW - 5_000;
        model.apply(ServerFrame::Message { message: later }, NOW);
        assert_eq!(unread_of(&mut model), 1, "a note is no answer");
        assert_eq!(
            view(&mut model).waiting.map(|w| w.since_ms),
            Some(NOW - 10_000),
            "waiting since the customer's text, not the note"
        );
    }

    #[test]
    fn reading_clears_unread_for_every_tab_and_new_messages_count_again() {
        let mut model = AgentModel::new("alice");
        assigned(
            &mut model,
            vec![
                msg(1, Direction::Inbound, "a", NOW),
                msg(2, Direction::Inbound, "b", NOW),
            ],
        );
        assert_eq!(unread_of(&mut model), 2);
        assert!(matches!(
            model.mark_read(C, 1),
            Some(BrowserFrame::Unread { unread: 1, .. })
        ));
        // Seen already, or beyond what the conversation holds: no news past seq 2.
        assert!(model.mark_read(C, 1).is_none());
        assert!(matches!(
            model.mark_read(C, 99),
            Some(BrowserFrame::Unread { unread: 0, .. })
        ));
        assert!(model.mark_read(C, 99).is_none());
        assert!(model.mark_read("+1999", 1).is_none());
        let new = model.apply(
            ServerFrame::Message {
                message: msg(3, Direction::Inbound, "c", NOW),
            },
            NOW,
        );
        assert!(matches!(
            &new[..],
            [BrowserFrame::Message { unread: 1, .. }]
        ));
        // Reading does not answer: the customer still waits.
        assert!(model.mark_read(C, 3).is_some());
        assert_eq!(unread_of(&mut model), 0);
        match model.snapshot(NOW) {
            BrowserFrame::State(s) => assert!(s.conversations[0].waiting.is_some()),
            _ => unreachable!(),
        }
    }

    #[test]
    fn repeated_status_and_opt_out_are_not_news() {
        let mut model = AgentModel::new("alice");
        assigned(&mut model, vec![msg(1, Direction::Outbound, "b", NOW)]);
        let status = |s| ServerFrame::Status {
            conversation: C.into(),
            seq: 1,
            status: s,
            error: None,
        };
        assert_eq!(model.apply(status(DeliveryStatus::Sent), NOW).len(), 1);
        assert!(model.apply(status(DeliveryStatus::Sent), NOW).is_empty());
        assert!(model.apply(status(DeliveryStatus::Queued), NOW).is_empty());
        assert_eq!(model.apply(status(DeliveryStatus::Delivered), NOW).len(), 1);
        // A late final outcome does not flip the first one.
        assert!(model
            .apply(status(DeliveryStatus::Undelivered), NOW)
            .is_empty());
        assert!(model.apply(status(DeliveryStatus::Failed), NOW).is_empty());
        assert_eq!(model.apply(status(DeliveryStatus::Read), NOW).len(), 1);
        let opt = |o| ServerFrame::OptOut {
            conversation: C.into(),
            opted_out: o,
        };
        assert!(model.apply(opt(false), NOW).is_empty());
        assert_eq!(model.apply(opt(true), NOW).len(), 1);
        let gone = model.apply(
            ServerFrame::Unassigned {
                conversation: C.into(),
                reason: UnassignReason::Resolved,
            },
            NOW,
        );
        assert_eq!(gone.len(), 1);
        assert!(model.resume().is_empty());
    }

    #[test]
    fn an_opted_out_customer_is_not_waiting() {
        let mut model = AgentModel::new("alice");
        assigned(&mut model, vec![msg(1, Direction::Inbound, "STOP", NOW)]);
        let waiting = |model: &mut AgentModel| match model.snapshot(NOW) {
            BrowserFrame::State(s) => s.conversations[0].waiting.clone(),
            _ => unreachable!(),
        };
        assert!(waiting(&mut model).is_some());
        let out = model.apply(
            ServerFrame::OptOut {
                conversation: C.into(),
                opted_out: true,
            },
            NOW,
        );
        assert!(matches!(
            &out[..],
            [BrowserFrame::OptOut { waiting: None, .. }]
        ));
        assert_eq!(waiting(&mut model), None);
        let back = model.apply(
            ServerFrame::OptOut {
                conversation: C.into(),
                opted_out: false,
            },
            NOW,
        );
        assert!(matches!(
            &back[..],
            [BrowserFrame::OptOut { waiting: Some(w), .. }] if w.since_ms == NOW
        ));
        assert_eq!(waiting(&mut model).map(|w| w.since_ms), Some(NOW));
    }

    #[test]
    fn labels_change_as_time_passes() {
        let mut model = AgentModel::new("alice");
        assigned(&mut model, vec![msg(1, Direction::Inbound, "hi", NOW)]);
        assert_eq!(model.next_relabel_in(NOW), Some(44_500));
        assert!(model.relabel(NOW + 10_000).is_none());
        match model.relabel(NOW + 50_000) {
            Some(BrowserFrame::Relabel { labels, waiting }) => {
                assert_eq!(labels[0].label, "a minute ago");
                assert_eq!(waiting[0].label, "a minute ago");
            }
            other => panic!("{other:?}"),
        }
        assert!(model.relabel(NOW + 51_000).is_none());
        assert_eq!(model.next_relabel_in(NOW + 50_000), Some(40_000));
    }
}
