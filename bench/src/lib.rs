//! The switchboard benchmark: a cheap HTTP/1.1 load generator for signed
//! Twilio webhooks, instrumented agent WebSocket clients, and the suite that
//! runs both against the real `switchboard serve` and a trivial axum handler
//! in one run, so every figure can be reported as a ratio on the same machine.
//! The agent UI is measured too: its per-message enrichment on one core, and
//! webhook → browser tab latency through `agent-ui serve`.
//!
//! The binaries are thin: `loadgen` (the suite and an ad-hoc load command),
//! `trivial` (the baseline server) and `soak` (the kill -9 soak, [`soak`]).

pub mod agent;
pub mod analysis;
pub mod browser;
pub mod counting;
pub mod cpu;
pub mod disk;
pub mod enrichment;
pub mod findings;
pub mod ledger;
pub mod load;
pub mod process;
pub mod report;
pub mod soak;
pub mod stats;
pub mod suite;
pub mod ui_findings;
pub mod ui_phase;
pub mod webhook;
