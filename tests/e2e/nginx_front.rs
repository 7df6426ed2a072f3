//! nginx from `deploy/nginx.conf` (the file users deploy, filled in as its
//! header says) in front of one switchboard and two agent-UI processes that
//! share a `SESSION_SECRET`, all on loopback.
//!
//! * A signed webhook posted to nginx reaches an agent's console whose
//!   browser socket and whose agent UI's upstream socket both go through
//!   nginx (WebSocket upgrades on `/ws` and `/v1/agent`).
//! * A session cookie from agent UI #1 works on #2 (pages and the browser
//!   socket, which opens the agent's upstream there), and a restarted agent
//!   UI keeps the agent signed in: the tab reconnects with the same cookie.
//! * One agent signed in through both agent UIs at once (a tab on each, two
//!   upstreams through nginx): both tabs get every frame, a reply sent on one
//!   shows on the other, nobody is superseded, and restarting one agent UI
//!   keeps its tab signed in while the other carries on.
//!
//! nginx comes from Debian; the test command installs it and sets
//! `NGINX_BIN` (scripts/lib/nginx.sh). Without `NGINX_BIN` these tests say
//! so and skip: only a run outside the test command can lack it.

use crate::common::{self, binary, free_port, number, Options, PhoneSim, Switchboard};
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous bound for each awaited event.
const STEP: Duration = Duration::from_secs(20);
/// The agent UIs' shared `SESSION_SECRET`.
const SECRET: &str = "nginx-front-test-secret-0123456789abcdef";

/// nginx's binary, from the test command; `None` (and a note) outside it.
fn nginx_bin() -> Option<PathBuf> {
    match std::env::var_os("NGINX_BIN") {
        Some(bin) => Some(PathBuf::from(bin)),
        None => {
            eprintln!(
                "skipped: NGINX_BIN is not set (the test command, scripts/test.sh, installs nginx and sets it)"
            );
            None
        }
    }
}

/// A process killed when dropped.
struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits (bounded) for the exit; returns whether it was 0.
    fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One agent-UI process on a fixed port (nginx's config names it).
struct AgentUiProc {
    port: u16,
    env: Vec<(String, String)>,
    proc: Proc,
}

impl AgentUiProc {
    async fn start(port: u16, dir: &Path, switchboard_ws_url: &str) -> AgentUiProc {
        let static_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let env = [
            ("PORT", port.to_string()),
            ("BIND_ADDR", "127.0.0.1".to_string()),
            ("SWITCHBOARD_WS_URL", switchboard_ws_url.to_string()),
            ("STATIC_DIR", static_dir.display().to_string()),
            ("SESSION_SECRET", SECRET.to_string()),
            // Each instance its own, kept across its restarts, as deployed.
            ("INSTANCE_ID", format!("agent-ui-{port}")),
            ("UPSTREAM_PING_SECS", "2".to_string()),
            ("TRUSTED_PROXIES", "127.0.0.1".to_string()),
            ("RUST_LOG", "info,tower_http=warn".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec();
        let mut ui = AgentUiProc {
            port,
            env,
            proc: Proc {
                child: None,
                log: dir.join(format!("agent-ui-{port}.log")),
            },
        };
        ui.spawn().await;
        ui
    }

    /// Starts (or restarts) the process and waits for `/healthz`.
    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.proc.log)
            .expect("log file");
        let child = Command::new(binary("agent-ui"))
            .arg("serve")
            .env_clear()
            .envs(self.env.iter().cloned())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start agent-ui");
        self.proc.child = Some(child);
        until_ok(&self.url("/healthz"), &mut self.proc).await;
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }
}

/// Waits until `url` answers 2xx (see [`common::until_ready`]).
async fn until_ok(url: &str, proc: &mut Proc) {
    let log = proc.log.clone();
    common::until_ready(&client(), url, &mut proc.child, &log, STEP).await;
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// `deploy/nginx.conf` with every `${NAME}` of its header filled in.
fn nginx_conf(prefix: &Path, listen: u16, switchboards: [u16; 3], uis: [u16; 2]) -> String {
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"))
            .expect("read deploy/nginx.conf");
    let filled = template
        .replace("${LISTEN}", &format!("127.0.0.1:{listen}"))
        .replace("${PREFIX}", &prefix.display().to_string())
        .replace(
            "${SWITCHBOARD_1}",
            &format!("127.0.0.1:{}", switchboards[0]),
        )
        .replace(
            "${SWITCHBOARD_2}",
            &format!("127.0.0.1:{}", switchboards[1]),
        )
        .replace(
            "${SWITCHBOARD_3}",
            &format!("127.0.0.1:{}", switchboards[2]),
        )
        .replace("${AGENT_UI_1}", &format!("127.0.0.1:{}", uis[0]))
        .replace("${AGENT_UI_2}", &format!("127.0.0.1:{}", uis[1]));
    // Every placeholder the header documents is one the test fills in.
    let config_lines: String = filled
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !config_lines.contains("${"),
        "a placeholder of deploy/nginx.conf is not documented/filled: {config_lines}"
    );
    filled
}

/// nginx in the foreground with `conf` (written to `dir/nginx.conf`), its
/// output in `dir/nginx.out` and its error log in `dir/error.log`.
fn start_nginx(nginx: &Path, dir: &Path, conf: &str) -> Proc {
    std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
    let log = dir.join("nginx.out");
    let out = std::fs::File::create(&log).expect("nginx log");
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg("nginx.conf")
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-g")
        .arg("daemon off;")
        .stdout(Stdio::from(out.try_clone().expect("log")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("start nginx");
    Proc {
        child: Some(child),
        log,
    }
}

/// The whole system: nginx in front of a switchboard and two agent UIs.
struct Stack {
    nginx_port: u16,
    /// The switchboard as Twilio and agents reach it: through nginx.
    public: Switchboard,
    uis: [AgentUiProc; 2],
    nginx: Proc,
    _switchboard: Switchboard,
    _tmp: tempfile::TempDir,
}

impl Stack {
    async fn start(nginx: &Path) -> Stack {
        let tmp = tempfile::tempdir().expect("temp dir");
        // nginx's workers run as an unprivileged user when the master is root.
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let nginx_port = free_port();
        let public_url = format!("http://127.0.0.1:{nginx_port}");
        let switchboard = Switchboard::start(Options {
            extra_env: vec![
                // Twilio signs the URL it posts to: nginx's.
                ("PUBLIC_URL".into(), public_url.clone()),
                ("TRUSTED_PROXIES".into(), "127.0.0.1".into()),
            ],
            ..Options::default()
        })
        .await;
        // The agent UIs reach the switchboard through nginx too.
        let upstream = format!("ws://127.0.0.1:{nginx_port}/v1/agent");
        let ui1 = AgentUiProc::start(free_port(), tmp.path(), &upstream).await;
        let ui2 = AgentUiProc::start(free_port(), tmp.path(), &upstream).await;

        // One switchboard (sled): it fills every switchboard slot.
        let conf = nginx_conf(
            tmp.path(),
            nginx_port,
            [switchboard.port; 3],
            [ui1.port, ui2.port],
        );
        let mut nginx = start_nginx(nginx, tmp.path(), &conf);
        until_ok(&format!("{public_url}/healthz"), &mut nginx).await;
        Stack {
            nginx_port,
            public: Switchboard::reached_at(nginx_port),
            uis: [ui1, ui2],
            nginx,
            _switchboard: switchboard,
            _tmp: tmp,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nginx_port)
    }

    fn logs(&self) -> String {
        format!(
            "nginx:\n{}\nerror.log:\n{}\nagent UI 1:\n{}\nagent UI 2:\n{}",
            self.nginx.log(),
            std::fs::read_to_string(self._tmp.path().join("error.log")).unwrap_or_default(),
            self.uis[0].proc.log(),
            self.uis[1].proc.log()
        )
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SIGTERM (not SIGQUIT): nginx does not wait for open WebSockets.
        self.nginx.terminate();
    }
}

/// Signs in at `base` (nginx or one agent UI); returns the `Cookie` header
/// value holding every cookie the sign-in set.
async fn sign_in(base: &str, name: &str) -> String {
    let response = common::login::post(&client(), base, name, &format!("{name}-pw")).await;
    assert_eq!(response.status(), 303, "sign-in of {name} at {base}");
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("sb_session=") || v.starts_with("sb_agent="))
        .filter_map(|v| v.split(';').next())
        .map(str::to_string)
        .collect();
    assert_eq!(
        cookies.len(),
        2,
        "session and affinity cookies: {cookies:?}"
    );
    cookies.join("; ")
}

/// A browser tab's socket.
struct Tab {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    frames: Vec<Value>,
    closed: Option<u16>,
}

impl Tab {
    async fn open(ws_url: &str, cookie: &str) -> Tab {
        let mut request = ws_url.into_client_request().expect("ws request");
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("cookie header"));
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|e| panic!("open {ws_url}: {e}"));
        Tab {
            socket,
            frames: Vec::new(),
            closed: None,
        }
    }

    /// Opens the tab the way the page reconnects: again and again (the page
    /// backs off; here a short pause) until the upgrade succeeds and the
    /// `state` frame arrives, within `STEP`.
    async fn reconnect(ws_url: &str, cookie: &str) -> Tab {
        let deadline = Instant::now() + STEP;
        loop {
            let mut request = ws_url.into_client_request().expect("ws request");
            request
                .headers_mut()
                .insert("cookie", cookie.parse().expect("cookie header"));
            if let Ok((socket, _)) = tokio_tungstenite::connect_async(request).await {
                let mut tab = Tab {
                    socket,
                    frames: Vec::new(),
                    closed: None,
                };
                let first = tokio::time::timeout(STEP, tab.socket.next()).await;
                if let Ok(Some(Ok(WsMessage::Text(text)))) = first {
                    let frame: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
                    if frame["type"] == "state" {
                        tab.frames.push(frame);
                        return tab;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{ws_url} did not take the tab back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads frames until one satisfies `pred`; panics after `STEP` or on close.
    async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(frame) = self.frames.iter().find(|f| pred(f)) {
            return frame.clone();
        }
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero() && self.closed.is_none(),
                "waiting for {what} (closed: {:?}); got {:#?}",
                self.closed,
                self.frames
            );
            match tokio::time::timeout(left, self.socket.next()).await {
                Ok(Some(Ok(WsMessage::Text(text)))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
                    self.frames.push(frame.clone());
                    if pred(&frame) {
                        return frame;
                    }
                }
                Ok(Some(Ok(WsMessage::Close(frame)))) => {
                    self.closed = Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_))) | Ok(None) => {
                    self.closed.get_or_insert(1006);
                }
                Err(_) => {}
            }
        }
    }

    /// Waits for the agent's upstream session to be live.
    async fn until_connected(&mut self) {
        self.until("upstream connected", |f| {
            (f["type"] == "state" && f["upstream"] == "connected")
                || (f["type"] == "upstream" && f["status"] == "connected")
        })
        .await;
    }

    async fn available(&mut self) {
        self.socket
            .send(WsMessage::Text(
                json!({"type": "availability", "available": true, "capacity": 5})
                    .to_string()
                    .into(),
            ))
            .await
            .expect("send availability");
        self.until("availability echo", |f| {
            f["type"] == "availability" && f["available"] == true
        })
        .await;
    }

    /// Waits until the console shows a message of `customer` with `body`.
    async fn until_message(&mut self, customer: &str, body: &str) {
        let shown = |f: &Value| {
            let in_message = f["type"] == "message"
                && f["message"]["conversation"] == customer
                && f["message"]["body"] == body;
            let in_view = |view: &Value| {
                view["id"] == customer
                    && view["messages"]
                        .as_array()
                        .is_some_and(|m| m.iter().any(|m| m["body"] == body))
            };
            let in_assigned = f["type"] == "assigned" && in_view(&f["conversation"]);
            let in_state = f["type"] == "state"
                && f["conversations"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(in_view));
            in_message || in_assigned || in_state
        };
        self.until(&format!("{body:?} from {customer}"), shown)
            .await;
    }

    /// Waits for the server to close the socket; returns the close code.
    async fn until_closed(&mut self) -> u16 {
        let deadline = Instant::now() + STEP;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the tab was not closed");
            match tokio::time::timeout(left, self.socket.next()).await {
                Ok(Some(Ok(WsMessage::Close(frame)))) => {
                    self.closed = Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
                }
                Ok(Some(Ok(WsMessage::Text(text)))) => {
                    if let Ok(frame) = serde_json::from_str(text.as_str()) {
                        self.frames.push(frame);
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_))) | Ok(None) => {
                    self.closed = Some(1006);
                }
                Err(_) => {}
            }
        }
        self.closed.unwrap_or_default()
    }
}

#[tokio::test]
async fn a_webhook_through_nginx_reaches_a_console_connected_through_nginx() {
    let Some(nginx) = nginx_bin() else { return };
    let stack = Stack::start(&nginx).await;

    // The agent signs in and opens the console through nginx; the agent UI
    // behind it reaches the switchboard through nginx as well.
    let cookie = sign_in(&stack.url(""), "alice").await;
    let console = client()
        .get(stack.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET /");
    assert_eq!(console.status(), 200, "{}", stack.logs());
    let mut tab = Tab::open(&format!("ws://127.0.0.1:{}/ws", stack.nginx_port), &cookie).await;
    tab.until("state", |f| f["type"] == "state" && f["agent"] == "alice")
        .await;
    tab.until_connected().await;
    tab.available().await;

    // Twilio posts to nginx, signed for nginx's URL (the switchboard's PUBLIC_URL).
    let customer = number(1);
    let (status, answer) = stack.public.text(&customer, "hello through nginx").await;
    assert_eq!(status, 200, "{answer}; {}", stack.logs());
    tab.until_message(&customer, "hello through nginx").await;

    // The same webhook again (nginx's or Twilio's retry) is accepted and not
    // shown twice: the barrier text arrives after anything it could cause.
    let sid = common::new_sid();
    let params = common::inbound_params(&sid, &customer, "sent once");
    assert_eq!(
        stack.public.post_signed("/twilio/sms", &params).await.0,
        200
    );
    assert_eq!(
        stack.public.post_signed("/twilio/sms", &params).await.0,
        200
    );
    let (status, _) = stack.public.text(&customer, "after the retry").await;
    assert_eq!(status, 200);
    tab.until_message(&customer, "after the retry").await;
    let shown = tab
        .frames
        .iter()
        .filter(|f| f["type"] == "message" && f["message"]["body"] == "sent once")
        .count();
    assert_eq!(shown, 1, "{:#?}", tab.frames);
}

#[tokio::test]
async fn a_session_works_on_either_agent_ui_and_survives_a_restart() {
    let Some(nginx) = nginx_bin() else { return };
    let mut stack = Stack::start(&nginx).await;

    // Signed in on agent UI #1 ...
    let cookie = sign_in(&stack.uis[0].url(""), "bob").await;
    // ... the cookie opens the console on #2, which never saw this sign-in,
    let page = client()
        .get(stack.uis[1].url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET / on #2");
    assert_eq!(page.status(), 200, "{}", stack.logs());
    assert!(page.text().await.expect("console").contains("bob"));
    // and a tab on #2 gets bob's live session (#2 opened bob's upstream).
    let mut tab = Tab::open(&stack.uis[1].ws_url(), &cookie).await;
    tab.until("state", |f| f["type"] == "state" && f["agent"] == "bob")
        .await;
    tab.until_connected().await;
    tab.available().await;
    let customer = number(2);
    assert_eq!(
        stack.public.text(&customer, "before the restart").await.0,
        200
    );
    tab.until_message(&customer, "before the restart").await;

    // Agent UI #2 restarts (a deploy): its tab is told to reconnect (1001),
    // and with the same cookie it is signed in on the new process.
    assert!(stack.uis[1].proc.terminate(), "{}", stack.logs());
    assert_eq!(tab.until_closed().await, 1001);
    stack.uis[1].spawn().await;
    let page = client()
        .get(stack.uis[1].url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET / after the restart");
    assert_eq!(
        page.status(),
        200,
        "signed in after a restart; {}",
        stack.logs()
    );
    let mut tab = Tab::open(&stack.uis[1].ws_url(), &cookie).await;
    tab.until("state", |f| f["type"] == "state" && f["agent"] == "bob")
        .await;
    tab.until_connected().await;
    // bob still holds his conversation and gets what comes next.
    tab.until_message(&customer, "before the restart").await;
    assert_eq!(
        stack.public.text(&customer, "after the restart").await.0,
        200
    );
    tab.until_message(&customer, "after the restart").await;

    // A cookie sealed under another secret opens nothing, and the sign-in
    // page says why.
    let forged = cookie.replace("sb_session=", "sb_session=x");
    let page = client()
        .get(stack.uis[0].url("/login"))
        .header("cookie", &forged)
        .send()
        .await
        .expect("GET /login");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("login page");
    assert!(html.contains("SESSION_SECRET changed"), "{html}");
}

#[tokio::test]
async fn a_rolling_restart_of_the_agent_uis_keeps_the_agent_signed_in_through_nginx() {
    let Some(nginx) = nginx_bin() else { return };
    let mut stack = Stack::start(&nginx).await;
    let ws = format!("ws://127.0.0.1:{}/ws", stack.nginx_port);
    let cookie = sign_in(&stack.url(""), "carol").await;
    let mut tab = Tab::reconnect(&ws, &cookie).await;
    tab.until_connected().await;
    tab.available().await;
    let customer = number(3);

    // Each agent UI in turn is stopped (SIGTERM, as a deploy does) and
    // started again. Whichever one carol's tab was on, the tab comes back
    // through nginx — on the other instance while that one is down — with
    // the same cookie, signed in, and gets the next message.
    for i in 0..2 {
        assert!(stack.uis[i].proc.terminate(), "{}", stack.logs());
        let text = format!("while agent UI {} restarts", i + 1);
        let (status, _) = stack.public.text(&customer, &text).await;
        assert_eq!(status, 200);
        tab = Tab::reconnect(&ws, &cookie).await;
        assert_eq!(tab.frames[0]["agent"], "carol", "{}", stack.logs());
        tab.until_connected().await;
        tab.until_message(&customer, &text).await;
        stack.uis[i].spawn().await;
    }
}

#[tokio::test]
async fn one_agent_on_both_agent_uis_behind_nginx_gets_every_frame_on_both() {
    let Some(nginx) = nginx_bin() else { return };
    let mut stack = Stack::start(&nginx).await;
    let cookie = sign_in(&stack.url(""), "dave").await;
    // A tab on each agent UI (as without affinity, or with a console opened
    // on each directly); each opens dave's upstream through nginx.
    let mut tabs = [
        Tab::reconnect(&stack.uis[0].ws_url(), &cookie).await,
        Tab::reconnect(&stack.uis[1].ws_url(), &cookie).await,
    ];
    for tab in tabs.iter_mut() {
        tab.until_connected().await;
    }
    tabs[0].available().await;
    let customer = number(4);
    assert_eq!(stack.public.text(&customer, "anyone there?").await.0, 200);
    for tab in tabs.iter_mut() {
        tab.until_message(&customer, "anyone there?").await;
    }
    // A reply from the tab on #2 is shown on #1's too.
    tabs[1]
        .socket
        .send(WsMessage::Text(
            json!({"type": "reply", "conversation": customer, "client_id": "nginx-two", "body": "dave here, via #2"})
                .to_string()
                .into(),
        ))
        .await
        .expect("send reply");
    for tab in tabs.iter_mut() {
        tab.until_message(&customer, "dave here, via #2").await;
    }
    // Barrier: a later customer message on both; by then a supersede loop
    // would have shown (a `superseded` error, an upstream reconnecting).
    assert_eq!(stack.public.text(&customer, "great, thanks").await.0, 200);
    for tab in tabs.iter_mut() {
        tab.until_message(&customer, "great, thanks").await;
        let fought = tab.frames.iter().any(|f| {
            f["code"] == "superseded" || (f["type"] == "upstream" && f["status"] != "connected")
        });
        assert!(!fought, "{:#?}\n{}", tab.frames, stack.logs());
        let replies = tab
            .frames
            .iter()
            .filter(|f| f["type"] == "message" && f["message"]["client_id"] == "nginx-two")
            .count();
        assert_eq!(replies, 1, "{:#?}", tab.frames);
    }

    // Agent UI #1 restarts (SIGTERM, as a deploy does): #2's tab carries on
    // and gets what is sent meanwhile; #1's tab comes back signed in, with it.
    assert!(stack.uis[0].proc.terminate(), "{}", stack.logs());
    assert_eq!(tabs[0].until_closed().await, 1001);
    assert_eq!(
        stack.public.text(&customer, "while #1 restarts").await.0,
        200
    );
    tabs[1].until_message(&customer, "while #1 restarts").await;
    stack.uis[0].spawn().await;
    tabs[0] = Tab::reconnect(&stack.uis[0].ws_url(), &cookie).await;
    assert_eq!(tabs[0].frames[0]["agent"], "dave", "{}", stack.logs());
    tabs[0].until_connected().await;
    tabs[0].until_message(&customer, "while #1 restarts").await;
    assert_eq!(
        stack.public.text(&customer, "after #1 is back").await.0,
        200
    );
    for tab in tabs.iter_mut() {
        tab.until_message(&customer, "after #1 is back").await;
        assert!(
            !tab.frames
                .iter()
                .any(|f| f["code"] == "superseded" || f["type"] == "unassigned"),
            "{:#?}",
            tab.frames
        );
    }
}

/// nginx in front of three switchboards on one DynamoDB table set (no
/// agent UI: agents connect through nginx directly).
struct Cluster {
    /// The switchboards, as processes.
    members: Vec<Switchboard>,
    /// nginx, as Twilio and agents reach it.
    public: Switchboard,
    proxy: Proc,
    tmp: tempfile::TempDir,
    /// Twilio's stand-in, which every member sends replies to.
    sim: PhoneSim,
    /// The members' `DYNAMODB_TABLE_PREFIX`.
    table_prefix: String,
}

impl Cluster {
    async fn start(nginx: &Path) -> Cluster {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let nginx_port = free_port();
        let public_url = format!("http://127.0.0.1:{nginx_port}");
        let env = common::dynamodb_env(&common::aws::Moto::shared());
        let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 0).await;
        let mut members = Vec::new();
        for i in 0..3 {
            let mut extra = env.clone();
            extra.extend([
                ("PUBLIC_URL".to_string(), public_url.clone()),
                ("TRUSTED_PROXIES".into(), "127.0.0.1".into()),
                ("LEASE_SECS".into(), "2".into()),
                ("INSTANCE_ID".into(), format!("behind-nginx-{i}")),
            ]);
            members.push(
                Switchboard::start(Options {
                    extra_env: extra,
                    grace_secs: 120.0,
                    await_leadership: false,
                    twilio_api_base: sim.base.clone(),
                })
                .await,
            );
        }
        // The agent-UI slots name a port nobody listens on.
        let nobody = free_port();
        let conf = nginx_conf(
            tmp.path(),
            nginx_port,
            [members[0].port, members[1].port, members[2].port],
            [nobody, nobody],
        );
        let proxy = start_nginx(nginx, tmp.path(), &conf);
        let public = Switchboard::reached_at(nginx_port);
        let deadline = Instant::now() + STEP;
        // nginx is up once it answers (a GET of the webhook is refused: 405).
        while client()
            .get(public.url("/twilio/sms"))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nginx did not answer:\n{}",
                proxy.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let table_prefix = common::env_value(&env, "DYNAMODB_TABLE_PREFIX")
            .expect("a table prefix")
            .to_string();
        Cluster {
            members,
            public,
            proxy,
            tmp,
            sim,
            table_prefix,
        }
    }

    /// The index of the one member that leads (waits for there to be one).
    async fn leader(&self) -> usize {
        let all: Vec<&Switchboard> = self.members.iter().collect();
        crate::cluster::one_leader(&all).await
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("error.log")).unwrap_or_default()
    }
}

/// Three switchboards on one DynamoDB table set behind nginx. Webhooks go
/// to any switchboard; an agent's handshake, wherever nginx sends it first,
/// lands on the leader (the others answer 503 and nginx tries the next);
/// after a `kill -9` of the leader the agent reconnects through nginx to
/// the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_switchboards_behind_nginx_agents_land_on_the_leader_and_webhooks_on_any() {
    let Some(nginx) = nginx_bin() else { return };
    let mut cluster = Cluster::start(&nginx).await;
    let leader = cluster.leader().await;
    let public = Switchboard::reached_at(cluster.public.port);

    // Whichever switchboard nginx tries first (it takes turns), the
    // handshake succeeds: on the leader.
    for attempt in 0..4 {
        match common::open_socket(&public, "alice").await {
            Ok(mut socket) => {
                let _ = socket.close(None).await;
            }
            Err(e) => panic!(
                "handshake {attempt} through nginx failed: {e}; error.log:\n{}",
                cluster.error_log()
            ),
        }
    }
    let mut alice =
        common::Agent::connect(&public, "alice", Default::default(), Some(true), Some(10)).await;
    // Webhooks through nginx land on any switchboard and reach her.
    let customers: Vec<String> = (0..3).map(|i| number(500 + i)).collect();
    for customer in &customers {
        let (status, answer) = public.text(customer, "through nginx").await;
        assert_eq!(status, 200, "{answer}");
    }
    alice
        .until(STEP, "every customer's text", |a| {
            customers.iter().all(|c| a.bodies(c).len() == 1)
        })
        .await;

    // The leader dies: the agent reconnects through nginx and gets new texts.
    cluster.members[leader].kill9();
    let killed = Instant::now();
    let mut alice = alice.reconnect(&public).await;
    println!(
        "through nginx: the agent was back {:?} after kill -9 of the leader",
        killed.elapsed()
    );
    for customer in &customers {
        assert_eq!(public.text(customer, "after the failover").await.0, 200);
    }
    alice
        .until(STEP, "the texts after the failover", |a| {
            customers
                .iter()
                .all(|c| a.bodies(c) == vec!["through nginx", "after the failover"])
        })
        .await;
    cluster.proxy.terminate();
}

/// A rolling restart of the three switchboards (SIGTERM each in turn, then
/// start it again) under steady webhook load through nginx: no webhook gets
/// a 5xx, and the agent, reconnecting through nginx whenever its leader
/// stops, gets every text exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_the_switchboards_behind_nginx_loses_and_repeats_nothing() {
    let Some(nginx) = nginx_bin() else { return };
    let mut cluster = Cluster::start(&nginx).await;
    cluster.leader().await;
    let port = cluster.public.port;
    let public = Switchboard::reached_at(port);
    let mut alice =
        common::Agent::connect(&public, "alice", Default::default(), Some(true), Some(10)).await;
    let customer = number(600);

    // Steady load: a text every 100 ms until told to stop.
    let (stop_load, mut stopped) = tokio::sync::watch::channel(false);
    let load = {
        let customer = customer.clone();
        tokio::spawn(async move {
            let public = Switchboard::reached_at(port);
            let mut sent = Vec::new();
            let mut failures = Vec::new();
            let mut i = 0;
            while !*stopped.borrow() {
                let body = format!("rolling {i}");
                let (status, answer) = public.text(&customer, &body).await;
                if status == 200 {
                    sent.push(body);
                } else {
                    failures.push((status, answer));
                }
                i += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stopped.changed() => {}
                }
            }
            (sent, failures)
        })
    };
    alice
        .until(STEP, "the first texts", |a| a.bodies(&customer).len() >= 5)
        .await;

    // A reply before each restart: whichever member leads then sends it, or
    // the next leader does after reconciling its send intent.
    let mut replies = Vec::new();
    for i in 0..3 {
        replies.push(reply_and_ack(&mut alice, &customer, i).await);
        let seen = alice.bodies(&customer).len();
        assert!(
            cluster.members[i].terminate(),
            "member {i} did not stop cleanly:\n{}",
            cluster.members[i].log()
        );
        cluster.members[i].spawn().await;
        // Whether or not it led, texts keep reaching the agent, who
        // reconnects through nginx (which finds the leader) and resumes;
        // again whenever the socket closes.
        alice = alice.reconnect(&public).await;
        let deadline = Instant::now() + STEP;
        while alice.bodies(&customer).len() <= seen {
            assert!(
                Instant::now() < deadline,
                "no text reached the agent after restarting member {i}"
            );
            if alice.next_frame(Duration::from_secs(1)).await.is_none() {
                alice = alice.reconnect(&public).await;
            }
        }
    }
    stop_load.send(true).expect("the load task listens");
    let (sent, failures) = load.await.expect("the load task");
    assert!(
        failures.is_empty(),
        "webhooks not accepted during the rolling restart: {failures:?}; error.log:\n{}",
        cluster.error_log()
    );
    // Anything sent twice or late would arrive before the barrier text.
    cluster.leader().await;
    public.barrier(&mut alice, &customer).await;
    let got: Vec<String> = alice.messages[&customer]
        .iter()
        .filter(|m| m.direction == switchboard_protocol::Direction::Inbound)
        .map(|m| m.body.clone())
        .filter(|b| !common::is_barrier(b))
        .collect();
    assert_eq!(got, sent, "every accepted text exactly once, in order");
    replies.push(reply_and_ack(&mut alice, &customer, 3).await);

    // Every acknowledged reply reached Twilio's stand-in exactly once.
    let to_customer = || async {
        cluster
            .sim
            .sent()
            .await
            .into_iter()
            .filter(|m| m["to"] == customer.as_str())
            .filter_map(|m| m["body"].as_str().map(str::to_string))
            .collect::<Vec<String>>()
    };
    common::wait_for("every reply at Twilio", STEP, || async {
        let sent = to_customer().await;
        replies.iter().all(|r| sent.contains(r)).then_some(())
    })
    .await;
    // Barrier: a copy of an earlier reply could only come from a leader
    // reconciling a send intent an earlier leader left (20 s into its term:
    // `outbox/handover.rs`), and a reply leaves the outbox's index in
    // DynamoDB only once its result is recorded. So once no reply of this
    // customer is pending there, every send that will ever happen has.
    let last = reply_and_ack(&mut alice, &customer, 4).await;
    common::wait_for("the barrier reply at Twilio", STEP, || async {
        to_customer().await.contains(&last).then_some(())
    })
    .await;
    let dynamodb = common::aws::Moto::shared().dynamodb().await;
    let messages = format!("{}messages", cluster.table_prefix);
    common::wait_for(
        "every reply settled in the outbox",
        Duration::from_secs(180),
        || async {
            let pending = dynamodb
                .scan()
                .table_name(&messages)
                .filter_expression("#c = :c AND #o = :pending")
                .expression_attribute_names("#c", "conversation")
                .expression_attribute_names("#o", "outbox")
                .expression_attribute_values(":c", AttributeValue::S(customer.clone()))
                .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
                .send()
                .await
                .ok()?;
            (pending.count() == 0 && pending.last_evaluated_key().is_none()).then_some(())
        },
    )
    .await;
    let at_twilio = to_customer().await;
    for reply in &replies {
        let copies = at_twilio.iter().filter(|b| *b == reply).count();
        assert_eq!(copies, 1, "{reply:?} sent {copies} times: {at_twilio:#?}");
    }
    cluster.proxy.terminate();
}

/// Sends reply number `n` to `customer` and waits for its `ack`; returns its body.
async fn reply_and_ack(agent: &mut common::Agent, customer: &str, n: usize) -> String {
    let body = format!("reply {n} during the rolling restart");
    let client_id = format!("rolling-{n}");
    agent
        .send(&switchboard_protocol::ClientFrame::Reply {
            conversation: customer.to_string(),
            client_id: client_id.clone(),
            body: body.clone(),
            media: Vec::new(),
        })
        .await;
    agent
        .until_frame(STEP, "the reply's ack", |f| {
            matches!(f, switchboard_protocol::ServerFrame::Ack { client_id: c, .. } if *c == client_id)
        })
        .await;
    body
}
