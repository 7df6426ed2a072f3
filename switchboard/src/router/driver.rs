//! The router's async shell: one task that feeds the state machine
//! ([`Core`]) with commands from agent connections, the change feed and
//! timers, and performs the effects it returns — the only place the router
//! does I/O.
//!
//! Effects run in order. Writes the router must not get ahead of (a claim,
//! a route, the transcript jobs of a resolve) are awaited before the next
//! effect; what a connection is sent is queued on its bounded buffer without
//! waiting, and the connection's own task reads from the store whatever the
//! frame needs. A claim's or a conditional route write's outcome is fed
//! back to the state machine at once, and its effects run before the rest.

use super::conn::{Broken, Conn, ConnId, Outgoing};
use super::event::{ClaimOutcome, Effect, Event};
use super::machine::{Core, Recovered};
use super::{Command, RouterConfig, RouterHandle};
use crate::backoff::{Delays, FEED_ERROR, ROUTE_WRITE};
use crate::clock::now_ms;
use crate::jobs::RouterJobs;
use crate::store::{
    AgentSettings, Change, ChangeFeed, ChangeId, MessageLog, ReplyOutcome, RouteRecord, RouteWrite,
    RoutingState, StoreError,
};
use std::collections::{HashMap, VecDeque};
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
    log: Arc<dyn MessageLog>,
    feed: Arc<dyn ChangeFeed>,
    routing: Arc<dyn RoutingState>,
    core: Core,
    /// Live connections by id, with the agent each belongs to.
    conns: HashMap<ConnId, (String, Conn)>,
    /// Connections found broken while sending, to report to the core.
    lost: Vec<(String, ConnId)>,
    cursor: ChangeId,
    grace: Duration,
    handle: RouterHandle,
    jobs: Option<RouterJobs>,
    /// Waits between retries of failed claims ([`Effect::RetryDrain`]);
    /// reset when a claim succeeds.
    drain_retry: Delays,
    /// A [`Command::RetryDrain`] is on its way: one at a time.
    drain_retry_pending: bool,
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
    let RouterPorts { log, feed, routing } = ports;
    let settings: HashMap<String, AgentSettings> = routing.agents().await?.into_iter().collect();
    let mut routes = Vec::new();
    for (conversation, route) in routing.routes().await? {
        let head = match route {
            RouteRecord::Resolved { .. } => 0,
            _ => log
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
    let cursor = feed.load_cursor().await?;
    let (core, effects) = Core::recover(&config.agent_names, &settings, routes, now_ms());
    tracing::info!(
        cursor,
        live = core.live.len(),
        queued = core.queue.len(),
        "router state recovered"
    );
    let mut driver = Driver {
        log,
        feed,
        routing,
        core,
        conns: HashMap::new(),
        lost: Vec::new(),
        cursor,
        grace: config.grace,
        handle: handle.clone(),
        jobs: config.jobs,
        drain_retry: FEED_ERROR.delays(),
        drain_retry_pending: false,
    };
    driver.perform(effects).await;
    let task = tokio::spawn(async move { driver.run(rx, shutdown).await });
    Ok((handle, task))
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Waiting alerts are checked on a timer; without ALERT_TO it never fires.
        let alert_every = self.jobs.as_ref().and_then(RouterJobs::tick_every);
        let mut alert_tick =
            tokio::time::interval(alert_every.unwrap_or(Duration::from_secs(3600)));
        alert_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // After a failed feed read the feed rests a while (FEED_ERROR);
        // commands keep being served meanwhile.
        let mut feed_retry = FEED_ERROR.delays();
        let mut feed_resumes: Option<Instant> = None;
        loop {
            let feed = self.feed.clone();
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = alert_tick.tick(), if alert_every.is_some() => self.check_waits(),
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
    }

    async fn command(&mut self, command: Command) {
        let event = match command {
            Command::Connect {
                agent,
                conn,
                resume,
                available,
                capacity,
            } => {
                let id = conn.id;
                self.conns.insert(id, (agent.clone(), conn));
                Event::Connected {
                    agent,
                    conn: id,
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
                available,
                capacity,
            } => Event::Availability {
                agent,
                available,
                capacity,
            },
            Command::Reply {
                agent,
                conversation,
                client_id,
                body,
            } => Event::Reply {
                agent,
                conversation,
                client_id,
                body,
            },
            Command::Resolve {
                agent,
                conversation,
            } => Event::Resolve {
                agent,
                conversation,
            },
            Command::Transfer {
                agent,
                conversation,
                to,
            } => Event::Transfer {
                agent,
                conversation,
                to,
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
        let changes = self.feed.changes_after(self.cursor, FEED_BATCH).await;
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
        self.cursor = last;
        self.feed.save_cursor(last).await
    }

    async fn to_event(&self, change: Change) -> Result<Option<Event>, StoreError> {
        Ok(Some(match change {
            Change::Message { c, s, d } => {
                let direction = match d {
                    Some(d) => d,
                    // Written before changes carried the direction.
                    None => match self.log.message(&c, s).await? {
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
        let effects = self.core.step(event, now_ms());
        self.perform(effects).await;
        crate::telemetry::router(&self.core.stats(now_ms()));
    }

    /// Performs effects in order; outcomes fed back to the core have their
    /// effects run next, and connections that broke are reported last.
    async fn perform(&mut self, effects: Vec<Effect>) {
        let mut work: VecDeque<Effect> = effects.into();
        loop {
            while let Some(effect) = work.pop_front() {
                if let Some(event) = self.perform_one(effect).await {
                    let more = self.core.step(event, now_ms());
                    for effect in more.into_iter().rev() {
                        work.push_front(effect);
                    }
                }
            }
            let Some((agent, conn)) = self.lost.pop() else {
                break;
            };
            work.extend(
                self.core
                    .step(Event::Disconnected { agent, conn }, now_ms()),
            );
        }
    }

    /// Performs one effect; returns the event its outcome causes, if any.
    async fn perform_one(&mut self, effect: Effect) -> Option<Event> {
        match effect {
            Effect::Send { agent, conn, out } => {
                let (_, connection) = self.conns.get_mut(&conn)?;
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
                None
            }
            Effect::Close { conn, frame } => {
                if let Some((_, mut connection)) = self.conns.remove(&conn) {
                    connection.close_with(frame);
                }
                None
            }
            Effect::StoreReply { conn, reply } => {
                let (_, connection) = self.conns.get(&conn)?;
                let frames = connection.frames.clone();
                // Storing waits for a flush; the router must not.
                let log = self.log.clone();
                tokio::spawn(async move {
                    let (conversation, client_id) =
                        (reply.conversation.clone(), reply.client_id.clone());
                    let frame = match log.append_reply(reply).await {
                        Ok(ReplyOutcome::Accepted { seq, .. }) => ServerFrame::Ack {
                            client_id,
                            conversation,
                            seq,
                        },
                        Ok(ReplyOutcome::OptedOut) => ServerFrame::Error {
                            code: ErrorCode::OptedOut,
                            message: "the customer texted STOP; nothing can be sent until they text START"
                                .into(),
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
                });
                None
            }
            Effect::SaveRoute {
                conversation,
                route,
            } => match self.save_route(&conversation, &route).await {
                Ok(RouteWrite::Written) => None,
                Ok(RouteWrite::HeldElsewhere) => Some(Event::HeldElsewhere { conversation }),
                Err(e) => {
                    tracing::error!(conversation, error = %e, "could not save the route");
                    None
                }
            },
            Effect::Claim(claim) => {
                let outcome = match self.routing.claim(&claim).await {
                    Ok(RouteWrite::Written) => {
                        self.drain_retry.reset();
                        ClaimOutcome::Won
                    }
                    Ok(RouteWrite::HeldElsewhere) => ClaimOutcome::HeldElsewhere,
                    Err(e) => {
                        tracing::error!(conversation = claim.conversation, error = %e, "could not claim; requeued");
                        ClaimOutcome::Failed
                    }
                };
                Some(Event::Claimed {
                    conversation: claim.conversation,
                    agent: claim.agent,
                    previous: claim.previous,
                    outcome,
                })
            }
            Effect::Resolved {
                conversation,
                agent,
                upto_seq,
                at_ms,
            } => self.resolved(conversation, agent, upto_seq, at_ms).await,
            Effect::SaveAgent {
                agent,
                available,
                capacity,
            } => {
                let settings = AgentSettings {
                    available,
                    capacity,
                };
                if let Err(e) = self.routing.save_agent(&agent, settings).await {
                    tracing::error!(agent, error = %e, "could not save the agent's availability");
                }
                None
            }
            Effect::StartGrace { agent, generation } => {
                let (handle, grace) = (self.handle.clone(), self.grace);
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    handle
                        .send(Command::GraceExpired { agent, generation })
                        .await;
                });
                None
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
                None
            }
        }
    }

    /// Writes a route, retrying a failing store a few times ([`ROUTE_WRITE`],
    /// in place: later effects must not overtake it). A write that never
    /// lands would leave the store naming a holder the router has let go.
    async fn save_route(
        &self,
        conversation: &str,
        route: &RouteRecord,
    ) -> Result<RouteWrite, StoreError> {
        let mut waits = ROUTE_WRITE.delays();
        let mut attempt = 1;
        loop {
            match self.routing.save_route(conversation, route).await {
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

    /// Queues the transcript, then records the resolve: a crash in between
    /// repeats the resolve instead of losing the transcript. If recording
    /// fails, the core is told who the store may still name as holder.
    async fn resolved(
        &mut self,
        conversation: String,
        agent: String,
        upto_seq: u64,
        at_ms: u64,
    ) -> Option<Event> {
        let (conversation, agent) = (conversation.as_str(), agent.as_str());
        if let Some(jobs) = &self.jobs {
            // The transcript covers everything durable, including a reply
            // acked a moment ago that the feed has not brought here yet.
            let stored = match self.log.conversation(conversation).await {
                Ok(record) => record.map_or(0, |r| r.last_seq),
                Err(e) => {
                    tracing::warn!(conversation, error = %e, "transcript ends at the routed messages");
                    0
                }
            };
            jobs.resolved(conversation, upto_seq.max(stored), agent, at_ms)
                .await;
        }
        let route = RouteRecord::Resolved { at_ms, upto_seq };
        match self.save_route(conversation, &route).await {
            Ok(_) => None,
            Err(e) => {
                tracing::error!(conversation, error = %e, "could not record the resolve");
                Some(Event::ResolveUnsaved {
                    conversation: conversation.to_string(),
                    agent: agent.to_string(),
                })
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
