//! The sled store's search index, kept by its own thread off the write path.
//!
//! Indexing each word of a message inside the group commit's transaction
//! cost one tree insert per word — thirteen for the benchmark's texts, three
//! times what storing the message itself costs — on every webhook's path.
//! So the writer stores messages only, and this thread follows the change
//! log and indexes what has become durable, a window at a time:
//!
//! - **Layout**: tree `word_index`, key `word 0x00 !second` (the second of
//!   the message's `at_ms`, inverted so that newer sorts first) → the
//!   word's postings in that second, newest first (each a [`Cursor`]:
//!   `at_ms`, number, seq). A window writes each (word, second) once
//!   however many of its messages used the word; a second that already has
//!   postings is read and merged (a set: indexing a message twice is
//!   harmless). Walking a word's keys in order and each value in order
//!   gives its hits in the listing order of [`Cursor::key`].
//! - **Cursor**: key [`CURSOR_KEY`] (0xff sorts after every word) holds the
//!   last change indexed, written in the same atomic batch as the postings;
//!   after a crash the thread starts again from there. The change log keeps
//!   everything after it ([`ChangeLog::set_prune_floor`]).
//! - **Freshness**: a search first asks the thread to catch up with
//!   everything durable ([`WordIndex::catch_up`]), so a message is found as
//!   soon as its webhook has been answered; between searches the thread
//!   indexes once per [`WINDOW`].
//!
//! What is indexed per message is [`search::index_terms`] (its words, and
//! each number's endings); a query term finds every indexed word it begins
//! ([`PrefixWalk`]: the runs of those words, merged newest first).
//!
//! A store written before this index existed (no cursor yet) is indexed
//! from its `messages` tree once, in the background, when it is opened.

use super::change_log::ChangeLog;
use super::group_commit::StoredMessage;
use super::history::Cursor;
use super::search;
use super::{Change, ChangeId, Result, StoreError};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::mpsc;
use std::time::Duration;
use switchboard_protocol::Seq;
use tokio::sync::oneshot;

/// Where the last indexed change id lives in the index tree.
const CURSOR_KEY: &[u8] = b"\xffcursor";
/// How often the thread indexes when no search asks it to.
const WINDOW: Duration = Duration::from_millis(500);
/// Changes read from the log at a time.
const CHANGES_PER_READ: usize = 4096;
/// Messages indexed per batch while indexing an older store from scratch.
const BACKFILL_PER_BATCH: usize = 10_000;

/// What a search or the store asks of the thread.
enum Request {
    /// Index everything durable, then answer.
    CatchUp(oneshot::Sender<Result<()>>),
    /// Index everything durable, answer, and stop.
    Stop(oneshot::Sender<()>),
}

/// Handle on the index thread; the index itself is [`WordIndex::tree`].
pub struct WordIndex {
    tree: sled::Tree,
    requests: mpsc::Sender<Request>,
}

/// The thread's side: the trees it reads and writes.
struct Indexer {
    tree: sled::Tree,
    messages: sled::Tree,
    log: ChangeLog,
    /// Last change id indexed (also in the tree, under [`CURSOR_KEY`]).
    cursor: ChangeId,
}

impl WordIndex {
    /// Opens the index in `db` and starts its thread, which reads messages
    /// from `messages` as `log` announces them.
    pub fn start(db: &sled::Db, messages: sled::Tree, log: ChangeLog) -> Result<WordIndex> {
        let tree = db.open_tree("word_index")?;
        // The index of the first version (one key per word and message,
        // written with each message) is replaced by this one.
        db.drop_tree("words")?;
        let saved = read_cursor(&tree)?;
        // What the log holds now is either in `messages` (backfilled below)
        // or comes after this id.
        let cursor = saved.unwrap_or_else(|| log.durable());
        log.set_prune_floor(cursor);
        let mut indexer = Indexer {
            tree: tree.clone(),
            messages,
            log,
            cursor,
        };
        let (requests, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("word-indexer".into())
            .spawn(move || {
                if saved.is_none() {
                    if let Err(e) = indexer.backfill() {
                        tracing::error!(error = %e, "indexing the stored messages for search failed");
                    }
                }
                indexer.run(rx)
            })
            .map_err(|e| StoreError::Storage(format!("starting the indexer thread: {e}")))?;
        Ok(WordIndex { tree, requests })
    }

    /// The index tree, for [`hits`].
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Returns once every message durable when it was called is indexed.
    pub async fn catch_up(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::CatchUp(tx))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Indexes what is durable and stops the thread (the store is closing).
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Indexer {
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        loop {
            let mut waiting = Vec::new();
            let mut stop = None;
            match requests.recv_timeout(WINDOW) {
                Ok(request) => {
                    for request in std::iter::once(request).chain(requests.try_iter()) {
                        match request {
                            Request::CatchUp(tx) => waiting.push(tx),
                            Request::Stop(tx) => stop = Some(tx),
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // The store is gone without a stop: nothing will read the
                // index; what is not indexed yet is indexed at next start.
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            let outcome = self.index_durable();
            if let Err(e) = &outcome {
                tracing::error!(error = %e, "indexing messages for search failed; retrying");
                crate::telemetry::store_error("word_index");
            }
            for tx in waiting {
                let _ = tx.send(outcome.clone());
            }
            if let Some(tx) = stop {
                let _ = tx.send(());
                return;
            }
        }
    }

    /// Indexes every change up to the durable watermark as it is now.
    fn index_durable(&mut self) -> Result<()> {
        let upto = self.log.durable();
        while self.cursor < upto {
            let changes = self.log.read_durable(self.cursor, CHANGES_PER_READ)?;
            let Some(&(last, _)) = changes.last() else {
                break;
            };
            let mut postings = Postings::default();
            for (_, change) in &changes {
                if let Change::Message { c, s, .. } = change {
                    if let Some(bytes) = self.messages.get(super::keys::message(c, *s))? {
                        postings.add(&decode_message(&bytes)?);
                    }
                }
            }
            self.write(postings, Some(last))?;
            self.cursor = last;
            self.log.set_prune_floor(last);
        }
        Ok(())
    }

    /// Indexes every stored message (a store from before this index).
    fn backfill(&mut self) -> Result<()> {
        let mut postings = Postings::default();
        for entry in self.messages.iter() {
            let (_, bytes) = entry?;
            postings.add(&decode_message(&bytes)?);
            if postings.messages >= BACKFILL_PER_BATCH {
                self.write(std::mem::take(&mut postings), None)?;
            }
        }
        self.write(postings, Some(self.cursor))
    }

    /// Merges `postings` into the tree in one atomic batch, with the cursor.
    fn write(&self, postings: Postings, cursor: Option<ChangeId>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (key, new) in postings.sorted() {
            let merged = match self.tree.get(&key)? {
                Some(old) => merge(decode(&old)?, new),
                None => new,
            };
            batch.insert(key, encode(&merged));
        }
        if let Some(cursor) = cursor {
            batch.insert(CURSOR_KEY, &cursor.to_be_bytes());
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }
}

/// Postings gathered for one write, by key.
#[derive(Default)]
struct Postings {
    by_key: BTreeMap<Vec<u8>, Vec<Cursor>>,
    /// Messages added.
    messages: usize,
}

impl Postings {
    fn add(&mut self, message: &switchboard_protocol::Message) {
        let posting = Cursor::of_message(message);
        for word in search::index_terms(&message.body) {
            self.by_key
                .entry(key(&word, message.at_ms))
                .or_default()
                .push(posting.clone());
        }
        self.messages += 1;
    }

    /// Each key's postings sorted and without repeats. (Sorted once here,
    /// not kept sorted while adding: messages come oldest first, so each
    /// would go to the front of its newest-first list.)
    fn sorted(self) -> impl Iterator<Item = (Vec<u8>, Vec<Cursor>)> {
        self.by_key.into_iter().map(|(key, mut list)| {
            list.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
            list.dedup();
            (key, list)
        })
    }
}

/// The key of `word`'s postings in the second of `at_ms`.
fn key(word: &str, at_ms: u64) -> Vec<u8> {
    let mut key = prefix(word);
    key.extend_from_slice(&(u64::MAX - at_ms / 1000).to_be_bytes());
    key
}

/// Every key of `word` starts with this (words never contain 0x00).
fn prefix(word: &str) -> Vec<u8> {
    let mut key = word.as_bytes().to_vec();
    key.push(0);
    key
}

/// The messages containing `word`, in listing order, strictly after
/// `after` when given.
pub fn hits<'a>(
    tree: &'a sled::Tree,
    word: &str,
    after: Option<&Cursor>,
) -> impl Iterator<Item = Result<Cursor>> + 'a {
    let prefix = prefix(word);
    // The second of the cursor may hold postings on both sides of it.
    let start = after.map_or_else(|| prefix.clone(), |c| key(word, c.at_ms));
    let after = after.cloned();
    tree.range(start..)
        .take_while(move |entry| match entry {
            Ok((key, _)) => key.starts_with(&prefix),
            Err(_) => true,
        })
        .flat_map(move |entry| {
            let postings = entry
                .map_err(StoreError::from)
                .and_then(|(_, value)| decode(&value));
            let after = after.clone();
            match postings {
                Ok(postings) => postings
                    .into_iter()
                    .filter(|p| after.as_ref().is_none_or(|c| p.key() > c.key()))
                    .map(Ok)
                    .collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        })
}

/// One word's hits from the cursor on.
type Run<'a> = Box<dyn Iterator<Item = Result<Cursor>> + 'a>;

/// A hit's place in the listing order ([`Cursor::key`], owned), to merge
/// the runs of several words.
type Place = (Reverse<u64>, String, Seq);

/// The messages of every indexed word beginning with a term, newest first,
/// each message once (a message may contain several such words), strictly
/// after a cursor when given. Lazy: a page stops the walk after about as
/// many hits as it shows, however many words match.
pub struct PrefixWalk<'a> {
    /// Per matching word, its hits.
    runs: Vec<Run<'a>>,
    /// The next hit of each run, the first in listing order on top.
    heads: BinaryHeap<Reverse<(Place, usize)>>,
    /// The last hit yielded, to skip the same message under another word.
    last: Option<Place>,
}

impl<'a> PrefixWalk<'a> {
    /// Starts a walk of `tree` for `term` (as the query parsed it:
    /// lower-case, no 0x00), after `after`.
    pub fn new(tree: &'a sled::Tree, term: &str, after: Option<&Cursor>) -> Result<Self> {
        let mut walk = PrefixWalk {
            runs: Vec::new(),
            heads: BinaryHeap::new(),
            last: None,
        };
        for word in words_beginning(tree, term)? {
            walk.runs.push(Box::new(hits(tree, &word, after)));
            walk.advance(walk.runs.len() - 1)?;
        }
        Ok(walk)
    }

    /// Reads run `index`'s next hit into the heap (nothing once it ends).
    fn advance(&mut self, index: usize) -> Result<()> {
        if let Some(hit) = self.runs[index].next() {
            let hit = hit?;
            let place = (Reverse(hit.at_ms), hit.conversation, hit.seq);
            self.heads.push(Reverse((place, index)));
        }
        Ok(())
    }

    /// The next message, newest first: `(number, seq)`.
    pub fn next_message(&mut self) -> Result<Option<(String, Seq)>> {
        while let Some(Reverse((place, index))) = self.heads.pop() {
            self.advance(index)?;
            if self.last.as_ref() == Some(&place) {
                continue;
            }
            let found = (place.1.clone(), place.2);
            self.last = Some(place);
            return Ok(Some(found));
        }
        Ok(None)
    }
}

/// The distinct indexed words beginning with `term`, in key order: one seek
/// per word, each jumping past the word's keys (`word 0x01` is above every
/// `word 0x00 …` key; words never hold control characters, and the cursor's
/// key begins with 0xff, which no UTF-8 text does).
fn words_beginning(tree: &sled::Tree, term: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut from = term.as_bytes().to_vec();
    while let Some(entry) = tree.range(from.clone()..).next() {
        let (key, _) = entry?;
        if !key.starts_with(term.as_bytes()) {
            break;
        }
        let end = key
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| StoreError::Corrupt("search index key without a word".into()))?;
        from = [&key[..end], &[1]].concat();
        let word = String::from_utf8(key[..end].to_vec())
            .map_err(|_| StoreError::Corrupt("search index word is not UTF-8".into()))?;
        found.push(word);
    }
    Ok(found)
}

/// The union of two sorted posting lists, sorted.
fn merge(old: Vec<Cursor>, new: Vec<Cursor>) -> Vec<Cursor> {
    let mut merged = Vec::with_capacity(old.len() + new.len());
    let (mut old, mut new) = (old.into_iter().peekable(), new.into_iter().peekable());
    loop {
        let next = match (old.peek(), new.peek()) {
            (Some(a), Some(b)) => match a.key().cmp(&b.key()) {
                std::cmp::Ordering::Less => old.next(),
                std::cmp::Ordering::Greater => new.next(),
                std::cmp::Ordering::Equal => {
                    new.next();
                    old.next()
                }
            },
            (Some(_), None) => old.next(),
            (None, Some(_)) => new.next(),
            (None, None) => return merged,
        };
        merged.extend(next);
    }
}

/// Postings as stored: per posting `at_ms` (8 bytes), seq (8), the
/// number's length (1) and the number, all big-endian.
fn encode(postings: &[Cursor]) -> Vec<u8> {
    let mut out = Vec::with_capacity(postings.len() * 30);
    for p in postings {
        // Numbers are E.164 (at most 16 bytes); a longer one would be cut,
        // and its hits would then find no message and be skipped.
        let number = &p.conversation.as_bytes()[..p.conversation.len().min(255)];
        out.extend_from_slice(&p.at_ms.to_be_bytes());
        out.extend_from_slice(&p.seq.to_be_bytes());
        out.push(number.len() as u8);
        out.extend_from_slice(number);
    }
    out
}

fn decode(mut bytes: &[u8]) -> Result<Vec<Cursor>> {
    let corrupt = || StoreError::Corrupt("search index postings".into());
    let mut postings = Vec::new();
    while !bytes.is_empty() {
        let (at, rest) = bytes.split_at_checked(8).ok_or_else(corrupt)?;
        let (seq, rest) = rest.split_at_checked(8).ok_or_else(corrupt)?;
        let (&len, rest) = rest.split_first().ok_or_else(corrupt)?;
        let (number, rest) = rest.split_at_checked(len.into()).ok_or_else(corrupt)?;
        postings.push(Cursor {
            at_ms: u64::from_be_bytes(at.try_into().map_err(|_| corrupt())?),
            seq: u64::from_be_bytes(seq.try_into().map_err(|_| corrupt())?),
            conversation: String::from_utf8(number.to_vec()).map_err(|_| corrupt())?,
        });
        bytes = rest;
    }
    Ok(postings)
}

fn decode_message(bytes: &[u8]) -> Result<switchboard_protocol::Message> {
    serde_json::from_slice::<StoredMessage>(bytes)
        .map(|s| s.message)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn read_cursor(tree: &sled::Tree) -> Result<Option<ChangeId>> {
    tree.get(CURSOR_KEY)?
        .map(|bytes| {
            super::keys::parse_change(&bytes)
                .ok_or_else(|| StoreError::Corrupt("search index cursor".into()))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: u64, number: &str, seq: u64) -> Cursor {
        Cursor {
            at_ms,
            conversation: number.into(),
            seq,
        }
    }

    #[test]
    fn postings_round_trip_and_reject_truncation() {
        let postings = vec![at(2_000, "+15550100", 7), at(1_000, "+4420", 1)];
        let bytes = encode(&postings);
        assert_eq!(decode(&bytes).unwrap(), postings);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(&[]).unwrap().is_empty());
    }

    #[test]
    fn merge_is_a_sorted_union() {
        let old = vec![at(3, "+1", 3), at(1, "+1", 1)];
        let new = vec![at(2, "+1", 2), at(1, "+1", 1)];
        assert_eq!(
            merge(old, new),
            vec![at(3, "+1", 3), at(2, "+1", 2), at(1, "+1", 1)]
        );
    }

    #[test]
    fn newer_seconds_sort_first_and_words_do_not_mix() {
        assert!(key("order", 5_000) < key("order", 4_999));
        assert!(key("order", 4_999) == key("order", 4_000));
        assert!(!key("orders", 1).starts_with(&prefix("order")));
        assert!(CURSOR_KEY > key("zzz", 0).as_slice());
    }

    #[test]
    fn hits_come_newest_first_and_resume_strictly_after_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("word_index").unwrap();
        let mut postings = Postings::default();
        let message = |at_ms: u64, number: &str, seq: u64, body: &str| {
            search::tests::message(number, seq, at_ms, body)
        };
        for m in [
            message(1_000, "+1", 1, "Where is my order"),
            message(1_500, "+2", 1, "order 12"),
            message(1_500, "+1", 2, "ORDER again"),
            message(9_000, "+3", 1, "no match here"),
            message(9_100, "+3", 2, "new order"),
        ] {
            postings.add(&m);
        }
        let indexer = Indexer {
            tree: tree.clone(),
            messages: db.open_tree("messages").unwrap(),
            log: ChangeLog::open(&db).unwrap(),
            cursor: 0,
        };
        indexer.write(postings, Some(5)).unwrap();
        let all: Vec<Cursor> = hits(&tree, "order", None).map(|h| h.unwrap()).collect();
        assert_eq!(
            all,
            vec![
                at(9_100, "+3", 2),
                at(1_500, "+1", 2),
                at(1_500, "+2", 1),
                at(1_000, "+1", 1)
            ]
        );
        let rest: Vec<Cursor> = hits(&tree, "order", Some(&all[1]))
            .map(|h| h.unwrap())
            .collect();
        assert_eq!(rest, all[2..].to_vec());
        assert_eq!(read_cursor(&tree).unwrap(), Some(5));
        // A prefix: every word it begins, merged, each message once.
        let walked = |term: &str, after: Option<&Cursor>| {
            let mut walk = PrefixWalk::new(&tree, term, after).unwrap();
            std::iter::from_fn(|| walk.next_message().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(
            walked("ord", None),
            vec![
                ("+3".to_string(), 2),
                ("+1".to_string(), 2),
                ("+2".to_string(), 1),
                ("+1".to_string(), 1)
            ]
        );
        assert_eq!(walked("ord", Some(&all[1])).len(), 2);
        // "12" and "here"/"match"/… do not begin with "ord"; nothing begins with "zz".
        assert!(walked("zz", None).is_empty());
        assert_eq!(walked("n", None).len(), 2, "no, new: two messages of +3");
        // Indexing the same message again changes nothing.
        let mut again = Postings::default();
        again.add(&message(1_500, "+2", 1, "order 12"));
        indexer.write(again, None).unwrap();
        assert_eq!(hits(&tree, "order", None).count(), 4);
    }
}
