//! What `browser.rs` imports from the agent UI's sentiment module: the real
//! `Label` (`agent-ui/src/sentiment/label.rs`) and the shape of `WordScore`
//! (its scorer is not part of the browser frame parser being fuzzed).

#[path = "../../../agent-ui/src/sentiment/label.rs"]
mod label;

pub use label::Label;

/// Same fields as the agent UI's `WordScore`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WordScore {
    pub word: String,
    pub score: f32,
}
