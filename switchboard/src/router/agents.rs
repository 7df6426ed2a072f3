//! The router's view of agents: who is online, available, how loaded, and
//! what each live connection has already been sent.

use std::collections::{BTreeSet, HashMap};
use switchboard_protocol::{encode, AgentPresence, ConversationId, ErrorCode, Seq, ServerFrame};
use tokio::sync::{mpsc, oneshot};

/// What the router queues for a connection.
#[derive(Debug)]
pub enum Outgoing {
    /// An encoded frame.
    Frame(String),
    /// Messages `(after, upto]` of a conversation, as `message` frames. The
    /// connection reads them from the store itself, at the socket's pace, so
    /// a long gap (resume after an outage) takes one buffer slot, not
    /// thousands.
    Range {
        conversation: ConversationId,
        after: Seq,
        upto: Seq,
    },
}

/// The router's end of one agent WebSocket.
pub struct Conn {
    pub id: u64,
    /// Work for the socket; bounded so a stuck agent cannot make the router
    /// (and so every other agent) wait.
    pub frames: mpsc::Sender<Outgoing>,
    /// Tells the connection task to close, with the frame to say why.
    pub close: Option<oneshot::Sender<ServerFrame>>,
    /// Highest seq sent on this connection, per conversation it holds.
    pub delivered: HashMap<ConversationId, Seq>,
    /// Set once the connection can take no more frames.
    pub broken: Option<Broken>,
}

/// Why a connection stopped taking frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// Its buffer filled up: the agent is not reading fast enough.
    Overflowed,
    /// Its task already ended (the socket closed).
    Closed,
}

impl Conn {
    /// Queues a frame; marks the connection broken when its buffer is full.
    pub fn send(&mut self, frame: &ServerFrame) {
        self.queue(Outgoing::Frame(encode(frame)));
    }

    /// Queues the messages after what was last sent of `conversation`, up
    /// to `upto`, and records them as sent.
    pub fn send_upto(&mut self, conversation: &str, upto: Seq) {
        let after = self.delivered.get(conversation).copied().unwrap_or(0);
        if upto > after {
            self.queue(Outgoing::Range {
                conversation: conversation.to_string(),
                after,
                upto,
            });
            self.delivered.insert(conversation.to_string(), upto);
        }
    }

    fn queue(&mut self, item: Outgoing) {
        if self.broken.is_some() {
            return;
        }
        match self.frames.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.broken = Some(Broken::Overflowed);
                if let Some(close) = self.close.take() {
                    let _ = close.send(ServerFrame::Error {
                        code: ErrorCode::SlowConsumer,
                        message:
                            "too many frames waiting for this connection; reconnect and resume"
                                .into(),
                        client_id: None,
                        conversation: None,
                        fatal: true,
                    });
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.broken = Some(Broken::Closed),
        }
    }
}

pub struct Agent {
    pub available: bool,
    pub capacity: u32,
    pub conversations: BTreeSet<ConversationId>,
    pub conn: Option<Conn>,
    /// Bumped on every disconnect, so a stale grace timer does nothing.
    pub generation: u64,
    /// When this agent last got a conversation (round-robin among equals).
    pub last_assigned: u64,
    /// Whether the agent ever declared availability (else defaults apply).
    pub declared: bool,
}

impl Agent {
    pub fn new() -> Self {
        Agent {
            available: true,
            capacity: 1,
            conversations: BTreeSet::new(),
            conn: None,
            generation: 0,
            last_assigned: 0,
            declared: false,
        }
    }

    pub fn load(&self) -> usize {
        self.conversations.len()
    }

    /// Online, available and below capacity.
    pub fn can_take_more(&self) -> bool {
        self.conn.is_some() && self.available && self.load() < self.capacity as usize
    }
}

/// Least-loaded agent that can take a conversation; ties go to whoever got
/// one least recently. `avoid` is skipped unless nobody else can take it.
pub fn pick<'a>(agents: &'a HashMap<String, Agent>, avoid: Option<&str>) -> Option<&'a str> {
    let best = |skip: Option<&str>| {
        agents
            .iter()
            .filter(|(name, agent)| agent.can_take_more() && Some(name.as_str()) != skip)
            .min_by_key(|(name, agent)| (agent.load(), agent.last_assigned, name.as_str()))
            .map(|(name, _)| name.as_str())
    };
    best(avoid).or_else(|| avoid.and_then(|_| best(None)))
}

pub fn presence(agents: &HashMap<String, Agent>) -> Vec<AgentPresence> {
    let mut list: Vec<AgentPresence> = agents
        .iter()
        .map(|(name, agent)| AgentPresence {
            name: name.clone(),
            online: agent.conn.is_some(),
            available: agent.available,
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(capacity: u32, load: usize, last_assigned: u64) -> Agent {
        let (frames, _rx) = mpsc::channel(1);
        let mut agent = Agent::new();
        agent.capacity = capacity;
        agent.last_assigned = last_assigned;
        agent.conn = Some(Conn {
            id: 1,
            frames,
            close: None,
            delivered: HashMap::new(),
            broken: None,
        });
        for i in 0..load {
            agent.conversations.insert(format!("+1555000{i}"));
        }
        agent
    }

    #[test]
    fn least_loaded_then_least_recent() {
        let mut agents = HashMap::new();
        agents.insert("a".to_string(), online(5, 2, 1));
        agents.insert("b".to_string(), online(5, 1, 9));
        agents.insert("c".to_string(), online(5, 1, 3));
        assert_eq!(pick(&agents, None), Some("c"));
        assert_eq!(pick(&agents, Some("c")), Some("b"));
    }

    #[test]
    fn full_offline_and_unavailable_agents_are_skipped() {
        let mut agents = HashMap::new();
        agents.insert("full".to_string(), online(1, 1, 0));
        let mut away = online(5, 0, 0);
        away.available = false;
        agents.insert("away".to_string(), away);
        agents.insert("offline".to_string(), Agent::new());
        assert_eq!(pick(&agents, None), None);
        agents.insert("ok".to_string(), online(2, 1, 0));
        assert_eq!(pick(&agents, Some("ok")), Some("ok"));
    }
}
