//! An instrumented browser tab of the agent UI, for the (g) phase.
//!
//! It does what an agent's browser does: signs in through the login form
//! (`POST /login` → the `sb_session` cookie), opens `/ws` with that cookie,
//! raises the agent's availability once the agent UI says its upstream link
//! is live, and then logs every customer message the page would show — from
//! `state`, `assigned` and `message` frames — with the time its frame
//! arrived on the ledger's clock. The log has the same shape as a direct
//! agent's ([`crate::agent`]), so latency and the exactly-once audit are
//! computed the same way for both. Each message is also checked for what the
//! agent UI must add (sentiment on inbound messages, a humanized time), so a
//! latency figure cannot come from frames that skipped the enrichment.

use crate::agent::{frame_len, Delivery, UNKNOWN};
use crate::ledger::Ledger;
use crate::load;
use crate::webhook::{customer_index, id_of_body};
use anyhow::Context as _;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The agent UI's session cookie (`docs/agent-ui.md`).
const SESSION_COOKIE: &str = "sb_session";
/// The agent UI's sign-in form CSRF cookie.
const LOGIN_CSRF_COOKIE: &str = "sb_login=";
/// Sign-in, upstream link and availability echo together; a healthy agent UI
/// needs milliseconds.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct BrowserConfig {
    /// The agent UI.
    pub addr: SocketAddr,
    pub name: String,
    pub password: String,
    /// Conversations at once, set from the tab like the console's field.
    pub capacity: u32,
}

/// What a tab saw so far.
#[derive(Debug, Default)]
pub struct BrowserLog {
    /// Customer messages, in the order the tab got them.
    pub deliveries: Vec<Delivery>,
    /// Frames received, by `type` (and `ping`/`close` for control frames).
    pub frame_types: BTreeMap<String, u64>,
    /// Error frames, unexpected closes, undecodable frames.
    pub problems: Vec<String>,
    /// Messages shown without sentiment (inbound) or without a time label.
    pub unenriched: u64,
    /// `state` frames after the first: the tab fell behind and was resynced.
    pub resyncs: u64,
}

pub struct Browser {
    pub name: String,
    ws_bytes: Arc<AtomicU64>,
    log: Arc<Mutex<BrowserLog>>,
}

impl Browser {
    /// Signs in, then runs the tab on `runtime` and returns once the agent
    /// UI has echoed the raised availability.
    pub async fn open(
        runtime: &tokio::runtime::Handle,
        config: BrowserConfig,
        ledger: Arc<Ledger>,
    ) -> anyhow::Result<Browser> {
        let name = config.name.clone();
        let cookie = tokio::time::timeout(
            READY_TIMEOUT,
            sign_in(config.addr, &config.name, &config.password),
        )
        .await
        .map_err(|_| anyhow::anyhow!("sign-in as {name} took over {READY_TIMEOUT:?}"))??;
        let ws_bytes = Arc::new(AtomicU64::new(0));
        let log = Arc::new(Mutex::new(BrowserLog::default()));
        let (ready_tx, ready_rx) = oneshot::channel();
        let tab = Tab {
            config,
            ledger,
            ws_bytes: ws_bytes.clone(),
            log: log.clone(),
            ready: Some(ready_tx),
            seen: HashSet::new(),
            states: 0,
        };
        runtime.spawn(tab.run(cookie));
        match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(Browser {
                name,
                ws_bytes,
                log,
            }),
            Ok(Ok(Err(e))) => Err(e.context(format!("browser tab of {name}"))),
            Ok(Err(_)) => anyhow::bail!("browser tab of {name} ended before it was ready"),
            Err(_) => anyhow::bail!("browser tab of {name}: not ready within {READY_TIMEOUT:?}"),
        }
    }

    /// WebSocket bytes (frame headers + payloads) received so far.
    pub fn ws_bytes(&self) -> u64 {
        self.ws_bytes.load(Ordering::Relaxed)
    }

    pub fn log(&self) -> MutexGuard<'_, BrowserLog> {
        lock(&self.log)
    }
}

/// The sign-in form's CSRF cookie (`name=value`) and the token in its hidden field.
async fn login_form(addr: SocketAddr) -> anyhow::Result<(String, String)> {
    let mut sender = load::connect(addr).await?;
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = "/login".parse()?;
    request
        .headers_mut()
        .insert(HOST, HeaderValue::from_str(&addr.to_string())?);
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(LOGIN_CSRF_COOKIE))
        .and_then(|value| value.split(';').next())
        .map(str::to_string)
        .context("GET /login set no CSRF cookie")?;
    let body = response.into_body().collect().await?.to_bytes();
    let html = String::from_utf8_lossy(&body);
    let token = html
        .split_once("name=\"csrf\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(token, _)| token.to_string())
        .context("the sign-in form has no CSRF token")?;
    Ok((cookie, token))
}

/// `POST /login` like the sign-in form (after loading it, for its CSRF
/// token); the session cookie's value.
async fn sign_in(addr: SocketAddr, name: &str, password: &str) -> anyhow::Result<String> {
    let (csrf_cookie, token) = login_form(addr).await?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", name)
        .append_pair("password", password)
        .append_pair("csrf", &token)
        .finish();
    let mut sender = load::connect(addr).await?;
    let mut request = Request::new(Full::new(Bytes::from(form)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = "/login".parse()?;
    let headers = request.headers_mut();
    headers.insert(HOST, HeaderValue::from_str(&addr.to_string())?);
    headers.insert(COOKIE, HeaderValue::from_str(&csrf_cookie)?);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_string);
    response.into_body().collect().await?;
    anyhow::ensure!(
        status == StatusCode::SEE_OTHER,
        "sign-in as {name} answered {status}"
    );
    cookie
        .filter(|c| !c.is_empty())
        .with_context(|| format!("sign-in as {name} set no {SESSION_COOKIE} cookie"))
}

/// The frames the bench reads; serde skips every other field.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    State {
        upstream: String,
        conversations: Vec<ShownConversation>,
    },
    Upstream {
        status: String,
    },
    Assigned {
        conversation: ShownConversation,
    },
    Message {
        message: ShownMessage,
    },
    Availability {
        available: bool,
        capacity: u32,
    },
    Error {
        code: String,
        message: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct ShownConversation {
    messages: Vec<ShownMessage>,
}

/// An EnrichedMessage, as far as the bench checks it.
#[derive(Debug, Deserialize)]
struct ShownMessage {
    conversation: String,
    seq: u64,
    direction: String,
    body: String,
    #[serde(default)]
    sentiment: Option<IgnoredAny>,
    #[serde(default)]
    time: Option<TimeLabel>,
}

#[derive(Debug, Deserialize)]
struct TimeLabel {
    label: String,
}

/// Just the `type`, to count frames the bench does not otherwise read.
#[derive(Debug, Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

type Ready = oneshot::Sender<anyhow::Result<()>>;

/// One tab's socket and bookkeeping, owned by its task.
struct Tab {
    config: BrowserConfig,
    ledger: Arc<Ledger>,
    ws_bytes: Arc<AtomicU64>,
    log: Arc<Mutex<BrowserLog>>,
    ready: Option<Ready>,
    /// (conversation, seq) of every customer message shown.
    seen: HashSet<(String, u64)>,
    states: u64,
}

impl Tab {
    async fn run(mut self, cookie: String) {
        if let Err(e) = self.session(&cookie).await {
            self.fail(e);
        }
    }

    /// Reports `e` to whoever waits for readiness, else logs it.
    fn fail(&mut self, e: anyhow::Error) {
        match self.ready.take() {
            Some(tx) => {
                let _ = tx.send(Err(e));
            }
            None => lock(&self.log).problems.push(format!("{e:#}")),
        }
    }

    async fn session(&mut self, cookie: &str) -> anyhow::Result<()> {
        let addr = self.config.addr;
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        request.headers_mut().insert(
            COOKIE,
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={cookie}"))?,
        );
        let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .context("WebSocket handshake on /ws")?;
        let availability = serde_json::json!({
            "type": "availability",
            "available": true,
            "capacity": self.config.capacity,
        })
        .to_string();
        let mut asked = false;

        while let Some(message) = ws.next().await {
            let message = message.context("reading a frame")?;
            let size = frame_len(&message);
            let ws_bytes = self.ws_bytes.fetch_add(size, Ordering::Relaxed) + size;
            let text = match message {
                WsMessage::Text(text) => text,
                WsMessage::Close(reason) => {
                    let mut log = lock(&self.log);
                    count(&mut log, "close");
                    log.problems
                        .push(format!("the agent UI closed the tab: {reason:?}"));
                    return Ok(());
                }
                // tungstenite answers pings itself; they are only counted.
                WsMessage::Ping(_) => {
                    count(&mut lock(&self.log), "ping");
                    continue;
                }
                _ => {
                    count(&mut lock(&self.log), "other");
                    continue;
                }
            };
            let at_ns = self.ledger.now_ns();
            let frame = serde_json::from_str::<Frame>(text.as_str());
            // The agent UI refuses commands until its upstream session is
            // live, so availability is raised only once it says so.
            let live = match &frame {
                Ok(Frame::State { upstream, .. }) => upstream == "connected",
                Ok(Frame::Upstream { status }) => status == "connected",
                _ => false,
            };
            if live && !asked {
                ws.send(WsMessage::text(availability.clone())).await?;
                asked = true;
            }
            match frame {
                Ok(frame) => self.on_frame(frame, text.as_str(), at_ns, ws_bytes),
                Err(e) => {
                    let mut log = lock(&self.log);
                    count(&mut log, "undecodable");
                    log.problems.push(format!("undecodable frame: {e}"));
                }
            }
        }
        lock(&self.log)
            .problems
            .push("connection ended without a close frame".into());
        Ok(())
    }

    fn on_frame(&mut self, frame: Frame, text: &str, at_ns: u64, ws_bytes: u64) {
        let kind = match &frame {
            Frame::State { .. } => "state",
            Frame::Upstream { .. } => "upstream",
            Frame::Assigned { .. } => "assigned",
            Frame::Message { .. } => "message",
            Frame::Availability { .. } => "availability",
            Frame::Error { .. } => "error",
            Frame::Other => "",
        };
        if kind.is_empty() {
            let name = serde_json::from_str::<TypeOnly>(text).map_or("other".into(), |t| t.kind);
            *lock(&self.log).frame_types.entry(name).or_default() += 1;
        } else {
            count(&mut lock(&self.log), kind);
        }
        match frame {
            Frame::State { conversations, .. } => {
                self.states += 1;
                if self.states > 1 {
                    lock(&self.log).resyncs += 1;
                }
                // A snapshot replaces what the page shows: only messages the
                // tab had not seen yet are news.
                for message in conversations.iter().flat_map(|c| &c.messages) {
                    self.show(message, at_ns, ws_bytes, true);
                }
            }
            Frame::Assigned { conversation } => {
                for message in &conversation.messages {
                    self.show(message, at_ns, ws_bytes, false);
                }
            }
            Frame::Message { message } => self.show(&message, at_ns, ws_bytes, false),
            Frame::Availability {
                available,
                capacity,
            } => {
                if available && capacity == self.config.capacity {
                    if let Some(tx) = self.ready.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
            }
            Frame::Error { code, message } => {
                self.fail(anyhow::anyhow!("error frame {code}: {message}"));
            }
            Frame::Upstream { .. } | Frame::Other => {}
        }
    }

    /// Logs one customer message the page shows. `only_new`: a message the
    /// tab already has is not a delivery (a resync snapshot repeats them).
    fn show(&mut self, message: &ShownMessage, at_ns: u64, ws_bytes: u64, only_new: bool) {
        // Replies (outbound) are not part of the benchmark's traffic.
        if message.direction != "inbound" {
            return;
        }
        let new = self
            .seen
            .insert((message.conversation.clone(), message.seq));
        if only_new && !new {
            return;
        }
        let mut log = lock(&self.log);
        let labelled = message.time.as_ref().is_some_and(|t| !t.label.is_empty());
        if message.sentiment.is_none() || !labelled {
            log.unenriched += 1;
        }
        let id = id_of_body(&message.body);
        if let Some(id) = id {
            self.ledger.mark_received(id);
        }
        log.deliveries.push(Delivery {
            id: id.unwrap_or(UNKNOWN),
            conversation: customer_index(&message.conversation).unwrap_or(UNKNOWN),
            seq: message.seq,
            at_ns,
            ws_bytes,
        });
    }
}

fn count(log: &mut BrowserLog, frame_type: &str) {
    match log.frame_types.get_mut(frame_type) {
        Some(n) => *n += 1,
        None => {
            log.frame_types.insert(frame_type.to_string(), 1);
        }
    }
}

fn lock(log: &Mutex<BrowserLog>) -> MutexGuard<'_, BrowserLog> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_agent_ui_frames_it_needs() {
        let text = r##"{"type":"message","message":{"conversation":"+15551000007","seq":3,
            "direction":"inbound","body":"#42 hi","at_ms":1,"sentiment":{"score":0,"label":"happy","words":[]},
            "time":{"label":"a few seconds ago","exact":"2026-11-21 14:03:07"}},"unread":3,"waiting":null}"##;
        let Ok(Frame::Message { message }) = serde_json::from_str::<Frame>(text) else {
            panic!("not a message frame");
        };
        assert_eq!((message.seq, message.direction.as_str()), (3, "inbound"));
        assert!(message.sentiment.is_some());
        assert_eq!(id_of_body(&message.body), Some(42));
        assert!(matches!(
            serde_json::from_str::<Frame>(r#"{"type":"presence","agents":[]}"#),
            Ok(Frame::Other)
        ));
        assert!(matches!(
            serde_json::from_str::<Frame>(
                r#"{"type":"state","agent":"a","upstream":"connected","conversations":[]}"#
            ),
            Ok(Frame::State { .. })
        ));
    }
}
