//! What the router sends to an agent connection, and the driver's handle on
//! one connection.
//!
//! The router decides *what* a connection gets; the connection's own task
//! reads whatever the store must supply (history, a message's status, the
//! opt-out flag) at the socket's pace. So the router never waits for a
//! store read, and a long gap (resume after an outage) takes one buffer
//! slot, not thousands.

use switchboard_protocol::{ConversationId, ErrorCode, Seq, ServerFrame};
use tokio::sync::{mpsc, oneshot};

/// Identifies one agent WebSocket for the lifetime of the process.
pub type ConnId = u64;

/// One item of work for an agent connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// A frame, as is.
    Frame(ServerFrame),
    /// An `assigned` frame: the conversation's record read from the store,
    /// with messages `(after, upto]` as history.
    Assigned {
        conversation: ConversationId,
        after: Seq,
        upto: Seq,
        /// When the customer started waiting.
        waiting_since_ms: Option<u64>,
    },
    /// Messages `(after, upto]` of a conversation, as `message` frames.
    Range {
        conversation: ConversationId,
        after: Seq,
        upto: Seq,
    },
    /// On resume: the current `status` of outbound messages among the
    /// last [`RESUME_STATUS_WINDOW`] up to `seen`, then the `opt_out` state.
    Resume {
        conversation: ConversationId,
        seen: Seq,
    },
    /// The current `status` of message `seq`, read from the store.
    Status {
        conversation: ConversationId,
        seq: Seq,
    },
    /// The current `opt_out` state, read from the store.
    OptOut { conversation: ConversationId },
    /// A `watching` frame: the conversation's record read from the store,
    /// with messages `(0, upto]` as history.
    Watching {
        conversation: ConversationId,
        holder: Option<String>,
        upto: Seq,
    },
    /// A `queue` frame: `length`, and for each listed conversation its
    /// first unanswered message, newest messages and opt-out state, read
    /// from the store.
    Queue { length: usize, entries: Vec<Queued> },
}

/// A listed queue entry as the router knows it; the connection's task reads
/// the rest from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub conversation: ConversationId,
    /// Newest seq of the conversation: the store is read up to it.
    pub head: Seq,
    /// When the conversation was queued: the waiting time shown when none
    /// of the customer's messages is unanswered (e.g. handed back after a
    /// reply).
    pub since_ms: u64,
}

/// On resume, the status of this many recent messages per conversation is re-sent.
pub const RESUME_STATUS_WINDOW: u64 = 100;

/// The driver's end of one agent WebSocket.
pub struct Conn {
    pub id: ConnId,
    /// Work for the socket; bounded so a stuck agent cannot make the router
    /// (and so every other agent) wait.
    pub frames: mpsc::Sender<Outgoing>,
    /// Tells the connection task to close, with the frame to say why.
    pub close: Option<oneshot::Sender<ServerFrame>>,
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
    /// Queues work without waiting. On a full buffer the connection is told
    /// to close with `slow_consumer`; either way a failure means the
    /// connection is gone for the router.
    pub fn queue(&mut self, item: Outgoing) -> Result<(), Broken> {
        match self.frames.try_send(item) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_with(ServerFrame::Error {
                    code: ErrorCode::SlowConsumer,
                    message: "too many frames waiting for this connection; reconnect and resume"
                        .into(),
                    client_id: None,
                    conversation: None,
                    fatal: true,
                });
                Err(Broken::Overflowed)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Broken::Closed),
        }
    }

    /// Asks the connection task to send `frame` and close.
    pub fn close_with(&mut self, frame: ServerFrame) {
        if let Some(close) = self.close.take() {
            let _ = close.send(frame);
        }
    }
}
