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
    /// Lower-case form, as a range of [`Scratch::lower`].
    lower: Range<usize>,
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
    lower: String,
    key: String,
}

/// What the rules need besides the tokens.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TextFacts {
    pub exclamations: usize,
    pub questions: usize,
}

/// Tokenizes `text` into `scratch.tokens` (cleared first).
pub(crate) fn tokenize(lex: &'static Lexicon, text: &str, scratch: &mut Scratch) -> TextFacts {
    scratch.tokens.clear();
    scratch.lower.clear();
    let mut facts = TextFacts::default();
    for b in text.bytes() {
        match b {
            b'!' => facts.exclamations += 1,
            b'?' => facts.questions += 1,
            _ => {}
        }
    }
    for (start, chunk) in chunks(text) {
        if !try_emoticon(lex, start, chunk, scratch) {
            split_chunk(lex, start, chunk, scratch);
        }
    }
    join_phrases(lex, scratch);
    facts
}

/// Whitespace-separated chunks with their byte offsets.
fn chunks(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(char::is_whitespace)
        .filter(|c| !c.is_empty())
        .map(move |c| (c.as_ptr() as usize - text.as_ptr() as usize, c))
}

/// A chunk made of punctuation (maybe with letters, ":D", "xD") that is a lexicon
/// emoticon. Plain words go through [`split_chunk`].
fn try_emoticon(
    lex: &'static Lexicon,
    start: usize,
    chunk: &str,
    scratch: &mut Scratch,
) -> bool {
    if chunk.len() > 8 || chunk.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'\'') {
        return false;
    }
    let lower_start = scratch.lower.len();
    let entry = lex.get(chunk).or_else(|| {
        push_lower(&mut scratch.lower, chunk);
        lex.get(&scratch.lower[lower_start..])
    });
    let entry = match entry {
        Some(e) if e.in_lexicon => Some(e),
        _ => squeezed(lex, &scratch.lower[lower_start..], &mut scratch.key),
    };
    scratch.lower.truncate(lower_start);
    let Some(entry) = entry else { return false };
    scratch.lower.push_str(chunk);
    scratch.tokens.push(Token {
        entry: Some(entry),
        upper: is_upper(chunk),
        negates: false,
        span: start..start + chunk.len(),
        lower: lower_start..scratch.lower.len(),
    });
    true
}

fn split_chunk(lex: &'static Lexicon, start: usize, chunk: &str, scratch: &mut Scratch) {
    let mut word_start: Option<usize> = None;
    let mut skip_next = false;
    for (i, c) in chunk.char_indices() {
        if is_word_char(c) {
            if word_start.is_none() {
                word_start = Some(i);
            }
            continue;
        }
        if let Some(ws) = word_start.take() {
            push_word(lex, &chunk[ws..i], start + ws, scratch);
        }
        if skip_next {
            // The code point after a zero-width joiner only refines the emoji before it.
            skip_next = false;
            continue;
        }
        match c {
            '\u{200d}' => skip_next = true,
            '\u{fe0e}' | '\u{fe0f}' | '\u{1f3fb}'..='\u{1f3ff}' => {}
            _ if !c.is_ascii() => {
                if let Some(description) = lex.emoji(c) {
                    push_emoji(lex, start + i..start + i + c.len_utf8(), description, scratch);
                }
            }
            _ => {}
        }
    }
    if let Some(ws) = word_start {
        push_word(lex, &chunk[ws..], start + ws, scratch);
    }
}

#[inline]
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '\'' | '\u{2019}' | '-' | '_')
}

fn push_word(lex: &'static Lexicon, word: &str, at: usize, scratch: &mut Scratch) {
    // Quotes and dashes around a word are punctuation, not part of it.
    let trimmed = word.trim_start_matches(['\'', '\u{2019}', '-']);
    let offset = word.len() - trimmed.len();
    let trimmed = trimmed.trim_end_matches(['\'', '\u{2019}', '-']);
    if trimmed.is_empty() {
        return;
    }
    let span = at + offset..at + offset + trimmed.len();
    let lower_start = scratch.lower.len();
    push_lower(&mut scratch.lower, trimmed);
    let lower = &scratch.lower[lower_start..];
    let entry = lex
        .get(lower)
        .or_else(|| squeezed(lex, lower, &mut scratch.key));
    let negates = entry.is_some_and(|e| e.negator) || lower.contains("n't");
    scratch.tokens.push(Token {
        entry,
        upper: is_upper(trimmed),
        negates,
        span,
        lower: lower_start..scratch.lower.len(),
    });
}

fn push_emoji(lex: &'static Lexicon, span: Range<usize>, description: &str, scratch: &mut Scratch) {
    for word in description.split(' ').filter(|w| !w.is_empty()) {
        let lower_start = scratch.lower.len();
        scratch.lower.push_str(word);
        let entry = lex.get(word);
        scratch.tokens.push(Token {
            entry,
            upper: false,
            negates: entry.is_some_and(|e| e.negator),
            span: span.clone(),
            lower: lower_start..scratch.lower.len(),
        });
    }
}

/// Appends the lower-case form, straightening curly apostrophes.
#[inline]
fn push_lower(out: &mut String, word: &str) {
    if word.is_ascii() {
        out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
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
    if !has_run_of_three(word) {
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

fn has_run_of_three(word: &str) -> bool {
    let b = word.as_bytes();
    b.windows(3).any(|w| w[0] == w[1] && w[1] == w[2])
}

/// Joins runs of tokens that form a multi-word term ("fed up", "no one") into one.
fn join_phrases(lex: &'static Lexicon, scratch: &mut Scratch) {
    let Scratch {
        tokens, lower, key, ..
    } = scratch;
    let mut read = 0;
    let mut write = 0;
    while read < tokens.len() {
        let max = tokens[read]
            .entry
            .map_or(1, |e| usize::from(e.phrase_words))
            .min(MAX_PHRASE_WORDS)
            .min(tokens.len() - read);
        let mut joined = None;
        for n in (2..=max).rev() {
            key.clear();
            for (k, t) in tokens[read..read + n].iter().enumerate() {
                if k > 0 {
                    key.push(' ');
                }
                key.push_str(&lower[t.lower.clone()]);
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
                    lower: first.lower.start..last.lower.end,
                };
                tokens[write] = token;
                read += n;
            }
            None => {
                tokens.swap(write, read);
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
