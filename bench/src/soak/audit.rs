//! The soak's audit, a pure function of what the customers, the agents and
//! the Twilio stand-in recorded: every acknowledged customer message stored
//! once and delivered once, in order; every acknowledged reply sent to
//! "Twilio" exactly once, crashes included (the outbox records its intent
//! before each POST and, after a crash, looks for the reply in Twilio's
//! Messages list before sending it again: README, "What durable means").
//! Copies are still counted by how many crashes could explain them, which
//! tells a crash-window duplicate from a resend without a crash.

use super::agents::{reply_body, Delivery};
use super::customers::number;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use switchboard_protocol::Direction;

/// The audit's counts; [`Audit::passed`] says whether they are all right.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Customer messages acknowledged with a 200.
    pub acknowledged: usize,
    /// Acknowledged messages no agent ever received.
    pub missing: usize,
    /// Customer messages stored more than once (same body at two seqs).
    pub stored_twice: usize,
    /// Conversations whose inbound messages are not in the order sent.
    pub out_of_order: usize,
    /// Seqs nobody received although a later one was (gaps).
    pub gaps: usize,
    /// Deliveries of a (conversation, seq) beyond the first.
    pub delivered_twice: usize,
    /// Replies acknowledged (`ack`).
    pub replies_acked: usize,
    /// Acknowledged replies Twilio received once / twice / more / never.
    pub replies_once: usize,
    pub replies_twice: usize,
    pub replies_more: usize,
    pub replies_missing: usize,
    /// Replies sent more often than one crash per extra copy could explain
    /// (1 + the number of kills): a resend without a crash. Any copy at all
    /// fails the audit; this tells which kind of bug it was.
    pub replies_beyond_crashes: usize,
    /// Replies still unacknowledged when the run ended.
    pub replies_pending: usize,
}

impl Audit {
    pub fn passed(&self) -> bool {
        self.missing == 0
            && self.stored_twice == 0
            && self.out_of_order == 0
            && self.gaps == 0
            && self.delivered_twice == 0
            && self.replies_twice == 0
            && self.replies_more == 0
            && self.replies_beyond_crashes == 0
            && self.replies_missing == 0
            && self.replies_pending == 0
    }
}

impl fmt::Display for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "customer messages acknowledged: {}; missing {}, stored twice {}, \
             conversations out of order {}, gaps {}, delivered twice {}",
            self.acknowledged,
            self.missing,
            self.stored_twice,
            self.out_of_order,
            self.gaps,
            self.delivered_twice
        )?;
        write!(
            f,
            "replies acknowledged: {}; sent to Twilio once {}, twice {}, three times or more {}, \
             more than one copy per crash {}, never {}; unacknowledged at the end {}",
            self.replies_acked,
            self.replies_once,
            self.replies_twice,
            self.replies_more,
            self.replies_beyond_crashes,
            self.replies_missing,
            self.replies_pending
        )
    }
}

/// Audits one run. `acknowledged[i]` is customer `i`'s acknowledged bodies in
/// the order sent; `twilio` the bodies the stand-in received, one per send;
/// `kills` how many times the switchboard was killed.
pub fn audit(
    kills: usize,
    acknowledged: &[Vec<String>],
    deliveries: &[Delivery],
    acked_replies: &[String],
    replies_pending: usize,
    twilio: &[String],
) -> Audit {
    let mut audit = Audit {
        acknowledged: acknowledged.iter().map(Vec::len).sum(),
        replies_acked: acked_replies.len(),
        replies_pending,
        ..Audit::default()
    };
    // Each (conversation, seq) once; the first delivery says what it holds.
    let mut by_conversation: BTreeMap<&str, BTreeMap<u64, &Delivery>> = BTreeMap::new();
    for d in deliveries {
        let seqs = by_conversation.entry(d.conversation.as_str()).or_default();
        match seqs.entry(d.seq) {
            std::collections::btree_map::Entry::Occupied(_) => audit.delivered_twice += 1,
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(d);
            }
        }
    }
    for (index, sent) in acknowledged.iter().enumerate() {
        let number = number(index);
        let seqs = by_conversation.get(number.as_str());
        let max = seqs
            .and_then(|s| s.keys().next_back().copied())
            .unwrap_or(0);
        audit.gaps += (max as usize).saturating_sub(seqs.map_or(0, BTreeMap::len));
        let inbound: Vec<&str> = seqs
            .into_iter()
            .flat_map(|s| s.values())
            .filter(|d| d.direction == Direction::Inbound)
            .map(|d| d.body.as_str())
            .collect();
        let mut copies: HashMap<&str, usize> = HashMap::new();
        for body in &inbound {
            *copies.entry(body).or_default() += 1;
        }
        audit.stored_twice += copies.values().map(|n| n - 1).sum::<usize>();
        audit.missing += sent
            .iter()
            .filter(|b| !copies.contains_key(b.as_str()))
            .count();
        // The acknowledged messages, in the order stored, are the order sent
        // (a message stored but never acknowledged may sit in between: the run
        // ends with every send acknowledged, so there is none).
        let mut seen = std::collections::HashSet::new();
        let first_copies: Vec<&str> = inbound
            .iter()
            .copied()
            .filter(|b| sent.iter().any(|s| s == b) && seen.insert(*b))
            .collect();
        let sent_order: Vec<&str> = sent.iter().map(String::as_str).collect();
        if first_copies != sent_order[..first_copies.len().min(sent_order.len())] {
            audit.out_of_order += 1;
        }
    }
    let mut at_twilio: HashMap<&str, usize> = HashMap::new();
    for body in twilio {
        *at_twilio.entry(body.as_str()).or_default() += 1;
    }
    for reply in acked_replies {
        let sends = at_twilio.get(reply.as_str()).copied().unwrap_or(0);
        match sends {
            0 => audit.replies_missing += 1,
            1 => audit.replies_once += 1,
            2 => audit.replies_twice += 1,
            _ => audit.replies_more += 1,
        }
        if sends > 1 + kills {
            audit.replies_beyond_crashes += 1;
        }
    }
    audit
}

/// The reply an agent sends to customer `index`'s `nth` message.
pub fn expected_reply(index: usize, nth: usize) -> String {
    reply_body(&super::customers::body(index, nth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::customers::body;

    fn delivery(seq: u64, direction: Direction, body: &str) -> Delivery {
        Delivery {
            agent: 0,
            conversation: number(0),
            seq,
            direction,
            body: body.into(),
        }
    }

    #[test]
    fn a_clean_run_passes_and_each_fault_is_counted() {
        let sent = vec![vec![body(0, 0), body(0, 1)]];
        let clean = vec![
            delivery(1, Direction::Inbound, &body(0, 0)),
            delivery(2, Direction::Outbound, &expected_reply(0, 0)),
            delivery(3, Direction::Inbound, &body(0, 1)),
        ];
        let replies = vec![expected_reply(0, 0)];
        let ok = audit(1, &sent, &clean, &replies, 0, &replies);
        assert!(ok.passed(), "{ok}");
        assert_eq!((ok.acknowledged, ok.replies_once), (2, 1));

        // Twilio got the reply twice: a failure, even with a crash to explain it.
        let twice = audit(
            1,
            &sent,
            &clean,
            &replies,
            0,
            &[replies.clone(), replies.clone()].concat(),
        );
        assert!(!twice.passed() && twice.replies_twice == 1);
        assert_eq!(twice.replies_beyond_crashes, 0);
        // Three copies with one crash: also more than a crash explains.
        let thrice = [replies.clone(), replies.clone(), replies.clone()].concat();
        let thrice = audit(1, &sent, &clean, &replies, 0, &thrice);
        assert!(!thrice.passed());
        assert_eq!((thrice.replies_more, thrice.replies_beyond_crashes), (1, 1));

        // A message stored twice, delivered twice, a gap, a lost reply.
        let mut bad = clean.clone();
        bad.push(delivery(4, Direction::Inbound, &body(0, 0)));
        bad.push(delivery(4, Direction::Inbound, &body(0, 0)));
        bad.push(delivery(6, Direction::Inbound, &body(0, 9)));
        let bad = audit(1, &sent, &bad, &replies, 1, &[]);
        assert_eq!(
            (
                bad.stored_twice,
                bad.delivered_twice,
                bad.gaps,
                bad.out_of_order
            ),
            (1, 1, 1, 0)
        );
        assert_eq!((bad.replies_missing, bad.replies_pending), (1, 1));
        assert!(!bad.passed());

        let lost = audit(1, &sent, &clean[..2], &replies, 0, &replies);
        assert_eq!(lost.missing, 1);

        let swapped = vec![
            delivery(1, Direction::Inbound, &body(0, 1)),
            delivery(2, Direction::Inbound, &body(0, 0)),
        ];
        assert_eq!(audit(1, &sent, &swapped, &[], 0, &[]).out_of_order, 1);
    }
}
