//! The switchboard's metrics: every name, its help text, and one small
//! recording function per thing measured, so call sites stay one line.
//!
//! Recorded in the shell, never in the pure parts: the router's
//! `Core::step` and `conversation/` stay free of I/O; the router driver
//! reads the core's [`RouterStats`](crate::router::RouterStats) after each
//! step. Gauges that are cheapest to read on demand (job queue, inbound
//! spool) are sampled when `/metrics` is scraped ([`sample`]). The exporter
//! and the `/metrics` guard are shared with the agent UI
//! (`switchboard_cloud::telemetry`).

use crate::jobs::JobQueue;
use crate::router::RouterStats;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use std::time::{Duration, Instant};
use switchboard_protocol::{Direction, Message};

/// What became of one inbound webhook.
#[derive(Debug, Clone, Copy)]
pub enum WebhookOutcome {
    /// Stored (durable) for the first time.
    Stored,
    /// A Twilio retry of a `MessageSid` already stored.
    Duplicate,
    /// Missing or wrong `X-Twilio-Signature` (403).
    Forged,
    /// Not a valid Twilio message (400, 413, 415).
    Malformed,
    /// Held in the inbound spool while DynamoDB does not answer.
    Spooled,
    /// The store failed; Twilio was told to retry (503).
    Failed,
}

impl WebhookOutcome {
    fn label(self) -> &'static str {
        match self {
            WebhookOutcome::Stored => "stored",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Forged => "forged",
            WebhookOutcome::Malformed => "malformed",
            WebhookOutcome::Spooled => "spooled",
            WebhookOutcome::Failed => "failed",
        }
    }
}

/// Installs the recorder and gives every metric its help text (once per
/// process; later calls only describe again, which is harmless).
pub fn init() {
    switchboard_cloud::telemetry::recorder();
    describe_counter!(
        "switchboard_webhooks_total",
        "Inbound SMS webhooks by outcome: stored, duplicate, forged, malformed, spooled, failed."
    );
    describe_histogram!(
        "switchboard_webhook_duration_seconds",
        "Time from a webhook's arrival to its answer (includes the durable write)."
    );
    describe_histogram!(
        "switchboard_webhook_to_agent_seconds",
        "Time from a customer's message being received to its frame going out to an agent (redeliveries after a reconnect included)."
    );
    describe_histogram!(
        "switchboard_store_batch_size",
        "Writes per group-commit batch (sled store)."
    );
    describe_histogram!(
        "switchboard_store_flush_duration_seconds",
        "Duration of one group-commit flush (+ fdatasync), sled store."
    );
    describe_counter!(
        "switchboard_store_errors_total",
        "Failed store operations, by operation."
    );
    describe_counter!(
        "switchboard_dynamodb_requests_total",
        "DynamoDB and DynamoDB Streams requests (every attempt), by client (store, lease, streams) and operation."
    );
    describe_counter!(
        "switchboard_dynamodb_capacity_centiunits_total",
        "Capacity units DynamoDB reported as consumed, in hundredths, by client and operation."
    );
    describe_gauge!(
        "switchboard_router_queue_length",
        "Conversations waiting for an agent."
    );
    describe_gauge!(
        "switchboard_router_queue_longest_wait_seconds",
        "How long the conversation at the head of the queue has been waiting."
    );
    describe_gauge!("switchboard_agents_online", "Agents with a live socket.");
    describe_gauge!(
        "switchboard_agents_available",
        "Agents online, available and below capacity."
    );
    describe_gauge!(
        "switchboard_agent_conversations",
        "Conversations assigned to each agent (their load)."
    );
    describe_gauge!(
        "switchboard_outbox_pending",
        "Replies accepted and not yet settled with Twilio."
    );
    describe_counter!(
        "switchboard_twilio_sends_total",
        "Replies settled with Twilio by outcome (sent, found, rejected, abandoned, unverified) and Twilio error code."
    );
    describe_counter!(
        "switchboard_twilio_send_retries_total",
        "Twilio send attempts that failed transiently and were retried."
    );
    describe_gauge!(
        "switchboard_jobs_pending",
        "Jobs waiting or being retried, by kind."
    );
    describe_gauge!("switchboard_jobs_failed", "Jobs given up on, by kind.");
    describe_gauge!(
        "switchboard_inbound_spool_depth",
        "Customers' messages held on local disk until DynamoDB answers."
    );
    describe_gauge!(
        "switchboard_dynamodb_stream_lag_seconds",
        "Age of the newest DynamoDB Streams record the reader copied, when it was read."
    );
    describe_gauge!("switchboard_agent_sockets", "Open agent WebSockets.");
    describe_gauge!(
        "switchboard_leader",
        "1 while this instance holds the router lease and routes (always with STORE=sled), else 0."
    );
}

/// One webhook answered, and how long it took.
pub fn webhook(outcome: WebhookOutcome, took: Duration) {
    counter!("switchboard_webhooks_total", "outcome" => outcome.label()).increment(1);
    histogram!("switchboard_webhook_duration_seconds").record(took.as_secs_f64());
}

/// Middleware of the inbound webhook routes: times each request and
/// counts its outcome. The handler names the outcome of a message it took
/// (a [`WebhookOutcome`] response extension); a refusal is told by its
/// status: 403 is a forged signature, another 4xx a malformed request, a
/// 5xx a failure.
pub async fn measure_webhook(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let outcome = match response.extensions().get::<WebhookOutcome>() {
        Some(outcome) => *outcome,
        None if status == StatusCode::FORBIDDEN => WebhookOutcome::Forged,
        None if status.is_client_error() => WebhookOutcome::Malformed,
        None => WebhookOutcome::Failed,
    };
    webhook(outcome, started.elapsed());
    response
}

/// A message frame is going out to an agent (the agent is on the socket's
/// span): logged at debug with its conversation and seq, and for a
/// customer's message the time since the webhook received it.
pub fn sent_to_agent(message: &Message) {
    tracing::debug!(message_sid = message.sid.as_deref().unwrap_or(""), conversation = %message.conversation, seq = message.seq, "message sent to agent");
    if message.direction == Direction::Inbound {
        let age = crate::clock::now_ms().saturating_sub(message.at_ms) as f64 / 1000.0;
        histogram!("switchboard_webhook_to_agent_seconds").record(age);
    }
}

/// Counts `socket` (an agent connection's task) in the open-sockets gauge
/// while it runs.
pub async fn count_agent_socket(socket: impl std::future::Future<Output = ()>) {
    agent_sockets(1.0);
    socket.await;
    agent_sockets(-1.0);
}

/// One group-commit batch made durable.
pub fn store_batch(writes: usize, flush: Duration) {
    histogram!("switchboard_store_batch_size").record(writes as f64);
    histogram!("switchboard_store_flush_duration_seconds").record(flush.as_secs_f64());
}

/// One attempt of a DynamoDB call (`store/dynamo/usage.rs`).
pub fn dynamodb_request(client: &'static str, operation: String) {
    counter!("switchboard_dynamodb_requests_total", "client" => client, "operation" => operation)
        .increment(1);
}

/// The capacity units a DynamoDB call consumed, as DynamoDB reported them.
pub fn dynamodb_units(client: &'static str, operation: String, units: f64) {
    // Units come in halves (an eventually consistent read of up to 4 KB is
    // 0.5): counted in hundredths so the counter stays an integer.
    counter!("switchboard_dynamodb_capacity_centiunits_total", "client" => client, "operation" => operation)
        .increment((units * 100.0).round() as u64);
}

/// A store operation failed.
pub fn store_error(operation: &'static str) {
    counter!("switchboard_store_errors_total", "operation" => operation).increment(1);
}

/// The router's state after a step.
pub fn router(stats: &RouterStats) {
    gauge!("switchboard_router_queue_length").set(stats.queued as f64);
    gauge!("switchboard_router_queue_longest_wait_seconds")
        .set(stats.longest_wait_ms as f64 / 1000.0);
    gauge!("switchboard_agents_online").set(stats.online as f64);
    gauge!("switchboard_agents_available").set(stats.available as f64);
    for (agent, load) in &stats.load {
        gauge!("switchboard_agent_conversations", "agent" => agent.clone()).set(*load as f64);
    }
}

/// A reply entered (+1) or left (-1) the outbox worker.
pub fn outbox_pending(change: f64) {
    gauge!("switchboard_outbox_pending").increment(change);
}

/// A reply settled with Twilio: `outcome` is `sent`, `found` (already at
/// Twilio after a crash or a lost answer: not sent again), `rejected`,
/// `abandoned` or `unverified` (Twilio's list could not be checked, so not
/// sent again); `code` Twilio's error code (empty when none).
pub fn twilio_send(outcome: &'static str, code: Option<u32>) {
    let code = code.map(|c| c.to_string()).unwrap_or_default();
    counter!("switchboard_twilio_sends_total", "outcome" => outcome, "code" => code).increment(1);
}

/// A Twilio send failed transiently and is retried.
pub fn twilio_retry() {
    counter!("switchboard_twilio_send_retries_total").increment(1);
}

/// Age of the newest stream record copied (DynamoDB store).
pub fn stream_lag(age: Duration) {
    gauge!("switchboard_dynamodb_stream_lag_seconds").set(age.as_secs_f64());
}

/// This instance started (true) or stopped (false) leading.
pub fn leader(leading: bool) {
    gauge!("switchboard_leader").set(if leading { 1.0 } else { 0.0 });
}

/// An agent socket opened (+1) or closed (-1).
fn agent_sockets(change: f64) {
    gauge!("switchboard_agent_sockets").increment(change);
}

/// Reads the gauges that live on disk, just before a scrape renders: jobs
/// pending and failed by kind, and the inbound spool's depth. sled reads
/// run on the blocking pool.
pub async fn sample(jobs: JobQueue) {
    let pending = jobs
        .all_pending()
        .await
        .map(|p| by_kind(p.iter().map(|(k, _)| k)));
    let failed = jobs
        .failed()
        .await
        .map(|f| by_kind(f.iter().map(|(k, _)| k)));
    let spooled =
        tokio::task::spawn_blocking(move || crate::jobs::inbound_spool::leftovers(&jobs)).await;
    let Ok(spooled) = spooled else {
        return;
    };
    for (name, counts) in [
        ("switchboard_jobs_pending", pending),
        ("switchboard_jobs_failed", failed),
    ] {
        match counts {
            Ok(counts) => {
                for (kind, n) in counts {
                    gauge!(name, "kind" => kind).set(n as f64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not count jobs for /metrics"),
        }
    }
    match spooled {
        Ok(n) => gauge!("switchboard_inbound_spool_depth").set(n as f64),
        Err(e) => tracing::warn!(error = %e, "could not count the inbound spool for /metrics"),
    }
}

/// The job kinds (a key's first segment: `media`, `transcript`,
/// `transcript-mail`, `alert`), each counted; every kind is present, so a
/// kind that drained to zero reads 0.
fn by_kind<'a>(keys: impl Iterator<Item = &'a String>) -> Vec<(&'static str, usize)> {
    const KINDS: [&str; 4] = ["media", "transcript", "transcript-mail", "alert"];
    let mut counts = KINDS.map(|k| (k, 0usize));
    for key in keys {
        let kind = key.split('/').next().unwrap_or("");
        if let Some(slot) = counts.iter_mut().find(|(k, _)| *k == kind) {
            slot.1 += 1;
        }
    }
    counts.to_vec()
}

#[cfg(test)]
mod tests {
    use super::by_kind;

    #[test]
    fn jobs_are_counted_by_the_first_segment_of_their_key() {
        let keys = [
            "media/+1555/SM1/0.jpg",
            "transcript-mail/+1555/4",
            "media/+1555/SM1/1.jpg",
        ]
        .map(String::from);
        let counts = by_kind(keys.iter());
        assert_eq!(
            counts,
            vec![
                ("media", 2),
                ("transcript", 0),
                ("transcript-mail", 1),
                ("alert", 0)
            ]
        );
    }
}
