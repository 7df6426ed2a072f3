//! Signed-in browser sessions and the agent sessions behind them, on this instance.
//!
//! A browser session lives in its cookie (`session_cookie`): any agent-UI instance
//! with the same `SESSION_SECRET` accepts it, and a restart does not sign anyone
//! out. What this registry keeps is per instance and may be lost at any time:
//!
//! * the agent sessions: every session of one agent shares that agent's single
//!   [`AgentHandle`] here (the switchboard keeps one connection per agent and
//!   client, and this instance is one client: its `INSTANCE_ID`, or a random id
//!   per process). Another instance's upstream of the same agent coexists with
//!   this one, and both are sent everything. One is started when the agent's
//!   first tab attaches here ([`Registry::agent_session`]), not at sign-in or on
//!   a page load, so a visit does not open an upstream for nothing;
//! * each session's last activity seen here and its open tabs (an open tab keeps a
//!   session alive: see [`Registry::touch`]);
//! * sessions ended early, with the reason the sign-in page gives: signed out,
//!   signed in elsewhere, password no longer accepted ([`SignedOutWhy`]).
//!
//! A session expires after `SESSION_IDLE_SECS` without a request and without an
//! open tab: both the cookie's own `seen` time and this instance's memory are
//! older than that. Sign-out removes the browser's cookie and revokes the session
//! on this instance, so a copy of the cookie opens nothing here; another instance
//! (or this one after a restart) would accept a copy until it expires — see
//! SECURITY.md for this limit and how to end every session at once.
//!
//! One mutex guards the maps so they never disagree; it is held only for map
//! updates, never across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rand::RngCore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent_session::{self, AgentHandle, Ended, LinkSettings};
use crate::session_cookie::{unix_now, Claims};
use switchboard_protocol::client::{Credentials, Socket as Upstream};

/// Bytes of randomness in a session id (256 bits).
const SESSION_ID_BYTES: usize = 32;

/// Why a session cookie no longer signs its browser in (shown on `/login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedOutWhy {
    /// No request and no open tab for `SESSION_IDLE_SECS`.
    Expired,
    /// The agent signed out (a copy of the cookie is refused here).
    SignedOut,
    /// Another connection from this instance's client id took this agent's
    /// switchboard connection while a tab was open (two instances sharing one
    /// `INSTANCE_ID`, or an older client without ids).
    Elsewhere,
    /// The switchboard refused the password the session was signed in with.
    PasswordRejected,
    /// The cookie was sealed with another key.
    Unreadable {
        /// This instance has no `SESSION_SECRET` (its key is new at every start).
        ephemeral_key: bool,
    },
}

impl SignedOutWhy {
    /// The sentence the sign-in page shows.
    pub fn explain(self) -> &'static str {
        match self {
            SignedOutWhy::Expired => "your session expired after inactivity; please sign in again",
            SignedOutWhy::SignedOut => "you signed out",
            SignedOutWhy::Elsewhere => {
                "this agent signed in elsewhere; sign in again to take over here"
            }
            SignedOutWhy::PasswordRejected => {
                "the switchboard no longer accepts your password; sign in again"
            }
            SignedOutWhy::Unreadable {
                ephemeral_key: true,
            } => "the agent UI restarted without SESSION_SECRET, which signs everyone out; please sign in again",
            SignedOutWhy::Unreadable {
                ephemeral_key: false,
            } => "your session is not valid any more (the agent UI's SESSION_SECRET changed); please sign in again",
        }
    }
}

/// What a valid session cookie leads to.
#[derive(Clone)]
pub struct SignedIn {
    pub session_id: String,
    pub agent: String,
    /// For the upstream socket, if this instance has to open one, and the
    /// switchboard's history API (`http/history.rs`).
    password: String,
    /// This agent's session on this instance, if it has one now.
    pub handle: Option<AgentHandle>,
    /// Cancelled when this session signs out or the agent session ends.
    pub ended: CancellationToken,
}

impl SignedIn {
    /// The password the agent signed in with (sealed in their cookie): the
    /// console's calls to the switchboard's history are made with it.
    pub fn password(&self) -> &str {
        &self.password
    }
}

struct Session {
    agent: String,
    ended: CancellationToken,
    /// The last request or open-tab heartbeat of this session seen here.
    last_seen: Instant,
    /// Browser sockets of this session open here.
    tabs: usize,
}

struct Agent {
    handle: AgentHandle,
    /// Tells this agent session apart from a later one of the same agent.
    generation: u64,
}

#[derive(Default)]
struct Maps {
    sessions: HashMap<String, Session>,
    agents: HashMap<String, Agent>,
    /// Sessions ended here before their cookie expires, and when.
    revoked: HashMap<String, (SignedOutWhy, Instant)>,
    next_generation: u64,
}

pub struct Registry {
    maps: Mutex<Maps>,
    switchboard_url: String,
    settings: LinkSettings,
    /// Inactivity after which a session expires.
    idle_expiry: Duration,
    /// This instance's client id towards the switchboard (`hello.client`).
    instance: String,
    /// Parent of every session's token: cancelled at shutdown.
    shutdown: CancellationToken,
    /// The agent session tasks, awaited at shutdown.
    tasks: TaskTracker,
    me: Weak<Registry>,
}

impl Registry {
    pub fn new(
        switchboard_url: String,
        settings: LinkSettings,
        idle_expiry: Duration,
        instance: String,
    ) -> Arc<Registry> {
        Arc::new_cyclic(|me| Registry {
            maps: Mutex::new(Maps::default()),
            switchboard_url,
            settings,
            idle_expiry,
            instance,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            me: me.clone(),
        })
    }

    pub fn switchboard_url(&self) -> &str {
        &self.switchboard_url
    }

    /// Inactivity after which a session expires (`SESSION_IDLE_SECS`).
    pub fn idle_expiry(&self) -> Duration {
        self.idle_expiry
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding the lock leaves plain maps behind, still usable.
        self.maps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a session for an agent whose credentials the switchboard just accepted
    /// on `probe`, and returns what its cookie carries. The probe is closed before
    /// saying hello, so a live session of the agent is not disturbed: the agent's
    /// upstream is opened by the instance its console attaches to.
    pub fn sign_in(&self, name: &str, password: &str, mut probe: Upstream) -> Claims {
        let session_id = new_session_id();
        {
            let mut maps = self.maps();
            // Sign-ins are rare: a good moment to forget sessions that expired
            // unseen (their agent sessions close by themselves when idle) and
            // revocations of cookies that have expired by now anyway.
            let idle = self.idle_expiry;
            maps.sessions.retain(|_, s| {
                let live = s.tabs > 0 || s.last_seen.elapsed() <= idle;
                if !live {
                    s.ended.cancel();
                }
                live
            });
            maps.revoked
                .retain(|_, (_, when)| when.elapsed() <= idle + Duration::from_secs(60));
            if let Some(agent) = maps.agents.get(name) {
                agent.handle.update_password(password.to_string());
            }
            maps.sessions.insert(
                session_id.clone(),
                Session {
                    agent: name.to_string(),
                    ended: self.shutdown.child_token(),
                    last_seen: Instant::now(),
                    tabs: 0,
                },
            );
        }
        tokio::spawn(async move {
            let _ = probe.close(None).await;
        });
        tracing::info!(agent = name, "signed in");
        Claims {
            sid: session_id,
            agent: name.to_string(),
            password: password.to_string(),
            seen: unix_now(),
        }
    }

    /// The session of a genuine cookie, unless it expired or ended here; counts as
    /// activity.
    pub fn session(&self, claims: &Claims) -> Result<SignedIn, SignedOutWhy> {
        let mut maps = self.maps();
        if let Some((why, _)) = maps.revoked.get(&claims.sid) {
            return Err(*why);
        }
        let cookie_age = Duration::from_secs(unix_now().saturating_sub(claims.seen));
        let here = maps.sessions.get(&claims.sid);
        let idle = match here {
            Some(s) if s.tabs > 0 => Duration::ZERO,
            Some(s) => s.last_seen.elapsed().min(cookie_age),
            None => cookie_age,
        };
        if idle > self.idle_expiry {
            if let Some(session) = maps.sessions.remove(&claims.sid) {
                session.ended.cancel();
                tracing::info!(agent = %claims.agent, "session expired after inactivity");
            }
            return Err(SignedOutWhy::Expired);
        }
        let shutdown = &self.shutdown;
        let session = maps
            .sessions
            .entry(claims.sid.clone())
            .or_insert_with(|| Session {
                agent: claims.agent.clone(),
                ended: shutdown.child_token(),
                last_seen: Instant::now(),
                tabs: 0,
            });
        session.last_seen = Instant::now();
        let ended = session.ended.clone();
        let handle = maps.agents.get(&claims.agent).map(|a| a.handle.clone());
        Ok(SignedIn {
            session_id: claims.sid.clone(),
            agent: claims.agent.clone(),
            password: claims.password.clone(),
            handle,
            ended,
        })
    }

    /// The agent's session on this instance, started (it connects upstream by
    /// itself) if there is none yet; true when it was started by this call.
    pub fn agent_session(&self, session: &SignedIn) -> (AgentHandle, bool) {
        let mut maps = self.maps();
        if let Some(agent) = maps.agents.get(&session.agent) {
            return (agent.handle.clone(), false);
        }
        maps.next_generation += 1;
        let generation = maps.next_generation;
        let credentials = Credentials {
            url: self.switchboard_url.clone(),
            name: session.agent.clone(),
            password: session.password.clone(),
        };
        let (handle, join) =
            agent_session::spawn(credentials, self.instance.clone(), self.settings, None);
        maps.agents.insert(
            session.agent.clone(),
            Agent {
                handle: handle.clone(),
                generation,
            },
        );
        let me = self.me.clone();
        let name = session.agent.clone();
        self.tasks.spawn(async move {
            let ended = join.await.unwrap_or_else(|e| {
                tracing::error!(agent = %name, error = %e, "agent session task failed");
                Ended::Closed
            });
            if let Some(registry) = me.upgrade() {
                registry.agent_ended(&name, generation, ended);
            }
        });
        (handle, true)
    }

    /// Counts an open browser socket of a session until the guard is dropped.
    pub fn open_tab(&self, session_id: &str) -> TabGuard {
        if let Some(session) = self.maps().sessions.get_mut(session_id) {
            session.tabs += 1;
        }
        TabGuard {
            registry: self.me.clone(),
            session_id: session_id.to_string(),
        }
    }

    /// An open tab's heartbeat: its session stays alive while it is open.
    pub fn touch(&self, session_id: &str) {
        if let Some(session) = self.maps().sessions.get_mut(session_id) {
            session.last_seen = Instant::now();
        }
    }

    /// Ends a session here (a copy of its cookie is refused by this instance);
    /// the agent's upstream closes when it was the agent's last session here.
    pub async fn sign_out(&self, session_id: &str) {
        let last = {
            let mut maps = self.maps();
            maps.revoked.insert(
                session_id.to_string(),
                (SignedOutWhy::SignedOut, Instant::now()),
            );
            let Some(session) = maps.sessions.remove(session_id) else {
                return;
            };
            session.ended.cancel();
            tracing::info!(agent = %session.agent, "signed out");
            let others = maps.sessions.values().any(|s| s.agent == session.agent);
            if others {
                None
            } else {
                maps.agents.remove(&session.agent).map(|a| a.handle)
            }
        };
        if let Some(handle) = last {
            handle.close().await;
        }
    }

    /// An agent session ended by itself: its browser sessions here end too. Those
    /// with a tab open here when another client took the agent over, and all of
    /// them when the password was refused, are revoked with the reason; the others
    /// start a new agent session when a tab attaches again.
    fn agent_ended(&self, name: &str, generation: u64, why: Ended) {
        let mut maps = self.maps();
        if maps.agents.get(name).map(|a| a.generation) == Some(generation) {
            maps.agents.remove(name);
        }
        if maps.agents.contains_key(name) {
            // A newer session of this agent owns the browser sessions now.
            return;
        }
        let mut ended = Vec::new();
        maps.sessions.retain(|sid, s| {
            let keep = s.agent != name;
            if !keep {
                s.ended.cancel();
                let revoke = match why {
                    Ended::Closed => None,
                    Ended::Superseded => (s.tabs > 0).then_some(SignedOutWhy::Elsewhere),
                    Ended::CredentialsRejected => Some(SignedOutWhy::PasswordRejected),
                };
                if let Some(why) = revoke {
                    ended.push((sid.clone(), why));
                }
            }
            keep
        });
        for (sid, why) in ended {
            maps.revoked.insert(sid, (why, Instant::now()));
        }
        if why != Ended::Closed {
            tracing::info!(
                agent = name,
                ?why,
                "agent session ended; its consoles here were signed out"
            );
        }
    }

    /// Counts a browser socket as in-flight work that shutdown waits for.
    pub fn track(&self) -> tokio_util::task::task_tracker::TaskTrackerToken {
        self.tasks.token()
    }

    /// The token cancelled at shutdown (browser sockets watch it).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Closes every tab and every upstream cleanly. The sessions themselves live
    /// on in their cookies.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let handles: Vec<AgentHandle> = {
            let mut maps = self.maps();
            maps.sessions.clear();
            maps.agents.drain().map(|(_, a)| a.handle).collect()
        };
        for handle in handles {
            handle.close().await;
        }
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// An open browser socket of a session (see [`Registry::open_tab`]).
pub struct TabGuard {
    registry: Weak<Registry>,
    session_id: String,
}

impl Drop for TabGuard {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            if let Some(session) = registry.maps().sessions.get_mut(&self.session_id) {
                session.tabs = session.tabs.saturating_sub(1);
                // Closing the tab is activity too: idle time counts from now.
                session.last_seen = Instant::now();
            }
        }
    }
}

/// A random client id for this process (`INSTANCE_ID` unset).
pub fn new_instance_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("agent-ui-{hex}")
}

fn new_session_id() -> String {
    let mut bytes = [0u8; SESSION_ID_BYTES];
    // ThreadRng is a CSPRNG seeded from the OS.
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_long_and_distinct() {
        let a = new_session_id();
        let b = new_session_id();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    fn registry(idle_secs: u64) -> Arc<Registry> {
        Registry::new(
            "ws://127.0.0.1:9/v1/agent".into(),
            LinkSettings {
                ping_every: Duration::from_secs(20),
                idle_after: None,
            },
            Duration::from_secs(idle_secs),
            "test-instance".into(),
        )
    }

    fn claims(seen: u64) -> Claims {
        Claims {
            sid: new_session_id(),
            agent: "alice".into(),
            password: "pw".into(),
            seen,
        }
    }

    #[tokio::test]
    async fn a_cookie_from_another_instance_is_accepted_until_it_is_idle_too_long() {
        let here = registry(60);
        let fresh = claims(unix_now());
        let signed_in = here.session(&fresh).expect("fresh cookie");
        assert_eq!(signed_in.agent, "alice");
        assert!(
            signed_in.handle.is_none(),
            "no upstream before a tab attaches"
        );
        let stale = claims(unix_now() - 120);
        assert_eq!(here.session(&stale).err(), Some(SignedOutWhy::Expired));
    }

    #[tokio::test]
    async fn a_signed_out_session_is_refused_here_with_the_reason() {
        let here = registry(60);
        let c = claims(unix_now());
        here.session(&c).expect("valid");
        here.sign_out(&c.sid).await;
        assert_eq!(here.session(&c).err(), Some(SignedOutWhy::SignedOut));
        // A cookie this instance never saw, signed out elsewhere: the limit
        // SECURITY.md states (no shared revocation list).
        let other = registry(60);
        assert!(other.session(&c).is_ok());
    }
}
