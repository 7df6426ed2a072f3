//! Turns a run's [`Measurements`] into the results table: one row per
//! figure with its target and verdict, context lines that say what was run
//! where, and notes for anything that makes a figure less trustworthy.

use crate::analysis::HistoryWindow;
use crate::cpu::CpuUse;
use crate::report::{Report, Verdict};
use crate::stats::Summary;
use crate::suite::{Measurements, Phase, SuiteOptions};
use crate::ui_findings;
use std::time::Duration;

/// Other processes' CPU above which the run is flagged as disturbed.
const DISTURBED_CORES: f64 = 0.25;

pub fn report(options: &SuiteOptions, m: &Measurements) -> Report {
    let mut report = Report::default();
    describe_run(&mut report, options, m);
    ui_findings::describe(&mut report, options, m);
    ingest(&mut report, options, m);
    latency(&mut report, options, m);
    bytes(&mut report, options, m);
    memory_and_correctness(&mut report, m);
    ui_findings::enrichment(&mut report, m);
    ui_findings::agent_ui(&mut report, options, m);
    notes(&mut report, options, m);
    ui_findings::notes(&mut report, options, m);
    report
}

fn describe_run(report: &mut Report, options: &SuiteOptions, m: &Measurements) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if let Some(label) = &options.label {
        report.context.push(("run".into(), label.clone()));
    }
    report.context.push((
        "machine".into(),
        format!(
            "{} cores, {model}, Linux {}; load generator, agents and servers share it",
            cores(),
            kernel.trim()
        ),
    ));
    report.context.push((
        "load".into(),
        format!(
            "{} keep-alive HTTP/1.1 connections (no pipelining), {} s warm-up + {} s measured; signed webhooks from {} numbers, unique MessageSids",
            options.connections, options.warmup_secs, options.duration_secs, options.numbers
        ),
    ));
    report.context.push((
        "switchboard".into(),
        format!(
            "release build, fresh temp DATA_DIR, default durability; {} agents connected (capacity {}) during every switchboard phase, (a) included",
            options.agents, 1000
        ),
    ));
    report.context.push((
        "latency".into(),
        "answer = request written → 200 read; webhook → agent frame = request written → frame read by the agent (one clock, same process); 200 → agent frame is 0 when the frame came first".into(),
    ));
    let mut phases: Vec<(&str, Option<CpuUse>)> = Vec::new();
    if let Some((_, cpu)) = m.baselines.first() {
        phases.push(("baseline", *cpu));
    }
    phases.push(("paced", m.paced.as_ref().and_then(|p| p.cpu)));
    phases.push(("closed loop", m.closed_loop.as_ref().and_then(|p| p.cpu)));
    if let Some(phase) = &m.agent_ui {
        phases.push((
            "(g) with server = switchboard + agent UI",
            phase.cpu.map(|c| c.combined()),
        ));
    }
    if let Some((_, cpu)) = m.baselines.get(1) {
        phases.push(("baseline again", *cpu));
    }
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
    report.context.push((
        format!("CPU use in cores (of {})", cores()),
        parts.join("; "),
    ));
    let busiest = phases
        .iter()
        .filter_map(|(phase, used)| Some((*phase, used.as_ref()?.other_cores)))
        .fold(("", 0.0f64), |best, p| if p.1 > best.1 { p } else { best });
    if busiest.1 > DISTURBED_CORES {
        report.note(format!(
            "other processes on this machine used up to {:.2} cores (in the {} phase), so the figures are pessimistic and the ratio is less reliable; rerun on a quiet machine for README numbers",
            busiest.1, busiest.0
        ));
    }
    if let Some(phase) = m.closed_loop.as_ref().filter(|p| !p.threads.is_empty()) {
        let threads: Vec<String> = phase
            .threads
            .iter()
            .take(5)
            .map(|t| match t.threads {
                1 => format!("{} {:.2}", t.name, t.cores),
                n => format!(
                    "{} ×{n} {:.2} (busiest {:.2})",
                    t.name, t.cores, t.busiest_cores
                ),
            })
            .collect();
        report.context.push((
            "switchboard threads during (a), in cores".into(),
            threads.join(", "),
        ));
    }
    let frames: Vec<String> = m
        .frame_types
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    report
        .context
        .push(("frames received by agents".into(), frames.join(", ")));
}

fn ingest(report: &mut Report, options: &SuiteOptions, m: &Measurements) {
    let conns = options.connections;
    let baseline_rates: Vec<f64> = m.baselines.iter().map(|(r, _)| r.throughput()).collect();
    let baseline = baseline_rates.iter().sum::<f64>() / baseline_rates.len().max(1) as f64;
    let Some(phase) = &m.closed_loop else {
        report.row("(a)", "durable ingest", "not measured", "", Verdict::Missed);
        return;
    };
    let rate = phase.load.throughput();
    report.row(
        "(a)",
        format!("durable ingest, {conns} conns"),
        format!("{} webhooks/s", thousands(rate)),
        "(Node original: ~7,300/s, not durable)",
        Verdict::Info,
    );
    report.row(
        "(a)",
        "  answer latency p50 / p99",
        Summary::of(&phase.load.latency).p50_p99(),
        "",
        Verdict::Info,
    );
    let runs: Vec<String> = baseline_rates.iter().map(|r| thousands(*r)).collect();
    report.row(
        "(b)",
        format!("trivial axum handler, {conns} conns"),
        format!("{} req/s", runs.join(" / ")),
        "(before / after the switchboard)",
        Verdict::Info,
    );
    if let Some((first, _)) = m.baselines.first() {
        report.row(
            "(b)",
            "  answer latency p50 / p99",
            Summary::of(&first.latency).p50_p99(),
            "",
            Verdict::Info,
        );
    }
    let ratio = rate / baseline;
    report.row(
        "(a)/(b)",
        "ingest ÷ trivial (mean of its runs)",
        format!("{:.1} %", ratio * 100.0),
        "≥ 25 %",
        Verdict::from_bool(ratio >= 0.25),
    );
    let trivial_cpu = m.baselines.first().and_then(|(first, cpu)| {
        let answered = first.sent.saturating_sub(first.errors()).max(1) as f64;
        Some(cpu.as_ref()?.server_time.as_secs_f64() / answered)
    });
    let switchboard_cpu = phase
        .cpu
        .as_ref()
        .map(|cpu| cpu.server_time.as_secs_f64() / phase.audit.acknowledged.max(1) as f64);
    if let (Some(trivial), Some(switchboard)) = (trivial_cpu, switchboard_cpu) {
        // Less sensitive to background load than the throughput ratio: what
        // the ratio would be if both servers got the same CPU.
        report.row(
            "(a)/(b)",
            "server CPU per request, trivial ÷ switchboard",
            format!("{:.1} %", trivial / switchboard * 100.0),
            "",
            Verdict::Info,
        );
    }
    if let Some(cpu) = &phase.cpu {
        let acknowledged = phase.audit.acknowledged.max(1) as f64;
        report.row(
            "(a)",
            "switchboard CPU per webhook",
            format!(
                "{:.0} µs ({:.2} cores)",
                cpu.server_time.as_secs_f64() * 1e6 / acknowledged,
                cpu.server_cores
            ),
            "",
            Verdict::Info,
        );
        report.row(
            "(a)",
            "bench CPU per webhook",
            format!(
                "{:.0} µs ({:.2} cores)",
                cpu.own_time.as_secs_f64() * 1e6 / acknowledged,
                cpu.own_cores
            ),
            "(load generator + agents)",
            Verdict::Info,
        );
    }
}

fn latency(report: &mut Report, options: &SuiteOptions, m: &Measurements) {
    if let Some(sync) = &m.disk_sync {
        report.row(
            "",
            "disk: 512 B append + fdatasync",
            Summary::of(sync).p50_p99(),
            "(floor of durable latency)",
            Verdict::Info,
        );
    }
    let rows = [
        (
            m.paced.as_ref(),
            format!("{} msg/s", thousands(options.paced_rate)),
            2.5,
            "p99 ≤ 2.5 ms (Node: 1.1 / 3.2 ms)",
        ),
        (
            m.closed_loop.as_ref(),
            "max".to_string(),
            10.0,
            "p99 ≤ 10 ms (Node: 20 / 35 ms)",
        ),
    ];
    for (phase, rate, limit, target) in rows {
        let Some(phase) = phase else {
            report.row(
                "(c)",
                format!("webhook → agent @ {rate}"),
                "not measured",
                target,
                Verdict::Missed,
            );
            continue;
        };
        let to_agent = Summary::of(&phase.latency.from_send);
        let rate = if phase.load.rate.is_some() {
            rate
        } else {
            format!("{rate} ({}/s)", thousands(phase.load.throughput()))
        };
        report.row(
            "(c)",
            format!("webhook → agent frame @ {rate}"),
            to_agent.p50_p99(),
            target,
            Verdict::from_bool(to_agent.count > 0 && to_agent.p99_ms <= limit),
        );
        report.row(
            "(c)",
            "  webhook → 200",
            Summary::of(&phase.load.latency).p50_p99(),
            "",
            Verdict::Info,
        );
        report.row(
            "(c)",
            "  200 → agent frame",
            Summary::of(&phase.latency.from_answer).p50_p99(),
            "",
            Verdict::Info,
        );
    }
}

fn bytes(report: &mut Report, options: &SuiteOptions, m: &Measurements) {
    let windows = &m.history_windows;
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
        .map(HistoryWindow::bytes_per_message)
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
        "flat, ≤ 1.10 (Node: 1.6 KB, growing)",
        Verdict::from_bool(complete && max / min <= 1.10),
    );
    if let Some(phase) = m.closed_loop.as_ref().filter(|p| p.audit.deliveries > 0) {
        report.row(
            "(d)",
            "WS bytes/message, closed-loop phase",
            format!(
                "{:.0} B",
                phase.ws_bytes as f64 / phase.audit.deliveries as f64
            ),
            "",
            Verdict::Info,
        );
    }
}

fn memory_and_correctness(report: &mut Report, m: &Measurements) {
    report.row(
        "(e)",
        "switchboard peak RSS (VmHWM)",
        m.peak_rss_kib.map_or("unavailable".into(), |kib| {
            format!("{:.1} MB", kib as f64 / 1024.0)
        }),
        "(Node original: 137 MB)",
        Verdict::Info,
    );
    let audit = &m.audit;
    let c = &m.consistency;
    report.row(
        "",
        "acknowledged webhooks to direct agents, (a)–(d)",
        thousands(audit.acknowledged as f64),
        "",
        Verdict::Info,
    );
    report.row(
        "",
        "messages lost (acked, never at an agent)",
        audit.lost.to_string(),
        "0",
        Verdict::from_bool(audit.lost == 0 && audit.acknowledged > 0),
    );
    report.row(
        "",
        "messages duplicated (by id / by seq)",
        format!("{} / {}", audit.duplicated, c.duplicate_seqs),
        "0",
        Verdict::from_bool(audit.duplicated == 0 && c.duplicate_seqs == 0),
    );
    report.row(
        "",
        "out-of-order deliveries",
        c.out_of_order.to_string(),
        "0",
        Verdict::from_bool(c.out_of_order == 0),
    );
}

fn notes(report: &mut Report, options: &SuiteOptions, m: &Measurements) {
    if let Some(failure) = &m.failure {
        report.note(format!("the run stopped early: {failure}"));
    }
    if m.baselines.len() == 2 {
        let (a, b) = (m.baselines[0].0.throughput(), m.baselines[1].0.throughput());
        if (a - b).abs() / a.max(b) > 0.15 {
            report.note(format!(
                "the two baseline runs differ by {:.0} %: background load changed during the run",
                (a - b).abs() / a.max(b) * 100.0
            ));
        }
    }
    let phases = [
        ("paced", &m.paced),
        ("closed-loop", &m.closed_loop),
        ("history", &m.history),
    ];
    for (name, phase) in phases {
        let Some(phase) = phase else { continue };
        phase_notes(report, options, name, phase);
    }
    let c = &m.consistency;
    if c.split_conversations > 0 || c.foreign > 0 {
        report.note(format!(
            "{} conversations reached more than one agent; {} deliveries carried no benchmark id",
            c.split_conversations, c.foreign
        ));
    }
    if m.audit.not_acknowledged > 0 {
        report.note(format!(
            "{} webhooks were not acknowledged (error status or no answer); {} of those reached an agent anyway",
            m.audit.not_acknowledged, m.audit.delivered_unacknowledged
        ));
    }
    if !m.server_survived && m.failure.is_none() {
        report.note("the switchboard process died during the run");
    }
    if let Some(exit) = &m.server_exit {
        report.note(format!("switchboard exit: {exit}"));
    }
    for problem in &m.agent_problems {
        report.note(format!("agent {problem}"));
    }
    if let Some(first) = m.server_log_problems.first() {
        report.note(format!(
            "switchboard logged {} warning/error lines; first: {first}",
            m.server_log_problems.len()
        ));
    }
    // The HTTP upgrade response is the only expected extra (~200 B per agent).
    let expected_extra = 512 * options.agents as u64 + m.agent_ws_bytes / 100;
    if m.agent_socket_bytes > m.agent_ws_bytes + expected_extra
        || m.agent_socket_bytes < m.agent_ws_bytes
    {
        report.note(format!(
            "agents' sockets carried {} bytes but their WebSocket frames add up to {}: the per-frame byte count missed something",
            m.agent_socket_bytes, m.agent_ws_bytes
        ));
    }
}

fn phase_notes(report: &mut Report, options: &SuiteOptions, name: &str, phase: &Phase) {
    match phase.drained {
        Some(waited) if waited > Duration::from_secs(1) => report.note(format!(
            "after the {name} phase, agents needed {:.1} s more to receive every acknowledged message",
            waited.as_secs_f64()
        )),
        Some(_) => {}
        None => report.note(format!(
            "after the {name} phase, acknowledged messages were still missing at agents after {:.0} s",
            options.drain_secs
        )),
    }
    if phase.load.errors() > 0 {
        report.note(format!(
            "{name} phase: {} transport errors (incl. timeouts), non-200 answers {:?}",
            phase.load.transport_errors, phase.load.statuses
        ));
    }
    if phase.load.rate.is_some() && phase.load.max_send_lag > Duration::from_millis(5) {
        report.note(format!(
            "{name} phase: some request left up to {:.1} ms after its scheduled time (load generator not scheduled in time, or every connection busy)",
            phase.load.max_send_lag.as_secs_f64() * 1000.0
        ));
    }
    if phase.load.pool_exhausted && name != "history" {
        report.note(format!(
            "{name} phase ran out of pre-built requests; its throughput is a lower bound"
        ));
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
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
