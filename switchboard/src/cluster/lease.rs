//! The router lease as a pure state machine: who leads, and what to ask
//! DynamoDB next. No I/O and no clock of its own — every input carries the
//! `Instant` it happened at — so each rule is unit-tested in milliseconds.
//! The I/O is `dynamo_lease.rs`; the driver loop is `mod.rs`.
//!
//! The lease is one item (`fence::LEASE_ID` in the `meta` table) holding the
//! holder's instance id, an epoch (+1 each time the lease changes hands) and
//! a heartbeat counter `beat` (+1 on every renewal). This is the pattern of
//! AWS's KCL lease table and DynamoDB lock client: no clocks are compared
//! across machines; each side measures time on its own monotonic clock.
//!
//! * **Leader.** Renews every `timeout / 3` with a write conditioned on
//!   (holder = me, epoch = mine). It believes it leads only until the start
//!   of its last successful renewal (or take) + `timeout − margin`, and steps
//!   down if it cannot renew by then, or at once when a fenced write was
//!   refused (`FenceCell::refusals`), or when its renewal finds the lease
//!   taken.
//! * **Contender.** Reads the item every `timeout / 5` (at most every
//!   second). It takes the lease
//!   at once when the item is absent or released (no holder), or when the
//!   same (holder, epoch, beat) has been seen for a whole `timeout` on its
//!   own clock, counted from the end of the read that first saw it (the
//!   renewal that wrote it started before that). The take is a write
//!   conditioned on exactly the item observed, with epoch + 1: if the
//!   leader renewed meanwhile, the take fails and nothing changed hands.
//!   So a successful take happens at least `timeout` after the leader's
//!   last renewal started, when the leader has stopped believing it leads
//!   `margin` earlier (the margin absorbs clock-rate differences).
//! * **Restart.** An instance that starts and finds the lease held under its
//!   own id (a restart of the same dyno, `INSTANCE_ID` or Heroku's `DYNO`
//!   being stable) takes it at once, with epoch + 1, instead of waiting out
//!   its dead incarnation's timeout: the epoch fences that incarnation's
//!   writes should it still be alive. Only on its first reads — a leader
//!   that stepped down waits like anyone.
//! * **Release.** On SIGTERM the leader releases at once (removes the
//!   holder, conditioned on holder and epoch), so a contender takes over
//!   without waiting for the timeout. A leader that stepped down because
//!   its lease ran out also releases (conditionally: if the item moved on,
//!   nothing happens), in case its last renewal landed after all.

use crate::store::fence::Fence;
use std::time::{Duration, Instant};

/// The lease item as read from DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The instance holding the lease; `None` once released.
    pub holder: Option<String>,
    /// Bumped on each change of hands.
    pub epoch: u64,
    /// Bumped on each renewal (and each take).
    pub beat: u64,
}

/// The lease's timings.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long an unchanged heartbeat must be seen before a contender takes
    /// the lease (`LEASE_SECS`).
    pub timeout: Duration,
    /// How much earlier than that the leader stops believing it leads.
    pub margin: Duration,
}

impl Timing {
    /// `LEASE_SECS`, with a margin of a fifth of it.
    pub fn from_timeout(timeout: Duration) -> Self {
        Timing {
            timeout,
            margin: timeout / 5,
        }
    }

    /// Between two renewals of a leader.
    pub fn renew_every(&self) -> Duration {
        self.timeout / 3
    }

    /// Between two reads of a contender: often enough to see a released
    /// lease soon even when the timeout is long (a read of one item a
    /// second is cheap), and a fifth of the timeout at most.
    pub fn read_every(&self) -> Duration {
        (self.timeout / 5).min(Duration::from_secs(1))
    }

    /// Wait before retrying a renewal that failed (not refused).
    fn renew_retry(&self) -> Duration {
        self.timeout / 10
    }
}

/// One DynamoDB call the lease wants made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Read the item (consistent read).
    Read,
    /// Take the lease: write (me, `epoch`, `seen.beat + 1`) if the item is
    /// still exactly `seen` (`None`: still absent).
    Take { seen: Option<Item>, epoch: u64 },
    /// Renew: set `beat` if the item still names me at `epoch`.
    Renew { epoch: u64, beat: u64 },
    /// Release: remove the holder if the item still names me at `epoch`.
    Release { epoch: u64 },
}

/// What a conditional call came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written.
    Done,
    /// The condition did not hold: the item is not what we thought.
    Conflict,
    /// No answer, or an error: we do not know whether it was written.
    Failed,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Make this call now and report its outcome.
    Call(Call),
    /// Nothing to do until then (or until a refusal, or shutdown).
    Wait(Instant),
}

/// A change of role the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// This instance now leads under this fence.
    Gained(Fence),
    /// This instance no longer leads.
    Lost(LostBecause),
}

/// Why leadership ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostBecause {
    /// No renewal succeeded in time (on our own clock).
    Expired,
    /// A renewal found the lease held by someone else.
    Taken,
    /// DynamoDB refused a fenced write: the lease moved on.
    Refused,
    /// We gave it up (shutdown).
    Resigned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Contender {
        /// The item last read and since when (our clock) it has been the
        /// same; `None` until the first successful read.
        seen: Option<Seen>,
        /// When to read it again.
        next_read: Instant,
        /// An epoch of ours to release first (after stepping down).
        release: Option<u64>,
    },
    Leader {
        epoch: u64,
        /// The beat we last wrote.
        beat: u64,
        /// We stop believing we lead at this instant.
        valid_until: Instant,
        next_renew: Instant,
    },
    /// Resigned for good (shutdown): no more calls but a release.
    Done { release: Option<u64> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    item: Option<Item>,
    since: Instant,
}

/// One instance's view of the lease.
#[derive(Debug)]
pub struct Lease {
    me: String,
    timing: Timing,
    state: State,
    /// Not led yet in this process: a lease found under our own id was our
    /// previous incarnation's (see the module docs, "Restart").
    fresh: bool,
}

impl Lease {
    /// A contender that has read nothing yet.
    pub fn new(me: String, timing: Timing, now: Instant) -> Self {
        Lease {
            me,
            timing,
            state: State::Contender {
                seen: None,
                next_read: now,
                release: None,
            },
            fresh: true,
        }
    }

    /// This instance's id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The fence while leading.
    pub fn fence(&self) -> Option<Fence> {
        match &self.state {
            State::Leader { epoch, .. } => Some(Fence {
                holder: self.me.clone(),
                epoch: *epoch,
            }),
            _ => None,
        }
    }

    /// While leading: the instant it stops believing so. The caller races
    /// every call against it, so a hanging renewal cannot stretch it.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Leader { valid_until, .. } => Some(*valid_until),
            _ => None,
        }
    }

    /// Time-driven steps (the lease running out), then what to do next.
    pub fn poll(&mut self, now: Instant) -> (Option<Change>, Next) {
        let change = match &self.state {
            State::Leader {
                epoch, valid_until, ..
            } if now >= *valid_until => {
                let epoch = *epoch;
                Some(self.step_down(now, LostBecause::Expired, Some(epoch)))
            }
            _ => None,
        };
        (change, self.next(now))
    }

    fn next(&self, now: Instant) -> Next {
        match &self.state {
            State::Done {
                release: Some(epoch),
            }
            | State::Contender {
                release: Some(epoch),
                ..
            } => Next::Call(Call::Release { epoch: *epoch }),
            State::Done { release: None } => Next::Wait(now + self.timing.timeout),
            State::Contender {
                seen, next_read, ..
            } => {
                if let Some(seen) = seen {
                    let free = match &seen.item {
                        None => true,
                        Some(item) => {
                            item.holder.is_none()
                                || (self.fresh && item.holder.as_deref() == Some(&self.me))
                        }
                    };
                    let stale_at = seen.since + self.timing.timeout;
                    if free || now >= stale_at {
                        let epoch = seen.item.as_ref().map_or(0, |i| i.epoch) + 1;
                        return Next::Call(Call::Take {
                            seen: seen.item.clone(),
                            epoch,
                        });
                    }
                    if now >= *next_read {
                        return Next::Call(Call::Read);
                    }
                    return Next::Wait((*next_read).min(stale_at));
                }
                if now >= *next_read {
                    Next::Call(Call::Read)
                } else {
                    Next::Wait(*next_read)
                }
            }
            State::Leader {
                epoch,
                beat,
                valid_until,
                next_renew,
            } => {
                if now >= *next_renew {
                    Next::Call(Call::Renew {
                        epoch: *epoch,
                        beat: beat + 1,
                    })
                } else {
                    Next::Wait((*next_renew).min(*valid_until))
                }
            }
        }
    }

    /// A [`Call::Read`] answered (`Err`: it failed) at `now`.
    pub fn read(&mut self, now: Instant, answer: Result<Option<Item>, ()>) {
        let read_every = self.timing.read_every();
        if let State::Contender {
            seen, next_read, ..
        } = &mut self.state
        {
            *next_read = now + read_every;
            if let Ok(item) = answer {
                let unchanged = seen.as_ref().is_some_and(|s| s.item == item);
                if !unchanged {
                    *seen = Some(Seen { item, since: now });
                }
            }
        }
    }

    /// A [`Call::Take`] that started at `started` answered at `now`.
    pub fn took(&mut self, started: Instant, now: Instant, outcome: Outcome) -> Option<Change> {
        let State::Contender {
            seen, next_read, ..
        } = &mut self.state
        else {
            return None;
        };
        match outcome {
            Outcome::Done => {
                self.fresh = false;
                let observed = seen.as_ref().and_then(|s| s.item.clone());
                let epoch = observed.as_ref().map_or(0, |i| i.epoch) + 1;
                let beat = observed.as_ref().map_or(0, |i| i.beat) + 1;
                self.state = State::Leader {
                    epoch,
                    beat,
                    valid_until: started + self.timing.timeout - self.timing.margin,
                    next_renew: started + self.timing.renew_every(),
                };
                Some(Change::Gained(Fence {
                    holder: self.me.clone(),
                    epoch,
                }))
            }
            // Someone else moved first: read again now.
            Outcome::Conflict => {
                *seen = None;
                *next_read = now;
                None
            }
            // Unknown: if it landed, the item names us and we see it on the
            // next read like anyone's lease (and take it after a timeout).
            Outcome::Failed => {
                *seen = None;
                *next_read = now + self.timing.read_every();
                None
            }
        }
    }

    /// A [`Call::Renew`] that started at `started` answered at `now`.
    pub fn renewed(&mut self, started: Instant, now: Instant, outcome: Outcome) -> Option<Change> {
        let timing = self.timing;
        let State::Leader {
            beat,
            valid_until,
            next_renew,
            ..
        } = &mut self.state
        else {
            return None;
        };
        match outcome {
            Outcome::Done => {
                *beat += 1;
                *valid_until = (*valid_until).max(started + timing.timeout - timing.margin);
                *next_renew = started + timing.renew_every();
                None
            }
            Outcome::Conflict => Some(self.step_down(now, LostBecause::Taken, None)),
            Outcome::Failed => {
                *next_renew = now + timing.renew_retry();
                None
            }
        }
    }

    /// A [`Call::Release`] answered; whatever it came to, it is not retried
    /// (the item names us no longer, or it runs out by itself).
    pub fn released(&mut self, now: Instant) {
        match &mut self.state {
            State::Contender {
                release, next_read, ..
            } => {
                *release = None;
                *next_read = now;
            }
            State::Done { release } => *release = None,
            State::Leader { .. } => {}
        }
    }

    /// A fenced write was refused: the lease moved on; step down at once.
    pub fn refused(&mut self, now: Instant) -> Option<Change> {
        match self.state {
            State::Leader { .. } => Some(self.step_down(now, LostBecause::Refused, None)),
            _ => None,
        }
    }

    /// Shutdown: give the lease up for good. Returns the change if this
    /// instance was leading; [`Lease::poll`] then asks for the release.
    pub fn resign(&mut self) -> Option<Change> {
        let (change, release) = match &self.state {
            State::Leader { epoch, .. } => {
                (Some(Change::Lost(LostBecause::Resigned)), Some(*epoch))
            }
            State::Contender { release, .. } => (None, *release),
            State::Done { release } => (None, *release),
        };
        self.state = State::Done { release };
        change
    }

    fn step_down(&mut self, now: Instant, why: LostBecause, release: Option<u64>) -> Change {
        self.fresh = false;
        self.state = State::Contender {
            seen: None,
            next_read: now,
            release,
        };
        Change::Lost(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(3000);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn lease(me: &str, t0: Instant) -> Lease {
        Lease::new(me.into(), Timing::from_timeout(T), t0)
    }

    fn held(holder: &str, epoch: u64, beat: u64) -> Option<Item> {
        Some(Item {
            holder: Some(holder.into()),
            epoch,
            beat,
        })
    }

    /// Drives a contender to leadership over an absent item at `t0`.
    fn leader(me: &str, t0: Instant) -> Lease {
        let mut l = lease(me, t0);
        assert_eq!(l.poll(t0), (None, Next::Call(Call::Read)));
        l.read(t0, Ok(None));
        assert_eq!(
            l.poll(t0).1,
            Next::Call(Call::Take {
                seen: None,
                epoch: 1
            })
        );
        let change = l.took(t0, t0 + ms(10), Outcome::Done);
        assert_eq!(
            change,
            Some(Change::Gained(Fence {
                holder: me.into(),
                epoch: 1
            }))
        );
        l
    }

    #[test]
    fn a_restarted_instance_takes_the_lease_its_dead_incarnation_held_at_once() {
        let t0 = Instant::now();
        let mut l = lease("web.1", t0);
        l.poll(t0);
        l.read(t0, Ok(held("web.1", 4, 17)));
        assert_eq!(
            l.poll(t0).1,
            Next::Call(Call::Take {
                seen: held("web.1", 4, 17),
                epoch: 5
            }),
            "no timeout to wait out: the holder was this instance before it restarted"
        );
        // Another instance's lease is waited out as ever.
        let mut other = lease("web.2", t0);
        other.poll(t0);
        other.read(t0, Ok(held("web.1", 4, 17)));
        assert!(matches!(other.poll(t0 + ms(10)).1, Next::Wait(_)));
    }

    #[test]
    fn a_leader_that_stepped_down_does_not_retake_its_own_lease_at_once() {
        let t0 = Instant::now();
        let mut l = leader("web.1", t0);
        assert!(l.refused(t0 + ms(100)).is_some());
        l.poll(t0 + ms(100));
        l.read(t0 + ms(110), Ok(held("web.1", 1, 1)));
        assert!(
            matches!(l.poll(t0 + ms(120)).1, Next::Wait(_)),
            "it waits for the timeout like any contender"
        );
    }

    #[test]
    fn an_absent_item_is_taken_at_once_with_epoch_one() {
        let t0 = Instant::now();
        let l = leader("a", t0);
        assert_eq!(l.fence().map(|f| f.epoch), Some(1));
        // Valid for timeout − margin from the start of the take.
        assert_eq!(l.deadline(), Some(t0 + ms(2400)));
    }

    #[test]
    fn a_released_item_is_taken_at_once_on_what_was_seen() {
        let t0 = Instant::now();
        let mut l = lease("b", t0);
        let released = Some(Item {
            holder: None,
            epoch: 4,
            beat: 17,
        });
        l.read(t0, Ok(released.clone()));
        assert_eq!(
            l.poll(t0).1,
            Next::Call(Call::Take {
                seen: released,
                epoch: 5
            })
        );
        let change = l.took(t0, t0, Outcome::Done);
        assert!(matches!(
            change,
            Some(Change::Gained(Fence { epoch: 5, .. }))
        ));
    }

    #[test]
    fn a_live_leader_is_never_taken_over() {
        let t0 = Instant::now();
        let mut l = lease("b", t0);
        let mut now = t0;
        // The leader's beat moves between every two reads: no take, ever.
        for beat in 1..=50 {
            l.read(now, Ok(held("a", 1, beat)));
            match l.poll(now).1 {
                Next::Wait(until) => now = until,
                Next::Call(Call::Read) => {}
                other => panic!("a contender must only read a live lease, got {other:?}"),
            }
        }
        assert_eq!(l.fence(), None);
    }

    #[test]
    fn a_stale_beat_is_taken_after_a_whole_timeout_on_our_clock() {
        let t0 = Instant::now();
        let mut l = lease("b", t0);
        l.read(t0 + ms(5), Ok(held("a", 3, 9)));
        // Re-reads see the same item: the clock keeps counting from the first.
        l.read(t0 + ms(1200), Ok(held("a", 3, 9)));
        assert_eq!(l.poll(t0 + ms(3004)).1, Next::Call(Call::Read));
        assert_eq!(
            l.poll(t0 + ms(3005)).1,
            Next::Call(Call::Take {
                seen: held("a", 3, 9),
                epoch: 4
            })
        );
        // The wait before that ends at the stale instant, not later.
        let mut fresh = lease("b", t0);
        fresh.read(t0, Ok(held("a", 3, 9)));
        fresh.read(t0 + ms(2400), Ok(held("a", 3, 9)));
        assert_eq!(fresh.poll(t0 + ms(2700)).1, Next::Wait(t0 + ms(3000)));
    }

    #[test]
    fn a_take_that_conflicts_reads_again_and_starts_counting_anew() {
        let t0 = Instant::now();
        let mut l = lease("b", t0);
        l.read(t0, Ok(held("a", 3, 9)));
        let at = t0 + ms(3000);
        assert!(matches!(l.poll(at).1, Next::Call(Call::Take { .. })));
        assert_eq!(l.took(at, at + ms(5), Outcome::Conflict), None);
        assert_eq!(l.poll(at + ms(5)).1, Next::Call(Call::Read));
        l.read(at + ms(6), Ok(held("c", 4, 1)));
        // c just took it: a whole new timeout before anyone may take it.
        assert_eq!(l.poll(at + ms(2700)).1, Next::Call(Call::Read));
        assert_eq!(l.fence(), None);
    }

    #[test]
    fn a_leader_renews_every_third_of_the_timeout_and_stays_valid() {
        let t0 = Instant::now();
        let mut l = leader("a", t0);
        assert_eq!(l.poll(t0 + ms(100)).1, Next::Wait(t0 + ms(1000)));
        let renew = t0 + ms(1000);
        assert_eq!(
            l.poll(renew).1,
            Next::Call(Call::Renew { epoch: 1, beat: 2 })
        );
        assert_eq!(l.renewed(renew, renew + ms(20), Outcome::Done), None);
        // Valid from the renewal's start, not its end.
        assert_eq!(l.deadline(), Some(renew + ms(2400)));
        assert_eq!(
            l.poll(renew + ms(1000)).1,
            Next::Call(Call::Renew { epoch: 1, beat: 3 })
        );
    }

    #[test]
    fn a_leader_that_cannot_renew_steps_down_at_its_deadline_and_releases() {
        let t0 = Instant::now();
        let mut l = leader("a", t0);
        let renew = t0 + ms(1000);
        assert!(matches!(l.poll(renew).1, Next::Call(Call::Renew { .. })));
        assert_eq!(l.renewed(renew, renew + ms(50), Outcome::Failed), None);
        // Retries soon, still leading.
        assert_eq!(l.poll(renew + ms(60)).1, Next::Wait(renew + ms(350)));
        assert!(l.fence().is_some());
        // Still leading a moment before t0 + timeout − margin; not at it.
        assert_eq!(l.poll(t0 + ms(2399)).0, None);
        let (change, next) = l.poll(t0 + ms(2400));
        assert_eq!(change, Some(Change::Lost(LostBecause::Expired)));
        assert_eq!(l.fence(), None);
        assert_eq!(next, Next::Call(Call::Release { epoch: 1 }));
        l.released(t0 + ms(2410));
        assert_eq!(l.poll(t0 + ms(2410)).1, Next::Call(Call::Read));
    }

    #[test]
    fn a_late_renewal_answer_does_not_revive_a_lease_that_ran_out() {
        let t0 = Instant::now();
        let mut l = leader("a", t0);
        let (change, _) = l.poll(t0 + ms(2700));
        assert_eq!(change, Some(Change::Lost(LostBecause::Expired)));
        assert_eq!(l.renewed(t0 + ms(1000), t0 + ms(2701), Outcome::Done), None);
        assert_eq!(l.fence(), None);
    }

    #[test]
    fn a_renewal_that_finds_the_lease_taken_steps_down_without_releasing() {
        let t0 = Instant::now();
        let mut l = leader("a", t0);
        let renew = t0 + ms(1000);
        let change = l.renewed(renew, renew + ms(5), Outcome::Conflict);
        assert_eq!(change, Some(Change::Lost(LostBecause::Taken)));
        assert_eq!(l.poll(renew + ms(5)).1, Next::Call(Call::Read));
    }

    #[test]
    fn a_refused_fenced_write_steps_down_at_once() {
        let t0 = Instant::now();
        let mut l = leader("a", t0);
        assert_eq!(
            l.refused(t0 + ms(50)),
            Some(Change::Lost(LostBecause::Refused))
        );
        assert_eq!(l.fence(), None);
        // A contender ignores refusals.
        assert_eq!(l.refused(t0 + ms(60)), None);
    }

    #[test]
    fn a_stalled_leader_that_wakes_past_its_lease_steps_down_before_anything_else() {
        let t0 = Instant::now();
        let mut l = leader("a", t0);
        // SIGSTOP for 5 timeouts: the first poll after waking says Lost,
        // never "renew" (the renewal would be refused anyway).
        let (change, next) = l.poll(t0 + ms(15000));
        assert_eq!(change, Some(Change::Lost(LostBecause::Expired)));
        assert_eq!(next, Next::Call(Call::Release { epoch: 1 }));
    }

    #[test]
    fn resigning_releases_and_then_does_nothing() {
        let t0 = Instant::now();
        let mut l = leader("a", t0);
        assert_eq!(l.resign(), Some(Change::Lost(LostBecause::Resigned)));
        assert_eq!(l.poll(t0 + ms(1)).1, Next::Call(Call::Release { epoch: 1 }));
        l.released(t0 + ms(2));
        assert!(matches!(l.poll(t0 + ms(2)).1, Next::Wait(_)));
        // A contender that resigns has nothing to release.
        let mut c = lease("b", t0);
        assert_eq!(c.resign(), None);
        assert!(matches!(c.poll(t0).1, Next::Wait(_)));
    }

    #[test]
    fn a_take_that_fails_without_answer_reads_again_later_and_retakes_its_own() {
        let t0 = Instant::now();
        let mut l = lease("b", t0);
        l.read(t0, Ok(None));
        assert_eq!(l.took(t0, t0 + ms(30), Outcome::Failed), None);
        assert_eq!(l.poll(t0 + ms(30)).1, Next::Wait(t0 + ms(630)));
        // If the take landed, the item names us: ours, so taken again at
        // once (epoch + 1) rather than waited out.
        l.read(t0 + ms(630), Ok(held("b", 1, 1)));
        assert_eq!(
            l.poll(t0 + ms(1000)).1,
            Next::Call(Call::Take {
                seen: held("b", 1, 1),
                epoch: 2
            })
        );
        assert_eq!(l.fence(), None);
    }

    #[test]
    fn a_long_lease_is_still_read_every_second_so_a_release_is_seen_soon() {
        let timing = Timing::from_timeout(Duration::from_secs(120));
        assert_eq!(timing.read_every(), Duration::from_secs(1));
        assert_eq!(timing.renew_every(), Duration::from_secs(40));
    }

    #[test]
    fn a_failed_read_keeps_the_observation_and_tries_again() {
        let t0 = Instant::now();
        let mut l = lease("b", t0);
        l.read(t0, Ok(held("a", 1, 1)));
        l.read(t0 + ms(600), Err(()));
        // The stale clock still runs from the last answer.
        assert_eq!(l.poll(t0 + ms(900)).1, Next::Wait(t0 + ms(1200)));
        assert!(matches!(
            l.poll(t0 + ms(3000)).1,
            Next::Call(Call::Take { epoch: 2, .. })
        ));
    }
}
