//! The in-memory store: [`MemoryLog`] behind a lock, for tests and as the
//! reference the store contract suite holds the real stores to. Nothing is
//! durable — "durable" here means "applied under the lock".

mod log;

pub use log::MemoryLog;

use super::history::{self, Cursor, History, Resolution};
use super::search::{self, Query};
use super::{
    AgentSettings, Appended, CannedList, CannedStore, Change, ChangeFeed, ChangeId, Claim,
    ConversationRecord, InboundMessage, Lifecycle, MessageLog, PendingReplies, PendingReply, Reply,
    ReplyOutcome, Result, RouteRecord, RouteWrite, RoutingState, SendIntent, StatusOutcome,
    StatusUpdate, StoreError,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use switchboard_protocol::{CannedReply, ConversationId, Message, Seq};
use tokio::sync::{mpsc, watch};

/// An in-memory [`super::Store`]: every port.
pub struct MemoryStore {
    state: Mutex<State>,
    /// The newest change id, to wake [`ChangeFeed::wait_for_changes`].
    newest: watch::Sender<ChangeId>,
    /// Told about each newly accepted reply, for the outbox worker.
    outbox_tx: mpsc::UnboundedSender<(ConversationId, Seq)>,
}

/// What the lock guards.
#[derive(Default)]
struct State {
    log: MemoryLog,
    cursor: ChangeId,
    routes: BTreeMap<ConversationId, RouteRecord>,
    /// Every resolve recorded by `save_route`, oldest first.
    resolutions: Vec<Resolution>,
    /// What each agent last declared.
    agents: BTreeMap<String, AgentSettings>,
    /// Send intents of replies; only those still in the log's outbox count.
    intents: HashMap<(ConversationId, Seq), SendIntent>,
    /// The team's canned replies.
    canned: CannedList,
    closed: bool,
}

impl MemoryStore {
    /// An empty store and the receiver of newly accepted replies.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<(ConversationId, Seq)>) {
        let (outbox_tx, outbox_rx) = mpsc::unbounded_channel();
        let store = MemoryStore {
            state: Mutex::default(),
            newest: watch::Sender::new(0),
            outbox_tx,
        };
        (store, outbox_rx)
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| StoreError::Storage("a writer panicked".into()))
    }

    /// Runs a write on the log, then wakes change-feed waiters.
    fn write<T>(&self, apply: impl FnOnce(&mut MemoryLog) -> T) -> Result<T> {
        let mut state = self.state()?;
        if state.closed {
            return Err(StoreError::Closed);
        }
        let out = apply(&mut state.log);
        let newest = state.log.last_change();
        drop(state);
        self.newest.send_if_modified(|seen| {
            let advanced = newest > *seen;
            *seen = newest.max(*seen);
            advanced
        });
        Ok(out)
    }
}

#[async_trait]
impl MessageLog for MemoryStore {
    async fn append_inbound(&self, message: InboundMessage) -> Result<Appended> {
        self.write(|log| log.append_inbound(&message))
    }

    async fn append_reply(&self, reply: Reply) -> Result<ReplyOutcome> {
        let outcome = self.write(|log| log.append_reply(&reply))?;
        if let ReplyOutcome::Accepted {
            seq,
            duplicate: false,
        } = outcome
        {
            let _ = self.outbox_tx.send((reply.conversation.clone(), seq));
        }
        Ok(outcome)
    }

    async fn update_status(&self, update: StatusUpdate) -> Result<StatusOutcome> {
        self.write(|log| log.update_status(&update))?
    }

    async fn set_opted_out(&self, conversation: &str, opted_out: bool) -> Result<()> {
        self.write(|log| log.set_opted_out(conversation, opted_out))
    }

    async fn message(&self, conversation: &str, seq: Seq) -> Result<Option<Message>> {
        Ok(self.state()?.log.message(conversation, seq))
    }

    async fn history(&self, conversation: &str, after: Seq, upto: Seq) -> Result<Vec<Message>> {
        Ok(self.state()?.log.history(conversation, after, upto))
    }

    async fn conversation(&self, conversation: &str) -> Result<Option<ConversationRecord>> {
        Ok(self.state()?.log.conversation(conversation))
    }
}

#[async_trait]
impl PendingReplies for MemoryStore {
    async fn pending_replies(&self) -> Result<Vec<PendingReply>> {
        let state = self.state()?;
        Ok(state
            .log
            .outbox()
            .into_iter()
            .map(|(conversation, seq)| PendingReply {
                intent: state.intents.get(&(conversation.clone(), seq)).cloned(),
                conversation,
                seq,
            })
            .collect())
    }

    async fn record_intent(&self, conversation: &str, seq: Seq, intent: &SendIntent) -> Result<()> {
        let mut state = self.state()?;
        let position = (conversation.to_string(), seq);
        let queued = state.log.outbox().contains(&position);
        if queued {
            state
                .intents
                .entry(position)
                .or_insert_with(|| intent.clone());
        } else {
            // Settled: nothing to recover any more.
            state.intents.remove(&position);
        }
        Ok(())
    }

    async fn sid_owner(&self, sid: &str) -> Result<Option<(ConversationId, Seq)>> {
        Ok(self.state()?.log.sid_owner(sid))
    }
}

#[async_trait]
impl ChangeFeed for MemoryStore {
    async fn changes_after(
        &self,
        after: ChangeId,
        limit: usize,
    ) -> Result<Vec<(ChangeId, Change)>> {
        Ok(self.state()?.log.changes_after(after, limit))
    }

    async fn wait_for_changes(&self, after: ChangeId) -> Result<()> {
        let mut newest = self.newest.subscribe();
        newest
            .wait_for(|&newest| newest > after)
            .await
            .map(|_| ())
            .map_err(|_| StoreError::Closed)
    }

    async fn load_cursor(&self) -> Result<ChangeId> {
        Ok(self.state()?.cursor)
    }

    async fn save_cursor(&self, cursor: ChangeId) -> Result<()> {
        let mut state = self.state()?;
        state.cursor = cursor;
        state.log.prune_changes(cursor);
        Ok(())
    }
}

#[async_trait]
impl CannedStore for MemoryStore {
    async fn canned(&self) -> Result<CannedList> {
        Ok(self.state()?.canned.clone())
    }

    async fn replace_canned(&self, expected: u64, replies: &[CannedReply]) -> Result<bool> {
        let mut state = self.state()?;
        if state.closed {
            return Err(StoreError::Closed);
        }
        if state.canned.version != expected {
            return Ok(false);
        }
        state.canned = CannedList {
            version: expected + 1,
            replies: replies.to_vec(),
        };
        Ok(true)
    }
}

#[async_trait]
impl Lifecycle for MemoryStore {
    async fn ready(&self) -> Result<()> {
        self.state().map(|_| ())
    }

    async fn close(&self) -> Result<()> {
        self.state()?.closed = true;
        Ok(())
    }
}

/// Who holds a conversation according to its routing record.
fn holder(route: Option<&RouteRecord>) -> Option<&str> {
    match route {
        Some(RouteRecord::Assigned { agent, .. }) => Some(agent),
        _ => None,
    }
}

/// The port's conditions, checked as a conditional write would check them
/// (the in-memory store is the reference the real stores are held to).
#[async_trait]
impl RoutingState for MemoryStore {
    async fn save_route(&self, conversation: &str, route: &RouteRecord) -> Result<RouteWrite> {
        let mut state = self.state()?;
        let held_by = holder(state.routes.get(conversation));
        let allowed = match route {
            RouteRecord::Assigned { .. } | RouteRecord::Resolved { .. } => true,
            RouteRecord::Queued {
                released_by: Some(by),
                ..
            } => held_by.is_none_or(|h| h == by),
            RouteRecord::Queued {
                released_by: None, ..
            } => held_by.is_none(),
        };
        if !allowed {
            return Ok(RouteWrite::HeldElsewhere);
        }
        if let RouteRecord::Resolved {
            at_ms,
            upto_seq,
            by,
        } = route
        {
            state.resolutions.push(Resolution {
                conversation: conversation.to_string(),
                upto_seq: *upto_seq,
                at_ms: *at_ms,
                by: by.clone(),
                closed: None,
            });
        }
        state.routes.insert(conversation.to_string(), route.clone());
        Ok(RouteWrite::Written)
    }

    async fn routes(&self) -> Result<Vec<(ConversationId, RouteRecord)>> {
        Ok(self
            .state()?
            .routes
            .iter()
            .map(|(c, r)| (c.clone(), r.clone()))
            .collect())
    }

    async fn claim(&self, claim: &Claim) -> Result<RouteWrite> {
        let mut state = self.state()?;
        let held_by = holder(state.routes.get(&claim.conversation));
        let allowed =
            held_by.is_none_or(|h| h == claim.agent || claim.previous.as_deref() == Some(h));
        if !allowed {
            return Ok(RouteWrite::HeldElsewhere);
        }
        state
            .routes
            .insert(claim.conversation.clone(), claim.route());
        Ok(RouteWrite::Written)
    }

    async fn save_agent(&self, agent: &str, settings: AgentSettings) -> Result<()> {
        self.state()?.agents.insert(agent.to_string(), settings);
        Ok(())
    }

    async fn agents(&self) -> Result<Vec<(String, AgentSettings)>> {
        Ok(self
            .state()?
            .agents
            .iter()
            .map(|(name, settings)| (name.clone(), *settings))
            .collect())
    }
}

/// Everything read in full, through the shared rules (`history.rs`,
/// `search.rs`): the reference the indexed stores are held to.
#[async_trait]
impl History for MemoryStore {
    async fn resolutions(&self, conversation: &str) -> Result<Vec<Resolution>> {
        Ok(self
            .state()?
            .resolutions
            .iter()
            .filter(|r| r.conversation == conversation)
            .cloned()
            .collect())
    }

    async fn recent_resolutions(
        &self,
        agent: Option<&str>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Resolution>> {
        let all = self.state()?.resolutions.clone();
        Ok(history::page_of_resolutions(all, agent, after, limit))
    }

    async fn search(
        &self,
        query: &Query,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let state = self.state()?;
        let messages = state.log.messages().cloned();
        Ok(search::search_messages(messages, query, after, limit))
    }
}
