//! Agent UI: the agents' browser console for Switchboard.
//!
//! `agent-ui serve` ([`server::serve`]) signs agents in against the switchboard, holds
//! one upstream WebSocket per agent on this instance ([`agent_session`]) shared by all of the agent's
//! browser tabs, and enriches every message before a browser sees it ([`enrich`]):
//! [`sentiment`] (score, mood icon, the words behind it; the `switchboard-sentiment` crate) and [`humanize`]
//! (moment.js-style relative times, kept current as time passes). The browser
//! protocol is in [`browser`] and `docs/agent-ui.md`.

pub mod agent_session;
pub mod browser;
pub mod config;
pub mod enrich;
pub mod http;
pub mod humanize;
pub mod pages;
/// The scorer lives in its own crate (`sentiment/`), shared with the switchboard.
pub use switchboard_sentiment as sentiment;
pub mod server;
pub mod session_cookie;
pub mod sessions;
pub mod telemetry;

pub use config::Config;
pub use server::{serve, ServeError};
