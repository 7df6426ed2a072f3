//! The router's side of the jobs: what to queue when a conversation is
//! resolved, and which waits deserve an alert.
//!
//! The router never waits for AWS, only for the job database: a resolve
//! queues its transcript jobs durably (one local flush, like the route write
//! it already waits for) before the conversation counts as resolved, so a
//! crash in between repeats the resolve rather than losing the transcript.
//! Alert checks run on a timer and must stay cheap: they remember which
//! window each waiting conversation was last alerted for, and write a job
//! without waiting for the flush (a lost one is simply queued again by the
//! next check after a restart; its key keeps it to one per window).

use super::{alert, Job, JobQueue};
use crate::clock::now_ms;
use std::collections::HashMap;
use std::time::Duration;
use switchboard_protocol::{ConversationId, Seq};

/// Alert checks run at least this often, and four times per threshold when
/// it is short, so a window is never skipped or seen late.
const MAX_TICK: Duration = Duration::from_secs(1);
const MIN_TICK: Duration = Duration::from_millis(50);

/// Who hears about resolved conversations and long waits (from
/// `TRANSCRIPT_TO`, `ALERT_TO`, `ALERT_WAIT_SECS`; built by `server.rs`, so
/// the jobs do not depend on the command-line types).
#[derive(Debug, Clone, Default)]
pub struct HookSettings {
    /// Addresses that get each resolved conversation's transcript by mail
    /// (none: the transcript is only written to the file store).
    pub transcript_to: Vec<String>,
    /// Addresses alerted when a customer waits with no agent (none: no alerts).
    pub alert_to: Vec<String>,
    /// How long a customer may wait before an alert (zero: no alerts).
    pub alert_after: Duration,
}

/// Queues a resolved conversation's transcript jobs.
#[derive(Clone)]
pub struct Transcripts {
    queue: JobQueue,
    /// Who gets each transcript by mail (`TRANSCRIPT_TO`).
    transcript_to: Vec<String>,
}

impl Transcripts {
    /// Queues the transcript (and its mail, when `TRANSCRIPT_TO` is set) of
    /// messages `1..=upto_seq`. Errors are logged: a resolve must not fail
    /// because the job database did.
    pub async fn resolved(&self, conversation: &str, upto_seq: Seq, agent: &str, at_ms: u64) {
        if upto_seq == 0 {
            return;
        }
        // Keyed by the last seq, not the time: a resolve repeated after a
        // crash covers the same messages and must not write a second copy.
        let mut jobs = vec![(
            format!("transcript/{conversation}/{upto_seq}"),
            Job::Transcript {
                conversation: conversation.to_string(),
                upto_seq,
                resolved_at_ms: at_ms,
                agent: agent.to_string(),
            },
        )];
        if !self.transcript_to.is_empty() {
            jobs.push((
                format!("transcript-mail/{conversation}/{upto_seq}"),
                Job::TranscriptMail {
                    conversation: conversation.to_string(),
                    upto_seq,
                    resolved_at_ms: at_ms,
                    agent: agent.to_string(),
                    to: self.transcript_to.clone(),
                },
            ));
        }
        if let Err(e) = self.queue.enqueue_all(&jobs).await {
            tracing::error!(conversation, upto_seq, error = %e, "could not queue the transcript");
        }
    }
}

pub struct RouterJobs {
    queue: JobQueue,
    transcripts: Transcripts,
    alert_to: Vec<String>,
    alert_after: Duration,
    /// Conversation → (queued since, last window alerted).
    alerted: HashMap<ConversationId, (u64, u64)>,
}

impl RouterJobs {
    pub fn new(queue: JobQueue, settings: HookSettings) -> RouterJobs {
        RouterJobs {
            transcripts: Transcripts {
                queue: queue.clone(),
                transcript_to: settings.transcript_to,
            },
            queue,
            alert_to: settings.alert_to,
            alert_after: settings.alert_after,
            alerted: HashMap::new(),
        }
    }

    /// How often the router should call [`check_waits`](Self::check_waits);
    /// `None` when alerts are off (no `ALERT_TO`).
    pub fn tick_every(&self) -> Option<Duration> {
        if self.alert_to.is_empty() || self.alert_after.is_zero() {
            return None;
        }
        Some((self.alert_after / 4).clamp(MIN_TICK, MAX_TICK))
    }

    /// What to queue when a conversation is resolved; cheap to clone, so
    /// the router can queue it off its decision loop.
    pub fn transcripts(&self) -> Transcripts {
        self.transcripts.clone()
    }

    /// Queues an alert for every waiting conversation that entered a new
    /// threshold window. `waiting` yields (conversation, queued since ms);
    /// call it only while no agent can take them.
    pub fn check_waits<'a>(&mut self, waiting: impl Iterator<Item = (&'a ConversationId, u64)>) {
        if self.tick_every().is_none() {
            return;
        }
        let now = now_ms();
        let mut still_waiting = HashMap::with_capacity(self.alerted.len());
        let mut queued_any = false;
        for (conversation, since_ms) in waiting {
            let waited = Duration::from_millis(now.saturating_sub(since_ms));
            let window = alert::window(waited, self.alert_after);
            let last = match self.alerted.get(conversation) {
                Some(&(since, last)) if since == since_ms => last,
                _ => 0,
            };
            if window > last {
                let key = alert::key(conversation, since_ms, window);
                let job = Job::WaitAlert {
                    conversation: conversation.clone(),
                    since_ms,
                    waited_secs: (self.alert_after * window as u32).as_secs(),
                    to: self.alert_to.clone(),
                };
                match self.queue.enqueue_unflushed(&key, job) {
                    Ok(_) => queued_any = true,
                    Err(e) => {
                        tracing::error!(conversation, error = %e, "could not queue a waiting alert");
                        still_waiting.insert(conversation.clone(), (since_ms, last));
                        continue;
                    }
                }
            }
            still_waiting.insert(conversation.clone(), (since_ms, window.max(last)));
        }
        // Forget conversations that are no longer waiting.
        self.alerted = still_waiting;
        if queued_any {
            let queue = self.queue.clone();
            tokio::spawn(async move {
                if let Err(e) = queue.make_durable().await {
                    tracing::error!(error = %e, "could not flush the job queue");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::Durability;

    fn settings(alert_to: Option<&str>, wait_secs: f64) -> HookSettings {
        HookSettings {
            transcript_to: vec!["log@example.com".into()],
            alert_to: alert_to.map(str::to_string).into_iter().collect(),
            alert_after: Duration::from_secs_f64(wait_secs),
        }
    }

    #[tokio::test]
    async fn one_alert_per_window_however_often_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (queue, _arrivals) = JobQueue::open(dir.path(), Durability::Flush).unwrap();
        let mut hooks = RouterJobs::new(queue.clone(), settings(Some("ops@example.com"), 1.0));
        assert_eq!(hooks.tick_every(), Some(Duration::from_millis(250)));
        let a: ConversationId = "+15550001111".into();
        let b: ConversationId = "+15550002222".into();
        let now = now_ms();
        // a waited 2.5 windows, b not yet one.
        for _ in 0..5 {
            hooks.check_waits([(&a, now - 2_500), (&b, now - 500)].into_iter());
        }
        let keys: Vec<String> = queue
            .all_pending()
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![format!("alert/+15550001111/{}/2", now - 2_500)]);
        // Requeued (new since): a fresh series of windows.
        hooks.check_waits([(&a, now - 1_200)].into_iter());
        assert_eq!(queue.pending_len().await.unwrap(), 2);
        match queue
            .pending(&format!("alert/+15550001111/{}/1", now - 1_200))
            .await
            .unwrap()
        {
            Some(p) => assert!(matches!(p.job, Job::WaitAlert { waited_secs: 1, .. })),
            None => panic!("alert for the new wait was not queued"),
        }
    }

    #[tokio::test]
    async fn no_alert_address_no_alerts_and_resolve_queues_both_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let (queue, _arrivals) = JobQueue::open(dir.path(), Durability::Flush).unwrap();
        let mut hooks = RouterJobs::new(queue.clone(), settings(None, 1.0));
        assert_eq!(hooks.tick_every(), None);
        let a: ConversationId = "+15550001111".into();
        hooks.check_waits([(&a, 0)].into_iter());
        assert_eq!(queue.pending_len().await.unwrap(), 0);
        hooks.transcripts().resolved(&a, 4, "alice", 99).await;
        hooks.transcripts().resolved(&a, 4, "alice", 120).await;
        let keys: Vec<String> = queue
            .all_pending()
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            vec![
                "transcript-mail/+15550001111/4",
                "transcript/+15550001111/4"
            ]
        );
    }
}
