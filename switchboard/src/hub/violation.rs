//! A client frame that ends the session — too big, not valid UTF-8, or
//! breaking RFC 6455 — and how the switchboard says so: an `error` frame,
//! then a Close with the matching code (1009, 1007, 1002) and a reason.

use std::error::Error as _;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};

/// Largest message an agent may send (a reply is at most a few KB).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Why the peer's input ended the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// RFC 6455 close code.
    pub code: u16,
    /// Says what was wrong, short enough for a Close frame (≤ 123 bytes).
    pub reason: String,
}

/// Close code: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: text that is not UTF-8.
pub const CLOSE_INVALID_DATA: u16 = 1007;
/// Close code: the frame breaks the protocol.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;

/// What a read error from the socket means; `None` when the peer simply went
/// away (a reset, an I/O error): then there is nobody to tell.
pub fn classify(error: &axum::Error) -> Option<Violation> {
    let ws = error.source()?.downcast_ref::<WsError>()?;
    let (code, reason) = match ws {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => (
            CLOSE_TOO_BIG,
            format!("message of {size} bytes is over the {max_size}-byte limit"),
        ),
        WsError::Capacity(other) => (CLOSE_TOO_BIG, other.to_string()),
        WsError::Utf8(_) => (CLOSE_INVALID_DATA, "text frame is not valid UTF-8".into()),
        WsError::Protocol(
            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => return None,
        WsError::Protocol(e) => (CLOSE_PROTOCOL_ERROR, format!("protocol error: {e}")),
        _ => return None,
    };
    Some(Violation {
        code,
        reason: truncate(reason, 123),
    })
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
