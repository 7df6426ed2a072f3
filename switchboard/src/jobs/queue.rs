//! The durable side of the job queue: a sled database of its own
//! (`DATA_DIR/jobs`), so it works whichever store holds the conversations.
//!
//! Trees, all keyed by the job's idempotency key (UTF-8):
//!
//! * `pending` → [`Pending`] JSON: the job, its attempt count and the time
//!   of its next attempt (persisted, so a restart does not retry everything
//!   at once);
//! * `done` → completion time (u64 ms, big-endian): an enqueue of the same
//!   key is a no-op while the marker is kept ([`DONE_RETENTION`]);
//! * `failed` → [`Pending`] JSON with the last error: jobs given up on, kept
//!   for inspection for as long as done markers.
//!
//! A key moves from `pending` to `done` (or `failed`) in one transaction, and
//! every change is flushed before the caller hears about it. sled work runs
//! on tokio's blocking pool, off the runtime's threads; the one exception is
//! [`JobQueue::enqueue_unflushed`], a single insert for the router's timer
//! that must not wait (sled buffers it in memory and writes it out itself).
//!
//! With a store several instances share (DynamoDB), each new job is also
//! published there ([`JobQueue::share_with`], `store/job_claims.rs`), so a
//! job survives the dyno whose disk held it: another instance's worker
//! queues it and runs it once its claim is free.

use super::Job;
use crate::clock::now_ms;
use crate::durability::Durability;
use crate::store::job_claims::JobClaims;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};

/// How long a done (or failed) marker keeps a key from running again.
pub const DONE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("job queue storage failure: {0}")]
    Storage(String),
    #[error("job queue record is corrupt: {0}")]
    Corrupt(String),
}

impl From<sled::Error> for QueueError {
    fn from(e: sled::Error) -> Self {
        QueueError::Storage(e.to_string())
    }
}

impl From<TransactionError<QueueError>> for QueueError {
    fn from(e: TransactionError<QueueError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

/// A job waiting for its next attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub job: Job,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not before this time (ms since the epoch).
    pub next_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_error: Option<String>,
}

/// Cloneable handle on the job database. Enqueueing is all most callers do;
/// the worker ([`super::worker`]) uses the rest.
#[derive(Clone)]
pub struct JobQueue {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    pending: sled::Tree,
    done: sled::Tree,
    failed: sled::Tree,
    /// New keys for the worker, with their first attempt time.
    arrivals: mpsc::UnboundedSender<(String, u64)>,
    flush: Flush,
    /// With a store several instances share (DynamoDB): where each new job
    /// is also published, so another instance runs it if this dyno dies
    /// with it queued (`store/job_claims.rs`).
    shared: std::sync::OnceLock<Arc<dyn JobClaims>>,
}

/// The worker's end of the arrivals channel.
pub struct Arrivals(pub(super) mpsc::UnboundedReceiver<(String, u64)>);

/// Coalesces flushes: callers that wrote while a flush was running share the
/// next one instead of each paying for their own.
struct Flush {
    /// Bumped after every write.
    written: AtomicU64,
    /// Highest `written` value known durable; the lock serialises flushes.
    durable: Mutex<u64>,
    /// sled's data file, `fdatasync`ed after each flush with `DURABILITY=fsync`
    /// (sled's own flush does not survive power loss).
    fsync_file: Option<Arc<File>>,
}

impl JobQueue {
    /// Opens (or creates) the job database at `path`.
    pub fn open(path: &Path, durability: Durability) -> Result<(JobQueue, Arrivals), QueueError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(8 * 1024 * 1024)
            .open()?;
        let fsync_file = match durability {
            Durability::Fsync => Some(Arc::new(File::open(path.join("db")).map_err(|e| {
                QueueError::Storage(format!("opening the job database's data file: {e}"))
            })?)),
            Durability::Flush => None,
        };
        let (arrivals, rx) = mpsc::unbounded_channel();
        let inner = Inner {
            pending: db.open_tree("pending")?,
            done: db.open_tree("done")?,
            failed: db.open_tree("failed")?,
            db,
            arrivals,
            shared: std::sync::OnceLock::new(),
            flush: Flush {
                written: AtomicU64::new(0),
                durable: Mutex::new(0),
                fsync_file,
            },
        };
        Ok((
            JobQueue {
                inner: Arc::new(inner),
            },
            Arrivals(rx),
        ))
    }

    /// Publishes every job queued from now on to `shared` as well (called
    /// once, when the shared store is open).
    pub fn share_with(&self, shared: Arc<dyn JobClaims>) {
        let _ = self.inner.shared.set(shared);
    }

    /// Publishes a new job when the queue is shared; a failure is logged
    /// (the job still runs here, it is only not visible to the others).
    async fn publish(shared: Option<Arc<dyn JobClaims>>, key: String, job: Job) {
        let Some(shared) = shared else { return };
        let published = match serde_json::to_string(&job) {
            Ok(json) => shared.publish(&key, &json).await,
            Err(e) => Err(crate::store::StoreError::Corrupt(e.to_string())),
        };
        if let Err(e) = published {
            tracing::warn!(job = key, error = %e, "could not publish a job to the other instances");
        }
    }

    /// Adds `job` under `key` unless that key is pending or was done within
    /// [`DONE_RETENTION`]. Returns whether it was added; either way the queue
    /// is durable when this returns.
    pub async fn enqueue(&self, key: &str, job: Job) -> Result<bool, QueueError> {
        let added = self.enqueue_all(&[(key.to_string(), job)]).await?;
        Ok(added > 0)
    }

    /// [`enqueue`](Self::enqueue) for several jobs with one flush; returns
    /// how many were new.
    pub async fn enqueue_all(&self, jobs: &[(String, Job)]) -> Result<usize, QueueError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let jobs = jobs.to_vec();
        let added = self
            .blocking(move |queue| {
                let mut added = Vec::new();
                for (key, job) in jobs {
                    if queue.insert(&key, &job, now)? {
                        added.push((key, job));
                    }
                }
                Ok(added)
            })
            .await?;
        self.make_durable().await?;
        for (key, job) in &added {
            Self::publish(self.inner.shared.get().cloned(), key.clone(), job.clone()).await;
        }
        for (key, _) in &added {
            // The worker only stops at shutdown; the job then runs at the next start.
            let _ = self.inner.arrivals.send((key.to_string(), now));
        }
        Ok(added.len())
    }

    /// The write half of [`enqueue`](Self::enqueue), for callers that must
    /// not wait for the disk: sled writes it out within half a second, and
    /// [`make_durable`](Self::make_durable) forces it. The worker learns
    /// about the job right away.
    pub fn enqueue_unflushed(&self, key: &str, job: Job) -> Result<bool, QueueError> {
        let now = now_ms();
        let added = self.insert(key, &job, now)?;
        if added {
            let _ = self.inner.arrivals.send((key.to_string(), now));
            if let (Some(shared), Ok(runtime)) = (
                self.inner.shared.get().cloned(),
                tokio::runtime::Handle::try_current(),
            ) {
                runtime.spawn(Self::publish(Some(shared), key.to_string(), job));
            }
        }
        Ok(added)
    }

    fn insert(&self, key: &str, job: &Job, now: u64) -> Result<bool, QueueError> {
        let record = Pending {
            job: job.clone(),
            attempts: 0,
            next_at_ms: now,
            last_error: None,
        };
        let value = encode(&record)?;
        let i = &self.inner;
        let added = (&i.pending, &i.done).transaction(|(pending, done)| {
            if pending.get(key)?.is_some() || done.get(key)?.is_some() {
                return Ok(false);
            }
            pending.insert(key.as_bytes(), value.as_slice())?;
            Ok::<_, ConflictableTransactionError<QueueError>>(true)
        })?;
        self.inner.flush.written.fetch_add(1, Ordering::SeqCst);
        Ok(added)
    }

    /// Flushes everything written so far (shared with concurrent callers).
    pub async fn make_durable(&self) -> Result<(), QueueError> {
        let flush = &self.inner.flush;
        let wanted = flush.written.load(Ordering::SeqCst);
        let mut durable = flush.durable.lock().await;
        if *durable >= wanted {
            return Ok(());
        }
        let upto = flush.written.load(Ordering::SeqCst);
        self.inner.db.flush_async().await?;
        if let Some(file) = flush.fsync_file.clone() {
            tokio::task::spawn_blocking(move || file.sync_data())
                .await
                .map_err(|e| QueueError::Storage(format!("fdatasync task: {e}")))?
                .map_err(|e| QueueError::Storage(format!("fdatasync: {e}")))?;
        }
        *durable = upto;
        Ok(())
    }

    /// Every pending job (the worker's schedule at start-up). A record this
    /// binary cannot read (say, a job kind from a newer version before a
    /// rollback) is logged and left in place, not allowed to stop the rest.
    pub async fn all_pending(&self) -> Result<Vec<(String, Pending)>, QueueError> {
        self.blocking(|queue| queue.all_pending_now()).await
    }

    fn all_pending_now(&self) -> Result<Vec<(String, Pending)>, QueueError> {
        let mut jobs = Vec::new();
        for entry in self.inner.pending.iter() {
            let (key, value) = entry?;
            match key_string(&key).and_then(|k| Ok((k, decode(&value)?))) {
                Ok(job) => jobs.push(job),
                Err(e) => tracing::error!(
                    key = %String::from_utf8_lossy(&key),
                    error = %e,
                    "skipping a queued job this version cannot read; it stays queued"
                ),
            }
        }
        Ok(jobs)
    }

    pub async fn pending(&self, key: &str) -> Result<Option<Pending>, QueueError> {
        let key = key.to_string();
        self.blocking(move |queue| {
            queue
                .inner
                .pending
                .get(key)?
                .map(|v| decode(&v))
                .transpose()
        })
        .await
    }

    /// Number of pending jobs (a scan of the tree).
    pub async fn pending_len(&self) -> Result<usize, QueueError> {
        self.blocking(|queue| Ok(queue.inner.pending.len())).await
    }

    /// Records success: the key leaves `pending` and is marked done.
    pub async fn complete(&self, key: &str) -> Result<(), QueueError> {
        let at = now_ms().to_be_bytes();
        let key = key.to_string();
        self.blocking(move |queue| {
            let i = &queue.inner;
            (&i.pending, &i.done).transaction(|(pending, done)| {
                pending.remove(key.as_bytes())?;
                done.insert(key.as_bytes(), &at[..])?;
                Ok::<_, ConflictableTransactionError<QueueError>>(())
            })?;
            Ok(())
        })
        .await?;
        self.written();
        self.make_durable().await
    }

    /// Stores the record for the next attempt.
    pub async fn reschedule(&self, key: &str, record: &Pending) -> Result<(), QueueError> {
        let (key, value) = (key.to_string(), encode(record)?);
        self.blocking(move |queue| Ok(queue.inner.pending.insert(key, value).map(|_| ())?))
            .await?;
        self.written();
        self.make_durable().await
    }

    /// Gives up on a job: it moves to `failed` (its `next_at_ms` should say
    /// when), and the key may be enqueued again.
    pub async fn abandon(&self, key: &str, record: &Pending) -> Result<(), QueueError> {
        let (key, value) = (key.to_string(), encode(record)?);
        self.blocking(move |queue| {
            let i = &queue.inner;
            (&i.pending, &i.failed).transaction(|(pending, failed)| {
                pending.remove(key.as_bytes())?;
                failed.insert(key.as_bytes(), value.as_slice())?;
                Ok::<_, ConflictableTransactionError<QueueError>>(())
            })?;
            Ok(())
        })
        .await?;
        self.written();
        self.make_durable().await
    }

    /// Whether `key` has a done marker.
    pub async fn is_done(&self, key: &str) -> Result<bool, QueueError> {
        let key = key.to_string();
        self.blocking(move |queue| Ok(queue.inner.done.get(key)?.is_some()))
            .await
    }

    /// Jobs given up on, with their last error.
    pub async fn failed(&self) -> Result<Vec<(String, Pending)>, QueueError> {
        self.blocking(|queue| {
            queue
                .inner
                .failed
                .iter()
                .map(|entry| {
                    let (key, value) = entry?;
                    Ok((key_string(&key)?, decode(&value)?))
                })
                .collect()
        })
        .await
    }

    /// Drops done markers and failed records older than `retention`; returns
    /// how many went.
    pub async fn prune(&self, retention: Duration) -> Result<usize, QueueError> {
        let cutoff = now_ms().saturating_sub(retention.as_millis() as u64);
        let removed = self.blocking(move |queue| queue.prune_now(cutoff)).await?;
        if removed > 0 {
            self.written();
            self.make_durable().await?;
        }
        Ok(removed)
    }

    fn prune_now(&self, cutoff: u64) -> Result<usize, QueueError> {
        let mut removed = 0;
        for entry in self.inner.done.iter() {
            let (key, value) = entry?;
            let at = <[u8; 8]>::try_from(value.as_ref())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if at < cutoff {
                self.inner.done.remove(key)?;
                removed += 1;
            }
        }
        for entry in self.inner.failed.iter() {
            let (key, value) = entry?;
            // An unreadable record is kept (see `all_pending`).
            let Ok(record) = decode(&value) else {
                continue;
            };
            if record.next_at_ms < cutoff {
                self.inner.failed.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Runs sled work on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&JobQueue) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let queue = self.clone();
        tokio::task::spawn_blocking(move || work(&queue))
            .await
            .map_err(|e| QueueError::Storage(format!("a job queue task panicked: {e}")))?
    }

    /// Records a write, so the next [`make_durable`](Self::make_durable) flushes it.
    pub(super) fn written(&self) {
        self.inner.flush.written.fetch_add(1, Ordering::SeqCst);
    }

    /// A tree of its own in the job database, made durable by the same
    /// [`make_durable`](Self::make_durable) (the inbound spool's home).
    pub(super) fn tree(&self, name: &str) -> Result<sled::Tree, QueueError> {
        Ok(self.inner.db.open_tree(name)?)
    }
}

fn encode(record: &Pending) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec(record).map_err(|e| QueueError::Corrupt(e.to_string()))
}

fn decode(value: &[u8]) -> Result<Pending, QueueError> {
    serde_json::from_slice(value).map_err(|e| QueueError::Corrupt(e.to_string()))
}

fn key_string(key: &[u8]) -> Result<String, QueueError> {
    String::from_utf8(key.to_vec()).map_err(|e| QueueError::Corrupt(format!("job key: {e}")))
}

#[cfg(test)]
/// Opens the queue again in this process (see [`crate::test_support::reopen`]).
pub(crate) async fn reopen_in_tests(path: &std::path::Path) -> (JobQueue, Arrivals) {
    crate::test_support::reopen(|| JobQueue::open(path, Durability::Flush)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: u64) -> Job {
        Job::WaitAlert {
            conversation: "+15550001111".into(),
            since_ms: 1,
            waited_secs: n,
            to: vec!["ops@example.com".into()],
        }
    }

    #[tokio::test]
    async fn a_key_is_queued_once_and_not_again_after_it_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let (queue, mut arrivals) = JobQueue::open(dir.path(), Durability::Fsync).unwrap();
        assert!(queue.enqueue("k", alert(1)).await.unwrap());
        assert!(!queue.enqueue("k", alert(2)).await.unwrap());
        assert_eq!(
            arrivals.0.recv().await.map(|(k, _)| k).as_deref(),
            Some("k")
        );
        assert!(arrivals.0.try_recv().is_err());
        assert_eq!(queue.pending("k").await.unwrap().unwrap().job, alert(1));
        queue.complete("k").await.unwrap();
        assert_eq!(queue.pending_len().await.unwrap(), 0);
        assert!(queue.is_done("k").await.unwrap());
        assert!(!queue.enqueue("k", alert(3)).await.unwrap());
        // Pruned markers free the key again.
        assert_eq!(queue.prune(DONE_RETENTION).await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(queue.prune(Duration::from_millis(1)).await.unwrap(), 1);
        assert!(queue.enqueue("k", alert(4)).await.unwrap());
    }

    #[tokio::test]
    async fn pending_jobs_and_their_schedule_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (queue, _arrivals) = JobQueue::open(dir.path(), Durability::Flush).unwrap();
            queue.enqueue("a", alert(1)).await.unwrap();
            queue.enqueue("b", alert(2)).await.unwrap();
            let mut record = queue.pending("b").await.unwrap().unwrap();
            record.attempts = 3;
            record.next_at_ms = 42;
            queue.reschedule("b", &record).await.unwrap();
            queue
                .abandon("a", &queue.pending("a").await.unwrap().unwrap())
                .await
                .unwrap();
        }
        let (queue, _arrivals) = reopen_in_tests(dir.path()).await;
        let pending = queue.all_pending().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].0, "b");
        assert_eq!((pending[0].1.attempts, pending[0].1.next_at_ms), (3, 42));
        assert_eq!(queue.failed().await.unwrap().len(), 1);
        // A job given up on may be queued again (e.g. by a webhook retry).
        assert!(queue.enqueue("a", alert(1)).await.unwrap());
    }
}
