//! The router: one task that owns every routing decision.
//!
//! It reads the store's change feed (never the webhook handler) and tells
//! agents about new messages, assigns new conversations to the least-loaded
//! available agent (sticky afterwards), keeps a FIFO queue when nobody is
//! free, holds a disconnected agent's conversations for a grace period, and
//! handles resolve and transfer. Agent connections talk to it through
//! [`RouterHandle`]; it talks back through each connection's bounded frame
//! buffer, so no agent can slow it down.

mod agents;

pub use agents::{Broken, Conn, Outgoing};

use crate::jobs::RouterJobs;
use crate::store::{now_ms, Change, ChangeId, Reply, ReplyOutcome, RouteRecord, Store, StoreError};
use agents::Agent;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use switchboard_protocol::{
    ConversationId, ConversationInfo, Direction, ErrorCode, Seq, ServerFrame, UnassignReason,
};
use tokio::sync::{mpsc, watch};

/// Changes read from the feed per step.
const FEED_BATCH: usize = 1024;
/// On resume, the status of this many recent messages per conversation is re-sent.
const RESUME_STATUS_WINDOW: u64 = 100;

/// Requests from agent connections.
pub enum Command {
    Connect {
        agent: String,
        conn: Conn,
        resume: BTreeMap<ConversationId, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
    },
    Disconnect {
        agent: String,
        conn_id: u64,
    },
    Availability {
        agent: String,
        available: bool,
        capacity: u32,
    },
    Reply {
        agent: String,
        conversation: ConversationId,
        client_id: String,
        body: String,
    },
    Resolve {
        agent: String,
        conversation: ConversationId,
    },
    Transfer {
        agent: String,
        conversation: ConversationId,
        to: Option<String>,
    },
    GraceExpired {
        agent: String,
        generation: u64,
    },
}

/// Cheap, cloneable way to reach the router.
#[derive(Clone)]
pub struct RouterHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl RouterHandle {
    /// False when the router has stopped (shutdown).
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

pub struct RouterConfig {
    pub agent_names: Vec<String>,
    pub grace: Duration,
    /// Transcripts on resolve and waiting alerts; `None` queues nothing.
    pub jobs: Option<RouterJobs>,
}

/// Loads routing state from the store and starts the router task. It runs
/// until `shutdown` turns true.
pub async fn spawn(
    store: Arc<dyn Store>,
    config: RouterConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(RouterHandle, tokio::task::JoinHandle<()>), StoreError> {
    let (commands, rx) = mpsc::unbounded_channel();
    let handle = RouterHandle { commands };
    let mut router = Router {
        store: store.clone(),
        agents: config
            .agent_names
            .iter()
            .map(|n| (n.clone(), Agent::new()))
            .collect(),
        routes: HashMap::new(),
        heads: HashMap::new(),
        queue: VecDeque::new(),
        cursor: store.load_cursor().await?,
        assignments: 0,
        grace: config.grace,
        handle: handle.clone(),
        announced_queue: 0,
        jobs: config.jobs,
        resolved: HashMap::new(),
    };
    router.recover().await?;
    let task = tokio::spawn(async move { router.run(rx, shutdown).await });
    Ok((handle, task))
}

struct Router {
    store: Arc<dyn Store>,
    agents: HashMap<String, Agent>,
    /// Live (queued or assigned) conversations; resolved ones are dropped.
    routes: HashMap<ConversationId, RouteRecord>,
    /// Newest seq the router has seen per live conversation: what agents may
    /// be shown (the feed only carries durable messages).
    heads: HashMap<ConversationId, Seq>,
    queue: VecDeque<ConversationId>,
    cursor: ChangeId,
    assignments: u64,
    grace: Duration,
    handle: RouterHandle,
    announced_queue: usize,
    jobs: Option<RouterJobs>,
    /// Resolved conversations and the seq they were resolved at.
    resolved: HashMap<ConversationId, Seq>,
}

impl Router {
    /// Rebuilds assignments and the queue after a restart. Agents are all
    /// offline now, so their conversations start their grace period.
    async fn recover(&mut self) -> Result<(), StoreError> {
        let mut queued = Vec::new();
        for (conversation, route) in self.store.routes().await? {
            match &route {
                RouteRecord::Resolved { upto_seq, .. } => {
                    self.resolved.insert(conversation, *upto_seq);
                    continue;
                }
                RouteRecord::Queued { since_ms, .. } => {
                    queued.push((*since_ms, conversation.clone()))
                }
                RouteRecord::Assigned { agent, .. } => match self.agents.get_mut(agent) {
                    Some(a) => {
                        a.conversations.insert(conversation.clone());
                    }
                    // The agent was removed from the configuration.
                    None => queued.push((now_ms(), conversation.clone())),
                },
            }
            let head = self
                .store
                .conversation(&conversation)
                .await?
                .map(|c| c.last_seq)
                .unwrap_or(0);
            self.heads.insert(conversation.clone(), head);
            self.routes.insert(conversation, route);
        }
        queued.sort();
        for (since_ms, conversation) in queued {
            self.routes.insert(
                conversation.clone(),
                RouteRecord::Queued {
                    since_ms,
                    released_by: None,
                },
            );
            self.queue.push_back(conversation);
        }
        let names: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| !a.conversations.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            self.start_grace(&name);
        }
        tracing::info!(
            cursor = self.cursor,
            live = self.routes.len(),
            queued = self.queue.len(),
            "router state recovered"
        );
        Ok(())
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Waiting alerts are checked on a timer; without ALERT_TO it never fires.
        let alert_every = self.jobs.as_ref().and_then(RouterJobs::tick_every);
        let mut alert_tick =
            tokio::time::interval(alert_every.unwrap_or(Duration::from_secs(3600)));
        alert_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let store = self.store.clone();
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = alert_tick.tick(), if alert_every.is_some() => self.check_waits(),
                Some(command) = commands.recv() => self.handle(command).await,
                ready = store.wait_for_changes(self.cursor) => {
                    if let Err(e) = ready {
                        tracing::info!(error = %e, "change feed closed; router stops");
                        break;
                    }
                    if let Err(e) = self.follow_feed().await {
                        tracing::error!(error = %e, "reading the change feed failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            self.reap_broken_connections();
            self.announce_queue();
        }
    }

    async fn follow_feed(&mut self) -> Result<(), StoreError> {
        let changes = self.store.changes_after(self.cursor, FEED_BATCH).await?;
        let Some(&(last, _)) = changes.last() else {
            return Ok(());
        };
        for (_, change) in changes {
            if let Err(e) = self.apply(change).await {
                // A change that cannot be applied (corrupt record) must not
                // stop routing for everyone else.
                tracing::error!(error = %e, "skipping a change the router could not apply");
            }
        }
        self.cursor = last;
        self.store.save_cursor(last).await
    }

    async fn apply(&mut self, change: Change) -> Result<(), StoreError> {
        match change {
            Change::Message { c, s } => {
                let head = self.heads.entry(c.clone()).or_insert(0);
                *head = (*head).max(s);
                match self.routes.get(&c) {
                    Some(RouteRecord::Assigned { agent, .. }) => {
                        let agent = agent.clone();
                        self.deliver(&agent, &c).await?;
                    }
                    Some(RouteRecord::Queued { .. }) => {}
                    Some(RouteRecord::Resolved { .. }) | None => {
                        if self.resolved.get(&c).is_some_and(|&upto| s <= upto) {
                            // Seen before it was resolved (a replayed feed).
                            self.heads.remove(&c);
                            return Ok(());
                        }
                        let message = self.store.message(&c, s).await?;
                        if message.is_some_and(|m| m.direction == Direction::Inbound) {
                            self.enqueue(c, now_ms(), None, false).await?;
                            self.drain().await?;
                        } else {
                            self.heads.remove(&c);
                        }
                    }
                }
            }
            Change::Status { c, s } => {
                if let Some(RouteRecord::Assigned { agent, .. }) = self.routes.get(&c) {
                    let agent = agent.clone();
                    let delivered = self
                        .conn(&agent)
                        .and_then(|conn| conn.delivered.get(&c).copied());
                    if delivered.is_some_and(|d| d >= s) {
                        if let Some(m) = self.store.message(&c, s).await? {
                            if let (Some(status), Some(conn)) = (m.status, self.conn(&agent)) {
                                conn.send(&ServerFrame::Status {
                                    conversation: c,
                                    seq: s,
                                    status,
                                    error: m.error,
                                });
                            }
                        }
                    }
                }
            }
            Change::OptOut { c } => {
                if let Some(RouteRecord::Assigned { agent, .. }) = self.routes.get(&c) {
                    let agent = agent.clone();
                    let opted_out = self
                        .store
                        .conversation(&c)
                        .await?
                        .is_some_and(|r| r.opted_out);
                    if let Some(conn) = self.conn(&agent) {
                        conn.send(&ServerFrame::OptOut {
                            conversation: c,
                            opted_out,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn conn(&mut self, agent: &str) -> Option<&mut Conn> {
        self.agents
            .get_mut(agent)
            .and_then(|a| a.conn.as_mut())
            .filter(|c| c.broken.is_none())
    }

    /// Sends an agent whatever of the conversation it has not seen, up to the
    /// head, as `message` frames in seq order.
    async fn deliver(&mut self, agent: &str, conversation: &str) -> Result<(), StoreError> {
        let head = self.heads.get(conversation).copied().unwrap_or(0);
        let Some(known) = self
            .conn(agent)
            .map(|c| c.delivered.contains_key(conversation))
        else {
            return Ok(());
        };
        if !known {
            return self.send_assigned(agent, conversation, 0).await;
        }
        if let Some(conn) = self.conn(agent) {
            conn.send_upto(conversation, head);
        }
        Ok(())
    }

    /// Sends the conversation with its history after `after`.
    async fn send_assigned(
        &mut self,
        agent: &str,
        conversation: &str,
        after: Seq,
    ) -> Result<(), StoreError> {
        if self.conn(agent).is_none() {
            return Ok(());
        }
        let head = self.heads.get(conversation).copied().unwrap_or(0);
        let record = self
            .store
            .conversation(conversation)
            .await?
            .unwrap_or_default();
        let history = self.store.history(conversation, after, head).await?;
        let waiting_since_ms = match self.routes.get(conversation) {
            Some(RouteRecord::Assigned { since_ms, .. }) => Some(*since_ms),
            _ => None,
        };
        if let Some(conn) = self.conn(agent) {
            conn.send(&ServerFrame::Assigned {
                conversation: ConversationInfo {
                    id: conversation.to_string(),
                    to: record.to,
                    country: record.country,
                    opted_out: record.opted_out,
                    waiting_since_ms,
                },
                after,
                history,
            });
            conn.delivered.insert(conversation.to_string(), head);
        }
        Ok(())
    }

    async fn handle(&mut self, command: Command) {
        let result = match command {
            Command::Connect {
                agent,
                conn,
                resume,
                available,
                capacity,
            } => {
                self.connect(&agent, conn, resume, available, capacity)
                    .await
            }
            Command::Disconnect { agent, conn_id } => {
                let current = self
                    .agents
                    .get(&agent)
                    .and_then(|a| a.conn.as_ref())
                    .map(|c| c.id);
                if current == Some(conn_id) {
                    self.disconnect(&agent);
                }
                Ok(())
            }
            Command::Availability {
                agent,
                available,
                capacity,
            } => {
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.available = available;
                    a.capacity = capacity;
                    a.declared = true;
                }
                self.announce_presence();
                self.drain().await
            }
            Command::Reply {
                agent,
                conversation,
                client_id,
                body,
            } => {
                self.reply(agent, conversation, client_id, body);
                Ok(())
            }
            Command::Resolve {
                agent,
                conversation,
            } => self.resolve(&agent, &conversation).await,
            Command::Transfer {
                agent,
                conversation,
                to,
            } => self.transfer(&agent, &conversation, to).await,
            Command::GraceExpired { agent, generation } => {
                self.grace_expired(&agent, generation).await
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "router command failed");
        }
    }

    async fn connect(
        &mut self,
        name: &str,
        conn: Conn,
        resume: BTreeMap<ConversationId, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
    ) -> Result<(), StoreError> {
        let queue_length = self.queue.len();
        let Some(agent) = self.agents.get_mut(name) else {
            return Ok(());
        };
        if let Some(mut old) = agent.conn.take() {
            if let Some(close) = old.close.take() {
                let _ = close.send(ServerFrame::Error {
                    code: ErrorCode::Superseded,
                    message: "this agent signed in on another connection".into(),
                    client_id: None,
                    conversation: None,
                    fatal: true,
                });
            }
        }
        if let Some(available) = available {
            agent.available = available;
            agent.declared = true;
        }
        if let Some(capacity) = capacity {
            agent.capacity = capacity;
            agent.declared = true;
        }
        agent.generation += 1;
        agent.conn = Some(conn);
        let (available, capacity) = (agent.available, agent.capacity);
        let held: Vec<ConversationId> = agent.conversations.iter().cloned().collect();
        if let Some(conn) = self.conn(name) {
            conn.send(&ServerFrame::Welcome {
                agent: name.to_string(),
                available,
                capacity,
                queue_length,
            });
        }
        for conversation in &held {
            match resume.get(conversation) {
                Some(&seen) => self.resume_conversation(name, conversation, seen).await?,
                None => self.send_assigned(name, conversation, 0).await?,
            }
        }
        if let Some(conn) = self.conn(name) {
            for conversation in resume.keys().filter(|c| !held.contains(c)) {
                conn.send(&ServerFrame::Unassigned {
                    conversation: conversation.clone(),
                    reason: UnassignReason::Requeued,
                });
            }
        }
        tracing::info!(agent = name, held = held.len(), "agent connected");
        self.announce_presence();
        self.drain().await
    }

    /// What a reconnecting agent missed: messages after `seen`, and the
    /// current delivery status and opt-out state (idempotent to apply).
    async fn resume_conversation(
        &mut self,
        agent: &str,
        conversation: &str,
        seen: Seq,
    ) -> Result<(), StoreError> {
        let head = self.heads.get(conversation).copied().unwrap_or(0);
        let seen = seen.min(head);
        let recent = self
            .store
            .history(
                conversation,
                seen.saturating_sub(RESUME_STATUS_WINDOW),
                seen,
            )
            .await?;
        let opted_out = self
            .store
            .conversation(conversation)
            .await?
            .is_some_and(|r| r.opted_out);
        if let Some(conn) = self.conn(agent) {
            conn.delivered.insert(conversation.to_string(), seen);
            for m in recent
                .into_iter()
                .filter(|m| m.direction == Direction::Outbound)
            {
                if let Some(status) = m.status {
                    conn.send(&ServerFrame::Status {
                        conversation: m.conversation,
                        seq: m.seq,
                        status,
                        error: m.error,
                    });
                }
            }
            conn.send(&ServerFrame::OptOut {
                conversation: conversation.to_string(),
                opted_out,
            });
        }
        self.deliver(agent, conversation).await
    }

    fn disconnect(&mut self, name: &str) {
        let Some(agent) = self.agents.get_mut(name) else {
            return;
        };
        agent.conn = None;
        agent.generation += 1;
        let held = agent.conversations.len();
        tracing::info!(agent = name, held, "agent disconnected");
        if held > 0 {
            self.start_grace(name);
        }
        self.announce_presence();
    }

    fn start_grace(&mut self, name: &str) {
        let Some(agent) = self.agents.get(name) else {
            return;
        };
        let (handle, grace, generation, agent) = (
            self.handle.clone(),
            self.grace,
            agent.generation,
            name.to_string(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            handle.send(Command::GraceExpired { agent, generation });
        });
    }

    async fn grace_expired(&mut self, name: &str, generation: u64) -> Result<(), StoreError> {
        let Some(agent) = self.agents.get_mut(name) else {
            return Ok(());
        };
        if agent.conn.is_some() || agent.generation != generation {
            return Ok(());
        }
        let held: Vec<ConversationId> = std::mem::take(&mut agent.conversations)
            .into_iter()
            .collect();
        tracing::info!(
            agent = name,
            requeued = held.len(),
            "grace period over; requeueing"
        );
        // Back to the front: these customers have waited longest.
        for conversation in held.into_iter().rev() {
            self.enqueue(conversation, now_ms(), Some(name.to_string()), true)
                .await?;
        }
        self.drain().await
    }

    fn reply(
        &mut self,
        agent: String,
        conversation: ConversationId,
        client_id: String,
        body: String,
    ) {
        let assigned = matches!(self.routes.get(&conversation), Some(RouteRecord::Assigned { agent: a, .. }) if *a == agent);
        let Some(conn) = self.conn(&agent) else {
            return;
        };
        if !assigned {
            conn.send(&ServerFrame::Error {
                code: ErrorCode::NotAssigned,
                message: format!("conversation {conversation} is not assigned to you"),
                client_id: Some(client_id),
                conversation: Some(conversation),
                fatal: false,
            });
            return;
        }
        // Storing waits for a flush; the router must not.
        let frames = conn.frames.clone();
        let store = self.store.clone();
        tokio::spawn(async move {
            let reply = Reply {
                conversation: conversation.clone(),
                agent,
                client_id: client_id.clone(),
                body,
                at_ms: now_ms(),
            };
            let frame = match store.append_reply(reply).await {
                Ok(ReplyOutcome::Accepted { seq, .. }) => ServerFrame::Ack {
                    client_id,
                    conversation,
                    seq,
                },
                Ok(ReplyOutcome::OptedOut) => ServerFrame::Error {
                    code: ErrorCode::OptedOut,
                    message: "the customer texted STOP; nothing can be sent until they text START"
                        .into(),
                    client_id: Some(client_id),
                    conversation: Some(conversation),
                    fatal: false,
                },
                Ok(ReplyOutcome::UnknownConversation) => ServerFrame::Error {
                    code: ErrorCode::NotAssigned,
                    message: format!("conversation {conversation} does not exist"),
                    client_id: Some(client_id),
                    conversation: Some(conversation),
                    fatal: false,
                },
                Err(e) => ServerFrame::Error {
                    code: ErrorCode::Unavailable,
                    message: format!("the reply was not stored ({e}); send it again"),
                    client_id: Some(client_id),
                    conversation: Some(conversation),
                    fatal: false,
                },
            };
            // A full buffer here means the router is about to drop this
            // connection anyway; the agent resends unacked replies on resume.
            let _ = frames.try_send(Outgoing::Frame(switchboard_protocol::encode(&frame)));
        });
    }

    fn check_assigned(&mut self, agent: &str, conversation: &str) -> bool {
        let assigned = matches!(self.routes.get(conversation), Some(RouteRecord::Assigned { agent: a, .. }) if a == agent);
        if !assigned {
            if let Some(conn) = self.conn(agent) {
                conn.send(&ServerFrame::Error {
                    code: ErrorCode::NotAssigned,
                    message: format!("conversation {conversation} is not assigned to you"),
                    client_id: None,
                    conversation: Some(conversation.to_string()),
                    fatal: false,
                });
            }
        }
        assigned
    }

    /// Takes a conversation away from its agent and tells the agent why.
    fn release(&mut self, agent: &str, conversation: &str, reason: UnassignReason) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.conversations.remove(conversation);
            if let Some(conn) = a.conn.as_mut() {
                conn.delivered.remove(conversation);
                conn.send(&ServerFrame::Unassigned {
                    conversation: conversation.to_string(),
                    reason,
                });
            }
        }
    }

    async fn resolve(&mut self, agent: &str, conversation: &str) -> Result<(), StoreError> {
        if !self.check_assigned(agent, conversation) {
            return Ok(());
        }
        self.release(agent, conversation, UnassignReason::Resolved);
        let at_ms = now_ms();
        let upto_seq = self.heads.get(conversation).copied().unwrap_or(0);
        if let Some(jobs) = &self.jobs {
            // The transcript covers everything durable, including a reply
            // acked a moment ago that the feed has not brought here yet.
            let stored = match self.store.conversation(conversation).await {
                Ok(record) => record.map_or(0, |r| r.last_seq),
                Err(e) => {
                    tracing::warn!(conversation, error = %e, "transcript ends at the routed messages");
                    0
                }
            };
            // Queued before the resolve is recorded: a crash in between
            // repeats the resolve instead of losing the transcript.
            jobs.resolved(conversation, upto_seq.max(stored), agent, at_ms)
                .await;
        }
        self.store
            .save_route(conversation, &RouteRecord::Resolved { at_ms, upto_seq })
            .await?;
        self.resolved.insert(conversation.to_string(), upto_seq);
        self.routes.remove(conversation);
        self.heads.remove(conversation);
        tracing::info!(agent, conversation, "conversation resolved");
        self.drain().await
    }

    async fn transfer(
        &mut self,
        agent: &str,
        conversation: &str,
        to: Option<String>,
    ) -> Result<(), StoreError> {
        if !self.check_assigned(agent, conversation) {
            return Ok(());
        }
        match to {
            Some(target) => {
                let refusal = match self.agents.get(&target) {
                    _ if target == agent => Some(format!("{conversation} is already yours")),
                    None => Some(format!("there is no agent named {target}")),
                    Some(t) if t.conn.is_none() => Some(format!("{target} is offline")),
                    Some(t) if !t.available => Some(format!("{target} is not available")),
                    Some(t) if t.load() >= t.capacity as usize => Some(format!(
                        "{target} is at capacity ({}/{})",
                        t.load(),
                        t.capacity
                    )),
                    Some(_) => None,
                };
                if let Some(message) = refusal {
                    if let Some(conn) = self.conn(agent) {
                        conn.send(&ServerFrame::Error {
                            code: ErrorCode::TransferRejected,
                            message,
                            client_id: None,
                            conversation: Some(conversation.to_string()),
                            fatal: false,
                        });
                    }
                    return Ok(());
                }
                self.release(agent, conversation, UnassignReason::Transferred);
                self.assign(conversation, &target).await?;
                tracing::info!(
                    from = agent,
                    to = target,
                    conversation,
                    "conversation transferred"
                );
            }
            None => {
                self.release(agent, conversation, UnassignReason::Transferred);
                self.enqueue(
                    conversation.to_string(),
                    now_ms(),
                    Some(agent.to_string()),
                    true,
                )
                .await?;
                tracing::info!(
                    from = agent,
                    conversation,
                    "conversation returned to the queue"
                );
            }
        }
        self.drain().await
    }

    async fn enqueue(
        &mut self,
        conversation: ConversationId,
        since_ms: u64,
        released_by: Option<String>,
        front: bool,
    ) -> Result<(), StoreError> {
        let route = RouteRecord::Queued {
            since_ms,
            released_by,
        };
        self.store.save_route(&conversation, &route).await?;
        self.routes.insert(conversation.clone(), route);
        if front {
            self.queue.push_front(conversation);
        } else {
            self.queue.push_back(conversation);
        }
        Ok(())
    }

    /// Hands queued conversations, oldest first, to agents with room.
    async fn drain(&mut self) -> Result<(), StoreError> {
        while let Some(conversation) = self.queue.front().cloned() {
            let avoid = match self.routes.get(&conversation) {
                Some(RouteRecord::Queued { released_by, .. }) => released_by.clone(),
                // Stale entry (resolved or reassigned meanwhile).
                _ => {
                    self.queue.pop_front();
                    continue;
                }
            };
            let Some(agent) = agents::pick(&self.agents, avoid.as_deref()).map(str::to_string)
            else {
                break;
            };
            self.queue.pop_front();
            self.assign(&conversation, &agent).await?;
        }
        Ok(())
    }

    async fn assign(&mut self, conversation: &str, agent: &str) -> Result<(), StoreError> {
        let previous = match self.routes.get(conversation) {
            Some(RouteRecord::Assigned { agent, .. }) => Some(agent.clone()),
            _ => None,
        };
        let since_ms = now_ms();
        // With several instances on one store, another router may have
        // claimed it first: then it is theirs, not ours to route.
        if !self
            .store
            .claim(conversation, agent, previous.as_deref(), since_ms)
            .await?
        {
            tracing::info!(agent, conversation, "conversation claimed elsewhere");
            self.routes.remove(conversation);
            self.heads.remove(conversation);
            return Ok(());
        }
        let route = RouteRecord::Assigned {
            agent: agent.to_string(),
            since_ms,
        };
        self.routes.insert(conversation.to_string(), route);
        self.assignments += 1;
        if let Some(a) = self.agents.get_mut(agent) {
            a.conversations.insert(conversation.to_string());
            a.last_assigned = self.assignments;
        }
        tracing::debug!(agent, conversation, "conversation assigned");
        self.send_assigned(agent, conversation, 0).await
    }

    /// Connections that can take no more frames are dropped like a disconnect.
    fn reap_broken_connections(&mut self) {
        let broken: Vec<(String, Broken)> = self
            .agents
            .iter()
            .filter_map(|(name, a)| Some((name.clone(), a.conn.as_ref()?.broken?)))
            .collect();
        for (name, why) in broken {
            match why {
                Broken::Overflowed => {
                    tracing::warn!(
                        agent = name,
                        "agent connection fell behind; disconnecting it"
                    )
                }
                Broken::Closed => tracing::debug!(agent = name, "agent connection already closed"),
            }
            self.disconnect(&name);
        }
    }

    /// Alerts for customers queued too long while nobody can take them.
    fn check_waits(&mut self) {
        let Some(jobs) = self.jobs.as_mut() else {
            return;
        };
        let nobody_free = agents::pick(&self.agents, None).is_none();
        let routes = &self.routes;
        let waiting = self.queue.iter().filter_map(|c| match routes.get(c) {
            Some(RouteRecord::Queued { since_ms, .. }) if nobody_free => Some((c, *since_ms)),
            _ => None,
        });
        jobs.check_waits(waiting);
    }

    fn announce_queue(&mut self) {
        let length = self.queue.len();
        if length == self.announced_queue {
            return;
        }
        self.announced_queue = length;
        for agent in self.agents.values_mut() {
            if let Some(conn) = agent.conn.as_mut() {
                conn.send(&ServerFrame::Queue { length });
            }
        }
    }

    fn announce_presence(&mut self) {
        let agents = agents::presence(&self.agents);
        for agent in self.agents.values_mut() {
            if let Some(conn) = agent.conn.as_mut() {
                conn.send(&ServerFrame::Presence {
                    agents: agents.clone(),
                });
            }
        }
    }
}
