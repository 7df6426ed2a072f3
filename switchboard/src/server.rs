//! Start-up and shutdown of the whole service.
//!
//! With `STORE=sled` this instance always leads: the leader's duties (router,
//! outbox; `cluster/duties.rs`) start before it listens. With
//! `STORE=dynamodb` they start and stop with the router lease
//! (`cluster/`), while webhooks are taken whether it leads or not.
//!
//! Order matters on the way down: stop accepting HTTP and let in-flight
//! webhooks finish (each one waits for its own durable write), close agent
//! sockets with a `shutting_down` frame, stop the router and the outbox
//! (then, with DynamoDB, release the lease), the job worker, and last close
//! the store, which flushes whatever is still pending.

use crate::cluster::duties::{ChangeSource, Duties, ReplyRelay, Role, Running as Term};
use crate::cluster::dynamo_lease::DynamoLease;
use crate::cluster::lease::{Lease, Timing};
use crate::config::Config;
use crate::config::StoreKind;
use crate::http::{self, AppState, INBOUND_PATH, STATUS_PATH};
use crate::jobs::inbound_spool::{self, Spooled};
use crate::jobs::{self, HookSettings, JobContext, JobQueue};
use crate::outbox::Outbox;
use crate::router;
use crate::store::dynamo::{DynamoOptions, DynamoStore};
use crate::store::fence::FenceCell;
use crate::store::recent::{self, RecentInbound};
use crate::store::sled_store::{SledOptions, SledStore};
use crate::store::Ports;
use crate::twilio::client::TwilioClient;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use switchboard_cloud::files::{FileStore, S3Location};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// A switchboard running inside this process (tests, embedding), started
/// by [`start`]: where it listens, and the explicit handle that stops it.
pub struct Running {
    /// The address it accepts connections on.
    pub addr: SocketAddr,
    /// Fires the shutdown that [`serve`] waits for.
    stop: Option<oneshot::Sender<()>>,
    /// [`serve`] itself; its result says whether it stopped cleanly.
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Shuts it down as SIGTERM does for the binary (in-flight webhooks
    /// finish, agents get `shutting_down`, the store is closed) and waits.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.context("the switchboard task")?
    }
}

impl Drop for Running {
    /// Dropped without [`Running::shutdown`]: stop anyway, without waiting.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the whole switchboard in this process on `listener` (bind it to
/// port 0 for an ephemeral port; `config.public_url` must name that port
/// for webhook signatures to match) and returns without waiting for it to
/// stop. The binary's `serve` command is the same [`serve`] behind SIGTERM.
pub fn start(config: Config, listener: TcpListener) -> anyhow::Result<Running> {
    let addr = listener.local_addr().context("the listener's address")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(config, listener, async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Plain-text agent passwords are for local demos; anywhere Twilio can
/// reach us they should be Argon2 hashes (`switchboard hash-password`).
fn warn_about_plain_passwords(config: &Config) {
    let plain = config.agents.plain_text_names();
    if !plain.is_empty() && !config.is_local_demo() {
        tracing::warn!(
            agents = %plain.join(","),
            "AGENTS has plain-text passwords; store Argon2 hashes from `switchboard hash-password` instead"
        );
    }
}

/// Runs the switchboard on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    crate::telemetry::init();
    if config.insecure_skip_twilio_signature {
        tracing::warn!(
            "INSECURE_SKIP_TWILIO_SIGNATURE is set: anyone can post messages. Local demos only."
        );
    }
    warn_about_plain_passwords(&config);
    let notices = config
        .notices
        .settings()
        .context("BUSINESS_HOURS / BUSINESS_TZ")?;
    let supervisors = config.supervisor_names().map_err(anyhow::Error::msg)?;
    let jobs_dir = config.data_dir.join("jobs");
    let (job_queue, job_arrivals) = JobQueue::open(&jobs_dir, config.durability)
        .with_context(|| format!("opening the job queue in {}", jobs_dir.display()))?;
    let fence = FenceCell::new();
    let (mut ports, accepted_replies, changes) =
        open_store(&config, &job_queue, fence.clone()).await?;
    // Agents' connections read the messages just stored from memory.
    ports.log = Arc::new(RecentInbound::new(ports.log, recent::DEFAULT_CAPACITY));
    let (stop_tx, stop_rx) = watch::channel(false);
    let files = build_file_store(&config).await;

    let client = TwilioClient::new(
        config.twilio_api_base.clone(),
        config.twilio_account_sid.clone(),
        config.twilio_auth_token.clone(),
    );
    if let Some(number_sid) = config.twilio_phone_number_sid.clone() {
        let (client, url) = (client.clone(), config.public_url_of(INBOUND_PATH));
        tokio::spawn(async move {
            match client.register_sms_webhook(&number_sid, &url).await {
                Ok(()) => {
                    tracing::info!(number_sid, url, "Twilio number now sends its messages here")
                }
                Err(e) => {
                    tracing::error!(number_sid, url, error = %e, "could not register the webhook URL with Twilio; set it in the Twilio console")
                }
            }
        });
    }
    let outbox = Outbox {
        store: ports.log.clone(),
        pending: ports.outbox.clone(),
        client,
        from: config.twilio_from.clone(),
        status_callback: config.public_url_of(STATUS_PATH),
        media_links: crate::outbound_media::MediaLinks {
            signer: config.media_signer(),
            public_base: config.public_url_of(""),
        },
        earlier_posts_land_within: match config.aws.store {
            StoreKind::Sled => None,
            StoreKind::Dynamodb => Some(crate::outbox::handover::posts_land_within(
                crate::twilio::client::REQUEST_TIMEOUT,
            )),
        },
        lease_lost: match config.aws.store {
            StoreKind::Sled => None,
            StoreKind::Dynamodb => Some(fence.losses()),
        },
    };
    let replies = ReplyRelay::default();
    let relay_task = replies.spawn(accepted_replies);
    let (role_tx, role) = Role::channel();
    let duties = Duties {
        router_ports: router::RouterPorts {
            log: ports.log.clone(),
            feed: ports.feed.clone(),
            routing: ports.routing.clone(),
        },
        agent_names: config.agents.names().map(str::to_string).collect(),
        supervisors,
        grace: config.agent_grace(),
        jobs: job_queue.clone(),
        hooks: hook_settings(&config),
        notices,
        outbox,
        replies,
        changes,
        role: role_tx,
    };
    let leadership = match config.aws.store {
        // One instance: it leads from the start, as before there was a lease.
        StoreKind::Sled => Leadership::Always {
            term: duties.start().await.context("recovering routing state")?,
            duties: Box::new(duties),
        },
        StoreKind::Dynamodb => {
            let me = crate::cluster::instance_id(config.aws.instance_id.as_deref()).await;
            let timeout = config.lease_timeout();
            let io =
                DynamoLease::connect(&config.aws.dynamodb_table_prefix, me.clone(), timeout).await;
            let lease = Lease::new(me, Timing::from_timeout(timeout), std::time::Instant::now());
            Leadership::Lease(tokio::spawn(crate::cluster::run(
                lease,
                io,
                duties,
                fence,
                stop_rx.clone(),
            )))
        }
    };
    let job_context = JobContext {
        store: ports.log.clone(),
        files: files.clone(),
        mailer: jobs::setup::mailer(config.aws.mail_from.as_deref(), config.mail_outbox_dir())
            .await,
        http: jobs::setup::media_http_client(),
        twilio_account_sid: config.twilio_account_sid.clone(),
        twilio_auth_token: config.twilio_auth_token.clone(),
        twilio_api_host: config
            .twilio_api_base
            .host_str()
            .unwrap_or_default()
            .to_string(),
        public_base: config.public_url_of(""),
        claims: ports.job_claims.clone(),
    };
    let jobs_task = tokio::spawn(jobs::worker::run(
        job_queue.clone(),
        job_arrivals,
        Arc::new(job_context),
        stop_rx.clone(),
    ));

    let agent_sockets = tokio_util::task::TaskTracker::new();
    let state = AppState {
        config: config.clone(),
        store: ports.log.clone(),
        routing: ports.routing.clone(),
        history: ports.history.clone(),
        readiness: ports.lifecycle.clone(),
        role,
        shutdown: stop_rx.clone(),
        next_conn_id: Arc::new(AtomicU64::new(1)),
        agent_sockets: agent_sockets.clone(),
        jobs: job_queue,
        files,
        guard: http::agent_auth::Guard::from_config(&config),
        canned: crate::canned::Canned::new(ports.canned.clone()),
        stats: Arc::new(crate::stats::Stats::new(
            ports.log.clone(),
            ports.history.clone(),
        )),
    };
    tracing::info!(
        addr = %listener.local_addr()?,
        public_url = %config.public_base(),
        data_dir = %config.data_dir.display(),
        "switchboard listening"
    );
    let mut http_stop = stop_rx.clone();
    // Connect info: sign-in limits count per client address.
    let app = http::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "HTTP server error"),
        Err(_) => tracing::warn!("HTTP requests still running after 10 s; closing anyway"),
        _ => {}
    }
    // Upgraded sockets are not tracked by axum; each closes itself on the
    // stop signal with a `shutting_down` frame. Wait for that, bounded.
    agent_sockets.close();
    if tokio::time::timeout(Duration::from_secs(5), agent_sockets.wait())
        .await
        .is_err()
    {
        tracing::warn!("agent sockets still open after 5 s; closing anyway");
    }
    // The router and the outbox (in-flight sends finish, bounded); with
    // DynamoDB then the lease is released.
    match leadership {
        Leadership::Always { duties, term } => duties.stop(term).await,
        Leadership::Lease(lease) => {
            let _ = lease.await;
        }
    }
    relay_task.abort();
    // The worker bounds its own wait for running jobs; they rerun at the next start.
    if tokio::time::timeout(Duration::from_secs(20), jobs_task)
        .await
        .is_err()
    {
        tracing::warn!("job worker still running after 20 s; its jobs resume at the next start");
    }
    // With DynamoDB this first drains the inbound spool (bounded).
    ports.lifecycle.close().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The file store shared by the `/files` server and the jobs: the local
/// copy in `FILES_DIR`, plus S3 when `S3_BUCKET` is set (SDK configuration
/// from the standard AWS chain).
pub async fn build_file_store(config: &Config) -> FileStore {
    let s3 = match &config.aws.s3_bucket {
        Some(bucket) => {
            let sdk = switchboard_cloud::aws::sdk_config().await;
            tracing::info!(bucket, prefix = %config.aws.s3_prefix, "files go to S3");
            Some(S3Location {
                client: switchboard_cloud::aws::s3_client(&sdk),
                bucket: bucket.clone(),
                prefix: config.aws.s3_prefix.clone(),
            })
        }
        None => None,
    };
    FileStore::new(config.files_dir(), s3)
}

/// Who the router's jobs mail, from `TRANSCRIPT_TO`, `ALERT_TO` and
/// `ALERT_WAIT_SECS`.
fn hook_settings(config: &Config) -> HookSettings {
    HookSettings {
        transcript_to: jobs::recipients(config.aws.transcript_to.as_deref()),
        alert_to: jobs::recipients(config.aws.alert_to.as_deref()),
        alert_after: Duration::from_secs_f64(config.aws.alert_wait_secs.max(0.0)),
    }
}

/// Who runs the leader's duties here.
enum Leadership {
    /// `STORE=sled`: this instance, from start to shutdown.
    Always { duties: Box<Duties>, term: Term },
    /// `STORE=dynamodb`: whoever holds the lease; this task keeps it or
    /// contends for it, and stops the duties and releases it at shutdown.
    Lease(JoinHandle<()>),
}

/// Replies a store accepted, for the outbox worker.
pub(crate) type AcceptedReplies = tokio::sync::mpsc::UnboundedReceiver<(
    switchboard_protocol::ConversationId,
    switchboard_protocol::Seq,
)>;

/// The ports of the store `STORE` names, and the receiver of its accepted
/// replies. DynamoDB's message log (and lifecycle, to drain at close) comes
/// wrapped in the inbound spool (in `jobs`' database), so an outage does not
/// turn webhooks into 5xx; sled is used as it is. DynamoDB's Streams reader
/// comes back too, for the leader to start.
async fn open_store(
    config: &Config,
    jobs: &JobQueue,
    fence: FenceCell,
) -> anyhow::Result<(Ports, AcceptedReplies, Option<Arc<dyn ChangeSource>>)> {
    match config.aws.store {
        StoreKind::Sled => {
            match inbound_spool::leftovers(jobs) {
                Ok(0) => {}
                Ok(waiting) => tracing::warn!(
                    waiting,
                    "inbound messages spooled while STORE=dynamodb are still waiting; they go to DynamoDB at the next start with STORE=dynamodb"
                ),
                Err(e) => tracing::warn!(error = %e, "could not read the inbound spool"),
            }
            let (store, accepted) = SledStore::open(SledOptions {
                path: &config.data_dir,
                cache_mb: config.sled_cache_mb,
                durability: config.durability,
            })
            .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
            Ok((Ports::of(Arc::new(store)), accepted, None))
        }
        StoreKind::Dynamodb => {
            let (store, accepted) = DynamoStore::open(DynamoOptions {
                data_dir: &config.data_dir,
                table_prefix: &config.aws.dynamodb_table_prefix,
                stream_poll: Duration::from_millis(config.aws.stream_poll_ms.max(1)),
                cache_mb: config.sled_cache_mb,
                fence,
            })
            .await
            .context("opening the DynamoDB store")?;
            tracing::info!(
                prefix = %config.aws.dynamodb_table_prefix,
                "conversations are kept in DynamoDB"
            );
            let store = Arc::new(store);
            let spooled =
                Arc::new(Spooled::open(store.clone(), jobs).context("opening the inbound spool")?);
            jobs.share_with(store.clone());
            let ports = Ports {
                log: spooled.clone(),
                lifecycle: spooled,
                job_claims: Some(store.clone()),
                ..Ports::of(store.clone())
            };
            Ok((ports, accepted, Some(store)))
        }
    }
}
