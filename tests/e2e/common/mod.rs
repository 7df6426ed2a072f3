//! Helpers shared by the end-to-end tests: start the real `switchboard`
//! binary on a random port with its own data directory, post signed Twilio
//! webhooks to it, and connect agents over a real WebSocket.
#![allow(dead_code)]

pub mod aws;
pub mod login;
pub mod twilio_media;

use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchboard::twilio::signature;
use switchboard_protocol::client::{self, ConnectError, Credentials, Incoming, ResumePoints};
use switchboard_protocol::{ClientFrame, Direction, Message, Seq, ServerFrame};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::MaybeTlsStream;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "test-auth-token";
pub const TWILIO_NUMBER: &str = "+15550009999";
pub const AGENTS: &[&str] = &["alice", "bob", "carol", "dave"];

/// Path of a binary of this workspace, built by the test command before the tests.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the project's test command (scripts/test.sh), which builds the binaries first",
        path.display()
    );
    path
}

/// True when the suite runs against the DynamoDB store
/// (`SWITCHBOARD_TEST_STORE=dynamodb`, with the AWS emulator up) instead of
/// the embedded sled store.
pub fn dynamodb_selected() -> bool {
    std::env::var("SWITCHBOARD_TEST_STORE").as_deref() == Ok("dynamodb")
}

/// The environment that puts a switchboard on DynamoDB in `moto`, with
/// tables of its own (a unique prefix). Restarts reuse the environment, so
/// they find the same tables. DynamoDB's endpoint is also set per service,
/// so a test that points `AWS_ENDPOINT_URL` (S3, SES) at an emulator it
/// stops keeps its store.
pub fn dynamodb_env(moto: &aws::Moto) -> Vec<(String, String)> {
    let mut env = moto.env();
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), moto.endpoint.clone()));
    env.push((
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS".into(),
        moto.endpoint.clone(),
    ));
    env.push(("STORE".into(), "dynamodb".into()));
    // One router at a time holds a lease; a restarted instance waits it
    // out before routing (agents' connects retry meanwhile: see
    // `Agent::connect`). Short, so restarts stay quick; long enough that a
    // busy emulator does not make a live leader miss its renewals.
    env.push(("LEASE_SECS".into(), "5".into()));
    env.push((
        "DYNAMODB_TABLE_PREFIX".into(),
        format!("{}-", aws::unique_name("sbt")),
    ));
    env
}

/// Counts of the high-volume tests: the emulator's DynamoDB is far slower
/// than sled on local disk (every write is an HTTP request to a Python
/// process), so they shrink there; what they check stays the same.
pub fn volume(n: usize) -> usize {
    if dynamodb_selected() {
        (n / 20).max(1)
    } else {
        n
    }
}

/// Says why a test does not apply to the DynamoDB store and whether to skip it.
pub fn skip_on_dynamodb(reason: &str) -> bool {
    if dynamodb_selected() {
        eprintln!("skipped with SWITCHBOARD_TEST_STORE=dynamodb: {reason}");
    }
    dynamodb_selected()
}

pub fn env_value<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Runs `switchboard migrate` with `env` (what a deploy's release phase does).
pub fn migrate(env: &[(String, String)]) {
    let out = Command::new(binary("switchboard"))
        .arg("migrate")
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .expect("run switchboard migrate");
    assert!(
        out.status.success(),
        "switchboard migrate failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free TCP port on loopback (released right away; a tiny race we accept).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

static SID_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A fresh, unique Twilio message SID.
pub fn new_sid() -> String {
    let n = SID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let salt: u64 = rand::random();
    format!("SM{:016x}{:016x}", salt, n)
}

/// Polls `probe` until it yields a value; fails the test after `wait`.
/// Polls soon at first, then less often (up to once a second): some probes
/// are expensive for the service they ask (moto's `data.json`, which SES
/// mail is read from, dumps every table and stream it holds), and polling
/// them ten times a second starves the switchboard's own calls.
pub async fn wait_for<T>(
    what: &str,
    wait: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(50);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

static BARRIER_COUNTER: AtomicU64 = AtomicU64::new(1);

/// How every barrier text starts (see [`Switchboard::barrier`]).
pub const BARRIER: &str = "barrier";

/// True for the body of a barrier text.
pub fn is_barrier(body: &str) -> bool {
    body.starts_with(BARRIER)
}

/// One running switchboard (a process, or inside this test process) and how
/// to reach it.
pub struct Switchboard {
    pub port: u16,
    pub data_dir: PathBuf,
    pub env: Vec<(String, String)>,
    child: Option<Child>,
    /// With `STORE=dynamodb`: (re)starting waits until this instance holds
    /// the router lease (a lone instance, as most tests run), not only
    /// until it is ready (a follower is ready too).
    pub await_leadership: bool,
    /// Set when started by [`Switchboard::start_in_process`].
    in_process: Option<switchboard::server::Running>,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

pub struct Options {
    pub grace_secs: f64,
    pub twilio_api_base: String,
    pub extra_env: Vec<(String, String)>,
    /// With `STORE=dynamodb`, wait at start until it leads (see
    /// [`Switchboard::await_leadership`]); false for several instances.
    pub await_leadership: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            grace_secs: 30.0,
            // Nothing listens here: replies stay queued unless a test sets a real base.
            twilio_api_base: "http://127.0.0.1:9".into(),
            extra_env: Vec::new(),
            await_leadership: true,
        }
    }
}

/// The switchboard's settings for a test, as environment variables.
fn settings(port: u16, data_dir: &Path, options: &Options) -> Vec<(String, String)> {
    let agents = AGENTS
        .iter()
        .map(|a| format!("{a}:{a}-pw"))
        .collect::<Vec<_>>()
        .join(",");
    vec![
        ("PORT".to_string(), port.to_string()),
        ("BIND_ADDR".into(), "127.0.0.1".into()),
        ("DATA_DIR".into(), data_dir.display().to_string()),
        ("PUBLIC_URL".into(), format!("http://127.0.0.1:{port}")),
        ("TWILIO_ACCOUNT_SID".into(), ACCOUNT_SID.into()),
        ("TWILIO_AUTH_TOKEN".into(), AUTH_TOKEN.into()),
        ("TWILIO_FROM".into(), TWILIO_NUMBER.into()),
        ("TWILIO_API_BASE".into(), options.twilio_api_base.clone()),
        ("AGENTS".into(), agents),
        ("AGENT_GRACE_SECS".into(), options.grace_secs.to_string()),
        ("RUST_LOG".into(), "warn,switchboard=info".into()),
    ]
}

/// The `serve` command's settings, parsed as the binary parses them.
#[derive(clap::Parser)]
struct ServeArgs {
    #[command(flatten)]
    config: switchboard::config::Config,
}

impl Switchboard {
    /// Starts the switchboard inside this test process, on an ephemeral port
    /// (no binary to find, no free-port race): for tests that need no
    /// `kill -9`, SIGTERM, restart or log file. With the DynamoDB store
    /// selected it starts a process instead: the AWS SDK reads its
    /// endpoints from the process environment.
    pub async fn start_in_process(options: Options) -> Switchboard {
        if dynamodb_selected() || options.extra_env.iter().any(|(k, _)| k.starts_with("AWS_")) {
            return Switchboard::start(options).await;
        }
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        let mut env = settings(port, &data_dir, &options);
        env.extend(options.extra_env);
        // The same settings as flags: `--data-dir=…` for DATA_DIR, and so on.
        let args = env
            .iter()
            .filter(|(name, _)| name != "RUST_LOG")
            .map(|(name, value)| format!("--{}={value}", name.to_lowercase().replace('_', "-")));
        let config = <ServeArgs as clap::Parser>::try_parse_from(
            std::iter::once("switchboard".to_string()).chain(args),
        )
        .unwrap_or_else(|e| panic!("switchboard settings: {e}"))
        .config;
        let running = switchboard::server::start(config, listener).expect("start the switchboard");
        let sb = Switchboard {
            port,
            data_dir,
            env,
            child: None,
            await_leadership: true,
            in_process: Some(running),
            _tmp: Some(tmp),
            http: reqwest::Client::new(),
        };
        sb.wait_ready().await;
        sb
    }

    /// Stops an in-process switchboard as SIGTERM stops the binary; returns
    /// whether it shut down cleanly.
    pub async fn shutdown(&mut self) -> bool {
        let running = self.in_process.take().expect("started in process");
        running.shutdown().await.is_ok()
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "switchboard not ready in 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A switchboard this helper did not start (a process a test runs in its
    /// own way, or one behind a proxy) reached on `port` of loopback: webhooks
    /// are posted and signed for `http://127.0.0.1:{port}` (its `PUBLIC_URL`
    /// must say so), agents connect to its `/v1/agent`. Dropping it stops
    /// nothing.
    pub fn reached_at(port: u16) -> Switchboard {
        Switchboard {
            port,
            data_dir: PathBuf::new(),
            env: Vec::new(),
            child: None,
            await_leadership: false,
            in_process: None,
            _tmp: None,
            http: reqwest::Client::new(),
        }
    }

    pub async fn start(options: Options) -> Switchboard {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let port = free_port();
        let mut env = settings(port, &data_dir, &options);
        if dynamodb_selected() {
            env.extend(dynamodb_env(&aws::Moto::shared()));
        }
        // On DynamoDB, a switchboard started here keeps one name across its
        // restarts (as a dyno does), so a restart takes its lease back at
        // once; and a long lease, so an emulator slowed down by a busy
        // machine cannot make it miss renewals and step down mid-test.
        // Tests about the lease set their own (later entries win).
        env.extend([
            ("INSTANCE_ID".to_string(), format!("test-{port}")),
            ("LEASE_SECS".to_string(), "60".to_string()),
        ]);
        env.extend(options.extra_env);
        if env_value(&env, "STORE") == Some("dynamodb") {
            migrate(&env);
        }
        let mut sb = Switchboard {
            port,
            data_dir,
            env,
            child: None,
            await_leadership: options.await_leadership,
            in_process: None,
            _tmp: Some(tmp),
            http: reqwest::Client::new(),
        };
        sb.spawn().await;
        sb
    }

    /// Starts (or restarts) the process and waits until it is ready.
    pub async fn spawn(&mut self) {
        assert!(
            self.in_process.is_none(),
            "an in-process switchboard has no process to restart"
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.with_extension("log"))
            .expect("log file");
        let child = Command::new(binary("switchboard"))
            .arg("serve")
            .env_clear()
            .envs(self.env.iter().cloned())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start switchboard");
        self.child = Some(child);
        let (url, log) = (self.url("/readyz"), self.data_dir.with_extension("log"));
        until_ready(
            &self.http,
            &url,
            &mut self.child,
            &log,
            Duration::from_secs(20),
        )
        .await;
        if self.await_leadership && env_value(&self.env, "STORE") == Some("dynamodb") {
            // A restarted instance waits out its predecessor's lease.
            let deadline = Instant::now() + Duration::from_secs(60);
            while self.role().await.as_deref() != Some("leader") {
                assert!(
                    Instant::now() < deadline,
                    "the switchboard did not take the router lease in 60 s; log:\n{}",
                    self.log()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    /// The process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a signal (`STOP`, `CONT`, …) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.pid().expect("a running process");
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Its role as `/healthz` reports it (`leader` or `follower`); `None`
    /// when it does not answer.
    pub async fn role(&self) -> Option<String> {
        let response = self
            .http
            .get(self.url("/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let health: serde_json::Value = response.json().await.ok()?;
        health["role"].as_str().map(str::to_string)
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill9(&mut self) {
        assert!(
            self.in_process.is_none(),
            "kill -9 needs a process: use Switchboard::start"
        );
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        assert!(
            self.in_process.is_none(),
            "SIGTERM needs a process: use Switchboard::start or shutdown()"
        );
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process cleanly (SIGTERM) and lists the jobs it left
    /// queued, as (key, kind). Once it has exited nothing more can reach S3,
    /// SES or Twilio from it, so what a test counts afterwards is final, and
    /// a job left here is all that could still act at a next start: the
    /// barrier for "no duplicate arrives later", with no drain window.
    pub async fn stop_and_list_jobs_left(&mut self) -> Vec<(String, &'static str)> {
        assert!(
            self.terminate(),
            "the switchboard did not exit cleanly on SIGTERM; log:\n{}",
            self.log()
        );
        // The job queue is a sled database of its own, free once the
        // process has exited.
        let (queue, _arrivals) = switchboard::jobs::queue::JobQueue::open(
            &self.data_dir.join("jobs"),
            switchboard::durability::Durability::Flush,
        )
        .expect("open the stopped switchboard's job queue");
        queue
            .all_pending()
            .await
            .expect("read the job queue")
            .into_iter()
            .map(|(key, pending)| (key, pending.job.kind()))
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn ws_url(&self) -> String {
        format!(
            "ws://127.0.0.1:{}{}",
            self.port,
            switchboard_protocol::AGENT_WS_PATH
        )
    }

    /// Posts a correctly signed inbound SMS webhook; returns (status, body).
    pub async fn text(&self, from: &str, body: &str) -> (u16, String) {
        self.post_signed("/twilio/sms", &inbound_params(&new_sid(), from, body))
            .await
    }

    /// Posts form params to `path`, signed for the public URL of `path`.
    pub async fn post_signed(&self, path: &str, params: &[(String, String)]) -> (u16, String) {
        let sig = signature::compute(AUTH_TOKEN, &self.url(path), params);
        self.post_form(path, params, Some(&sig)).await
    }

    pub async fn post_form(
        &self,
        path: &str,
        params: &[(String, String)],
        sig: Option<&str>,
    ) -> (u16, String) {
        let body = form_body(params);
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(sig) = sig {
            req = req.header("x-twilio-signature", sig);
        }
        let resp = req.send().await.expect("webhook request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Proves that nothing more is on its way to `agent` because of what
    /// happened before this call, without a fixed wait: texts `customer` (a
    /// conversation `agent` holds) and reads until that text arrives. The
    /// switchboard routes customers' messages in the order it stores them and
    /// sends each agent its frames in order, so whatever an earlier event was
    /// going to send `agent` has arrived by then. The text adds a message to
    /// the conversation; its body starts with [`BARRIER`].
    pub async fn barrier(&self, agent: &mut Agent, customer: &str) {
        let body = format!(
            "{BARRIER} {}",
            BARRIER_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let (status, answer) = self.text(customer, &body).await;
        assert_eq!(status, 200, "barrier text refused: {answer}");
        agent
            .until(Duration::from_secs(120), "the barrier text", |a| {
                a.bodies(customer).contains(&body)
            })
            .await;
    }

    /// [`Switchboard::barrier`] for an agent that follows the leader of
    /// `members` ([`Agent::until_following_leader`]); the text goes to this
    /// member, whichever leads.
    pub async fn barrier_following_leader(
        &self,
        agent: Agent,
        members: &[&Switchboard],
        customer: &str,
    ) -> Agent {
        let body = format!(
            "{BARRIER} {}",
            BARRIER_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let (status, answer) = self.text(customer, &body).await;
        assert_eq!(status, 200, "barrier text refused: {answer}");
        agent
            .until_following_leader(members, Duration::from_secs(120), "the barrier text", |a| {
                a.bodies(customer).contains(&body)
            })
            .await
    }

    pub async fn agent(&self, name: &str) -> Agent {
        Agent::connect(self, name, BTreeMap::new(), Some(true), Some(10)).await
    }

    pub async fn agent_with(&self, name: &str, capacity: u32) -> Agent {
        Agent::connect(self, name, BTreeMap::new(), Some(true), Some(capacity)).await
    }
}

impl Drop for Switchboard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn inbound_params(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", TWILIO_NUMBER),
        ("Body", body),
        ("NumMedia", "0"),
        ("FromCountry", "US"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn form_body(params: &[(String, String)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    ser.finish()
}

/// A customer number for index `i`.
pub fn number(i: usize) -> String {
    format!("+1555{:07}", 1_000_000 + i)
}

type Socket = client::Socket;

/// A test agent: the protocol client over a real WebSocket, recording what
/// it was sent.
pub struct Agent {
    pub name: String,
    socket: Socket,
    /// Last seq seen per assigned conversation, for `hello` on reconnect.
    resume: ResumePoints,
    /// Messages received, per conversation, in arrival order.
    pub messages: HashMap<String, Vec<Message>>,
    /// Every frame received, in order.
    pub frames: Vec<ServerFrame>,
    /// Conversations currently assigned to this agent.
    pub assigned: std::collections::BTreeSet<String>,
    /// The switchboard closed the socket (or it broke): nothing more comes.
    pub closed: bool,
}

impl Agent {
    pub async fn connect(
        sb: &Switchboard,
        name: &str,
        resume: BTreeMap<String, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
    ) -> Agent {
        let socket = open_socket_retrying(sb, name).await;
        Agent::greet(socket, name, resume, available, capacity, None).await
    }

    /// Connects as `name` from client `client` (`hello.client`): it stands
    /// beside the agent's connections from other clients and replaces only
    /// one from the same client.
    pub async fn connect_as_client(sb: &Switchboard, name: &str, client: &str) -> Agent {
        let socket = open_socket_retrying(sb, name).await;
        Agent::greet(
            socket,
            name,
            BTreeMap::new(),
            None,
            None,
            Some(client.into()),
        )
        .await
    }

    /// Connects to whichever of `members` accepts agents (the leader), as a
    /// proxy in front of them would; retries until one does. Returns the
    /// agent and the index of the member it reached.
    pub async fn connect_to_leader(
        members: &[&Switchboard],
        name: &str,
        resume: BTreeMap<String, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
    ) -> (Agent, usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for (i, sb) in members.iter().enumerate() {
                match open_socket(sb, name).await {
                    Ok(socket) => {
                        // The member may stop leading between the upgrade and
                        // the welcome (it closes with `not_leader`): try again.
                        let greeting = Agent::try_greet(
                            socket,
                            name,
                            resume.clone(),
                            available,
                            capacity,
                            None,
                        );
                        match greeting.await {
                            Ok(agent) => return (agent, i),
                            Err(e) => eprintln!("{name}: no welcome from member {i}: {e}"),
                        }
                    }
                    Err(e) if e.is_transient() => {}
                    Err(e) => panic!("agent {name} could not connect: {e}"),
                }
            }
            assert!(
                Instant::now() < deadline,
                "no switchboard accepted agent {name} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reconnects to whichever of `members` leads, resuming from what this
    /// client has seen (see [`Agent::connect_to_leader`]).
    pub async fn reconnect_to_leader(self, members: &[&Switchboard]) -> (Agent, usize) {
        let resume = self.last_seen();
        let (name, messages, assigned) = (self.name, self.messages, self.assigned);
        let (points, frames) = (self.resume, self.frames);
        drop(self.socket);
        let (mut agent, at) = Agent::connect_to_leader(members, &name, resume, None, None).await;
        agent.messages = messages;
        agent.assigned = assigned;
        agent.resume = points;
        let new_frames = std::mem::replace(&mut agent.frames, frames);
        agent.frames.extend(new_frames);
        (agent, at)
    }

    /// Says hello on an open socket and waits for the welcome.
    async fn greet(
        socket: Socket,
        name: &str,
        resume: BTreeMap<String, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
        client: Option<String>,
    ) -> Agent {
        match Agent::try_greet(socket, name, resume, available, capacity, client).await {
            Ok(agent) => agent,
            Err(e) => panic!("{name}: {e}"),
        }
    }

    /// Says hello on an open socket and waits (generously: a busy machine
    /// may be slow to answer) for the welcome; says what came instead.
    async fn try_greet(
        socket: Socket,
        name: &str,
        resume: BTreeMap<String, Seq>,
        available: Option<bool>,
        capacity: Option<u32>,
        client: Option<String>,
    ) -> Result<Agent, String> {
        let mut agent = Agent {
            name: name.to_string(),
            socket,
            resume: ResumePoints::default(),
            messages: HashMap::new(),
            frames: Vec::new(),
            assigned: Default::default(),
            closed: false,
        };
        let hello = ClientFrame::Hello {
            resume,
            available,
            capacity,
            client,
        };
        agent.send(&hello).await;
        match agent.next_frame(Duration::from_secs(60)).await {
            Some(ServerFrame::Welcome { .. }) => Ok(agent),
            Some(other) => Err(format!("expected welcome, got {other:?}")),
            None if agent.closed => Err("closed before the welcome".into()),
            None => Err("no welcome frame within 60 s".into()),
        }
    }

    /// Reconnects as the same agent, resuming from what this client has seen.
    pub async fn reconnect(self, sb: &Switchboard) -> Agent {
        let resume = self.last_seen();
        let (name, messages, assigned) = (self.name, self.messages, self.assigned);
        let points = self.resume;
        drop(self.socket);
        let mut agent = Agent::connect(sb, &name, resume, None, None).await;
        agent.messages = messages;
        agent.assigned = assigned;
        agent.resume = points;
        agent
    }

    /// The resume points of the next `hello`: last seq seen per assigned conversation.
    pub fn last_seen(&self) -> BTreeMap<String, Seq> {
        self.resume.to_hello()
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        client::send(&mut self.socket, frame)
            .await
            .expect("send frame");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.socket
            .send(WsMessage::Text(text.to_string().into()))
            .await
            .expect("send raw");
    }

    /// Next server frame (recorded), or None on timeout / close.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<ServerFrame> {
        loop {
            let msg = match tokio::time::timeout(wait, self.socket.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(msg))) => msg,
                Ok(None | Some(Err(_))) => {
                    self.closed = true;
                    return None;
                }
            };
            match client::read(&msg) {
                Incoming::Frame(frame) => {
                    self.record(&frame);
                    return Some(frame);
                }
                Incoming::Closed(_) => {
                    self.closed = true;
                    return None;
                }
                Incoming::Unreadable(e) => {
                    panic!("{}: server frame does not decode: {e}", self.name)
                }
                Incoming::Control => {}
            }
        }
    }

    fn record(&mut self, frame: &ServerFrame) {
        self.resume.observe(frame);
        match frame {
            ServerFrame::Assigned {
                conversation,
                history,
                ..
            } => {
                self.assigned.insert(conversation.id.clone());
                self.messages
                    .entry(conversation.id.clone())
                    .or_default()
                    .extend(history.iter().cloned());
            }
            ServerFrame::Message { message } => {
                self.messages
                    .entry(message.conversation.clone())
                    .or_default()
                    .push(message.clone());
            }
            // A supervisor's `watch`: the conversation so far (its later
            // messages come as `message` frames).
            ServerFrame::Watching {
                conversation,
                history,
                ..
            } => {
                self.messages
                    .insert(conversation.id.clone(), history.clone());
            }
            ServerFrame::Unassigned { conversation, .. } => {
                self.assigned.remove(conversation);
            }
            _ => {}
        }
        self.frames.push(frame.clone());
    }

    /// Reads frames until `done` holds for this agent, or panics after `wait`.
    pub async fn until(&mut self, wait: Duration, what: &str, done: impl Fn(&Agent) -> bool) {
        assert!(
            self.try_until(wait, done).await,
            "{}: timed out waiting for {what}",
            self.name
        );
    }

    /// Reads frames until `done` holds for this agent (`true`), or `wait`
    /// passes or the socket closes (`false`, see [`Agent::closed`]), for a
    /// caller that explains a timeout itself.
    pub async fn try_until(&mut self, wait: Duration, done: impl Fn(&Agent) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.closed {
                return false;
            }
            self.next_frame(left.min(Duration::from_millis(500))).await;
        }
        true
    }

    /// Reads frames until `done` holds, as an agent behind a proxy in front
    /// of `members` would: when the member it is on stops leading (it
    /// closes the socket with `not_leader`), it reconnects to whichever
    /// leads now, resuming from what it has seen. Panics after `wait`, with
    /// the members' roles and logs.
    pub async fn until_following_leader(
        mut self,
        members: &[&Switchboard],
        wait: Duration,
        what: &str,
        done: impl Fn(&Agent) -> bool,
    ) -> Agent {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.try_until(left, &done).await {
                return self;
            }
            if !self.closed {
                let mut roles = Vec::new();
                for sb in members {
                    roles.push(sb.role().await);
                }
                let logs: Vec<String> = members.iter().map(|sb| sb.log()).collect();
                panic!(
                    "{}: timed out waiting for {what}; roles {roles:?}; last frames {:?}; logs:\n{}",
                    self.name,
                    self.frames.iter().rev().take(5).collect::<Vec<_>>(),
                    logs.join("\n-----\n")
                );
            }
            eprintln!(
                "{}: socket closed while waiting for {what} (last frame {:?}); reconnecting to the leader",
                self.name,
                self.frames.last()
            );
            self = self.reconnect_to_leader(members).await.0;
        }
    }

    /// Reads frames until one matching `wanted` has arrived (now or earlier).
    pub async fn until_frame(
        &mut self,
        wait: Duration,
        what: &str,
        wanted: impl Fn(&ServerFrame) -> bool,
    ) {
        self.until(wait, what, |a| a.frames.iter().any(&wanted))
            .await
    }

    /// Reads whatever arrives within `wait` (to check nothing more comes).
    pub async fn drain(&mut self, wait: Duration) {
        while self.next_frame(wait).await.is_some() {}
    }

    pub fn received_count(&self) -> usize {
        self.messages.values().map(Vec::len).sum()
    }

    /// The texts between customer and team (private notes and timeline
    /// events left out: see [`Agent::timeline`]).
    pub fn bodies(&self, conversation: &str) -> Vec<String> {
        self.messages
            .get(conversation)
            .map(|m| {
                m.iter()
                    .filter(|m| !m.direction.is_internal())
                    .map(|m| m.body.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Everything in the conversation as the agent saw it, one line each:
    /// texts as their body, a note as `note by <agent>: <body>`, an event
    /// as `[<what happened>] <note>`.
    pub fn timeline(&self, conversation: &str) -> Vec<String> {
        self.messages
            .get(conversation)
            .map(|m| m.iter().map(timeline_line).collect())
            .unwrap_or_default()
    }

    pub fn errors(&self) -> Vec<&ServerFrame> {
        self.frames
            .iter()
            .filter(|f| matches!(f, ServerFrame::Error { .. }))
            .collect()
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// Opens an authenticated agent socket without saying hello.
pub async fn open_socket(sb: &Switchboard, name: &str) -> Result<Socket, ConnectError> {
    client::connect(&credentials(sb, name)).await
}

/// [`open_socket`], retried while the refusal is transient: with several
/// switchboards (or a restart) on DynamoDB only the router lease's holder
/// accepts agents; the others, and a restarted one until it holds the
/// lease, answer 503. Any client retries then; so does this one.
async fn open_socket_retrying(sb: &Switchboard, name: &str) -> Socket {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match open_socket(sb, name).await {
            Ok(socket) => return socket,
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("agent {name} could not connect: {e}"),
        }
    }
}

/// A test agent's credentials: every agent's password is `<name>-pw`.
fn credentials(sb: &Switchboard, name: &str) -> Credentials {
    Credentials {
        url: sb.ws_url(),
        name: name.to_string(),
        password: format!("{name}-pw"),
    }
}

impl Agent {
    /// An agent whose TCP receive window is tiny, so that when it stops
    /// reading the switchboard's side backs up within a few frames instead
    /// of megabytes of kernel buffers.
    pub async fn connect_tiny_window(sb: &Switchboard, name: &str, capacity: u32) -> Agent {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(2048).expect("SO_RCVBUF");
        let stream = socket
            .connect(([127, 0, 0, 1], sb.port).into())
            .await
            .expect("connect");
        let socket = client::connect_over(MaybeTlsStream::Plain(stream), &credentials(sb, name))
            .await
            .expect("handshake");
        Agent::greet(
            socket,
            name,
            BTreeMap::new(),
            Some(true),
            Some(capacity),
            None,
        )
        .await
    }
}

/// The phone simulator (Twilio's stand-in), running in this test process.
pub struct PhoneSim {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl PhoneSim {
    /// Starts the simulator; customers' messages go to `webhook_url`.
    pub async fn start(webhook_url: &str, delivery_delay_ms: u64) -> PhoneSim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sim");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = switchboard_devtools::phone_sim::SimConfig::new(
            ACCOUNT_SID,
            AUTH_TOKEN,
            TWILIO_NUMBER,
            webhook_url,
        );
        config.delivery_delay_ms = delivery_delay_ms;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = switchboard_devtools::phone_sim::serve(config, listener, async move {
                let _ = stopped.await;
            })
            .await;
        });
        PhoneSim {
            base,
            stop: Some(stop),
        }
    }

    /// Everything the simulator saw, as its JSON API reports it.
    pub async fn messages(&self) -> Vec<serde_json::Value> {
        reqwest::get(format!("{}/sim/messages", self.base))
            .await
            .expect("sim messages")
            .json()
            .await
            .expect("sim json")
    }

    /// Outbound messages (what Twilio was asked to send).
    pub async fn sent(&self) -> Vec<serde_json::Value> {
        self.messages()
            .await
            .into_iter()
            .filter(|m| m["direction"] != "inbound")
            .collect()
    }

    /// Faults queued and not yet used (queuing none answers the count): a
    /// test that injects faults checks with it that they were used.
    pub async fn pending_faults(&self) -> u64 {
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/sim/faults", self.base))
            .json(&serde_json::json!({ "faults": [] }))
            .send()
            .await
            .expect("sim faults")
            .json()
            .await
            .expect("sim faults json");
        answer["pending"].as_u64().expect("a pending count")
    }

    pub async fn faults(&self, faults: serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/sim/faults", self.base))
            .json(&serde_json::json!({ "faults": faults }))
            .send()
            .await
            .expect("sim faults");
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }
}

impl Drop for PhoneSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Polls `url` until it answers 2xx. Panics, with the process's log at
/// `log`, if `child` exits first or `bound` passes (a generous bound: a
/// working process is ready far sooner).
pub async fn until_ready(
    http: &reqwest::Client,
    url: &str,
    child: &mut Option<Child>,
    log: &Path,
    bound: Duration,
) {
    let read_log = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + bound;
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
            panic!(
                "exited early ({status}) instead of answering {url}; log:\n{}",
                read_log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{url} not ready within {bound:?}; log:\n{}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One line of [`Agent::timeline`].
pub fn timeline_line(m: &Message) -> String {
    let agent = m.agent.as_deref().unwrap_or("?");
    match (&m.direction, &m.event) {
        (Direction::Note, _) => format!("note by {agent}: {}", m.body),
        (Direction::Event, Some(event)) => format!("[{}] {}", event.describe(), m.body)
            .trim_end()
            .to_string(),
        (Direction::Event, None) => format!("[event] {}", m.body),
        _ => m.body.clone(),
    }
}
