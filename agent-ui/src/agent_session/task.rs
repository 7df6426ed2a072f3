//! The task behind an [`AgentHandle`](super::AgentHandle): it owns the upstream socket
//! and the agent's model, and runs one `select!` loop over upstream frames, browser
//! commands, a housekeeping tick and the relabel timer.
//!
//! The upstream link is a small state machine ([`Link`]): connecting, up (hello sent),
//! waiting before a retry, or dormant (closed on purpose while no browser is
//! attached). Keeping the connect attempt and the retry sleep inside the loop, instead
//! of blocking on them, lets browsers attach and get a snapshot even while the
//! switchboard is unreachable.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use switchboard_protocol::{decode, encode, ClientFrame, ErrorCode, ServerFrame};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, Sleep};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use super::model::AgentModel;
use super::{Attached, Command, Ended, LinkSettings};
use crate::browser::{BrowserErrorCode, BrowserFrame, UpstreamStatus};
use crate::enrich::now_ms;
use crate::upstream::{self, Credentials, Upstream, UpstreamError};

/// First retry delay after a failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Silence (not even a pong) for this many ping intervals ends the link.
const SILENT_PINGS: u32 = 3;
/// Labels are refreshed at most this often, so messages whose labels change a few
/// milliseconds apart share one `relabel` frame.
const MIN_RELABEL_GAP: Duration = Duration::from_millis(250);
/// Replies kept for resending after a reconnect; beyond that the oldest are dropped
/// (their tabs still show them as unconfirmed and offer a retry).
const MAX_PENDING_REPLIES: usize = 1024;
/// How long closing the upstream may take on sign-out or shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

type Connecting = Pin<Box<dyn Future<Output = Result<Upstream, UpstreamError>> + Send>>;

enum Link {
    /// Socket open and `hello` sent.
    Up(Box<Upstream>),
    Connecting(Connecting),
    /// Waiting before the next attempt.
    Waiting(Pin<Box<Sleep>>),
    /// Closed on purpose; reopened when a browser attaches.
    Dormant,
}

enum LinkEvent {
    Frame(WsMessage),
    Lost(String),
    Connected(Box<Upstream>),
    Failed(UpstreamError),
    RetryDue,
}

impl Link {
    /// The next thing that happens to the link. Cancel-safe: the connect attempt and
    /// the sleep live in `self`, so a `select!` that picks another branch loses nothing.
    async fn next_event(&mut self) -> LinkEvent {
        match self {
            Link::Up(socket) => match socket.next().await {
                Some(Ok(message)) => LinkEvent::Frame(message),
                Some(Err(e)) => LinkEvent::Lost(e.to_string()),
                None => LinkEvent::Lost("connection closed".into()),
            },
            Link::Connecting(attempt) => match attempt.await {
                Ok(socket) => LinkEvent::Connected(Box::new(socket)),
                Err(e) => LinkEvent::Failed(e),
            },
            Link::Waiting(sleep) => {
                sleep.as_mut().await;
                LinkEvent::RetryDue
            }
            Link::Dormant => std::future::pending().await,
        }
    }
}

pub(super) struct Task {
    credentials: Credentials,
    settings: LinkSettings,
    commands: mpsc::Receiver<Command>,
    connected: watch::Sender<bool>,
    frames: broadcast::Sender<Utf8Bytes>,
    model: AgentModel,
    link: Link,
    /// Failed attempts in a row (for the backoff).
    attempt: u32,
    /// Replies sent but not yet acknowledged (or refused): resent after a reconnect,
    /// where the switchboard's `client_id` idempotency stores each at most once.
    pending: Vec<ClientFrame>,
    last_heard: Instant,
    last_ping: Instant,
    ping_nonce: u64,
    idle_since: Option<Instant>,
    relabel_at: Option<Instant>,
}

impl Task {
    pub(super) fn new(
        credentials: Credentials,
        settings: LinkSettings,
        commands: mpsc::Receiver<Command>,
        connected: watch::Sender<bool>,
        frames: broadcast::Sender<Utf8Bytes>,
    ) -> Self {
        let model = AgentModel::new(&credentials.name);
        Task {
            credentials,
            settings,
            commands,
            connected,
            frames,
            model,
            link: Link::Dormant,
            attempt: 0,
            pending: Vec::new(),
            last_heard: Instant::now(),
            last_ping: Instant::now(),
            ping_nonce: 0,
            idle_since: Some(Instant::now()),
            relabel_at: None,
        }
    }

    pub(super) async fn run(mut self, initial: Option<Upstream>) -> Ended {
        match initial {
            Some(socket) => self.on_connected(Box::new(socket)).await,
            None => self.start_connecting(),
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let relabel_at = self.relabel_at;
            let ended = tokio::select! {
                event = self.link.next_event() => self.on_link_event(event).await,
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    // Every handle is gone: nobody can attach any more.
                    None => Some(Ended::Closed),
                },
                _ = tick.tick() => self.housekeeping().await,
                _ = sleep_until_opt(relabel_at) => {
                    if let Some(frame) = self.model.relabel(now_ms()) {
                        self.broadcast(frame);
                    }
                    self.schedule_relabel();
                    None
                }
            };
            if let Some(ended) = ended {
                self.finish(ended).await;
                return ended;
            }
        }
    }

    fn broadcast(&self, frame: BrowserFrame) {
        // No receivers is normal (no tab open); they get a snapshot when they attach.
        let _ = self.frames.send(Utf8Bytes::from(frame.to_json()));
    }

    fn set_upstream(&mut self, status: UpstreamStatus, detail: &str) {
        self.connected
            .send_replace(status == UpstreamStatus::Connected);
        if let Some(frame) = self.model.set_upstream(status, detail) {
            self.broadcast(frame);
        }
    }

    fn schedule_relabel(&mut self) {
        self.relabel_at = self
            .model
            .next_relabel_in(now_ms())
            .map(|ms| Instant::now() + Duration::from_millis(ms).max(MIN_RELABEL_GAP));
    }

    fn start_connecting(&mut self) {
        let credentials = self.credentials.clone();
        self.link = Link::Connecting(Box::pin(
            async move { upstream::connect(&credentials).await },
        ));
    }

    /// Schedules the next attempt and tells the browsers why and when.
    fn retry_later(&mut self, why: &str) {
        let delay = backoff(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        self.link = Link::Waiting(Box::pin(tokio::time::sleep(delay)));
        let detail = format!("{why}; retrying in {}", seconds(delay));
        self.set_upstream(UpstreamStatus::Reconnecting, &detail);
    }

    fn on_lost(&mut self, why: &str) {
        tracing::info!(agent = %self.credentials.name, why, "upstream link lost");
        // A working link that drops is retried at once (well, after the first,
        // shortest delay), however many attempts an earlier outage took.
        self.attempt = 0;
        self.retry_later(&format!("connection to the switchboard lost ({why})"));
    }

    async fn on_connected(&mut self, mut socket: Box<Upstream>) {
        let hello = ClientFrame::Hello {
            resume: self.model.resume(),
            available: None,
            capacity: None,
        };
        match socket.send(WsMessage::Text(encode(&hello).into())).await {
            Ok(()) => {
                self.link = Link::Up(socket);
                self.last_heard = Instant::now();
                self.last_ping = Instant::now();
            }
            Err(e) => self.on_lost(&e.to_string()),
        }
    }

    async fn on_link_event(&mut self, event: LinkEvent) -> Option<Ended> {
        match event {
            LinkEvent::Frame(message) => {
                self.last_heard = Instant::now();
                match message {
                    WsMessage::Text(text) => return self.on_frame(text.as_str()).await,
                    WsMessage::Close(frame) => {
                        let why = frame
                            .map(|f| f.reason.to_string())
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| "closed by the switchboard".into());
                        self.on_lost(&why);
                    }
                    // Pings are answered by tungstenite; any traffic proves liveness.
                    _ => {}
                }
            }
            LinkEvent::Lost(why) => self.on_lost(&why),
            LinkEvent::Connected(socket) => self.on_connected(socket).await,
            LinkEvent::Failed(UpstreamError::Unauthorized) => {
                self.broadcast(BrowserFrame::error(
                    BrowserErrorCode::SignedOut,
                    "the switchboard no longer accepts this agent's password; sign in again",
                ));
                return Some(Ended::CredentialsRejected);
            }
            LinkEvent::Failed(e) => {
                tracing::debug!(agent = %self.credentials.name, error = %e, "upstream connect failed");
                self.retry_later(&e.to_string());
            }
            LinkEvent::RetryDue => self.start_connecting(),
        }
        None
    }

    async fn on_frame(&mut self, text: &str) -> Option<Ended> {
        let frame = match decode::<ServerFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(agent = %self.credentials.name, error = %e, "unreadable frame from the switchboard");
                return None;
            }
        };
        match &frame {
            ServerFrame::Error {
                code: ErrorCode::Superseded,
                fatal: true,
                message,
                ..
            } => {
                tracing::info!(agent = %self.credentials.name, "signed in elsewhere; ending this session");
                self.broadcast(BrowserFrame::error(
                    BrowserErrorCode::Superseded,
                    format!(
                        "this agent signed in elsewhere ({message}); sign in again to take over"
                    ),
                ));
                return Some(Ended::Superseded);
            }
            ServerFrame::Error {
                fatal: true,
                message,
                ..
            } => {
                // shutting_down, slow_consumer: the switchboard closes; resume elsewhere.
                let why = message.clone();
                self.close_link().await;
                self.on_lost(&why);
                return None;
            }
            ServerFrame::Ack { client_id, .. }
            | ServerFrame::Error {
                client_id: Some(client_id),
                ..
            } => self.settle(client_id),
            _ => {}
        }
        let welcome = matches!(frame, ServerFrame::Welcome { .. });
        for out in self.model.apply(frame, now_ms()) {
            self.broadcast(out);
        }
        if welcome {
            self.attempt = 0;
            self.set_upstream(UpstreamStatus::Connected, "connected");
            tracing::info!(agent = %self.credentials.name, "upstream session live");
            for reply in self.pending.clone() {
                self.send_upstream(&reply).await;
            }
        }
        self.schedule_relabel();
        None
    }

    /// Forgets a reply the switchboard has answered.
    fn settle(&mut self, client_id: &str) {
        self.pending
            .retain(|f| !matches!(f, ClientFrame::Reply { client_id: c, .. } if c == client_id));
    }

    async fn send_upstream(&mut self, frame: &ClientFrame) -> bool {
        let Link::Up(socket) = &mut self.link else {
            return false;
        };
        match socket.send(WsMessage::Text(encode(frame).into())).await {
            Ok(()) => true,
            Err(e) => {
                self.on_lost(&e.to_string());
                false
            }
        }
    }

    async fn on_command(&mut self, command: Command) -> Option<Ended> {
        match command {
            Command::Attach(reply) => {
                if matches!(self.link, Link::Dormant) {
                    self.set_upstream(
                        UpstreamStatus::Reconnecting,
                        "connecting to the switchboard",
                    );
                    self.start_connecting();
                }
                self.idle_since = None;
                let attached = Attached {
                    snapshot: Utf8Bytes::from(self.model.snapshot(now_ms()).to_json()),
                    frames: self.frames.subscribe(),
                };
                let _ = reply.send(attached);
            }
            Command::Forward(frame) => self.forward(frame).await,
            Command::Password(password) => self.credentials.password = password,
            Command::Close => return Some(Ended::Closed),
        }
        None
    }

    async fn forward(&mut self, frame: ClientFrame) {
        let up = matches!(self.link, Link::Up(_));
        if let ClientFrame::Reply { .. } = &frame {
            // Kept until answered. Before the welcome (or while down) it waits: the
            // welcome sends every pending reply, and sending it now too would only
            // earn a second `ack`.
            if self.pending.len() >= MAX_PENDING_REPLIES {
                self.pending.remove(0);
            }
            self.pending.push(frame.clone());
            if *self.connected.borrow() {
                self.send_upstream(&frame).await;
            }
            return;
        }
        if !up {
            self.broadcast(BrowserFrame::error(
                BrowserErrorCode::Unavailable,
                "the switchboard is unreachable; try again when it is back",
            ));
            return;
        }
        if self.send_upstream(&frame).await {
            if let ClientFrame::Availability {
                available,
                capacity,
            } = frame
            {
                // Every tab shows the toggle; the switchboard does not echo it.
                let echo = self.model.set_availability(available, capacity);
                self.broadcast(echo);
            }
        }
    }

    async fn housekeeping(&mut self) -> Option<Ended> {
        if let Link::Up(_) = self.link {
            let silence = self.settings.ping_every * SILENT_PINGS;
            if self.last_heard.elapsed() > silence {
                self.close_link().await;
                self.on_lost(&format!("no answer in {}", seconds(silence)));
            } else if self.last_ping.elapsed() >= self.settings.ping_every {
                self.ping_nonce += 1;
                self.last_ping = Instant::now();
                let ping = ClientFrame::Ping {
                    nonce: Some(self.ping_nonce),
                };
                self.send_upstream(&ping).await;
            }
        }
        if self.frames.receiver_count() > 0 {
            self.idle_since = None;
        } else if let Some(idle_after) = self.settings.idle_after {
            let since = *self.idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= idle_after && !matches!(self.link, Link::Dormant) {
                tracing::info!(agent = %self.credentials.name, "no console open; closing the upstream until one attaches");
                self.close_link().await;
                self.link = Link::Dormant;
                self.set_upstream(
                    UpstreamStatus::Reconnecting,
                    "no console was open; reconnecting",
                );
            }
        }
        None
    }

    /// Closes the upstream socket politely, if there is one.
    async fn close_link(&mut self) {
        if let Link::Up(mut socket) = std::mem::replace(&mut self.link, Link::Dormant) {
            // The inherent close sends a Close frame (SinkExt::close on the Box would not).
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, WebSocketStream::close(&mut socket, None))
                .await;
        }
        self.connected.send_replace(false);
    }

    async fn finish(&mut self, ended: Ended) {
        tracing::info!(agent = %self.credentials.name, ?ended, "agent session ended");
        self.close_link().await;
    }
}

/// Capped exponential backoff with ±20 % jitter, so many agent sessions do not
/// reconnect in lockstep after a switchboard restart.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.min(10))
        .min(MAX_BACKOFF);
    base.mul_f64(rand::rng().random_range(0.8..1.2))
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(300));
        assert!(backoff(0) >= Duration::from_millis(200));
        assert!(backoff(3) >= Duration::from_millis(1600));
        assert!(backoff(30) <= Duration::from_secs(6));
    }
}
