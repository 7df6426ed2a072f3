//! The job worker: runs due jobs a few at a time, records each outcome in
//! the queue, and retries failures with exponential backoff.
//!
//! The schedule lives in memory (loaded from the `pending` tree at start-up,
//! fed by the queue's arrivals channel); the disk has the truth. A job is
//! taken off disk only after it succeeded, so whatever is in flight when
//! the process dies simply runs again at the next start, at the attempt
//! time recorded for it.

use super::claim_heartbeat::{self, Held, Verdict};
use super::queue::{Arrivals, JobQueue, Pending, DONE_RETENTION};
use super::{alert, media, transcript, Job};
use crate::backoff;
use crate::clock::now_ms;
use crate::store::job_claims::{JobClaim, JobClaims};
use crate::store::MessageLog;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use switchboard_cloud::files::{FileError, FileStore};
use switchboard_cloud::mail::{MailError, Mailer};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Jobs in flight at once: enough that one slow item does not hold up the
/// rest, few enough not to flood AWS or Twilio after an outage.
pub const CONCURRENCY: usize = 8;
/// When a panicked job runs again: the longest retry wait.
const AFTER_PANIC: Duration = Duration::from_secs(60);
/// Upper bound for one attempt, whatever the clients' own timeouts say.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(300);
/// How often the worker looks for jobs other instances published.
const ADOPT_EVERY: Duration = Duration::from_secs(10);
/// How long shutdown waits for jobs in flight before leaving them for the
/// next start.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// Tries for an email SES refused (bad address, unverified sender).
const MAIL_REFUSED_ATTEMPTS: u32 = 5;
/// How often old done markers are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What the jobs need to do their work.
pub struct JobContext {
    /// The message log: transcripts read a conversation's history.
    pub store: Arc<dyn MessageLog>,
    pub files: FileStore,
    pub mailer: Mailer,
    /// Fetches Twilio's media (redirects followed; credentials are only
    /// sent to the host they were meant for, see [`media`]).
    pub http: reqwest::Client,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    /// Host of `TWILIO_API_BASE`: with `*.twilio.com`, the only hosts the
    /// account's credentials are sent to (a media URL comes from the webhook).
    pub twilio_api_host: String,
    /// Base of links in transcripts and mail (`PUBLIC_URL`, no trailing `/`).
    pub public_base: String,
    /// With a store several instances share (DynamoDB): each job is claimed
    /// there before it runs, so it runs on one instance and once finished
    /// runs nowhere again (`store/job_claims.rs`).
    pub claims: Option<Arc<dyn JobClaims>>,
}

/// Why an attempt failed, in the terms the logs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `s3`, `sesv2`, `twilio`, `local-files`, `mail-outbox`, `store`…
    pub service: &'static str,
    /// `PutObject`, `SendEmail`, `GET media`…
    pub operation: &'static str,
    /// The AWS error code (or HTTP status) when the service gave one.
    pub code: Option<String>,
    pub message: String,
    /// Give up after this many attempts; `None` retries until it works.
    pub max_attempts: Option<u32>,
}

impl Failure {
    pub fn new(service: &'static str, operation: &'static str, message: impl Into<String>) -> Self {
        Failure {
            service,
            operation,
            code: None,
            message: message.into(),
            max_attempts: None,
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// A failure a retry cannot fix: give up after `attempts` tries.
    pub fn give_up_after(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    pub fn from_file(e: FileError) -> Self {
        match &e {
            FileError::S3 {
                operation, code, ..
            } => Failure {
                code: code.clone(),
                ..Failure::new("s3", operation, e.to_string())
            },
            FileError::Local { operation, .. } => {
                Failure::new("local-files", operation, e.to_string())
            }
            // The key was built by us: a bug that retrying will not fix.
            FileError::InvalidKey(_) | FileError::Escape(_) => {
                Failure::new("local-files", "validate key", e.to_string()).give_up_after(1)
            }
        }
    }

    pub fn from_mail(e: MailError) -> Self {
        let retryable = e.is_retryable();
        let failure = match &e {
            MailError::Ses {
                operation, code, ..
            } => Failure {
                code: code.clone(),
                ..Failure::new("sesv2", operation, e.to_string())
            },
            MailError::Outbox { .. } => Failure::new("mail-outbox", "write .eml", e.to_string()),
            _ => Failure::new("mail", "build message", e.to_string()),
        };
        // A refused address or sender fails the same way every time; a few
        // tries cover a configuration being fixed meanwhile.
        if retryable {
            failure
        } else {
            failure.give_up_after(MAIL_REFUSED_ATTEMPTS)
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.service, self.operation)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Delay before attempt `attempts + 1`, after `attempts` failures
/// ([`backoff::JOB_RETRY`]): between half and all of 0.5 s, 1 s, 2 s…
/// capped at a minute, the jitter keeping jobs that failed together (an
/// outage) from all coming back in the same instant. The caller persists
/// the resulting time with the job.
pub fn retry_delay(attempts: u32) -> Duration {
    backoff::JOB_RETRY.after(attempts)
}

async fn execute(ctx: &JobContext, key: &str, job: &Job) -> Result<(), Failure> {
    match job {
        Job::FetchMedia {
            twilio_url,
            content_type,
            key,
            ..
        } => media::fetch(ctx, twilio_url, content_type, key).await,
        Job::Transcript {
            conversation,
            upto_seq,
            resolved_at_ms,
            agent,
        } => transcript::write(ctx, conversation, *upto_seq, *resolved_at_ms, agent).await,
        Job::TranscriptMail {
            conversation,
            upto_seq,
            resolved_at_ms,
            agent,
            to,
        } => {
            transcript::mail(
                ctx,
                key,
                conversation,
                *upto_seq,
                *resolved_at_ms,
                agent,
                to,
            )
            .await
        }
        Job::WaitAlert {
            conversation,
            waited_secs,
            to,
            ..
        } => alert::send(ctx, key, conversation, *waited_secs, to).await,
    }
}

type Outcome = (String, Pending, Result<(), Failure>);

/// Runs jobs until `shutdown` turns true.
pub async fn run(
    queue: JobQueue,
    arrivals: Arrivals,
    ctx: Arc<JobContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Arrivals(mut arrivals) = arrivals;
    // (next attempt at, key): everything pending that is not in flight.
    let mut schedule: BTreeSet<(u64, String)> = BTreeSet::new();
    match queue.all_pending().await {
        Ok(pending) => {
            if !pending.is_empty() {
                tracing::info!(count = pending.len(), "resuming queued jobs");
            }
            schedule.extend(pending.into_iter().map(|(k, p)| (p.next_at_ms, k)));
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read the job queue; pending jobs wait for the next start")
        }
    }
    let mut in_flight: JoinSet<Outcome> = JoinSet::new();
    let mut flying: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    // Jobs other instances published, looked for now and then (only with a
    // shared store).
    let mut adopt = tokio::time::interval(ADOPT_EVERY);
    adopt.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now = now_ms();
        while in_flight.len() < CONCURRENCY {
            let Some((at, _)) = schedule.first() else {
                break;
            };
            if *at > now {
                break;
            }
            let Some((_, key)) = schedule.pop_first() else {
                break;
            };
            let record = match queue.pending(&key).await {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(job = key, error = %e, "could not read a queued job; skipping it until the next start");
                    continue;
                }
            };
            let claimed_at = std::time::Instant::now();
            if let Some(wait_until) = claim(&ctx, &queue, &key).await {
                if let Some(at) = wait_until {
                    schedule.insert((at, key));
                }
                continue;
            }
            let ctx = ctx.clone();
            let task_key = key.clone();
            let handle = in_flight.spawn(async move {
                let attempt =
                    tokio::time::timeout(ATTEMPT_LIMIT, execute(&ctx, &task_key, &record.job));
                let finished = match &ctx.claims {
                    None => Some(attempt.await),
                    Some(claims) => {
                        while_claimed(claims, &task_key, Held::claimed(claimed_at), attempt).await
                    }
                };
                let kind = record.job.kind();
                let result = match finished {
                    Some(Ok(result)) => result,
                    Some(Err(_)) => Err(Failure::new("job", kind, "attempt timed out")),
                    None => Err(Failure::new(
                        "job",
                        kind,
                        "attempt stopped: its claim may no longer be this instance's",
                    )),
                };
                (task_key, record, result)
            });
            flying.insert(handle.id(), key);
        }
        let next_due = match (in_flight.len() < CONCURRENCY, schedule.first()) {
            (true, Some((at, _))) => Some(Duration::from_millis(at.saturating_sub(now))),
            _ => None,
        };
        tokio::select! {
            biased;
            _ = async { shutdown.wait_for(|stop| *stop).await.is_ok() } => break,
            Some(joined) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                match joined {
                    Ok((id, (key, record, result))) => {
                        flying.remove(&id);
                        if let Some(retry_at) = settle(&queue, ctx.claims.as_ref(), &key, record, result).await {
                            schedule.insert((retry_at, key));
                        }
                    }
                    Err(e) => {
                        // A panicking job stays pending on disk; retry it later.
                        if let Some(key) = flying.remove(&e.id()) {
                            tracing::error!(job = key, error = %e, "job panicked; retrying later");
                            schedule.insert((now_ms() + AFTER_PANIC.as_millis() as u64, key));
                        }
                    }
                }
            }
            Some((key, at)) = arrivals.recv() => {
                schedule.insert((at, key));
            }
            _ = tokio::time::sleep(next_due.unwrap_or(Duration::ZERO)), if next_due.is_some() => {}
            _ = adopt.tick(), if ctx.claims.is_some() => {
                adopt_published(&ctx, &queue).await;
            }
            _ = prune.tick() => {
                match queue.prune(DONE_RETENTION).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(removed = n, "pruned old job markers"),
                    Err(e) => tracing::warn!(error = %e, "could not prune old job markers"),
                }
            }
        }
    }
    if !in_flight.is_empty() {
        tracing::info!(in_flight = in_flight.len(), "waiting for running jobs");
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, in_flight.join_next()).await
        {
            if let Ok((key, record, result)) = joined {
                settle(&queue, ctx.claims.as_ref(), &key, record, result).await;
            }
        }
        if !in_flight.is_empty() {
            tracing::warn!(
                in_flight = in_flight.len(),
                "jobs still running; they run again at the next start"
            );
            in_flight.abort_all();
        }
    }
    if let Err(e) = queue.make_durable().await {
        tracing::error!(error = %e, "could not flush the job queue");
    }
    match queue.pending_len().await {
        Ok(pending) => tracing::info!(pending, "job worker stopped"),
        Err(e) => tracing::info!(error = %e, "job worker stopped"),
    }
}

/// Claims `key` across instances before it runs (`JobContext::claims`).
/// `None`: run it now. `Some(None)`: finished elsewhere, nothing to run.
/// `Some(Some(at))`: try again at `at` (another instance holds it, or the
/// claim could not be made).
async fn claim(ctx: &JobContext, queue: &JobQueue, key: &str) -> Option<Option<u64>> {
    let claims = ctx.claims.as_ref()?;
    match claims
        .claim(key, claim_heartbeat::claim_until(now_ms()))
        .await
    {
        Ok(JobClaim::Mine) => None,
        Ok(JobClaim::Finished) => {
            tracing::info!(job = key, "job already done by another instance");
            if let Err(e) = queue.complete(key).await {
                tracing::error!(job = key, error = %e, "could not record a finished job");
            }
            Some(None)
        }
        Ok(JobClaim::HeldUntil(at)) => {
            tracing::info!(
                job = key,
                "job claimed by another instance; waiting for its claim"
            );
            Some(Some(at.max(now_ms()) + 1))
        }
        Err(e) => {
            let retry = retry_delay(1);
            tracing::warn!(job = key, error = %e, retry_in = ?retry, "could not claim a job; will retry");
            Some(Some(now_ms() + retry.as_millis() as u64))
        }
    }
}

/// Runs `attempt` while renewing the job's claim every heartbeat
/// (`claim_heartbeat.rs`); `None` when the claim may no longer be this
/// instance's: the attempt is dropped, and the job goes back to the queue.
async fn while_claimed<T>(
    claims: &Arc<dyn JobClaims>,
    key: &str,
    mut held: Held,
    attempt: impl std::future::Future<Output = T>,
) -> Option<T> {
    let renewals = async {
        loop {
            tokio::time::sleep(claim_heartbeat::HEARTBEAT).await;
            let started = std::time::Instant::now();
            let renewal = claims.claim(key, claim_heartbeat::claim_until(now_ms()));
            let outcome = match tokio::time::timeout(claim_heartbeat::HEARTBEAT, renewal).await {
                Ok(Ok(claim)) => Some(claim),
                Ok(Err(e)) => {
                    tracing::warn!(job = key, error = %e, "could not renew a running job's claim");
                    None
                }
                Err(_) => {
                    tracing::warn!(job = key, "renewing a running job's claim timed out");
                    None
                }
            };
            if held.renewal(started, outcome) == Verdict::Stop {
                tracing::warn!(
                    job = key,
                    "a running job's claim may no longer be this instance's; stopping the attempt"
                );
                return;
            }
        }
    };
    tokio::select! {
        out = attempt => Some(out),
        () = renewals => None,
    }
}

/// Queues here the jobs other instances published and did not finish (a
/// dyno that died with jobs queued): the claim before each runs keeps a job
/// that its instance is still running from running twice.
async fn adopt_published(ctx: &JobContext, queue: &JobQueue) {
    let Some(claims) = ctx.claims.as_ref() else {
        return;
    };
    let published = match claims.published().await {
        Ok(published) => published,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the jobs other instances published");
            return;
        }
    };
    for (key, json) in published {
        match queue.pending(&key).await {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(job = key, error = %e, "could not read a queued job");
                continue;
            }
        }
        let job: Job = match serde_json::from_str(&json) {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(job = key, error = %e, "a published job cannot be read; left alone");
                continue;
            }
        };
        match queue.enqueue(&key, job).await {
            Ok(true) => tracing::info!(job = key, "queued a job another instance published"),
            // Done here already (its finish did not reach DynamoDB): say so.
            Ok(false) => finish_claim(Some(claims), &key).await,
            Err(e) => tracing::warn!(job = key, error = %e, "could not queue a published job"),
        }
    }
}

/// Tells the other instances a job is finished (done or given up on).
async fn finish_claim(claims: Option<&Arc<dyn JobClaims>>, key: &str) {
    if let Some(claims) = claims {
        if let Err(e) = claims.finish(key).await {
            // Its claim expires; another instance may then run it again.
            tracing::warn!(job = key, error = %e, "could not record a finished job's claim");
        }
    }
}

/// Records an attempt's outcome; returns when to try again, if ever.
async fn settle(
    queue: &JobQueue,
    claims: Option<&Arc<dyn JobClaims>>,
    key: &str,
    mut record: Pending,
    result: Result<(), Failure>,
) -> Option<u64> {
    let kind = record.job.kind();
    match result {
        Ok(()) => {
            tracing::debug!(job = key, kind, attempts = record.attempts + 1, "job done");
            if let Err(e) = queue.complete(key).await {
                // Still pending on disk: it runs again at the next start,
                // which is harmless for keyed writes (see the module docs).
                tracing::error!(job = key, error = %e, "could not record a finished job");
            }
            finish_claim(claims, key).await;
            None
        }
        Err(failure) => {
            record.attempts += 1;
            record.last_error = Some(failure.to_string());
            let code = failure.code.as_deref().unwrap_or("-");
            if failure
                .max_attempts
                .is_some_and(|max| record.attempts >= max)
            {
                tracing::error!(
                    job = key, kind, attempts = record.attempts,
                    service = failure.service, operation = failure.operation, code,
                    error = %failure.message,
                    "job failed for good; giving up"
                );
                record.next_at_ms = now_ms();
                if let Err(e) = queue.abandon(key, &record).await {
                    tracing::error!(job = key, error = %e, "could not record a failed job");
                }
                finish_claim(claims, key).await;
                return None;
            }
            let delay = retry_delay(record.attempts);
            record.next_at_ms = now_ms() + delay.as_millis() as u64;
            if let Err(e) = queue.reschedule(key, &record).await {
                tracing::error!(job = key, error = %e, "could not record a job's next attempt");
            }
            // Released before the failure is logged: another instance that
            // takes over between two attempts (this one died) finds the job
            // free at once, not after the claim's expiry.
            if let Some(claims) = claims {
                if let Err(e) = claims.release(key).await {
                    // It expires; until then only this instance retries it.
                    tracing::warn!(job = key, error = %e, "could not release a job's claim");
                }
            }
            tracing::warn!(
                job = key, kind, attempts = record.attempts,
                service = failure.service, operation = failure.operation, code,
                error = %failure.message, retry_in = ?delay,
                "job failed; will retry"
            );
            Some(record.next_at_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        assert!(retry_delay(1) <= Duration::from_millis(500));
        assert!(retry_delay(30) >= Duration::from_secs(30));
        assert!(retry_delay(u32::MAX) <= Duration::from_secs(60));
    }

    #[test]
    fn failures_read_well_in_logs() {
        let f = Failure::new("s3", "PutObject", "timeout").with_code("SlowDown");
        assert_eq!(f.to_string(), "s3 PutObject [SlowDown]: timeout");
        assert_eq!(f.max_attempts, None);
        assert_eq!(f.give_up_after(3).max_attempts, Some(3));
    }
}
