//! The sign-in and proxy settings both services share (`SIGNIN_*`,
//! `TRUSTED_PROXIES`).

use clap::Args;
use std::net::IpAddr;

use super::{SignInThrottle, TrustedProxies};

#[derive(Debug, Clone, Args)]
pub struct SignInSettings {
    /// Failed sign-ins allowed per agent name per minute (as a burst, then
    /// one every 60/N seconds); past it every attempt for that name gets 429
    /// with `Retry-After`, the right password too.
    #[arg(long, env = "SIGNIN_FAILURES_PER_NAME", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub signin_failures_per_name: u32,

    /// Failed sign-ins allowed per client address per minute (same rule).
    #[arg(long, env = "SIGNIN_FAILURES_PER_ADDRESS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub signin_failures_per_address: u32,

    /// Addresses of the reverse proxies (and, on the switchboard, the agent
    /// UIs) whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed,
    /// comma separated. Empty: the peer address is the client and no request
    /// counts as HTTPS.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for SignInSettings {
    fn default() -> Self {
        SignInSettings {
            signin_failures_per_name: 5,
            signin_failures_per_address: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

impl SignInSettings {
    pub fn throttle(&self) -> SignInThrottle {
        SignInThrottle::new(
            self.signin_failures_per_name,
            self.signin_failures_per_address,
        )
    }

    pub fn proxies(&self) -> TrustedProxies {
        TrustedProxies::new(self.trusted_proxies.clone())
    }
}
