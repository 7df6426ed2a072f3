//! The agent-UI part of the results table: rows, context lines and notes for
//! (f) enrichment cost per message and (g) webhook → browser tab latency
//! through the agent UI, each set beside the switchboard figure it is
//! compared with. [`crate::findings`] calls in here and owns the rest.

use crate::enrichment::{EnrichmentCost, CONVERSATIONS, REPETITIONS};
use crate::findings::thousands;
use crate::report::{Report, Verdict};
use crate::stats::Summary;
use crate::suite::{Measurements, SuiteOptions};
use std::time::Duration;

/// Context lines saying how (f) and (g) were run.
pub fn describe(report: &mut Report, options: &SuiteOptions, m: &Measurements) {
    if let Some(cost) = &m.enrichment {
        report.context.push((
            "agent-UI enrichment (f)".into(),
            format!(
                "the agent-ui library's code in the bench process, one thread, before any server runs: the {} evaluation-set messages repeated to {} per step, fastest of {REPETITIONS} runs; the frame step decodes the switchboard's `message` frame, applies it to an agent model holding {CONVERSATIONS} conversations and serialises the browser frame",
                cost.distinct,
                thousands(cost.messages as f64)
            ),
        ));
    }
    if let Some(phase) = &m.agent_ui {
        report.context.push((
            "agent UI (g)".into(),
            format!(
                "a second fresh switchboard and `agent-ui serve`; {} agents signed in through POST /login, one browser WebSocket each (capacity {}); {} msg/s paced, {} s warm-up + {} s measured; webhook → browser frame = request written → enriched frame read by the tab",
                options.ui_agents,
                agent_ui::browser::MAX_CAPACITY,
                thousands(options.paced_rate),
                options.warmup_secs,
                options.ui_secs
            ),
        ));
        let frames: Vec<String> = phase
            .frame_types
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        report
            .context
            .push(("frames received by browser tabs".into(), frames.join(", ")));
    }
}

/// (f): time per message of each enrichment step, and the whole frame
/// against the switchboard's CPU per webhook.
pub fn enrichment(report: &mut Report, m: &Measurements) {
    let Some(cost) = &m.enrichment else {
        report.row(
            "(f)",
            "agent-UI enrichment per message",
            "not measured",
            "",
            Verdict::Missed,
        );
        return;
    };
    let steps = [
        (
            "agent UI per message, one core: sentiment",
            cost.sentiment_ns,
        ),
        ("  humanized time", cost.humanize_ns),
        (
            "  enrich (sentiment + humanized + exact time)",
            cost.enrich_ns,
        ),
    ];
    for (metric, ns) in steps {
        report.row("(f)", metric, per_message(ns), "", Verdict::Info);
    }
    report.row(
        "(f)",
        format!(
            "  browser frame as the server builds it ({:.0} B)",
            cost.frame_bytes
        ),
        per_message(cost.frame_ns),
        &versus_switchboard(cost, m),
        Verdict::Info,
    );
}

/// "x % of the switchboard's CPU per webhook (y µs)", when (a) measured it.
fn versus_switchboard(cost: &EnrichmentCost, m: &Measurements) -> String {
    let Some((phase, cpu)) = m
        .closed_loop
        .as_ref()
        .and_then(|p| Some((p, p.cpu.as_ref()?)))
    else {
        return String::new();
    };
    let switchboard_ns =
        cpu.server_time.as_secs_f64() * 1e9 / phase.audit.acknowledged.max(1) as f64;
    format!(
        "{:.1} % of switchboard CPU per webhook ({})",
        cost.frame_ns / switchboard_ns * 100.0,
        per_message(switchboard_ns)
    )
}

/// (g): latency through the agent UI beside (c)'s direct figure, its CPU,
/// bytes and memory, and its own exactly-once check.
pub fn agent_ui(report: &mut Report, options: &SuiteOptions, m: &Measurements) {
    let rate = format!("{} msg/s", thousands(options.paced_rate));
    let Some(phase) = &m.agent_ui else {
        let why = if options.agent_ui_bin.is_none() {
            "skipped (no --agent-ui-bin)"
        } else {
            "not measured"
        };
        report.row(
            "(g)",
            format!("webhook → browser frame via agent UI @ {rate}"),
            why,
            "",
            Verdict::Missed,
        );
        return;
    };
    let direct = m.paced.as_ref().map(|p| Summary::of(&p.latency.from_send));
    let through = Summary::of(&phase.latency.from_send);
    report.row(
        "(g)",
        format!("webhook → browser frame via agent UI @ {rate}"),
        through.p50_p99(),
        &direct.map_or(String::new(), |d| {
            format!("direct agent, (c): {}", d.p50_p99())
        }),
        Verdict::Info,
    );
    report.row(
        "(g)",
        "  webhook → 200",
        Summary::of(&phase.load.latency).p50_p99(),
        "",
        Verdict::Info,
    );
    report.row(
        "(g)",
        "  200 → browser frame",
        Summary::of(&phase.latency.from_answer).p50_p99(),
        &m.paced.as_ref().map_or(String::new(), |p| {
            format!(
                "direct agent, (c): {}",
                Summary::of(&p.latency.from_answer).p50_p99()
            )
        }),
        Verdict::Info,
    );
    if let Some(direct) = direct.filter(|d| d.count > 0 && through.count > 0) {
        report.row(
            "(g)",
            "  agent UI's share: (g) − (c), p50 / p99",
            format!(
                "{:+.2} / {:+.2} ms",
                through.p50_ms - direct.p50_ms,
                through.p99_ms - direct.p99_ms
            ),
            "(difference of percentiles)",
            Verdict::Info,
        );
    }
    if let Some(cpu) = &phase.cpu {
        let acknowledged = phase.audit.acknowledged.max(1) as f64;
        let micros = |time: Duration| time.as_secs_f64() * 1e6 / acknowledged;
        report.row(
            "(g)",
            "agent UI CPU per message (whole process)",
            format!(
                "{:.0} µs ({:.2} cores)",
                micros(cpu.agent_ui_time),
                cpu.agent_ui_cores
            ),
            &format!(
                "switchboard, same load: {:.0} µs ({:.2} cores)",
                micros(cpu.switchboard.server_time),
                cpu.switchboard.server_cores
            ),
            Verdict::Info,
        );
    }
    if phase.audit.deliveries > 0 {
        let direct =
            m.paced
                .as_ref()
                .filter(|p| p.audit.deliveries > 0)
                .map_or(String::new(), |p| {
                    format!(
                        "direct agent, (c): {:.0} B",
                        p.ws_bytes as f64 / p.audit.deliveries as f64
                    )
                });
        report.row(
            "(g)",
            "browser WS bytes/message",
            format!(
                "{:.0} B",
                phase.ws_bytes as f64 / phase.audit.deliveries as f64
            ),
            &direct,
            Verdict::Info,
        );
    }
    report.row(
        "(g)",
        "agent UI peak RSS (VmHWM)",
        phase
            .agent_ui_peak_rss_kib
            .map_or("unavailable".into(), |kib| {
                format!("{:.1} MB", kib as f64 / 1024.0)
            }),
        "",
        Verdict::Info,
    );
    let (audit, c) = (&phase.audit, &phase.consistency);
    report.row(
        "(g)",
        "messages lost / duplicated / out of order",
        format!(
            "{} / {} / {} of {}",
            audit.lost,
            audit.duplicated.max(c.duplicate_seqs),
            c.out_of_order,
            thousands(audit.acknowledged as f64)
        ),
        "0",
        Verdict::from_bool(
            audit.acknowledged > 0
                && audit.lost == 0
                && audit.duplicated == 0
                && c.duplicate_seqs == 0
                && c.out_of_order == 0,
        ),
    );
    report.row(
        "(g)",
        "messages shown without sentiment or time",
        phase.unenriched.to_string(),
        "0",
        Verdict::from_bool(phase.unenriched == 0),
    );
}

/// Anything that makes (g)'s figures less trustworthy.
pub fn notes(report: &mut Report, options: &SuiteOptions, m: &Measurements) {
    let Some(phase) = &m.agent_ui else { return };
    match phase.drained {
        Some(waited) if waited > Duration::from_secs(1) => report.note(format!(
            "after (g), browser tabs needed {:.1} s more to receive every acknowledged message",
            waited.as_secs_f64()
        )),
        Some(_) => {}
        None => report.note(format!(
            "after (g), acknowledged messages were still missing at browser tabs after {:.0} s",
            options.drain_secs
        )),
    }
    let load = &phase.load;
    if load.errors() > 0 {
        report.note(format!(
            "(g): {} transport errors (incl. timeouts), non-200 answers {:?}",
            load.transport_errors, load.statuses
        ));
    }
    if load.max_send_lag > Duration::from_millis(5) {
        report.note(format!(
            "(g): some request left up to {:.1} ms after its scheduled time",
            load.max_send_lag.as_secs_f64() * 1000.0
        ));
    }
    if phase.resyncs > 0 {
        report.note(format!(
            "(g): browser tabs fell behind the agent UI's broadcast {} times and were sent a fresh state",
            phase.resyncs
        ));
    }
    let c = &phase.consistency;
    if c.split_conversations > 0 || c.foreign > 0 {
        report.note(format!(
            "(g): {} conversations reached more than one tab; {} deliveries carried no benchmark id",
            c.split_conversations, c.foreign
        ));
    }
    for problem in &phase.tab_problems {
        report.note(format!("(g) browser tab {problem}"));
    }
    if let Some(first) = phase.log_problems.first() {
        report.note(format!(
            "(g): the servers logged {} warning/error lines; first: {first}",
            phase.log_problems.len()
        ));
    }
    for exit in &phase.exits {
        report.note(format!("(g): {exit}"));
    }
}

/// "253 ns", "2.41 µs" or "96 µs": three significant digits at most.
fn per_message(ns: f64) -> String {
    if ns < 1000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{:.0} µs", ns / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::per_message;

    #[test]
    fn formats_per_message_times() {
        assert_eq!(per_message(252.6), "253 ns");
        assert_eq!(per_message(2414.0), "2.41 µs");
        assert_eq!(per_message(95_700.0), "96 µs");
    }
}
