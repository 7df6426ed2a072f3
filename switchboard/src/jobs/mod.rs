//! Work that needs AWS (or Twilio's media servers) and must never hold up a
//! webhook or a message: a durable job queue and the jobs it runs.
//!
//! Callers only enqueue — a sled insert plus a flush on the queue's own
//! database ([`queue`]) — and a worker ([`worker`]) runs the jobs in the
//! background, a few at a time, retrying each with exponential backoff
//! ([`crate::backoff::JOB_RETRY`]: capped at a minute, the next attempt
//! time persisted) until it succeeds.
//!
//! Guarantees:
//!
//! * **Nothing lost.** A job is on disk before `enqueue` returns and leaves
//!   the queue only after it succeeded (or, for the few failures retrying
//!   cannot fix, after it was moved to the `failed` tree and logged).
//! * **Nothing done twice**, as far as the outside world allows. Every job
//!   has an idempotency key; enqueueing a key that is pending or was done in
//!   the last week is a no-op. Re-running a job after a crash is harmless
//!   for what is written by key (S3 objects, local files, `.eml` outbox
//!   files). An SES send is *at least once*: if the process dies after SES
//!   accepted a message and before the queue recorded it done, the mail is
//!   sent again at the next start. SES has no idempotency token to prevent
//!   that, so the window is kept small (done is recorded right after the send)
//!   and SES calls get a timeout longer than a typical outage, so a send that
//!   is only slow is not retried while the first one may still land.
//!
//! Jobs ([`Job`]): fetch an MMS media item from Twilio into the file store
//! ([`media`]); write a resolved conversation's transcript to the file store
//! and mail it ([`transcript`]); mail an alert when a customer waits too long
//! ([`alert`]). [`hooks`] is the router's side: what to enqueue on resolve,
//! and when a wait deserves an alert. [`inbound_spool`] is the decorator
//! `server.rs` wraps around a remote store's message log (DynamoDB): it
//! keeps customers' messages, in order, in this database while the store
//! cannot take them.

pub mod alert;
pub mod claim_heartbeat;
pub mod hooks;
pub mod inbound_spool;
pub mod media;
pub mod queue;
pub mod setup;
pub mod transcript;
pub mod worker;

pub use hooks::{HookSettings, RouterJobs, Transcripts};
pub use queue::{Arrivals, JobQueue, QueueError};
pub use worker::JobContext;

use serde::{Deserialize, Serialize};
use switchboard_protocol::{ConversationId, Seq};

/// One unit of background work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Copy an inbound MMS media item from Twilio to the file store.
    FetchMedia {
        conversation: ConversationId,
        message_sid: String,
        index: usize,
        twilio_url: String,
        content_type: String,
        /// File key of our copy (what the stored message links to).
        key: String,
    },
    /// Write the transcript of messages `1..=upto_seq` as JSON and text.
    Transcript {
        conversation: ConversationId,
        upto_seq: Seq,
        resolved_at_ms: u64,
        agent: String,
    },
    /// Mail the same transcript (a job of its own, so a mail failure never
    /// redoes the file writes).
    TranscriptMail {
        conversation: ConversationId,
        upto_seq: Seq,
        resolved_at_ms: u64,
        agent: String,
        to: Vec<String>,
    },
    /// Tell someone a customer has been waiting with no agent available.
    WaitAlert {
        conversation: ConversationId,
        since_ms: u64,
        waited_secs: u64,
        to: Vec<String>,
    },
}

impl Job {
    /// What the job is, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::FetchMedia { .. } => "fetch_media",
            Job::Transcript { .. } => "transcript",
            Job::TranscriptMail { .. } => "transcript_mail",
            Job::WaitAlert { .. } => "wait_alert",
        }
    }
}

/// Splits a comma-separated address list (`TRANSCRIPT_TO`, `ALERT_TO`).
pub fn recipients(setting: Option<&str>) -> Vec<String> {
    setting
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_split_and_trimmed() {
        assert!(recipients(None).is_empty());
        assert!(recipients(Some(" , ")).is_empty());
        assert_eq!(
            recipients(Some("a@example.com, b@example.com")),
            vec!["a@example.com", "b@example.com"]
        );
    }

    #[test]
    fn jobs_round_trip_as_tagged_json() {
        let job = Job::Transcript {
            conversation: "+15550001111".into(),
            upto_seq: 7,
            resolved_at_ms: 1_700_000_000_000,
            agent: "alice".into(),
        };
        let json = serde_json::to_string(&job).unwrap();
        assert!(json.contains(r#""kind":"transcript""#), "{json}");
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
    }
}
