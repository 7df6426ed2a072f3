//! Scoring many messages: the line-oriented `score` command and its throughput benchmark.

use std::hint::black_box;
use std::io::{BufRead, Write};
use std::time::Instant;

use serde::Serialize;

use super::analyze;

/// Failures while streaming lines in and JSON out.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("reading messages: {0}")]
    Read(#[source] std::io::Error),
    #[error("writing results: {0}")]
    Write(#[source] std::io::Error),
    #[error("encoding a result: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Reads one message per line and writes one JSON [`super::Analysis`] per line, in order.
/// Bytes that are not UTF-8 are replaced rather than rejected: a support tool should
/// score what it can. Returns the number of lines scored.
pub fn score_lines(mut input: impl BufRead, mut output: impl Write) -> Result<u64, BatchError> {
    let mut line = Vec::new();
    let mut count = 0u64;
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .map_err(BatchError::Read)?
            == 0
        {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        serde_json::to_writer(&mut output, &analyze(text))?;
        output.write_all(b"\n").map_err(BatchError::Write)?;
        count += 1;
    }
    output.flush().map_err(BatchError::Write)?;
    Ok(count)
}

/// Throughput of [`analyze`] alone (no I/O, no JSON), measured in-process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BenchReport {
    pub messages: u64,
    pub seconds: f64,
    pub per_sec: f64,
}

/// Scores `total` messages cycling through `messages` and reports the rate, after the
/// same number untimed (which also builds the lexicon). The baseline script warms up the
/// same way, so a JIT gets every chance to reach its best.
pub fn bench(messages: &[String], total: u64) -> BenchReport {
    if messages.is_empty() || total == 0 {
        return BenchReport {
            messages: 0,
            seconds: 0.0,
            per_sec: 0.0,
        };
    }
    let count = usize::try_from(total).unwrap_or(usize::MAX);
    let mut sink = 0.0f32;
    for m in messages.iter().cycle().take(count.max(messages.len())) {
        sink += analyze(m).score;
    }
    let start = Instant::now();
    for m in messages.iter().cycle().take(count) {
        // black_box keeps the optimiser from discarding the work.
        sink += black_box(analyze(black_box(m))).score;
    }
    let seconds = start.elapsed().as_secs_f64();
    black_box(sink);
    BenchReport {
        messages: total,
        seconds,
        per_sec: total as f64 / seconds.max(f64::MIN_POSITIVE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_line_per_input_line() {
        let input = b"thx so much \xF0\x9F\x99\x8F\n\nur app is the worst\r\n\xFFbad bytes\n";
        let mut out = Vec::new();
        let n = score_lines(&input[..], &mut out).expect("in-memory I/O");
        assert_eq!(n, 4);
        let text = String::from_utf8(out).expect("JSON is UTF-8");
        let labels: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("valid JSON");
                v["label"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        assert_eq!(labels, ["wink", "neutral", "unhappy", "unhappy"]);
    }

    #[test]
    fn bench_counts_what_it_ran() {
        let report = bench(&["good".to_owned(), "bad".to_owned()], 1_000);
        assert_eq!(report.messages, 1_000);
        assert!(report.per_sec > 0.0);
        assert_eq!(bench(&[], 10).messages, 0);
    }
}
