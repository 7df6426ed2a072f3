//! How long a job's claim across instances lasts while its attempt runs
//! (`store/job_claims.rs`), as pure rules the worker (`worker.rs`) follows.
//!
//! A claim used to last the whole attempt limit plus a margin (360 s), so
//! a job whose dyno died mid-attempt waited six minutes for another
//! instance. Now a claim is short and renewed by a heartbeat while the
//! attempt runs: it lasts [`MISSED_BEATS`] heartbeats plus the wall-clock
//! skew allowed between instances (claims compare wall clocks), and a dead
//! dyno's job is free a few heartbeats after its last renewal.
//!
//! The running instance stops the attempt when it cannot be sure the claim
//! is still its own: a renewal found the job finished or claimed by another
//! instance, or no renewal succeeded for [`MISSED_BEATS`] heartbeats on its
//! own monotonic clock (the claim written then has at most the skew left,
//! so another instance cannot have taken it yet). The job then goes back to
//! the queue like a failed attempt.

use crate::store::job_claims::JobClaim;
use std::time::{Duration, Instant};

/// How often a running job's claim is renewed.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// How many heartbeats a claim outlives its last renewal by.
pub const MISSED_BEATS: u32 = 3;
/// How far two instances' wall clocks may differ (claims compare them).
pub const CLOCK_SKEW: Duration = Duration::from_secs(10);

/// How long a claim lasts from its (re)write: a few heartbeats and the skew.
pub fn claim_length() -> Duration {
    HEARTBEAT * MISSED_BEATS + CLOCK_SKEW
}

/// The expiry to write in a claim made at `now_ms` (wall clock, ms).
pub fn claim_until(now_ms: u64) -> u64 {
    now_ms + claim_length().as_millis() as u64
}

/// What the running instance knows of its claim.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    /// Start of the last claim or renewal that succeeded (our clock).
    renewed: Instant,
}

/// Whether the attempt may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The claim is still ours.
    Keep,
    /// It may not be: stop the attempt.
    Stop,
}

impl Held {
    /// A claim made by a call that started at `at`.
    pub fn claimed(at: Instant) -> Self {
        Held { renewed: at }
    }

    /// A renewal that started at `started` came back with `outcome`
    /// (`None`: the call failed).
    pub fn renewal(&mut self, started: Instant, outcome: Option<JobClaim>) -> Verdict {
        match outcome {
            Some(JobClaim::Mine) => {
                self.renewed = self.renewed.max(started);
                Verdict::Keep
            }
            Some(JobClaim::Finished | JobClaim::HeldUntil(_)) => Verdict::Stop,
            None => self.at(started),
        }
    }

    /// Without news from DynamoDB: stop once no renewal succeeded for
    /// [`MISSED_BEATS`] heartbeats.
    pub fn at(&self, now: Instant) -> Verdict {
        if now >= self.renewed + HEARTBEAT * MISSED_BEATS {
            Verdict::Stop
        } else {
            Verdict::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn a_claim_lasts_a_few_heartbeats_and_the_skew_not_the_attempt_limit() {
        assert_eq!(claim_length(), s(40));
        assert_eq!(claim_until(1_000), 41_000);
    }

    #[test]
    fn successful_renewals_keep_the_attempt_going_however_long_it_runs() {
        let t0 = Instant::now();
        let mut held = Held::claimed(t0);
        for beat in 1..100 {
            let at = t0 + HEARTBEAT * beat;
            assert_eq!(held.renewal(at, Some(JobClaim::Mine)), Verdict::Keep);
            assert_eq!(held.at(at + s(5)), Verdict::Keep);
        }
    }

    #[test]
    fn a_claim_taken_or_finished_elsewhere_stops_the_attempt() {
        let t0 = Instant::now();
        let mut held = Held::claimed(t0);
        assert_eq!(
            held.renewal(t0 + s(10), Some(JobClaim::HeldUntil(0))),
            Verdict::Stop
        );
        assert_eq!(
            held.renewal(t0 + s(10), Some(JobClaim::Finished)),
            Verdict::Stop
        );
    }

    #[test]
    fn failing_renewals_stop_the_attempt_before_the_claim_can_expire() {
        let t0 = Instant::now();
        let mut held = Held::claimed(t0);
        assert_eq!(held.renewal(t0 + s(10), None), Verdict::Keep);
        assert_eq!(held.renewal(t0 + s(20), None), Verdict::Keep);
        assert_eq!(held.renewal(t0 + s(30), None), Verdict::Stop);
        // Stopped a whole skew before the claim written at t0 expires.
        assert!(HEARTBEAT * MISSED_BEATS + CLOCK_SKEW <= claim_length());
    }

    #[test]
    fn a_late_success_counts_from_its_start() {
        let t0 = Instant::now();
        let mut held = Held::claimed(t0);
        assert_eq!(
            held.renewal(t0 + s(25), Some(JobClaim::Mine)),
            Verdict::Keep
        );
        assert_eq!(held.at(t0 + s(54)), Verdict::Keep);
        assert_eq!(held.at(t0 + s(55)), Verdict::Stop);
    }
}
