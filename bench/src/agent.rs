//! An instrumented agent: one authenticated WebSocket to the switchboard that
//! logs every customer message delivered to it.
//!
//! Each delivery is logged with its benchmark id (from the body), its
//! conversation and seq, the time it arrived and how many WebSocket bytes the
//! agent had received by then, which is all the suite needs for latency,
//! bytes per message and the exactly-once audit. Agents run on their own
//! runtime thread so that the load generator's busy workers do not delay
//! reading frames.
//!
//! WebSocket bytes are counted per frame (header + payload, as the server
//! sent it) rather than at the socket: the socket is read in large chunks,
//! so socket counts cannot be attributed to the message that was just
//! decoded. The socket total is kept as a cross-check.

use crate::counting::CountingStream;
use crate::ledger::Ledger;
use crate::webhook::{customer_index, id_of_body};
use anyhow::Context as _;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use switchboard_protocol::client::{self, Credentials, Incoming};
use switchboard_protocol::{ClientFrame, Direction, Message, ServerFrame, AGENT_WS_PATH};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Marks a delivery whose body or conversation the benchmark did not write.
pub const UNKNOWN: u32 = u32::MAX;

/// How long the switchboard gets to answer `hello`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub addr: SocketAddr,
    pub name: String,
    pub password: String,
    /// Conversations at once; large, so the router never queues in the bench.
    pub capacity: u32,
}

/// One customer message as an agent received it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// Benchmark id from the body, or [`UNKNOWN`].
    pub id: u32,
    /// Customer index of the conversation, or [`UNKNOWN`].
    pub conversation: u32,
    pub seq: u64,
    /// Arrival on the ledger's clock.
    pub at_ns: u64,
    /// WebSocket bytes received up to and including this frame.
    pub ws_bytes: u64,
}

/// What an agent saw so far.
#[derive(Debug, Default)]
pub struct AgentLog {
    pub deliveries: Vec<Delivery>,
    /// Error frames, unexpected closes, undecodable frames.
    pub problems: Vec<String>,
    /// Frames received, by `type` (and `ping`/`pong`/`close` for control frames).
    pub frame_types: BTreeMap<String, u64>,
}

pub struct Agent {
    pub name: String,
    counters: Arc<Counters>,
    log: Arc<Mutex<AgentLog>>,
}

/// Byte counts the suite reads while the agent runs.
#[derive(Debug, Default)]
struct Counters {
    /// Everything read from the TCP socket, HTTP upgrade included.
    socket: Arc<AtomicU64>,
    /// WebSocket frames: header + payload.
    ws: AtomicU64,
}

impl Agent {
    /// Connects on `runtime`, sends `hello` (available, with capacity) and
    /// returns once the switchboard answered `welcome`.
    pub async fn connect(
        runtime: &tokio::runtime::Handle,
        config: AgentConfig,
        ledger: Arc<Ledger>,
    ) -> anyhow::Result<Agent> {
        let counters = Arc::new(Counters::default());
        let log = Arc::new(Mutex::new(AgentLog::default()));
        let (welcomed_tx, welcomed_rx) = oneshot::channel();
        let name = config.name.clone();
        runtime.spawn(session(
            config,
            ledger,
            counters.clone(),
            log.clone(),
            welcomed_tx,
        ));
        match tokio::time::timeout(WELCOME_TIMEOUT, welcomed_rx).await {
            Ok(Ok(Ok(()))) => Ok(Agent {
                name,
                counters,
                log,
            }),
            Ok(Ok(Err(e))) => Err(e.context(format!("agent {name}"))),
            Ok(Err(_)) => anyhow::bail!("agent {name}: session ended before welcome"),
            Err(_) => anyhow::bail!("agent {name}: no welcome within {WELCOME_TIMEOUT:?}"),
        }
    }

    /// WebSocket bytes (frame headers + payloads) received so far.
    pub fn ws_bytes(&self) -> u64 {
        self.counters.ws.load(Ordering::Relaxed)
    }

    /// Bytes read from the socket so far, HTTP upgrade included.
    pub fn socket_bytes(&self) -> u64 {
        self.counters.socket.load(Ordering::Relaxed)
    }

    pub fn log(&self) -> MutexGuard<'_, AgentLog> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

type Welcomed = oneshot::Sender<anyhow::Result<()>>;

/// The whole life of one agent connection.
async fn session(
    config: AgentConfig,
    ledger: Arc<Ledger>,
    counters: Arc<Counters>,
    log: Arc<Mutex<AgentLog>>,
    welcomed: Welcomed,
) {
    let mut welcomed = Some(welcomed);
    if let Err(e) = run_session(&config, &ledger, &counters, &log, &mut welcomed).await {
        match welcomed.take() {
            Some(tx) => {
                let _ = tx.send(Err(e));
            }
            None => lock(&log).problems.push(format!("{e:#}")),
        }
    }
}

async fn run_session(
    config: &AgentConfig,
    ledger: &Ledger,
    counters: &Counters,
    log: &Mutex<AgentLog>,
    welcomed: &mut Option<Welcomed>,
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(config.addr).await?;
    stream.set_nodelay(true)?;
    let stream = CountingStream::new(stream, counters.socket.clone());
    let credentials = Credentials {
        url: format!("ws://{}{}", config.addr, AGENT_WS_PATH),
        name: config.name.clone(),
        password: config.password.clone(),
    };
    let mut ws = client::connect_over(stream, &credentials)
        .await
        .context("WebSocket handshake")?;
    let hello = ClientFrame::Hello {
        resume: BTreeMap::new(),
        available: Some(true),
        capacity: Some(config.capacity),
        client: None,
    };
    client::send(&mut ws, &hello).await?;

    while let Some(message) = ws.next().await {
        let message = message.context("reading a frame")?;
        let ws_bytes = counters
            .ws
            .fetch_add(frame_len(&message), Ordering::Relaxed)
            + frame_len(&message);
        let frame = match client::read(&message) {
            Incoming::Frame(frame) => Ok(frame),
            Incoming::Unreadable(e) => Err(e),
            Incoming::Closed(reason) => {
                let mut log = lock(log);
                count(&mut log, "close");
                log.problems
                    .push(format!("server closed the connection: {reason:?}"));
                return Ok(());
            }
            // tungstenite answers pings itself; they are only counted.
            Incoming::Control => {
                let kind = match message {
                    WsMessage::Ping(_) => "ping",
                    WsMessage::Pong(_) => "pong",
                    _ => "binary",
                };
                count(&mut lock(log), kind);
                continue;
            }
        };
        let at_ns = ledger.now_ns();
        let mut log = lock(log);
        match frame {
            Ok(ServerFrame::Welcome { .. }) => {
                count(&mut log, "welcome");
                if let Some(tx) = welcomed.take() {
                    let _ = tx.send(Ok(()));
                }
            }
            Ok(ServerFrame::Assigned { history, .. }) => {
                count(&mut log, "assigned");
                for message in &history {
                    deliver(&mut log, ledger, message, at_ns, ws_bytes);
                }
            }
            Ok(ServerFrame::Message { message }) => {
                count(&mut log, "message");
                deliver(&mut log, ledger, &message, at_ns, ws_bytes);
            }
            Ok(ServerFrame::Error { code, message, .. }) => {
                count(&mut log, "error");
                log.problems
                    .push(format!("error frame {code:?}: {message}"));
            }
            Ok(other) => {
                // The frame's own `type`, without a match arm per variant.
                let value = serde_json::to_value(&other).unwrap_or_default();
                let name = value["type"].as_str().unwrap_or("other").to_string();
                *log.frame_types.entry(name).or_default() += 1;
            }
            Err(e) => {
                count(&mut log, "undecodable");
                log.problems.push(format!("undecodable frame: {e}"));
            }
        }
    }
    lock(log)
        .problems
        .push("connection ended without a close frame".into());
    Ok(())
}

/// Bytes of a server → client frame on the wire: unmasked header (2, 4 or
/// 10 bytes by payload length) plus payload.
pub(crate) fn frame_len(message: &WsMessage) -> u64 {
    let payload = message.len() as u64;
    let header = match payload {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    header + payload
}

fn count(log: &mut AgentLog, frame_type: &str) {
    match log.frame_types.get_mut(frame_type) {
        Some(n) => *n += 1,
        None => {
            log.frame_types.insert(frame_type.to_string(), 1);
        }
    }
}

fn deliver(log: &mut AgentLog, ledger: &Ledger, message: &Message, at_ns: u64, ws_bytes: u64) {
    // Replies (outbound) are not part of the benchmark's traffic.
    if message.direction != Direction::Inbound {
        return;
    }
    let id = id_of_body(&message.body);
    if let Some(id) = id {
        ledger.mark_received(id);
    }
    log.deliveries.push(Delivery {
        id: id.unwrap_or(UNKNOWN),
        conversation: customer_index(&message.conversation).unwrap_or(UNKNOWN),
        seq: message.seq,
        at_ns,
        ws_bytes,
    });
}

fn lock(log: &Mutex<AgentLog>) -> MutexGuard<'_, AgentLog> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
