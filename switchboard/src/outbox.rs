//! The outbox worker: sends stored replies through Twilio.
//!
//! A reply is in the store's outbox from the moment it is acknowledged until
//! Twilio accepted it or refused it for good, so a crash in between only
//! delays it: at start-up everything still in the outbox is sent again.
//! Network errors, 429 and 5xx are retried with exponential backoff; any
//! other refusal marks the message failed with Twilio's code and message,
//! which the agent sees.

use crate::backoff::TWILIO_SEND;
use crate::store::{MessageLog, PendingReplies, StatusTarget, StatusUpdate};
use crate::twilio::client::{OutboundSms, SendError, TwilioClient};
use crate::twilio::{describe_error, OPTED_OUT_ERROR};
use backon::Retryable;
use std::sync::Arc;
use switchboard_protocol::{ConversationId, DeliveryError, DeliveryStatus, Direction, Seq};
use tokio::sync::{mpsc, watch, Semaphore};

/// Sends in flight at once.
const CONCURRENCY: usize = 16;
/// Give up on a message after retrying this many times (about ten minutes).
const MAX_RETRIES: usize = 14;

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
    /// until shutdown. In-flight sends are left to finish; unsent ones stay in
    /// the outbox for the next start.
    pub async fn run(
        self,
        mut accepted: mpsc::UnboundedReceiver<(ConversationId, Seq)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        match this.pending.pending_replies().await {
            Ok(pending) => {
                if !pending.is_empty() {
                    tracing::info!(
                        count = pending.len(),
                        "resending replies left in the outbox"
                    );
                }
                for position in pending {
                    spawn_send(&this, &slots, position).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read the outbox"),
        }
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                next = accepted.recv() => match next {
                    Some(position) => spawn_send(&this, &slots, position).await,
                    None => break,
                },
            }
        }
        // Wait for the sends in flight (bounded by the client's timeouts).
        let _ = slots.acquire_many(CONCURRENCY as u32).await;
    }

    async fn send(&self, conversation: &str, seq: Seq) {
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
        // The customer may have texted STOP after the agent hit send.
        if let Ok(Some(record)) = self.store.conversation(conversation).await {
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
                return;
            }
        }
        let sms = OutboundSms {
            to: conversation.to_string(),
            from: self.from.clone(),
            body: message.body,
            status_callback: Some(self.status_callback.clone()),
        };
        let backoff = TWILIO_SEND.builder().with_max_times(MAX_RETRIES);
        let sent = (|| self.client.send_message(&sms))
            .retry(backoff)
            .when(|e| matches!(e, SendError::Transient { .. }))
            .adjust(|e, delay| match e {
                SendError::Transient { retry_after: Some(after), .. } => Some(delay.map_or(*after, |d| d.max(*after))),
                _ => delay,
            })
            .notify(|e, delay| {
                crate::telemetry::twilio_retry();
                tracing::warn!(conversation, seq, error = %e, ?delay, "Twilio send failed; retrying")
            })
            .await;
        match sent {
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
            }
            Err(SendError::Rejected {
                http_status,
                code,
                message,
            }) => {
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
            Err(SendError::Transient { reason, .. }) => {
                let reason = format!("gave up after {MAX_RETRIES} retries: {reason}");
                tracing::error!(conversation, seq, reason, "Twilio send abandoned");
                crate::telemetry::twilio_send("abandoned", None);
                self.finish(
                    conversation,
                    seq,
                    DeliveryStatus::Failed,
                    None,
                    Some((reason, None)),
                )
                .await;
            }
        }
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
        if let Err(e) = self.store.update_status(update).await {
            // Left in the outbox: sent again at the next start.
            tracing::error!(conversation, seq, error = %e, "could not record a send result");
            crate::telemetry::store_error("update_status");
        }
    }
}

async fn spawn_send(
    this: &Arc<Outbox>,
    slots: &Arc<Semaphore>,
    (conversation, seq): (ConversationId, Seq),
) {
    let Ok(permit) = slots.clone().acquire_owned().await else {
        return;
    };
    let this = this.clone();
    crate::telemetry::outbox_pending(1.0);
    tokio::spawn(async move {
        this.send(&conversation, seq).await;
        crate::telemetry::outbox_pending(-1.0);
        drop(permit);
    });
}
