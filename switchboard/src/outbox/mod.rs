//! The outbox worker: sends stored replies through Twilio.
//!
//! A reply is in the store's outbox from the moment it is acknowledged until
//! Twilio accepted it or refused it for good, so a crash in between only
//! delays it: at start-up (or a new leader's term) everything still in the
//! outbox is sent again, and while running the worker lists the outbox every
//! [`RELIST_EVERY`] and picks up replies a send left there when it gave up
//! on a store write ([`handover::Hands`]), so a customer does not wait
//! for the next restart. Network errors, 429 and 5xx are retried with
//! exponential backoff; any other refusal marks the message failed with
//! Twilio's code and message, which the agent sees.
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
//!
//! With several switchboards, a new leader checks those only once the old
//! leader's POSTs must have landed at Twilio ([`handover::check_after`]),
//! and a leader that loses the lease drops its POSTs in flight at once.

pub mod handover;
pub mod reconcile;

use crate::backoff::TWILIO_SEND;
use crate::outbound_media::{link_expiry, MediaLinks};
use crate::store::{
    MessageLog, PendingReplies, PendingReply, SendIntent, StatusTarget, StatusUpdate, StoreError,
};
use crate::twilio::client::{ListQuery, OutboundSms, SendError, TwilioClient};
use crate::twilio::{describe_error, OPTED_OUT_ERROR};
use backon::BackoffBuilder;
use reconcile::{Claims, Decision, Sought, UNVERIFIED};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_protocol::{ConversationId, DeliveryError, DeliveryStatus, Direction, Seq};
use tokio::sync::{mpsc, watch, Semaphore};

/// Sends in flight at once.
const CONCURRENCY: usize = 16;
/// Give up on a message after retrying this many times (about ten minutes);
/// sends and checks of Twilio's list count alike.
const MAX_RETRIES: usize = 14;
/// How often the worker lists the outbox again for stranded replies (one
/// is picked up on its second sighting: within two of these).
pub const RELIST_EVERY: Duration = Duration::from_secs(20);

/// A reply's place: its conversation and sequence number.
type Position = (ConversationId, Seq);

/// The replies this term is sending or checking now (and lately).
type Active = Arc<Mutex<handover::Hands<Position>>>;

#[derive(Clone)]
pub struct Outbox {
    /// Reads the replies to send and records what became of them.
    pub store: Arc<dyn MessageLog>,
    /// The replies an earlier run left unsent.
    pub pending: Arc<dyn PendingReplies>,
    pub client: TwilioClient,
    pub from: String,
    pub status_callback: String,
    /// Signs the `MediaUrl`s of replies with pictures.
    pub media_links: MediaLinks,
    /// With several switchboards (DynamoDB): how long after a term starts an
    /// earlier leader's POST may still land at Twilio
    /// ([`handover::posts_land_within`]); replies left with an intent are
    /// checked only after it. `None` with one instance (sled): nobody else
    /// sends.
    pub earlier_posts_land_within: Option<Duration>,
    /// With several switchboards: bumped when this instance loses the lease
    /// (`FenceCell::losses`); a POST in flight then is dropped. On shutdown
    /// the lease is given up, not lost: a POST in flight finishes before it
    /// is released.
    pub lease_lost: Option<watch::Receiver<u64>>,
}

impl Outbox {
    /// Sends what the store still holds, then whatever `accepted` announces,
    /// until shutdown (or, with several switchboards, until this instance
    /// stops leading). A POST in flight is left to finish, unless the lease
    /// was lost (see [`handover`]). A send waiting to
    /// retry stops, and it and unsent ones stay in the outbox for the next
    /// start or leader, which looks in Twilio's list first for any reply
    /// with an intent.
    pub async fn run(
        mut self,
        mut accepted: mpsc::UnboundedReceiver<(ConversationId, Seq)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let term_started = Instant::now();
        // Only losses from now on end this term's POSTs.
        if let Some(lost) = &mut self.lease_lost {
            lost.mark_unchanged();
        }
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let active: Active = Arc::default();
        // Replies with an intent, checked one at a time, oldest first (see
        // the module docs).
        let (unsure, unsure_rx) = mpsc::unbounded_channel();
        let checker = tokio::spawn(check_in_order(
            this.clone(),
            slots.clone(),
            active.clone(),
            unsure_rx,
            term_started,
            shutdown.clone(),
        ));
        // A reply accepted while a listing was read can be both in it and
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
                let with_intent = pending.iter().filter(|p| p.intent.is_some()).count();
                if with_intent > 0 {
                    tracing::info!(
                        count = with_intent,
                        "checking with Twilio which replies an earlier run may have sent"
                    );
                }
                dispatch(&this, &slots, &active, &unsure, pending, &shutdown).await;
            }
            Err(e) => tracing::error!(error = %e, "could not read the outbox"),
        }
        let mut relist =
            tokio::time::interval_at(tokio::time::Instant::now() + RELIST_EVERY, RELIST_EVERY);
        relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                next = accepted.recv() => match next {
                    Some(position) if listed.contains(&position) => {
                        tracing::debug!(conversation = position.0, seq = position.1, "already being sent from the outbox listing");
                    }
                    Some(position) => {
                        if take_in_hand(&active, &position) {
                            spawn_send(&this, &slots, &active, position, &shutdown).await;
                        }
                    }
                    None => break,
                },
                _ = relist.tick() => {
                    lock(&active).listing_started();
                    let pending = match this.pending.pending_replies().await {
                        Ok(pending) => pending,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not list the outbox again");
                            continue;
                        }
                    };
                    let positions: Vec<Position> =
                        pending.iter().map(|p| (p.conversation.clone(), p.seq)).collect();
                    let picked: HashSet<Position> =
                        lock(&active).listed(&positions).into_iter().collect();
                    if picked.is_empty() {
                        continue;
                    }
                    tracing::warn!(
                        count = picked.len(),
                        "picking up replies a send left in the outbox"
                    );
                    let stranded = pending
                        .into_iter()
                        .filter(|p| picked.contains(&(p.conversation.clone(), p.seq)))
                        .collect();
                    // Its announcement may still come (the store's append can
                    // be visible in the listing well before it returns): it
                    // is then skipped like a listed one, or it would be sent
                    // again once this send is done.
                    listed.extend(picked);
                    dispatch(&this, &slots, &active, &unsure, stranded, &shutdown).await;
                }
            }
        }
        drop(unsure);
        let _ = checker.await;
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
                tracing::error!(conversation, seq, error = %e, "could not read an outbox message; picked up again by a later listing");
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
                    tracing::error!(conversation, seq, error = %e, "could not record the intent to send; picked up again by a later listing");
                    crate::telemetry::store_error("record_intent");
                    return;
                }
                intent
            }
        };
        // The links are a function of the pictures and the intent's time, so
        // every attempt — in this run or the next, here or on the next
        // leader — sends the same ones (`outbound_media::link_expiry`).
        let expires = link_expiry(intent.at_ms, crate::clock::now_ms());
        let sms = OutboundSms {
            to: conversation.to_string(),
            from: self.from.clone(),
            body: message.body,
            media_urls: self.media_links.urls(conversation, &message.media, expires),
            status_callback: Some(self.status_callback.clone()),
        };
        let mut delays = TWILIO_SEND.builder().with_max_times(MAX_RETRIES).build();
        loop {
            if *stop.borrow() {
                // The term ended (or shutdown) before this attempt: the
                // reply stays in the outbox with its intent.
                return;
            }
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
                let Some(answer) = self.post(&sms).await else {
                    tracing::warn!(
                        conversation,
                        seq,
                        "lost the lease mid-POST: dropped; the next leader looks for it in Twilio's list once it must have landed"
                    );
                    return;
                };
                match answer {
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

    /// One POST of a reply. With several switchboards it is raced against
    /// the loss of the lease: `None` when that came first (the POST is
    /// dropped; see [`handover`]).
    async fn post(
        &self,
        sms: &OutboundSms,
    ) -> Option<Result<crate::twilio::client::SentMessage, SendError>> {
        let Some(lost) = &self.lease_lost else {
            return Some(self.client.send_message(sms).await);
        };
        let mut lost = lost.clone();
        let ended = async {
            if lost.changed().await.is_err() {
                // Nothing can report a loss any more: let it finish.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            answer = self.client.send_message(sms) => Some(answer),
            () = ended => None,
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
            // Left in the outbox: a later listing picks it up (with its
            // intent, so Twilio's list is checked first).
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

/// The active set, whatever a panicking holder left in it.
fn lock(active: &Active) -> std::sync::MutexGuard<'_, handover::Hands<Position>> {
    match active.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Marks a reply as in this term's hands; `false` if it already was.
fn take_in_hand(active: &Active, position: &Position) -> bool {
    lock(active).take(position)
}

/// Hands listed replies to the senders: without an intent straight to a
/// send, with one to the in-order checker. Replies already in hand are
/// skipped.
async fn dispatch(
    this: &Arc<Outbox>,
    slots: &Arc<Semaphore>,
    active: &Active,
    unsure: &mpsc::UnboundedSender<PendingReply>,
    pending: Vec<PendingReply>,
    stop: &watch::Receiver<bool>,
) {
    for p in pending {
        let position = (p.conversation.clone(), p.seq);
        if !take_in_hand(active, &position) {
            continue;
        }
        if p.intent.is_some() {
            if unsure.send(p).is_err() {
                lock(active).release(&position);
            }
        } else {
            spawn_send(this, slots, active, position, stop).await;
        }
    }
}

/// Checks, then sends if need be, the replies that have an intent, one at a
/// time in the order given; with several switchboards, not before an
/// earlier leader's POSTs must have landed ([`handover::check_after`]).
async fn check_in_order(
    this: Arc<Outbox>,
    slots: Arc<Semaphore>,
    active: Active,
    mut queue: mpsc::UnboundedReceiver<PendingReply>,
    term_started: Instant,
    mut stop: watch::Receiver<bool>,
) {
    while let Some(p) = queue.recv().await {
        if let Some(within) = this.earlier_posts_land_within {
            let wait = handover::check_after(term_started.elapsed(), within);
            if !wait.is_zero() {
                tracing::info!(
                    ?wait,
                    "waiting until an earlier leader's POSTs must have landed before checking Twilio's list"
                );
                if crate::backoff::sleep_or_stop(&mut stop, wait).await {
                    return;
                }
            }
        }
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
        lock(&active).release(&(p.conversation, p.seq));
    }
}

async fn spawn_send(
    this: &Arc<Outbox>,
    slots: &Arc<Semaphore>,
    active: &Active,
    (conversation, seq): Position,
    stop: &watch::Receiver<bool>,
) {
    let Ok(permit) = slots.clone().acquire_owned().await else {
        lock(active).release(&(conversation, seq));
        return;
    };
    let (this, active, stop) = (this.clone(), active.clone(), stop.clone());
    crate::telemetry::outbox_pending(1.0);
    tokio::spawn(async move {
        this.send(&conversation, seq, None, stop).await;
        crate::telemetry::outbox_pending(-1.0);
        lock(&active).release(&(conversation, seq));
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
