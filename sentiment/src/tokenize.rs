//! Splits an SMS into the tokens the rules score, resolving each against the lexicon.
//!
//! What it deals with, in order:
//! - whitespace-separated chunks that are emoticons as a whole (`:)`, `:-(`, `<3`) are
//!   looked up as written, then lower-cased;
//! - otherwise a chunk is split into words (letters, digits, apostrophes, inner hyphens)
//!   and emoji; other punctuation separates words, so "ok,thanks" is two words;
//! - every emoji becomes the words of its description (VADER's approach: 😡 "pouting
//!   face", overridden in `domain.tsv` where the description carries no sentiment);
//!   variation selectors, skin tones and what follows a zero-width joiner are skipped;
//! - curly apostrophes are straightened and letters stretched for emphasis
//!   ("sooo", "pleeease", ":)))") are squeezed back when the stretched form is unknown;
//! - adjacent words forming a term of the lexicon ("fed up", "kind of", "no one") are
//!   joined into one token;
//! - only words the lexicon knows (and unlisted "n't" contractions) are stored, each with
//!   its word position: to VADER's rules an unknown word is only distance, and most
//!   words of an SMS are unknown, so this keeps the rules' loops short.
//!
//! Tokens keep the byte span of what the customer typed, so the words shown to the
//! agent are theirs ("thx", "NEVER", "😡"), not the lexicon's.

use std::ops::Range;

#[cfg(test)]
use super::lexicon::inline_key;
use super::lexicon::{Entry, Lexicon, MAX_PHRASE_WORDS};

/// One unit of the message that can matter to the rules. Words the lexicon does not
/// know are not stored: they only occupy a position, which [`Token::pos`] keeps.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub entry: Option<&'static Entry>,
    /// Word position in the message (phrases count as one word), for the rules' windows.
    pub pos: u32,
    /// ALL CAPS as written (Python's `str.isupper`: some cased letter, none lower-case).
    pub upper: bool,
    /// Negates what follows: a negator, or any contraction with "n't".
    pub negates: bool,
    /// Bytes of the original message this token came from.
    pub span: Range<usize>,
    /// For a word of an emoji's description, that word (its span is the emoji's).
    emoji_word: Option<&'static str>,
}

impl Token {
    #[inline]
    pub(crate) fn in_lexicon(&self) -> bool {
        self.entry.is_some_and(|e| e.in_lexicon)
    }
}

/// Buffers reused across messages so scoring allocates nothing per token.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub tokens: Vec<Token>,
    /// Per-token contribution, filled by the rules.
    pub valences: Vec<f32>,
    /// Lower-case form of the current word when it is not short ASCII.
    word: String,
    /// Candidate lookup keys (squeezed words, phrases).
    key: String,
    facts: TextFacts,
}

impl Scratch {
    /// Claims the next word position.
    #[inline]
    fn next_position(&mut self, upper: bool) -> u32 {
        let pos = self.facts.words;
        self.facts.words += 1;
        self.facts.upper_words += u32::from(upper);
        pos
    }
}

/// What the rules need besides the tokens.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TextFacts {
    pub exclamations: usize,
    pub questions: usize,
    /// Words, emoticons and emoji as written (before phrases are joined).
    pub surface_tokens: usize,
    /// Words before phrases are joined (an emoji counts each description word), for
    /// VADER's capitals test, which looks at the words as written.
    pub words: u32,
    /// How many of those words are ALL CAPS.
    pub upper_words: u32,
}

/// Tokenizes `text` into `scratch.tokens` (cleared first).
///
/// One pass over the bytes: ASCII, which is nearly all SMS text, never decodes a char.
pub(crate) fn tokenize(lex: &'static Lexicon, text: &str, scratch: &mut Scratch) -> TextFacts {
    scratch.tokens.clear();
    scratch.facts = TextFacts::default();
    let bytes = text.as_bytes();
    let exclamations = bytes.iter().filter(|&&b| b == b'!').count();
    let questions = bytes.iter().filter(|&&b| b == b'?').count();
    let mut i = 0;
    let mut chunk_start = 0;
    let mut emoticon_tried = false;
    let mut word: Option<usize> = None;
    // The code point after a zero-width joiner only refines the emoji before it.
    let mut after_joiner = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            after_joiner = false;
            let class = ASCII_CLASS[usize::from(b)];
            if class == WORD {
                word.get_or_insert(i);
                // Run to the end of the ASCII part of the word in one tight loop.
                i += 1;
                while i < bytes.len() && ASCII_CLASS.get(usize::from(bytes[i])) == Some(&WORD) {
                    i += 1;
                }
                continue;
            }
            if class == SPACE {
                if let Some(w) = word.take() {
                    push_word(lex, text, w..i, scratch);
                }
                chunk_start = i + 1;
                emoticon_tried = false;
                i += 1;
                continue;
            }
            // Punctuation in a chunk's first two bytes may start an emoticon (":)",
            // "<3", "D:"); "thanks!!" and "order." never pay for the lookups.
            if !emoticon_tried && i <= chunk_start + 1 {
                emoticon_tried = true;
                let end = bytes[chunk_start..]
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .map_or(bytes.len(), |p| chunk_start + p);
                if push_emoticon(lex, text, chunk_start..end, scratch) {
                    word = None;
                    i = end;
                    continue;
                }
            }
            if let Some(w) = word.take() {
                push_word(lex, text, w..i, scratch);
            }
            i += 1;
            continue;
        }
        // `i` is always on a char boundary; the fallback only keeps this panic-free.
        let c = text
            .get(i..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        let len = c.len_utf8();
        if c.is_alphanumeric() || c == '\u{2019}' {
            after_joiner = false;
            word.get_or_insert(i);
            i += len;
            continue;
        }
        if let Some(w) = word.take() {
            push_word(lex, text, w..i, scratch);
        }
        if c.is_whitespace() {
            chunk_start = i + len;
            emoticon_tried = false;
        } else if std::mem::take(&mut after_joiner) {
            // skipped: part of the preceding emoji
        } else {
            match c {
                '\u{200d}' => after_joiner = true,
                '\u{fe0e}' | '\u{fe0f}' | '\u{1f3fb}'..='\u{1f3ff}' => {}
                _ => {
                    if let Some(description) = lex.emoji(c) {
                        push_emoji(lex, i..i + len, description, scratch);
                    }
                }
            }
        }
        i += len;
    }
    if let Some(w) = word {
        push_word(lex, text, w..bytes.len(), scratch);
    }
    scratch.facts.exclamations = exclamations;
    scratch.facts.questions = questions;
    join_phrases(lex, text, scratch);
    scratch.facts
}

const OTHER: u8 = 0;
const WORD: u8 = 1;
const SPACE: u8 = 2;

/// Class of each ASCII byte: part of a word (letters, digits, `'`, `-`, `_`), whitespace,
/// or other punctuation. A table lookup beats a chain of range tests in the hot loop.
static ASCII_CLASS: [u8; 128] = {
    let mut table = [OTHER; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphanumeric() || c == b'\'' || c == b'-' || c == b'_' {
            WORD
        } else if c.is_ascii_whitespace() {
            SPACE
        } else {
            OTHER
        };
        b += 1;
    }
    table
};

/// A whole chunk that is a lexicon emoticon, tried as written, then lower-cased, then
/// with stretched runs squeezed (":)))").
fn push_emoticon(
    lex: &'static Lexicon,
    text: &str,
    span: Range<usize>,
    scratch: &mut Scratch,
) -> bool {
    let chunk = text.get(span.clone()).unwrap_or_default();
    if chunk.len() > 8 {
        return false;
    }
    scratch.word.clear();
    push_lower(&mut scratch.word, chunk);
    let entry = lex
        .get(chunk)
        .or_else(|| lex.get(&scratch.word))
        .filter(|e| e.in_lexicon)
        .or_else(|| squeezed(lex, &scratch.word, &mut scratch.key));
    let Some(entry) = entry else {
        return false;
    };
    scratch.facts.surface_tokens += 1;
    let upper = is_upper(chunk);
    let pos = scratch.next_position(upper);
    scratch.tokens.push(Token {
        entry: Some(entry),
        pos,
        upper,
        negates: false,
        span,
        emoji_word: None,
    });
    true
}

fn push_word(lex: &'static Lexicon, text: &str, span: Range<usize>, scratch: &mut Scratch) {
    // Quotes and dashes around a word are punctuation, not part of it.
    const EDGES: [char; 3] = ['\'', '\u{2019}', '-'];
    let raw = text.get(span.clone()).unwrap_or_default();
    let edge = |b: &u8| matches!(b, b'\'' | b'-' | 0x80..);
    let word = match (raw.as_bytes().first(), raw.as_bytes().last()) {
        (Some(f), Some(l)) if edge(f) || edge(l) => raw.trim_start_matches(EDGES),
        _ => raw,
    };
    let start = span.start + (raw.len() - word.len());
    let word = if word.as_bytes().last().is_some_and(edge) {
        word.trim_end_matches(EDGES)
    } else {
        word
    };
    if word.is_empty() {
        return;
    }
    scratch.facts.surface_tokens += 1;
    // Short ASCII words (nearly all of them) are lower-cased on the stack.
    let mut buf = [0u8; SHORT_WORD];
    let (lower, upper, key) = match lower_ascii(word, &mut buf) {
        Some(lowered) => lowered,
        None => {
            scratch.word.clear();
            push_lower(&mut scratch.word, word);
            (scratch.word.as_bytes(), is_upper(word), None)
        }
    };
    let found = match key {
        Some(key) => lex.get_inline(key),
        None => lex.get_bytes(lower),
    };
    let entry = match found {
        Some(e) => Some(e),
        None if has_run_of_three(lower) => std::str::from_utf8(lower)
            .ok()
            .and_then(|l| squeezed(lex, l, &mut scratch.key)),
        None => None,
    };
    let negates = entry.is_some_and(|e| e.negator)
        || (lower.contains(&b'\'') && lower.windows(3).any(|w| w == b"n't"));
    let pos = scratch.next_position(upper);
    if entry.is_none() && !negates {
        return;
    }
    scratch.tokens.push(Token {
        entry,
        pos,
        upper,
        negates,
        span: start..start + word.len(),
        emoji_word: None,
    });
}

fn push_emoji(
    lex: &'static Lexicon,
    span: Range<usize>,
    description: &'static str,
    scratch: &mut Scratch,
) {
    scratch.facts.surface_tokens += 1;
    for word in description.split(' ').filter(|w| !w.is_empty()) {
        let entry = lex.get(word);
        let pos = scratch.next_position(false);
        if entry.is_none() {
            continue;
        }
        scratch.tokens.push(Token {
            entry,
            pos,
            upper: false,
            negates: entry.is_some_and(|e| e.negator),
            span: span.clone(),
            emoji_word: Some(word),
        });
    }
}

/// Longest word lower-cased on the stack; longer ones (and non-ASCII) use a buffer.
const SHORT_WORD: usize = 32;

/// Lower-cases a short ASCII word into `buf`, also telling whether it was ALL CAPS and,
/// when short enough, its lexicon [`inline_key`] computed on the way.
#[inline]
fn lower_ascii<'b>(
    word: &str,
    buf: &'b mut [u8; SHORT_WORD],
) -> Option<(&'b [u8], bool, Option<u128>)> {
    let bytes = word.as_bytes();
    if bytes.len() > SHORT_WORD {
        return None;
    }
    let (mut has_upper, mut has_lower) = (false, false);
    // The key's two halves, in u64s: variable u128 shifts compile to several instructions.
    let (mut lo, mut hi) = (0u64, (bytes.len() as u64) << 56);
    for (i, (dst, &b)) in buf.iter_mut().zip(bytes).enumerate() {
        if !b.is_ascii() {
            return None;
        }
        has_upper |= b.is_ascii_uppercase();
        has_lower |= b.is_ascii_lowercase();
        let lower = b.to_ascii_lowercase();
        *dst = lower;
        let shift = (8 * (i % 8)) as u32;
        if i < 8 {
            lo |= u64::from(lower) << shift;
        } else if i < 15 {
            hi |= u64::from(lower) << shift;
        }
    }
    let key = (bytes.len() <= 15).then_some(u128::from(lo) | (u128::from(hi) << 64));
    Some((&buf[..bytes.len()], has_upper && !has_lower, key))
}

/// Appends the lower-case form, straightening curly apostrophes.
#[inline]
fn push_lower(out: &mut String, word: &str) {
    if word.is_ascii() {
        let start = out.len();
        out.push_str(word);
        out[start..].make_ascii_lowercase();
    } else {
        for c in word.chars() {
            if c == '\u{2019}' {
                out.push('\'');
            } else {
                out.extend(c.to_lowercase());
            }
        }
    }
}

/// Python's `str.isupper`: at least one cased character and no lower-case one.
fn is_upper(word: &str) -> bool {
    if word.is_ascii() {
        let b = word.as_bytes();
        return b.iter().any(u8::is_ascii_uppercase) && !b.iter().any(u8::is_ascii_lowercase);
    }
    let mut cased = false;
    for c in word.chars() {
        if c.is_lowercase() {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// For an unknown word stretched for emphasis (a run of three or more of one letter),
/// tries runs squeezed to two ("goood" → "good"), then to one ("sooo" → "so").
fn squeezed(lex: &'static Lexicon, word: &str, key: &mut String) -> Option<&'static Entry> {
    if !has_run_of_three(word.as_bytes()) {
        return None;
    }
    for keep in [2, 1] {
        key.clear();
        let mut prev = None;
        let mut run = 0;
        for c in word.chars() {
            run = if Some(c) == prev { run + 1 } else { 1 };
            prev = Some(c);
            if run <= keep {
                key.push(c);
            }
        }
        if let Some(e) = lex.get(key) {
            return Some(e);
        }
    }
    None
}

fn has_run_of_three(word: &[u8]) -> bool {
    word.windows(3).any(|w| w[0] == w[1] && w[1] == w[2])
}

/// Joins runs of adjacent tokens that form a multi-word term ("fed up", "no one") into
/// one, and renumbers positions so a phrase occupies a single word.
fn join_phrases(lex: &'static Lexicon, text: &str, scratch: &mut Scratch) {
    let Scratch { tokens, key, .. } = scratch;
    let mut read = 0;
    let mut write = 0;
    let mut shift = 0;
    while read < tokens.len() {
        let adjacent = |k: usize| {
            tokens
                .get(read + k)
                .is_some_and(|t| t.pos == tokens[read].pos + k as u32)
        };
        let max = tokens[read]
            .entry
            .map_or(1, |e| usize::from(e.phrase_words))
            .min(MAX_PHRASE_WORDS);
        let continues =
            max >= 2 && adjacent(1) && tokens[read + 1].entry.is_some_and(|e| e.phrase_tail);
        let mut joined = None;
        for n in (2..=if continues { max } else { 1 }).rev() {
            if !(1..n).all(adjacent) {
                continue;
            }
            key.clear();
            for (k, t) in tokens[read..read + n].iter().enumerate() {
                if k > 0 {
                    key.push(' ');
                }
                match t.emoji_word {
                    Some(word) => key.push_str(word),
                    None => push_lower(key, text.get(t.span.clone()).unwrap_or_default()),
                }
            }
            if let Some(entry) = lex.get(key) {
                joined = Some((n, entry));
                break;
            }
        }
        match joined {
            Some((n, entry)) => {
                let parts = &tokens[read..read + n];
                // "NEVER again": capitals on any word of a phrase emphasise it.
                let upper = parts.iter().any(|t| t.upper);
                let token = Token {
                    entry: Some(entry),
                    pos: parts[0].pos - shift,
                    upper,
                    negates: entry.negator,
                    span: parts[0].span.start..parts[n - 1].span.end,
                    emoji_word: None,
                };
                tokens[write] = token;
                shift += n as u32 - 1;
                read += n;
            }
            None => {
                if write != read {
                    tokens.swap(write, read);
                }
                tokens[write].pos -= shift;
                read += 1;
            }
        }
        write += 1;
    }
    tokens.truncate(write);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::LEXICON;

    /// The stored (lexicon-relevant) tokens, as typed.
    fn words(text: &str) -> Vec<String> {
        let mut scratch = Scratch::default();
        tokenize(&LEXICON, text, &mut scratch);
        scratch
            .tokens
            .iter()
            .map(|t| text[t.span.clone()].to_owned())
            .collect()
    }

    #[test]
    fn splits_punctuation_but_keeps_contractions_and_emoticons() {
        assert_eq!(
            words("ok,thanks!! don't :) (really) parcel"),
            ["ok", "thanks", "don't", ":)", "really"]
        );
        let mut scratch = Scratch::default();
        let facts = tokenize(
            &LEXICON,
            "ok,thanks!! don't :) (really) parcel",
            &mut scratch,
        );
        assert_eq!(
            (facts.words, facts.surface_tokens, facts.exclamations),
            (6, 6, 2)
        );
    }

    #[test]
    fn emoji_expand_to_their_description_but_show_as_typed() {
        // 🙏 reads as "grateful"; 👍🏽 drops the skin tone.
        assert_eq!(words("thx🙏 👍🏽"), ["thx", "🙏", "👍"]);
    }

    #[test]
    fn joins_phrases() {
        assert_eq!(words("I'm fed up"), ["fed up"]);
        assert_eq!(words("kind of slow"), ["kind of", "slow"]);
        // Words between break a phrase; positions close up after a join.
        assert_eq!(words("fed really up"), ["fed", "really", "up"]);
        let mut scratch = Scratch::default();
        let facts = tokenize(&LEXICON, "so fed up now good", &mut scratch);
        let pos: Vec<u32> = scratch.tokens.iter().map(|t| t.pos).collect();
        assert_eq!((pos, facts.words), (vec![0, 1, 3], 5));
    }

    #[test]
    fn stack_lowering_builds_the_lexicon_key() {
        let mut buf = [0u8; SHORT_WORD];
        let (lower, upper, key) = lower_ascii("NEVER", &mut buf).expect("short ASCII");
        assert_eq!((lower, upper), (&b"never"[..], true));
        assert_eq!(key, inline_key(b"never"));
        let long = "Incomprehensibilities";
        let (_, upper, key) = lower_ascii(long, &mut buf).expect("fits the buffer");
        assert_eq!((upper, key), (false, None));
        assert!(lower_ascii("café", &mut buf).is_none());
    }

    #[test]
    fn squeezes_stretched_words() {
        let mut scratch = Scratch::default();
        tokenize(&LEXICON, "sooo goood", &mut scratch);
        assert_eq!(scratch.tokens[0].entry, LEXICON.get("so"));
        assert_eq!(scratch.tokens[1].entry, LEXICON.get("good"));
    }

    #[test]
    fn caps_and_negation_flags() {
        let mut scratch = Scratch::default();
        tokenize(&LEXICON, "NEVER doesn’t Ok", &mut scratch);
        let flags: Vec<(bool, bool)> = scratch
            .tokens
            .iter()
            .map(|t| (t.upper, t.negates))
            .collect();
        assert_eq!(flags, [(true, true), (false, true), (false, false)]);
    }
}
