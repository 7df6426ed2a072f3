//! When may a leader act on a reply an earlier sender left in the outbox?
//! Two pure rules (no I/O, no clock of their own), used by the worker in
//! `mod.rs`.
//!
//! **An earlier leader's POST may still be on its way.** A reply with a send
//! intent may have been POSTed by the previous leader, and that POST may
//! still be in flight when this term starts: the old leader stalled (GC
//! pause, SIGSTOP) or was slow to learn that it lost the lease, or Twilio
//! was slow to answer. Looking in Twilio's Messages list too early finds
//! nothing, this leader sends, then the old POST lands: the customer gets
//! the reply twice. No fence stops a Twilio call, so the new leader waits
//! until that POST must have ended before it looks:
//!
//! * the old leader starts no POST once it no longer believes it leads, and
//!   it stops believing so (on its own clock) before any contender can take
//!   the lease (`cluster/lease.rs`), so every POST of the old term started
//!   before this term did;
//! * each POST ends, on the old leader's side, within the Twilio client's
//!   request timeout, and the old leader drops a POST in flight as soon as
//!   its term ends;
//! * Twilio may still create a message from a request whose client went
//!   away: we allow [`LANDING_MARGIN`] for that (an assumption about
//!   Twilio's front end, not something it documents).
//!
//! So the wait is measured on this instance's monotonic clock from the start
//! of its term ([`check_after`]); no clocks of two machines are compared.
//! The intent's wall-clock time is not used for this: it is the time of the
//! *first* POST, and retries may POST minutes later.
//!
//! **A stranded reply.** A reply whose intent or result write failed (a
//! DynamoDB hiccup, an emulator's error) is left in the outbox by the send
//! that gave up. The worker lists the outbox again now and then, and sends
//! what it finds unsettled and not being sent by this term — but only once
//! it was seen so in two listings in a row ([`stranded`]): the outbox index
//! is eventually consistent, so a reply settled a moment ago (and whose
//! intent was deleted with it) can still be listed once.

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Duration;

/// How long after the client gave up Twilio may still create a message
/// from the request (see the module docs).
pub const LANDING_MARGIN: Duration = Duration::from_secs(5);

/// The longest an earlier leader's POST may still land at Twilio after this
/// term started: the client's request timeout plus [`LANDING_MARGIN`].
pub fn posts_land_within(request_timeout: Duration) -> Duration {
    request_timeout + LANDING_MARGIN
}

/// How long to wait, `term_age` into a term, before looking in Twilio's list
/// for a reply an earlier term left with an intent, when earlier POSTs land
/// within `land_within` of the term's start. Zero once that has passed.
pub fn check_after(term_age: Duration, land_within: Duration) -> Duration {
    land_within.saturating_sub(term_age)
}

/// The replies to pick up: unsettled in this listing and the previous one,
/// and not being sent by this term now (see the module docs).
pub fn stranded<P: Eq + Hash + Clone>(
    previous: &HashSet<P>,
    current: &[P],
    active: &HashSet<P>,
) -> Vec<P> {
    current
        .iter()
        .filter(|p| previous.contains(*p) && !active.contains(*p))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAND: Duration = Duration::from_secs(20);

    #[test]
    fn a_new_term_waits_until_earlier_posts_must_have_landed() {
        assert_eq!(check_after(Duration::ZERO, LAND), LAND);
        assert_eq!(
            check_after(Duration::from_secs(8), LAND),
            Duration::from_secs(12)
        );
    }

    #[test]
    fn later_in_the_term_it_checks_at_once() {
        assert_eq!(check_after(LAND, LAND), Duration::ZERO);
        assert_eq!(check_after(Duration::from_secs(600), LAND), Duration::ZERO);
    }

    #[test]
    fn one_instance_does_not_wait() {
        assert_eq!(check_after(Duration::ZERO, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_bound_is_the_request_timeout_plus_the_landing_margin() {
        assert_eq!(
            posts_land_within(Duration::from_secs(15)),
            Duration::from_secs(15) + LANDING_MARGIN
        );
    }

    #[test]
    fn a_reply_is_stranded_only_when_seen_unsettled_twice_and_not_in_hand() {
        let previous: HashSet<u32> = [1, 2, 3].into();
        let active: HashSet<u32> = [2].into();
        // 1: seen twice, idle — stranded. 2: being sent. 3: settled since
        // (gone from the listing). 4: new in this listing (may be a lagging
        // index entry of a reply settled a moment ago).
        assert_eq!(stranded(&previous, &[1, 2, 4], &active), vec![1]);
    }

    #[test]
    fn the_first_listing_strands_nothing() {
        assert!(stranded(&HashSet::new(), &[1, 2], &HashSet::new()).is_empty());
    }
}
