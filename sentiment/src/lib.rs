//! Sentiment of a customer's SMS: a score, the mood icon, and the words that drove it.
//!
//! # Approach
//!
//! VADER (Hutto & Gilbert, ICWSM 2014) with its MIT-licensed lexicon, plus a small
//! customer-service layer. VADER was chosen over AFINN-165 (what the original used)
//! because it was built for short social-media text: its 7,500 entries include slang,
//! initialisms and emoticons ("wtf", "smh", "lol", "gr8", ":(") rated by ten people
//! each, and its published rules cover exactly what agents see — negation, degree
//! adverbs, ALL CAPS, "!!!", "but" clauses — where AFINN only sums word scores and
//! flips the one word after a negator. Emoji are read through their descriptions
//! (VADER's emoji lexicon). The layer in `data/domain.tsv` adds SMS spellings,
//! support vocabulary, events that should have happened ("never arrived", "doesn't
//! work") and neutralises polite or transactional words ("please", "ok", "free
//! shipping") — without inventing numbers: each entry borrows a VADER word's valence.
//!
//! # Score scale
//!
//! `score` is VADER's sum of word valences plus punctuation emphasis (the value VADER
//! squashes into its "compound"), multiplied by [`AFINN_SCALE`] so that it lives on
//! AFINN's scale and the original's icon thresholds (−4 / 0 / 4) keep their meaning.
//! VADER rates words on −4…+4, AFINN on −5…+5; over the 2,650 words both rate, AFINN's
//! value is 1.18× VADER's at the median (least-squares slope 1.11, ratio of mean
//! magnitudes 1.23), hence 1.2. "this is terrible" scores −2.5 (unhappy), "NEVER
//! again!!! worst service ever" scores below −4 (devil).
//!
//! `comparative` is the score per token, as in the `sentiment` npm package.
//!
//! # Cost
//!
//! The lexicon is parsed once ([`std::sync::LazyLock`]); scoring reuses per-thread
//! buffers and allocates only the returned `words`.

mod batch;
mod label;
mod lexicon;
mod rules;
mod tokenize;

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

pub use batch::{bench, score_lines, BatchError, BenchReport};
pub use label::Label;
pub use lexicon::LexiconError;

use lexicon::LEXICON;
use tokenize::{tokenize, Scratch};

/// Factor from VADER's raw scale to AFINN's (see the module docs).
pub const AFINN_SCALE: f32 = 1.2;

/// Result of [`analyze`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Mood icon from `score` with the original's thresholds.
    pub label: Label,
    /// Overall sentiment on an AFINN-like scale (negative = unhappy), rounded to 3 places.
    pub score: f32,
    /// `score` per word, emoticon and emoji as written (like the `sentiment` package's).
    pub comparative: f32,
    /// What drove the score, in message order; the contributions add up to `score`
    /// (up to rounding). Punctuation emphasis appears as a "word" such as `!!!`.
    pub words: Vec<WordScore>,
}

/// One word (as the customer wrote it) and its contribution after all rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordScore {
    pub word: String,
    /// Unrounded; serialized to three decimals like `score`.
    #[serde(serialize_with = "serialize_rounded")]
    pub score: f32,
}

fn serialize_rounded<S: serde::Serializer>(score: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f32(round3(*score))
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Scores one message.
pub fn analyze(text: &str) -> Analysis {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => analyze_with(text, &mut scratch),
        // Only reachable through re-entrancy, which analyze never does; stay correct anyway.
        Err(_) => analyze_with(text, &mut Scratch::default()),
    })
}

fn analyze_with(text: &str, scratch: &mut Scratch) -> Analysis {
    let lex = &*LEXICON;
    let facts = tokenize(lex, text, scratch);
    let mut valences = std::mem::take(&mut scratch.valences);
    let emphasis = rules::score(&scratch.tokens, facts, &mut valences);

    let total = valences.iter().sum::<f32>() + emphasis;
    let mut words: Vec<WordScore> = Vec::new();
    let mut last_span = None;
    for (token, &v) in scratch.tokens.iter().zip(&valences) {
        if v == 0.0 {
            continue;
        }
        // An emoji expands to several description words that share its span.
        match words.last_mut() {
            Some(last) if last_span.as_ref() == Some(&token.span) => last.score += v * AFINN_SCALE,
            _ => {
                words.push(WordScore {
                    word: text.get(token.span.clone()).unwrap_or_default().to_owned(),
                    score: v * AFINN_SCALE,
                });
                last_span = Some(token.span.clone());
            }
        }
    }
    scratch.valences = valences;
    if emphasis != 0.0 {
        words.push(WordScore {
            word: punctuation_word(facts),
            score: emphasis * AFINN_SCALE,
        });
    }

    let score = round3(total * AFINN_SCALE);
    let comparative = if facts.surface_tokens == 0 {
        0.0
    } else {
        round3(score / facts.surface_tokens as f32)
    };
    Analysis {
        label: Label::from_score(score),
        score,
        comparative,
        words,
    }
}

/// The "!!!" / "??" an agent sees as the reason for the punctuation boost.
fn punctuation_word(facts: tokenize::TextFacts) -> String {
    let mut s = "!".repeat(facts.exclamations.min(4));
    if facts.questions > 1 {
        s.push_str(&"?".repeat(facts.questions.min(4)));
    }
    s
}

/// Three decimals are plenty for display and keep the JSON short; labels are computed
/// from the rounded value so the two never disagree. Half away from zero, via an integer
/// conversion rather than a libm call (scores beyond ±2 million saturate, harmlessly).
fn round3(x: f32) -> f32 {
    let scaled = x * 1000.0;
    (scaled + 0.5f32.copysign(scaled)) as i32 as f32 / 1000.0
}

#[cfg(test)]
mod tests;
