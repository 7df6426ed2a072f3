//! Builds what the jobs need from their settings: the mailer (SES v2 or
//! the `.eml` outbox) and the HTTP client for Twilio's media.

use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_cloud::mail::Mailer;

/// Sender of outbox mail when `MAIL_FROM` is not set.
const DEFAULT_FROM: &str = "switchboard@localhost";
/// One SES send may take this long. Longer than the usual AWS timeouts on
/// purpose: SES has no idempotency token, so giving up on a send that is
/// only slow (a hung connection during an outage) and sending again is how
/// a customer's transcript arrives twice. The queue retries real failures.
const SES_SEND_TIMEOUT: Duration = Duration::from_secs(120);
const SES_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const MEDIA_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MEDIA_TIMEOUT: Duration = Duration::from_secs(60);
/// Twilio redirects a media URL once, to its CDN.
const MEDIA_REDIRECTS: usize = 5;

/// SES v2 sending as `mail_from` when it is set (`MAIL_FROM`; the SDK
/// configuration comes from the standard AWS chain), else `.eml` files in
/// `outbox_dir` (`MAIL_OUTBOX_DIR`).
pub async fn mailer(mail_from: Option<&str>, outbox_dir: PathBuf) -> Mailer {
    match mail_from {
        Some(from) => {
            let sdk = switchboard_cloud::aws::sdk_config().await;
            let ses = aws_sdk_sesv2::config::Builder::from(&sdk)
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(SES_CONNECT_TIMEOUT)
                        .operation_attempt_timeout(SES_SEND_TIMEOUT)
                        .operation_timeout(SES_SEND_TIMEOUT)
                        .build(),
                )
                // The SDK retrying a timed-out send is exactly the duplicate
                // described above; the job queue does the retrying.
                .retry_config(RetryConfig::disabled())
                .build();
            tracing::info!(from, "email goes through SES v2");
            Mailer::ses(aws_sdk_sesv2::Client::from_conf(ses), from.to_string())
        }
        None => {
            let dir = outbox_dir;
            tracing::info!(dir = %dir.display(), "MAIL_FROM not set: email goes to the local outbox as .eml files");
            Mailer::outbox(dir, DEFAULT_FROM.to_string())
        }
    }
}

/// The client for Twilio's media URLs. reqwest follows the redirect to the
/// CDN and drops `Authorization` when it leaves the original host.
pub fn media_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(MEDIA_CONNECT_TIMEOUT)
        .timeout(MEDIA_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(MEDIA_REDIRECTS))
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()
        // Only fails when the TLS backend cannot initialise: a broken build.
        .expect("the HTTP client's TLS backend initialises")
}
