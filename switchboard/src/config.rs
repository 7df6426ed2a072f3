//! Configuration of the `serve` command, read from flags, the environment
//! and a `.env` file (in that order of precedence).
//!
//! Every setting has an environment variable so the service runs unchanged on
//! a PaaS; `switchboard serve --help` lists them all. Values are checked here,
//! once, so a bad deployment fails at start-up with the variable's name.

use crate::conversation::notice::{
    AfterHours, BusinessHours, HoursError, NoticeSettings, QueueNotice,
};
use crate::credentials::parse_agents;
pub use crate::credentials::AgentCredentials;
use crate::twilio::sid::parse_account_sid;
use clap::Args;
use reqwest::Url;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_cloud::telemetry::{parse_metrics_token, MetricsToken};

pub use crate::durability::Durability;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Where conversations are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// Embedded sled in `DATA_DIR`: one instance, no cloud account.
    Sled,
    /// DynamoDB tables (system of record) with DynamoDB Streams as the change
    /// feed; `DATA_DIR` keeps only this instance's local view and queues.
    Dynamodb,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Port to listen on (PaaS routers set it).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// Address to bind.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind_addr: IpAddr,

    /// Directory of the embedded sled store (created if missing).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Public base URL Twilio uses to reach this service (the proxy or PaaS
    /// URL). Signatures are checked against it; default http://localhost:PORT.
    #[arg(long, env = "PUBLIC_URL", value_parser = parse_base_url)]
    pub public_url: Option<Url>,

    /// Twilio account SID (AC followed by 32 hex digits).
    #[arg(long, env = "TWILIO_ACCOUNT_SID", value_parser = parse_account_sid)]
    pub twilio_account_sid: String,

    /// Twilio auth token: signs webhooks, authenticates REST calls.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true, value_parser = parse_non_empty)]
    pub twilio_auth_token: String,

    /// Twilio's secondary auth token, during a token rotation: webhooks
    /// signed with it are accepted too. REST calls always use
    /// `TWILIO_AUTH_TOKEN`.
    #[arg(long, env = "TWILIO_SECONDARY_AUTH_TOKEN", hide_env_values = true, value_parser = parse_non_empty)]
    pub twilio_secondary_auth_token: Option<String>,

    /// Secret that signs the links Twilio fetches agents' pictures through
    /// (`/media/…`, HMAC-SHA256, at least 32 characters; the same on every
    /// switchboard). Default: a key derived from `TWILIO_AUTH_TOKEN`.
    #[arg(long, env = "MEDIA_URL_SECRET", hide_env_values = true, value_parser = parse_media_secret)]
    pub media_url_secret: Option<String>,

    /// The Twilio number replies are sent from (E.164).
    #[arg(long, env = "TWILIO_FROM", value_parser = parse_e164)]
    pub twilio_from: String,

    /// SID of the Twilio phone number (PN…); when set, its SMS webhook URL is
    /// pointed at this service at start-up.
    #[arg(long, env = "TWILIO_PHONE_NUMBER_SID")]
    pub twilio_phone_number_sid: Option<String>,

    /// Base URL of Twilio's REST API (a mock or the phone simulator in tests).
    #[arg(long, env = "TWILIO_API_BASE", default_value = "https://api.twilio.com", value_parser = parse_base_url)]
    pub twilio_api_base: Url,

    /// Accept webhooks without a valid X-Twilio-Signature. Local demos only.
    #[arg(long, env = "INSECURE_SKIP_TWILIO_SIGNATURE", default_value_t = false)]
    pub insecure_skip_twilio_signature: bool,

    /// Agent credentials as `name:password` pairs separated by commas,
    /// semicolons or new lines; a password may be an Argon2 hash from
    /// `switchboard hash-password` (`name:$argon2id$…`).
    #[arg(long, env = "AGENTS", hide_env_values = true, value_parser = parse_agents)]
    pub agents: AgentCredentials,

    /// Agents (names from `AGENTS`, separated by commas) who may see every
    /// open conversation and every agent's load: the console's All view and
    /// live panel. Empty: nobody.
    #[arg(long, env = "SUPERVISORS", value_delimiter = ',', default_value = "")]
    pub supervisors: Vec<String>,

    #[command(flatten)]
    pub sign_in: switchboard_cloud::guard::SignInSettings,

    /// How long a disconnected agent keeps its conversations before they are
    /// requeued, in seconds.
    #[arg(long, env = "AGENT_GRACE_SECS", default_value_t = 30.0, value_parser = parse_secs)]
    pub agent_grace_secs: f64,

    /// Frames buffered per agent connection before a slow agent is disconnected.
    #[arg(long, env = "AGENT_BUFFER_FRAMES", default_value_t = 4096)]
    pub agent_buffer_frames: usize,

    /// An agent connection that sends nothing at all (not even a pong to our
    /// pings) for this long is taken for dead and closed, in seconds. Pings
    /// go out every third of it (at most every 20 s).
    #[arg(long, env = "AGENT_SILENCE_SECS", default_value_t = 60.0, value_parser = parse_positive_secs)]
    pub agent_silence_secs: f64,

    /// Largest accepted webhook body, in bytes.
    #[arg(long, env = "MAX_WEBHOOK_BYTES", default_value_t = 64 * 1024)]
    pub max_webhook_bytes: usize,

    /// Longest accepted reply body, in characters (Twilio's limit is 1,600).
    #[arg(long, env = "MAX_REPLY_CHARS", default_value_t = 1600)]
    pub max_reply_chars: usize,

    /// sled page cache size in MiB (sled's own default of 1 GiB would outgrow
    /// a small PaaS dyno).
    #[arg(long, env = "SLED_CACHE_MB", default_value_t = 64)]
    pub sled_cache_mb: u64,

    /// What "durable" means before a webhook is answered 200.
    #[arg(long, env = "DURABILITY", value_enum, default_value_t = Durability::Fsync)]
    pub durability: Durability,

    /// Log format: `text` for people, `json` for log pipelines. Any other
    /// value is a start-up error, not silently text.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Bearer token that guards `GET /metrics` (at least 16 characters:
    /// letters, digits, `-._~+/=`). Without it `/metrics` is off (404).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, value_parser = parse_metrics_token)]
    pub metrics_token: Option<MetricsToken>,

    #[command(flatten)]
    pub aws: AwsConfig,

    #[command(flatten)]
    pub notices: NoticeConfig,
}

/// Automatic texts to a customer who waits (`conversation/notice.rs`).
/// Both are off unless set; both are stored in the conversation and shown
/// to agents, and never sent to a customer who texted STOP.
#[derive(Debug, Clone, Args)]
pub struct NoticeConfig {
    /// Text a customer their place in the queue when no agent can take
    /// their new conversation.
    #[arg(
        long,
        env = "QUEUE_SMS",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub queue_sms: bool,

    /// The queue text; `{position}` becomes the place (1 = next).
    #[arg(
        long,
        env = "QUEUE_SMS_TEXT",
        default_value = "Thanks for your message! All our agents are busy right now. You are number {position} in line; we will answer as soon as we can."
    )]
    pub queue_sms_text: String,

    /// Send one update when the customer still waits this long after the
    /// queue text, in seconds (0: no update).
    #[arg(long, env = "QUEUE_SMS_UPDATE_SECS", default_value_t = 600.0, value_parser = parse_secs)]
    pub queue_sms_update_secs: f64,

    /// The update text; `{position}` becomes the place now.
    #[arg(
        long,
        env = "QUEUE_SMS_UPDATE_TEXT",
        default_value = "Sorry for the wait, we have not forgotten you. You are now number {position} in line."
    )]
    pub queue_sms_update_text: String,

    /// Opening hours, e.g. `Mon-Fri 09:00-17:00, Sat 10:00-14:00`. Set, a
    /// customer who writes outside them and is not picked up gets one text
    /// saying when the team is back. Unset: always open.
    #[arg(long, env = "BUSINESS_HOURS")]
    pub business_hours: Option<String>,

    /// The time zone of `BUSINESS_HOURS` (IANA name, e.g. `Europe/Berlin`).
    #[arg(long, env = "BUSINESS_TZ", default_value = "UTC")]
    pub business_tz: String,

    /// The after-hours text; `{back}` becomes when the team is back (e.g.
    /// "tomorrow 09:00 (Europe/Berlin)").
    #[arg(
        long,
        env = "AFTER_HOURS_SMS_TEXT",
        default_value = "Thanks for your message! We are closed right now and back {back}. We will answer then."
    )]
    pub after_hours_text: String,
}

impl NoticeConfig {
    /// The router's settings, or why `BUSINESS_HOURS` / `BUSINESS_TZ` cannot
    /// be used.
    pub fn settings(&self) -> Result<NoticeSettings, HoursError> {
        let after_hours = match self.business_hours.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(spec) => Some(AfterHours {
                hours: BusinessHours::parse(spec, &self.business_tz)?,
                text: self.after_hours_text.clone(),
            }),
        };
        let queue = self.queue_sms.then(|| QueueNotice {
            text: self.queue_sms_text.clone(),
            update_after: (self.queue_sms_update_secs > 0.0)
                .then(|| Duration::from_secs_f64(self.queue_sms_update_secs)),
            update_text: self.queue_sms_update_text.clone(),
        });
        Ok(NoticeSettings { queue, after_hours })
    }
}

/// The AWS side (issue 4). Region, credentials and `AWS_ENDPOINT_URL` come
/// from the standard AWS chain; each service below is used only when its
/// setting is present, so with none of them the service runs on local disk.
#[derive(Debug, Clone, Args)]
pub struct AwsConfig {
    /// Where conversations are kept.
    #[arg(long, env = "STORE", value_enum, default_value_t = StoreKind::Sled)]
    pub store: StoreKind,

    /// Prefix of the DynamoDB table names (`STORE=dynamodb` and `migrate`).
    #[arg(long, env = "DYNAMODB_TABLE_PREFIX", default_value = "switchboard-")]
    pub dynamodb_table_prefix: String,

    /// How often the DynamoDB Streams reader polls an idle shard, in milliseconds.
    #[arg(long, env = "STREAM_POLL_MS", default_value_t = 100)]
    pub stream_poll_ms: u64,

    /// With `STORE=dynamodb`, one instance routes at a time: the holder of
    /// the router lease. A leader that has not renewed it for this long is
    /// replaced, in seconds; it renews every third of it.
    #[arg(long, env = "LEASE_SECS", default_value_t = 10.0, value_parser = parse_lease_secs)]
    pub lease_secs: f64,

    /// This instance's name in the router lease (default: the host name
    /// plus a random suffix).
    #[arg(long, env = "INSTANCE_ID", value_parser = parse_non_empty)]
    pub instance_id: Option<String>,

    /// S3 bucket for MMS media and transcripts; unset keeps files in `FILES_DIR` only.
    #[arg(long, env = "S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Prefix of every key this service writes in the bucket (e.g. `prod/`).
    #[arg(long, env = "S3_PREFIX", default_value = "")]
    pub s3_prefix: String,

    /// Local copy of the files, and the fallback when S3 is unreachable
    /// (default `DATA_DIR/files`).
    #[arg(long, env = "FILES_DIR")]
    pub files_dir: Option<PathBuf>,

    /// Sender address of email sent through SES v2; unset writes `.eml`
    /// files to `MAIL_OUTBOX_DIR` instead.
    #[arg(long, env = "MAIL_FROM")]
    pub mail_from: Option<String>,

    /// Where email goes when SES is not configured (default `DATA_DIR/outbox`).
    #[arg(long, env = "MAIL_OUTBOX_DIR")]
    pub mail_outbox_dir: Option<PathBuf>,

    /// Address that receives each resolved conversation's transcript.
    #[arg(long, env = "TRANSCRIPT_TO")]
    pub transcript_to: Option<String>,

    /// Address alerted when a customer waits with no agent available.
    #[arg(long, env = "ALERT_TO")]
    pub alert_to: Option<String>,

    /// How long a customer may wait with no agent available before an alert, in seconds.
    #[arg(long, env = "ALERT_WAIT_SECS", default_value_t = 300.0, value_parser = parse_secs)]
    pub alert_wait_secs: f64,
}

impl Config {
    /// The base URL Twilio reaches us at.
    pub fn public_base(&self) -> Url {
        self.public_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://localhost:{}/", self.port)).expect("a valid URL")
        })
    }

    /// Signs and checks the links to agents' pictures.
    pub fn media_signer(&self) -> crate::outbound_media::MediaSigner {
        use crate::outbound_media::MediaSigner;
        match &self.media_url_secret {
            Some(secret) => MediaSigner::new(secret.as_bytes()),
            None => MediaSigner::from_auth_token(&self.twilio_auth_token),
        }
    }

    /// Public URL of a path of ours, e.g. `public_url_of("/twilio/status")`.
    pub fn public_url_of(&self, path_and_query: &str) -> String {
        let base = self.public_base();
        format!("{}{}", base.as_str().trim_end_matches('/'), path_and_query)
    }

    /// The local copy of S3 files.
    pub fn files_dir(&self) -> PathBuf {
        self.aws
            .files_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files"))
    }

    /// The `.eml` outbox used when SES is not configured.
    pub fn mail_outbox_dir(&self) -> PathBuf {
        self.aws
            .mail_outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The auth tokens a webhook's signature may be made with: the primary,
    /// then the secondary during a rotation.
    pub fn webhook_tokens(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.twilio_auth_token.as_str())
            .chain(self.twilio_secondary_auth_token.as_deref())
    }

    /// Local demo mode: Twilio cannot reach us (no `PUBLIC_URL`, or one on
    /// this machine), so plain-text agent passwords are only warned about
    /// outside it.
    pub fn is_local_demo(&self) -> bool {
        matches!(
            self.public_base().host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]")
        )
    }

    /// `LEASE_SECS`.
    pub fn lease_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.aws.lease_secs)
    }

    /// `SUPERVISORS`, trimmed; an error names one that `AGENTS` lacks (a
    /// typo would otherwise leave the supervisor silently without a view).
    pub fn supervisor_names(&self) -> Result<Vec<String>, String> {
        let known: Vec<&str> = self.agents.names().collect();
        let mut names = Vec::new();
        for name in self.supervisors.iter().map(|s| s.trim()) {
            if name.is_empty() {
                continue;
            }
            if !known.contains(&name) {
                return Err(format!("SUPERVISORS names {name}, who is not in AGENTS"));
            }
            names.push(name.to_string());
        }
        Ok(names)
    }

    pub fn agent_grace(&self) -> Duration {
        Duration::from_secs_f64(self.agent_grace_secs.max(0.0))
    }
}

/// A duration in seconds: finite, not negative, at most a year (so it
/// always converts to a `Duration`).
/// Like [`parse_secs`], but zero is refused (a limit of no time at all).
fn parse_positive_secs(text: &str) -> Result<f64, String> {
    match parse_secs(text)? {
        secs if secs > 0.0 => Ok(secs),
        _ => Err(format!("`{text}` must be more than 0 seconds")),
    }
}

/// A lease timeout: at least half a second (renewals go out every third of
/// it, and each DynamoDB call needs a few milliseconds), at most a day.
fn parse_lease_secs(text: &str) -> Result<f64, String> {
    match parse_secs(text)? {
        secs if (0.5..=86_400.0).contains(&secs) => Ok(secs),
        _ => Err(format!("`{text}` must be between 0.5 and 86400 seconds")),
    }
}

fn parse_secs(text: &str) -> Result<f64, String> {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if secs.is_finite() && (0.0..=YEAR).contains(&secs) {
        Ok(secs)
    } else {
        Err(format!(
            "`{text}` must be between 0 and {YEAR} seconds (one year)"
        ))
    }
}

fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` must start with http:// or https://"));
    }
    Ok(url)
}

/// A setting that must not be blank (also used by the dev tools' settings).
pub fn parse_non_empty(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(text.to_string())
    }
}

/// `MEDIA_URL_SECRET`: long enough that a link's signature cannot be guessed.
fn parse_media_secret(text: &str) -> Result<String, String> {
    if text.chars().count() < 32 {
        Err("must be at least 32 characters (e.g. `openssl rand -hex 32`)".into())
    } else {
        Ok(text.to_string())
    }
}

/// A phone number in E.164 form (also used by the dev tools' settings).
pub fn parse_e164(text: &str) -> Result<String, String> {
    if crate::phone::is_e164(text) {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not an E.164 number like +15551234567"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_media_url_secret_is_at_least_32_characters() {
        assert!(parse_media_secret("too short to sign anything").is_err());
        assert!(parse_media_secret(&"k".repeat(31)).is_err());
        assert_eq!(parse_media_secret(&"k".repeat(32)), Ok("k".repeat(32)));
    }

    #[test]
    fn seconds_are_finite_and_bounded() {
        assert_eq!(parse_secs("1.5"), Ok(1.5));
        assert_eq!(parse_secs("0"), Ok(0.0));
        assert!(parse_secs("inf").is_err());
        assert!(parse_secs("NaN").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("1e20").is_err());
        assert!(parse_secs("soon").is_err());
    }

    #[test]
    fn supervisors_must_be_agents() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: Config,
        }
        let parse = |supervisors: &str| {
            <Cli as clap::Parser>::try_parse_from([
                "switchboard",
                "--twilio-account-sid=AC00000000000000000000000000000000",
                "--twilio-auth-token=token",
                "--twilio-from=+15550000000",
                "--agents=alice:a,bob:b",
                &format!("--supervisors={supervisors}"),
            ])
            .map(|cli| cli.config.supervisor_names())
        };
        assert_eq!(parse("").ok(), Some(Ok(Vec::new())));
        assert_eq!(
            parse("bob, alice").ok(),
            Some(Ok(vec!["bob".to_string(), "alice".to_string()]))
        );
        let typo = parse("carol")
            .ok()
            .and_then(Result::err)
            .unwrap_or_default();
        assert!(typo.contains("carol"), "{typo}");
    }

    #[test]
    fn a_lease_is_between_half_a_second_and_a_day() {
        assert_eq!(parse_lease_secs("2"), Ok(2.0));
        assert_eq!(parse_lease_secs("0.5"), Ok(0.5));
        assert!(parse_lease_secs("0.1").is_err());
        assert!(parse_lease_secs("0").is_err());
        assert!(parse_lease_secs("86401").is_err());
    }
}
