//! Configuration of the `phone-sim` command, read from flags and the
//! environment.
//!
//! The simulator shares the `TWILIO_*` variables with the switchboard on
//! purpose: one `.env` file then makes both agree on the credentials, the
//! number and therefore on every signature. Values are checked here, once,
//! so a bad setup fails at start-up with the variable's name.

use clap::Args;
use reqwest::Url;
use std::net::IpAddr;
use std::time::Duration;
use switchboard::config::{parse_e164, parse_non_empty};
use switchboard::twilio::sid::parse_account_sid;

/// Default URL the simulator posts customer messages to: the switchboard's
/// webhook when it runs locally with its defaults.
pub const DEFAULT_WEBHOOK_URL: &str = "http://localhost:3000/twilio/sms";

#[derive(Debug, Clone, Args)]
pub struct SimConfig {
    /// Port the simulator listens on.
    #[arg(long = "sim-port", env = "SIM_PORT", default_value_t = 4000)]
    pub port: u16,

    /// Address the simulator binds.
    #[arg(
        long = "sim-bind-addr",
        env = "SIM_BIND_ADDR",
        default_value = "127.0.0.1"
    )]
    pub bind_addr: IpAddr,

    /// Account SID the simulated REST API accepts (AC followed by 32 hex digits).
    #[arg(long, env = "TWILIO_ACCOUNT_SID", value_parser = parse_account_sid)]
    pub twilio_account_sid: String,

    /// Auth token: checked on REST calls, used to sign webhooks and callbacks.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true, value_parser = parse_non_empty)]
    pub twilio_auth_token: String,

    /// The Twilio number customers text (E.164).
    #[arg(long, env = "TWILIO_FROM", value_parser = parse_e164)]
    pub twilio_from: String,

    /// Where customer messages are posted until the switchboard registers a
    /// URL itself. Signed exactly as written, so it must be the URL the
    /// switchboard validates signatures against.
    #[arg(long = "sim-webhook-url", env = "SIM_WEBHOOK_URL", default_value = DEFAULT_WEBHOOK_URL, value_parser = parse_http_url)]
    pub webhook_url: String,

    /// Pause before each delivery-status callback, in milliseconds.
    #[arg(
        long = "sim-delivery-delay-ms",
        env = "SIM_DELIVERY_DELAY_MS",
        default_value_t = 300
    )]
    pub delivery_delay_ms: u64,
}

impl SimConfig {
    /// A configuration with the documented defaults, for in-process use
    /// (tests, the all-in-one local command).
    pub fn new(
        twilio_account_sid: impl Into<String>,
        twilio_auth_token: impl Into<String>,
        twilio_from: impl Into<String>,
        webhook_url: impl Into<String>,
    ) -> Self {
        SimConfig {
            port: 4000,
            bind_addr: IpAddr::from([127, 0, 0, 1]),
            twilio_account_sid: twilio_account_sid.into(),
            twilio_auth_token: twilio_auth_token.into(),
            twilio_from: twilio_from.into(),
            webhook_url: webhook_url.into(),
            delivery_delay_ms: 300,
        }
    }

    pub fn delivery_delay(&self) -> Duration {
        Duration::from_millis(self.delivery_delay_ms)
    }
}

/// Checks the URL but keeps the text as given: the signature covers the
/// exact characters, and `Url` would normalise them (e.g. add a trailing `/`).
pub(crate) fn parse_http_url(text: &str) -> Result<String, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` must start with http:// or https://"));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_shapes_are_checked() {
        assert_eq!(
            parse_http_url("http://h:1/x").as_deref(),
            Ok("http://h:1/x")
        );
        assert!(parse_http_url("ftp://h/x").is_err());
        assert!(parse_http_url("not a url").is_err());
    }
}
