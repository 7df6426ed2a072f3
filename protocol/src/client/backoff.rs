//! The one reconnect policy of every agent client: capped exponential backoff
//! with jitter (so many agents do not reconnect in lockstep after a switchboard
//! restart), built on the `backon` crate.

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// First wait after a failure (before jitter).
const FIRST_DELAY: Duration = Duration::from_millis(150);
/// Longest wait between attempts (before jitter).
const MAX_DELAY: Duration = Duration::from_secs(3);

/// The policy: 150 ms, doubling to 3 s, each wait plus up to 100 % jitter
/// (so the first is 150–300 ms and the longest 3–6 s); never gives up.
pub fn backoff_policy() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(FIRST_DELAY)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

/// The policy as a stream of waits, for a loop that cannot block on a retry
/// (the agent UI's session keeps serving browsers while it waits).
#[derive(Debug)]
pub struct Backoff {
    delays: ExponentialBackoff,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delays: backoff_policy().build(),
        }
    }
}

impl Backoff {
    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        // The policy has no maximum number of attempts; MAX_DELAY is only a
        // fallback should that ever change.
        self.delays.next().unwrap_or(MAX_DELAY)
    }

    /// Starts again from the shortest wait (after a link that worked).
    pub fn reset(&mut self) {
        *self = Backoff::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_are_capped_and_reset() {
        let mut backoff = Backoff::default();
        let first = backoff.next_delay();
        assert!(
            first >= FIRST_DELAY && first <= FIRST_DELAY * 2,
            "{first:?}"
        );
        let later: Vec<Duration> = (0..30).map(|_| backoff.next_delay()).collect();
        assert!(later[2] >= FIRST_DELAY * 8, "{later:?}");
        assert!(later.iter().all(|d| *d <= MAX_DELAY * 2), "{later:?}");
        assert!(later[29] >= MAX_DELAY, "{later:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST_DELAY * 2);
    }
}
