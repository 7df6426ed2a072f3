//! "Customer waiting, no agent available" alerts.
//!
//! A conversation that has been queued for `waited` gets at most one alert
//! per threshold window: window `n = floor(waited / threshold)` (n ≥ 1), job
//! key `alert/<conversation>/<since_ms>/<n>`. The window is part of the key,
//! so however often the router checks, and across restarts, each window
//! alerts once.

use super::worker::{Failure, JobContext};
use std::time::Duration;
use switchboard_cloud::mail::Email;

/// Which threshold window a wait is in (0: not long enough to alert yet).
pub fn window(waited: Duration, threshold: Duration) -> u64 {
    if threshold.is_zero() {
        return 0;
    }
    (waited.as_millis() / threshold.as_millis().max(1)) as u64
}

/// The job (and idempotency) key of one alert.
pub fn key(conversation: &str, since_ms: u64, window: u64) -> String {
    format!("alert/{conversation}/{since_ms}/{window}")
}

/// "45 seconds", "1 minute", "12 minutes".
pub fn describe_wait(secs: u64) -> String {
    match secs {
        1 => "1 second".into(),
        0..120 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs / 60),
    }
}

pub fn email(conversation: &str, waited_secs: u64, to: &[String]) -> Email {
    let waited = describe_wait(waited_secs);
    Email {
        to: to.to_vec(),
        subject: format!("Customer {conversation} has waited {waited}, no agent available"),
        text: format!(
            "Customer {conversation} has waited {waited}, no agent available.\n\n\
             Nobody online can take the conversation: sign in, or raise an agent's capacity.\n"
        ),
        html: None,
    }
}

/// The alert job.
/// `job_key` names the mail (its Message-ID and outbox file).
pub async fn send(
    ctx: &JobContext,
    job_key: &str,
    conversation: &str,
    waited_secs: u64,
    to: &[String],
) -> Result<(), Failure> {
    ctx.mailer
        .send(&email(conversation, waited_secs, to), job_key)
        .await
        .map_err(Failure::from_mail)?;
    tracing::info!(conversation, waited_secs, "waiting-customer alert sent");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_window_per_threshold() {
        let t = Duration::from_secs(300);
        assert_eq!(window(Duration::from_secs(299), t), 0);
        assert_eq!(window(Duration::from_secs(300), t), 1);
        assert_eq!(window(Duration::from_secs(599), t), 1);
        assert_eq!(window(Duration::from_secs(600), t), 2);
        assert_eq!(window(Duration::from_secs(5), Duration::ZERO), 0);
        assert_eq!(key("+15550001111", 42, 2), "alert/+15550001111/42/2");
    }

    #[test]
    fn waits_read_naturally() {
        assert_eq!(describe_wait(1), "1 second");
        assert_eq!(describe_wait(90), "90 seconds");
        assert_eq!(describe_wait(300), "5 minutes");
        let mail = email("+15550001111", 300, &["ops@example.com".into()]);
        assert_eq!(
            mail.subject,
            "Customer +15550001111 has waited 5 minutes, no agent available"
        );
    }
}
