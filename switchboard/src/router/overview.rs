//! The supervisors' live view: an `overview` frame — every open
//! conversation and who holds it, every agent's state and load — to each
//! session that asked (`supervise`), and again whenever it changed.
//!
//! Who is a supervisor is configuration (`SUPERVISORS`); anyone else asking
//! is refused with `not_supervisor`. The overview is built from the
//! router's memory only (no store read), only while someone watches, and
//! only after an event that can change it ([`may_change`]): the hot path —
//! messages in open conversations, replies, statuses — never builds it.

use super::agents;
use super::conn::ConnId;
use super::event::Event;
use super::machine::Core;
use crate::store::RouteRecord;
use switchboard_protocol::{ErrorCode, OpenConversation, ServerFrame};

impl Core {
    /// Which agents may `supervise` (none unless set).
    pub fn set_supervisors(&mut self, names: impl IntoIterator<Item = String>) {
        self.supervisors = names.into_iter().collect();
    }

    /// `supervise` from session `conn`.
    pub(super) fn supervise(&mut self, agent: &str, conn: ConnId) {
        if !self.supervisors.contains(agent) {
            self.frame_to(
                agent,
                conn,
                ServerFrame::Error {
                    code: ErrorCode::NotSupervisor,
                    message: format!("{agent} is not a supervisor"),
                    client_id: None,
                    conversation: None,
                    fatal: false,
                },
            );
            return;
        }
        if let Some(session) = self
            .agents
            .get_mut(agent)
            .and_then(|a| a.sessions.get_mut(&conn))
        {
            session.supervising = true;
            session.needs_overview = true;
        }
    }

    /// The `overview` frame for the current state.
    fn overview(&self) -> ServerFrame {
        let mut conversations: Vec<OpenConversation> = self
            .live
            .iter()
            .filter_map(|(c, live)| {
                let (agent, since_ms) = match &live.route {
                    RouteRecord::Queued { since_ms, .. } => (None, *since_ms),
                    RouteRecord::Assigned {
                        agent, since_ms, ..
                    } => (Some(agent.clone()), *since_ms),
                    RouteRecord::Resolved { .. } => return None,
                };
                Some(OpenConversation {
                    conversation: c.clone(),
                    agent,
                    since_ms,
                })
            })
            .collect();
        conversations.sort_by(|a, b| a.conversation.cmp(&b.conversation));
        ServerFrame::Overview {
            conversations,
            agents: agents::loads(&self.agents),
        }
    }

    /// Sends `overview` to supervising sessions when it changed, and to
    /// those that just asked.
    pub(super) fn announce_overview(&mut self) {
        let watching: Vec<(String, ConnId, bool)> = self
            .agents
            .iter()
            .flat_map(|(name, a)| {
                a.sessions
                    .iter()
                    .filter(|(_, s)| s.supervising)
                    .map(move |(conn, s)| (name.clone(), *conn, s.needs_overview))
            })
            .collect();
        if watching.is_empty() {
            self.announced_overview = None;
            return;
        }
        let overview = self.overview();
        let changed = self.announced_overview.as_ref() != Some(&overview);
        for (name, conn, needs) in watching {
            if !(changed || needs) {
                continue;
            }
            if let Some(s) = self
                .agents
                .get_mut(&name)
                .and_then(|a| a.sessions.get_mut(&conn))
            {
                s.needs_overview = false;
            }
            self.frame_to(&name, conn, overview.clone());
        }
        self.announced_overview = Some(overview);
    }
}

/// Whether handling `event` can change the overview (what is open, who
/// holds it, agents' sessions, settings and loads), asked before it is
/// handled. A message in a conversation already open only moves its head;
/// replies, statuses, opt-outs and the notice timer change no route.
pub(super) fn may_change(core: &Core, event: &Event) -> bool {
    match event {
        Event::Message { conversation, .. } => !core.live.contains_key(conversation),
        Event::Reply { .. }
        | Event::Status { .. }
        | Event::OptOut { .. }
        | Event::ResolveUnsaved { .. }
        | Event::QueueWindow { .. }
        | Event::Watch { .. }
        | Event::NoticeTick => false,
        _ => true,
    }
}
