//! The router's view of agents: who is online, available, how loaded, what
//! each live session has already been sent — and whom to pick next.
//!
//! An agent may have several sessions at once, one per *client* (each
//! agent-UI instance, a terminal agent): they share the agent's
//! conversations, capacity and settings, and each has its own delivery
//! cursors, so every session is shown everything of the agent's
//! conversations once, in order.

use super::conn::ConnId;
use crate::store::AgentSettings;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use switchboard_protocol::{AgentLoad, AgentPresence, ConversationId, Seq};

/// One configured agent.
#[derive(Debug)]
pub struct Agent {
    /// What the agent last declared (persisted across restarts).
    pub settings: AgentSettings,
    /// Conversations assigned to this agent, online or not (during grace).
    pub conversations: BTreeSet<ConversationId>,
    /// The live connections, at most one per client. The agent is online
    /// while there is any.
    pub sessions: BTreeMap<ConnId, Session>,
    /// Bumped on every connect and on the disconnect of the last session,
    /// so a stale grace timer does nothing.
    pub generation: u64,
    /// When this agent last got a conversation (round-robin among equals).
    pub last_assigned: u64,
}

/// One connected session of an agent.
#[derive(Debug)]
pub struct Session {
    /// The client program it belongs to (`hello.client`; empty: the shared
    /// default client). A new session of the same client replaces it.
    pub client: String,
    /// Highest seq sent on this session, per conversation it holds.
    pub delivered: HashMap<ConversationId, Seq>,
    /// Has not been sent the presence list yet.
    pub needs_presence: bool,
    /// Asked for `overview` frames (a supervisor's `supervise`).
    pub supervising: bool,
    /// Is owed an `overview` now (just asked), changed or not.
    pub needs_overview: bool,
    /// How many waiting conversations its `queue` frames list
    /// (`queue_window`; [`switchboard_protocol::QUEUE_LIST_LIMIT`] unless asked).
    pub queue_limit: usize,
    /// The conversation it reads without holding it (a supervisor's
    /// `watch`), if any.
    pub watching: Option<Watching>,
}

/// A conversation a session watches, and how far it has been sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watching {
    pub conversation: ConversationId,
    /// Highest seq sent (in `watching` or `message` frames).
    pub delivered: Seq,
}

impl Agent {
    pub fn new(settings: AgentSettings) -> Self {
        Agent {
            settings,
            conversations: BTreeSet::new(),
            sessions: BTreeMap::new(),
            generation: 0,
            last_assigned: 0,
        }
    }

    pub fn load(&self) -> usize {
        self.conversations.len()
    }

    /// Has at least one live session.
    pub fn online(&self) -> bool {
        !self.sessions.is_empty()
    }

    /// Online, available and below capacity.
    pub fn can_take_more(&self) -> bool {
        self.online() && self.settings.available && self.load() < self.settings.capacity as usize
    }
}

/// Least-loaded agent that can take a conversation; ties go to whoever got
/// one least recently, then by name. `avoid` is skipped unless nobody else
/// can take it.
pub fn pick<'a>(agents: &'a BTreeMap<String, Agent>, avoid: Option<&str>) -> Option<&'a str> {
    let best = |skip: Option<&str>| {
        agents
            .iter()
            .filter(|(name, agent)| agent.can_take_more() && Some(name.as_str()) != skip)
            .min_by_key(|(name, agent)| (agent.load(), agent.last_assigned, name.as_str()))
            .map(|(name, _)| name.as_str())
    };
    best(avoid).or_else(|| avoid.and_then(|_| best(None)))
}

/// Every agent's state and load, sorted by name (the `overview` frame's).
pub fn loads(agents: &BTreeMap<String, Agent>) -> Vec<AgentLoad> {
    agents
        .iter()
        .map(|(name, agent)| AgentLoad {
            name: name.clone(),
            online: agent.online(),
            available: agent.settings.available,
            load: agent.load(),
            capacity: agent.settings.capacity,
        })
        .collect()
}

/// The `presence` list, sorted by name.
pub fn presence(agents: &BTreeMap<String, Agent>) -> Vec<AgentPresence> {
    agents
        .iter()
        .map(|(name, agent)| AgentPresence {
            name: name.clone(),
            online: agent.online(),
            available: agent.settings.available,
        })
        .collect()
}
