//! The agent side of the protocol, in one place for every agent program (the
//! agent UI's upstream session, `switchboard-dev agent`, the benchmark and the
//! end-to-end tests): opening the socket with the agent's Basic credentials
//! ([`connect`]), frames in and out ([`send`], [`read`]), the resume points of
//! `hello` ([`ResumePoints`]), the one reconnect backoff policy ([`Backoff`],
//! [`connect_retrying`]), liveness pings ([`Heartbeat`]) and where the
//! history API is ([`history_base`]).
//!
//! Each program keeps its own loop (the agent UI multiplexes browser tabs, the
//! benchmark counts bytes, the tests record every frame); this module holds
//! what they would otherwise each write again.

mod backoff;
mod connect;
mod heartbeat;
mod history;
mod resume;

pub use backoff::{backoff_policy, Backoff};
pub use connect::{
    connect, connect_for_client, connect_over, connect_retrying, ConnectError, Credentials, Socket,
    CONNECT_TIMEOUT, MAX_FRAME_BYTES,
};
pub use heartbeat::{Beat, Heartbeat};
pub use history::history_base;
pub use resume::ResumePoints;

use crate::{decode, encode, ClientFrame, ServerFrame};
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

/// Sends one frame as a text message.
pub async fn send<S>(
    socket: &mut WebSocketStream<S>,
    frame: &ClientFrame,
) -> Result<(), tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    socket.send(WsMessage::Text(encode(frame).into())).await
}

/// What one WebSocket message from the switchboard means to an agent.
#[derive(Debug)]
pub enum Incoming {
    /// A protocol frame.
    Frame(ServerFrame),
    /// The switchboard closed the socket; the reason it gave, if any.
    Closed(Option<String>),
    /// A text message that is not a frame of this protocol version.
    Unreadable(String),
    /// Ping, pong, binary: tungstenite answers pings itself, so there is
    /// nothing to do (any traffic still proves the link is alive).
    Control,
}

/// Interprets one message read from the socket.
pub fn read(message: &WsMessage) -> Incoming {
    match message {
        WsMessage::Text(text) => match decode::<ServerFrame>(text.as_str()) {
            Ok(frame) => Incoming::Frame(frame),
            Err(e) => Incoming::Unreadable(e.to_string()),
        },
        WsMessage::Close(frame) => Incoming::Closed(
            frame
                .as_ref()
                .map(|f| f.reason.to_string())
                .filter(|r| !r.is_empty()),
        ),
        _ => Incoming::Control,
    }
}
