//! Canned replies: texts the whole team shares, kept in the store and
//! inserted into the console's reply box with `/keyword` or a picker.
//!
//! * `rules.rs` — what a valid list is and how one edit changes it (pure);
//! * `service.rs` — [`Canned`]: the list as agents' sockets see it, edits
//!   written to the store's [`crate::store::CannedStore`] port with a
//!   compare-and-set (retried when another edit got there first), and the
//!   current list for every connection to forward.
//!
//! They travel over the agent protocol (`canned_save`, `canned_delete`;
//! `canned` to every connected agent), so the console needs no other
//! authenticated channel. Placeholders (`{customer}`, `{agent}`) are filled
//! in by the console when a reply is inserted; the switchboard only checks
//! that a body names no other.

pub mod rules;
pub mod service;

pub use service::Canned;
