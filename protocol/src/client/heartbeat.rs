//! Liveness of an agent link: ping the switchboard every so often, and give
//! the link up when nothing (not even a pong) has come back for a while. A
//! half-open TCP connection otherwise looks alive forever.

use crate::ClientFrame;
use std::time::Duration;
use tokio::time::Instant;

/// Silence for this many ping intervals ends the link.
const SILENT_PINGS: u32 = 3;

/// When to ping and when to give up; the caller reports traffic with
/// [`Heartbeat::heard`] and asks [`Heartbeat::check`] on a timer.
#[derive(Debug)]
pub struct Heartbeat {
    /// Ping interval.
    every: Duration,
    /// Last time anything arrived from the switchboard.
    last_heard: Instant,
    /// Last ping sent.
    last_ping: Instant,
    /// Nonce of the last ping (the switchboard echoes it in `pong`).
    nonce: u64,
}

/// What [`Heartbeat::check`] says to do.
#[derive(Debug, PartialEq)]
pub enum Beat {
    /// Nothing for now.
    Quiet,
    /// Send this ping.
    Ping(ClientFrame),
    /// Nothing heard for this long: the link is dead; close it and reconnect.
    Silent(Duration),
}

impl Heartbeat {
    /// A heartbeat for a link that has just come up.
    pub fn new(every: Duration) -> Self {
        let now = Instant::now();
        Heartbeat {
            every,
            last_heard: now,
            last_ping: now,
            nonce: 0,
        }
    }

    /// Starts over for a new link (keeps the nonce counting).
    pub fn restart(&mut self) {
        self.last_heard = Instant::now();
        self.last_ping = self.last_heard;
    }

    /// Something arrived from the switchboard.
    pub fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// Whether to ping, give up, or do nothing now.
    pub fn check(&mut self) -> Beat {
        let silence = self.every * SILENT_PINGS;
        if self.last_heard.elapsed() > silence {
            Beat::Silent(silence)
        } else if self.last_ping.elapsed() >= self.every {
            self.nonce += 1;
            self.last_ping = Instant::now();
            Beat::Ping(ClientFrame::Ping {
                nonce: Some(self.nonce),
            })
        } else {
            Beat::Quiet
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pings_when_due_and_gives_up_after_silence() {
        let every = Duration::from_secs(10);
        let mut heartbeat = Heartbeat::new(every);
        assert_eq!(heartbeat.check(), Beat::Quiet);
        tokio::time::advance(every).await;
        assert_eq!(
            heartbeat.check(),
            Beat::Ping(ClientFrame::Ping { nonce: Some(1) })
        );
        assert_eq!(heartbeat.check(), Beat::Quiet);
        // A pong (any traffic) keeps it alive.
        heartbeat.heard();
        tokio::time::advance(every * 3).await;
        assert!(matches!(heartbeat.check(), Beat::Ping(_)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(heartbeat.check(), Beat::Silent(every * 3));
    }
}
