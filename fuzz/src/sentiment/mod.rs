//! What `browser.rs` imports from the sentiment crate (`agent_ui::sentiment`): the real
//! `Label` (`sentiment/src/label.rs`) and the shape of `WordScore`
//! (its scorer is not part of the browser frame parser being fuzzed).

#[path = "../../../sentiment/src/label.rs"]
mod label;

pub use label::Label;

/// Same fields as the agent UI's `WordScore`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WordScore {
    pub word: String,
    pub score: f32,
}
