//! The router: every routing decision, made in one place.
//!
//! It reads the store's change feed (never the webhook handler) and tells
//! agents about new messages, assigns new conversations to the least-loaded
//! available agent (sticky afterwards), keeps a FIFO queue when nobody is
//! free, holds a disconnected agent's conversations for a grace period, and
//! handles resolve and transfer. An agent may be connected several times at
//! once, once per client (each agent-UI instance): every session is shown
//! everything of the agent's conversations.
//!
//! It is a synchronous state machine ([`machine::Core`]: one [`Event`] in, a
//! list of [`Effect`]s out, no I/O, unit-tested in `tests`) run by a thin
//! async [`driver`] that does all the I/O. Agent connections talk to it
//! through [`RouterHandle`]; it talks back through each connection's
//! bounded buffer ([`Outgoing`]), so no agent can slow it down.

mod agents;
mod commands;
mod conn;
mod delivery;
mod driver;
mod event;
mod feed;
mod lanes;
mod machine;
mod notices;
mod overview;
mod presence;
mod queue;
mod reopen;
mod stats;
mod take;
#[cfg(test)]
mod tests;
mod timeline;
mod watch;

pub use conn::{Conn, ConnId, Outgoing, Queued, RESUME_STATUS_WINDOW};
pub use driver::{spawn, RouterPorts};
pub use event::{ClaimOutcome, Effect, Event};
pub use stats::RouterStats;

use crate::conversation::notice::NoticeSettings;
use crate::jobs::RouterJobs;
use std::collections::BTreeMap;
use std::time::Duration;
use switchboard_protocol::{ConversationId, Media, Seq};
use tokio::sync::mpsc;

/// Requests from agent connections (and the router's own timers).
pub enum Command {
    Connect {
        agent: String,
        conn: Conn,
        /// `hello.client`; empty: the default client.
        client: String,
        resume: BTreeMap<ConversationId, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
    },
    Disconnect {
        agent: String,
        conn_id: ConnId,
    },
    Availability {
        agent: String,
        /// The connection that sent it (answers go there).
        conn_id: ConnId,
        available: bool,
        capacity: u32,
    },
    Reply {
        agent: String,
        /// The connection that sent it (answers go there).
        conn_id: ConnId,
        conversation: ConversationId,
        client_id: String,
        body: String,
        /// Pictures to send with it (checked by the connection).
        media: Vec<Media>,
        /// A private note (`note` frame) rather than a text to the customer.
        note: bool,
    },
    Resolve {
        agent: String,
        /// The connection that sent it (answers go there).
        conn_id: ConnId,
        conversation: ConversationId,
    },
    Transfer {
        agent: String,
        /// The connection that sent it (answers go there).
        conn_id: ConnId,
        conversation: ConversationId,
        to: Option<String>,
        /// The transfer note, recorded with the `transferred` event.
        note: Option<String>,
    },
    Take {
        agent: String,
        /// The connection that sent it (answers go there).
        conn_id: ConnId,
        conversation: ConversationId,
    },
    Supervise {
        agent: String,
        /// The connection that sent it (answers go there).
        conn_id: ConnId,
    },
    Reopen {
        agent: String,
        /// The connection that sent it (answers go there).
        conn_id: ConnId,
        conversation: ConversationId,
    },
    QueueWindow {
        agent: String,
        /// The connection that sent it (its `queue` frames list `limit`).
        conn_id: ConnId,
        limit: usize,
    },
    Watch {
        agent: String,
        /// The connection that sent it (it is sent the conversation).
        conn_id: ConnId,
        /// `None`: `unwatch`.
        conversation: Option<ConversationId>,
    },
    GraceExpired {
        agent: String,
        generation: u64,
    },
    /// The backoff wait after a failed claim is over: try the queue again.
    RetryDrain,
}

/// Cheap, cloneable way to reach the router.
#[derive(Clone)]
pub struct RouterHandle {
    commands: mpsc::Sender<Command>,
}

impl RouterHandle {
    /// Hands the router a command. The channel is bounded: when the router
    /// is behind, this waits, so an agent's frames are read no faster than
    /// the router handles them (TCP backpressure, nothing dropped).
    /// False when the router has stopped (shutdown).
    pub async fn send(&self, command: Command) -> bool {
        self.commands.send(command).await.is_ok()
    }
}

pub struct RouterConfig {
    pub agent_names: Vec<String>,
    pub grace: Duration,
    /// Transcripts on resolve and waiting alerts; `None` queues nothing.
    pub jobs: Option<RouterJobs>,
    /// Automatic texts to waiting customers (off by default).
    pub notices: NoticeSettings,
    /// Agents who may ask for the supervisors' `overview` (`SUPERVISORS`).
    pub supervisors: Vec<String>,
}
