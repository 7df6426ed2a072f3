//! Every retry wait of the service, in one place, on the `backon` crate.
//!
//! Each kind of retry is a [`Policy`]: the first wait, doubling up to the
//! longest, with or without jitter. The loops that retry use one of the
//! named policies below through [`Policy::delays`] (a loop that keeps its
//! own state), [`Policy::after`] (the job queue, whose failure count is
//! persisted) or [`Policy::builder`] (backon's `Retryable`; the outbox walks its delays).
//! With jitter a wait is between the nominal delay and twice it, so jobs or
//! loops that failed together (an outage) do not all retry in one instant.
//!
//! | Policy | Waits | Used by |
//! |---|---|---|
//! | [`SPOOL_FORWARD`] | 250 ms doubling to 10 s | the inbound spool's forwarder |
//! | [`JOB_RETRY`] | 0.5 s doubling to 60 s, each between half and all of that | the job worker (next attempt persisted) |
//! | [`TWILIO_SEND`] | 0.5 s doubling to 60 s, plus up to 100 % jitter | the outbox: sends and checks of Twilio's Messages list alike (14 retries, then failed) |
//! | [`TABLE_WAIT`] | 100 ms doubling to 5 s, until the caller's deadline | `migrate` waiting for a table or stream |
//! | [`STREAM_ERROR`] | 1 s doubling to 2 s, plus jitter | the DynamoDB Streams reader after a failed round |
//! | [`FEED_ERROR`] | 200 ms doubling to 5 s | the router after a change-feed read failed, and before retrying a failed claim |
//! | [`ROUTE_WRITE`] | 100 ms doubling to 1.6 s, 5 tries in place | the router writing a route (queued, resolved) |
//! | [`OUTBOX_WRITE`] | 200 ms doubling to 5 s, plus jitter, 8 tries | the outbox recording a send intent or a result (then left for the next start) |
//!
//! The agent clients' reconnect policy lives with the protocol client
//! (`switchboard_protocol::client::backoff`). The router lease's waits
//! (`cluster/lease.rs`, `Timing`) are not backoffs: they are fixed
//! fractions of `LEASE_SECS` (renew every third, retry a failed renewal
//! after a tenth, read every fifth, at most every second), because every
//! retry of a renewal must fit inside the lease it keeps.

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;
use tokio::sync::watch;

/// One kind of retry: exponential waits from `first` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first wait (before jitter).
    pub first: Duration,
    /// The longest wait (before jitter).
    pub max: Duration,
    /// Add a random part of up to the nominal wait to each wait.
    pub jitter: bool,
}

/// The inbound spool's forwarder while the store refuses spooled messages.
/// One forwarder per instance, so no jitter.
pub const SPOOL_FORWARD: Policy = Policy {
    first: Duration::from_millis(250),
    max: Duration::from_secs(10),
    jitter: false,
};

/// A failed background job (S3, SES, Twilio media): the n-th retry waits
/// between half and all of 0.5 s · 2ⁿ⁻¹, capped at a minute.
pub const JOB_RETRY: Policy = Policy {
    first: Duration::from_millis(250),
    max: Duration::from_secs(30),
    jitter: true,
};

/// A Twilio send that failed transiently (network, 429, 5xx).
pub const TWILIO_SEND: Policy = Policy {
    first: Duration::from_millis(500),
    max: Duration::from_secs(60),
    jitter: true,
};

/// `migrate` polling a table or stream that is being created or updated.
pub const TABLE_WAIT: Policy = Policy {
    first: Duration::from_millis(100),
    max: Duration::from_secs(5),
    jitter: false,
};

/// The DynamoDB Streams reader after a round in which a call failed. Kept
/// short: while it waits, nothing stored reaches an agent, so after an
/// outage routing resumes at most a few seconds after DynamoDB does.
pub const STREAM_ERROR: Policy = Policy {
    first: Duration::from_secs(1),
    max: Duration::from_secs(2),
    jitter: true,
};

/// The router writing a route that failed: retried in place (later
/// effects must not overtake it), a few times only, since the router waits.
pub const ROUTE_WRITE: Policy = Policy {
    first: Duration::from_millis(100),
    max: Duration::from_millis(1600),
    jitter: false,
};

/// The outbox recording a send intent or a send's result that failed (a
/// DynamoDB transaction that was cancelled or timed out): retried in place
/// a few times before the reply is left for the next start.
pub const OUTBOX_WRITE: Policy = Policy {
    first: Duration::from_millis(200),
    max: Duration::from_secs(5),
    jitter: true,
};

/// The router after reading the change feed failed, and between retries
/// of a claim that failed.
pub const FEED_ERROR: Policy = Policy {
    first: Duration::from_millis(200),
    max: Duration::from_secs(5),
    jitter: false,
};

impl Policy {
    /// The policy as backon's builder, never giving up (callers that do
    /// add `with_max_times`).
    pub fn builder(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.first)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .without_max_times();
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }

    /// The waits, for a loop that keeps retrying and starts over after a
    /// success ([`Delays::reset`]).
    pub fn delays(&self) -> Delays {
        Delays {
            policy: *self,
            waits: self.builder().build(),
        }
    }

    /// The wait after `failures` failures in a row (1: the first retry), for
    /// a retry whose count outlives the process (the job queue).
    pub fn after(&self, failures: u32) -> Duration {
        // Past a few dozen doublings every wait is `max`; no need to walk further.
        let skip = failures.saturating_sub(1).min(40) as usize;
        self.builder().build().nth(skip).unwrap_or(self.longest())
    }

    /// The longest a single wait can be (jitter included).
    pub fn longest(&self) -> Duration {
        if self.jitter {
            self.max.saturating_mul(2)
        } else {
            self.max
        }
    }
}

/// The successive waits of a [`Policy`].
#[derive(Debug)]
pub struct Delays {
    policy: Policy,
    waits: ExponentialBackoff,
}

impl Delays {
    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        // The builder never gives up; `longest` is only a fallback.
        self.waits.next().unwrap_or(self.policy.longest())
    }

    /// Starts again from the first wait (after an attempt that worked).
    pub fn reset(&mut self) {
        self.waits = self.policy.builder().build();
    }
}

/// Sleeps for `wait`; true when `stop` turned true (or its sender is gone)
/// first.
pub async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_start_over_after_a_reset() {
        let mut delays = SPOOL_FORWARD.delays();
        let waits: Vec<Duration> = (0..8).map(|_| delays.next_delay()).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            waits,
            [
                ms(250),
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(10_000),
                ms(10_000)
            ]
        );
        delays.reset();
        assert_eq!(delays.next_delay(), ms(250));
    }

    #[test]
    fn job_retries_wait_between_half_and_all_of_the_doubling_base() {
        for failures in 1..60u32 {
            let wait = JOB_RETRY.after(failures);
            let base = Duration::from_millis(500)
                .saturating_mul(1 << (failures - 1).min(16))
                .min(Duration::from_secs(60));
            assert!(
                wait >= base / 2 && wait <= base,
                "{failures}: {wait:?} vs {base:?}"
            );
        }
    }

    #[test]
    fn jittered_waits_stay_within_twice_the_nominal_wait() {
        let mut delays = STREAM_ERROR.delays();
        for _ in 0..20 {
            let wait = delays.next_delay();
            assert!(
                wait >= STREAM_ERROR.first && wait <= STREAM_ERROR.longest(),
                "{wait:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_stop_cuts_the_wait_short() {
        let (stop, mut stopped) = watch::channel(false);
        let waiter =
            tokio::spawn(
                async move { sleep_or_stop(&mut stopped, Duration::from_secs(3600)).await },
            );
        stop.send(true).expect("the waiter listens");
        assert!(waiter.await.expect("the waiter finishes"));
    }
}
