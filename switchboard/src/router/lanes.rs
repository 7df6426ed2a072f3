//! Serial lanes: background work that must keep its order per key (one
//! conversation's replies, one conversation's route writes, one agent's
//! settings) without making other keys, or the router, wait.
//!
//! Each piece of work runs in its own task, which first waits for the
//! previous piece of the same key to finish. So two replies an agent sends
//! back-to-back are stored in the order it sent them, while a slow write for
//! one conversation holds up nothing but that conversation.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// Below this many remembered keys, finished ones are not swept out.
const SWEEP_FLOOR: usize = 256;

/// Work in flight, ordered per key.
pub struct Lanes<K> {
    /// Per key, the signal that its newest piece of work has finished.
    tails: HashMap<K, oneshot::Receiver<()>>,
    /// Every task started, so shutdown can wait for them.
    tasks: JoinSet<()>,
    /// Sweep finished keys out of `tails` when it grows past this.
    sweep_at: usize,
}

impl<K: Hash + Eq> Default for Lanes<K> {
    fn default() -> Self {
        Lanes {
            tails: HashMap::new(),
            tasks: JoinSet::new(),
            sweep_at: SWEEP_FLOOR,
        }
    }
}

impl<K: Hash + Eq> Lanes<K> {
    /// Runs `work` in the background once every piece of work given
    /// earlier for `key` has finished (or panicked). Does not wait.
    pub fn run(&mut self, key: K, work: impl Future<Output = ()> + Send + 'static) {
        let previous = self.tails.remove(&key);
        let (finished, tail) = oneshot::channel();
        self.tails.insert(key, tail);
        self.tasks.spawn(async move {
            if let Some(previous) = previous {
                // An error means the previous task is gone (it panicked):
                // nothing left to wait for.
                let _ = previous.await;
            }
            work.await;
            let _ = finished.send(());
        });
        self.sweep();
    }

    /// Forgets finished tasks and keys, so memory follows the work in
    /// flight, not every key ever seen.
    fn sweep(&mut self) {
        while self.tasks.try_join_next().is_some() {}
        if self.tails.len() > self.sweep_at {
            self.tails.retain(|_, tail| {
                matches!(tail.try_recv(), Err(oneshot::error::TryRecvError::Empty))
            });
            self.sweep_at = (self.tails.len() * 2).max(SWEEP_FLOOR);
        }
    }

    /// Waits until every piece of work started so far has finished (or
    /// panicked). Returns at once when nothing is in flight.
    pub async fn settle(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits up to `limit` for all work to finish (at shutdown); what is
    /// still running then is cancelled.
    pub async fn finish(&mut self, limit: Duration) {
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!(
                left = self.tasks.len(),
                "router writes still running at shutdown; cancelled"
            );
            self.tasks.abort_all();
        }
        self.tails.clear();
    }

    /// Keys remembered (for tests of the sweep).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.tails.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    const BOUND: Duration = Duration::from_secs(10);

    async fn next(rx: &mut mpsc::UnboundedReceiver<&'static str>) -> &'static str {
        tokio::time::timeout(BOUND, rx.recv())
            .await
            .expect("work finished in time")
            .expect("channel open")
    }

    #[tokio::test]
    async fn work_of_one_key_keeps_its_order_and_does_not_hold_up_other_keys() {
        let mut lanes = Lanes::default();
        let (done, mut finished) = mpsc::unbounded_channel();
        let (release, gate) = oneshot::channel::<()>();

        // The first reply of conversation `a` is slow (held at the gate);
        // the second is instant, so spawned without a lane it would finish
        // first.
        let d = done.clone();
        lanes.run("a", async move {
            let _ = gate.await;
            let _ = d.send("a1");
        });
        let d = done.clone();
        lanes.run("a", async move {
            let _ = d.send("a2");
        });
        // Another conversation is not held up by `a`'s slow write: it
        // finishes while `a1` is still at the gate (and `a2` behind it).
        let d = done.clone();
        lanes.run("b", async move {
            let _ = d.send("b1");
        });
        assert_eq!(next(&mut finished).await, "b1");

        release.send(()).expect("a1 waits at the gate");
        assert_eq!(next(&mut finished).await, "a1");
        assert_eq!(next(&mut finished).await, "a2");
        lanes.finish(BOUND).await;
    }

    #[tokio::test]
    async fn a_panicking_piece_of_work_does_not_stop_its_lane() {
        let mut lanes = Lanes::default();
        let (done, mut finished) = mpsc::unbounded_channel();
        lanes.run("a", async { panic!("a write went wrong") });
        lanes.run("a", async move {
            let _ = done.send("a2");
        });
        assert_eq!(next(&mut finished).await, "a2");
    }

    #[tokio::test]
    async fn finished_keys_are_forgotten() {
        let mut lanes = Lanes::default();
        let (done, mut finished) = mpsc::unbounded_channel();
        for i in 0..SWEEP_FLOOR * 4 {
            let d = done.clone();
            lanes.run(i, async move {
                let _ = d.send("done");
            });
            next(&mut finished).await;
        }
        // Without sweeping, all 1,024 keys would still be remembered.
        assert!(lanes.remembered() <= SWEEP_FLOOR + 2);
        lanes.finish(BOUND).await;
    }
}
