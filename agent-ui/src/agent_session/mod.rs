//! One signed-in agent's live session: a single upstream WebSocket to the switchboard,
//! shared by every browser tab the agent has open on this instance. It says which
//! client it is (`hello.client`: this instance's id), so the same agent's upstream
//! from another agent-UI instance coexists with it; both are sent every frame, and
//! what one instance's browsers change (a reply, a resolve, availability) reaches
//! the other's through the switchboard.
//!
//! A tokio task ([`task`]) owns the upstream socket and the agent's [`model`]; the rest
//! of the server talks to it through an [`AgentHandle`]. Browsers subscribe to a
//! broadcast channel of ready-serialised frames; attaching goes through the task, which
//! takes the snapshot and subscribes in one step, so a browser's `state` and the live
//! frames after it have neither a gap nor an overlap.

mod lists;
mod model;
mod task;

pub use model::AgentModel;

use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use switchboard_protocol::{ClientFrame, Seq};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use switchboard_protocol::client::{Credentials, Socket as Upstream};

/// Frames buffered per browser before it counts as lagging (it then gets a fresh
/// `state` instead of the frames it missed).
const BROWSER_BUFFER_FRAMES: usize = 512;
/// Commands buffered towards the task; browsers wait when it is full.
const COMMAND_BUFFER: usize = 256;

/// Timings of the upstream link.
#[derive(Debug, Clone, Copy)]
pub struct LinkSettings {
    /// How often to ping the switchboard; three intervals of silence end the link.
    pub ping_every: Duration,
    /// Close the upstream after this long without any browser attached (`None`: never),
    /// so an agent who closed the console goes offline instead of haunting the router.
    pub idle_after: Option<Duration>,
}

/// Why an agent session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Signed out or shut down.
    Closed,
    /// Another connection of this agent with the same client id (this instance's)
    /// replaced this one.
    Superseded,
    /// The switchboard no longer accepts the password.
    CredentialsRejected,
}

/// What a browser gets when it attaches: its first frame and the live ones after it.
pub struct Attached {
    /// The `state` frame.
    pub snapshot: Utf8Bytes,
    pub frames: broadcast::Receiver<Utf8Bytes>,
}

enum Command {
    Attach(oneshot::Sender<Attached>),
    Forward(ClientFrame),
    /// The agent read a conversation up to a seq (a browser's `read`).
    Read(String, Seq),
    /// May the agent read this conversation's media (held, or watched)?
    Holds(String, oneshot::Sender<bool>),
    Password(String),
    Close,
}

/// A cheap, cloneable way to talk to an agent's session task.
#[derive(Clone)]
pub struct AgentHandle {
    commands: mpsc::Sender<Command>,
    connected: watch::Receiver<bool>,
}

impl AgentHandle {
    /// Snapshot plus live frames; `None` if the session has ended.
    pub async fn attach(&self) -> Option<Attached> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Attach(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Whether the upstream session is live right now.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Waits, at most `bound`, until the upstream session is live (its welcome
    /// applied); whether it is.
    pub async fn wait_connected(&self, bound: Duration) -> bool {
        let mut connected = self.connected.clone();
        let live = tokio::time::timeout(bound, connected.wait_for(|live| *live))
            .await
            .is_ok_and(|answer| answer.is_ok());
        live
    }

    /// Whether the agent may read `conversation`'s media now: they hold it,
    /// or (a supervisor) watch it (false if the session ended).
    pub async fn holds(&self, conversation: &str) -> bool {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Holds(conversation.to_string(), tx))
            .await
            .is_err()
        {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Sends a validated browser frame upstream; false if the session has ended.
    pub async fn forward(&self, frame: ClientFrame) -> bool {
        self.commands.send(Command::Forward(frame)).await.is_ok()
    }

    /// The agent has seen `conversation` up to `seq` in some tab; false if the
    /// session has ended.
    pub async fn read(&self, conversation: String, seq: Seq) -> bool {
        self.commands
            .send(Command::Read(conversation, seq))
            .await
            .is_ok()
    }

    /// The agent signed in again with a password the switchboard accepted; use it for
    /// the next reconnect.
    pub fn update_password(&self, password: String) {
        if self.commands.try_send(Command::Password(password)).is_err() {
            tracing::warn!("could not hand the new password to the agent session");
        }
    }

    /// Closes the upstream cleanly and ends the task.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }
}

/// Starts an agent's session. `initial` is an already authenticated socket (the one
/// the sign-in opened), used instead of connecting again.
/// `client` is this instance's id, sent as `hello.client`.
pub fn spawn(
    credentials: Credentials,
    client: String,
    settings: LinkSettings,
    initial: Option<Upstream>,
) -> (AgentHandle, JoinHandle<Ended>) {
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_BUFFER);
    let (connected_tx, connected_rx) = watch::channel(false);
    let (frames, _) = broadcast::channel(BROWSER_BUFFER_FRAMES);
    // Every line of the session's task names the agent.
    let span = tracing::info_span!("agent_session", agent = %credentials.name);
    let task = task::Task::new(
        credentials,
        client,
        settings,
        commands_rx,
        connected_tx,
        frames,
    );
    let join = tokio::spawn(tracing::Instrument::instrument(task.run(initial), span));
    (
        AgentHandle {
            commands: commands_tx,
            connected: connected_rx,
        },
        join,
    )
}
