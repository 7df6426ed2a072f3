//! A peer's frame that ends a WebSocket session — too big, not valid UTF-8,
//! or breaking RFC 6455 — and the close code and reason to answer it with
//! (1009, 1007, 1002). One classifier for both servers that accept sockets:
//! the switchboard's agent endpoint and the agent UI's browser endpoint.

use std::error::Error;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};

/// Why the peer's input ended the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// RFC 6455 close code.
    pub code: u16,
    /// Says what was wrong, short enough for a Close frame
    /// ([`MAX_CLOSE_REASON`] bytes).
    pub reason: String,
}

/// Close code: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: text that is not UTF-8.
pub const CLOSE_INVALID_DATA: u16 = 1007;
/// Close code: the frame breaks the protocol.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Longest reason a Close frame can carry, in bytes.
pub const MAX_CLOSE_REASON: usize = 123;

/// What a read error from a socket means; `None` when the peer simply went
/// away (a reset, an I/O error): then there is nobody to tell. `error` is
/// tungstenite's error or one wrapping it (axum's `ws` errors do).
pub fn classify(error: &(dyn Error + 'static)) -> Option<Violation> {
    let ws = error
        .downcast_ref::<WsError>()
        .or_else(|| error.source()?.downcast_ref::<WsError>())?;
    let (code, reason) = match ws {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => (
            CLOSE_TOO_BIG,
            format!("message of {size} bytes is over the {max_size}-byte limit"),
        ),
        WsError::Capacity(other) => (CLOSE_TOO_BIG, other.to_string()),
        WsError::Utf8(_) => (CLOSE_INVALID_DATA, "text frame is not valid UTF-8".into()),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
        WsError::Protocol(e) => (CLOSE_PROTOCOL_ERROR, format!("protocol error: {e}")),
        _ => return None,
    };
    Some(Violation {
        code,
        reason: truncate(reason, MAX_CLOSE_REASON),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_violation_gets_its_close_code() {
        let too_big = WsError::Capacity(CapacityError::MessageTooLong {
            size: 300_000,
            max_size: 262_144,
        });
        let v = classify(&too_big).expect("a violation");
        assert_eq!(v.code, CLOSE_TOO_BIG);
        assert_eq!(
            v.reason,
            "message of 300000 bytes is over the 262144-byte limit"
        );

        let bad_text = WsError::Utf8("invalid utf-8".into());
        assert_eq!(
            classify(&bad_text).map(|v| v.code),
            Some(CLOSE_INVALID_DATA)
        );

        let masked = WsError::Protocol(ProtocolError::UnmaskedFrameFromClient);
        assert_eq!(
            classify(&masked).map(|v| v.code),
            Some(CLOSE_PROTOCOL_ERROR)
        );
    }

    #[test]
    fn a_peer_that_went_away_is_not_a_violation() {
        let reset = WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        assert_eq!(classify(&reset), None);
        assert_eq!(classify(&WsError::ConnectionClosed), None);
    }

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        let text = "é".repeat(100); // 200 bytes
        let cut = truncate(text, MAX_CLOSE_REASON);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
