//! The project's untrusted-input code, compiled here from its own source
//! files (`#[path]`), so the fuzz build needs only their few dependencies and
//! not the crates around them (the AWS SDK, axum, askama): what is fuzzed is
//! byte for byte the code the services run.
//!
//! The agent protocol's decoder comes from its crate (`switchboard-protocol`,
//! without the client feature: serde only).

/// The webhook's strict form decoder (`switchboard/src/http/form_decode.rs`).
#[path = "../../switchboard/src/http/form_decode.rs"]
pub mod form_decode;

/// `X-Twilio-Signature` (`switchboard/src/twilio/signature.rs`).
#[path = "../../switchboard/src/twilio/signature.rs"]
pub mod signature;

/// The SMS segment counter (`devtools/src/phone_sim/segments.rs`).
#[path = "../../devtools/src/phone_sim/segments.rs"]
pub mod segments;

/// The agent UI's browser frames (`agent-ui/src/browser.rs`).
#[path = "../../agent-ui/src/browser.rs"]
pub mod browser;

pub mod files;
pub mod sentiment;
