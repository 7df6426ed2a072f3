//! (g) The agent UI in the path: webhook sent → enriched frame read by an
//! agent's browser tab, at the paced rate of (c).
//!
//! Starts a fresh switchboard (its own temp `DATA_DIR`, default durability,
//! like the one (c) measured) and `agent-ui serve` pointed at it; signs
//! `ui_agents` agents in through the agent UI's login form with one tab each
//! ([`crate::browser`]); then sends the same kind of paced, signed webhooks
//! as (c). The switchboard is not the one of phases (a)–(e): there, ten
//! direct agents would take conversations too, and its store holds the
//! closed-loop phase's messages, which (c) did not have to contend with.

use crate::analysis::{self, Consistency, DeliveryLatency};
use crate::browser::{Browser, BrowserConfig};
use crate::cpu::{CpuSample, CpuUse};
use crate::ledger::{Audit, Ledger};
use crate::load::{self, LoadPlan, LoadResult};
use crate::process::{self, ServerProcess};
use crate::suite::{self, SuiteOptions};
use crate::webhook::Pool;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use switchboard_protocol::AGENT_WS_PATH;

/// After every tab saw its availability echoed, the switchboard still has to
/// apply it; the warm-up would absorb that too, this only keeps the first
/// conversations out of the queue.
const SETTLE: Duration = Duration::from_millis(300);

/// What (g) measured.
#[derive(Debug)]
pub struct UiPhase {
    pub load: LoadResult,
    /// Webhook → browser frame (and 200 → browser frame).
    pub latency: DeliveryLatency,
    pub audit: Audit,
    pub consistency: Consistency,
    /// How long after the load the last acknowledged message reached a tab;
    /// `None` if some never did within the drain limit.
    pub drained: Option<Duration>,
    pub cpu: Option<UiCpu>,
    pub agent_ui_peak_rss_kib: Option<u64>,
    /// Frames all tabs received, by type.
    pub frame_types: BTreeMap<String, u64>,
    /// WebSocket bytes all tabs received during the load and its drain.
    pub ws_bytes: u64,
    /// Messages a tab showed without sentiment or time label.
    pub unenriched: u64,
    /// Tabs that fell behind and were sent a fresh `state`.
    pub resyncs: u64,
    /// `agent: first problem (count)`.
    pub tab_problems: Vec<String>,
    /// Warning and error lines of both servers' logs, named by server.
    pub log_problems: Vec<String>,
    /// Unclean exits on SIGTERM.
    pub exits: Vec<String>,
}

/// CPU during the load of (g).
#[derive(Debug, Clone, Copy)]
pub struct UiCpu {
    /// Sampled for the switchboard: its "other" includes the agent UI.
    pub switchboard: CpuUse,
    pub agent_ui_cores: f64,
    pub agent_ui_time: Duration,
}

impl UiCpu {
    /// Both servers as one "server", everything else as "other", for the
    /// run's CPU summary and disturbance check.
    pub fn combined(&self) -> CpuUse {
        CpuUse {
            server_cores: self.switchboard.server_cores + self.agent_ui_cores,
            other_cores: (self.switchboard.other_cores - self.agent_ui_cores).max(0.0),
            server_time: self.switchboard.server_time + self.agent_ui_time,
            ..self.switchboard
        }
    }
}

/// Runs (g) from start-up to shutdown of both servers.
pub async fn run(
    options: &SuiteOptions,
    agent_ui_bin: &Path,
    dir: &Path,
    auth_token: &str,
    run_nonce: u32,
) -> anyhow::Result<UiPhase> {
    let capacity = agent_ui::browser::MAX_CAPACITY;
    // The console refuses a larger capacity, so enough agents must be
    // signed in to hold every customer at once, or messages would queue.
    anyhow::ensure!(
        options.ui_agents as u64 * u64::from(capacity) >= u64::from(options.numbers),
        "--ui-agents {} × capacity {capacity} cannot hold {} customers",
        options.ui_agents,
        options.numbers
    );
    let data_dir = dir.join("ui-data");
    std::fs::create_dir_all(&data_dir)?;
    let credentials: Vec<(String, String)> = (1..=options.ui_agents)
        .map(|i| {
            (
                format!("ui{i:02}"),
                format!("{:016x}", rand::random::<u64>()),
            )
        })
        .collect();
    let sb_addr = process::free_local_addr()?;
    let mut switchboard = suite::spawn_switchboard(
        options,
        "switchboard-ui",
        dir,
        &data_dir,
        sb_addr,
        auth_token,
        &credentials,
    )?;
    switchboard.wait_ready(suite::READY_TIMEOUT).await?;
    let mut agent_ui = spawn_agent_ui(options, agent_ui_bin, dir, sb_addr)?;
    agent_ui
        .wait_ready_at("/healthz", suite::READY_TIMEOUT)
        .await?;

    // Tabs read on their own thread, so load-generator work cannot delay
    // their arrival timestamps (as for the direct agents).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-browsers")
        .enable_all()
        .build()?;
    let measured = measure(
        options,
        &switchboard,
        &agent_ui,
        runtime.handle(),
        &credentials,
        auth_token,
        run_nonce,
    )
    .await;
    runtime.shutdown_background();

    let peak_rss = agent_ui.peak_rss_kib().ok();
    // Read before either server stops, as for the main switchboard: what
    // counts is what went wrong while measuring. (At shutdown the
    // switchboard may log a closed agent socket as "fell behind".)
    let log_problems: Vec<String> = [&agent_ui, &switchboard]
        .into_iter()
        .flat_map(|server| {
            suite::log_problems(server)
                .into_iter()
                .map(|line| format!("{}: {line}", server.name))
        })
        .collect();
    let mut exits = Vec::new();
    // The agent UI first: it closes its upstream sockets cleanly on the way down.
    for server in [agent_ui, switchboard] {
        let name = server.name.clone();
        match server.stop(suite::STOP_GRACE).await {
            Ok(status) if !status.success() => exits.push(format!("{name}: {status} on SIGTERM")),
            Ok(_) => {}
            Err(e) => exits.push(format!("{name} could not be stopped: {e:#}")),
        }
    }
    let mut phase = measured?;
    phase.agent_ui_peak_rss_kib = peak_rss;
    phase.log_problems = log_problems;
    phase.exits = exits;
    Ok(phase)
}

/// Signs the tabs in, runs the paced load, waits for the tabs, gathers figures.
async fn measure(
    options: &SuiteOptions,
    switchboard: &ServerProcess,
    agent_ui: &ServerProcess,
    runtime: &tokio::runtime::Handle,
    credentials: &[(String, String)],
    auth_token: &str,
    run_nonce: u32,
) -> anyhow::Result<UiPhase> {
    let count = (options.paced_rate * (options.warmup_secs + options.ui_secs)).ceil() as usize + 1;
    let spec = suite::spec_for(switchboard.addr, auth_token, run_nonce);
    let numbers = options.numbers;
    let pool = tokio::task::block_in_place(|| Pool::build(&spec, 0, count, |id| id % numbers));
    let ledger = Arc::new(Ledger::new(count));

    let mut browsers = Vec::new();
    for (name, password) in credentials {
        let config = BrowserConfig {
            addr: agent_ui.addr,
            name: name.clone(),
            password: password.clone(),
            capacity: agent_ui::browser::MAX_CAPACITY,
        };
        browsers.push(Browser::open(runtime, config, ledger.clone()).await?);
    }
    tokio::time::sleep(SETTLE).await;

    let ws_before: u64 = browsers.iter().map(Browser::ws_bytes).sum();
    let sb_before = CpuSample::take(switchboard.pid()).ok();
    let ui_before = CpuSample::take(agent_ui.pid()).ok();
    let plan = LoadPlan {
        addr: switchboard.addr,
        path: suite::WEBHOOK_PATH.into(),
        connections: options.connections,
        warmup: Duration::from_secs_f64(options.warmup_secs),
        measure: Duration::from_secs_f64(options.ui_secs),
        rate: Some(options.paced_rate),
        reuse_pool: false,
    };
    let load = load::run(plan, Arc::new(pool), ledger.clone()).await?;
    let sb = sb_before.and_then(|b| Some(b.until(&CpuSample::take(switchboard.pid()).ok()?)));
    let ui = ui_before.and_then(|b| Some(b.until(&CpuSample::take(agent_ui.pid()).ok()?)));
    let drained = suite::drain(
        &ledger,
        load.ids.clone(),
        Duration::from_secs_f64(options.drain_secs),
    )
    .await;

    let window = ledger.ns_at(load.window.start)..ledger.ns_at(load.window.end);
    let logs: Vec<_> = browsers.iter().map(Browser::log).collect();
    let latency = analysis::latency_of(
        logs.iter().flat_map(|log| log.deliveries.iter()),
        &ledger,
        load.ids.clone(),
        window,
    );
    let mut frame_types = BTreeMap::new();
    let mut tab_problems = Vec::new();
    for (browser, log) in browsers.iter().zip(&logs) {
        for (name, n) in &log.frame_types {
            *frame_types.entry(name.clone()).or_default() += n;
        }
        if let Some(first) = log.problems.first() {
            tab_problems.push(format!(
                "{}: {first} ({} in all)",
                browser.name,
                log.problems.len()
            ));
        }
    }
    Ok(UiPhase {
        audit: ledger.audit(load.ids.clone()),
        consistency: analysis::consistency_of(logs.iter().map(|log| log.deliveries.as_slice())),
        cpu: sb.zip(ui).map(|(sb, ui)| UiCpu {
            switchboard: sb,
            agent_ui_cores: ui.server_cores,
            agent_ui_time: ui.server_time,
        }),
        ws_bytes: browsers.iter().map(Browser::ws_bytes).sum::<u64>() - ws_before,
        unenriched: logs.iter().map(|log| log.unenriched).sum(),
        resyncs: logs.iter().map(|log| log.resyncs).sum(),
        agent_ui_peak_rss_kib: None,
        log_problems: Vec::new(),
        exits: Vec::new(),
        frame_types,
        tab_problems,
        latency,
        drained,
        load,
    })
}

fn spawn_agent_ui(
    options: &SuiteOptions,
    bin: &Path,
    dir: &Path,
    switchboard: SocketAddr,
) -> anyhow::Result<ServerProcess> {
    let addr = process::free_local_addr()?;
    // The server runs in the temp dir, so a relative static dir would not
    // resolve (and its fallback logs a warning that reads like a problem).
    let static_dir = std::path::absolute(&options.static_dir)?;
    let envs = [
        ("PORT", addr.port().to_string()),
        ("BIND_ADDR", addr.ip().to_string()),
        (
            "SWITCHBOARD_WS_URL",
            format!("ws://{switchboard}{AGENT_WS_PATH}"),
        ),
        ("STATIC_DIR", static_dir.display().to_string()),
    ];
    ServerProcess::spawn(
        "agent-ui",
        bin,
        &["serve"],
        &envs,
        dir,
        addr,
        dir.join("agent-ui.log"),
    )
}
