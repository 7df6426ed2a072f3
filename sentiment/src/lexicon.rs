//! The word table the scorer looks every token up in, built once from the bundled data.
//!
//! Four files under `sentiment/data/` (see its README for origin and licence) are compiled
//! in with `include_str!` and merged, in this order, into one hash map from a lower-case
//! term (one to three words) to an [`Entry`]:
//!
//! 1. `vader_lexicon.txt` — VADER's crowd-rated valences;
//! 2. `vader_modifiers.tsv` — VADER's negators, degree adverbs and idioms;
//! 3. `domain.tsv` — this project's customer-service layer;
//! 4. `emoji_utf8_lexicon.txt` — emoji → description words (a separate table).
//!
//! Merging everything into one entry per term means the hot path does a single hash
//! lookup per token and finds every property the rules need there.

use std::collections::hash_map::Entry as MapEntry;
use std::sync::LazyLock;

use rustc_hash::FxHashMap;

/// VADER's valences, unmodified.
const VADER_LEXICON: &str = include_str!("../data/vader_lexicon.txt");
/// VADER's emoji descriptions, unmodified.
const VADER_EMOJI: &str = include_str!("../data/emoji_utf8_lexicon.txt");
/// VADER's negator / booster / idiom constants, transcribed as data.
const VADER_MODIFIERS: &str = include_str!("../data/vader_modifiers.tsv");
/// Switchboard's customer-service additions.
const DOMAIN: &str = include_str!("../data/domain.tsv");

/// Longest multi-word term the tokenizer tries to join (data is checked against it).
pub(crate) const MAX_PHRASE_WORDS: usize = 3;

/// Function words the rules recognise by identity rather than by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Role {
    #[default]
    None,
    /// "no": a determiner that negates what follows, or a bare answer.
    No,
    /// "never": negates, except in "never so/this …" which intensifies.
    Never,
    /// "so" / "this" after "never".
    SoThis,
    /// "without" in "without doubt" (not a negation).
    Without,
    Doubt,
    /// "least" negates unless it is "at least" / "very least".
    Least,
    AtVery,
    /// "or" / "nor" extend a preceding "no" ("no fees or charges").
    OrNor,
    /// Contrastive "but": the clause after it dominates.
    But,
}

/// Everything the rules need to know about one term.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Entry {
    /// Valence on VADER's −4…+4 scale (0 for pure modifiers and neutralised words).
    pub valence: f32,
    /// VADER's "is a lexicon word" test: modifiers are only looked for across words
    /// that are not themselves sentiment words.
    pub in_lexicon: bool,
    /// Degree-adverb increment (VADER's ±0.293), 0 when not a booster/dampener.
    pub booster: f32,
    /// Negates a following sentiment word.
    pub negator: bool,
    /// Valence this word takes when negated ("doesn't work"); it scores 0 otherwise.
    pub event: Option<f32>,
    pub role: Role,
    /// Longest term (in words) that starts with this word; 1 when none does.
    pub phrase_words: u8,
    /// Appears after the first word of some multi-word term, so a phrase is worth trying.
    pub phrase_tail: bool,
}

/// Reasons the bundled data can fail to load; each names the offending line.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LexiconError {
    #[error("{file}:{line}: expected at least {expected} tab-separated fields")]
    MissingField {
        file: &'static str,
        line: usize,
        expected: usize,
    },
    #[error("{file}:{line}: {value:?} is not a number")]
    BadNumber {
        file: &'static str,
        line: usize,
        value: String,
    },
    #[error("{file}:{line}: {target:?} is not a known term to borrow from")]
    UnknownTarget {
        file: &'static str,
        line: usize,
        target: String,
    },
    #[error("{file}:{line}: unknown record kind {kind:?}")]
    UnknownKind {
        file: &'static str,
        line: usize,
        kind: String,
    },
    #[error("{file}:{line}: terms have 1 to {MAX_PHRASE_WORDS} words")]
    TooManyWords { file: &'static str, line: usize },
}

/// Terms up to this many bytes are stored inline as a `u128` key (bytes plus length),
/// which makes a probe one integer compare instead of a pointer chase and a `memcmp`.
const INLINE_KEY: usize = 15;

/// The merged table.
#[derive(Debug)]
pub(crate) struct Lexicon {
    short: FxHashMap<u128, Entry>,
    long: FxHashMap<Box<[u8]>, Entry>,
    emoji: FxHashMap<char, Box<str>>,
    /// Multi-word terms, for indexing phrase starts once everything is loaded.
    phrases: Vec<Box<str>>,
    /// Longest key in bytes: longer tokens cannot match, so they skip the hash.
    max_key_len: usize,
}

/// The inline key of a short term: its bytes, zero-padded, with the length in the top
/// byte. Built in registers: going through a byte buffer stalls store-to-load forwarding.
#[inline]
pub(crate) fn inline_key(term: &[u8]) -> Option<u128> {
    if term.len() > INLINE_KEY {
        return None;
    }
    let mut key = (term.len() as u128) << 120;
    for (i, &b) in term.iter().enumerate() {
        key |= u128::from(b) << (8 * i);
    }
    Some(key)
}

/// Built on first use; the data is compiled in and validated by the unit tests, so a
/// failure here is a build defect, not bad input.
pub(crate) static LEXICON: LazyLock<Lexicon> =
    LazyLock::new(|| Lexicon::bundled().expect("bundled sentiment data is well-formed"));

impl Lexicon {
    /// Parses the bundled files.
    pub(crate) fn bundled() -> Result<Self, LexiconError> {
        let mut lexicon = Self::empty();
        lexicon.load_vader("vader_lexicon.txt", VADER_LEXICON)?;
        lexicon.load_records("vader_modifiers.tsv", VADER_MODIFIERS)?;
        lexicon.load_records("domain.tsv", DOMAIN)?;
        lexicon.load_emoji_descriptions("emoji_utf8_lexicon.txt", VADER_EMOJI)?;
        // Aliases and emoji overrides from domain.tsv were deferred until all targets exist.
        lexicon.load_deferred("domain.tsv", DOMAIN)?;
        lexicon.assign_roles();
        lexicon.index_phrases();
        Ok(lexicon)
    }

    fn empty() -> Self {
        Self {
            short: FxHashMap::default(),
            long: FxHashMap::default(),
            emoji: FxHashMap::default(),
            phrases: Vec::new(),
            max_key_len: 0,
        }
    }

    /// Looks up a lower-case term.
    #[inline]
    pub(crate) fn get(&self, term: &str) -> Option<&Entry> {
        self.get_bytes(term.as_bytes())
    }

    /// Looks up a short term by its [`inline_key`].
    #[inline]
    pub(crate) fn get_inline(&self, key: u128) -> Option<&Entry> {
        self.short.get(&key)
    }

    /// Looks up a lower-case term given as UTF-8 bytes.
    #[inline]
    pub(crate) fn get_bytes(&self, term: &[u8]) -> Option<&Entry> {
        match inline_key(term) {
            Some(key) => self.short.get(&key),
            None if term.len() <= self.max_key_len => self.long.get(term),
            None => None,
        }
    }

    /// Number of distinct terms.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// Description words an emoji reads as, if it is one we know.
    #[inline]
    pub(crate) fn emoji(&self, c: char) -> Option<&str> {
        self.emoji.get(&c).map(|s| &**s)
    }

    /// `word<TAB>mean<TAB>…`; later duplicates win, as in VADER's own loader.
    fn load_vader(&mut self, file: &'static str, text: &str) -> Result<(), LexiconError> {
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(word), Some(mean)) = (fields.next(), fields.next()) else {
                return Err(LexiconError::MissingField {
                    file,
                    line: n + 1,
                    expected: 2,
                });
            };
            let valence = parse_number(file, n + 1, mean)?;
            // VADER lower-cases tokens before lookup, so mixed-case keys such as ":D"
            // are kept verbatim (the tokenizer tries emoticons as written first) and
            // also under their lower-case form when that is free.
            let lower = word.to_lowercase();
            if lower != word && self.get(&lower).is_none() {
                let entry = self.slot(&lower);
                entry.valence = valence;
                entry.in_lexicon = true;
            }
            let entry = self.slot(word);
            entry.valence = valence;
            entry.in_lexicon = true;
        }
        Ok(())
    }

    /// `emoji<TAB>description`.
    fn load_emoji_descriptions(
        &mut self,
        file: &'static str,
        text: &str,
    ) -> Result<(), LexiconError> {
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(key), Some(description)) = (fields.next(), fields.next()) else {
                return Err(LexiconError::MissingField {
                    file,
                    line: n + 1,
                    expected: 2,
                });
            };
            // Only single code points: like VADER, multi-code-point sequences are read
            // one code point at a time (modifiers are skipped by the tokenizer).
            let mut chars = key.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                self.emoji
                    .insert(c, description.to_lowercase().into_boxed_str());
            }
        }
        Ok(())
    }

    /// Records of `domain.tsv` / `vader_modifiers.tsv` that need no other term.
    fn load_records(&mut self, file: &'static str, text: &str) -> Result<(), LexiconError> {
        for record in records(file, text) {
            let Record {
                line,
                kind,
                term,
                value,
            } = record?;
            match kind {
                "valence" => {
                    let valence = match value.parse::<f32>() {
                        Ok(v) => v,
                        Err(_) => self.borrowed_valence(file, line, value)?,
                    };
                    let entry = self.slot(term);
                    entry.valence = valence;
                    entry.in_lexicon = true;
                }
                "neutral" => {
                    let entry = self.slot(term);
                    entry.valence = 0.0;
                    entry.in_lexicon = true;
                }
                "event" => {
                    let valence = self.borrowed_valence(file, line, value)?;
                    let entry = self.slot(term);
                    entry.valence = 0.0;
                    entry.in_lexicon = false;
                    entry.event = Some(valence);
                }
                "negator" => self.slot(term).negator = true,
                "booster" => {
                    let booster = parse_number(file, line, value)?;
                    self.slot(term).booster = booster;
                }
                // Handled by load_deferred once every target exists.
                "alias" | "emoji" => {}
                other => {
                    return Err(LexiconError::UnknownKind {
                        file,
                        line,
                        kind: other.to_owned(),
                    })
                }
            }
        }
        Ok(())
    }

    fn load_deferred(&mut self, file: &'static str, text: &str) -> Result<(), LexiconError> {
        for record in records(file, text) {
            let Record {
                line,
                kind,
                term,
                value,
            } = record?;
            match kind {
                "alias" => {
                    let Some(target) = self.get(value).copied() else {
                        return Err(LexiconError::UnknownTarget {
                            file,
                            line,
                            target: value.to_owned(),
                        });
                    };
                    *self.slot(term) = target;
                }
                "emoji" => {
                    let mut chars = term.chars();
                    if let (Some(c), None) = (chars.next(), chars.next()) {
                        self.emoji.insert(c, value.to_lowercase().into_boxed_str());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn borrowed_valence(
        &self,
        file: &'static str,
        line: usize,
        target: &str,
    ) -> Result<f32, LexiconError> {
        match self.get(target) {
            Some(e) if e.in_lexicon => Ok(e.valence),
            _ => Err(LexiconError::UnknownTarget {
                file,
                line,
                target: target.to_owned(),
            }),
        }
    }

    fn slot(&mut self, term: &str) -> &mut Entry {
        self.max_key_len = self.max_key_len.max(term.len());
        let is_new = self.get(term).is_none();
        if is_new && term.contains(' ') {
            self.phrases.push(term.into());
        }
        match inline_key(term.as_bytes()) {
            Some(key) => self.short.entry(key).or_default(),
            None => match self.long.entry(term.as_bytes().into()) {
                MapEntry::Occupied(o) => o.into_mut(),
                MapEntry::Vacant(v) => v.insert(Entry::default()),
            },
        }
    }

    fn assign_roles(&mut self) {
        const ROLES: &[(&str, Role)] = &[
            ("no", Role::No),
            ("never", Role::Never),
            ("so", Role::SoThis),
            ("this", Role::SoThis),
            ("without", Role::Without),
            ("doubt", Role::Doubt),
            ("least", Role::Least),
            ("at", Role::AtVery),
            ("very", Role::AtVery),
            ("or", Role::OrNor),
            ("nor", Role::OrNor),
            ("but", Role::But),
        ];
        for &(word, role) in ROLES {
            self.slot(word).role = role;
        }
        // Aliases were copied before roles existed ("nvr" → "never").
        let aliases: Vec<(Box<str>, Role)> = records("domain.tsv", DOMAIN)
            .filter_map(Result::ok)
            .filter(|r| r.kind == "alias")
            .filter_map(|r| {
                let role = self.get(r.value)?.role;
                Some((r.term.into(), role))
            })
            .collect();
        for (term, role) in aliases {
            self.slot(&term).role = role;
        }
    }

    /// Marks the first word of every multi-word term with the term's length, and the
    /// other words as possible continuations, so the tokenizer only tries to join words
    /// where a term can actually start and continue.
    fn index_phrases(&mut self) {
        for entry in self.short.values_mut().chain(self.long.values_mut()) {
            entry.phrase_words = 1;
        }
        for phrase in std::mem::take(&mut self.phrases) {
            let words: Vec<&str> = phrase.split(' ').collect();
            if let Some((head, tail)) = words.split_first() {
                let n = u8::try_from(words.len()).unwrap_or(u8::MAX);
                let entry = self.slot(head);
                entry.phrase_words = entry.phrase_words.max(n);
                for word in tail {
                    self.slot(word).phrase_tail = true;
                }
            }
        }
    }
}

fn parse_number(file: &'static str, line: usize, value: &str) -> Result<f32, LexiconError> {
    value.trim().parse().map_err(|_| LexiconError::BadNumber {
        file,
        line,
        value: value.to_owned(),
    })
}

struct Record<'a> {
    line: usize,
    kind: &'a str,
    term: &'a str,
    value: &'a str,
}

/// `kind<TAB>term<TAB>value[<TAB>note]`, skipping blank and `#` lines.
fn records<'a>(
    file: &'static str,
    text: &'a str,
) -> impl Iterator<Item = Result<Record<'a>, LexiconError>> + 'a {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(move |(n, l)| {
            let line = n + 1;
            let mut fields = l.split('\t');
            let (Some(kind), Some(term)) = (fields.next(), fields.next()) else {
                return Err(LexiconError::MissingField {
                    file,
                    line,
                    expected: 2,
                });
            };
            if term.split(' ').count() > MAX_PHRASE_WORDS {
                return Err(LexiconError::TooManyWords { file, line });
            }
            Ok(Record {
                line,
                kind: kind.trim(),
                term: term.trim(),
                value: fields.next().unwrap_or("").trim(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_data_loads() {
        let lex = Lexicon::bundled().expect("data parses");
        assert!(lex.len() > 7_000);
        assert_eq!(lex.get("great").map(|e| e.valence), Some(3.1));
        assert!(lex.get("not").is_some_and(|e| e.negator));
        assert!(lex.get("really").is_some_and(|e| e.booster > 0.0));
        assert!(lex.get("kinda").is_some_and(|e| e.booster < 0.0));
    }

    #[test]
    fn domain_layer_borrows_vader_values() {
        let lex = Lexicon::bundled().expect("data parses");
        let crash = lex.get("crash").map(|e| e.valence);
        assert_eq!(lex.get("crashing").map(|e| e.valence), crash);
        assert_eq!(lex.get("please").map(|e| e.valence), Some(0.0));
        let broken = lex.get("broken").map(|e| e.valence);
        assert_eq!(lex.get("work").and_then(|e| e.event), broken);
        assert_eq!(lex.get("luv"), lex.get("love"));
        assert_eq!(lex.get("nvr").map(|e| e.role), Some(Role::Never));
        assert_eq!(lex.get("fed").map(|e| e.phrase_words), Some(2));
        assert!(lex
            .get("up")
            .is_some_and(|e| e.phrase_tail && !e.in_lexicon));
        assert_eq!(lex.emoji('🙏'), Some("grateful"));
    }

    #[test]
    fn long_and_short_keys() {
        let mut lex = Lexicon::empty();
        lex.slot("a-very-long-term-indeed").valence = 1.0;
        lex.slot("short").valence = 2.0;
        assert_eq!(
            lex.get("a-very-long-term-indeed").map(|e| e.valence),
            Some(1.0)
        );
        assert_eq!(lex.get("short").map(|e| e.valence), Some(2.0));
        assert!(lex.get("shor").is_none());
        assert!(lex.get("short\0").is_none());
        assert!(lex.get("a-very-long-term-indeed!").is_none());
    }

    #[test]
    fn errors_name_the_line() {
        let mut lex = Lexicon::empty();
        let err = lex.load_records("t.tsv", "# c\nvalence\tfoo\tnope-such-word\n");
        assert_eq!(
            err,
            Err(LexiconError::UnknownTarget {
                file: "t.tsv",
                line: 2,
                target: "nope-such-word".into()
            })
        );
        let err = lex.load_records("t.tsv", "frobnicate\tx\t1\n");
        assert!(matches!(
            err,
            Err(LexiconError::UnknownKind { line: 1, .. })
        ));
    }
}
