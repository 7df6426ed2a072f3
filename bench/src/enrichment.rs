//! (f) What the agent UI adds to every message, in time on one core.
//!
//! Runs the agent UI's own code (the `agent-ui` library) on this thread, over
//! the messages of its sentiment evaluation set repeated to about 200,000,
//! in four steps, each containing the one before:
//!
//! * sentiment alone (`sentiment::analyze`);
//! * humanized time alone (`humanize::from_now`);
//! * `enrich::enrich`: both, plus the exact local time, into the
//!   `EnrichedMessage` a browser gets;
//! * the browser `message` frame as an agent session builds it from what
//!   the switchboard sent: decode the upstream JSON, `AgentModel::apply`
//!   (seq check, enrichment, unread count, waiting label), serialise.
//!
//! Each step runs [`REPETITIONS`] times and the fastest run counts: the
//! machine may be shared, and a slower run only says that something else
//! wanted the core.

use agent_ui::agent_session::AgentModel;
use agent_ui::{enrich, humanize, sentiment};
use anyhow::Context as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};
use switchboard_protocol::{decode, encode, ConversationInfo, Direction, Message, ServerFrame};

use crate::webhook::customer_number;

/// Runs of each step; the fastest counts.
pub const REPETITIONS: usize = 3;
/// Conversations the frame step spreads messages over, like (c)'s customers.
pub const CONVERSATIONS: usize = 200;
/// Messages per agent model in the frame step. A model keeps every message
/// it showed, so a fresh one per batch keeps memory bounded the way an
/// agent's resolved conversations do.
const BATCH: usize = 20_000;
/// Messages are 0–29 s old: live frames read "a few seconds ago".
const AGE_SPREAD_MS: u64 = 30_000;

/// Time per message of each step, fastest run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnrichmentCost {
    /// Messages per run.
    pub messages: usize,
    /// Distinct messages of the evaluation set.
    pub distinct: usize,
    pub sentiment_ns: f64,
    pub humanize_ns: f64,
    pub enrich_ns: f64,
    pub frame_ns: f64,
    /// Mean size of the browser `message` frame's JSON.
    pub frame_bytes: f64,
}

/// Measures the four steps over `eval_set` (the `label<TAB>text` file)
/// repeated to at least `target` messages.
pub fn measure(eval_set: &Path, target: usize) -> anyhow::Result<EnrichmentCost> {
    let texts = read_eval_set(eval_set)?;
    let repeat = target.max(1).div_ceil(texts.len());
    let now = enrich::now_ms();
    let messages: Vec<Message> = texts
        .iter()
        .cycle()
        .take(texts.len() * repeat)
        .enumerate()
        .map(|(i, body)| message(i, body, now))
        .collect();
    let count = messages.len();
    // The lexicon is parsed on first use; that is start-up, not per message.
    for m in &messages[..texts.len()] {
        black_box(enrich::enrich(m.clone(), now));
    }

    let sentiment = fastest(|| {
        let start = Instant::now();
        for m in &messages {
            black_box(sentiment::analyze(black_box(&m.body)));
        }
        Ok(start.elapsed())
    })?;
    let humanize = fastest(|| {
        let start = Instant::now();
        for m in &messages {
            black_box(humanize::from_now(black_box(m.at_ms as i64), now as i64));
        }
        Ok(start.elapsed())
    })?;
    let enrich = fastest(|| {
        // enrich takes the message by value, as the server does; the copy
        // it consumes is made before the clock starts.
        let owned = messages.clone();
        let start = Instant::now();
        for m in owned {
            black_box(enrich::enrich(black_box(m), now));
        }
        Ok(start.elapsed())
    })?;
    let mut frame_bytes = 0;
    let frame = fastest(|| {
        frame_bytes = 0;
        let mut elapsed = Duration::ZERO;
        for batch in messages.chunks(BATCH) {
            // What the switchboard puts on the agent's socket, prepared
            // before the clock starts.
            let upstream: Vec<String> = batch
                .iter()
                .map(|m| encode(&ServerFrame::Message { message: m.clone() }))
                .collect();
            let mut model = model_holding_conversations(now);
            let start = Instant::now();
            for text in &upstream {
                let frame = decode::<ServerFrame>(black_box(text)).context("decoding")?;
                for out in model.apply(frame, enrich::now_ms()) {
                    frame_bytes += black_box(out.to_json()).len();
                }
            }
            elapsed += start.elapsed();
        }
        Ok(elapsed)
    })?;
    let per_message = |d: Duration| d.as_nanos() as f64 / count as f64;
    Ok(EnrichmentCost {
        messages: count,
        distinct: texts.len(),
        sentiment_ns: per_message(sentiment),
        humanize_ns: per_message(humanize),
        enrich_ns: per_message(enrich),
        frame_ns: per_message(frame),
        frame_bytes: frame_bytes as f64 / count as f64,
    })
}

/// The message texts of the evaluation set, without their labels.
fn read_eval_set(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the evaluation set {}", path.display()))?;
    let texts: Vec<String> = text
        .lines()
        .map(|line| line.split_once('\t').map_or(line, |(_, text)| text))
        .filter(|text| !text.trim().is_empty())
        .map(str::to_string)
        .collect();
    anyhow::ensure!(!texts.is_empty(), "{} has no messages", path.display());
    Ok(texts)
}

/// Message `i` of the run: customer `i % CONVERSATIONS`, with seqs that
/// count up without gaps inside each batch of the frame step.
fn message(i: usize, body: &str, now_ms: u64) -> Message {
    Message {
        conversation: customer_number((i % CONVERSATIONS) as u32),
        seq: ((i % BATCH) / CONVERSATIONS + 1) as u64,
        direction: Direction::Inbound,
        body: body.to_string(),
        at_ms: now_ms - (i as u64 * 1000) % AGE_SPREAD_MS,
        media: Vec::new(),
        agent: None,
        client_id: None,
        status: None,
        error: None,
        sid: None,
        event: None,
    }
}

/// An agent's model after the switchboard assigned it every conversation.
fn model_holding_conversations(now_ms: u64) -> AgentModel {
    let mut model = AgentModel::new("bench");
    for c in 0..CONVERSATIONS {
        let conversation = ConversationInfo {
            id: customer_number(c as u32),
            to: "+15550000000".into(),
            country: Some("US".into()),
            opted_out: false,
            waiting_since_ms: Some(now_ms),
        };
        model.apply(
            ServerFrame::Assigned {
                conversation,
                after: 0,
                history: Vec::new(),
            },
            now_ms,
        );
    }
    model
}

/// The shortest of [`REPETITIONS`] runs of `run`.
fn fastest(mut run: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..REPETITIONS {
        best = best.min(run()?);
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_every_step_on_a_small_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eval.tsv");
        std::fs::write(
            &path,
            "negative\tur app is the worst\npositive\tthx so much 🙏\n\n",
        )
        .unwrap();
        let cost = measure(&path, 1_000).unwrap();
        assert_eq!((cost.distinct, cost.messages), (2, 1_000));
        for ns in [
            cost.sentiment_ns,
            cost.humanize_ns,
            cost.enrich_ns,
            cost.frame_ns,
        ] {
            assert!(ns > 0.0, "{cost:?}");
        }
        // A browser `message` frame carries the body, sentiment and time.
        assert!(cost.frame_bytes > 150.0, "{cost:?}");
    }
}
