//! Development tools of the switchboard, kept out of the production library:
//! the phone simulator ([`phone_sim`]), which plays the customer's phone and
//! stands in for Twilio's REST API, and a terminal agent ([`agent`]). The
//! `switchboard-dev` binary runs them; the end-to-end tests use the simulator
//! in-process.

pub mod agent;
pub mod phone_sim;
