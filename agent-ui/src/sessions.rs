//! Signed-in browser sessions and the agent sessions behind them.
//!
//! A browser session is an opaque random id (the `sb_session` cookie) mapped to an
//! agent name, kept in memory. Every session of one agent shares that agent's single
//! [`AgentHandle`]: the switchboard allows one live connection per agent, so two tabs
//! must not open two. The agent session is started by the first sign-in and closed
//! when the last of its browser sessions signs out (or when it ends by itself, e.g.
//! signed in elsewhere, which signs out its browser sessions too).
//!
//! A session expires after `SESSION_IDLE_SECS` without a request and without an
//! open tab (an open tab's socket keeps it alive: see [`Registry::touch`]); an
//! expired or signed-out session is gone from the map, so its cookie opens
//! nothing any more, wherever it was copied to.
//!
//! One mutex guards both maps so they never disagree; it is held only for map
//! updates, never across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rand::RngCore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent_session::{self, AgentHandle, Ended, LinkSettings};
use switchboard_protocol::client::{Credentials, Socket as Upstream};

/// Bytes of randomness in a session id (256 bits).
const SESSION_ID_BYTES: usize = 32;

/// What a valid session cookie leads to.
#[derive(Clone)]
pub struct SignedIn {
    pub session_id: String,
    pub agent: String,
    pub handle: AgentHandle,
    /// Cancelled when this session signs out or the agent session ends.
    pub ended: CancellationToken,
}

struct Session {
    agent: String,
    ended: CancellationToken,
    /// The last request or open-tab heartbeat of this session.
    last_seen: Instant,
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
    next_generation: u64,
}

pub struct Registry {
    maps: Mutex<Maps>,
    switchboard_url: String,
    settings: LinkSettings,
    /// Inactivity after which a session expires.
    idle_expiry: Duration,
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
    ) -> Arc<Registry> {
        Arc::new_cyclic(|me| Registry {
            maps: Mutex::new(Maps::default()),
            switchboard_url,
            settings,
            idle_expiry,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            me: me.clone(),
        })
    }

    pub fn switchboard_url(&self) -> &str {
        &self.switchboard_url
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding the lock leaves plain maps behind, still usable.
        self.maps
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a session for an agent whose credentials the switchboard just accepted
    /// on `probe`; returns the session id. The probe becomes the agent session's
    /// upstream if it has none yet, and is closed otherwise.
    pub fn sign_in(&self, name: &str, password: &str, probe: Upstream) -> String {
        let session_id = new_session_id();
        let ended = self.shutdown.child_token();
        let mut spare = None;
        {
            let mut maps = self.maps();
            // Sign-ins are rare: a good moment to drop sessions that expired
            // unseen (their agent sessions close by themselves when idle).
            let idle = self.idle_expiry;
            maps.sessions.retain(|_, s| {
                let live = s.last_seen.elapsed() <= idle;
                if !live {
                    s.ended.cancel();
                }
                live
            });
            match maps.agents.get(name) {
                Some(agent) => {
                    agent.handle.update_password(password.to_string());
                    spare = Some(probe);
                }
                None => {
                    maps.next_generation += 1;
                    let generation = maps.next_generation;
                    let credentials = Credentials {
                        url: self.switchboard_url.clone(),
                        name: name.to_string(),
                        password: password.to_string(),
                    };
                    let (handle, join) =
                        agent_session::spawn(credentials, self.settings, Some(probe));
                    maps.agents
                        .insert(name.to_string(), Agent { handle, generation });
                    let me = self.me.clone();
                    let name = name.to_string();
                    self.tasks.spawn(async move {
                        let ended = join.await.unwrap_or_else(|e| {
                            tracing::error!(agent = %name, error = %e, "agent session task failed");
                            Ended::Closed
                        });
                        if let Some(registry) = me.upgrade() {
                            registry.agent_ended(&name, generation, ended);
                        }
                    });
                }
            }
            maps.sessions.insert(
                session_id.clone(),
                Session {
                    agent: name.to_string(),
                    ended,
                    last_seen: Instant::now(),
                },
            );
        }
        if let Some(mut probe) = spare {
            // Closed before saying hello: the live session is not disturbed.
            tokio::spawn(async move {
                let _ = probe.close(None).await;
            });
        }
        tracing::info!(agent = name, "signed in");
        session_id
    }

    /// The session behind a cookie value, if it is valid and not expired;
    /// counts as activity.
    pub fn session(&self, session_id: &str) -> Option<SignedIn> {
        let mut maps = self.maps();
        let session = maps.sessions.get_mut(session_id)?;
        if session.last_seen.elapsed() > self.idle_expiry {
            session.ended.cancel();
            let agent = session.agent.clone();
            maps.sessions.remove(session_id);
            tracing::info!(agent = %agent, "session expired after inactivity");
            return None;
        }
        session.last_seen = Instant::now();
        let session = maps.sessions.get(session_id)?;
        let agent = maps.agents.get(&session.agent)?;
        Some(SignedIn {
            session_id: session_id.to_string(),
            agent: session.agent.clone(),
            handle: agent.handle.clone(),
            ended: session.ended.clone(),
        })
    }

    /// An open tab's heartbeat: its session stays alive while it is open.
    pub fn touch(&self, session_id: &str) {
        if let Some(session) = self.maps().sessions.get_mut(session_id) {
            session.last_seen = Instant::now();
        }
    }

    /// Ends a session; the agent's upstream closes when it was the agent's last one.
    pub async fn sign_out(&self, session_id: &str) {
        let last = {
            let mut maps = self.maps();
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

    /// An agent session ended by itself: its browser sessions are signed out.
    fn agent_ended(&self, name: &str, generation: u64, why: Ended) {
        let mut maps = self.maps();
        if maps.agents.get(name).map(|a| a.generation) == Some(generation) {
            maps.agents.remove(name);
        }
        if maps.agents.contains_key(name) {
            // A newer session of this agent owns the browser sessions now.
            return;
        }
        maps.sessions.retain(|_, s| {
            let keep = s.agent != name;
            if !keep {
                s.ended.cancel();
            }
            keep
        });
        if why != Ended::Closed {
            tracing::info!(
                agent = name,
                ?why,
                "agent session ended; its consoles were signed out"
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

    /// Signs every session out and closes every upstream cleanly.
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
}
