//! [`Canned`]: the team's canned replies as agents' sockets see them.
//!
//! An edit reads the stored list, applies [`super::rules::apply`] and
//! writes the result with the store's compare-and-set; when another edit
//! got there first it starts over on the newer list. The accepted list is
//! published on a watch channel that every agent connection follows, so
//! each connected agent is sent it once (the newest, if several edits came
//! quickly). A connection reads the stored list itself when its session
//! starts (after `welcome`), so a new leader serves what the previous one
//! saved.

use super::rules::{self, Edit, Refused};
use crate::store::{CannedStore, StoreError};
use std::sync::Arc;
use switchboard_protocol::CannedReply;
use tokio::sync::watch;

/// How many times an edit starts over after losing a race to another.
const EDIT_TRIES: usize = 20;

/// Why an edit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Refused by the rules; the message is for the agent.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The store failed (or kept losing races); the agent may try again.
    #[error("the canned replies could not be saved ({0}); try again")]
    Store(#[from] StoreError),
}

/// The canned replies and their newest accepted list; cheap to clone.
#[derive(Clone)]
pub struct Canned {
    store: Arc<dyn CannedStore>,
    newest: Arc<watch::Sender<Arc<Vec<CannedReply>>>>,
}

impl Canned {
    pub fn new(store: Arc<dyn CannedStore>) -> Canned {
        let (newest, _) = watch::channel(Arc::new(Vec::new()));
        Canned {
            store,
            newest: Arc::new(newest),
        }
    }

    /// The stored list (read now), also published as the newest.
    pub async fn load(&self) -> Result<Arc<Vec<CannedReply>>, StoreError> {
        let list = Arc::new(self.store.canned().await?.replies);
        self.publish(list.clone());
        Ok(list)
    }

    /// Follows the accepted lists (edits made through this instance).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Vec<CannedReply>>> {
        self.newest.subscribe()
    }

    /// Applies `edit` in `agent`'s name and publishes the new list.
    pub async fn edit(
        &self,
        edit: &Edit,
        agent: &str,
        now_ms: u64,
    ) -> Result<Arc<Vec<CannedReply>>, EditError> {
        for _ in 0..EDIT_TRIES {
            let stored = self.store.canned().await?;
            let next = rules::apply(&stored.replies, edit, agent, now_ms)?;
            if self.store.replace_canned(stored.version, &next).await? {
                let next = Arc::new(next);
                self.publish(next.clone());
                tracing::info!(agent, ?edit, "canned replies changed");
                return Ok(next);
            }
        }
        Err(EditError::Store(StoreError::Storage(
            "other edits kept getting there first".into(),
        )))
    }

    fn publish(&self, list: Arc<Vec<CannedReply>>) {
        self.newest.send_if_modified(|current| {
            if **current == *list {
                return false;
            }
            *current = list;
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn save(keyword: &str, body: &str) -> Edit {
        Edit::Save {
            keyword: keyword.into(),
            body: body.into(),
            replaces: None,
        }
    }

    #[tokio::test]
    async fn edits_are_stored_published_and_concurrent_ones_both_land() {
        let (store, _outbox) = MemoryStore::new();
        let canned = Canned::new(Arc::new(store));
        let mut follower = canned.subscribe();
        canned.edit(&save("hi", "Hello!"), "ada", 1).await.unwrap();
        assert!(follower.has_changed().unwrap());
        assert_eq!(follower.borrow_and_update()[0].keyword, "hi");
        // Two agents at once: neither edit is lost.
        let (edit_a, edit_b) = (save("a", "A"), save("b", "B"));
        let (a, b) = tokio::join!(
            canned.edit(&edit_a, "ada", 2),
            canned.edit(&edit_b, "bo", 2)
        );
        a.unwrap();
        b.unwrap();
        let keys: Vec<String> = canned
            .load()
            .await
            .unwrap()
            .iter()
            .map(|r| r.keyword.clone())
            .collect();
        assert_eq!(keys, ["a", "b", "hi"]);
        // A refused edit changes nothing and says why.
        let refused = canned.edit(&save("bad word", "x"), "ada", 3).await;
        assert!(matches!(
            refused,
            Err(EditError::Refused(Refused::BadKeyword(_)))
        ));
    }
}
