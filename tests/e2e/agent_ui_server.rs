//! The agent UI server end to end, without a browser: a real switchboard and agent
//! UI on ephemeral ports (inside the test process, or as processes where a test
//! needs `kill -9`, SIGTERM or the log), signed webhooks in, and a plain HTTP
//! client plus a WebSocket client standing in for the page.
//!
//! Covers sign-in (wrong password, unreachable switchboard, cookie flags, redirects),
//! the browser socket (snapshot first, enriched messages, replies, bad frames), the
//! sharing of one upstream session by several sessions and tabs, sign-out, and a
//! switchboard `kill -9` mid-session: the page is told it is reconnecting, then
//! connected, and every message arrives exactly once.

use crate::common;

use common::{binary, free_port, number, Options, Switchboard};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous per-step bound: every wait in these tests ends well before it when the
/// system works, and a broken system fails instead of hanging.
const STEP: Duration = Duration::from_secs(10);

/// One running agent UI: inside this test process, or an `agent-ui serve`
/// process for the tests that send it SIGTERM or read its log.
pub(crate) struct AgentUi {
    port: u16,
    child: Option<Child>,
    /// Stops the in-process server (see [`AgentUi::start_with`]).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    log: PathBuf,
    _tmp: tempfile::TempDir,
    http: reqwest::Client,
}

/// The `serve` command's settings, parsed as the binary parses them.
#[derive(clap::Parser)]
struct UiArgs {
    #[command(flatten)]
    config: agent_ui::Config,
}

/// The agent UI's settings for a test, as environment variables.
fn ui_settings(switchboard_ws_url: &str, extra_env: &[(&str, &str)]) -> Vec<(String, String)> {
    let static_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static");
    let mut env = vec![
        ("BIND_ADDR".to_string(), "127.0.0.1".to_string()),
        ("SWITCHBOARD_WS_URL".into(), switchboard_ws_url.into()),
        ("STATIC_DIR".into(), static_dir.display().to_string()),
        ("UPSTREAM_PING_SECS".into(), "2".into()),
    ];
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env
}

impl AgentUi {
    async fn start(switchboard_ws_url: &str) -> AgentUi {
        AgentUi::start_with(switchboard_ws_url, &[]).await
    }

    /// Starts the agent UI inside this test process, on an ephemeral port
    /// (no binary, no free-port race). It has no log file: tests that read
    /// the log or send SIGTERM use [`AgentUi::process`].
    pub(crate) async fn start_with(
        switchboard_ws_url: &str,
        extra_env: &[(&str, &str)],
    ) -> AgentUi {
        let tmp = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        // The same settings as flags: `--static-dir=…` for STATIC_DIR, and so on.
        let args = ui_settings(switchboard_ws_url, extra_env)
            .into_iter()
            .map(|(name, value)| format!("--{}={value}", name.to_lowercase().replace('_', "-")));
        let config = <UiArgs as clap::Parser>::try_parse_from(
            std::iter::once("agent-ui".to_string()).chain(args),
        )
        .unwrap_or_else(|e| panic!("agent UI settings: {e}"))
        .config;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            if let Err(e) = agent_ui::serve(config, listener, async move {
                let _ = stopped.await;
            })
            .await
            {
                panic!("agent UI failed: {e}");
            }
        });
        AgentUi::ready(AgentUi {
            port,
            child: None,
            stop: Some(stop),
            log: tmp.path().join("agent-ui.log"),
            _tmp: tmp,
            http: AgentUi::client(),
        })
        .await
    }

    /// Starts `agent-ui serve` as a process, logging to a file.
    async fn process(switchboard_ws_url: &str) -> AgentUi {
        AgentUi::process_with(switchboard_ws_url, &[]).await
    }

    /// [`AgentUi::process`] with extra settings (they win over the defaults,
    /// `RUST_LOG` included).
    pub(crate) async fn process_with(
        switchboard_ws_url: &str,
        extra_env: &[(&str, &str)],
    ) -> AgentUi {
        let tmp = tempfile::tempdir().expect("temp dir");
        let log = tmp.path().join("agent-ui.log");
        let port = free_port();
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary("agent-ui"))
            .arg("serve")
            .env_clear()
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info,tower_http=warn")
            .envs(ui_settings(switchboard_ws_url, extra_env))
            .stdout(Stdio::from(log_file.try_clone().expect("log")))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start agent-ui");
        AgentUi::ready(AgentUi {
            port,
            child: Some(child),
            stop: None,
            log,
            _tmp: tmp,
            http: AgentUi::client(),
        })
        .await
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client")
    }

    /// Waits until it answers `/healthz`.
    async fn ready(mut ui: AgentUi) -> AgentUi {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = ui.http.get(ui.url("/healthz")).send().await {
                if r.status().is_success() {
                    return ui;
                }
            }
            if let Some(Ok(Some(status))) = ui.child.as_mut().map(|c| c.try_wait()) {
                panic!("agent-ui exited early ({status}); log:\n{}", ui.log());
            }
            assert!(
                Instant::now() < deadline,
                "agent-ui not ready; log:\n{}",
                ui.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub(crate) fn log(&self) -> String {
        if self.child.is_none() && self.stop.is_some() {
            return "(in process: no log file)".into();
        }
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn post_login(&self, name: &str, password: &str) -> reqwest::Response {
        common::login::post(&self.http, &self.url(""), name, password).await
    }

    /// Signs in and returns the `sb_session=…` pair to send as `Cookie`.
    pub(crate) async fn sign_in(&self, name: &str) -> String {
        let response = self.post_login(name, &format!("{name}-pw")).await;
        assert_eq!(
            response.status(),
            303,
            "sign-in of {name}; log:\n{}",
            self.log()
        );
        session_cookie(&response)
            .expect("session cookie")
            .split(';')
            .next()
            .expect("name=value")
            .trim()
            .to_string()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("GET")
    }

    async fn sign_out(&self, cookie: &str) -> reqwest::Response {
        self.http
            .post(self.url("/logout"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("POST /logout")
    }

    /// Opens `/ws`; `Err(status)` when the upgrade is refused.
    async fn open_ws(&self, cookie: Option<&str>) -> Result<Browser, u16> {
        let mut request = format!("ws://127.0.0.1:{}/ws", self.port)
            .into_client_request()
            .expect("ws request");
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert("cookie", cookie.parse().expect("cookie header"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Browser {
                socket,
                frames: Vec::new(),
                closed: None,
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("ws connect: {e}"),
        }
    }

    pub(crate) async fn browser(&self, cookie: &str) -> Browser {
        self.open_ws(Some(cookie)).await.expect("/ws opens")
    }
}

impl AgentUi {
    /// SIGTERM, then the exit status (None if it had to be killed after `STEP`).
    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + STEP;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for AgentUi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sb_session="))
        .map(str::to_string)
}

/// A browser tab's socket: records every JSON frame it receives.
pub(crate) struct Browser {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    frames: Vec<Value>,
    /// The close code, once the server closed the socket.
    closed: Option<u16>,
}

impl Browser {
    async fn send(&mut self, frame: Value) {
        self.socket
            .send(WsMessage::Text(frame.to_string().into()))
            .await
            .expect("send to /ws");
    }

    /// The next JSON frame, or None on timeout or close.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(wait, self.socket.next())
                .await
                .ok()??;
            match message {
                Ok(WsMessage::Text(text)) => {
                    let frame: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
                    self.frames.push(frame.clone());
                    return Some(frame);
                }
                Ok(WsMessage::Close(frame)) => {
                    self.closed = Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
                    return None;
                }
                Ok(_) => {}
                Err(_) => {
                    self.closed.get_or_insert(1006);
                    return None;
                }
            }
        }
    }

    /// Reads frames until one satisfies `pred` and returns it; panics after `STEP`.
    async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero() && self.closed.is_none(),
                "timed out waiting for {what}; got {:#?}",
                self.frames
            );
            if let Some(frame) = self.next(left).await {
                if pred(&frame) {
                    return frame;
                }
            }
        }
    }

    /// Like [`Browser::until`], but a frame already received also counts (for frames
    /// whose order is not guaranteed, like a reply's `ack` and its `message`).
    async fn seen_or_until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(frame) = self.frames.iter().find(|f| pred(f)) {
            return frame.clone();
        }
        self.until(what, pred).await
    }

    async fn until_type(&mut self, kind: &str) -> Value {
        self.until(kind, |f| f["type"] == kind).await
    }

    /// Waits for the upstream session to be live, whether the snapshot already said
    /// so or an `upstream` frame follows.
    async fn until_connected(&mut self) {
        if self
            .frames
            .iter()
            .any(|f| f["type"] == "state" && f["upstream"] == "connected")
        {
            return;
        }
        self.until("upstream connected", |f| {
            f["type"] == "upstream" && f["status"] == "connected"
        })
        .await;
    }

    async fn expect_close(&mut self) -> u16 {
        let deadline = Instant::now() + STEP;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "socket was not closed; got {:#?}",
                self.frames
            );
            self.next(left).await;
        }
        self.closed.unwrap_or_default()
    }

    /// Every message seq of `conversation` this tab was shown, in arrival order
    /// (a `state` replaces what came before, as it does in the page).
    fn seqs(&self, conversation: &str) -> Vec<u64> {
        let mut seqs = Vec::new();
        for frame in &self.frames {
            let from_view = |view: &Value| -> Vec<u64> {
                view["messages"]
                    .as_array()
                    .map(|m| m.iter().filter_map(|m| m["seq"].as_u64()).collect())
                    .unwrap_or_default()
            };
            match frame["type"].as_str() {
                Some("state") => {
                    seqs.clear();
                    if let Some(c) = frame["conversations"]
                        .as_array()
                        .and_then(|cs| cs.iter().find(|c| c["id"] == conversation))
                    {
                        seqs.extend(from_view(c));
                    }
                }
                Some("assigned") if frame["conversation"]["id"] == conversation => {
                    // The page replaces the conversation with the one in the frame.
                    seqs = from_view(&frame["conversation"]);
                }
                Some("message") if frame["message"]["conversation"] == conversation => {
                    if let Some(seq) = frame["message"]["seq"].as_u64() {
                        seqs.push(seq);
                    }
                }
                _ => {}
            }
        }
        seqs
    }
}

/// A switchboard plus an agent UI in front of it, both in this process.
async fn system() -> (Switchboard, AgentUi) {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let ui = AgentUi::start(&sb.ws_url()).await;
    (sb, ui)
}

/// Signs `name` in, opens a tab, waits for the live session and makes the agent
/// available.
async fn ready_agent(ui: &AgentUi, name: &str) -> (String, Browser) {
    let cookie = ui.sign_in(name).await;
    let mut tab = ui.browser(&cookie).await;
    let state = tab.until_type("state").await;
    assert_eq!(state["agent"], name);
    tab.until_connected().await;
    tab.send(json!({"type": "availability", "available": true, "capacity": 5}))
        .await;
    tab.until("availability echo", |f| {
        f["type"] == "availability" && f["available"] == true && f["capacity"] == 5
    })
    .await;
    (cookie, tab)
}

#[tokio::test]
async fn sign_in_pages_and_cookie() {
    let (_sb, ui) = system().await;

    // Not signed in: no console, no socket.
    let response = ui.get("/", None).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login");
    assert_eq!(ui.open_ws(None).await.err(), Some(401));
    assert_eq!(ui.open_ws(Some("sb_session=forged")).await.err(), Some(401));

    let response = ui.get("/login", None).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("login page");
    assert!(html.contains("id=\"login\""), "{html}");

    // Wrong password: the form again, with the error, and no cookie.
    let response = ui.post_login("alice", "nope").await;
    assert_eq!(response.status(), 401);
    assert!(session_cookie(&response).is_none());
    let html = response.text().await.expect("login page");
    assert!(html.contains("login-error"), "{html}");
    assert!(html.contains("wrong name or password"), "{html}");

    // Right password: an opaque, HttpOnly, SameSite=Strict cookie and a redirect.
    let response = ui.post_login("alice", "alice-pw").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let set_cookie = session_cookie(&response).expect("session cookie");
    let flags = set_cookie.to_ascii_lowercase();
    assert!(flags.contains("httponly"), "{set_cookie}");
    assert!(flags.contains("samesite=strict"), "{set_cookie}");
    assert!(flags.contains("path=/"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("pair").to_string();
    let id = cookie.trim_start_matches("sb_session=");
    assert!(id.len() >= 32 && !id.contains("alice"), "{id}");

    let response = ui.get("/", Some(&cookie)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().contains_key("content-security-policy"));
    let html = response.text().await.expect("console");
    assert!(html.contains("alice"));
    // Signed in, the sign-in page sends you to the console.
    assert_eq!(ui.get("/login", Some(&cookie)).await.status(), 303);

    // Static files: cacheable and compressed.
    let response = ui
        .http
        .get(ui.url("/static/app.css"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("static");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .contains("max-age="));
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let missing = ui.get("/static/nope.css", None).await;
    assert_eq!(missing.status(), 404);
    assert!(!missing.headers().contains_key("cache-control"));
    assert_eq!(ui.get("/healthz", None).await.status(), 200);

    // Sign-out: the cookie no longer opens anything.
    let response = ui.sign_out(&cookie).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login");
    assert_eq!(ui.get("/", Some(&cookie)).await.status(), 303);
    assert_eq!(ui.open_ws(Some(&cookie)).await.err(), Some(401));
}

#[tokio::test]
async fn unreachable_switchboard_is_said_at_sign_in() {
    let dead = format!("ws://127.0.0.1:{}/v1/agent", free_port());
    let ui = AgentUi::start(&dead).await;
    let response = ui.post_login("alice", "alice-pw").await;
    assert_eq!(response.status(), 503);
    assert!(session_cookie(&response).is_none());
    let html = response.text().await.expect("page");
    assert!(html.contains("the switchboard is unreachable"), "{html}");
}

#[tokio::test]
async fn messages_arrive_enriched_and_replies_are_acknowledged() {
    let (sb, ui) = system().await;
    let (_cookie, mut tab) = ready_agent(&ui, "alice").await;
    let customer = number(1);

    let (status, _) = sb
        .text(&customer, "This is terrible, the worst service ever!!!")
        .await;
    assert_eq!(status, 200);
    let assigned = tab.until_type("assigned").await;
    let conversation = &assigned["conversation"];
    assert_eq!(conversation["id"], customer.as_str());
    assert_eq!(conversation["unread"], 1);
    let first = &conversation["messages"][0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["direction"], "inbound");
    assert!(
        matches!(
            first["sentiment"]["label"].as_str(),
            Some("devil" | "unhappy")
        ),
        "{first}"
    );
    assert!(first["sentiment"]["score"].as_f64().expect("score") < 0.0);
    assert!(!first["sentiment"]["words"]
        .as_array()
        .expect("words")
        .is_empty());
    assert_eq!(first["time"]["label"], "a few seconds ago");
    assert!(!first["time"]["exact"].as_str().expect("exact").is_empty());
    assert_eq!(conversation["waiting"]["label"], "a few seconds ago");

    // The body is carried as text, whatever it looks like.
    let xss = "<script>alert('x')</script> thx so much 🙏";
    sb.text(&customer, xss).await;
    let message = tab.until_type("message").await;
    assert_eq!(message["message"]["seq"], 2);
    assert_eq!(message["message"]["body"], xss);
    assert!(
        matches!(
            message["message"]["sentiment"]["label"].as_str(),
            Some("happy" | "wink")
        ),
        "{message}"
    );
    assert_eq!(message["unread"], 2);

    // Bad frames get an error on this tab; the socket lives on.
    tab.send(json!({"type": "launch_missiles"})).await;
    let error = tab.until_type("error").await;
    assert_eq!(error["code"], "bad_frame");
    tab.send(
        json!({"type": "reply", "conversation": customer, "client_id": "c-empty", "body": "  "}),
    )
    .await;
    let error = tab.until_type("error").await;
    assert_eq!(error["code"], "invalid_reply");
    assert_eq!(error["client_id"], "c-empty");

    // A reply: acknowledged, then shown as an outbound message; unread clears.
    tab.send(json!({"type": "reply", "conversation": customer, "client_id": "c-1", "body": "So sorry! Fixing it now."}))
        .await;
    let ack = tab.seen_or_until("ack", |f| f["type"] == "ack").await;
    assert_eq!(ack["client_id"], "c-1");
    assert_eq!(ack["seq"], 3);
    let outbound = tab
        .seen_or_until("outbound message", |f| {
            f["type"] == "message" && f["message"]["direction"] == "outbound"
        })
        .await;
    assert_eq!(outbound["message"]["seq"], 3);
    assert_eq!(outbound["message"]["client_id"], "c-1");
    assert_eq!(outbound["message"]["status"], "queued");
    assert!(outbound["message"].get("sentiment").is_none());
    assert_eq!(outbound["message"]["time"]["label"], "a few seconds ago");
    assert_eq!(outbound["unread"], 0);
    assert!(outbound["waiting"].is_null());

    // A second tab starts from a snapshot holding the same conversation.
    let cookie2 = ui.sign_in("alice").await;
    let mut tab2 = ui.browser(&cookie2).await;
    let state = tab2.until_type("state").await;
    assert_eq!(state["available"], true);
    assert_eq!(tab2.seqs(&customer), [1, 2, 3]);
    assert_eq!(state["conversations"][0]["unread"], 0);

    // Both sessions share one upstream: a new message reaches both tabs, and the
    // first tab was not pushed out by the second sign-in.
    sb.text(&customer, "ok thanks").await;
    for t in [&mut tab, &mut tab2] {
        let m = t.until_type("message").await;
        assert_eq!(m["message"]["seq"], 4);
    }
    assert_eq!(tab.seqs(&customer), [1, 2, 3, 4]);
    assert!(tab.frames.iter().all(|f| f["code"] != "superseded"));

    // Resolve goes upstream and comes back as `unassigned` on every tab.
    tab2.send(json!({"type": "resolve", "conversation": customer}))
        .await;
    for t in [&mut tab, &mut tab2] {
        let gone = t.until_type("unassigned").await;
        assert_eq!(gone["reason"], "resolved");
    }
}

#[tokio::test]
async fn switchboard_restart_is_survived_without_loss_or_duplicates() {
    // kill -9 needs a switchboard process.
    let mut sb = Switchboard::start(Options::default()).await;
    let ui = AgentUi::start(&sb.ws_url()).await;
    let (cookie, mut tab) = ready_agent(&ui, "alice").await;
    let customer = number(2);

    sb.text(&customer, "hello, my order is late").await;
    tab.until_type("assigned").await;
    sb.text(&customer, "any news?").await;
    tab.until_type("message").await;

    sb.kill9();
    let down = tab
        .until("upstream reconnecting", |f| {
            f["type"] == "upstream" && f["status"] == "reconnecting"
        })
        .await;
    assert!(!down["detail"].as_str().expect("detail").is_empty());

    // While it is down a reply fails at once, with its id, so the page offers a retry.
    tab.send(json!({"type": "reply", "conversation": customer, "client_id": "c-down", "body": "one moment"}))
        .await;
    let error = tab
        .until("unavailable error", |f| {
            f["type"] == "error" && f["client_id"] == "c-down"
        })
        .await;
    assert_eq!(error["code"], "unavailable");

    // Back up; a message written before the agent UI has reconnected and one after.
    sb.spawn().await;
    sb.text(&customer, "hello??").await;
    tab.until("upstream connected", |f| {
        f["type"] == "upstream" && f["status"] == "connected"
    })
    .await;
    sb.text(&customer, "still there?").await;
    tab.until("seq 4", |f| {
        f["type"] == "message" && f["message"]["seq"] == 4
    })
    .await;

    // The retried reply goes through.
    tab.send(json!({"type": "reply", "conversation": customer, "client_id": "c-down", "body": "one moment"}))
        .await;
    let ack = tab.seen_or_until("ack", |f| f["type"] == "ack").await;
    assert_eq!(ack["client_id"], "c-down");
    assert_eq!(ack["seq"], 5);
    tab.seen_or_until("outbound seq 5", |f| {
        f["type"] == "message" && f["message"]["seq"] == 5
    })
    .await;
    // Barrier: anything sent twice would arrive before this later text.
    sb.text(&customer, "barrier").await;
    tab.until("seq 6", |f| {
        f["type"] == "message" && f["message"]["seq"] == 6
    })
    .await;

    assert_eq!(tab.seqs(&customer), [1, 2, 3, 4, 5, 6], "{:#?}", tab.frames);
    // Resumed, not re-sent: one `assigned`, and each later seq in one `message`.
    let assigned = tab
        .frames
        .iter()
        .filter(|f| f["type"] == "assigned")
        .count();
    assert_eq!(assigned, 1, "{:#?}", tab.frames);
    let message_seqs: Vec<u64> = tab
        .frames
        .iter()
        .filter(|f| f["type"] == "message")
        .filter_map(|f| f["message"]["seq"].as_u64())
        .collect();
    assert_eq!(message_seqs, [2, 3, 4, 5, 6]);
    let bodies: BTreeMap<u64, String> = tab
        .frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| {
            (
                f["message"]["seq"].as_u64().unwrap_or_default(),
                f["message"]["body"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(bodies[&3], "hello??");
    assert_eq!(bodies[&4], "still there?");

    // A tab opened now sees the same history, once.
    let mut fresh = ui.browser(&cookie).await;
    fresh.until_type("state").await;
    assert_eq!(fresh.seqs(&customer), [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn sign_out_ends_the_tabs_and_the_last_one_the_upstream() {
    let (_sb, ui) = system().await;
    let (_alice, mut watcher) = ready_agent(&ui, "alice").await;

    let (bob_a, mut tab_a) = ready_agent(&ui, "bob").await;
    let bob_b = ui.sign_in("bob").await;
    let mut tab_b = ui.browser(&bob_b).await;
    tab_b.until_type("state").await;
    watcher
        .until("bob online", |f| {
            f["type"] == "presence"
                && f["agents"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p["name"] == "bob" && p["online"] == true))
        })
        .await;

    // One of bob's sessions signs out: its tab is closed, the other lives on.
    assert_eq!(ui.sign_out(&bob_a).await.status(), 303);
    assert_eq!(tab_a.expect_close().await, 4001);
    tab_b
        .send(json!({"type": "availability", "available": true, "capacity": 2}))
        .await;
    tab_b.until_type("availability").await;

    // The last one signs out: the upstream closes and the switchboard sees bob leave.
    assert_eq!(ui.sign_out(&bob_b).await.status(), 303);
    assert_eq!(tab_b.expect_close().await, 4001);
    watcher
        .until("bob offline", |f| {
            f["type"] == "presence"
                && f["agents"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p["name"] == "bob" && p["online"] == false))
        })
        .await;
}

#[tokio::test]
async fn closing_every_tab_takes_the_agent_offline_until_one_returns() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let ui = AgentUi::start_with(&sb.ws_url(), &[("IDLE_DISCONNECT_SECS", "1")]).await;
    let (_bob, mut watcher) = ready_agent(&ui, "bob").await;
    let (alice, mut tab) = ready_agent(&ui, "alice").await;
    // bob is at capacity 5 too; give the conversation to alice by making bob away.
    watcher
        .send(json!({"type": "availability", "available": false, "capacity": 5}))
        .await;
    watcher.until_type("availability").await;
    let customer = number(3);
    sb.text(&customer, "hi there").await;
    tab.until_type("assigned").await;

    let online = |name: &'static str, online: bool| {
        move |f: &Value| {
            f["type"] == "presence"
                && f["agents"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p["name"] == name && p["online"] == online))
        }
    };
    watcher.until("alice online", online("alice", true)).await;
    let _ = tab.socket.close(None).await;
    drop(tab);
    watcher.until("alice offline", online("alice", false)).await;

    // A message while alice is away is held for her (grace period) and shown on return.
    sb.text(&customer, "hello?").await;
    let mut back = ui.browser(&alice).await;
    let state = back.until_type("state").await;
    assert_eq!(state["upstream"], "reconnecting");
    back.until_connected().await;
    back.until("seq 2", |f| {
        f["type"] == "message" && f["message"]["seq"] == 2
    })
    .await;
    assert_eq!(back.seqs(&customer), [1, 2]);
    watcher.until("alice back", online("alice", true)).await;
}

#[tokio::test]
async fn sigterm_closes_tabs_and_upstreams_and_exits_cleanly() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut ui = AgentUi::process(&sb.ws_url()).await;
    let (_alice, mut tab) = ready_agent(&ui, "alice").await;
    // A plain protocol client watches presence from the switchboard's side.
    let mut bob = sb.agent("bob").await;
    let alice_online = |online: bool| {
        move |a: &common::Agent| {
            a.frames.iter().rev().find_map(|f| match f {
                switchboard_protocol::ServerFrame::Presence { agents } => {
                    agents.iter().find(|p| p.name == "alice").map(|p| p.online)
                }
                _ => None,
            }) == Some(online)
        }
    };
    bob.until(STEP, "alice online", alice_online(true)).await;

    // `terminate` waits a bounded time for the exit; how fast is not judged.
    let status = ui.terminate().expect("agent-ui exits after SIGTERM");
    assert!(status.success(), "{status}; log:\n{}", ui.log());
    assert_eq!(tab.expect_close().await, 1001);
    bob.until(STEP, "alice offline", alice_online(false)).await;
}

#[tokio::test]
async fn browser_frames_that_break_the_websocket_rules_get_a_reason_and_the_right_close_code() {
    use tokio::io::AsyncWriteExt;
    // The log is checked: an agent UI process.
    let _sb = Switchboard::start_in_process(Options::default()).await;
    let ui = AgentUi::process(&_sb.ws_url()).await;
    let cookie = ui.sign_in("alice").await;
    // A client frame, masked as RFC 6455 requires, with a chosen first byte.
    let masked = |first: u8, payload: &[u8]| {
        let key = [9u8, 8, 7, 6];
        let mut frame = vec![first, 0x80 | payload.len() as u8];
        frame.extend(key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        frame
    };
    let cases = [
        ("over 64 KiB", 1009, None),
        ("invalid UTF-8", 1007, Some(masked(0x81, &[0xff, 0xfe]))),
        ("a reserved bit set", 1002, Some(masked(0xC1, b"hi"))),
    ];
    for (what, expected, raw) in cases {
        let mut tab = ui.browser(&cookie).await;
        tab.until_type("state").await;
        match raw {
            None => tab
                .socket
                .send(WsMessage::Text("x".repeat(70 * 1024).into()))
                .await
                .expect("send a big message"),
            Some(bytes) => match tab.socket.get_mut() {
                MaybeTlsStream::Plain(tcp) => tcp.write_all(&bytes).await.expect("raw frame"),
                _ => panic!("plain TCP expected"),
            },
        }
        assert_eq!(
            tab.expect_close().await,
            expected,
            "{what}: {:#?}",
            tab.frames
        );
        assert!(
            tab.frames
                .iter()
                .any(|f| f["type"] == "error" && f["code"] == "bad_frame"),
            "{what}: no error frame before the Close: {:#?}",
            tab.frames
        );
    }
    let log = ui.log();
    assert_eq!(
        log.matches("the page broke the protocol").count(),
        3,
        "each violation is logged:\n{log}"
    );
}

// ---- Security: sign-in limits, login CSRF, headers, session expiry ----

/// `GET /files/…` on the switchboard with Basic credentials.
async fn switchboard_files_as(sb: &Switchboard, name: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(sb.url("/files/media/x.png"))
        .basic_auth(name, Some(password))
        .send()
        .await
        .expect("GET /files")
}

/// The `Retry-After` of a 429, in seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("Retry-After is whole seconds")
}

#[tokio::test]
async fn brute_force_gets_429_on_both_services() {
    // Three failures per name in a burst, then one every 20 s: the first three
    // wrong guesses are plain 401s however slow the machine is.
    let limits = vec![("SIGNIN_FAILURES_PER_NAME".to_string(), "3".to_string())];
    let sb = Switchboard::start(Options {
        extra_env: limits.clone(),
        ..Options::default()
    })
    .await;
    let ui = AgentUi::start_with(&sb.ws_url(), &[("SIGNIN_FAILURES_PER_NAME", "3")]).await;

    // The switchboard's agent Basic auth (the same check guards the socket).
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = switchboard_files_as(&sb, "bob", &format!("guess-{i}")).await;
        if response.status() == 429 {
            assert!(retry_after(&response) >= 1);
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..3], [401, 401, 401], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    // Locked: the right password is refused too (a guesser learns nothing)…
    let right = switchboard_files_as(&sb, "bob", "bob-pw").await;
    assert_eq!(right.status(), 429);
    let upstream =
        switchboard_protocol::client::connect(&switchboard_protocol::client::Credentials {
            url: sb.ws_url(),
            name: "bob".into(),
            password: "bob-pw".into(),
        })
        .await;
    assert!(
        matches!(
            upstream,
            Err(switchboard_protocol::client::ConnectError::Refused(429))
        ),
        "the agent socket is locked for bob too"
    );
    // …while other agents sign in as usual.
    assert_ne!(
        switchboard_files_as(&sb, "carol", "carol-pw")
            .await
            .status(),
        401
    );
    assert_ne!(
        switchboard_files_as(&sb, "carol", "carol-pw")
            .await
            .status(),
        429
    );

    // The agent UI's sign-in form.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = ui.post_login("alice", &format!("guess-{i}")).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(retry_after(&response) >= 1);
            assert!(session_cookie(&response).is_none());
            let html = response.text().await.expect("page");
            assert!(html.contains("too many failed sign-ins"), "{html}");
        }
    }
    assert_eq!(statuses[..3], [401, 401, 401], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    let right = ui.post_login("alice", "alice-pw").await;
    assert_eq!(right.status(), 429, "locked: the right password too");
    assert!(session_cookie(&right).is_none());
    // Another agent is not locked out by alice's guesser.
    let dave = ui.post_login("dave", "dave-pw").await;
    assert_eq!(dave.status(), 303, "log:\n{}", ui.log());
}

#[tokio::test]
async fn sign_in_from_another_site_is_refused() {
    let (_sb, ui) = system().await;
    let base = ui.url("");
    // The attack of issue 11: a foreign page posts the form, no token.
    let response = ui
        .http
        .post(ui.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("name", "alice"), ("password", "alice-pw")])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 403);
    assert!(session_cookie(&response).is_none());
    // No Origin and no token (an old browser, or a form posted by a script).
    let response = ui
        .http
        .post(ui.url("/login"))
        .form(&[("name", "alice"), ("password", "alice-pw")])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 403);
    assert!(session_cookie(&response).is_none());
    // A token that is not the cookie's (an attacker's own form's token).
    let (cookie, _) = common::login::form_token(&ui.http, &base).await;
    let (_, other_token) = common::login::form_token(&ui.http, &base).await;
    let response = ui
        .http
        .post(ui.url("/login"))
        .header("cookie", &cookie)
        .form(&[
            ("name", "alice"),
            ("password", "alice-pw"),
            ("csrf", &other_token),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 403);
    // The right token from a foreign Origin.
    let (cookie, token) = common::login::form_token(&ui.http, &base).await;
    let response = ui
        .http
        .post(ui.url("/login"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[
            ("name", "alice"),
            ("password", "alice-pw"),
            ("csrf", &token),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 403);
    assert!(session_cookie(&response).is_none());
    // The page's own form, same origin: signed in.
    let (cookie, token) = common::login::form_token(&ui.http, &base).await;
    let response = ui
        .http
        .post(ui.url("/login"))
        .header("cookie", &cookie)
        .header("origin", format!("http://127.0.0.1:{}", ui.port))
        .form(&[
            ("name", "alice"),
            ("password", "alice-pw"),
            ("csrf", &token),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 303, "log:\n{}", ui.log());
    assert!(session_cookie(&response).is_some());
}

/// The headers a scanner expects, on a response of either service.
fn assert_security_headers(what: &str, response: &reqwest::Response) {
    let h = response.headers();
    let get = |name: &str| {
        h.get(name)
            .unwrap_or_else(|| panic!("{what}: no {name} in {h:?}"))
            .to_str()
            .expect("ascii")
            .to_string()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert!(
        get("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert!(!get("referrer-policy").is_empty(), "{what}");
    assert!(get("permissions-policy").contains("camera=()"), "{what}");
    assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{what}");
}

#[tokio::test]
async fn security_headers_on_every_page_and_https_only_from_a_trusted_proxy() {
    let sb = Switchboard::start(Options::default()).await;
    // 127.0.0.1 (this test) is the trusted proxy of this agent UI.
    let ui = AgentUi::start_with(&sb.ws_url(), &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let cookie = ui.sign_in("alice").await;
    for (path, signed_in) in [
        ("/login", false),
        ("/", false),
        ("/", true),
        ("/static/app.js", false),
        ("/static/nope.css", false),
        ("/healthz", false),
        ("/files/media/x.png", false),
        ("/ws", true),
    ] {
        let response = ui.get(path, signed_in.then_some(cookie.as_str())).await;
        assert_security_headers(&format!("agent UI {path}"), &response);
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "no HSTS over plain HTTP"
        );
    }
    for path in [
        "/",
        "/healthz",
        "/readyz",
        "/files/media/x.png",
        "/v1/agent",
    ] {
        let response = reqwest::get(sb.url(path)).await.expect("GET");
        assert_security_headers(&format!("switchboard {path}"), &response);
    }

    // Behind the trusted proxy's HTTPS: HSTS, and a Secure session cookie.
    let response = ui
        .http
        .get(ui.url("/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("GET /login");
    assert!(response.headers()["strict-transport-security"]
        .to_str()
        .expect("ascii")
        .contains("max-age="));
    let (csrf, token) = common::login::form_token(&ui.http, &ui.url("")).await;
    let response = ui
        .http
        .post(ui.url("/login"))
        .header("cookie", csrf)
        .header("x-forwarded-proto", "https")
        .form(&[("name", "bob"), ("password", "bob-pw"), ("csrf", &token)])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 303);
    let set_cookie = session_cookie(&response).expect("cookie");
    assert!(
        set_cookie.to_ascii_lowercase().contains("secure"),
        "{set_cookie}"
    );

    // The same header from a client that is not a trusted proxy means nothing.
    let plain = AgentUi::start(&sb.ws_url()).await;
    let (csrf, token) = common::login::form_token(&plain.http, &plain.url("")).await;
    let response = plain
        .http
        .post(plain.url("/login"))
        .header("cookie", csrf)
        .header("x-forwarded-proto", "https")
        .form(&[
            ("name", "carol"),
            ("password", "carol-pw"),
            ("csrf", &token),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 303);
    let set_cookie = session_cookie(&response).expect("cookie");
    assert!(
        !set_cookie.to_ascii_lowercase().contains("secure"),
        "{set_cookie}"
    );
    assert!(!response.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn sessions_expire_after_inactivity() {
    let sb = Switchboard::start(Options::default()).await;
    let ui = AgentUi::start_with(&sb.ws_url(), &[("SESSION_IDLE_SECS", "1")]).await;
    let cookie = ui.sign_in("alice").await;
    assert_eq!(ui.get("/", Some(&cookie)).await.status(), 200);
    // Idle for longer than SESSION_IDLE_SECS (time has to pass; nothing races).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let response = ui.get("/", Some(&cookie)).await;
    assert_eq!(response.status(), 303, "expired: back to the sign-in page");
    assert_eq!(response.headers()["location"], "/login");
    assert_eq!(ui.open_ws(Some(&cookie)).await.err(), Some(401));
    assert!(why_signed_out(&ui, &cookie).await.contains("expired"));
    // Signing in again works.
    let cookie = ui.sign_in("alice").await;
    assert_eq!(ui.get("/", Some(&cookie)).await.status(), 200);
}

/// The three spellings of one conversation's key segment in a URL.
fn key_spellings(customer: &str, rest: &str) -> Vec<String> {
    let digits = customer.trim_start_matches('+');
    vec![
        format!("/files/media/+{digits}/{rest}"),
        format!("/files/media/%2B{digits}/{rest}"),
        format!("/files/media/%2b{digits}/{rest}"),
    ]
}

#[tokio::test]
async fn an_agent_cannot_read_another_agents_customers_files_on_either_service() {
    let sb = Switchboard::start(Options::default()).await;
    let files_dir = sb.data_dir.join("files");
    let files = files_dir.display().to_string();
    let ui = AgentUi::start_with(&sb.ws_url(), &[("FILES_DIR", files.as_str())]).await;

    // alice alone is available: alice's customer is hers.
    let (alice_cookie, mut alice_tab) = ready_agent(&ui, "alice").await;
    let customer = number(1);
    assert_eq!(sb.text(&customer, "here is a picture").await.0, 200);
    alice_tab.until_type("assigned").await;
    let (bob_cookie, _bob_tab) = ready_agent(&ui, "bob").await;
    // The customer's picture, as the MMS job stores it, and a transcript.
    let picture = format!("media/{customer}/MM0001/0.png");
    let path = files_dir.join(&picture);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"alice's customer's picture").expect("write");
    let transcript = format!("transcripts/{customer}/1.json");
    let path = files_dir.join(&transcript);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"{}").expect("write");

    let sb_get = |name: &'static str, url: String| async move {
        reqwest::Client::new()
            .get(url)
            .basic_auth(name, Some(format!("{name}-pw")))
            .send()
            .await
            .expect("GET /files")
    };
    for target in key_spellings(&customer, "MM0001/0.png") {
        // The switchboard: by its routes.
        let own = sb_get("alice", sb.url(&target)).await;
        assert_eq!(own.status(), 200, "alice {target}");
        assert_eq!(
            own.text().await.expect("body"),
            "alice's customer's picture"
        );
        let other = sb_get("bob", sb.url(&target)).await;
        assert_eq!(other.status(), 403, "bob {target}");
        assert!(!other.text().await.expect("body").contains("picture"));

        // The agent UI: by the agent's console.
        let own = ui.get(&target, Some(&alice_cookie)).await;
        assert_eq!(own.status(), 200, "alice {target} via the UI");
        let other = ui.get(&target, Some(&bob_cookie)).await;
        assert_eq!(other.status(), 403, "bob {target} via the UI");
        assert!(!other.text().await.expect("body").contains("picture"));
    }
    // Transcripts and keys outside media/ are for no agent, on either service.
    for target in [
        format!("/files/{transcript}"),
        "/files/docs/x.txt".to_string(),
    ] {
        assert_eq!(
            sb_get("alice", sb.url(&target)).await.status(),
            403,
            "{target}"
        );
        assert_eq!(
            ui.get(&target, Some(&alice_cookie)).await.status(),
            403,
            "{target}"
        );
    }
}

/// The console's picture upload: forwarded with the agent's own credentials
/// (so only the holder's succeeds), refused without a session, from another
/// site, or over 5 MB before anything reaches the switchboard.
#[tokio::test]
async fn pictures_are_uploaded_through_the_agent_ui_for_the_holder_only() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    // The switchboard's file store, read by the agent UI's file server.
    let files = sb.data_dir.join("files").display().to_string();
    let ui = AgentUi::start_with(&sb.ws_url(), &[("FILES_DIR", files.as_str())]).await;
    let (alice_cookie, mut alice_tab) = ready_agent(&ui, "alice").await;
    let customer = number(2);
    assert_eq!(
        sb.text(&customer, "a photo of the label, please").await.0,
        200
    );
    alice_tab.until_type("assigned").await;
    let (bob_cookie, _bob_tab) = ready_agent(&ui, "bob").await;
    let png = crate::outbound_media::PNG.to_vec();
    let path = format!("/media/{}", customer.replace('+', "%2B"));
    let post = |cookie: Option<&str>, origin: Option<&str>, body: Vec<u8>| {
        let mut request = ui
            .http
            .post(ui.url(&path))
            .header("content-type", "image/png")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie.to_string());
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin.to_string());
        }
        async move { request.send().await.expect("POST /media") }
    };

    let own = post(Some(&alice_cookie), Some(&ui.url("")), png.clone()).await;
    assert_eq!(own.status(), 201);
    let uploaded: Value = own.json().await.expect("json");
    assert_eq!(uploaded["content_type"], "image/png");
    let url = uploaded["url"].as_str().expect("url");
    // Alice reads it back through the agent UI's file server; Bob cannot.
    let read = ui.get(url, Some(&alice_cookie)).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.bytes().await.expect("bytes").to_vec(), png);
    assert_eq!(ui.get(url, Some(&bob_cookie)).await.status(), 403);

    let bobs = post(Some(&bob_cookie), None, png.clone()).await;
    assert_eq!(bobs.status(), 403);
    assert_eq!(
        bobs.json::<Value>().await.expect("json")["code"],
        "not_holder"
    );
    let anonymous = post(None, None, png.clone()).await;
    assert!(
        [401, 303].contains(&anonymous.status().as_u16()),
        "{}",
        anonymous.status()
    );
    let foreign = post(
        Some(&alice_cookie),
        Some("https://evil.example"),
        png.clone(),
    )
    .await;
    assert_eq!(foreign.status(), 403);
    assert_eq!(
        foreign.json::<Value>().await.expect("json")["code"],
        "cross_origin"
    );
    let mut big = png;
    big.resize(5 * 1024 * 1024 + 1, 0);
    let too_big = post(Some(&alice_cookie), None, big).await;
    assert_eq!(too_big.status(), 413);
    assert_eq!(
        too_big.json::<Value>().await.expect("json")["code"],
        "too_large"
    );
}

#[tokio::test]
async fn plain_text_passwords_are_warned_about_outside_local_demo_mode() {
    const WARNING: &str = "AGENTS has plain-text passwords";
    // Local demo (PUBLIC_URL on this machine): no warning.
    let local = Switchboard::start(Options::default()).await;
    // Reachable by Twilio: warned, naming the agents but not their passwords.
    let public = Switchboard::start(Options {
        extra_env: vec![("PUBLIC_URL".into(), "https://switchboard.example".into())],
        ..Options::default()
    })
    .await;
    // Both logged "switchboard listening" after the check (start waits for /readyz).
    let public_log = public.log();
    assert!(public_log.contains(WARNING), "{public_log}");
    assert!(public_log.contains("alice"), "{public_log}");
    assert!(!public_log.contains("alice-pw"), "{public_log}");
    assert!(!local.log().contains(WARNING), "{}", local.log());
}

#[tokio::test]
async fn agents_sign_in_with_argon2_hashed_passwords() {
    let hash = switchboard::credentials::hash_password("a long passphrase").expect("hash");
    let sb = Switchboard::start(Options {
        // The hash's commas and a plain entry after it, as the README shows.
        extra_env: vec![("AGENTS".into(), format!("alice:{hash};bob:bob-pw"))],
        ..Options::default()
    })
    .await;
    let connect = |name: &str, password: &str| {
        let credentials = switchboard_protocol::client::Credentials {
            url: sb.ws_url(),
            name: name.into(),
            password: password.into(),
        };
        async move { switchboard_protocol::client::connect(&credentials).await }
    };
    assert!(connect("alice", "a long passphrase").await.is_ok());
    assert!(matches!(
        connect("alice", "a long passphrasE").await,
        Err(switchboard_protocol::client::ConnectError::Unauthorized)
    ));
    assert!(matches!(
        connect("alice", &hash).await,
        Err(switchboard_protocol::client::ConnectError::Unauthorized)
    ));
    assert!(connect("bob", "bob-pw").await.is_ok());
    // And through the agent UI's form.
    let ui = AgentUi::start(&sb.ws_url()).await;
    let response = ui.post_login("alice", "a long passphrase").await;
    assert_eq!(response.status(), 303, "log:\n{}", ui.log());
}

/// The sign-in page's explanation for a cookie that no longer signs in.
async fn why_signed_out(ui: &AgentUi, cookie: &str) -> String {
    let response = ui.get("/login", Some(cookie)).await;
    assert_eq!(response.status(), 200, "the form, with the reason");
    let removed = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("sb_session=;") || v.starts_with("sb_session=\"\""));
    assert!(removed, "the dead cookie is removed");
    let html = response.text().await.expect("login page");
    html.split_once("login-error")
        .map(|(_, rest)| rest.chars().take(200).collect())
        .unwrap_or_else(|| panic!("no reason on the page: {html}"))
}

#[tokio::test]
async fn a_signed_out_agent_is_told_why_on_the_sign_in_page() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let ui = AgentUi::start_with(
        &sb.ws_url(),
        &[
            ("SESSION_SECRET", &"s".repeat(40)),
            ("INSTANCE_ID", "ui-told-why"),
        ],
    )
    .await;

    // Signed out: a copy of the cookie opens nothing, and says so.
    let cookie = ui.sign_in("carol").await;
    assert_eq!(ui.sign_out(&cookie).await.status(), 303);
    assert_eq!(ui.get("/", Some(&cookie)).await.status(), 303);
    assert!(why_signed_out(&ui, &cookie)
        .await
        .contains("you signed out"));

    // Signed in elsewhere while the console was open: the tab is closed
    // (4001) and the sign-in page says why. Only a connection from the
    // same client does that (another instance's, or a terminal agent's,
    // stands beside it: `one_agent_on_two_instances_…`); here a process that
    // was given this instance's INSTANCE_ID.
    let (cookie, mut tab) = ready_agent(&ui, "alice").await;
    let _impostor = common::Agent::connect_as_client(&sb, "alice", "ui-told-why").await;
    tab.until("superseded", |f| {
        f["type"] == "error" && f["code"] == "superseded"
    })
    .await;
    assert_eq!(tab.expect_close().await, 4001);
    assert_eq!(ui.get("/", Some(&cookie)).await.status(), 303);
    assert!(why_signed_out(&ui, &cookie)
        .await
        .contains("signed in elsewhere"));

    // A cookie from an agent UI with another secret (or none).
    let other = AgentUi::start(&sb.ws_url()).await;
    let foreign = other.sign_in("bob").await;
    assert!(why_signed_out(&ui, &foreign)
        .await
        .contains("SESSION_SECRET changed"));
    assert!(why_signed_out(&other, &ui.sign_in("bob").await)
        .await
        .contains("restarted without SESSION_SECRET"));
}

#[tokio::test]
async fn sessions_work_on_any_instance_with_the_same_secret() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let secret = [("SESSION_SECRET", "0123456789abcdef0123456789abcdef")];
    let one = AgentUi::start_with(&sb.ws_url(), &secret).await;
    let two = AgentUi::start_with(&sb.ws_url(), &secret).await;
    let cookie = one.sign_in("dave").await;
    let page = two.get("/", Some(&cookie)).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("console").contains("dave"));
    // The tab on #2 gets dave's live session: #2 connected upstream for him.
    let mut tab = two.browser(&cookie).await;
    tab.until_type("state").await;
    tab.until_connected().await;
    // Sign-out on #2 ends the session there.
    assert_eq!(two.sign_out(&cookie).await.status(), 303);
    assert_eq!(tab.expect_close().await, 4001);
    assert_eq!(two.get("/", Some(&cookie)).await.status(), 303);
}

#[tokio::test]
async fn an_active_session_is_renewed_in_its_cookie_so_any_instance_honours_it() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let settings = [
        ("SESSION_SECRET", "renewal-test-secret-0123456789abcdef"),
        ("SESSION_IDLE_SECS", "2"),
    ];
    let one = AgentUi::start_with(&sb.ws_url(), &settings).await;
    let two = AgentUi::start_with(&sb.ws_url(), &settings).await;
    let first = one.sign_in("alice").await;
    // Time has to pass for a cookie to age (1-second resolution); nothing races.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A request with an ageing cookie gets it back renewed.
    let response = one.get("/", Some(&first)).await;
    assert_eq!(response.status(), 200);
    let renewed = session_cookie(&response)
        .expect("the cookie is renewed")
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    assert_ne!(renewed, first);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Instance #2 never saw this session: only the cookies' own times count.
    // The first cookie is now idle for 3 s, past SESSION_IDLE_SECS; the
    // renewed one for 1.5 s.
    assert_eq!(two.get("/", Some(&first)).await.status(), 303);
    assert_eq!(two.get("/", Some(&renewed)).await.status(), 200);
}

/// True for a frame that would mean the two instances fought over the agent.
fn supersede_or_reconnect(f: &Value) -> bool {
    f["code"] == "superseded" || (f["type"] == "upstream" && f["status"] != "connected")
}

#[tokio::test]
async fn one_agent_on_two_instances_gets_every_frame_on_both_and_neither_is_superseded() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    // Two agent UIs of one deployment: the same secret, each its own
    // instance id (random per process when INSTANCE_ID is unset, as here for
    // #1; set for #2, which is restarted below).
    let secret = ("SESSION_SECRET", "two-instances-secret-0123456789abcdef");
    let one = AgentUi::start_with(&sb.ws_url(), &[secret]).await;
    let two_env = [secret, ("INSTANCE_ID", "ui-two")];
    let two = AgentUi::start_with(&sb.ws_url(), &two_env).await;
    let customer = number(41);

    // alice's browsers land on both (no affinity): each instance opens its
    // own upstream for her, and both stay connected.
    let (cookie, mut tab_a) = ready_agent(&one, "alice").await;
    let mut tab_b = two.browser(&cookie).await;
    let state = tab_b.until_type("state").await;
    assert_eq!(state["agent"], "alice");
    tab_b.until_connected().await;

    // A customer writes: both consoles get the conversation.
    assert_eq!(sb.text(&customer, "hello?").await.0, 200);
    for tab in [&mut tab_a, &mut tab_b] {
        tab.seen_or_until("the conversation", |f| {
            f["type"] == "assigned" && f["conversation"]["id"] == customer.as_str()
        })
        .await;
    }

    // A reply through #2's console: acked there, and #1's console shows it
    // too (it never saw it sent), once.
    tab_b
        .send(json!({"type": "reply", "conversation": customer, "client_id": "from-two", "body": "Hi, alice here (via #2)"}))
        .await;
    let ack = tab_b.seen_or_until("ack", |f| f["type"] == "ack").await;
    assert_eq!(ack["seq"], 2);
    let outbound = |f: &Value| {
        f["type"] == "message"
            && f["message"]["seq"] == 2
            && f["message"]["client_id"] == "from-two"
            && f["message"]["direction"] == "outbound"
    };
    tab_a.seen_or_until("the reply sent on #2", outbound).await;
    tab_b.seen_or_until("its own reply", outbound).await;
    assert!(tab_a.frames.iter().all(|f| f["type"] != "ack"));

    // Availability set on #1 is shown on #2 as well.
    tab_a
        .send(json!({"type": "availability", "available": true, "capacity": 4}))
        .await;
    tab_b
        .until("availability from #1", |f| {
            f["type"] == "availability" && f["capacity"] == 4
        })
        .await;

    // A terminal agent signed in as alice too: a third client, beside them.
    let mut terminal = common::Agent::connect_as_client(&sb, "alice", "terminal-1").await;
    terminal
        .until_frame(STEP, "the conversation", |f| {
            matches!(f, switchboard_protocol::ServerFrame::Assigned { .. })
        })
        .await;

    // Barrier: a later message reaches every console and the terminal; by
    // then any `superseded`, lost upstream or second copy would have come.
    sb.barrier(&mut terminal, &customer).await;
    for tab in [&mut tab_a, &mut tab_b] {
        tab.seen_or_until("the barrier", |f| {
            f["type"] == "message" && f["message"]["seq"] == 3
        })
        .await;
        assert_eq!(tab.seqs(&customer), [1, 2, 3]);
        assert!(
            !tab.frames.iter().any(supersede_or_reconnect),
            "{:#?}",
            tab.frames
        );
        assert!(tab.closed.is_none());
    }
    assert!(terminal.errors().is_empty(), "{:?}", terminal.errors());
    assert_eq!(
        terminal
            .messages
            .get(&customer)
            .map(|m| m.iter().map(|m| m.seq).collect::<Vec<_>>()),
        Some(vec![1, 2, 3])
    );

    // Agent UI #2 restarts (a deploy). Its tab closes; #1's console and the
    // terminal carry on: alice stays online, nothing is requeued.
    drop(two);
    assert_eq!(tab_b.expect_close().await, 1001);
    assert_eq!(sb.text(&customer, "while #2 restarts").await.0, 200);
    tab_a
        .until("the message sent while #2 was down", |f| {
            f["type"] == "message" && f["message"]["seq"] == 4
        })
        .await;
    let two = AgentUi::start_with(&sb.ws_url(), &two_env).await;
    // The same cookie signs the browser in on the restarted instance, with
    // the whole conversation.
    let mut tab_b = two.browser(&cookie).await;
    tab_b.until_type("state").await;
    tab_b.until_connected().await;
    assert_eq!(tab_b.seqs(&customer), [1, 2, 3, 4]);
    sb.barrier(&mut terminal, &customer).await;
    for tab in [&mut tab_a, &mut tab_b] {
        tab.seen_or_until("the barrier after the restart", |f| {
            f["type"] == "message" && f["message"]["seq"] == 5
        })
        .await;
        assert_eq!(tab.seqs(&customer), [1, 2, 3, 4, 5]);
        assert!(
            !tab.frames
                .iter()
                .any(|f| supersede_or_reconnect(f) || f["type"] == "unassigned"),
            "{:#?}",
            tab.frames
        );
    }
}
