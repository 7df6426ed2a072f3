//! Guards shared by the switchboard's and the agent UI's HTTP surfaces: who
//! the client is (behind a trusted proxy or not), sign-in rate limiting, and
//! the security headers every response carries. See `SECURITY.md`.

pub mod client;
pub mod headers;
pub mod settings;
pub mod throttle;

pub use client::{Client, TrustedProxies};
pub use settings::SignInSettings;
pub use throttle::{Refused, SignInThrottle};
