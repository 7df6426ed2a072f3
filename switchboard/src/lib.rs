//! The switchboard service: Twilio webhooks in, a durable sled log, a change
//! feed that drives routing, agents over WebSocket, replies out through
//! Twilio. See ARCHITECTURE.md for the map.

pub mod backoff;
pub mod canned;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod conversation;
pub mod credentials;
pub mod durability;
pub mod http;
pub mod hub;
pub mod jobs;
pub mod migrate;
pub mod outbound_media;
pub mod outbox;
pub mod phone;
pub mod router;
pub mod server;
pub mod stats;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod twilio;
