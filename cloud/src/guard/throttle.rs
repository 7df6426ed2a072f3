//! Sign-in rate limiting: failed attempts per agent name and per client
//! address, with `governor`'s GCRA deciding the rate.
//!
//! Only failures are counted (a team behind one proxy signs in all day from
//! one address), but once a name or an address is over its quota *every*
//! attempt is refused with 429 until governor's next allowed time, the right
//! password included, and without checking it: otherwise a guesser would
//! learn the password from the one answer that is not a 429.

use governor::clock::{Clock, DefaultClock, QuantaInstant, Reference};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Over the limit: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
}

impl Refused {
    /// The `Retry-After` header's value: whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// Failures of one kind of key (names or addresses).
struct Limit<K: Hash + Eq + Clone> {
    failures: DefaultKeyedRateLimiter<K>,
    /// Keys over their quota, until when: governor's verdict, remembered so
    /// the next attempt is refused before its password is checked.
    locked: Mutex<HashMap<K, QuantaInstant>>,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    fn new(per_minute: u32) -> Limit<K> {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Limit {
            failures: RateLimiter::keyed(Quota::per_minute(n)),
            locked: Mutex::new(HashMap::new()),
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<K, QuantaInstant>> {
        self.locked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, key: &K, now: QuantaInstant) -> Result<(), Refused> {
        match self.locked().get(key) {
            Some(until) if *until > now => Err(Refused {
                retry_after: until.duration_since(now).into(),
            }),
            _ => Ok(()),
        }
    }

    fn failed(&self, key: &K, now: QuantaInstant) -> Result<(), Refused> {
        match self.failures.check_key(key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let until = not_until.earliest_possible();
                let mut locked = self.locked();
                // Forget expired lockouts so the map stays as small as the attack.
                locked.retain(|_, u| *u > now);
                locked.insert(key.clone(), until);
                self.failures.retain_recent();
                Err(Refused {
                    retry_after: until.duration_since(now).into(),
                })
            }
        }
    }
}

/// Per-name and per-address failure limits; cheap to clone (shared state).
#[derive(Clone)]
pub struct SignInThrottle {
    names: Arc<Limit<String>>,
    addrs: Arc<Limit<IpAddr>>,
}

impl SignInThrottle {
    pub fn new(failures_per_name: u32, failures_per_address: u32) -> SignInThrottle {
        SignInThrottle {
            names: Arc::new(Limit::new(failures_per_name)),
            addrs: Arc::new(Limit::new(failures_per_address)),
        }
    }

    /// Before checking a password: refused while the name or the address is
    /// over its quota.
    pub fn check(&self, name: &str, addr: IpAddr) -> Result<(), Refused> {
        let now = DefaultClock::default().now();
        let by_name = self.names.check(&name.to_string(), now);
        let by_addr = self.addrs.check(&addr, now);
        longest(by_name, by_addr)
    }

    /// After a wrong password: counts it against both; refused when this
    /// failure went over either quota.
    pub fn failed(&self, name: &str, addr: IpAddr) -> Result<(), Refused> {
        let now = DefaultClock::default().now();
        let by_name = self.names.failed(&name.to_string(), now);
        let by_addr = self.addrs.failed(&addr, now);
        longest(by_name, by_addr)
    }
}

fn longest(a: Result<(), Refused>, b: Result<(), Refused>) -> Result<(), Refused> {
    match (a, b) {
        (Err(x), Err(y)) => Err(if x.retry_after >= y.retry_after { x } else { y }),
        (Err(x), _) | (_, Err(x)) => Err(x),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_name_is_locked_after_its_quota_of_failures() {
        let throttle = SignInThrottle::new(3, 1000);
        for _ in 0..3 {
            assert_eq!(throttle.check("alice", HOME), Ok(()));
            assert_eq!(throttle.failed("alice", HOME), Ok(()));
        }
        let refused = throttle.failed("alice", HOME).unwrap_err();
        assert!(refused.retry_after > Duration::ZERO);
        assert!(refused.retry_after <= Duration::from_secs(20));
        assert!((1..=20).contains(&refused.retry_after_secs()));
        // Locked: from any address, before the password is even checked.
        assert!(throttle.check("alice", AWAY).is_err());
        // Other names are not.
        assert_eq!(throttle.check("bob", HOME), Ok(()));
    }

    #[test]
    fn an_address_is_locked_across_names() {
        let throttle = SignInThrottle::new(1000, 4);
        for name in ["a", "b", "c", "d"] {
            assert_eq!(throttle.failed(name, HOME), Ok(()));
        }
        assert!(throttle.failed("e", HOME).is_err());
        assert!(throttle.check("f", HOME).is_err());
        assert_eq!(throttle.check("f", AWAY), Ok(()));
    }
}
