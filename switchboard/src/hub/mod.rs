//! The agent hub: one task per agent WebSocket, translating frames into
//! router commands and router output into frames.

pub mod connection;
mod queue_list;

/// Largest message an agent may send (a reply is at most a few KB); a larger
/// one ends the session with 1009 (see `switchboard_protocol::violation`).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
