//! The outbox worker: sends stored replies through Twilio.
//!
//! A reply is in the store's outbox from the moment it is acknowledged until
//! Twilio accepted it or refused it for good, so a crash in between only
//! delays it: at start-up everything still in the outbox is sent again.
//! Network errors, 429 and 5xx are retried with exponential backoff; any
//! other refusal marks the message failed with Twilio's code and message,
//! which the agent sees.
//!
//! No reply is sent twice, even across a crash: before the first POST of a
//! reply the worker durably records its send intent
//! ([`crate::store::SendIntent`]). A reply whose POST may have reached
//! Twilio without us learning the answer — it has an intent at start-up,
//! or the answer was lost (timeout, reset) — is looked for in Twilio's
//! Messages list first ([`reconcile`]): found, its SID and status are
//! recorded and it is not sent; not found, it is sent. The replies an
//! earlier run left with an intent are checked one at a time, oldest first,
//! so identical replies to one customer each claim their own message.

pub mod reconcile;

use crate::backoff::TWILIO_SEND;
use crate::store::{
    MessageLog, PendingReplies, SendIntent, StatusTarget, StatusUpdate, StoreError,
};
use crate::twilio::client::{ListQuery, OutboundSms, SendError, TwilioClient};
use crate::twilio::{describe_error, OPTED_OUT_ERROR};
use backon::BackoffBuilder;
use reconcile::{Claims, Decision, Sought, UNVERIFIED};
use std::collections::HashSet;
use std::sync::Arc;
use switchboard_protocol::{ConversationId, DeliveryError, DeliveryStatus, Direction, Seq};
use tokio::sync::{mpsc, watch, Semaphore};

/// Sends in flight at once.
const CONCURRENCY: usize = 16;
/// Give up on a message after retrying this many times (about ten minutes);
/// sends and checks of Twilio's list count alike.
const MAX_RETRIES: usize = 14;

#[derive(Clone)]
pub struct Outbox {
    /// Reads the replies to send and records what became of them.
    pub store: Arc<dyn MessageLog>,
    /// The replies an earlier run left unsent.
    pub pending: Arc<dyn PendingReplies>,
    pub client: TwilioClient,
    pub from: String,
    pub status_callback: String,
}

impl Outbox {
    /// Sends what the store still holds, then whatever `accepted` announces,
    /// until shutdown (or, with several switchboards, until this instance
    /// stops leading). A POST in flight is left to finish; a send waiting to
    /// retry stops, and it and unsent ones stay in the outbox for the next
    /// start or leader, which looks in Twilio's list first for any reply
    /// with an intent.
    pub async fn run(
        self,
        mut accepted: mpsc::UnboundedReceiver<(ConversationId, Seq)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        // A reply accepted while the listing was read can be both in it and
        // announced on `accepted`: the listing's copy is the one sent.
        let mut listed = HashSet::new();
        match this.pending.pending_replies().await {
            Ok(pending) => {
                listed.extend(pending.iter().map(|p| (p.conversation.clone(), p.seq)));
                if !pending.is_empty() {
                    tracing::info!(
                        count = pending.len(),
                        "resending replies left in the outbox"
                    );
                }
                let (unsure, never_tried): (Vec<_>, Vec<_>) =
                    pending.into_iter().partition(|p| p.intent.is_some());
                for p in never_tried {
                    spawn_send(&this, &slots, (p.conversation, p.seq), &shutdown).await;
                }
                if !unsure.is_empty() {
                    tracing::info!(
                        count = unsure.len(),
                        "checking with Twilio which replies an earlier run may have sent"
                    );
                    // One at a time, oldest first (see the module docs).
                    let (this, slots) = (this.clone(), slots.clone());
                    let stop = shutdown.clone();
                    tokio::spawn(async move {
                        for p in unsure {
                            let Ok(_permit) = slots.acquire().await else {
                                return;
                            };
                            if *stop.borrow() {
                                return;
                            }
                            crate::telemetry::outbox_pending(1.0);
                            this.send(&p.conversation, p.seq, p.intent, stop.clone())
                                .await;
                            crate::telemetry::outbox_pending(-1.0);
                        }
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read the outbox"),
        }
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                next = accepted.recv() => match next {
                    Some(position) if listed.contains(&position) => {
                        tracing::debug!(conversation = position.0, seq = position.1, "already being sent from the outbox listing");
                    }
                    Some(position) => spawn_send(&this, &slots, position, &shutdown).await,
                    None => break,
                },
            }
        }
        // Wait for the sends in flight (bounded by the client's timeouts).
        let _ = slots.acquire_many(CONCURRENCY as u32).await;
    }

    /// Sends one reply, or settles it without sending when it turns out
    /// Twilio already has it. `intent` is what an earlier run recorded.
    /// `stop` ends its retries: the reply stays in the outbox with its
    /// intent, and the next run (or, with several switchboards, the next
    /// leader) looks for it in Twilio's list before sending it again.
    async fn send(
        &self,
        conversation: &str,
        seq: Seq,
        intent: Option<SendIntent>,
        mut stop: watch::Receiver<bool>,
    ) {
        let message = match self.store.message(conversation, seq).await {
            Ok(Some(m)) if m.direction == Direction::Outbound => m,
            Ok(_) => {
                tracing::error!(
                    conversation,
                    seq,
                    "outbox entry without an outbound message; dropping it"
                );
                self.finish(
                    conversation,
                    seq,
                    DeliveryStatus::Failed,
                    None,
                    Some(("not found".into(), None)),
                )
                .await;
                return;
            }
            Err(e) => {
                tracing::error!(conversation, seq, error = %e, "could not read an outbox message; will retry at next start");
                return;
            }
        };
        // An earlier run recorded an intent: its POST may have reached Twilio
        // (then what Twilio did with it counts, whatever the customer texted since).
        let mut unsure = intent.is_some();
        if !unsure && self.refused_as_opted_out(conversation, seq).await {
            return;
        }
        let intent = match intent {
            Some(intent) => intent,
            None => {
                let intent = SendIntent {
                    from: self.from.clone(),
                    at_ms: crate::clock::now_ms(),
                };
                let recorded = store_retrying("record_intent", conversation, seq, || {
                    self.pending.record_intent(conversation, seq, &intent)
                })
                .await;
                if let Err(e) = recorded {
                    if matches!(e, StoreError::Fenced) {
                        // Another instance leads and sends it; this one stops.
                        tracing::info!(
                            conversation,
                            seq,
                            "not sending: this instance no longer leads"
                        );
                        return;
                    }
                    // Without it a crash after the POST would send it twice.
                    tracing::error!(conversation, seq, error = %e, "could not record the intent to send; will retry at next start");
                    crate::telemetry::store_error("record_intent");
                    return;
                }
                intent
            }
        };
        let sms = OutboundSms {
            to: conversation.to_string(),
            from: self.from.clone(),
            body: message.body,
            status_callback: Some(self.status_callback.clone()),
        };
        let mut delays = TWILIO_SEND.builder().with_max_times(MAX_RETRIES).build();
        loop {
            let failure = if unsure {
                match self.reconcile(&sms, seq, &intent).await {
                    Ok(Decision::AlreadySent {
                        sid,
                        status,
                        error_code,
                    }) => {
                        tracing::info!(
                            conversation,
                            seq,
                            sid,
                            ?status,
                            "the reply was already at Twilio; not sending it again"
                        );
                        crate::telemetry::twilio_send("found", error_code);
                        let error = error_code.map(|code| (describe_error(Some(code)), Some(code)));
                        self.finish(conversation, seq, status, Some(sid), error)
                            .await;
                        return;
                    }
                    Ok(Decision::NotSent) => {
                        tracing::info!(conversation, seq, "the reply is not at Twilio; sending it");
                        if self.refused_as_opted_out(conversation, seq).await {
                            return;
                        }
                        unsure = false;
                        continue;
                    }
                    Err(Failure::Twilio(SendError::Rejected { message, .. })) => {
                        // Asking again would get the same answer, and sending
                        // blindly could text the customer twice.
                        tracing::error!(
                            conversation,
                            seq,
                            message,
                            "Twilio refused the Messages list; the reply is not sent again"
                        );
                        crate::telemetry::twilio_send("unverified", None);
                        let reason = format!("{UNVERIFIED} ({message})");
                        self.finish(
                            conversation,
                            seq,
                            DeliveryStatus::Failed,
                            None,
                            Some((reason, None)),
                        )
                        .await;
                        return;
                    }
                    Err(failure) => failure,
                }
            } else {
                match self.client.send_message(&sms).await {
                    Ok(sent) => {
                        tracing::debug!(conversation, seq, sid = sent.sid, "sent to Twilio");
                        crate::telemetry::twilio_send("sent", None);
                        self.finish(
                            conversation,
                            seq,
                            DeliveryStatus::Sending,
                            Some(sent.sid),
                            None,
                        )
                        .await;
                        return;
                    }
                    Err(SendError::Rejected {
                        http_status,
                        code,
                        message,
                    }) => {
                        self.rejected(conversation, seq, http_status, code, message)
                            .await;
                        return;
                    }
                    Err(e) => {
                        // A lost answer: the next attempt looks first.
                        unsure = matches!(e, SendError::Unconfirmed { .. });
                        Failure::Twilio(e)
                    }
                }
            };
            let Some(mut delay) = delays.next() else {
                let reason = if unsure {
                    crate::telemetry::twilio_send("unverified", None);
                    format!("{UNVERIFIED} (gave up after {MAX_RETRIES} retries: {failure})")
                } else {
                    crate::telemetry::twilio_send("abandoned", None);
                    format!("gave up after {MAX_RETRIES} retries: {failure}")
                };
                tracing::error!(conversation, seq, reason, "Twilio send abandoned");
                self.finish(
                    conversation,
                    seq,
                    DeliveryStatus::Failed,
                    None,
                    Some((reason, None)),
                )
                .await;
                return;
            };
            if let Failure::Twilio(e) = &failure {
                if let Some(after) = e.retry_after() {
                    delay = delay.max(after);
                }
            }
            crate::telemetry::twilio_retry();
            tracing::warn!(conversation, seq, error = %failure, ?delay, "Twilio send failed; retrying");
            if crate::backoff::sleep_or_stop(&mut stop, delay).await {
                tracing::info!(
                    conversation,
                    seq,
                    "stopping: the reply stays in the outbox for the next run"
                );
                return;
            }
        }
    }

    /// The customer may have texted STOP after the agent hit send: then the
    /// reply is failed with Twilio's opt-out error instead of sent.
    async fn refused_as_opted_out(&self, conversation: &str, seq: Seq) -> bool {
        let Ok(Some(record)) = self.store.conversation(conversation).await else {
            return false;
        };
        if record.opted_out {
            let reason = describe_error(Some(OPTED_OUT_ERROR));
            self.finish(
                conversation,
                seq,
                DeliveryStatus::Failed,
                None,
                Some((reason, Some(OPTED_OUT_ERROR))),
            )
            .await;
        }
        record.opted_out
    }

    /// Looks for the reply in Twilio's Messages list.
    async fn reconcile(
        &self,
        sms: &OutboundSms,
        seq: Seq,
        intent: &SendIntent,
    ) -> Result<Decision, Failure> {
        let sought = Sought {
            to: &sms.to,
            from: &intent.from,
            body: &sms.body,
            intent_at_ms: intent.at_ms,
        };
        // Everything sent since the window's day, every page; then the
        // newest page without a date filter, which also holds what Twilio
        // accepted but has not sent yet (no `date_sent`, so not in the first).
        let mut query = ListQuery {
            to: sms.to.clone(),
            from: intent.from.clone(),
            sent_on_or_after_ms: Some(sought.window_start_ms()),
        };
        let mut listed = self
            .client
            .list_messages(&query)
            .await
            .map_err(Failure::Twilio)?;
        query.sent_on_or_after_ms = None;
        let newest = self
            .client
            .list_first_page(&query)
            .await
            .map_err(Failure::Twilio)?;
        for message in newest.messages {
            if !listed.iter().any(|m| m.sid == message.sid) {
                listed.push(message);
            }
        }
        let mut claims = Claims::default();
        for candidate in listed.iter().filter(|m| sought.matches(m)) {
            let owner = self
                .pending
                .sid_owner(&candidate.sid)
                .await
                .map_err(Failure::Store)?;
            match owner {
                Some((c, s)) if c == sms.to && s == seq => {
                    claims.mine.insert(candidate.sid.as_str());
                }
                Some(_) => {
                    claims.others.insert(candidate.sid.as_str());
                }
                None => {}
            }
        }
        Ok(reconcile::decide(&sought, &listed, &claims))
    }

    async fn rejected(
        &self,
        conversation: &str,
        seq: Seq,
        http_status: u16,
        code: Option<u32>,
        message: String,
    ) {
        tracing::warn!(
            conversation,
            seq,
            http_status,
            ?code,
            message,
            "Twilio refused a reply"
        );
        crate::telemetry::twilio_send("rejected", code.or(Some(http_status.into())));
        if code == Some(OPTED_OUT_ERROR) {
            if let Err(e) = self.store.set_opted_out(conversation, true).await {
                tracing::error!(conversation, error = %e, "could not record an opt-out");
            }
        }
        self.finish(
            conversation,
            seq,
            DeliveryStatus::Failed,
            None,
            Some((message, code)),
        )
        .await;
    }

    async fn finish(
        &self,
        conversation: &str,
        seq: Seq,
        status: DeliveryStatus,
        twilio_sid: Option<String>,
        error: Option<(String, Option<u32>)>,
    ) {
        let update = StatusUpdate {
            target: StatusTarget::Position(conversation.to_string(), seq),
            status,
            error: error.map(|(message, code)| DeliveryError { code, message }),
            twilio_sid,
            outbox_done: true,
        };
        let recorded = store_retrying("update_status", conversation, seq, || {
            self.store.update_status(update.clone())
        })
        .await;
        if let Err(e) = recorded {
            if matches!(e, StoreError::Fenced) {
                // The new leader finds it in the outbox with its intent and
                // looks for it in Twilio's list before sending.
                tracing::info!(
                    conversation,
                    seq,
                    "send result not recorded: this instance no longer leads"
                );
                return;
            }
            // Left in the outbox: sent again at the next start.
            tracing::error!(conversation, seq, error = %e, "could not record a send result");
            crate::telemetry::store_error("update_status");
        }
    }
}

/// Tries of an outbox store write before the reply is left for the next
/// start (waits of [`crate::backoff::OUTBOX_WRITE`]).
const OUTBOX_WRITE_ATTEMPTS: u32 = 8;

/// Runs a store write of the outbox, retrying a failing store a few times
/// in place (a cancelled or timed-out DynamoDB transaction is common under
/// load); `Fenced` and `Closed` are final: retrying cannot help.
async fn store_retrying<T, F, Fut>(
    what: &'static str,
    conversation: &str,
    seq: Seq,
    mut write: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut waits = crate::backoff::OUTBOX_WRITE.delays();
    let mut attempt = 1;
    loop {
        match write().await {
            Err(e @ (StoreError::Fenced | StoreError::Closed)) => return Err(e),
            Err(e) if attempt < OUTBOX_WRITE_ATTEMPTS => {
                crate::telemetry::store_error(what);
                let wait = waits.next_delay();
                tracing::warn!(conversation, seq, error = %e, retry_in = ?wait, "outbox write failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

async fn spawn_send(
    this: &Arc<Outbox>,
    slots: &Arc<Semaphore>,
    (conversation, seq): (ConversationId, Seq),
    stop: &watch::Receiver<bool>,
) {
    let Ok(permit) = slots.clone().acquire_owned().await else {
        return;
    };
    let (this, stop) = (this.clone(), stop.clone());
    crate::telemetry::outbox_pending(1.0);
    tokio::spawn(async move {
        this.send(&conversation, seq, None, stop).await;
        crate::telemetry::outbox_pending(-1.0);
        drop(permit);
    });
}

/// Why an attempt failed, for the retry loop.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Twilio(SendError),
    /// Reading which SIDs are already ours.
    #[error("store: {0}")]
    Store(StoreError),
}
