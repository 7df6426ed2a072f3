//! The agent hub: one task per agent WebSocket, translating frames into
//! router commands and router output into frames.

pub mod connection;
pub mod violation;
