//! The router's async shell: one task that feeds the state machine
//! ([`Core`]) with commands from agent connections, the change feed and
//! timers, and performs the effects it returns — the only place the router
//! does I/O.
//!
//! The decision loop does not wait for a write per event. What a connection is sent is
//! queued on its bounded buffer; the connection's own task reads from the
//! store whatever the frame needs. Writes (replies, claims, route records,
//! resolves, agent settings) run in the background in serial [`Lanes`]: in
//! the order the core asked for them per conversation (per agent for
//! settings), side by side across conversations. What came of a write the
//! core must know about (a claim won or refused, a route held elsewhere, a
//! resolve not recorded) comes back as an [`Event`] once the write is
//! durable, so an agent is told of an assignment only after its claim is.
//! Two waits are kept, so a crash cannot undo what was acted on: the feed
//! cursor is saved only after the route writes of its batch landed, and an
//! agent's new availability is durable before the effects after it (the
//! `welcome` confirming it) are performed.

use super::conn::{Broken, Conn, ConnId, Outgoing};
use super::event::{ClaimOutcome, Effect, Event};
use super::lanes::Lanes;
use super::machine::{Core, Recovered};
use super::{Command, RouterConfig, RouterHandle};
use crate::backoff::{Delays, FEED_ERROR, ROUTE_WRITE};
use crate::clock::now_ms;
use crate::conversation::notice::NoticeSettings;
use crate::jobs::{RouterJobs, Transcripts};
use crate::store::{
    AgentSettings, Change, ChangeFeed, ChangeId, Claim, MessageLog, Reply, ReplyOutcome,
    RouteRecord, RouteWrite, RoutingState, StoreError,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_protocol::{ErrorCode, ServerFrame};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Changes read from the feed per step.
const FEED_BATCH: usize = 1024;
/// Tries of a route write before giving up (waits of [`ROUTE_WRITE`]).
const ROUTE_WRITE_ATTEMPTS: u32 = 5;
/// Commands waiting for the router before senders wait (see [`RouterHandle::send`]).
pub(super) const COMMAND_BUFFER: usize = 1024;
/// How long shutdown waits for writes still running in the background.
const WRITES_AT_SHUTDOWN: Duration = Duration::from_secs(5);

/// The store ports the router uses.
#[derive(Clone)]
pub struct RouterPorts {
    /// Stores agents' replies; reads a message an old change does not
    /// describe, and a conversation's head.
    pub log: Arc<dyn MessageLog>,
    /// What the router follows, and its cursor.
    pub feed: Arc<dyn ChangeFeed>,
    /// Routes and agents' settings, written by the router alone.
    pub routing: Arc<dyn RoutingState>,
}

struct Driver {
    /// The store, through the ports the router uses.
    ports: RouterPorts,
    core: Core,
    /// Live connections by id, with the agent each belongs to.
    conns: HashMap<ConnId, (String, Conn)>,
    /// Connections found broken while sending, to report to the core.
    lost: Vec<(String, ConnId)>,
    cursor: ChangeId,
    grace: Duration,
    handle: RouterHandle,
    jobs: Option<RouterJobs>,
    /// Agents' replies being stored, in the order sent per conversation.
    replies: Lanes<String>,
    /// Claims, route records and resolves being written, per conversation.
    routes: Lanes<String>,
    /// Agents' settings being saved, per agent.
    settings: Lanes<String>,
    /// Where background writes report what the core must hear of them.
    outcomes: mpsc::UnboundedSender<Event>,
    /// Waits between retries of failed claims ([`Effect::RetryDrain`]);
    /// reset when a claim succeeds.
    drain_retry: Delays,
    /// A [`Command::RetryDrain`] is on its way: one at a time.
    drain_retry_pending: bool,
    /// How often the notice timer ticks; `None`: no update texts.
    notice_every: Option<Duration>,
}

/// Loads routing state from the store and starts the router task. It runs
/// until `shutdown` turns true.
pub async fn spawn(
    ports: RouterPorts,
    config: RouterConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(RouterHandle, tokio::task::JoinHandle<()>), StoreError> {
    let (commands, rx) = mpsc::channel(COMMAND_BUFFER);
    let handle = RouterHandle { commands };
    let settings: HashMap<String, AgentSettings> =
        ports.routing.agents().await?.into_iter().collect();
    let mut routes = Vec::new();
    for (conversation, route) in ports.routing.routes().await? {
        let head = match route {
            RouteRecord::Resolved { .. } => 0,
            _ => ports
                .log
                .conversation(&conversation)
                .await?
                .map_or(0, |c| c.last_seq),
        };
        routes.push(Recovered {
            conversation,
            route,
            head,
        });
    }
    let cursor = ports.feed.load_cursor().await?;
    // Unbounded, but holds at most one event per write in flight.
    let (outcomes, outcomes_rx) = mpsc::unbounded_channel();
    let (mut core, effects) = Core::recover(&config.agent_names, &settings, routes, now_ms());
    let notice_every = notice_tick_every(&config.notices);
    core.set_notices(config.notices);
    core.set_supervisors(config.supervisors);
    tracing::info!(
        cursor,
        live = core.live.len(),
        queued = core.queue.len(),
        "router state recovered"
    );
    let mut driver = Driver {
        ports,
        core,
        conns: HashMap::new(),
        lost: Vec::new(),
        cursor,
        grace: config.grace,
        handle: handle.clone(),
        jobs: config.jobs,
        replies: Lanes::default(),
        routes: Lanes::default(),
        settings: Lanes::default(),
        outcomes,
        drain_retry: FEED_ERROR.delays(),
        drain_retry_pending: false,
        notice_every,
    };
    driver.perform(effects).await;
    let task = tokio::spawn(async move { driver.run(rx, outcomes_rx, shutdown).await });
    Ok((handle, task))
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut outcomes: mpsc::UnboundedReceiver<Event>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Waiting alerts are checked on a timer; without ALERT_TO it never fires.
        let alert_every = self.jobs.as_ref().and_then(RouterJobs::tick_every);
        let mut alert_tick =
            tokio::time::interval(alert_every.unwrap_or(Duration::from_secs(3600)));
        alert_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The waiting customers' update texts, likewise.
        let mut notice_tick =
            tokio::time::interval(self.notice_every.unwrap_or(Duration::from_secs(3600)));
        notice_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // After a failed feed read the feed rests a while (FEED_ERROR);
        // commands keep being served meanwhile.
        let mut feed_retry = FEED_ERROR.delays();
        let mut feed_resumes: Option<Instant> = None;
        loop {
            let feed = self.ports.feed.clone();
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = alert_tick.tick(), if alert_every.is_some() => self.check_waits(),
                _ = notice_tick.tick(), if self.notice_every.is_some() => self.apply(Event::NoticeTick).await,
                Some(event) = outcomes.recv() => self.apply(event).await,
                Some(command) = commands.recv() => self.command(command).await,
                _ = tokio::time::sleep_until(feed_resumes.unwrap_or_else(Instant::now)),
                    if feed_resumes.is_some() => feed_resumes = None,
                ready = feed.wait_for_changes(self.cursor), if feed_resumes.is_none() => {
                    if let Err(e) = ready {
                        tracing::info!(error = %e, "change feed closed; router stops");
                        break;
                    }
                    match self.follow_feed().await {
                        Ok(()) => feed_retry.reset(),
                        Err(e) => {
                            let wait = feed_retry.next_delay();
                            tracing::error!(error = %e, retry_in = ?wait, "reading the change feed failed; retrying");
                            feed_resumes = Some(Instant::now() + wait);
                        }
                    }
                }
            }
        }
        // Let writes already started land (a reply being stored, a claim
        // or resolve being recorded) before the store closes.
        self.replies.finish(WRITES_AT_SHUTDOWN).await;
        self.routes.finish(WRITES_AT_SHUTDOWN).await;
        self.settings.finish(WRITES_AT_SHUTDOWN).await;
    }

    async fn command(&mut self, command: Command) {
        let event = match command {
            Command::Connect {
                agent,
                conn,
                client,
                resume,
                available,
                capacity,
            } => {
                let id = conn.id;
                self.conns.insert(id, (agent.clone(), conn));
                Event::Connected {
                    agent,
                    conn: id,
                    client,
                    resume,
                    available,
                    capacity,
                }
            }
            Command::Disconnect { agent, conn_id } => {
                self.conns.remove(&conn_id);
                Event::Disconnected {
                    agent,
                    conn: conn_id,
                }
            }
            Command::Availability {
                agent,
                conn_id,
                available,
                capacity,
            } => Event::Availability {
                agent,
                conn: conn_id,
                available,
                capacity,
            },
            Command::Reply {
                agent,
                conn_id,
                conversation,
                client_id,
                body,
                media,
                note,
            } => Event::Reply {
                agent,
                conn: conn_id,
                conversation,
                client_id,
                body,
                media,
                note,
            },
            Command::Resolve {
                agent,
                conn_id,
                conversation,
            } => Event::Resolve {
                agent,
                conn: conn_id,
                conversation,
            },
            Command::Reopen {
                agent,
                conn_id,
                conversation,
            } => Event::Reopen {
                agent,
                conn: conn_id,
                conversation,
            },
            Command::Transfer {
                agent,
                conn_id,
                conversation,
                to,
                note,
            } => Event::Transfer {
                agent,
                conn: conn_id,
                conversation,
                to,
                note,
            },
            Command::Take {
                agent,
                conn_id,
                conversation,
            } => Event::Take {
                agent,
                conn: conn_id,
                conversation,
            },
            Command::Supervise { agent, conn_id } => Event::Supervise {
                agent,
                conn: conn_id,
            },
            Command::QueueWindow {
                agent,
                conn_id,
                limit,
            } => Event::QueueWindow {
                agent,
                conn: conn_id,
                limit,
            },
            Command::Watch {
                agent,
                conn_id,
                conversation,
            } => Event::Watch {
                agent,
                conn: conn_id,
                conversation,
            },
            Command::GraceExpired { agent, generation } => {
                Event::GraceExpired { agent, generation }
            }
            Command::RetryDrain => {
                self.drain_retry_pending = false;
                Event::RetryDrain
            }
        };
        self.apply(event).await;
    }

    async fn follow_feed(&mut self) -> Result<(), StoreError> {
        let changes = self.ports.feed.changes_after(self.cursor, FEED_BATCH).await;
        let changes = changes.inspect_err(|_| crate::telemetry::store_error("changes_after"))?;
        let Some(&(last, _)) = changes.last() else {
            return Ok(());
        };
        for (_, change) in changes {
            match self.to_event(change).await {
                Ok(Some(event)) => self.apply(event).await,
                Ok(None) => {}
                // A change that cannot be read (corrupt record) must not
                // stop routing for everyone else.
                Err(e) => {
                    tracing::error!(error = %e, "skipping a change the router could not apply")
                }
            }
        }
        // The saved cursor must not get ahead of the routing writes these
        // changes caused: after a crash the router would skip the changes
        // and find no route for them, and their conversations would reach
        // nobody. So the claims and queue entries started for this batch
        // land first (they ran side by side, sharing flushes; one wait per
        // batch, none per conversation).
        self.routes.settle().await;
        self.cursor = last;
        self.ports.feed.save_cursor(last).await
    }

    async fn to_event(&self, change: Change) -> Result<Option<Event>, StoreError> {
        Ok(Some(match change {
            Change::Message { c, s, d } => {
                let direction = match d {
                    Some(d) => d,
                    // Written before changes carried the direction.
                    None => match self.ports.log.message(&c, s).await? {
                        Some(m) => m.direction,
                        None => return Ok(None),
                    },
                };
                Event::Message {
                    conversation: c,
                    seq: s,
                    direction,
                }
            }
            Change::Status { c, s } => Event::Status {
                conversation: c,
                seq: s,
            },
            Change::OptOut { c } => Event::OptOut { conversation: c },
        }))
    }

    /// One decision, then its effects.
    async fn apply(&mut self, event: Event) {
        if let Event::Claimed {
            outcome: ClaimOutcome::Won,
            ..
        } = event
        {
            self.drain_retry.reset();
        }
        let effects = self.core.step(event, now_ms());
        self.perform(effects).await;
        crate::telemetry::router(&self.core.stats(now_ms()));
    }

    /// Performs effects in order; connections found broken while sending
    /// are reported to the core last.
    async fn perform(&mut self, effects: Vec<Effect>) {
        let mut work = effects;
        loop {
            for effect in work {
                let agent_settings = matches!(effect, Effect::SaveAgent { .. });
                self.perform_one(effect);
                if agent_settings {
                    // An agent's availability or capacity is durable before
                    // anything after it is sent (the `welcome` that confirms
                    // it, presence), so what the agent saw holds after a
                    // crash. These writes are rare (a person clicking).
                    self.settings.settle().await;
                }
            }
            let Some((agent, conn)) = self.lost.pop() else {
                break;
            };
            work = self
                .core
                .step(Event::Disconnected { agent, conn }, now_ms());
        }
    }

    /// Performs one effect: sends are queued, writes start in their lane.
    fn perform_one(&mut self, effect: Effect) {
        match effect {
            Effect::Send { agent, conn, out } => {
                let Some((_, connection)) = self.conns.get_mut(&conn) else {
                    return;
                };
                if let Err(why) = connection.queue(out) {
                    match why {
                        Broken::Overflowed => {
                            tracing::warn!(agent, "agent connection fell behind; disconnecting it")
                        }
                        Broken::Closed => {
                            tracing::debug!(agent, "agent connection already closed")
                        }
                    }
                    self.conns.remove(&conn);
                    self.lost.push((agent, conn));
                }
            }
            Effect::Close { conn, frame } => {
                if let Some((_, mut connection)) = self.conns.remove(&conn) {
                    connection.close_with(frame);
                }
            }
            Effect::StoreReply { conn, reply } => {
                let Some((_, connection)) = self.conns.get(&conn) else {
                    return;
                };
                let frames = connection.frames.clone();
                let log = self.ports.log.clone();
                // Replies to one conversation are stored in the order the
                // agent sent them: the same order in the log, and to Twilio.
                self.replies
                    .run(reply.conversation.clone(), store_reply(log, reply, frames));
            }
            Effect::SaveRoute {
                conversation,
                route,
            } => {
                let (routing, outcomes) = (self.ports.routing.clone(), self.outcomes.clone());
                self.routes.run(conversation.clone(), async move {
                    match save_route(&*routing, &conversation, &route).await {
                        Ok(RouteWrite::Written) => {}
                        Ok(RouteWrite::HeldElsewhere) => {
                            let _ = outcomes.send(Event::HeldElsewhere { conversation });
                        }
                        // Logged where it was refused; the lease stops this router.
                        Err(StoreError::Fenced) => {
                            tracing::debug!(conversation, "route not saved: not the leader")
                        }
                        Err(e) => {
                            tracing::error!(conversation, error = %e, "could not save the route")
                        }
                    }
                });
            }
            Effect::Claim(claim) => {
                let (routing, outcomes) = (self.ports.routing.clone(), self.outcomes.clone());
                self.routes.run(claim.conversation.clone(), async move {
                    let _ = outcomes.send(claimed(&*routing, claim).await);
                });
            }
            Effect::Resolved {
                conversation,
                agent,
                upto_seq,
                at_ms,
            } => {
                let (ports, outcomes) = (self.ports.clone(), self.outcomes.clone());
                let transcripts = self.jobs.as_ref().map(RouterJobs::transcripts);
                self.routes.run(conversation.clone(), async move {
                    let resolve = Resolve {
                        conversation,
                        agent,
                        upto_seq,
                        at_ms,
                    };
                    if let Some(event) = resolve.record(&ports, transcripts).await {
                        let _ = outcomes.send(event);
                    }
                });
            }
            Effect::SaveAgent {
                agent,
                available,
                capacity,
            } => {
                let settings = AgentSettings {
                    available,
                    capacity,
                };
                let routing = self.ports.routing.clone();
                self.settings.run(agent.clone(), async move {
                    if let Err(e) = routing.save_agent(&agent, settings).await {
                        if matches!(e, StoreError::Fenced) {
                            // Logged where it was refused; the lease stops this router.
                            return;
                        }
                        tracing::error!(agent, error = %e, "could not save the agent's availability");
                    }
                });
            }
            Effect::StartGrace { agent, generation } => {
                let (handle, grace) = (self.handle.clone(), self.grace);
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    handle
                        .send(Command::GraceExpired { agent, generation })
                        .await;
                });
            }
            Effect::Notice { reply } => {
                let log = self.ports.log.clone();
                // In the conversation's reply lane: after any reply before it.
                self.replies
                    .run(reply.conversation.clone(), store_notice(log, reply));
            }
            Effect::Timeline { entry } => {
                let log = self.ports.log.clone();
                // In the conversation's reply lane: after the replies and
                // notes the agent sent before acting.
                self.replies
                    .run(entry.conversation.clone(), store_timeline(log, entry));
            }
            Effect::RetryDrain => {
                if !self.drain_retry_pending {
                    self.drain_retry_pending = true;
                    let (handle, wait) = (self.handle.clone(), self.drain_retry.next_delay());
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        handle.send(Command::RetryDrain).await;
                    });
                }
            }
        }
    }

    /// Alerts for customers queued too long while nobody can take them.
    fn check_waits(&mut self) {
        let Some(jobs) = self.jobs.as_mut() else {
            return;
        };
        let waiting = self.core.waiting();
        jobs.check_waits(waiting.iter().map(|(c, since)| (c, *since)));
    }
}

/// How often to look for waiting customers due their update text: a tenth
/// of the threshold, between 1 s and 30 s; `None` when updates are off.
fn notice_tick_every(settings: &NoticeSettings) -> Option<Duration> {
    let after = settings.queue.as_ref()?.update_after?;
    Some((after / 10).clamp(Duration::from_secs(1), Duration::from_secs(30)))
}

/// Stores an automatic text to a waiting customer; nobody waits for the
/// outcome, so it is logged.
async fn store_notice(log: Arc<dyn MessageLog>, reply: Reply) {
    let conversation = reply.conversation.clone();
    match log.append_reply(reply).await {
        Ok(ReplyOutcome::Accepted { seq, duplicate }) => {
            tracing::debug!(conversation, seq, duplicate, "automatic text stored")
        }
        Ok(ReplyOutcome::OptedOut) => {
            tracing::info!(conversation, "customer opted out; no automatic text")
        }
        Ok(ReplyOutcome::UnknownConversation) => {
            tracing::warn!(conversation, "automatic text for an unknown conversation")
        }
        Err(e) => tracing::warn!(conversation, error = %e, "could not store the automatic text"),
    }
}

/// Records a timeline event; nobody waits for the outcome, so it is logged.
/// A lost event loses a line of the timeline, never a message.
async fn store_timeline(log: Arc<dyn MessageLog>, entry: Reply) {
    let conversation = entry.conversation.clone();
    match log.append_reply(entry).await {
        Ok(ReplyOutcome::Accepted { seq, duplicate }) => {
            tracing::debug!(conversation, seq, duplicate, "timeline event recorded")
        }
        Ok(outcome) => {
            tracing::warn!(conversation, ?outcome, "timeline event not recorded")
        }
        Err(e) => tracing::warn!(conversation, error = %e, "could not record the timeline event"),
    }
}

/// Stores an agent's reply and answers on its connection with `ack` or
/// `error`.
async fn store_reply(log: Arc<dyn MessageLog>, reply: Reply, frames: mpsc::Sender<Outgoing>) {
    let (conversation, client_id) = (reply.conversation.clone(), reply.client_id.clone());
    let frame = match log.append_reply(reply).await {
        Ok(ReplyOutcome::Accepted { seq, .. }) => ServerFrame::Ack {
            client_id,
            conversation,
            seq,
        },
        Ok(ReplyOutcome::OptedOut) => ServerFrame::Error {
            code: ErrorCode::OptedOut,
            message: "the customer texted STOP; nothing can be sent until they text START".into(),
            client_id: Some(client_id),
            conversation: Some(conversation),
            fatal: false,
        },
        Ok(ReplyOutcome::UnknownConversation) => ServerFrame::Error {
            code: ErrorCode::NotAssigned,
            message: format!("conversation {conversation} does not exist"),
            client_id: Some(client_id),
            conversation: Some(conversation),
            fatal: false,
        },
        Err(e) => ServerFrame::Error {
            code: ErrorCode::Unavailable,
            message: format!("the reply was not stored ({e}); send it again"),
            client_id: Some(client_id),
            conversation: Some(conversation),
            fatal: false,
        },
    };
    // A full buffer here means the router is about to drop this
    // connection anyway; the agent resends unacked replies on resume.
    let _ = frames.try_send(Outgoing::Frame(frame));
}

/// Claims a conversation; the answer is the event for the core.
async fn claimed(routing: &dyn RoutingState, claim: Claim) -> Event {
    let outcome = match routing.claim(&claim).await {
        Ok(RouteWrite::Written) => ClaimOutcome::Won,
        Ok(RouteWrite::HeldElsewhere) => ClaimOutcome::HeldElsewhere,
        // This instance lost the router lease: the conversation is the new
        // leader's, so let it go as if another router held it (no retry).
        Err(StoreError::Fenced) => ClaimOutcome::HeldElsewhere,
        Err(e) => {
            tracing::error!(conversation = claim.conversation, error = %e, "could not claim; requeued");
            ClaimOutcome::Failed
        }
    };
    Event::Claimed {
        conversation: claim.conversation,
        agent: claim.agent,
        previous: claim.previous,
        outcome,
    }
}

/// Writes a route, retrying a failing store a few times ([`ROUTE_WRITE`]; in
/// its lane, so later writes of the conversation wait for it). A write that
/// never lands would leave the store naming a holder the router has let go.
async fn save_route(
    routing: &dyn RoutingState,
    conversation: &str,
    route: &RouteRecord,
) -> Result<RouteWrite, StoreError> {
    let mut waits = ROUTE_WRITE.delays();
    let mut attempt = 1;
    loop {
        match routing.save_route(conversation, route).await {
            // Not the leader any more: retrying cannot help.
            Err(StoreError::Fenced) => return Err(StoreError::Fenced),
            Err(e) if attempt < ROUTE_WRITE_ATTEMPTS => {
                crate::telemetry::store_error("save_route");
                let wait = waits.next_delay();
                tracing::warn!(conversation, error = %e, retry_in = ?wait, "could not save the route; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// A resolve to record ([`Effect::Resolved`]).
struct Resolve {
    conversation: String,
    agent: String,
    upto_seq: u64,
    at_ms: u64,
}

impl Resolve {
    /// Queues the transcript, then records the resolve: a crash in between
    /// repeats the resolve instead of losing the transcript. If recording
    /// fails, the core is told who the store may still name as holder.
    async fn record(self, ports: &RouterPorts, transcripts: Option<Transcripts>) -> Option<Event> {
        let Resolve {
            conversation,
            agent,
            upto_seq,
            at_ms,
        } = self;
        if let Some(transcripts) = transcripts {
            // The transcript covers everything durable, including a reply
            // acked a moment ago that the feed has not brought here yet.
            let stored = match ports.log.conversation(&conversation).await {
                Ok(record) => record.map_or(0, |r| r.last_seq),
                Err(e) => {
                    tracing::warn!(conversation, error = %e, "transcript ends at the routed messages");
                    0
                }
            };
            transcripts
                .resolved(&conversation, upto_seq.max(stored), &agent, at_ms)
                .await;
        }
        let route = RouteRecord::Resolved {
            at_ms,
            upto_seq,
            by: Some(agent.clone()),
        };
        match save_route(&*ports.routing, &conversation, &route).await {
            Ok(_) => None,
            Err(e) => {
                tracing::error!(conversation, error = %e, "could not record the resolve");
                Some(Event::ResolveUnsaved {
                    conversation,
                    agent,
                })
            }
        }
    }
}
