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
//!   joined into one token.
//!
//! Tokens keep the byte span of what the customer typed, so the words shown to the
//! agent are theirs ("thx", "NEVER", "😡"), not the lexicon's.

use std::ops::Range;

use super::lexicon::{Entry, Lexicon, MAX_PHRASE_WORDS};
#[cfg(test)]
use super::lexicon::inline_key;

/// One scored unit of the message.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub entry: Option<&'static Entry>,
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
}

/// What the rules need besides the tokens.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TextFacts {
    pub exclamations: usize,
    pub questions: usize,
}

/// Tokenizes `text` into `scratch.tokens` (cleared first).
///
/// One pass over the bytes: ASCII, which is nearly all SMS text, never decodes a char.
pub(crate) fn tokenize(lex: &'static Lexicon, text: &str, scratch: &mut Scratch) -> TextFacts {
    scratch.tokens.clear();
    let bytes = text.as_bytes();
    let facts = TextFacts {
        exclamations: bytes.iter().filter(|&&b| b == b'!').count(),
        questions: bytes.iter().filter(|&&b| b == b'?').count(),
    };
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
                i += 1;
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
        let c = text[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
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
    join_phrases(lex, text, scratch);
    facts
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
    let chunk = &text[span.clone()];
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
    scratch.tokens.push(Token {
        entry: Some(entry),
        upper: is_upper(chunk),
        negates: false,
        span,
        emoji_word: None,
    });
    true
}

fn push_word(lex: &'static Lexicon, text: &str, span: Range<usize>, scratch: &mut Scratch) {
    // Quotes and dashes around a word are punctuation, not part of it.
    const EDGES: [char; 3] = ['\'', '\u{2019}', '-'];
    let raw = &text[span.clone()];
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
    scratch.tokens.push(Token {
        entry,
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
    for word in description.split(' ').filter(|w| !w.is_empty()) {
        let entry = lex.get(word);
        scratch.tokens.push(Token {
            entry,
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
    let mut key = (bytes.len() as u128) << 120;
    for (i, (dst, &b)) in buf.iter_mut().zip(bytes).enumerate() {
        if !b.is_ascii() {
            return None;
        }
        has_upper |= b.is_ascii_uppercase();
        has_lower |= b.is_ascii_lowercase();
        let lower = b.to_ascii_lowercase();
        *dst = lower;
        if i < 15 {
            key |= u128::from(lower) << (8 * i);
        }
    }
    let key = (bytes.len() <= 15).then_some(key);
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

/// Joins runs of tokens that form a multi-word term ("fed up", "no one") into one.
fn join_phrases(lex: &'static Lexicon, text: &str, scratch: &mut Scratch) {
    let Scratch { tokens, key, .. } = scratch;
    let mut read = 0;
    let mut write = 0;
    while read < tokens.len() {
        let max = tokens[read]
            .entry
            .map_or(1, |e| usize::from(e.phrase_words))
            .min(MAX_PHRASE_WORDS)
            .min(tokens.len() - read);
        let continues = max >= 2 && tokens[read + 1].entry.is_some_and(|e| e.phrase_tail);
        let mut joined = None;
        for n in (2..=if continues { max } else { 1 }).rev() {
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
                let first = &tokens[read];
                let last = &tokens[read + n - 1];
                let token = Token {
                    entry: Some(entry),
                    upper: tokens[read..read + n].iter().all(|t| t.upper),
                    negates: entry.negator,
                    span: first.span.start..last.span.end,
                    emoji_word: None,
                };
                tokens[write] = token;
                read += n;
            }
            None => {
                if write != read {
                    tokens.swap(write, read);
                }
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
    use crate::sentiment::lexicon::LEXICON;

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
            words("ok,thanks!! don't :) (really)"),
            ["ok", "thanks", "don't", ":)", "really"]
        );
    }

    #[test]
    fn emoji_expand_to_their_description_but_show_as_typed() {
        // 🙏 reads as "grateful"; 👍🏽 drops the skin tone.
        assert_eq!(words("thx🙏 👍🏽"), ["thx", "🙏", "👍"]);
    }

    #[test]
    fn joins_phrases() {
        assert_eq!(words("I'm fed up"), ["I'm", "fed up"]);
        assert_eq!(words("kind of slow"), ["kind of", "slow"]);
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
        let flags: Vec<(bool, bool)> = scratch.tokens.iter().map(|t| (t.upper, t.negates)).collect();
        assert_eq!(flags, [(true, true), (false, true), (false, false)]);
    }
}
