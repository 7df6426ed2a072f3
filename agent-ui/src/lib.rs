//! Agent UI: the agents' browser console for Switchboard.
//!
//! So far this crate holds the message enrichment the server applies before a message
//! reaches the browser: [`sentiment`] (score, mood icon, the words behind it) and
//! [`humanize`] (moment.js-style relative times and when they change).

pub mod humanize;
pub mod sentiment;
