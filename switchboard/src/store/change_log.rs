//! The change feed over sled, shared by both backends: the sled store's
//! group-commit writer and the DynamoDB store's stream reader append to it,
//! the router reads it ([`ChangeFeed`]).
//!
//! It owns, in the caller's sled database, the `changes` tree (id as 8
//! big-endian bytes → JSON [`Change`]), the id counter, the durable
//! watermark readers stop at, pruning, and the router's cursor (`meta`,
//! key `router_cursor`).
//!
//! Appending is two steps, because each appender writes its changes in one
//! sled transaction together with the data they announce:
//!
//! 1. inside that transaction, [`ChangeLog::stage`] gives a [`Staging`]
//!    that inserts changes at the next ids; the transaction returns its
//!    [`Staged`] ids and, once it has committed, the appender calls
//!    [`ChangeLog::committed`] so the next transaction continues after them;
//! 2. once sled has flushed them, [`ChangeLog::published`] advances the
//!    durable watermark and wakes the reader. Nothing above the watermark is
//!    read, so the router only sees what a crash cannot take back.
//!
//! One appender per log (the writer thread, or the stream reader): the
//! counter is not shared between concurrent transactions.
//!
//! The newest committed changes are also kept in memory (the tail), so the
//! router, which follows close behind the appender, reads them without a
//! trip to sled on the blocking pool; anything older is read from sled.
//!
//! The sled store's search indexer reads the log too, a little behind the
//! router; its position is the prune floor: nothing after it is pruned or
//! dropped from the tail (`word_index.rs`).

use super::feed::{Change, ChangeFeed, ChangeId};
use super::{keys, Result, StoreError};
use async_trait::async_trait;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Where the router's cursor lives in the `meta` tree.
const CURSOR_KEY: &[u8] = b"router_cursor";
/// Prune the log once the router is this far past the last prune: pruning
/// writes to the tree the appender's transactions use, so doing it per
/// batch would make them conflict and retry.
const PRUNE_EVERY: u64 = 4096;
/// Most changes kept in memory for the reader (a few hundred KB); a reader
/// further behind reads sled.
const TAIL_CAPACITY: usize = 16_384;

/// The change log; cheap to clone (one shared state).
#[derive(Clone)]
pub struct ChangeLog {
    inner: Arc<Inner>,
}

struct Inner {
    /// Change id → JSON [`Change`].
    changes: sled::Tree,
    /// Holds the router's cursor.
    meta: sled::Tree,
    /// Id the next staged change gets.
    next: AtomicU64,
    /// Newest id that is durable: what readers may see.
    durable: watch::Sender<ChangeId>,
    /// The cursor at the last prune.
    pruned_upto: AtomicU64,
    /// The newest committed changes, consecutive ids, oldest first.
    tail: Mutex<VecDeque<(ChangeId, Change)>>,
    /// Nothing after this id is pruned, whatever the router's cursor: the
    /// sled store's search indexer is still to read it
    /// (`word_index.rs`). `u64::MAX` (no second reader) by default.
    prune_floor: AtomicU64,
}

/// Ids a transaction staged, to hand to [`ChangeLog::committed`] once it
/// committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// Id the next change gets.
    next: ChangeId,
    /// What this transaction staged, for the in-memory tail.
    changes: Vec<(ChangeId, Change)>,
}

impl Staged {
    /// The newest id staged by this transaction or any before it.
    pub fn last(&self) -> ChangeId {
        self.next - 1
    }
}

/// Changes being staged in one run of a sled transaction (sled may run a
/// transaction more than once: each run stages afresh).
pub struct Staging<'a> {
    tree: &'a TransactionalTree,
    next: ChangeId,
    /// What this run pushed.
    pushed: Vec<(ChangeId, Change)>,
}

impl Staging<'_> {
    /// Inserts `change` at the next id.
    pub fn push(
        &mut self,
        change: &Change,
    ) -> std::result::Result<ChangeId, ConflictableTransactionError<StoreError>> {
        let bytes = serde_json::to_vec(change)
            .map_err(|e| ConflictableTransactionError::Abort(StoreError::Corrupt(e.to_string())))?;
        let id = self.next;
        self.tree.insert(&keys::change(id), bytes)?;
        self.pushed.push((id, change.clone()));
        self.next += 1;
        Ok(id)
    }

    /// What this run staged, to return from the transaction.
    pub fn staged(&self) -> Staged {
        Staged {
            next: self.next,
            changes: self.pushed.clone(),
        }
    }
}

impl ChangeLog {
    /// Opens the log in `db`. Ids continue after the newest change kept or
    /// the saved cursor, whichever is higher (the log may be pruned empty).
    pub fn open(db: &sled::Db) -> Result<ChangeLog> {
        let changes = db.open_tree("changes")?;
        let meta = db.open_tree("meta")?;
        let cursor = read_cursor(&meta)?;
        let last = match changes.last()? {
            Some((key, _)) => keys::parse_change(&key).unwrap_or(0),
            None => 0,
        };
        let last = last.max(cursor);
        Ok(ChangeLog {
            inner: Arc::new(Inner {
                changes,
                meta,
                next: AtomicU64::new(last + 1),
                durable: watch::Sender::new(last),
                pruned_upto: AtomicU64::new(0),
                tail: Mutex::new(VecDeque::new()),
                prune_floor: AtomicU64::new(u64::MAX),
            }),
        })
    }

    /// The `changes` tree, to include in the appender's transaction.
    pub fn tree(&self) -> &sled::Tree {
        &self.inner.changes
    }

    /// Starts staging changes in `tree`, the transactional view of
    /// [`ChangeLog::tree`] inside the appender's transaction.
    pub fn stage<'a>(&self, tree: &'a TransactionalTree) -> Staging<'a> {
        Staging {
            tree,
            next: self.inner.next.load(Ordering::SeqCst),
            pushed: Vec::new(),
        }
    }

    /// The transaction that staged `staged` committed: the next one
    /// continues after its ids.
    pub fn committed(&self, staged: Staged) {
        self.inner.next.fetch_max(staged.next, Ordering::SeqCst);
        let Ok(mut tail) = self.inner.tail.lock() else {
            return;
        };
        for (id, change) in staged.changes {
            // Ids are consecutive; after anything else (a page applied
            // again at the same ids) start over rather than keep a gap.
            if tail.back().is_some_and(|&(newest, _)| newest + 1 != id) {
                tail.clear();
            }
            tail.push_back((id, change));
        }
        while tail.len() > TAIL_CAPACITY {
            tail.pop_front();
        }
    }

    /// Changes `(after, upto]`, at most `limit`, if the tail has them all.
    fn read_tail(
        &self,
        after: ChangeId,
        upto: ChangeId,
        limit: usize,
    ) -> Option<Vec<(ChangeId, Change)>> {
        let tail = self.inner.tail.lock().ok()?;
        let &(oldest, _) = tail.front()?;
        if oldest > after + 1 {
            return None;
        }
        let skip = usize::try_from(after + 1 - oldest).ok()?;
        let changes: Vec<_> = tail
            .iter()
            .skip(skip)
            .take_while(|&&(id, _)| id <= upto)
            .take(limit)
            .cloned()
            .collect();
        // The tail may end before `upto` only if the appender is ahead of
        // what it recorded here; read sled then.
        let complete =
            changes.len() == limit || changes.last().map_or(after, |&(id, _)| id) == upto;
        complete.then_some(changes)
    }

    /// Everything up to `upto` is flushed: readers may see it.
    pub fn published(&self, upto: ChangeId) {
        self.inner.durable.send_if_modified(|durable| {
            let advanced = upto > *durable;
            *durable = (*durable).max(upto);
            advanced
        });
    }

    /// The newest durable id: what readers may see.
    pub fn durable(&self) -> ChangeId {
        *self.inner.durable.borrow()
    }

    /// Keeps every change after `id` (neither pruned nor dropped from the
    /// in-memory tail) even once the router is past it.
    pub fn set_prune_floor(&self, id: ChangeId) {
        self.inner.prune_floor.store(id, Ordering::SeqCst);
    }

    /// Durable changes after `after`, at most `limit`, from the tail or
    /// sled; blocks on sled (for a thread of the caller's own, or the
    /// blocking pool).
    pub fn read_durable(&self, after: ChangeId, limit: usize) -> Result<Vec<(ChangeId, Change)>> {
        let durable = self.durable();
        if durable <= after {
            return Ok(Vec::new());
        }
        if let Some(changes) = self.read_tail(after, durable, limit) {
            return Ok(changes);
        }
        read_sled(&self.inner, after, durable, limit)
    }

    /// Runs sled work on tokio's blocking pool: a read may wait for the
    /// disk, which must not stall the runtime's threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| StoreError::Storage(format!("a change log task panicked: {e}")))?
    }
}

#[async_trait]
impl ChangeFeed for ChangeLog {
    async fn changes_after(
        &self,
        after: ChangeId,
        limit: usize,
    ) -> Result<Vec<(ChangeId, Change)>> {
        let durable = self.durable();
        if durable <= after {
            return Ok(Vec::new());
        }
        if let Some(changes) = self.read_tail(after, durable, limit) {
            return Ok(changes);
        }
        self.blocking(move |inner| read_sled(inner, after, durable, limit))
            .await
    }

    async fn wait_for_changes(&self, after: ChangeId) -> Result<()> {
        let mut durable = self.inner.durable.subscribe();
        durable
            .wait_for(|&durable| durable > after)
            .await
            .map(|_| ())
            .map_err(|_| StoreError::Closed)
    }

    async fn load_cursor(&self) -> Result<ChangeId> {
        self.blocking(|inner| read_cursor(&inner.meta)).await
    }

    /// Not flushed by itself: see [`super::feed`].
    async fn save_cursor(&self, cursor: ChangeId) -> Result<()> {
        // What no reader needs any more.
        let done = cursor.min(self.inner.prune_floor.load(Ordering::SeqCst));
        if let Ok(mut tail) = self.inner.tail.lock() {
            while tail.front().is_some_and(|&(id, _)| id <= done) {
                tail.pop_front();
            }
        }
        let prune =
            done.saturating_sub(self.inner.pruned_upto.load(Ordering::Relaxed)) >= PRUNE_EVERY;
        self.blocking(move |inner| {
            inner.meta.insert(CURSOR_KEY, &keys::change(cursor))?;
            // Entries every reader is past are never read again; the
            // appender only writes ids above the watermark, hence above
            // them.
            if prune {
                let mut batch = sled::Batch::default();
                for key in inner.changes.range(..=keys::change(done)).keys() {
                    batch.remove(key?);
                }
                inner.changes.apply_batch(batch)?;
                inner.pruned_upto.store(done, Ordering::Relaxed);
            }
            Ok(())
        })
        .await
    }
}

/// Changes `(after, upto]` from sled, at most `limit`.
fn read_sled(
    inner: &Inner,
    after: ChangeId,
    upto: ChangeId,
    limit: usize,
) -> Result<Vec<(ChangeId, Change)>> {
    let range = keys::change(after + 1)..=keys::change(upto);
    let mut changes = Vec::new();
    for entry in inner.changes.range(range).take(limit) {
        let (key, value) = entry?;
        let id =
            keys::parse_change(&key).ok_or_else(|| StoreError::Corrupt("change key".into()))?;
        let change =
            serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        changes.push((id, change));
    }
    Ok(changes)
}

fn read_cursor(meta: &sled::Tree) -> Result<ChangeId> {
    Ok(match meta.get(CURSOR_KEY)? {
        Some(bytes) => {
            keys::parse_change(&bytes).ok_or_else(|| StoreError::Corrupt("router cursor".into()))?
        }
        None => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sled::transaction::TransactionError;

    fn opt_out(n: u32) -> Change {
        Change::OptOut {
            c: format!("+1555000{n}"),
        }
    }

    /// Stages `changes` in one transaction and commits it; not published.
    fn append(db: &sled::Db, log: &ChangeLog, changes: &[Change]) -> Staged {
        let staged = log
            .tree()
            .transaction(|tx| {
                let mut staging = log.stage(tx);
                for change in changes {
                    staging.push(change)?;
                }
                Ok(staging.staged())
            })
            .map_err(|e: TransactionError<StoreError>| e.to_string())
            .unwrap();
        log.committed(staged.clone());
        db.flush().unwrap();
        staged
    }

    #[tokio::test]
    async fn the_tail_in_memory_reads_what_sled_holds() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let log = ChangeLog::open(&db).unwrap();
        let changes: Vec<Change> = (0..5).map(opt_out).collect();
        let staged = append(&db, &log, &changes);
        log.published(staged.last());
        // A second log over the same trees has no tail: it reads sled.
        let from_sled = ChangeLog::open(&db).unwrap();
        from_sled.published(staged.last());
        for (after, limit) in [(0, 10), (1, 2), (4, 10), (5, 10)] {
            let from_tail = log.read_tail(after, 5, limit);
            assert!(
                from_tail.is_some() || after == 5,
                "({after}, {limit}) in the tail"
            );
            assert_eq!(
                log.changes_after(after, limit).await.unwrap(),
                from_sled.changes_after(after, limit).await.unwrap(),
                "changes after {after}, at most {limit}"
            );
        }
        log.save_cursor(3).await.unwrap();
        assert!(
            log.read_tail(0, 5, 10).is_none(),
            "behind the cursor: dropped"
        );
        assert_eq!(
            log.changes_after(3, 10).await.unwrap(),
            vec![(4, opt_out(3)), (5, opt_out(4))]
        );
    }

    #[tokio::test]
    async fn changes_show_once_published_and_ids_continue_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let log = ChangeLog::open(&db).unwrap();
            let staged = append(&db, &log, &[opt_out(1), opt_out(2)]);
            assert_eq!(staged.last(), 2);
            assert!(
                log.changes_after(0, 10).await.unwrap().is_empty(),
                "not published yet"
            );
            log.published(staged.last());
            log.wait_for_changes(0).await.unwrap();
            assert_eq!(
                log.changes_after(0, 10).await.unwrap(),
                vec![(1, opt_out(1)), (2, opt_out(2))]
            );
            assert_eq!(
                log.changes_after(1, 10).await.unwrap(),
                vec![(2, opt_out(2))]
            );
            log.save_cursor(1).await.unwrap();
            db.flush().unwrap();
        }
        let db = crate::test_support::reopen(|| sled::open(dir.path())).await;
        let log = ChangeLog::open(&db).unwrap();
        assert_eq!(log.load_cursor().await.unwrap(), 1);
        // What was flushed before the restart is durable, hence readable.
        assert_eq!(
            log.changes_after(1, 10).await.unwrap(),
            vec![(2, opt_out(2))]
        );
        let staged = append(&db, &log, &[opt_out(3)]);
        assert_eq!(staged.last(), 3, "ids continue after the old ones");
    }

    #[tokio::test]
    async fn a_saved_cursor_far_enough_ahead_prunes_what_is_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let log = ChangeLog::open(&db).unwrap();
        let changes: Vec<Change> = (0..PRUNE_EVERY as u32 + 2).map(opt_out).collect();
        let staged = append(&db, &log, &changes);
        log.published(staged.last());
        log.save_cursor(PRUNE_EVERY).await.unwrap();
        assert_eq!(
            log.tree().len(),
            2,
            "only the changes after the cursor are kept"
        );
        drop(log);
        let log = ChangeLog::open(&db).unwrap();
        let staged = append(&db, &log, &[opt_out(1)]);
        assert_eq!(staged.last(), PRUNE_EVERY + 3);
    }
}
