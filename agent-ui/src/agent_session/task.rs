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
use futures_util::StreamExt;
use switchboard_protocol::client::{
    self, Backoff, Beat, ConnectError, Credentials, Heartbeat, Incoming, Socket as Upstream,
};
use switchboard_protocol::{ClientFrame, ErrorCode, ServerFrame};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, Sleep};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use super::model::AgentModel;
use super::{Attached, Command, Ended, LinkSettings};
use crate::browser::{BrowserErrorCode, BrowserFrame, UpstreamStatus};
use crate::enrich::now_ms;

/// Labels are refreshed at most this often, so messages whose labels change a few
/// milliseconds apart share one `relabel` frame.
const MIN_RELABEL_GAP: Duration = Duration::from_millis(250);
/// Replies kept for resending after a reconnect; beyond that the oldest are dropped
/// (their tabs still show them as unconfirmed and offer a retry).
const MAX_PENDING_REPLIES: usize = 1024;
/// How long closing the upstream may take on sign-out or shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

type Connecting = Pin<Box<dyn Future<Output = Result<Upstream, ConnectError>> + Send>>;

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
    Failed(ConnectError),
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
    /// This instance's client id (`hello.client`).
    client: String,
    settings: LinkSettings,
    commands: mpsc::Receiver<Command>,
    connected: watch::Sender<bool>,
    frames: broadcast::Sender<Utf8Bytes>,
    model: AgentModel,
    link: Link,
    /// Waits between reconnect attempts (the protocol client's one policy).
    backoff: Backoff,
    /// Replies sent but not yet acknowledged (or refused): resent after a reconnect,
    /// where the switchboard's `client_id` idempotency stores each at most once.
    pending: Vec<ClientFrame>,
    /// The Queue view's widest "Show more" (`queue_window`), asked for
    /// again after each `welcome`: a new upstream session lists 50.
    queue_window: Option<usize>,
    /// Pings while the link is up; gives it up after a silence.
    heartbeat: Heartbeat,
    idle_since: Option<Instant>,
    relabel_at: Option<Instant>,
}

impl Task {
    pub(super) fn new(
        credentials: Credentials,
        client: String,
        settings: LinkSettings,
        commands: mpsc::Receiver<Command>,
        connected: watch::Sender<bool>,
        frames: broadcast::Sender<Utf8Bytes>,
    ) -> Self {
        let model = AgentModel::new(&credentials.name);
        Task {
            credentials,
            client,
            settings,
            commands,
            connected,
            frames,
            model,
            link: Link::Dormant,
            backoff: Backoff::default(),
            pending: Vec::new(),
            queue_window: None,
            heartbeat: Heartbeat::new(settings.ping_every),
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
                    for frame in self.model.relabel_all(now_ms()) {
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
        self.link = Link::Connecting(Box::pin(async move { client::connect(&credentials).await }));
    }

    /// Schedules the next attempt and tells the browsers why and when.
    fn retry_later(&mut self, why: &str) {
        let delay = self.backoff.next_delay();
        self.link = Link::Waiting(Box::pin(tokio::time::sleep(delay)));
        let detail = format!("{why}; retrying in {}", seconds(delay));
        self.set_upstream(UpstreamStatus::Reconnecting, &detail);
    }

    fn on_lost(&mut self, why: &str) {
        crate::telemetry::upstream_lost();
        // The raw reason (an OS error, a close code) is for the log; the agent
        // is told what it means for them.
        tracing::info!(agent = %self.credentials.name, why, "upstream link lost");
        // A working link that drops is retried at once (well, after the first,
        // shortest delay), however many attempts an earlier outage took.
        self.backoff.reset();
        self.retry_later("the connection to the switchboard was lost");
    }

    async fn on_connected(&mut self, mut socket: Box<Upstream>) {
        let hello = ClientFrame::Hello {
            resume: self.model.resume(),
            available: None,
            capacity: None,
            client: Some(self.client.clone()),
        };
        match client::send(&mut socket, &hello).await {
            Ok(()) => {
                self.link = Link::Up(socket);
                self.heartbeat.restart();
            }
            Err(e) => self.on_lost(&e.to_string()),
        }
    }

    async fn on_link_event(&mut self, event: LinkEvent) -> Option<Ended> {
        match event {
            LinkEvent::Frame(message) => {
                // Any traffic, pings included, proves the link is alive.
                self.heartbeat.heard();
                match client::read(&message) {
                    Incoming::Frame(frame) => return self.on_frame(frame).await,
                    Incoming::Closed(why) => {
                        self.on_lost(why.as_deref().unwrap_or("closed by the switchboard"));
                    }
                    Incoming::Unreadable(e) => {
                        tracing::warn!(agent = %self.credentials.name, error = %e, "unreadable frame from the switchboard");
                    }
                    // Pings are answered by tungstenite.
                    Incoming::Control => {}
                }
            }
            LinkEvent::Lost(why) => self.on_lost(&why),
            LinkEvent::Connected(socket) => self.on_connected(socket).await,
            LinkEvent::Failed(ConnectError::Unauthorized) => {
                self.broadcast(BrowserFrame::error(
                    BrowserErrorCode::SignedOut,
                    "the switchboard no longer accepts this agent's password; sign in again",
                ));
                return Some(Ended::CredentialsRejected);
            }
            LinkEvent::Failed(e) => {
                tracing::debug!(agent = %self.credentials.name, error = %e, "upstream connect failed");
                self.retry_later(human_reason(&e));
            }
            LinkEvent::RetryDue => self.start_connecting(),
        }
        None
    }

    async fn on_frame(&mut self, frame: ServerFrame) -> Option<Ended> {
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
        crate::telemetry::received(&frame);
        let (started, enriching) = (Instant::now(), crate::telemetry::carries_messages(&frame));
        let outs = self.model.apply(frame, now_ms());
        if enriching {
            crate::telemetry::enriched(started.elapsed());
        }
        for out in outs {
            self.broadcast(out);
        }
        if welcome {
            self.backoff.reset();
            self.set_upstream(UpstreamStatus::Connected, "connected");
            tracing::info!(agent = %self.credentials.name, "upstream session live");
            for reply in self.pending.clone() {
                self.send_upstream(&reply).await;
            }
            // A supervisor's browsers show the overview in every view (the live
            // panel); it is asked for once per upstream session.
            if self.model.is_supervisor() {
                self.send_upstream(&ClientFrame::Supervise).await;
            }
            if let Some(limit) = self.queue_window {
                self.send_upstream(&ClientFrame::QueueWindow { limit })
                    .await;
            }
            // A watch lasts as long as the upstream session: a new one
            // watches again (and its `watching` replaces what is shown).
            if let Some(conversation) = self.model.watched_id().map(str::to_string) {
                self.send_upstream(&ClientFrame::Watch { conversation })
                    .await;
            }
        }
        self.schedule_relabel();
        None
    }

    /// Forgets a reply (or note) the switchboard has answered.
    fn settle(&mut self, client_id: &str) {
        self.pending.retain(|f| {
            !matches!(f, ClientFrame::Reply { client_id: c, .. }
                | ClientFrame::Note { client_id: c, .. } if c == client_id)
        });
    }

    async fn send_upstream(&mut self, frame: &ClientFrame) -> bool {
        let Link::Up(socket) = &mut self.link else {
            return false;
        };
        match client::send(socket, frame).await {
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
            Command::Read(conversation, seq) => {
                if let Some(frame) = self.model.mark_read(&conversation, seq) {
                    self.broadcast(frame);
                }
            }
            Command::Holds(conversation, reply) => {
                let _ = reply.send(self.model.may_read_media(&conversation));
            }
            Command::Password(password) => self.credentials.password = password,
            Command::Close => return Some(Ended::Closed),
        }
        None
    }

    async fn forward(&mut self, frame: ClientFrame) {
        let up = matches!(self.link, Link::Up(_));
        if let ClientFrame::Reply { .. } | ClientFrame::Note { .. } = &frame {
            // Kept until answered (a note like a reply: idempotent on its id). Before the welcome (or while down) it waits: the
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
        if let ClientFrame::QueueWindow { limit } = &frame {
            self.queue_window = Some(*limit);
        }
        if let ClientFrame::Unwatch = &frame {
            self.model.unwatch();
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
            match self.heartbeat.check() {
                Beat::Quiet => {}
                Beat::Ping(ping) => {
                    self.send_upstream(&ping).await;
                }
                Beat::Silent(silence) => {
                    self.close_link().await;
                    self.on_lost(&format!("no answer in {}", seconds(silence)));
                }
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

/// What a failed connect means, in words for the agent's banner (the raw error
/// goes to the log).
fn human_reason(e: &ConnectError) -> &'static str {
    match e {
        ConnectError::Unreachable(_) => "the switchboard is not answering (it may be restarting)",
        ConnectError::Refused(_) => "the switchboard is not accepting connections right now",
        ConnectError::Request(_) => {
            "the console server's switchboard address is wrong (SWITCHBOARD_WS_URL)"
        }
        ConnectError::Unauthorized => "the switchboard refused this agent's password",
    }
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
    fn banner_reasons_hide_the_raw_error() {
        let raw = "IO error: Connection refused (os error 111)";
        for e in [
            ConnectError::Unreachable(raw.into()),
            ConnectError::Refused(503),
            ConnectError::Request(raw.into()),
        ] {
            let said = human_reason(&e);
            assert!(!said.contains("error"), "{said}");
            assert!(said.contains("switchboard"), "{said}");
        }
    }
}
