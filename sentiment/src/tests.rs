//! Behaviour of [`analyze`] on the kinds of text agents see.

use super::*;

fn score(text: &str) -> f32 {
    analyze(text).score
}

fn label(text: &str) -> Label {
    analyze(text).label
}

#[test]
fn negation_flips_and_dampens() {
    assert!(score("happy") > 0.0);
    assert!(score("not happy at all") < 0.0);
    assert!(score("I don't like it") < 0.0);
    assert!(score("not bad at all") > 0.0);
    // Negated sentiment is weaker than the plain opposite (VADER's −0.74).
    assert!(score("not good").abs() < score("good"));
}

#[test]
fn failed_events_are_negative() {
    assert_eq!(score("the app works"), 0.0);
    assert!(score("the app never works") < 0.0);
    assert!(score("my parcel hasn't arrived") < 0.0);
    assert!(score("nobody replied") < 0.0);
    assert!(score("doesnt work. at all.") < 0.0);
    assert!(score("no one called back") < 0.0);
}

#[test]
fn idioms_and_phrases() {
    assert!(score("thanks for nothing") < 0.0);
    assert!(score("I'm fed up") < 0.0);
    assert!(score("no problem at all") > 0.0);
    assert_eq!(score("kind regards"), 0.0);
}

#[test]
fn intensifiers_and_dampeners() {
    assert!(score("so happy") > score("happy"));
    assert!(score("really bad") < score("bad"));
    assert!(score("kinda good") < score("good"));
    assert!(score("kinda good") > 0.0);
}

#[test]
fn caps_emphasis_within_mixed_case() {
    assert!(score("this is TERRIBLE") < score("this is terrible"));
    // A whole message in capitals is a habit, not emphasis.
    assert_eq!(score("THIS IS TERRIBLE"), score("this is terrible"));
}

#[test]
fn exclamation_marks_amplify_the_lean() {
    assert!(score("great!!!") > score("great"));
    assert!(score("awful!!!") < score("awful"));
    assert_eq!(score("where is my order!!!"), 0.0);
    let a = analyze("NEVER again!!!");
    assert!(a.score < analyze("never again!!!").score);
    assert_eq!(a.label, Label::Devil);
    assert!(a.words.iter().any(|w| w.word == "!!!"));
}

#[test]
fn but_clause_dominates() {
    assert!(score("the driver was nice but the box was damaged") < 0.0);
    assert!(score("it was a bit late but the quality is amazing") > 0.0);
}

#[test]
fn emoji_and_emoticons() {
    assert!(score("thx so much 🙏") > 0.0);
    assert!(score("😡") < 0.0);
    assert!(score("ok 👍") > 0.0);
    assert!(score(":)") > 0.0);
    assert!(score("still broken :(") < score("still broken"));
    let a = analyze("where is it 😡😡");
    assert_eq!(a.words.first().map(|w| w.word.as_str()), Some("😡"));
}

#[test]
fn sms_spellings() {
    assert!(score("thx") > 0.0);
    assert!(score("gr8") > 0.0);
    assert!(score("luv it") > 0.0);
    assert!(score("wtf") < 0.0);
    assert!(score("smh") < 0.0);
    assert!(score("omg this is so frustrating") < 0.0);
    assert!(score("ur app is the worst") < 0.0);
    assert!(score("sooo good") > score("good"));
}

#[test]
fn polite_requests_stay_neutral() {
    assert_eq!(score("pls send the invoice to my email"), 0.0);
    assert_eq!(score("ok"), 0.0);
    assert_eq!(score("I'd like to return an item"), 0.0);
    assert_eq!(score("can you help me with my bill?"), 0.0);
}

#[test]
fn labels_follow_the_thresholds() {
    assert_eq!(label("where is my order"), Label::Neutral);
    assert_eq!(label("I want my money back"), Label::Neutral);
    assert_eq!(label("Where is my order?? 2 weeks now"), Label::Neutral);
    assert_eq!(label("thanks"), Label::Happy);
    assert_eq!(label("this is terrible"), Label::Unhappy);
    assert_eq!(
        label("NEVER again!!! worst service ever, disgusting"),
        Label::Devil
    );
    assert_eq!(label("thank you so much, you are amazing!!"), Label::Wink);
    for text in ["", "a", "bad", "good", "awful awful", "great great great!!"] {
        let a = analyze(text);
        assert_eq!(a.label, Label::from_score(a.score), "{text}");
    }
}

#[test]
fn words_explain_the_score() {
    let a = analyze("Thanks, but the box was DAMAGED!!");
    let sum: f32 = a.words.iter().map(|w| w.score).sum();
    assert!((sum - a.score).abs() < 0.01, "{a:?}");
    let names: Vec<&str> = a.words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(names, ["Thanks", "DAMAGED", "!!"]);
}

#[test]
fn empty_and_odd_input() {
    let a = analyze("");
    assert_eq!((a.score, a.comparative, a.words.len()), (0.0, 0.0, 0));
    assert_eq!(analyze("   \t ").score, 0.0);
    assert_eq!(analyze("\u{200d}\u{fe0f}🏽").score, 0.0);
    let long = "bad ".repeat(10_000);
    assert!(analyze(&long).score < -4.0);
}
