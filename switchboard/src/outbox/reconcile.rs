//! Did Twilio already get this reply? The decision, as a pure function over
//! Twilio's Messages list (no I/O; the worker in `mod.rs` fetches the list
//! and performs the outcome).
//!
//! Twilio has no idempotency key. So the outbox records a send intent
//! before its first POST of a reply, and when that POST's outcome is
//! unknown — the process was killed, or the answer never came — it lists
//! the messages Twilio sent from our number to the customer since the
//! intent's day (`DateSent>` has day granularity, every page), plus the
//! newest page without a date filter (a message Twilio accepted but still
//! holds queued has no `date_sent` yet), and looks for the reply there
//! before sending again:
//!
//! * a listed message is this reply's when it was created through the API
//!   (`outbound-api`), from our number, to the customer, with exactly the
//!   reply's body, no earlier than the intent (less [`CLOCK_SKEW_MS`]),
//!   and its SID is not already recorded for another of our messages;
//! * a listed SID already recorded for this very reply is this reply's,
//!   first of all (DynamoDB records a SID's lookup before the reply itself,
//!   so a crash in between leaves the reply pending with its SID known);
//! * several such messages (the agent sent "OK" twice in the window) are
//!   counted, not merged: each reply claims one SID, the earliest left, and
//!   a claimed SID is recorded before the next reply is checked, so two
//!   identical replies need two listed messages to both count as sent;
//! * found: record its SID and status, do not send; not found: send.
//!
//! When the list itself cannot be read, the worker retries it with the
//! send backoff and never sends blindly; when it gives up, the reply is
//! marked failed with [`UNVERIFIED`], which the agent sees, rather than
//! risk texting the customer twice.
//!
//! One limit: a message still queued at Twilio is only seen on that newest
//! page, so it is missed if the customer got more than a page (1,000
//! messages) from us since.

use crate::twilio::client::ListedMessage;
use std::collections::HashSet;
use switchboard_protocol::DeliveryStatus;

/// How far Twilio's clock may be behind ours: a message created up to this
/// long before our intent still counts.
pub const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// The failure an agent sees when Twilio's list could not be read.
pub const UNVERIFIED: &str =
    "could not check with Twilio whether this reply was already sent, so it was not sent again";

/// The reply looked for.
#[derive(Debug, Clone, Copy)]
pub struct Sought<'a> {
    /// The customer's number.
    pub to: &'a str,
    /// Our number, as recorded in the intent.
    pub from: &'a str,
    pub body: &'a str,
    /// When the first POST was about to start.
    pub intent_at_ms: u64,
}

impl Sought<'_> {
    /// The earliest instant Twilio can have created the reply (by its clock).
    pub fn window_start_ms(&self) -> u64 {
        self.intent_at_ms.saturating_sub(CLOCK_SKEW_MS)
    }

    /// Whether `listed` could be this reply (SID claims aside).
    pub fn matches(&self, listed: &ListedMessage) -> bool {
        listed.direction == "outbound-api"
            && listed.to == self.to
            && listed.from == self.from
            && listed.body == self.body
            // An unreadable date does not rule it out: the list is already
            // limited to the window's days, and a false "not sent" texts
            // the customer twice.
            && listed
                .created_ms()
                .is_none_or(|created| created >= self.window_start_ms())
    }
}

/// What to do with a reply whose POST may have reached Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Twilio has it: record this SID and status; do not send.
    AlreadySent {
        sid: String,
        status: DeliveryStatus,
        /// Twilio's error code, for a message that failed at Twilio.
        error_code: Option<u32>,
    },
    /// Twilio has no unclaimed copy of it: send it.
    NotSent,
}

/// What our store says about the listed SIDs (only those that match).
#[derive(Debug, Clone, Default)]
pub struct Claims<'a> {
    /// Recorded for other messages of ours.
    pub others: HashSet<&'a str>,
    /// Recorded for this very reply.
    pub mine: HashSet<&'a str>,
}

/// Decides from Twilio's list and which of its SIDs our store already
/// holds (see the module docs).
pub fn decide(sought: &Sought<'_>, listed: &[ListedMessage], claims: &Claims<'_>) -> Decision {
    let candidates = || {
        listed
            .iter()
            .filter(|m| sought.matches(m) && !claims.others.contains(m.sid.as_str()))
    };
    let found = candidates()
        .find(|m| claims.mine.contains(m.sid.as_str()))
        .or_else(|| {
            candidates().min_by(|a, b| (a.created_ms(), &a.sid).cmp(&(b.created_ms(), &b.sid)))
        });
    match found {
        Some(m) => Decision::AlreadySent {
            sid: m.sid.clone(),
            // It exists at Twilio, so at least "sending", whatever new
            // status name Twilio may have invented.
            status: DeliveryStatus::from_twilio(&m.status).unwrap_or(DeliveryStatus::Sending),
            error_code: m.error_code,
        },
        None => Decision::NotSent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOMER: &str = "+15550001111";
    const US: &str = "+15559990000";
    /// 2026-12-07 12:00:00 UTC.
    const INTENT: u64 = 1_796_644_800_000;

    fn sought(body: &str) -> Sought<'_> {
        Sought {
            to: CUSTOMER,
            from: US,
            body,
            intent_at_ms: INTENT,
        }
    }

    /// A listed message created `offset_s` seconds after the intent.
    fn listed(sid: &str, body: &str, offset_s: i64) -> ListedMessage {
        let created = chrono::DateTime::from_timestamp_millis(INTENT as i64 + offset_s * 1000)
            .expect("a valid time");
        ListedMessage {
            sid: sid.into(),
            to: CUSTOMER.into(),
            from: US.into(),
            body: body.into(),
            direction: "outbound-api".into(),
            status: "delivered".into(),
            date_created: Some(created.to_rfc2822()),
            error_code: None,
        }
    }

    fn none() -> Claims<'static> {
        Claims::default()
    }

    fn others(sids: &[&'static str]) -> Claims<'static> {
        Claims {
            others: sids.iter().copied().collect(),
            mine: HashSet::new(),
        }
    }

    #[test]
    fn a_listed_copy_means_already_sent_with_its_sid_and_status() {
        let decision = decide(
            &sought("on its way"),
            &[listed("SM1", "on its way", 1)],
            &none(),
        );
        assert_eq!(
            decision,
            Decision::AlreadySent {
                sid: "SM1".into(),
                status: DeliveryStatus::Delivered,
                error_code: None
            }
        );
    }

    #[test]
    fn an_empty_list_means_not_sent() {
        assert_eq!(decide(&sought("hello"), &[], &none()), Decision::NotSent);
    }

    #[test]
    fn only_an_exact_body_matches() {
        for other in ["on its way!", "On its way", "on its way ", ""] {
            assert_eq!(
                decide(&sought("on its way"), &[listed("SM1", other, 1)], &none()),
                Decision::NotSent,
                "{other:?}"
            );
        }
    }

    #[test]
    fn other_numbers_and_directions_do_not_match() {
        let mut to_other = listed("SM1", "hi", 1);
        to_other.to = "+15550002222".into();
        let mut from_other = listed("SM2", "hi", 1);
        from_other.from = "+15550003333".into();
        let mut reply_twiml = listed("SM3", "hi", 1);
        reply_twiml.direction = "outbound-reply".into();
        let mut inbound = listed("SM4", "hi", 1);
        inbound.direction = "inbound".into();
        assert_eq!(
            decide(
                &sought("hi"),
                &[to_other, from_other, reply_twiml, inbound],
                &none()
            ),
            Decision::NotSent
        );
    }

    #[test]
    fn a_message_older_than_the_intent_is_an_earlier_reply_not_this_one() {
        let older = -(CLOCK_SKEW_MS as i64 / 1000) - 1;
        assert_eq!(
            decide(
                &sought("thanks"),
                &[listed("SM1", "thanks", older)],
                &none()
            ),
            Decision::NotSent
        );
        // Within the clock skew it still counts.
        let skewed = -(CLOCK_SKEW_MS as i64 / 1000) + 1;
        assert!(matches!(
            decide(
                &sought("thanks"),
                &[listed("SM1", "thanks", skewed)],
                &none()
            ),
            Decision::AlreadySent { .. }
        ));
    }

    #[test]
    fn an_unreadable_date_does_not_rule_a_message_out() {
        let mut undated = listed("SM1", "thanks", 0);
        undated.date_created = None;
        assert!(matches!(
            decide(&sought("thanks"), &[undated], &none()),
            Decision::AlreadySent { .. }
        ));
    }

    #[test]
    fn identical_replies_are_counted_each_claiming_one_sid() {
        // Two "OK"s to one customer, both unconfirmed; Twilio has one.
        let list = [listed("SMb", "OK", 5)];
        let first = decide(&sought("OK"), &list, &none());
        assert_eq!(
            first,
            Decision::AlreadySent {
                sid: "SMb".into(),
                status: DeliveryStatus::Delivered,
                error_code: None
            }
        );
        // The first claimed SMb (recorded): the second was not sent.
        assert_eq!(
            decide(&sought("OK"), &list, &others(&["SMb"])),
            Decision::NotSent
        );

        // Twilio has two: the earliest goes to the first, the other to the second.
        let list = [listed("SMlate", "OK", 9), listed("SMearly", "OK", 2)];
        let Decision::AlreadySent { sid, .. } = decide(&sought("OK"), &list, &none()) else {
            panic!("two copies listed");
        };
        assert_eq!(sid, "SMearly");
        let Decision::AlreadySent { sid, .. } = decide(&sought("OK"), &list, &others(&["SMearly"]))
        else {
            panic!("one copy left");
        };
        assert_eq!(sid, "SMlate");
    }

    #[test]
    fn a_copy_already_recorded_for_an_earlier_reply_is_not_this_one() {
        assert_eq!(
            decide(
                &sought("see you"),
                &[listed("SM1", "see you", 3)],
                &others(&["SM1"])
            ),
            Decision::NotSent
        );
    }

    #[test]
    fn a_sid_already_recorded_for_this_reply_is_taken_first() {
        // Two identical copies listed; the later one's SID is already this
        // reply's (its lookup landed before a crash): that one, not the earliest.
        let list = [listed("SMfirst", "OK", 1), listed("SMmine", "OK", 5)];
        let claims = Claims {
            others: HashSet::new(),
            mine: ["SMmine"].into(),
        };
        let Decision::AlreadySent { sid, .. } = decide(&sought("OK"), &list, &claims) else {
            panic!("its own SID is listed");
        };
        assert_eq!(sid, "SMmine");
    }

    #[test]
    fn twilio_statuses_map_to_ours_and_keep_the_error_code() {
        let mut failed = listed("SM1", "hi", 1);
        failed.status = "undelivered".into();
        failed.error_code = Some(30003);
        assert_eq!(
            decide(&sought("hi"), &[failed], &none()),
            Decision::AlreadySent {
                sid: "SM1".into(),
                status: DeliveryStatus::Undelivered,
                error_code: Some(30003)
            }
        );
        let mut unknown = listed("SM2", "hi", 1);
        unknown.status = "teleported".into();
        assert!(matches!(
            decide(&sought("hi"), &[unknown], &none()),
            Decision::AlreadySent {
                status: DeliveryStatus::Sending,
                ..
            }
        ));
    }
}
