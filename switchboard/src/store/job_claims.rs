//! The job-claims port: which instance runs a job, when several instances
//! share one store (DynamoDB).
//!
//! Jobs are keyed by their idempotency keys (`jobs/mod.rs`), and two
//! instances can hold the same key: a waiting-customer alert
//! (`alert/<conv>/<since_ms>/<n>`) queued by the router before and after a
//! change of leader, a transcript queued again by a resolve replayed on the
//! new leader. Before a job runs, the worker claims its key here; a key
//! finished anywhere is not run again, and a key another instance is
//! running waits for that claim to expire (so a job of an instance that
//! died is taken over). A claim lasts a few heartbeats and is renewed while
//! its attempt runs (`jobs/claim_heartbeat.rs`). The sled store has one
//! instance and no claims.
//!
//! A crash between a job's effect (a mail sent) and [`JobClaims::finish`]
//! leaves the claim to expire, and the job runs again: at least once, as
//! on one instance.
//!
//! Each job is also *published* here when it is queued
//! ([`JobClaims::publish`]), until it is finished: the local queue lives on
//! a dyno's disk, so when a dyno dies with jobs queued, another instance's
//! worker finds them in [`JobClaims::published`], queues them itself, and
//! runs them once the dead dyno's claim (if any) has expired.

use super::Result;
use async_trait::async_trait;

/// What claiming a job's key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobClaim {
    /// This instance may run it until the claim's expiry.
    Mine,
    /// It was finished (done, or given up on) by some instance.
    Finished,
    /// Another instance is running it; its claim expires at this time
    /// (ms since the epoch).
    HeldUntil(u64),
}

/// The job-claims port; see the module docs.
#[async_trait]
pub trait JobClaims: Send + Sync + 'static {
    /// Claims `key` for this instance until `until_ms`, unless it is
    /// finished or another instance's unexpired claim holds it.
    async fn claim(&self, key: &str, until_ms: u64) -> Result<JobClaim>;

    /// Records that `key` is finished: no instance runs it again (and it is
    /// no longer published).
    async fn finish(&self, key: &str) -> Result<()>;

    /// Lets go of this instance's claim on `key` after a failed attempt,
    /// so whichever instance tries next may run it (the one that queued it
    /// may be gone by then).
    async fn release(&self, key: &str) -> Result<()>;

    /// Makes a queued job (`job`: its JSON) visible to every instance until
    /// it is finished. Publishing a key again changes nothing.
    async fn publish(&self, key: &str, job: &str) -> Result<()>;

    /// Every published job not finished yet: (key, JSON).
    async fn published(&self) -> Result<Vec<(String, String)>>;
}
