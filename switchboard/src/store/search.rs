//! What a search query means, as pure functions every backend shares: how
//! a message's body is cut into words, which words a query term matches
//! ([`term_matches`]: a word beginning with the term, or for digits a
//! number containing them), what the sled index stores so it can find
//! those by a prefix scan ([`index_terms`]), which messages a query
//! matches, and the newest-first order of hits.

use super::history::Cursor;
use std::collections::{BTreeSet, HashMap};
use switchboard_protocol::Message;

/// Words shorter than this are not indexed nor searched for ("a", "I").
const MIN_WORD_CHARS: usize = 2;
/// Longer words are cut to this many characters (an index key stays short).
const MAX_WORD_CHARS: usize = 32;
/// A query's digits must be at least this many to search numbers.
const MIN_NUMBER_DIGITS: usize = 3;

/// A parsed search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Every one of these terms must match a word of the body (any case;
    /// see [`term_matches`]).
    pub words: Vec<String>,
    /// Customers whose number contains these digits (their newest message).
    pub digits: Option<String>,
}

impl Query {
    /// Parses what an agent typed: `+1 555…` searches numbers only; digits
    /// alone (`5550100`) search numbers and bodies; anything else searches
    /// bodies. `None` when nothing searchable is left.
    pub fn parse(text: &str) -> Option<Query> {
        let text = text.trim();
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let number_like = text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-(). ".contains(c));
        let digits = (number_like && digits.len() >= MIN_NUMBER_DIGITS).then_some(digits);
        let words = if text.starts_with('+') && digits.is_some() {
            Vec::new()
        } else {
            words(text)
        };
        (!words.is_empty() || digits.is_some()).then_some(Query { words, digits })
    }

    /// Whether `message` is a hit for the words: every term of the query
    /// matches some word of the body ([`term_matches`]). The number part is
    /// decided per customer, by [`Query::number_matches`]. The one rule
    /// every store applies (sled checks each index candidate with it).
    pub fn words_match(&self, message: &Message) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let body = words(&message.body);
        self.words
            .iter()
            .all(|term| body.iter().any(|word| term_matches(term, word)))
    }

    /// Whether a customer's number matches the digits of the query.
    pub fn number_matches(&self, conversation: &str) -> bool {
        match &self.digits {
            Some(digits) => conversation
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .contains(digits.as_str()),
            None => false,
        }
    }

    /// The term whose index entries to walk (every word it matches): the
    /// longest (likely the rarest; the first of equals).
    pub fn rarest_word(&self) -> Option<&str> {
        self.words
            .iter()
            .min_by_key(|w| std::cmp::Reverse(w.chars().count()))
            .map(String::as_str)
    }
}

/// Whether the query term `term` matches the body word `word` (both as
/// [`words`] gives them: lower-case, cut at 32): the word begins with the
/// term ("refu" finds "refund"), or — a term of at least three digits — the
/// word is a number containing those digits ("0100" finds "5550100", a
/// number's end or middle).
pub fn term_matches(term: &str, word: &str) -> bool {
    word.starts_with(term)
        || (term.chars().count() >= MIN_NUMBER_DIGITS
            && all_digits(term)
            && all_digits(word)
            && word.contains(term))
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

/// What the sled index stores for a body, so that a prefix scan finds every
/// word [`term_matches`] allows: its [`words`], and each number's endings of
/// at least three digits (the digits in its middle are then the start of
/// one of them).
pub fn index_terms(text: &str) -> Vec<String> {
    let mut terms = words(text);
    let mut seen: BTreeSet<String> = terms.iter().cloned().collect();
    for word in terms.clone() {
        if !all_digits(&word) {
            continue;
        }
        // Digits are one byte each: every byte offset is a character.
        for start in 1..=word.len().saturating_sub(MIN_NUMBER_DIGITS) {
            let ending = word[start..].to_string();
            if seen.insert(ending.clone()) {
                terms.push(ending);
            }
        }
    }
    terms
}

/// The distinct words of `text`, lowercased, in order of first appearance:
/// runs of letters and digits of at least two characters, cut at 32.
pub fn words(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for raw in text.split(|c: char| !c.is_alphanumeric()) {
        if raw.chars().count() < MIN_WORD_CHARS {
            continue;
        }
        let word: String = raw.to_lowercase().chars().take(MAX_WORD_CHARS).collect();
        if seen.insert(word.clone()) {
            out.push(word);
        }
    }
    out
}

/// The hits of `query` among `messages` (any order), newest first, after
/// `after`, at most `limit`: for backends that read every message (the
/// in-memory store, DynamoDB), and to merge partial results.
pub fn search_messages(
    messages: impl IntoIterator<Item = Message>,
    query: &Query,
    after: Option<&Cursor>,
    limit: usize,
) -> Vec<Message> {
    let mut newest_by_number: HashMap<String, Message> = HashMap::new();
    let mut hits = Vec::new();
    for message in messages {
        if query.number_matches(&message.conversation) {
            let newest = newest_by_number
                .entry(message.conversation.clone())
                .or_insert_with(|| message.clone());
            if message.seq > newest.seq {
                *newest = message.clone();
            }
        }
        if query.words_match(&message) {
            hits.push(message);
        }
    }
    hits.extend(newest_by_number.into_values());
    newest_first(hits, after, limit)
}

/// Sorts hits newest first, drops repeats and those up to `after`, keeps
/// `limit`.
pub fn newest_first(mut hits: Vec<Message>, after: Option<&Cursor>, limit: usize) -> Vec<Message> {
    hits.sort_by(|a, b| {
        Cursor::of_message(a)
            .key()
            .cmp(&Cursor::of_message(b).key())
    });
    hits.dedup_by(|b, a| a.conversation == b.conversation && a.seq == b.seq);
    hits.into_iter()
        .filter(|m| match after {
            Some(after) => Cursor::of_message(m).key() > after.key(),
            None => true,
        })
        .take(limit)
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use switchboard_protocol::Direction;

    /// An inbound message with `body` (also used by `word_index.rs`'s tests).
    pub(in crate::store) fn message(
        conversation: &str,
        seq: u64,
        at_ms: u64,
        body: &str,
    ) -> Message {
        Message {
            conversation: conversation.into(),
            seq,
            direction: Direction::Inbound,
            body: body.into(),
            at_ms,
            media: Vec::new(),
            agent: None,
            client_id: None,
            status: None,
            error: None,
            sid: None,
            event: None,
        }
    }

    #[test]
    fn words_are_lowercased_distinct_and_at_least_two_characters() {
        assert_eq!(
            words("Where is my ORDER?? 2 weeks, order #4411 — déjà vu I"),
            vec!["where", "is", "my", "order", "weeks", "4411", "déjà", "vu"]
        );
    }

    #[test]
    fn queries_tell_numbers_from_words() {
        let number = Query::parse(" +1 (555) 0100 ").unwrap();
        assert_eq!(number.digits.as_deref(), Some("15550100"));
        assert!(number.words.is_empty());
        let digits = Query::parse("4411").unwrap();
        assert_eq!(digits.digits.as_deref(), Some("4411"));
        assert_eq!(digits.words, vec!["4411"]);
        let text = Query::parse("Refund  please").unwrap();
        assert_eq!(text.digits, None);
        assert_eq!(text.words, vec!["refund", "please"]);
        assert_eq!(text.rarest_word(), Some("refund"));
        assert_eq!(Query::parse("  ? "), None);
        assert_eq!(Query::parse("a"), None);
    }

    #[test]
    fn every_term_must_begin_a_word_of_the_body() {
        let query = Query::parse("money back").unwrap();
        assert!(query.words_match(&message("+1", 1, 1, "I want my MONEY back!")));
        assert!(!query.words_match(&message("+1", 1, 1, "I want my money")));
        // "back" begins no word here: "moneyback" is one word.
        assert!(!query.words_match(&message("+1", 1, 1, "moneyback")));
        // Prefixes, any case: "refu" finds "refund", "Refunds", "REFUNDED".
        let refu = Query::parse("Refu").unwrap();
        for body in ["refund please", "Refunds?", "it was REFUNDED"] {
            assert!(refu.words_match(&message("+1", 1, 1, body)), "{body}");
        }
        // Not the middle or the end of a word.
        assert!(!refu.words_match(&message("+1", 1, 1, "no prefund")));
        let both = Query::parse("ref ord").unwrap();
        assert!(both.words_match(&message("+1", 1, 1, "refund my order")));
        assert!(!both.words_match(&message("+1", 1, 1, "refund my parcel")));
    }

    #[test]
    fn terms_match_word_beginnings_and_digits_anywhere_in_a_number() {
        assert!(term_matches("refu", "refund"));
        assert!(term_matches("refund", "refund"));
        assert!(!term_matches("refunds", "refund"));
        assert!(!term_matches("fund", "refund"));
        // Three or more digits: anywhere in a number.
        assert!(term_matches("0100", "5550100"));
        assert!(term_matches("550", "5550100"));
        assert!(term_matches("555", "5550100"));
        // Fewer digits, or a word that is not all digits: the start only.
        assert!(!term_matches("01", "5550100"));
        assert!(term_matches("55", "5550100"));
        assert!(!term_matches("100", "a5550100"));
        assert!(!term_matches("4411", "order"));
    }

    #[test]
    fn the_index_holds_the_words_and_each_numbers_endings() {
        assert_eq!(
            index_terms("Order 4411 for +1 555-0100, order"),
            vec!["order", "4411", "for", "555", "0100", "411", "100"]
        );
        assert_eq!(index_terms("refund"), vec!["refund"]);
        // Every digit term a body word matches begins one of its entries:
        // what lets a prefix scan of the index find them.
        let entries = index_terms("call 5550100");
        for term in ["5550100", "550", "0100", "100", "501"] {
            assert!(term_matches(term, "5550100"), "{term}");
            assert!(entries.iter().any(|e| e.starts_with(term)), "{term}");
        }
    }

    #[test]
    fn a_number_query_gives_each_customers_newest_message_newest_first() {
        let all = vec![
            message("+15550100001", 1, 10, "hi"),
            message("+15550100001", 2, 40, "there"),
            message("+15550100002", 1, 30, "hello"),
            message("+15559999999", 1, 50, "other"),
        ];
        let query = Query::parse("+1 555 0100").unwrap();
        let hits = search_messages(all.clone(), &query, None, 10);
        let got: Vec<_> = hits
            .iter()
            .map(|m| (m.conversation.as_str(), m.seq))
            .collect();
        assert_eq!(got, vec![("+15550100001", 2), ("+15550100002", 1)]);
        let after = Cursor::of_message(&hits[0]);
        let rest = search_messages(all, &query, Some(&after), 10);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].conversation, "+15550100002");
    }
}
