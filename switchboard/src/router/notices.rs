//! Automatic texts to waiting customers (`conversation::notice` decides
//! whether and what): when a new conversation is left in the queue, and
//! the one update on the notice timer. Each becomes [`Effect::Notice`], a
//! reply stored in the name [`notice::AUTHOR`].

use super::event::Effect;
use super::machine::Core;
use crate::conversation::notice::{self, Notice, NoticeKind, NoticeSettings};
use crate::store::{EntryKind, Reply, RouteRecord};

impl Core {
    /// Which automatic texts are on (off unless set).
    pub fn set_notices(&mut self, settings: NoticeSettings) {
        self.notices = settings;
    }

    /// A customer's new conversation, waiting since `since_ms`: if no agent
    /// took it, tell them their place (or, after hours, when we are back).
    pub(super) fn notice_if_queued(&mut self, conversation: &str, since_ms: u64) {
        let Some(index) = self.queue.iter().position(|c| c == conversation) else {
            return;
        };
        let id = conversation.to_string();
        let Some(n) = notice::on_queued(&self.notices, &id, since_ms, self.now_ms, index + 1)
        else {
            return;
        };
        if n.kind == NoticeKind::Queue {
            self.noticed.insert(id, since_ms);
        }
        self.push_notice(conversation, n);
    }

    /// The notice timer: the one update for customers who got their place
    /// and still wait, in the same waiting period, past the threshold.
    pub(super) fn notice_tick(&mut self) {
        let mut due = Vec::new();
        let mut still = std::collections::HashMap::new();
        for (index, c) in self.queue.iter().enumerate() {
            let Some(&since) = self.noticed.get(c) else {
                continue;
            };
            // Assigned and queued again since: a new waiting period.
            if !matches!(self.live.get(c).map(|l| &l.route),
                Some(RouteRecord::Queued { since_ms, .. }) if *since_ms == since)
            {
                continue;
            }
            match notice::update(&self.notices, c, since, self.now_ms, index + 1) {
                Some(n) => due.push((c.clone(), n)),
                None => {
                    still.insert(c.clone(), since);
                }
            }
        }
        self.noticed = still;
        for (c, n) in due {
            self.push_notice(&c, n);
        }
    }

    fn push_notice(&mut self, conversation: &str, n: Notice) {
        tracing::info!(conversation, kind = ?n.kind, "texting the waiting customer");
        self.effects.push(Effect::Notice {
            reply: Reply {
                conversation: conversation.to_string(),
                agent: notice::AUTHOR.to_string(),
                client_id: n.client_id,
                body: n.body,
                media: Vec::new(),
                at_ms: self.now_ms,
                kind: EntryKind::Sms,
            },
        });
    }
}
