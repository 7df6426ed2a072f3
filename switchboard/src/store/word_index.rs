//! The sled store's search index, read by prefix: every message found
//! under a word that begins with a search term, newest first.
//!
//! The `words` tree holds one empty-valued key per indexed word of a
//! message ([`super::search::index_terms`]): `word 0x00 newest_first(at,
//! number, seq)` ([`keys::under`]). One word's keys are therefore already
//! newest first, but the words beginning with a term ("refund", "refunds",
//! "refunded" for "refu") are separate runs of keys. [`PrefixWalk`] finds
//! those words (one seek each, jumping over each word's entries), walks
//! each from the cursor, and merges the runs newest first, yielding a
//! message found under several of them once. It reads lazily: a page stops
//! the walk after about as many entries as it shows, whatever the number of
//! matching words.

use super::history::Cursor;
use super::keys;
use super::{Result, StoreError};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use switchboard_protocol::Seq;

/// One word's entries from the cursor on (the `newest_first` part of each
/// key follows the word and its 0x00).
type Run<'a> = Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + 'a>;

/// The index entries of every word beginning with a term, newest first,
/// each message once, strictly after a cursor when given.
pub struct PrefixWalk<'a> {
    /// Per matching word: its run and the length of its key prefix
    /// (`word 0x00`).
    runs: Vec<(Run<'a>, usize)>,
    /// The next entry of each run, smallest (newest) on top:
    /// (`newest_first` key part, run index).
    heads: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
    /// The last entry yielded, to skip the same message under another word.
    last: Option<Vec<u8>>,
}

impl<'a> PrefixWalk<'a> {
    /// Starts a walk of `words` for `term` (as the query parsed it:
    /// lower-case, no 0x00), after `after`.
    pub fn new(words: &'a sled::Tree, term: &str, after: Option<&Cursor>) -> Result<Self> {
        let mut walk = PrefixWalk {
            runs: Vec::new(),
            heads: BinaryHeap::new(),
            last: None,
        };
        for word in words_beginning(words, term)? {
            let prefix = keys::under_prefix(&word);
            let start = match after {
                Some(c) => std::ops::Bound::Excluded(
                    [
                        prefix.clone(),
                        keys::newest_first(c.at_ms, &c.conversation, c.seq),
                    ]
                    .concat(),
                ),
                None => std::ops::Bound::Included(prefix.clone()),
            };
            let len = prefix.len();
            let run: Run<'a> = Box::new(
                words
                    .range::<Vec<u8>, _>((start, std::ops::Bound::Unbounded))
                    .take_while(move |entry| match entry {
                        Ok((key, _)) => key.starts_with(&prefix),
                        Err(_) => true,
                    }),
            );
            walk.runs.push((run, len));
            walk.advance(walk.runs.len() - 1)?;
        }
        Ok(walk)
    }

    /// Reads run `index`'s next entry into the heap (nothing once it ends).
    fn advance(&mut self, index: usize) -> Result<()> {
        let (run, len) = &mut self.runs[index];
        if let Some(entry) = run.next() {
            let (key, _) = entry?;
            self.heads.push(Reverse((key[*len..].to_vec(), index)));
        }
        Ok(())
    }

    /// The next message, newest first: `(number, seq)`.
    pub fn next_message(&mut self) -> Result<Option<(String, Seq)>> {
        while let Some(Reverse((position, index))) = self.heads.pop() {
            self.advance(index)?;
            if self.last.as_ref() == Some(&position) {
                continue;
            }
            let (_, conversation, seq) = keys::parse_newest_first(&position)
                .ok_or_else(|| StoreError::Corrupt("search index key".into()))?;
            self.last = Some(position);
            return Ok(Some((conversation, seq)));
        }
        Ok(None)
    }
}

/// The distinct indexed words beginning with `term`, in key order: one seek
/// per word, each jumping past the word's entries (`word 0x01` is above
/// every `word 0x00 …` key; words never hold control characters).
fn words_beginning(words: &sled::Tree, term: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut from = term.as_bytes().to_vec();
    while let Some(entry) = words.range(from.clone()..).next() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn index(tree: &sled::Tree, word: &str, at_ms: u64, number: &str, seq: Seq) {
        tree.insert(keys::under(word, at_ms, number, seq), &[])
            .expect("insert");
    }

    fn all(walk: &mut PrefixWalk) -> Vec<(String, Seq)> {
        let mut out = Vec::new();
        while let Some(hit) = walk.next_message().expect("walk") {
            out.push(hit);
        }
        out
    }

    #[test]
    fn every_word_with_the_prefix_is_merged_newest_first_each_message_once() {
        let db = sled::Config::new().temporary(true).open().expect("sled");
        let tree = db.open_tree("words").expect("tree");
        index(&tree, "refund", 10, "+1", 1);
        index(&tree, "refunds", 30, "+2", 1);
        index(&tree, "refund", 40, "+1", 2);
        // One message with two matching words.
        index(&tree, "refund", 20, "+3", 1);
        index(&tree, "refunded", 20, "+3", 1);
        // Around the prefix in key order, matching nothing.
        index(&tree, "ref", 50, "+4", 1);
        index(&tree, "refvnd", 60, "+5", 1);
        index(&tree, "reft", 70, "+6", 1);

        let mut walk = PrefixWalk::new(&tree, "refu", None).expect("walk");
        let got = all(&mut walk);
        let want: Vec<(String, Seq)> = vec![
            ("+1".into(), 2),
            ("+2".into(), 1),
            ("+3".into(), 1),
            ("+1".into(), 1),
        ];
        assert_eq!(got, want);

        // From a cursor: strictly after it.
        let after = Cursor {
            at_ms: 30,
            conversation: "+2".into(),
            seq: 1,
        };
        let mut walk = PrefixWalk::new(&tree, "refu", Some(&after)).expect("walk");
        assert_eq!(all(&mut walk), want[2..].to_vec());

        // A whole word is its own prefix; "ref" finds every one of them.
        let mut walk = PrefixWalk::new(&tree, "reft", None).expect("walk");
        assert_eq!(all(&mut walk), vec![("+6".to_string(), 1)]);
        let mut walk = PrefixWalk::new(&tree, "ref", None).expect("walk");
        assert_eq!(all(&mut walk).len(), 7);
        let mut walk = PrefixWalk::new(&tree, "zzz", None).expect("walk");
        assert!(all(&mut walk).is_empty());
    }
}
