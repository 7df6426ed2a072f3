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
//!   it learns that it lost the lease (on shutdown it gives the lease up
//!   instead, and lets its POSTs finish before releasing it);
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
//! what it finds unsettled and left alone ([`Hands`]): listed, and not in
//! this term's hands, in two listings in a row, and not taken or let go by
//! this term since the first of them began. A listing is a snapshot that may
//! be stale by the time it is read (the outbox index is eventually
//! consistent, and a send may settle a reply while the listing is read), so
//! a reply settled a moment ago can still be listed: without that rule it
//! would be sent again. And a reply can be in the outbox before the store
//! announces it (the append is visible before it returns): picked up from a
//! listing, its announcement is ignored.

use std::collections::{HashMap, HashSet};
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

/// Which replies this term has in hand, and which it touched lately, to
/// tell a stranded reply from one being (or just) sent (see the module docs).
#[derive(Debug)]
pub struct Hands<P> {
    /// Being sent or checked now.
    in_hand: HashSet<P>,
    /// The listing generation in which each was last taken or let go.
    touched: HashMap<P, u64>,
    /// Listings begun so far.
    listing: u64,
    /// What the last listing showed that was not in hand then.
    idle_last: HashSet<P>,
}

impl<P> Default for Hands<P> {
    fn default() -> Self {
        Hands {
            in_hand: HashSet::new(),
            touched: HashMap::new(),
            listing: 0,
            idle_last: HashSet::new(),
        }
    }
}

impl<P: Eq + Hash + Clone> Hands<P> {
    /// Takes a reply in hand; `false` if it already was.
    pub fn take(&mut self, p: &P) -> bool {
        self.touched.insert(p.clone(), self.listing);
        self.in_hand.insert(p.clone())
    }

    /// Lets go of a reply (its send returned, whatever came of it).
    pub fn release(&mut self, p: &P) {
        self.in_hand.remove(p);
        self.touched.insert(p.clone(), self.listing);
    }

    /// A listing of the outbox is about to be read.
    pub fn listing_started(&mut self) {
        self.listing += 1;
    }

    /// The listing begun last showed `current` (unsettled replies): returns
    /// the stranded ones, to take in hand.
    pub fn listed(&mut self, current: &[P]) -> Vec<P> {
        // The generation in which the previous listing began.
        let since = self.listing.saturating_sub(1);
        let stranded = current
            .iter()
            .filter(|p| {
                self.idle_last.contains(*p)
                    && !self.in_hand.contains(*p)
                    && self.touched.get(*p).is_none_or(|g| *g < since)
            })
            .cloned()
            .collect();
        self.idle_last = current
            .iter()
            .filter(|p| !self.in_hand.contains(*p))
            .cloned()
            .collect();
        self.touched.retain(|_, g| *g >= since);
        stranded
    }
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

    /// Lists `current` as the next listing (begun and read at once).
    fn list(hands: &mut Hands<u32>, current: &[u32]) -> Vec<u32> {
        hands.listing_started();
        hands.listed(current)
    }

    #[test]
    fn a_reply_left_alone_through_two_listings_is_stranded() {
        let mut hands = Hands::default();
        assert!(list(&mut hands, &[1]).is_empty(), "the first sighting");
        assert_eq!(list(&mut hands, &[1]), vec![1]);
    }

    #[test]
    fn a_reply_in_hand_is_not_stranded() {
        let mut hands = Hands::default();
        assert!(hands.take(&1));
        assert!(!hands.take(&1), "already in hand");
        assert!(list(&mut hands, &[1]).is_empty());
        assert!(list(&mut hands, &[1]).is_empty());
    }

    #[test]
    fn a_reply_settled_while_a_listing_was_read_is_not_sent_again() {
        let mut hands = Hands::default();
        // Listed before its announcement came (the store's append was
        // visible before it returned): idle in the first listing.
        assert!(list(&mut hands, &[1]).is_empty());
        // Announced, sent and settled while the next listing was read; the
        // listing still shows it.
        hands.listing_started();
        assert!(hands.take(&1));
        hands.release(&1);
        assert!(hands.listed(&[1]).is_empty());
        // A later listing that (wrongly) still shows it, once more.
        assert!(list(&mut hands, &[1]).is_empty());
    }

    #[test]
    fn a_reply_its_send_gave_up_on_is_picked_up_after_two_quiet_listings() {
        let mut hands = Hands::default();
        assert!(hands.take(&1));
        // Its send gave up on a store write while a listing was read.
        hands.listing_started();
        hands.release(&1);
        assert!(hands.listed(&[1]).is_empty(), "first sighting");
        assert!(
            list(&mut hands, &[1]).is_empty(),
            "let go since the first began"
        );
        assert_eq!(list(&mut hands, &[1]), vec![1]);
    }

    #[test]
    fn a_reply_gone_from_a_listing_starts_over() {
        let mut hands = Hands::default();
        assert!(list(&mut hands, &[1, 2]).is_empty());
        assert_eq!(list(&mut hands, &[2, 3]), vec![2]);
        assert!(
            list(&mut hands, &[1]).is_empty(),
            "1 was not in the last one"
        );
    }
}
