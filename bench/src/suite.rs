//! The whole benchmark in one run, in this order:
//!
//! 1. (b) the trivial axum handler under the closed-loop load (baseline);
//! 2. a fresh `switchboard serve` (temp `DATA_DIR`, default durability)
//!    with 10 agents connected;
//! 3. (c) webhooks paced at 1,000/s → agent latency;
//! 4. (a) + (c) the same closed-loop load as the baseline: durable ingest
//!    throughput and latency, and webhook → agent latency at maximum rate;
//! 5. (d) one conversation grown to 5,000 messages: bytes per message;
//! 6. (e) peak RSS, and the audit: every acknowledged webhook reached an
//!    agent exactly once;
//! 7. (g) webhook → browser tab through the agent UI, paced like (c), on a
//!    second fresh switchboard ([`crate::ui_phase`]);
//! 8. (b) the baseline again, so a change in background load during the run
//!    shows up as two different baseline figures instead of a wrong ratio.
//!
//! Before all of it, (f): the agent UI's enrichment cost per message, on one
//! core of a machine where no server runs yet ([`crate::enrichment`]).
//!
//! Agents stay connected during (a) on purpose: ingest is measured with the
//! change feed, router and fan-out doing their real work. This file only
//! runs and measures; [`crate::findings`] turns the figures into the table.

use crate::agent::{Agent, AgentConfig};
use crate::analysis::{self, Consistency, DeliveryLatency, HistoryWindow};
use crate::cpu::{CpuSample, CpuUse, ThreadSample, ThreadUse};
use crate::enrichment::{self, EnrichmentCost};
use crate::findings;
use crate::ledger::{Audit, Ledger};
use crate::load::{self, LoadPlan, LoadResult};
use crate::process::{self, ServerProcess};
use crate::report::Report;
use crate::ui_phase::{self, UiPhase};
use crate::webhook::{Pool, WebhookSpec};
use anyhow::Context as _;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const WEBHOOK_PATH: &str = "/twilio/sms";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TEAM_NUMBER: &str = "+15550000000";
/// Unique requests the baseline cycles through; it does not parse them, so
/// reuse cannot make it faster, and the pool stays small.
const BASELINE_POOL: usize = 65_536;
/// Largest pool built for the closed-loop switchboard phase (~400 B each).
const MAX_POOL: usize = 3_000_000;
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);
/// Conversations per agent; more than the bench ever opens, so nothing queues.
const AGENT_CAPACITY: u32 = 1000;

#[derive(Debug, Clone, clap::Args)]
pub struct SuiteOptions {
    /// The release `switchboard` binary.
    #[arg(long)]
    pub switchboard_bin: PathBuf,
    /// The `trivial` baseline server binary.
    #[arg(long)]
    pub trivial_bin: PathBuf,
    /// Where to write the markdown table.
    #[arg(long, default_value = "bench/results/latest.md")]
    pub out: PathBuf,
    /// Keep-alive connections of the closed-loop phases.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Warm-up before each measured window, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Measured window of the closed-loop phases, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    /// Webhooks per second of the paced phase.
    #[arg(long, default_value_t = 1000.0)]
    pub paced_rate: f64,
    /// Measured window of the paced phase, in seconds.
    #[arg(long, default_value_t = 8.0)]
    pub paced_secs: f64,
    /// Connected agents.
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Distinct customer numbers.
    #[arg(long, default_value_t = 200)]
    pub numbers: u32,
    /// Messages in the one conversation of the history phase.
    #[arg(long, default_value_t = 5000)]
    pub history: usize,
    /// Messages per window of the history phase.
    #[arg(long, default_value_t = 1000)]
    pub history_window: u64,
    /// Longest wait, after a phase, for acknowledged messages to reach agents.
    #[arg(long, default_value_t = 15.0)]
    pub drain_secs: f64,
    /// Free text recorded in the report (e.g. date and commit).
    #[arg(long)]
    pub label: Option<String>,
    /// The release `agent-ui` binary; without it (g) is skipped.
    #[arg(long)]
    pub agent_ui_bin: Option<PathBuf>,
    /// The agent UI's static files (its `STATIC_DIR`).
    #[arg(long, default_value = "static")]
    pub static_dir: PathBuf,
    /// The labelled messages (f) runs through the agent UI's enrichment.
    #[arg(long, default_value = "agent-ui/eval/sentiment.tsv")]
    pub sentiment_eval: PathBuf,
    /// Messages per step of (f): the evaluation set, repeated.
    #[arg(long, default_value_t = 200_000)]
    pub enrich_messages: usize,
    /// Agents signed in through the agent UI in (g), one browser tab each.
    #[arg(long, default_value_t = 10)]
    pub ui_agents: usize,
    /// Measured window of (g), at the paced rate, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub ui_secs: f64,
}

impl SuiteOptions {
    fn closed_loop(&self, addr: SocketAddr) -> LoadPlan {
        LoadPlan {
            addr,
            path: WEBHOOK_PATH.into(),
            connections: self.connections,
            warmup: Duration::from_secs_f64(self.warmup_secs),
            measure: Duration::from_secs_f64(self.duration_secs),
            rate: None,
            reuse_pool: false,
        }
    }
}

/// One load phase against the switchboard and what the agents saw of it.
#[derive(Debug)]
pub struct Phase {
    pub load: LoadResult,
    pub cpu: Option<CpuUse>,
    /// The switchboard's threads, by name, busiest first.
    pub threads: Vec<ThreadUse>,
    pub latency: DeliveryLatency,
    /// How long after the load stopped the last acknowledged message reached
    /// an agent; `None` if some never did within the drain limit.
    pub drained: Option<Duration>,
    /// Acknowledged webhooks of the phase and their deliveries.
    pub audit: Audit,
    /// WebSocket bytes all agents received during the phase and its drain.
    pub ws_bytes: u64,
}

/// Everything measured in one run; see [`findings::report`].
#[derive(Debug, Default)]
pub struct Measurements {
    /// Trivial handler before and after the switchboard phases.
    pub baselines: Vec<(LoadResult, Option<CpuUse>)>,
    pub disk_sync: Option<Histogram<u64>>,
    pub paced: Option<Phase>,
    pub closed_loop: Option<Phase>,
    pub history: Option<Phase>,
    pub history_windows: Vec<HistoryWindow>,
    /// Over every switchboard phase.
    pub audit: Audit,
    pub consistency: Consistency,
    pub peak_rss_kib: Option<u64>,
    pub server_survived: bool,
    pub server_exit: Option<String>,
    /// Frames received by all agents, by type.
    pub frame_types: BTreeMap<String, u64>,
    pub agent_ws_bytes: u64,
    pub agent_socket_bytes: u64,
    /// `agent: first problem (count)`.
    pub agent_problems: Vec<String>,
    /// Warning and error lines of the switchboard's log.
    pub server_log_problems: Vec<String>,
    /// (f) the agent UI's enrichment cost per message.
    pub enrichment: Option<EnrichmentCost>,
    /// (g) webhook → browser tab through the agent UI.
    pub agent_ui: Option<UiPhase>,
    /// Why the run stopped early, if it did.
    pub failure: Option<String>,
}

impl Measurements {
    /// Records a phase that could not run; the first failure is the lead.
    fn fail(&mut self, why: String) {
        self.failure = Some(match self.failure.take() {
            Some(first) => format!("{first}; then {why}"),
            None => why,
        });
    }
}

/// The table, and whether every phase ran.
pub struct SuiteResult {
    pub report: Report,
    pub complete: bool,
}

/// Runs everything, writes the markdown to `options.out` and returns the report.
pub async fn run(options: SuiteOptions) -> anyhow::Result<SuiteResult> {
    let work = tempfile::Builder::new()
        .prefix("switchboard-bench-")
        .tempdir()?;
    let auth_token = format!("{:032x}", rand::random::<u128>());
    let run_nonce: u32 = rand::random();
    let mut m = Measurements::default();

    println!("(f) agent-UI enrichment per message, one core …");
    let eval = options.sentiment_eval.clone();
    let messages = options.enrich_messages;
    match tokio::task::block_in_place(|| enrichment::measure(&eval, messages)) {
        Ok(cost) => {
            println!(
                "    {:.0} ns per browser frame ({} messages)",
                cost.frame_ns, cost.messages
            );
            m.enrichment = Some(cost);
        }
        Err(e) => m.fail(format!("enrichment microbenchmark: {e:#}")),
    }

    println!("(b) baseline: trivial axum handler …");
    m.baselines
        .push(run_baseline(&options, work.path(), &auth_token, run_nonce).await?);
    let baseline_rate = m.baselines[0].0.throughput();
    println!("    {} req/s", findings::thousands(baseline_rate));

    let data_dir = work.path().join("data");
    std::fs::create_dir_all(&data_dir)?;
    m.disk_sync = crate::disk::sync_latency(&data_dir, 200).ok();
    if let Err(e) = run_switchboard(
        &options,
        work.path(),
        &data_dir,
        &auth_token,
        run_nonce,
        baseline_rate,
        &mut m,
    )
    .await
    {
        // Keep what was measured: a misbehaving switchboard is a finding.
        m.fail(format!("{e:#}"));
    }

    if let Some(bin) = &options.agent_ui_bin {
        println!(
            "(g) through the agent UI: paced {} msg/s to {} browser tabs …",
            options.paced_rate, options.ui_agents
        );
        let nonce = run_nonce.wrapping_add(3);
        match ui_phase::run(&options, bin, work.path(), &auth_token, nonce).await {
            Ok(phase) => m.agent_ui = Some(phase),
            Err(e) => m.fail(format!("agent UI phase: {e:#}")),
        }
    }

    println!("(b) baseline again …");
    match run_baseline(
        &options,
        work.path(),
        &auth_token,
        run_nonce.wrapping_add(2),
    )
    .await
    {
        Ok(again) => m.baselines.push(again),
        Err(e) => m.fail(format!("second baseline: {e:#}")),
    }

    let report = findings::report(&options, &m);
    write_markdown(&options.out, &report)?;
    Ok(SuiteResult {
        report,
        complete: m.failure.is_none(),
    })
}

/// Phases 2–6. Fills `m` as it goes, so an error keeps what came before.
#[allow(clippy::too_many_arguments)]
async fn run_switchboard(
    options: &SuiteOptions,
    dir: &Path,
    data_dir: &Path,
    auth_token: &str,
    run_nonce: u32,
    baseline_rate: f64,
    m: &mut Measurements,
) -> anyhow::Result<()> {
    println!("starting switchboard (fresh DATA_DIR) …");
    let addr = process::free_local_addr()?;
    let credentials: Vec<(String, String)> = (1..=options.agents)
        .map(|i| {
            (
                format!("agent{i:02}"),
                format!("{:016x}", rand::random::<u64>()),
            )
        })
        .collect();
    let mut server = spawn_switchboard(
        options,
        "switchboard",
        dir,
        data_dir,
        addr,
        auth_token,
        &credentials,
    )?;
    server.wait_ready(READY_TIMEOUT).await?;
    let spec = spec_for(addr, auth_token, run_nonce.wrapping_add(1));

    // Every switchboard phase draws its ids from one ledger, so the final
    // audit covers them all. The closed-loop pool is sized from the baseline:
    // the switchboard cannot plausibly outrun a handler that does nothing.
    let numbers = options.numbers;
    let paced_count =
        (options.paced_rate * (options.warmup_secs + options.paced_secs)).ceil() as usize + 1;
    let max_count = ((baseline_rate * (options.warmup_secs + options.duration_secs) * 1.3)
        as usize)
        .clamp(20_000, MAX_POOL);
    let total = paced_count + max_count + options.history;
    println!("building {total} signed webhooks …");
    let (paced_pool, max_pool, history_pool) = tokio::task::block_in_place(|| {
        let paced = Pool::build(&spec, 0, paced_count, |id| id % numbers);
        let max = Pool::build(&spec, paced_count as u32, max_count, |id| id % numbers);
        // The history phase writes as a customer no other phase uses.
        let history = Pool::build(
            &spec,
            (paced_count + max_count) as u32,
            options.history,
            |_| numbers,
        );
        (Arc::new(paced), Arc::new(max), Arc::new(history))
    });
    let ledger = Arc::new(Ledger::new(total));

    // Agents read on their own thread, so load-generator work cannot delay
    // their arrival timestamps.
    let agent_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-agents")
        .enable_all()
        .build()?;
    let mut agents = Vec::new();
    for (name, password) in &credentials {
        let config = AgentConfig {
            addr,
            name: name.clone(),
            password: password.clone(),
            capacity: AGENT_CAPACITY,
        };
        agents.push(Agent::connect(agent_runtime.handle(), config, ledger.clone()).await?);
    }

    let phases = run_phases(
        options,
        &server,
        &agents,
        &ledger,
        [paced_pool, max_pool, history_pool],
        m,
    )
    .await;

    // Audit and memory at the very end, whatever happened above.
    m.audit = ledger.audit(0..total as u32);
    m.consistency = analysis::consistency(&agents);
    m.server_survived = server.is_alive();
    m.peak_rss_kib = server.peak_rss_kib().ok();
    collect_agent_figures(&agents, m);
    m.server_log_problems = log_problems(&server);
    agent_runtime.shutdown_background();
    match server.stop(STOP_GRACE).await {
        Ok(status) if !status.success() => m.server_exit = Some(format!("{status} on SIGTERM")),
        Ok(_) => {}
        Err(e) => m.server_exit = Some(format!("could not be stopped: {e:#}")),
    }
    phases
}

/// Phases 3–5 against the running switchboard.
async fn run_phases(
    options: &SuiteOptions,
    server: &ServerProcess,
    agents: &[Agent],
    ledger: &Arc<Ledger>,
    [paced_pool, max_pool, history_pool]: [Arc<Pool>; 3],
    m: &mut Measurements,
) -> anyhow::Result<()> {
    let addr = server.addr;
    println!("(c) paced {} msg/s …", options.paced_rate);
    let plan = LoadPlan {
        rate: Some(options.paced_rate),
        measure: Duration::from_secs_f64(options.paced_secs),
        ..options.closed_loop(addr)
    };
    m.paced = Some(run_phase(options, server, agents, ledger, plan, paced_pool).await?);

    println!("(a) closed loop, {} connections …", options.connections);
    let plan = options.closed_loop(addr);
    m.closed_loop = Some(run_phase(options, server, agents, ledger, plan, max_pool).await?);

    println!("(d) one conversation, {} messages …", options.history);
    let before: Vec<u64> = agents.iter().map(Agent::ws_bytes).collect();
    let plan = LoadPlan {
        // Runs until the pool is used up; the limit only bounds a stuck server.
        warmup: Duration::ZERO,
        measure: Duration::from_secs(60),
        ..options.closed_loop(addr)
    };
    m.history = Some(run_phase(options, server, agents, ledger, plan, history_pool).await?);
    m.history_windows =
        analysis::history_windows(agents, &before, options.numbers, options.history_window);
    Ok(())
}

/// Runs one load phase, waits for agents to receive what was acknowledged,
/// and gathers the phase's figures.
async fn run_phase(
    options: &SuiteOptions,
    server: &ServerProcess,
    agents: &[Agent],
    ledger: &Arc<Ledger>,
    plan: LoadPlan,
    pool: Arc<Pool>,
) -> anyhow::Result<Phase> {
    let ws_before: u64 = agents.iter().map(Agent::ws_bytes).sum();
    let cpu_before = CpuSample::take(server.pid()).ok();
    let threads_before = ThreadSample::take(server.pid()).ok();
    let load = load::run(plan, pool, ledger.clone()).await?;
    let cpu = cpu_before.and_then(|b| Some(b.until(&CpuSample::take(server.pid()).ok()?)));
    let threads = threads_before
        .and_then(|b| Some(b.until(&ThreadSample::take(server.pid()).ok()?)))
        .unwrap_or_default();
    let drained = drain(
        ledger,
        load.ids.clone(),
        Duration::from_secs_f64(options.drain_secs),
    )
    .await;
    let window = ledger.ns_at(load.window.start)..ledger.ns_at(load.window.end);
    Ok(Phase {
        latency: analysis::delivery_latency(agents, ledger, load.ids.clone(), window),
        audit: ledger.audit(load.ids.clone()),
        ws_bytes: agents.iter().map(Agent::ws_bytes).sum::<u64>() - ws_before,
        drained,
        cpu,
        threads,
        load,
    })
}

async fn run_baseline(
    options: &SuiteOptions,
    dir: &Path,
    auth_token: &str,
    run_nonce: u32,
) -> anyhow::Result<(LoadResult, Option<CpuUse>)> {
    let addr = process::free_local_addr()?;
    let port = addr.port().to_string();
    let args = ["--port", port.as_str()];
    let log = dir.join("trivial.log");
    let mut server =
        ServerProcess::spawn("trivial", &options.trivial_bin, &args, &[], dir, addr, log)?;
    server.wait_ready(READY_TIMEOUT).await?;
    let spec = spec_for(addr, auth_token, run_nonce);
    let numbers = options.numbers;
    let pool =
        tokio::task::block_in_place(|| Pool::build(&spec, 0, BASELINE_POOL, |id| id % numbers));
    let ledger = Arc::new(Ledger::new(BASELINE_POOL));
    let plan = LoadPlan {
        reuse_pool: true,
        ..options.closed_loop(addr)
    };
    let before = CpuSample::take(server.pid()).ok();
    let result = load::run(plan, Arc::new(pool), ledger).await?;
    let cpu = before.and_then(|b| Some(b.until(&CpuSample::take(server.pid()).ok()?)));
    server.stop(STOP_GRACE).await?;
    anyhow::ensure!(
        result.ok_in_window > 0,
        "the trivial baseline answered nothing: {:?}",
        result.statuses
    );
    Ok((result, cpu))
}

/// A switchboard on `addr` with `agents` as its credentials; `name` names
/// the process and its log file in `dir`.
pub(crate) fn spawn_switchboard(
    options: &SuiteOptions,
    name: &str,
    dir: &Path,
    data_dir: &Path,
    addr: SocketAddr,
    auth_token: &str,
    agents: &[(String, String)],
) -> anyhow::Result<ServerProcess> {
    let credentials = agents
        .iter()
        .map(|(name, password)| format!("{name}:{password}"))
        .collect::<Vec<_>>()
        .join(",");
    // Only what the bench needs: everything else (durability included)
    // stays at the server's defaults.
    let envs = [
        ("PORT", addr.port().to_string()),
        ("BIND_ADDR", addr.ip().to_string()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("PUBLIC_URL", format!("http://{addr}")),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()),
        ("TWILIO_AUTH_TOKEN", auth_token.to_string()),
        ("TWILIO_FROM", TEAM_NUMBER.to_string()),
        // Nothing listens there: the bench sends no replies.
        ("TWILIO_API_BASE", "http://127.0.0.1:9".to_string()),
        ("AGENTS", credentials),
    ];
    let log = dir.join(format!("{name}.log"));
    ServerProcess::spawn(
        name,
        &options.switchboard_bin,
        &["serve"],
        &envs,
        dir,
        addr,
        log,
    )
}

pub(crate) fn spec_for(addr: SocketAddr, auth_token: &str, run_nonce: u32) -> WebhookSpec {
    WebhookSpec {
        signed_url: format!("http://{addr}{WEBHOOK_PATH}"),
        auth_token: auth_token.to_string(),
        account_sid: ACCOUNT_SID.to_string(),
        to: TEAM_NUMBER.to_string(),
        run_nonce,
    }
}

/// Waits until every acknowledged id in `ids` reached an agent; how long
/// that took, or `None` if `limit` passed first.
pub(crate) async fn drain(
    ledger: &Ledger,
    ids: std::ops::Range<u32>,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if ledger.undelivered(ids.clone()) == 0 {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn collect_agent_figures(agents: &[Agent], m: &mut Measurements) {
    for agent in agents {
        let log = agent.log();
        for (name, n) in &log.frame_types {
            *m.frame_types.entry(name.clone()).or_default() += n;
        }
        if let Some(first) = log.problems.first() {
            m.agent_problems.push(format!(
                "{}: {first} ({} in all)",
                agent.name,
                log.problems.len()
            ));
        }
        m.agent_ws_bytes += agent.ws_bytes();
        m.agent_socket_bytes += agent.socket_bytes();
    }
}

pub(crate) fn log_problems(server: &ServerProcess) -> Vec<String> {
    let text = std::fs::read_to_string(&server.log_path).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN") || l.contains("panicked"))
        .map(|l| without_colours(l).chars().take(300).collect())
        .collect()
}

/// `line` without ANSI colour codes (the servers colour their logs even
/// into a file), so it reads cleanly in the markdown.
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequences end with a letter: `ESC [ 2 m`.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn write_markdown(path: &Path, report: &Report) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, report.to_markdown())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::without_colours;

    #[test]
    fn log_lines_lose_their_colours() {
        let line = "\u{1b}[2m2026-11-21\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m fell behind";
        assert_eq!(without_colours(line), "2026-11-21  WARN fell behind");
    }
}
