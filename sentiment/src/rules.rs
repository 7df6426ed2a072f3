//! VADER's rules: how neighbouring words, capitals and punctuation change a word's valence.
//!
//! Implemented from the rules as published (Hutto & Gilbert 2014, and the constants of
//! vaderSentiment 3.3.2), with their intent kept where the reference code slips:
//!
//! - **degree adverbs** within three words before a sentiment word add ±0.293
//!   ("really", "so" up; "kinda", "barely" down), damped ×0.95 / ×0.9 with distance;
//! - **negation** within three words multiplies by −0.74 ("not happy", "don't like",
//!   "never works"), except "never so/this …" (×1.25) and "without doubt";
//!   "no" before a sentiment word negates it ("no problem") and then scores nothing itself;
//!   "least" negates unless "at least";
//! - **ALL CAPS** on a sentiment word or adverb adds ±0.733, but only when the message is
//!   not entirely in capitals (VADER's "cap differential": a whole message in capitals
//!   is a typing habit, not emphasis);
//! - **"but"**: words before it count half, words after it one and a half;
//! - **"!"** adds 0.292 each (up to four) and "??"/"???" 0.18 each (0.96 for more), in
//!   the direction the message already leans — they never create sentiment.
//!
//! The customer-service layer adds one rule: an *event* word ("work", "arrived",
//! "replied") scores nothing alone but takes a borrowed negative valence when negated
//! ("never arrived", "doesn't work", "no reply"), instead of flipping a zero.
//!
//! Where the reference code differs from the paper (its "but" handling rescales by the
//! first occurrence of equal values; a precedence slip applies ×1.25 after any "so"),
//! this follows the paper.

use super::lexicon::Role;
use super::tokenize::{TextFacts, Token};

/// Empirical ALL-CAPS increment.
const C_INCR: f32 = 0.733;
/// Empirical negation scalar.
const N_SCALAR: f32 = -0.74;
/// Per "!" (up to four).
const EXCLAMATION: f32 = 0.292;
/// Per "?" when there are two or three.
const QUESTION: f32 = 0.18;
/// Cap for four or more "?".
const QUESTION_MAX: f32 = 0.96;
/// Damping of modifiers one and two words further away.
const DISTANCE_DAMPING: [f32; 3] = [1.0, 0.95, 0.9];

/// Fills `valences` with each token's contribution on VADER's raw scale and returns
/// the punctuation emphasis (already signed like the total).
pub(crate) fn score(tokens: &[Token], facts: TextFacts, valences: &mut Vec<f32>) -> f32 {
    valences.clear();
    let cap_diff = facts.upper_words > 0 && facts.upper_words < facts.words;
    valences.extend((0..tokens.len()).map(|i| valence(tokens, i, cap_diff)));
    but_shift(tokens, valences);
    let sum: f32 = valences.iter().sum();
    let emphasis = punctuation(facts);
    if sum > 0.0 {
        emphasis
    } else if sum < 0.0 {
        -emphasis
    } else {
        0.0
    }
}

/// The word `back` positions before token `i`, if it is one the lexicon knows (unknown
/// words are not stored and have no effect on their neighbours).
#[inline]
fn before(tokens: &[Token], i: usize, back: u32) -> Option<&Token> {
    let target = tokens[i].pos.checked_sub(back)?;
    tokens[..i]
        .iter()
        .rev()
        .take_while(|t| t.pos >= target)
        .find(|t| t.pos == target)
}

#[inline]
fn is(token: Option<&Token>, role: Role) -> bool {
    token.and_then(|t| t.entry).is_some_and(|e| e.role == role)
}

fn valence(tokens: &[Token], i: usize, cap_diff: bool) -> f32 {
    let token = &tokens[i];
    let Some(entry) = token.entry else {
        return 0.0;
    };
    // Degree adverbs only modify; words that are neither sentiment nor event score 0.
    if entry.booster != 0.0 || !(entry.in_lexicon || entry.event.is_some()) {
        return 0.0;
    }
    let back: [Option<&Token>; 3] = [1, 2, 3].map(|k| before(tokens, i, k));

    // Negation by a preceding "no" ("no problem", "no fees or charges").
    let after_no = is(back[0], Role::No)
        || is(back[1], Role::No)
        || (is(back[2], Role::No) && is(back[0], Role::OrNor));
    // "no" followed by a sentiment word is a determiner, not a sentiment of its own.
    let determiner = entry.role == Role::No
        && tokens
            .get(i + 1)
            .is_some_and(|next| next.pos == token.pos + 1 && next.in_lexicon());

    // Negators and the "never so" intensifier among the three preceding words that are
    // not themselves sentiment words.
    let mut negations = 0u32;
    let mut multiplier = 1.0f32;
    for k in 0..3 {
        let Some(far) = back[k].filter(|t| !t.in_lexicon()) else {
            continue;
        };
        let near_so = back[..k].iter().any(|&t| is(t, Role::SoThis));
        let near_doubt = back[..k].iter().any(|&t| is(t, Role::Doubt));
        if k > 0 && is(Some(far), Role::Never) && near_so {
            multiplier *= 1.25;
        } else if k > 0 && is(Some(far), Role::Without) && near_doubt {
            // "without doubt" affirms.
        } else if far.negates {
            negations += 1;
        }
    }

    let mut v = match entry.event {
        // An event that did not happen takes its borrowed valence; the negation is spent.
        Some(failed) if negations > 0 || after_no => {
            negations = negations.saturating_sub(1);
            failed
        }
        Some(_) => return 0.0,
        None if after_no => entry.valence * N_SCALAR,
        None if determiner => 0.0,
        None => entry.valence,
    };
    if v == 0.0 {
        return 0.0;
    }

    if token.upper && cap_diff {
        v += C_INCR.copysign(v);
    }
    for (modifier, damping) in back.iter().zip(DISTANCE_DAMPING) {
        let Some(modifier) = modifier.filter(|t| !t.in_lexicon()) else {
            continue;
        };
        let booster = modifier.entry.map_or(0.0, |e| e.booster);
        if booster == 0.0 {
            continue;
        }
        let mut s = booster * v.signum();
        if modifier.upper && cap_diff {
            s += C_INCR.copysign(v);
        }
        v += s * damping;
    }
    v *= multiplier * N_SCALAR.powi(i32::try_from(negations).unwrap_or(i32::MAX));

    // "least" negates ("least helpful") unless it is "at least" / "very least".
    let least = back[0].is_some_and(|t| !t.in_lexicon()) && is(back[0], Role::Least);
    if least && !is(back[1], Role::AtVery) {
        v *= N_SCALAR;
    }
    v
}

/// Words before the first "but" count half, words after it one and a half.
fn but_shift(tokens: &[Token], valences: &mut [f32]) {
    let Some(at) = tokens
        .iter()
        .position(|t| t.entry.is_some_and(|e| e.role == Role::But))
    else {
        return;
    };
    for v in &mut valences[..at] {
        *v *= 0.5;
    }
    for v in &mut valences[at + 1..] {
        *v *= 1.5;
    }
}

/// Unsigned emphasis from "!" and "?" runs.
fn punctuation(facts: TextFacts) -> f32 {
    let exclamations = facts.exclamations.min(4) as f32 * EXCLAMATION;
    let questions = match facts.questions {
        0 | 1 => 0.0,
        n @ 2..=3 => n as f32 * QUESTION,
        _ => QUESTION_MAX,
    };
    exclamations + questions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::LEXICON;
    use crate::tokenize::{tokenize, Scratch};

    /// VADER's booster increment, as listed in vader_modifiers.tsv.
    const BOOSTER: f32 = 0.293;

    /// Raw VADER-scale sum, punctuation included.
    fn raw(text: &str) -> f32 {
        let mut scratch = Scratch::default();
        let facts = tokenize(&LEXICON, text, &mut scratch);
        let mut valences = Vec::new();
        let emphasis = score(&scratch.tokens, facts, &mut valences);
        valences.iter().sum::<f32>() + emphasis
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn booster_and_dampener() {
        assert!(close(raw("good"), 1.9));
        assert!(close(raw("really good"), 1.9 + BOOSTER));
        assert!(close(raw("kinda good"), 1.9 - BOOSTER));
        assert!(close(raw("really bad"), -2.5 - BOOSTER));
    }

    #[test]
    fn negation_scalar() {
        assert!(close(raw("not good"), 1.9 * N_SCALAR));
        assert!(close(raw("not very good"), (1.9 + BOOSTER) * N_SCALAR));
        assert!(close(raw("no problem"), -1.7 * N_SCALAR));
    }

    #[test]
    fn caps_only_with_differential() {
        assert!(close(raw("GOOD job"), 1.9 + C_INCR));
        assert!(close(raw("GOOD"), 1.9));
    }

    #[test]
    fn but_shifts_weight() {
        assert!(close(raw("good but bad"), 1.9 * 0.5 - 2.5 * 1.5));
    }

    #[test]
    fn punctuation_follows_the_lean() {
        assert!(close(raw("good!!!"), 1.9 + 3.0 * EXCLAMATION));
        assert!(close(raw("bad!!!!!!"), -2.5 - 4.0 * EXCLAMATION));
        assert!(close(raw("hello!!!"), 0.0));
        assert!(close(raw("bad??"), -2.5 - 2.0 * QUESTION));
    }

    #[test]
    fn events_score_only_when_they_fail() {
        assert!(close(raw("it works"), 0.0));
        assert!(close(raw("it doesn't work"), -2.1));
        assert!(close(raw("never arrived"), -1.2));
        assert!(close(raw("no reply"), -1.3));
    }

    #[test]
    fn at_least_is_not_negation() {
        assert!(close(raw("at least good"), 1.9));
        assert!(close(raw("least good"), 1.9 * N_SCALAR));
    }
}
