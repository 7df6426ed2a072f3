//! Latency histograms and their summaries.
//!
//! Everything is recorded in microseconds in an HDR histogram (3 significant
//! digits), so percentiles stay exact enough at any rate without keeping
//! samples; summaries are printed in milliseconds.

use hdrhistogram::Histogram;
use std::time::Duration;

/// Longest latency the histograms can hold; anything slower is clamped.
const MAX_MICROS: u64 = 120_000_000;

/// An empty histogram for microsecond latencies.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// Records `latency`, clamped into the histogram's range.
pub fn record(hist: &mut Histogram<u64>, latency: Duration) {
    let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
    // Cannot fail: the value is inside the bounds.
    let _ = hist.record(micros);
}

/// The figures the report prints for one latency distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(hist: &Histogram<u64>) -> Summary {
        if hist.is_empty() {
            return Summary::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Summary {
            count: hist.len(),
            p50_ms: ms(hist.value_at_quantile(0.50)),
            p99_ms: ms(hist.value_at_quantile(0.99)),
            max_ms: ms(hist.max()),
        }
    }

    /// `p50 / p99 ms` as the report shows it.
    pub fn p50_p99(&self) -> String {
        if self.count == 0 {
            return "no samples".into();
        }
        format!("{:.2} / {:.2} ms", self.p50_ms, self.p99_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_percentiles_in_ms() {
        let mut hist = histogram();
        for micros in 1..=1000u64 {
            record(&mut hist, Duration::from_micros(micros));
        }
        let s = Summary::of(&hist);
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 0.5).abs() < 0.01);
        assert!((s.p99_ms - 0.99).abs() < 0.01);
        assert_eq!(Summary::of(&histogram()).p50_p99(), "no samples");
    }
}
