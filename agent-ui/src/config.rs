//! Configuration of `agent-ui serve`, from flags or the environment (and a `.env`
//! file, which `main` loads first).
//!
//! Every setting has an environment variable so the server runs unchanged on a PaaS;
//! `agent-ui serve --help` lists them. Each value name is its variable's name, so a
//! bad value is reported naming the variable, and the process exits non-zero.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where `STATIC_DIR` falls back to when the configured directory is missing: the
/// workspace's `static/`, as it was at compile time (handy for `cargo run` from
/// anywhere; a deployment sets `STATIC_DIR` or runs from the repository root).
const BUILT_IN_STATIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../static");

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Port to listen on (PaaS routers set it).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Address to bind.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind_addr: IpAddr,

    /// The switchboard's agent WebSocket endpoint (a proxy URL in production).
    #[arg(
        long,
        env = "SWITCHBOARD_WS_URL",
        default_value = "ws://localhost:3000/v1/agent",
        value_parser = parse_ws_url
    )]
    pub switchboard_ws_url: String,

    /// Directory of the CSS, JS and icons served under /static/.
    #[arg(long, env = "STATIC_DIR", default_value = "static")]
    pub static_dir: PathBuf,

    /// Seconds between keep-alive pings on each upstream connection; three
    /// intervals without any answer count as a lost connection.
    #[arg(
        long,
        env = "UPSTREAM_PING_SECS",
        default_value_t = 20,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub upstream_ping_secs: u64,

    /// Seconds an agent may have no console open before its upstream connection is
    /// closed (the switchboard's grace period then applies); 0 keeps it open.
    #[arg(long, env = "IDLE_DISCONNECT_SECS", default_value_t = 120)]
    pub idle_disconnect_secs: u64,

    /// This instance's name towards the switchboard (`hello.client`, 1–128
    /// characters). Every agent-UI instance of a deployment needs its own:
    /// the switchboard keeps one connection per agent *and* instance, so the
    /// same agent signed in through two instances has two that coexist, and a
    /// reconnect from the same instance replaces its old one. Unset: a random
    /// one per process (a restarted instance is then a new client; its old
    /// connection is gone with the old process anyway).
    #[arg(long, env = "INSTANCE_ID", value_parser = parse_instance_id)]
    pub instance_id: Option<String>,

    /// A signed-in session with no request and no open tab for this many
    /// seconds expires (its cookie stops working).
    #[arg(
        long,
        env = "SESSION_IDLE_SECS",
        default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(1..=31_536_000)
    )]
    pub session_idle_secs: u64,

    /// Master secret of the session cookies (at least 32 characters, e.g.
    /// `openssl rand -hex 32`). Every agent-UI instance of a deployment needs
    /// the same one; sessions then survive restarts and work on any instance.
    /// Unset (local demo mode): a random key per process, with a warning.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true, value_parser = crate::session_cookie::parse_session_secret)]
    pub session_secret: Option<crate::session_cookie::SessionSecret>,

    /// Sign-in rate limits and trusted proxies (`SIGNIN_FAILURES_PER_NAME`,
    /// `SIGNIN_FAILURES_PER_ADDRESS`, `TRUSTED_PROXIES`).
    #[command(flatten)]
    pub sign_in: switchboard_cloud::guard::SignInSettings,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// S3 bucket of the switchboard's files (MMS media), served to signed-in
    /// agents under /files/; unset serves `FILES_DIR` only. Region, credentials
    /// and `AWS_ENDPOINT_URL` come from the standard AWS chain.
    #[arg(long, env = "S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Prefix of the switchboard's keys in the bucket (the switchboard's `S3_PREFIX`).
    #[arg(long, env = "S3_PREFIX", default_value = "")]
    pub s3_prefix: String,

    /// Local copy of the files, and the fallback when S3 is unreachable.
    #[arg(long, env = "FILES_DIR", default_value = "data/files")]
    pub files_dir: PathBuf,

    /// Serve /static/ from S3 under this key prefix (e.g. `static/`), with
    /// `STATIC_DIR` as the fallback; needs `S3_BUCKET`. Unset: `STATIC_DIR` only.
    #[arg(long, env = "STATIC_S3_PREFIX")]
    pub static_s3_prefix: Option<String>,

    /// Bearer token that guards `GET /metrics` (at least 16 characters:
    /// letters, digits, `-._~+/=`). Without it `/metrics` is off (404).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, value_parser = switchboard_cloud::telemetry::parse_metrics_token)]
    pub metrics_token: Option<switchboard_cloud::telemetry::MetricsToken>,
}

impl Config {
    /// A configuration with every default, talking to `switchboard_ws_url`.
    pub fn with_switchboard(switchboard_ws_url: &str) -> Config {
        Config {
            port: 8080,
            bind_addr: IpAddr::from([0, 0, 0, 0]),
            switchboard_ws_url: switchboard_ws_url.to_string(),
            static_dir: PathBuf::from("static"),
            upstream_ping_secs: 20,
            idle_disconnect_secs: 120,
            session_idle_secs: 3600,
            instance_id: None,
            session_secret: None,
            sign_in: switchboard_cloud::guard::SignInSettings::default(),
            log_format: LogFormat::Text,
            s3_bucket: None,
            s3_prefix: String::new(),
            files_dir: PathBuf::from("data/files"),
            static_s3_prefix: None,
            metrics_token: None,
        }
    }

    pub fn upstream_ping(&self) -> Duration {
        Duration::from_secs(self.upstream_ping_secs)
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    pub fn idle_disconnect(&self) -> Option<Duration> {
        (self.idle_disconnect_secs > 0).then(|| Duration::from_secs(self.idle_disconnect_secs))
    }

    /// The static directory to serve: the configured one, or the built-in fallback
    /// when the configured one does not exist.
    pub fn resolved_static_dir(&self) -> PathBuf {
        if self.static_dir.is_dir() {
            return self.static_dir.clone();
        }
        let fallback = PathBuf::from(BUILT_IN_STATIC_DIR);
        if fallback.is_dir() {
            tracing::warn!(
                configured = %self.static_dir.display(),
                using = %fallback.display(),
                "STATIC_DIR does not exist; serving the built-in static directory"
            );
            fallback
        } else {
            tracing::warn!(
                configured = %self.static_dir.display(),
                "STATIC_DIR does not exist; /static/ will answer 404"
            );
            self.static_dir.clone()
        }
    }
}

fn parse_instance_id(text: &str) -> Result<String, String> {
    let chars = text.chars().count();
    if (1..=128).contains(&chars) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "INSTANCE_ID must be 1 to 128 characters, not {chars}"
        ))
    }
}

fn parse_ws_url(text: &str) -> Result<String, String> {
    use tokio_tungstenite::tungstenite::http::Uri;
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("ws") | Some("wss") if uri.host().is_some() => Ok(text.to_string()),
        _ => Err(format!(
            "`{text}` must be a ws:// or wss:// URL with a host, like ws://localhost:3000/v1/agent"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switchboard_url_must_be_a_websocket_url() {
        assert!(parse_ws_url("ws://localhost:3000/v1/agent").is_ok());
        assert!(parse_ws_url("wss://proxy.example/v1/agent").is_ok());
        assert!(parse_ws_url("http://localhost:3000/v1/agent").is_err());
        assert!(parse_ws_url("localhost:3000").is_err());
        assert!(parse_ws_url("not a url").is_err());
    }
}
