//! The lists beside the agent's own conversations: the Queue view (customers
//! waiting for an agent) and, for a supervisor, the overview (every open
//! conversation and every agent's load).
//!
//! The switchboard sends both raw (times in epoch ms, the waiting
//! customer's messages as text); this module keeps them as the browsers
//! show them — humanized waiting times, the customer's mood read with the
//! same sentiment analysis as every message — and recomputes the time
//! labels when they are due, so the page renders what it is sent.

use switchboard_protocol::{AgentLoad, OpenConversation, QueueEntry};

use crate::browser::{BrowserFrame, OpenConversationView, OverviewView, QueueEntryView, Waiting};
use crate::enrich;
use crate::sentiment::{self, Label};

/// What the Queue view and the supervisor's panel show.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    /// Conversations waiting (all of them, not only the listed ones).
    queue_length: usize,
    /// The listed queue entries as the switchboard sent them, each with its
    /// customer's mood (read once per entry: the sentiment analysis is not
    /// rerun when only time passes).
    queue: Vec<(QueueEntry, Label)>,
    /// The listed queue entries as the browsers were last sent them.
    queue_views: Vec<QueueEntryView>,
    /// The last overview as the switchboard sent it (supervisors only).
    overview: Option<(Vec<OpenConversation>, Vec<AgentLoad>)>,
    /// The overview as the browsers were last sent it.
    overview_view: Option<OverviewView>,
}

impl Lists {
    pub fn queue_length(&self) -> usize {
        self.queue_length
    }

    pub fn queue_entries(&self) -> Vec<QueueEntryView> {
        self.queue_views.clone()
    }

    /// The listed entries as the browsers show them at `now_ms`.
    fn queue_views(&self, now_ms: u64) -> Vec<QueueEntryView> {
        self.queue
            .iter()
            .map(|(entry, mood)| queue_view(entry, *mood, now_ms))
            .collect()
    }

    pub fn overview_view(&self) -> Option<OverviewView> {
        self.overview_view.clone()
    }

    /// A `queue` frame's length alone (a `welcome`): entries follow in the
    /// next `queue` frame; none are listed when nobody waits.
    pub fn set_queue_length(&mut self, length: usize, now_ms: u64) -> BrowserFrame {
        if length == 0 {
            self.queue.clear();
        }
        self.queue_length = length;
        self.queue_views = self.queue_views(now_ms);
        self.queue_frame()
    }

    /// A `queue` frame from the switchboard.
    pub fn set_queue(
        &mut self,
        length: usize,
        entries: Vec<QueueEntry>,
        now_ms: u64,
    ) -> BrowserFrame {
        let before = std::mem::take(&mut self.queue);
        self.queue = entries
            .into_iter()
            .map(|entry| {
                let known = before.iter().find(|(old, _)| {
                    old.conversation == entry.conversation && old.recent == entry.recent
                });
                let mood = known.map_or_else(|| mood(&entry.recent), |(_, mood)| *mood);
                (entry, mood)
            })
            .collect();
        self.queue_length = length;
        self.queue_views = self.queue_views(now_ms);
        self.queue_frame()
    }

    /// This agent is not (or no longer) a supervisor: no overview to show.
    pub fn clear_overview(&mut self) {
        self.overview = None;
        self.overview_view = None;
    }

    /// An `overview` frame from the switchboard.
    pub fn set_overview(
        &mut self,
        conversations: Vec<OpenConversation>,
        agents: Vec<AgentLoad>,
        now_ms: u64,
    ) -> BrowserFrame {
        let view = overview_view(&conversations, &agents, now_ms);
        self.overview = Some((conversations, agents));
        self.overview_view = Some(view.clone());
        BrowserFrame::Overview(view)
    }

    fn queue_frame(&self) -> BrowserFrame {
        BrowserFrame::Queue {
            length: self.queue_length,
            entries: self.queue_views.clone(),
        }
    }

    /// Recomputes the time labels; returns the frames whose labels changed.
    pub fn relabel(&mut self, now_ms: u64) -> Vec<BrowserFrame> {
        let mut frames = Vec::new();
        let queue = self.queue_views(now_ms);
        if queue != self.queue_views {
            self.queue_views = queue;
            frames.push(self.queue_frame());
        }
        if let Some((conversations, agents)) = &self.overview {
            let view = overview_view(conversations, agents, now_ms);
            if self.overview_view.as_ref() != Some(&view) {
                self.overview_view = Some(view.clone());
                frames.push(BrowserFrame::Overview(view));
            }
        }
        frames
    }

    /// When a time label shown here may next change.
    pub fn next_due(&self, now_ms: u64) -> Option<u64> {
        let queued = self.queue.iter().map(|(e, _)| e.waiting_since_ms);
        let open = self
            .overview
            .iter()
            .flat_map(|(conversations, _)| conversations.iter().map(|c| c.since_ms));
        queued
            .chain(open)
            .map(|at| now_ms + enrich::next_change_in(at, now_ms))
            .min()
    }
}

fn waiting(since_ms: u64, now_ms: u64) -> Waiting {
    Waiting {
        since_ms,
        label: enrich::label(since_ms, now_ms),
    }
}

/// The mood the Queue view shows: the worst among the customer's newest
/// unanswered messages (as the conversation list's).
fn mood(recent: &[String]) -> Label {
    recent
        .iter()
        .map(|text| sentiment::analyze(text).label)
        .min_by_key(|label| worse_first(*label))
        .unwrap_or(Label::Neutral)
}

/// A queue entry as the Queue view shows it.
fn queue_view(entry: &QueueEntry, mood: Label, now_ms: u64) -> QueueEntryView {
    QueueEntryView {
        conversation: entry.conversation.clone(),
        waiting: waiting(entry.waiting_since_ms, now_ms),
        preview: entry.preview.clone(),
        answered: entry.recent.is_empty(),
        mood,
        opted_out: entry.opted_out,
    }
}

/// Rank of a mood, the worst lowest.
fn worse_first(label: Label) -> u8 {
    match label {
        Label::Devil => 0,
        Label::Unhappy => 1,
        Label::Neutral => 2,
        Label::Happy => 3,
        Label::Wink => 4,
    }
}

/// The supervisor's view: waiting customers first, longest waiting first,
/// then held conversations, held longest first.
fn overview_view(
    conversations: &[OpenConversation],
    agents: &[AgentLoad],
    now_ms: u64,
) -> OverviewView {
    let mut sorted: Vec<&OpenConversation> = conversations.iter().collect();
    sorted.sort_by_key(|c| (c.agent.is_some(), c.since_ms, c.conversation.clone()));
    let queued = conversations.iter().filter(|c| c.agent.is_none());
    OverviewView {
        queue_length: queued.clone().count(),
        longest_wait: queued
            .map(|c| c.since_ms)
            .min()
            .map(|since| waiting(since, now_ms)),
        conversations: sorted
            .into_iter()
            .map(|c| OpenConversationView {
                conversation: c.conversation.clone(),
                agent: c.agent.clone(),
                since: waiting(c.since_ms, now_ms),
            })
            .collect(),
        agents: agents.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn entry(c: &str, since: u64, recent: &[&str]) -> QueueEntry {
        QueueEntry {
            conversation: c.into(),
            waiting_since_ms: since,
            preview: recent.first().copied().unwrap_or_default().into(),
            recent: recent.iter().map(|s| s.to_string()).collect(),
            opted_out: false,
        }
    }

    #[test]
    fn the_queue_shows_the_worst_recent_mood_and_a_humanized_wait() {
        let mut lists = Lists::default();
        let frame = lists.set_queue(
            2,
            vec![
                entry(
                    "+1",
                    NOW - 5 * 60_000,
                    &["this is terrible, I am furious", "hello?"],
                ),
                entry("+2", NOW - 1_000, &["Where is my order?"]),
            ],
            NOW,
        );
        let BrowserFrame::Queue { length, entries } = frame else {
            panic!("not a queue frame: {frame:?}");
        };
        assert_eq!(length, 2);
        assert_eq!(entries[0].preview, "this is terrible, I am furious");
        assert!(
            matches!(entries[0].mood, Label::Unhappy | Label::Devil),
            "{:?}",
            entries[0].mood
        );
        assert_eq!(entries[0].waiting.label, "5 minutes ago");
        assert_eq!(entries[1].mood, Label::Neutral);
        // Labels move on with time, and only then is the list sent again.
        assert!(lists.relabel(NOW + 1).is_empty());
        let later = lists.relabel(NOW + 3 * 60_000);
        assert!(
            matches!(&later[..], [BrowserFrame::Queue { .. }]),
            "{later:?}"
        );
        assert!(lists.next_due(NOW).is_some());
    }

    #[test]
    fn the_overview_puts_waiting_customers_first_and_finds_the_longest_wait() {
        let mut lists = Lists::default();
        let open = vec![
            OpenConversation {
                conversation: "+1".into(),
                agent: Some("alice".into()),
                since_ms: NOW - 100_000,
            },
            OpenConversation {
                conversation: "+2".into(),
                agent: None,
                since_ms: NOW - 50_000,
            },
            OpenConversation {
                conversation: "+3".into(),
                agent: None,
                since_ms: NOW - 90_000,
            },
        ];
        let BrowserFrame::Overview(view) = lists.set_overview(open, Vec::new(), NOW) else {
            panic!("not an overview");
        };
        let order: Vec<&str> = view
            .conversations
            .iter()
            .map(|c| c.conversation.as_str())
            .collect();
        assert_eq!(order, ["+3", "+2", "+1"]);
        assert_eq!(view.queue_length, 2);
        assert_eq!(view.longest_wait.map(|w| w.since_ms), Some(NOW - 90_000));
    }
}
