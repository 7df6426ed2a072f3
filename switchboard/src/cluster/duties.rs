//! The leader's duties: what only the instance holding the lease runs — the
//! router (with grace expiry and the waiting-alert timer), the DynamoDB
//! Streams reader that feeds it, and the outbox worker — started when
//! leadership is gained and stopped when it is lost. Webhooks, status
//! callbacks and the job worker run on every instance and are not here.
//!
//! A term of leadership is published to the HTTP side as a [`Term`]: the
//! agent-socket endpoint accepts sockets only while there is one, and each
//! socket ends with `not_leader` when its term does.

use crate::conversation::notice::NoticeSettings;
use crate::jobs::{HookSettings, JobQueue, RouterJobs};
use crate::outbox::Outbox;
use crate::router::{self, RouterConfig, RouterHandle, RouterPorts};
use crate::server::AcceptedReplies;
use crate::store::StoreError;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_protocol::{ConversationId, Seq};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a stepping-down leader waits for the outbox's sends in flight.
const OUTBOX_AT_STOP: Duration = Duration::from_secs(20);

/// One term of leadership as agent sockets see it.
#[derive(Clone)]
pub struct Term {
    /// The router of this term.
    pub router: RouterHandle,
    /// Cancelled when the term ends: the sockets of this term close with
    /// `not_leader`, and their clients reconnect (through the proxy, to
    /// whoever leads then).
    pub ended: CancellationToken,
}

/// Whether this instance leads now, for the HTTP handlers.
#[derive(Clone)]
pub struct Role(watch::Receiver<Option<Term>>);

impl Role {
    /// A role and the sender that publishes terms into it.
    pub fn channel() -> (watch::Sender<Option<Term>>, Role) {
        let (tx, rx) = watch::channel(None);
        (tx, Role(rx))
    }

    /// The current term, if this instance leads.
    pub fn current(&self) -> Option<Term> {
        self.0.borrow().clone()
    }

    /// `leader` or `follower`, as `/healthz` reports it.
    pub fn name(&self) -> &'static str {
        if self.0.borrow().is_some() {
            "leader"
        } else {
            "follower"
        }
    }
}

/// Starts and stops the Streams reader (DynamoDB); the sled store's change
/// feed needs no starting.
#[async_trait::async_trait]
pub trait ChangeSource: Send + Sync {
    /// Starts following the shared store's changes into the local feed.
    fn start(&self);
    /// Stops following them (waits for the reader, bounded).
    async fn stop(&self);
}

#[async_trait::async_trait]
impl ChangeSource for crate::store::dynamo::DynamoStore {
    fn start(&self) {
        self.start_stream_reader();
    }

    async fn stop(&self) {
        self.stop_stream_reader().await;
    }
}

/// Where a term's outbox worker hears of accepted replies.
type ReplySender = mpsc::UnboundedSender<(ConversationId, Seq)>;

/// Hands the replies the store accepted to the outbox worker of the current
/// term. Between terms they are dropped: they stay in the store's outbox,
/// and the next term's worker starts by listing it.
#[derive(Clone, Default)]
pub struct ReplyRelay {
    current: Arc<Mutex<Option<ReplySender>>>,
}

impl ReplyRelay {
    /// Forwards `accepted` for as long as the store sends on it.
    pub fn spawn(&self, mut accepted: AcceptedReplies) -> JoinHandle<()> {
        let relay = self.clone();
        tokio::spawn(async move {
            while let Some(position) = accepted.recv().await {
                if let Ok(current) = relay.current.lock() {
                    if let Some(tx) = current.as_ref() {
                        let _ = tx.send(position);
                    }
                }
            }
        })
    }

    /// A new term's receiver (the previous term's is cut off).
    fn open(&self) -> mpsc::UnboundedReceiver<(ConversationId, Seq)> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.set(Some(tx));
        rx
    }

    fn set(&self, tx: Option<ReplySender>) {
        match self.current.lock() {
            Ok(mut current) => *current = tx,
            Err(poisoned) => *poisoned.into_inner() = tx,
        }
    }
}

/// Everything a term of leadership starts.
pub struct Duties {
    /// The store ports of the router.
    pub router_ports: RouterPorts,
    /// `AGENTS`' names.
    pub agent_names: Vec<String>,
    /// `SUPERVISORS`: who may ask for the overview.
    pub supervisors: Vec<String>,
    /// `AGENT_GRACE_SECS`.
    pub grace: Duration,
    /// Where the router queues transcripts and alerts.
    pub jobs: JobQueue,
    /// Who transcripts and alerts go to.
    pub hooks: HookSettings,
    /// Automatic texts to waiting customers, for the router.
    pub notices: NoticeSettings,
    /// The outbox worker's parts (a fresh worker per term).
    pub outbox: Outbox,
    /// The accepted replies, for the term's outbox worker.
    pub replies: ReplyRelay,
    /// The Streams reader (DynamoDB only).
    pub changes: Option<Arc<dyn ChangeSource>>,
    /// Where terms are published for the HTTP side.
    pub role: watch::Sender<Option<Term>>,
}

/// A running term, for [`Duties::stop`].
pub struct Running {
    term: Term,
    /// Stops the router and the outbox worker.
    stop: watch::Sender<bool>,
    router: JoinHandle<()>,
    outbox: JoinHandle<()>,
}

impl Duties {
    /// Starts a term: the Streams reader, the router (which loads routes and
    /// agents' settings from the store), the outbox worker (whose start-up
    /// listing and intent reconciliation is what makes a takeover send
    /// nothing twice), then opens the agent-socket endpoint.
    pub async fn start(&self) -> Result<Running, StoreError> {
        if let Some(changes) = &self.changes {
            changes.start();
        }
        let (stop, stopped) = watch::channel(false);
        let spawned = router::spawn(
            self.router_ports.clone(),
            RouterConfig {
                agent_names: self.agent_names.clone(),
                grace: self.grace,
                jobs: Some(RouterJobs::new(self.jobs.clone(), self.hooks.clone())),
                notices: self.notices.clone(),
                supervisors: self.supervisors.clone(),
            },
            stopped.clone(),
        )
        .await;
        let (router, router_task) = match spawned {
            Ok(spawned) => spawned,
            Err(e) => {
                if let Some(changes) = &self.changes {
                    changes.stop().await;
                }
                return Err(e);
            }
        };
        let outbox = tokio::spawn(self.outbox.clone().run(self.replies.open(), stopped));
        let term = Term {
            router,
            ended: CancellationToken::new(),
        };
        self.role.send_replace(Some(term.clone()));
        crate::telemetry::leader(true);
        tracing::info!("leading: routing, the outbox and alerts run here");
        Ok(Running {
            term,
            stop,
            router: router_task,
            outbox,
        })
    }

    /// Ends a term: closes its agent sockets (`not_leader`), stops the
    /// router (writes already started land first), the outbox worker (sends
    /// in flight finish, bounded) and the Streams reader.
    pub async fn stop(&self, running: Running) {
        self.role.send_replace(None);
        crate::telemetry::leader(false);
        running.term.ended.cancel();
        let _ = running.stop.send(true);
        let _ = running.router.await;
        self.replies.set(None);
        if tokio::time::timeout(OUTBOX_AT_STOP, running.outbox)
            .await
            .is_err()
        {
            tracing::warn!(
                "outbox sends still running after 20 s; the next leader reconciles them"
            );
        }
        if let Some(changes) = &self.changes {
            changes.stop().await;
        }
        tracing::info!("no longer leading");
    }
}
