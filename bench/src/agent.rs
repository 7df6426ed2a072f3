//! An instrumented agent: one authenticated WebSocket to the switchboard that
//! logs every customer message delivered to it.
//!
//! Each delivery is logged with its benchmark id (from the body), its
//! conversation and seq, the time it arrived and how many bytes the socket
//! had read by then, which is all the suite needs for latency, bytes per
//! message and the exactly-once audit. Agents run on their own runtime thread
//! so that the load generator's busy workers do not delay reading frames.

use crate::counting::CountingStream;
use crate::ledger::Ledger;
use crate::webhook::{customer_index, id_of_body};
use anyhow::Context as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use hyper::header::{HeaderValue, AUTHORIZATION};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use switchboard_protocol::{decode, encode, ClientFrame, Direction, Message, ServerFrame, AGENT_WS_PATH};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
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
    /// Bytes the socket had read when this frame was decoded.
    pub wire_bytes: u64,
}

/// What an agent saw so far.
#[derive(Debug, Default)]
pub struct AgentLog {
    pub deliveries: Vec<Delivery>,
    /// Error frames, unexpected closes, undecodable frames.
    pub problems: Vec<String>,
    pub frames: u64,
    /// JSON text bytes of all frames (the wire count adds WebSocket framing).
    pub payload_bytes: u64,
}

pub struct Agent {
    pub name: String,
    wire_bytes: Arc<AtomicU64>,
    log: Arc<Mutex<AgentLog>>,
}

impl Agent {
    /// Connects on `runtime`, sends `hello` (available, with capacity) and
    /// returns once the switchboard answered `welcome`.
    pub async fn connect(
        runtime: &tokio::runtime::Handle,
        config: AgentConfig,
        ledger: Arc<Ledger>,
    ) -> anyhow::Result<Agent> {
        let wire_bytes = Arc::new(AtomicU64::new(0));
        let log = Arc::new(Mutex::new(AgentLog::default()));
        let (welcomed_tx, welcomed_rx) = oneshot::channel();
        let name = config.name.clone();
        runtime.spawn(session(config, ledger, wire_bytes.clone(), log.clone(), welcomed_tx));
        match tokio::time::timeout(WELCOME_TIMEOUT, welcomed_rx).await {
            Ok(Ok(Ok(()))) => Ok(Agent { name, wire_bytes, log }),
            Ok(Ok(Err(e))) => Err(e.context(format!("agent {name}"))),
            Ok(Err(_)) => anyhow::bail!("agent {name}: session ended before welcome"),
            Err(_) => anyhow::bail!("agent {name}: no welcome within {WELCOME_TIMEOUT:?}"),
        }
    }

    /// Bytes read from the socket so far.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes.load(Ordering::Relaxed)
    }

    pub fn log(&self) -> MutexGuard<'_, AgentLog> {
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

type Welcomed = oneshot::Sender<anyhow::Result<()>>;

/// The whole life of one agent connection.
async fn session(
    config: AgentConfig,
    ledger: Arc<Ledger>,
    wire_bytes: Arc<AtomicU64>,
    log: Arc<Mutex<AgentLog>>,
    welcomed: Welcomed,
) {
    let mut welcomed = Some(welcomed);
    if let Err(e) = run_session(&config, &ledger, &wire_bytes, &log, &mut welcomed).await {
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
    wire_bytes: &Arc<AtomicU64>,
    log: &Mutex<AgentLog>,
    welcomed: &mut Option<Welcomed>,
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(config.addr).await?;
    stream.set_nodelay(true)?;
    let stream = CountingStream::new(stream, wire_bytes.clone());
    let mut request = format!("ws://{}{}", config.addr, AGENT_WS_PATH).into_client_request()?;
    let credentials = BASE64.encode(format!("{}:{}", config.name, config.password));
    request
        .headers_mut()
        .insert(AUTHORIZATION, HeaderValue::from_str(&format!("Basic {credentials}"))?);
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .context("WebSocket handshake")?;
    let hello = ClientFrame::Hello {
        resume: BTreeMap::new(),
        available: Some(true),
        capacity: Some(config.capacity),
    };
    ws.send(WsMessage::text(encode(&hello))).await?;

    while let Some(message) = ws.next().await {
        let text = match message.context("reading a frame")? {
            WsMessage::Text(text) => text,
            WsMessage::Close(reason) => {
                lock(log).problems.push(format!("server closed the connection: {reason:?}"));
                return Ok(());
            }
            // Pings are answered by tungstenite itself; nothing else is expected.
            _ => continue,
        };
        let at_ns = ledger.now_ns();
        let frame = decode::<ServerFrame>(text.as_str());
        let mut log = lock(log);
        log.frames += 1;
        log.payload_bytes += text.len() as u64;
        let wire = wire_bytes.load(Ordering::Relaxed);
        match frame {
            Ok(ServerFrame::Welcome { .. }) => {
                if let Some(tx) = welcomed.take() {
                    let _ = tx.send(Ok(()));
                }
            }
            Ok(ServerFrame::Assigned { history, .. }) => {
                for message in &history {
                    deliver(&mut log, ledger, message, at_ns, wire);
                }
            }
            Ok(ServerFrame::Message { message }) => deliver(&mut log, ledger, &message, at_ns, wire),
            Ok(ServerFrame::Error { code, message, .. }) => {
                log.problems.push(format!("error frame {code:?}: {message}"));
            }
            Ok(_) => {}
            Err(e) => log.problems.push(format!("undecodable frame: {e}")),
        }
    }
    lock(log).problems.push("connection ended without a close frame".into());
    Ok(())
}

fn deliver(log: &mut AgentLog, ledger: &Ledger, message: &Message, at_ns: u64, wire_bytes: u64) {
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
        wire_bytes,
    });
}

fn lock(log: &Mutex<AgentLog>) -> MutexGuard<'_, AgentLog> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
