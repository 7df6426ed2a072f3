//! The whole benchmark in one run, in this order:
//!
//! 1. (b) the trivial axum handler under the closed-loop load, as the baseline;
//! 2. a fresh `switchboard serve` (temp `DATA_DIR`, default durability) with
//!    10 agents connected;
//! 3. (c) webhooks paced at 1,000/s → agent latency;
//! 4. (a) + (c) the same closed-loop load as the baseline: durable ingest
//!    throughput and latency, and webhook → agent latency at maximum rate;
//! 5. (d) one conversation grown to 5,000 messages: bytes per message per window;
//! 6. (e) peak RSS, and the audit: every acknowledged webhook reached an
//!    agent exactly once.
//!
//! Agents stay connected during (a) on purpose: ingest is measured with the
//! change feed, router and fan-out doing their real work, not an idle store.

use crate::agent::{Agent, AgentConfig};
use crate::analysis::{self, Consistency};
use crate::cpu::{CpuSample, CpuUse};
use crate::ledger::{Audit, Ledger};
use crate::load::{self, LoadPlan, LoadResult};
use crate::process::{self, ServerProcess};
use crate::report::{Report, Verdict};
use crate::stats::Summary;
use crate::webhook::{Pool, WebhookSpec};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WEBHOOK_PATH: &str = "/twilio/sms";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TEAM_NUMBER: &str = "+15550000000";
/// Unique requests the baseline cycles through; it does not parse them, so
/// reuse cannot make it faster, and the pool stays small.
const BASELINE_POOL: usize = 65_536;
/// Largest pool built for the closed-loop switchboard phase (~400 B each).
const MAX_POOL: usize = 3_000_000;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(10);

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
}

impl SuiteOptions {
    fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup_secs)
    }

    fn closed_loop(&self, addr: SocketAddr, reuse_pool: bool) -> LoadPlan {
        LoadPlan {
            addr,
            path: WEBHOOK_PATH.into(),
            connections: self.connections,
            warmup: self.warmup(),
            measure: Duration::from_secs_f64(self.duration_secs),
            rate: None,
            reuse_pool,
        }
    }
}

/// Runs everything and returns the report (also written to `options.out`).
pub async fn run(options: SuiteOptions) -> anyhow::Result<Report> {
    let work = tempfile::Builder::new()
        .prefix("switchboard-bench-")
        .tempdir()?;
    let mut report = Report::default();
    describe_run(&mut report, &options);
    let auth_token = format!("{:032x}", rand::random::<u128>());
    let run_nonce: u32 = rand::random();

    println!("(b) baseline: trivial axum handler …");
    let (baseline, baseline_cpu) =
        run_baseline(&options, work.path(), &auth_token, run_nonce).await?;
    println!("    {} req/s", thousands(baseline.throughput()));

    println!("starting switchboard (fresh DATA_DIR) …");
    let addr = process::free_local_addr()?;
    let agents: Vec<(String, String)> = (1..=options.agents)
        .map(|i| {
            (
                format!("agent{i:02}"),
                format!("{:016x}", rand::random::<u64>()),
            )
        })
        .collect();
    let mut server = spawn_switchboard(&options, work.path(), addr, &auth_token, &agents)?;
    server.wait_ready(READY_TIMEOUT).await?;
    let spec = spec_for(addr, &auth_token, run_nonce.wrapping_add(1));

    // Every switchboard phase draws its ids from one ledger so the final
    // audit covers them all.
    let numbers = options.numbers;
    let paced_count =
        (options.paced_rate * (options.warmup_secs + options.paced_secs)).ceil() as usize + 1;
    let max_count = ((baseline.throughput() * (options.warmup_secs + options.duration_secs) * 1.3)
        as usize)
        .clamp(20_000, MAX_POOL);
    println!(
        "building {} signed webhooks …",
        paced_count + max_count + options.history
    );
    let (paced_pool, max_pool, history_pool) = tokio::task::block_in_place(|| {
        let paced = Pool::build(&spec, 0, paced_count, |id| id % numbers);
        let max = Pool::build(&spec, paced_count as u32, max_count, |id| id % numbers);
        // The history phase writes as one customer no other phase uses.
        let history = Pool::build(
            &spec,
            (paced_count + max_count) as u32,
            options.history,
            |_| numbers,
        );
        (Arc::new(paced), Arc::new(max), Arc::new(history))
    });
    let total_ids = (paced_count + max_count + options.history) as u32;
    let ledger = Arc::new(Ledger::new(total_ids as usize));

    // Agents read on their own thread, so load-generator work cannot delay
    // the arrival timestamps.
    let agent_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-agents")
        .enable_all()
        .build()?;
    let mut connected = Vec::new();
    for (name, password) in &agents {
        let config = AgentConfig {
            addr,
            name: name.clone(),
            password: password.clone(),
            capacity: 1000,
        };
        connected.push(Agent::connect(agent_runtime.handle(), config, ledger.clone()).await?);
    }
    let agents = connected;

    let pools = Pools {
        paced: paced_pool,
        closed_loop: max_pool,
        history: history_pool,
    };
    let mut cpu = vec![("baseline", baseline_cpu)];
    let result = measure_switchboard(
        &options,
        &server,
        &agents,
        &ledger,
        pools,
        &baseline,
        &mut cpu,
        &mut report,
    )
    .await;
    report_cpu(&mut report, &cpu);
    report_frames(&mut report, &agents);

    // Audit and memory at the very end, whatever happened above.
    let audit = ledger.audit(0..total_ids);
    let consistency = analysis::consistency(&agents);
    let alive = server.is_alive();
    let peak_rss = server.peak_rss_kib().ok();
    report_correctness(&mut report, &audit, &consistency, alive);
    report_memory(&mut report, peak_rss);
    report_agent_problems(&mut report, &agents);
    report_server_log(&mut report, &server);
    if let Err(e) = &result {
        report.note(format!("the run stopped early: {e:#}"));
    }
    agent_runtime.shutdown_background();
    match server.stop(STOP_GRACE).await {
        Ok(status) if !status.success() => {
            report.note(format!("switchboard exited with {status} on SIGTERM"))
        }
        Ok(_) => {}
        Err(e) => report.note(format!("stopping the switchboard failed: {e:#}")),
    }

    write_markdown(&options.out, &report)?;
    Ok(report)
}

/// The pre-built requests of each switchboard phase.
struct Pools {
    paced: Arc<Pool>,
    closed_loop: Arc<Pool>,
    history: Arc<Pool>,
}

/// Runs one phase and measures who used the CPU meanwhile.
async fn run_measured(
    server: &ServerProcess,
    plan: LoadPlan,
    pool: Arc<Pool>,
    ledger: Arc<Ledger>,
) -> anyhow::Result<(LoadResult, Option<CpuUse>)> {
    let before = CpuSample::take(server.pid()).ok();
    let result = load::run(plan, pool, ledger).await?;
    let used = before.and_then(|b| Some(b.until(&CpuSample::take(server.pid()).ok()?)));
    Ok((result, used))
}

/// Phases 3–5 against the running switchboard.
#[allow(clippy::too_many_arguments)]
async fn measure_switchboard(
    options: &SuiteOptions,
    server: &ServerProcess,
    agents: &[Agent],
    ledger: &Arc<Ledger>,
    pools: Pools,
    baseline: &LoadResult,
    cpu: &mut Vec<(&'static str, Option<CpuUse>)>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let addr = server.addr;
    let drain_limit = Duration::from_secs_f64(options.drain_secs);

    println!("(c) paced {} msg/s …", options.paced_rate);
    let paced_plan = LoadPlan {
        rate: Some(options.paced_rate),
        measure: Duration::from_secs_f64(options.paced_secs),
        ..options.closed_loop(addr, false)
    };
    let (paced, paced_cpu) = run_measured(server, paced_plan, pools.paced, ledger.clone()).await?;
    cpu.push(("paced", paced_cpu));
    let paced_drain = drain(ledger, paced.ids.clone(), drain_limit).await;
    let paced_latency = Summary::of(&analysis::delivery_latency(
        agents,
        ledger,
        paced.ids.clone(),
        window_ns(ledger, &paced),
    ));

    println!("(a) closed loop, {} connections …", options.connections);
    let bytes_before: u64 = agents.iter().map(Agent::ws_bytes).sum();
    let (ingest, ingest_cpu) = run_measured(
        server,
        options.closed_loop(addr, false),
        pools.closed_loop,
        ledger.clone(),
    )
    .await?;
    cpu.push(("closed loop", ingest_cpu));
    let ingest_drain = drain(ledger, ingest.ids.clone(), drain_limit).await;
    let max_latency = Summary::of(&analysis::delivery_latency(
        agents,
        ledger,
        ingest.ids.clone(),
        window_ns(ledger, &ingest),
    ));
    let ingest_bytes = agents.iter().map(Agent::ws_bytes).sum::<u64>() - bytes_before;
    let ingest_audit = ledger.audit(ingest.ids.clone());

    println!("(d) one conversation, {} messages …", options.history);
    let history_baseline: Vec<u64> = agents.iter().map(Agent::ws_bytes).collect();
    let history_plan = LoadPlan {
        // Runs until the pool is used up; the limit only bounds a stuck server.
        warmup: Duration::ZERO,
        measure: Duration::from_secs(60),
        ..options.closed_loop(addr, false)
    };
    let history = load::run(history_plan, pools.history, ledger.clone()).await?;
    let history_drain = drain(ledger, history.ids.clone(), drain_limit).await;
    let windows = analysis::history_windows(
        agents,
        &history_baseline,
        options.numbers,
        options.history_window,
    );

    report_ingest(
        report,
        options,
        baseline,
        &ingest,
        ingest_audit.acknowledged,
        ingest_cpu,
    );
    report_latency(
        report,
        options,
        &paced,
        &paced_latency,
        &ingest,
        &max_latency,
    );
    report_bytes(
        report,
        options,
        &windows,
        ingest_bytes,
        ingest_audit.deliveries,
    );
    for (phase, drained, result) in [
        ("paced", paced_drain, &paced),
        ("closed-loop", ingest_drain, &ingest),
        ("history", history_drain, &history),
    ] {
        if let Some(waited) = drained {
            if waited > Duration::from_secs(1) {
                report.note(format!(
                    "after the {phase} phase, agents needed {:.1} s more to receive every acknowledged message",
                    waited.as_secs_f64()
                ));
            }
        } else {
            report.note(format!(
                "after the {phase} phase, acknowledged messages were still missing at agents after {:.0} s",
                options.drain_secs
            ));
        }
        if result.errors() > 0 {
            report.note(format!(
                "{phase} phase: {} transport errors, non-200 answers {:?}",
                result.transport_errors, result.statuses
            ));
        }
    }
    if paced.max_send_lag > Duration::from_millis(5) {
        report.note(format!(
            "paced phase: some request left up to {:.1} ms after its scheduled time (load generator not scheduled in time, or every connection busy)",
            paced.max_send_lag.as_secs_f64() * 1000.0
        ));
    }
    if ingest.pool_exhausted {
        report.note(
            "closed-loop phase ran out of pre-built requests; its throughput is a lower bound",
        );
    }
    Ok(())
}

async fn run_baseline(
    options: &SuiteOptions,
    dir: &Path,
    auth_token: &str,
    run_nonce: u32,
) -> anyhow::Result<(LoadResult, Option<CpuUse>)> {
    let addr = process::free_local_addr()?;
    let port = addr.port().to_string();
    let mut server = ServerProcess::spawn(
        "trivial",
        &options.trivial_bin,
        &["--port", &port],
        &[],
        dir,
        addr,
        dir.join("trivial.log"),
    )?;
    server.wait_ready(READY_TIMEOUT).await?;
    let spec = spec_for(addr, auth_token, run_nonce);
    let numbers = options.numbers;
    let pool = tokio::task::block_in_place(|| {
        Arc::new(Pool::build(&spec, 0, BASELINE_POOL, |id| id % numbers))
    });
    let ledger = Arc::new(Ledger::new(BASELINE_POOL));
    let (result, cpu) =
        run_measured(&server, options.closed_loop(addr, true), pool, ledger).await?;
    server.stop(STOP_GRACE).await?;
    anyhow::ensure!(
        result.ok_in_window > 0,
        "the trivial baseline answered nothing: {:?}",
        result.statuses
    );
    Ok((result, cpu))
}

fn spawn_switchboard(
    options: &SuiteOptions,
    dir: &Path,
    addr: SocketAddr,
    auth_token: &str,
    agents: &[(String, String)],
) -> anyhow::Result<ServerProcess> {
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir)?;
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
    ServerProcess::spawn(
        "switchboard",
        &options.switchboard_bin,
        &["serve"],
        &envs,
        dir,
        addr,
        dir.join("switchboard.log"),
    )
}

fn spec_for(addr: SocketAddr, auth_token: &str, run_nonce: u32) -> WebhookSpec {
    WebhookSpec {
        signed_url: format!("http://{addr}{WEBHOOK_PATH}"),
        auth_token: auth_token.to_string(),
        account_sid: ACCOUNT_SID.to_string(),
        to: TEAM_NUMBER.to_string(),
        run_nonce,
    }
}

fn window_ns(ledger: &Ledger, result: &LoadResult) -> std::ops::Range<u64> {
    ledger.ns_at(result.window.start)..ledger.ns_at(result.window.end)
}

/// Waits until every acknowledged id in `ids` reached an agent; how long
/// that took, or `None` if `limit` passed first.
async fn drain(ledger: &Ledger, ids: std::ops::Range<u32>, limit: Duration) -> Option<Duration> {
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

fn describe_run(report: &mut Report, options: &SuiteOptions) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if let Some(label) = &options.label {
        report.context.push(("run".into(), label.clone()));
    }
    report.context.push((
        "machine".into(),
        format!("{cores} cores, {model}, Linux {}; load generator, agents and server on the same machine", kernel.trim()),
    ));
    report.context.push((
        "load".into(),
        format!(
            "{} keep-alive HTTP/1.1 connections, {} s warm-up + {} s measured, signed webhooks from {} numbers, unique MessageSids",
            options.connections, options.warmup_secs, options.duration_secs, options.numbers
        ),
    ));
    report.context.push((
        "switchboard".into(),
        format!(
            "release build, fresh temp DATA_DIR, default durability; {} agents connected (capacity 1000) during every switchboard phase",
            options.agents
        ),
    ));
}

fn report_ingest(
    report: &mut Report,
    options: &SuiteOptions,
    baseline: &LoadResult,
    ingest: &LoadResult,
    acknowledged: u64,
    cpu: Option<CpuUse>,
) {
    let ratio = ingest.throughput() / baseline.throughput();
    let conns = options.connections;
    report.row(
        "(a)",
        format!("durable ingest, {conns} conns"),
        format!("{} webhooks/s", thousands(ingest.throughput())),
        "(Node original: ~7,300/s, not durable)",
        Verdict::Info,
    );
    report.row(
        "(a)",
        "ingest latency p50 / p99",
        Summary::of(&ingest.latency).p50_p99(),
        "",
        Verdict::Info,
    );
    report.row(
        "(b)",
        format!("trivial axum handler, {conns} conns"),
        format!("{} req/s", thousands(baseline.throughput())),
        "",
        Verdict::Info,
    );
    report.row(
        "(b)",
        "trivial latency p50 / p99",
        Summary::of(&baseline.latency).p50_p99(),
        "",
        Verdict::Info,
    );
    report.row(
        "(a)/(b)",
        "ingest ÷ trivial",
        format!("{:.1} %", ratio * 100.0),
        "≥ 25 %",
        Verdict::from_bool(ratio >= 0.25),
    );
    // CPU was measured over the whole phase, warm-up included.
    let acknowledged = acknowledged.max(1) as f64;
    if let Some(cpu) = cpu {
        report.row(
            "(a)",
            "switchboard CPU per webhook",
            format!(
                "{:.0} µs",
                cpu.server_time.as_secs_f64() * 1e6 / acknowledged
            ),
            "",
            Verdict::Info,
        );
        report.row(
            "(a)",
            "bench process CPU per webhook",
            format!("{:.0} µs", cpu.own_time.as_secs_f64() * 1e6 / acknowledged),
            "(load generator + agents)",
            Verdict::Info,
        );
    }
}

fn report_latency(
    report: &mut Report,
    options: &SuiteOptions,
    paced: &LoadResult,
    paced_latency: &Summary,
    ingest: &LoadResult,
    max_latency: &Summary,
) {
    report.row(
        "(c)",
        format!("webhook → agent @ {} msg/s", thousands(options.paced_rate)),
        paced_latency.p50_p99(),
        "p99 ≤ 2.5 ms (Node: 1.1 / 3.2 ms)",
        Verdict::from_bool(paced_latency.count > 0 && paced_latency.p99_ms <= 2.5),
    );
    report.row(
        "(c)",
        format!("  webhook answer @ {} msg/s", thousands(options.paced_rate)),
        Summary::of(&paced.latency).p50_p99(),
        "",
        Verdict::Info,
    );
    report.row(
        "(c)",
        format!(
            "webhook → agent @ max ({} msg/s)",
            thousands(ingest.throughput())
        ),
        max_latency.p50_p99(),
        "p99 ≤ 10 ms (Node: 20 / 35 ms)",
        Verdict::from_bool(max_latency.count > 0 && max_latency.p99_ms <= 10.0),
    );
}

fn report_bytes(
    report: &mut Report,
    options: &SuiteOptions,
    windows: &[analysis::HistoryWindow],
    ingest_bytes: u64,
    ingest_deliveries: u64,
) {
    for w in windows {
        report.row(
            "(d)",
            format!("WS bytes/message, seq {}–{}", w.first_seq, w.last_seq),
            format!("{:.0} B", w.bytes_per_message()),
            "",
            Verdict::Info,
        );
    }
    let per_message: Vec<f64> = windows
        .iter()
        .map(analysis::HistoryWindow::bytes_per_message)
        .collect();
    let (min, max) = per_message
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &b| (lo.min(b), hi.max(b)));
    let complete = windows.iter().map(|w| w.messages).sum::<u64>() == options.history as u64;
    report.row(
        "(d)",
        "largest ÷ smallest window",
        if windows.is_empty() {
            "no deliveries".into()
        } else {
            format!("{:.2}", max / min)
        },
        "flat, ≤ 1.10 (Node: 1.6 KB and growing)",
        Verdict::from_bool(!windows.is_empty() && complete && max / min <= 1.10),
    );
    if ingest_deliveries > 0 {
        report.row(
            "(d)",
            "WS bytes/message, closed-loop phase",
            format!("{:.0} B", ingest_bytes as f64 / ingest_deliveries as f64),
            "",
            Verdict::Info,
        );
    }
}

fn report_memory(report: &mut Report, peak_rss_kib: Option<u64>) {
    report.row(
        "(e)",
        "switchboard peak RSS (VmHWM)",
        peak_rss_kib.map_or("unavailable".into(), |kib| {
            format!("{:.1} MB", kib as f64 / 1024.0)
        }),
        "(Node original: 137 MB)",
        Verdict::Info,
    );
}

fn report_correctness(report: &mut Report, audit: &Audit, consistency: &Consistency, alive: bool) {
    report.row(
        "",
        "acknowledged webhooks (all phases)",
        thousands(audit.acknowledged as f64),
        "",
        Verdict::Info,
    );
    report.row(
        "",
        "messages lost (acked, never received)",
        audit.lost.to_string(),
        "0",
        Verdict::from_bool(audit.lost == 0 && audit.acknowledged > 0),
    );
    report.row(
        "",
        "messages duplicated (by id / by seq)",
        format!("{} / {}", audit.duplicated, consistency.duplicate_seqs),
        "0",
        Verdict::from_bool(audit.duplicated == 0 && consistency.duplicate_seqs == 0),
    );
    report.row(
        "",
        "out-of-order deliveries",
        consistency.out_of_order.to_string(),
        "0",
        Verdict::from_bool(consistency.out_of_order == 0),
    );
    if consistency.split_conversations > 0 || consistency.foreign > 0 {
        report.note(format!(
            "{} conversations reached more than one agent, {} deliveries carried no benchmark id",
            consistency.split_conversations, consistency.foreign
        ));
    }
    if audit.not_acknowledged > 0 {
        report.note(format!(
            "{} webhooks were not acknowledged (error or no answer); {} of them reached an agent anyway",
            audit.not_acknowledged, audit.delivered_unacknowledged
        ));
    }
    if !alive {
        report.note("the switchboard process died during the run");
    }
}

fn report_agent_problems(report: &mut Report, agents: &[Agent]) {
    for agent in agents {
        let log = agent.log();
        if let Some(first) = log.problems.first() {
            report.note(format!(
                "agent {}: {} problem(s), first: {first}",
                agent.name,
                log.problems.len()
            ));
        }
    }
}

/// Who used the machine in each phase; a run where other processes took a
/// noticeable share is flagged, since every figure is then pessimistic and
/// the ratio less trustworthy.
fn report_cpu(report: &mut Report, phases: &[(&str, Option<CpuUse>)]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let parts: Vec<String> = phases
        .iter()
        .filter_map(|(phase, used)| {
            let u = used.as_ref()?;
            Some(format!(
                "{phase}: server {:.2}, bench {:.2}, other {:.2}",
                u.server_cores, u.own_cores, u.other_cores
            ))
        })
        .collect();
    if !parts.is_empty() {
        report
            .context
            .push((format!("CPU use in cores (of {cores})"), parts.join("; ")));
    }
    let busiest = phases
        .iter()
        .filter_map(|(phase, used)| Some((*phase, used.as_ref()?.other_cores)))
        .fold(("", 0.0f64), |best, p| if p.1 > best.1 { p } else { best });
    if busiest.1 > 0.25 {
        report.note(format!(
            "other processes on this machine used up to {:.2} cores (in the {} phase): the figures are pessimistic; rerun on a quiet machine for README numbers",
            busiest.1, busiest.0
        ));
    }
}

/// What the agents received, by frame type, and the socket cross-check of
/// the per-frame byte count.
fn report_frames(report: &mut Report, agents: &[Agent]) {
    let mut types: std::collections::BTreeMap<String, u64> = Default::default();
    for agent in agents {
        for (name, n) in &agent.log().frame_types {
            *types.entry(name.clone()).or_default() += n;
        }
    }
    let list: Vec<String> = types
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    report
        .context
        .push(("frames received by agents".into(), list.join(", ")));
    let ws: u64 = agents.iter().map(Agent::ws_bytes).sum();
    let socket: u64 = agents.iter().map(Agent::socket_bytes).sum();
    // The HTTP upgrade response is the only expected difference (~200 B each).
    let expected_extra = 512 * agents.len() as u64;
    if socket > ws + expected_extra + ws / 100 || socket < ws {
        report.note(format!(
            "agents' sockets carried {socket} bytes but their WebSocket frames add up to {ws}: the per-frame byte count missed something"
        ));
    }
}

fn report_server_log(report: &mut Report, server: &ServerProcess) {
    let text = std::fs::read_to_string(&server.log_path).unwrap_or_default();
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN") || l.contains("panicked"))
        .collect();
    if let Some(first) = bad.first() {
        let first: String = first.chars().take(300).collect();
        report.note(format!(
            "switchboard logged {} warning/error lines; first: {first}",
            bad.len()
        ));
    }
}

fn write_markdown(path: &Path, report: &Report) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, report.to_markdown())
        .with_context(|| format!("writing {}", path.display()))
}

/// `12345.6` → `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(12345.6), "12,346");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }
}
