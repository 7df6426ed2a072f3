//! The icon an agent sees for a message, from its score.

use serde::{Deserialize, Serialize};

/// Mood icon, with the original "thankyou" app's thresholds on an AFINN-like score,
/// except that a score of exactly 0 (no scored words, or words that cancel out) is
/// neutral: the original showed it as happy, so "Where is my order?? 2 weeks now"
/// looked content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// score < −4
    Devil,
    /// −4 ≤ score < 0
    Unhappy,
    /// score = 0
    Neutral,
    /// 0 < score ≤ 4
    Happy,
    /// score > 4
    Wink,
}

impl Label {
    /// Applies the thresholds; the boundaries themselves are inclusive as in the original
    /// (−4 is unhappy, 4 is happy); 0 is neutral.
    pub fn from_score(score: f32) -> Self {
        if score < -4.0 {
            Self::Devil
        } else if score < 0.0 {
            Self::Unhappy
        } else if score == 0.0 {
            Self::Neutral
        } else if score <= 4.0 {
            Self::Happy
        } else {
            Self::Wink
        }
    }

    /// The serialized name, also the icon's file stem.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Devil => "devil",
            Self::Unhappy => "unhappy",
            Self::Neutral => "neutral",
            Self::Happy => "happy",
            Self::Wink => "wink",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_at_the_boundaries() {
        assert_eq!(Label::from_score(-4.001), Label::Devil);
        assert_eq!(Label::from_score(-4.0), Label::Unhappy);
        assert_eq!(Label::from_score(-0.001), Label::Unhappy);
        assert_eq!(Label::from_score(0.0), Label::Neutral);
        assert_eq!(Label::from_score(-0.0), Label::Neutral);
        assert_eq!(Label::from_score(0.001), Label::Happy);
        assert_eq!(Label::from_score(4.0), Label::Happy);
        assert_eq!(Label::from_score(4.001), Label::Wink);
    }

    #[test]
    fn serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&Label::Unhappy).ok().as_deref(),
            Some("\"unhappy\"")
        );
        assert_eq!(Label::Wink.as_str(), "wink");
    }
}
