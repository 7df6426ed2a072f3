//! The kill -9 soak (`soak` binary, `scripts/soak.sh`; not part of CI):
//! steady signed webhook load from customers, agents answering every
//! message, the switchboard `kill -9`ed and restarted at random moments, then
//! a full [`audit`] of what was acknowledged against what was stored,
//! delivered and sent to the Twilio stand-in (the phone simulator's Messages
//! API, in this process).

pub mod agents;
pub mod audit;
pub mod customers;

use crate::process::{free_local_addr, ServerProcess};
use agents::AgentsLog;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_devtools::phone_sim::{self, SimConfig, SimDirection, SimMessage};
use switchboard_protocol::client::Credentials;
use switchboard_protocol::AGENT_WS_PATH;

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "soak-auth-token";
const TEAM_NUMBER: &str = "+15550000000";

#[derive(Debug, clap::Parser)]
#[command(about = "kill -9 soak of the switchboard, with a full audit at the end")]
pub struct SoakOptions {
    /// The `switchboard` binary.
    #[arg(long)]
    pub switchboard_bin: PathBuf,
    /// `sled`, or `dynamodb` (then the AWS_* variables of this process point
    /// the switchboard at the emulator, and tables get a fresh prefix).
    #[arg(long, default_value = "sled")]
    pub store: String,
    /// How many times the switchboard is killed with SIGKILL and restarted.
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// Random uptime before each kill, in seconds: between min and max.
    #[arg(long, default_value_t = 1.0)]
    pub min_uptime_secs: f64,
    #[arg(long, default_value_t = 5.0)]
    pub max_uptime_secs: f64,
    /// Customers texting at once.
    #[arg(long, default_value_t = 20)]
    pub customers: usize,
    /// Agents answering.
    #[arg(long, default_value_t = 3)]
    pub agents: usize,
    /// How long the end of the run waits for deliveries and sends to settle.
    #[arg(long, default_value_t = 180.0)]
    pub settle_secs: f64,
    /// Directory for the data and the switchboard's logs (kept).
    #[arg(long)]
    pub work_dir: PathBuf,
}

/// Runs the soak; the audit says whether it passed.
pub async fn run(options: SoakOptions) -> anyhow::Result<audit::Audit> {
    std::fs::create_dir_all(&options.work_dir)?;
    let addr = free_local_addr()?;

    // The Twilio stand-in, in this process (it outlives every kill).
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_addr = sim_listener.local_addr()?;
    let mut sim_config = SimConfig::new(
        ACCOUNT_SID,
        AUTH_TOKEN,
        TEAM_NUMBER,
        format!("http://{addr}/twilio/sms"),
    );
    sim_config.delivery_delay_ms = 50;
    let (sim_stop, sim_stopped) = tokio::sync::oneshot::channel::<()>();
    let sim = tokio::spawn(phone_sim::serve(sim_config, sim_listener, async move {
        let _ = sim_stopped.await;
    }));

    let env = environment(&options, addr, sim_addr)?;
    if options.store == "dynamodb" {
        let out = std::process::Command::new(&options.switchboard_bin)
            .arg("migrate")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .context("running switchboard migrate")?;
        anyhow::ensure!(
            out.status.success(),
            "switchboard migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let start = |n: usize| {
        ServerProcess::spawn(
            "switchboard",
            &options.switchboard_bin,
            &["serve"],
            &env,
            &options.work_dir,
            addr,
            options.work_dir.join(format!("switchboard-{n:02}.log")),
        )
    };
    let mut server = start(0)?;
    server.wait_ready(Duration::from_secs(60)).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(AgentsLog::default()));
    let agent_tasks: Vec<_> = (0..options.agents)
        .map(|i| {
            let credentials = Credentials {
                url: format!("ws://{addr}{AGENT_WS_PATH}"),
                name: format!("agent{i}"),
                password: format!("agent{i}-pw"),
            };
            tokio::spawn(agents::run(i, credentials, log.clone(), stop.clone()))
        })
        .collect();
    let customers_stop = Arc::new(AtomicBool::new(false));
    let signing = customers::Signing {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        to: TEAM_NUMBER.into(),
    };
    let customer_task = tokio::spawn(customers::run(
        addr,
        signing,
        options.customers,
        customers_stop.clone(),
    ));

    for kill in 1..=options.kills {
        let span = (options.max_uptime_secs - options.min_uptime_secs).max(0.0);
        let uptime = options.min_uptime_secs + span * rand::random::<f64>();
        tokio::time::sleep(Duration::from_secs_f64(uptime)).await;
        // Dropping the process handle is SIGKILL: no shutdown code runs.
        drop(server);
        println!("kill -9 #{kill} after {uptime:.1} s up");
        server = start(kill)?;
        server.wait_ready(Duration::from_secs(60)).await?;
    }
    // A last stretch of load on the final process, then the customers stop
    // (each waits for its message in flight to be acknowledged).
    tokio::time::sleep(Duration::from_secs(3)).await;
    customers_stop.store(true, Ordering::Relaxed);
    let sent = customer_task.await?;

    // Wait until every acknowledged message reached an agent, every reply
    // was acknowledged and the outbox has sent them; settled = no change
    // for a few seconds once all replies are acknowledged.
    let http = reqwest::Client::new();
    let total: usize = sent.acknowledged.iter().map(Vec::len).sum();
    let deadline = Instant::now() + Duration::from_secs_f64(options.settle_secs);
    let mut last = (usize::MAX, usize::MAX);
    let mut quiet_since = Instant::now();
    let twilio = loop {
        let twilio = twilio_bodies(&http, sim_addr).await.unwrap_or_default();
        let (inbound_seen, pending) = agents::with(&log, |log| {
            let seen = log
                .deliveries
                .iter()
                .filter(|d| d.direction == switchboard_protocol::Direction::Inbound)
                .count();
            (seen, log.pending.len())
        });
        let now = (inbound_seen, twilio.len());
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
        let settled = inbound_seen >= total
            && pending == 0
            && twilio.len() >= inbound_seen
            && quiet_since.elapsed() > Duration::from_secs(3);
        if settled || Instant::now() > deadline {
            break twilio;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    stop.store(true, Ordering::Relaxed);
    for task in agent_tasks {
        let _ = task.await;
    }
    let _ = server.stop(Duration::from_secs(10)).await;
    let _ = sim_stop.send(());
    let _ = sim.await;

    let (deliveries, acked, pending, connections, problems) = agents::with(&log, |log| {
        (
            std::mem::take(&mut log.deliveries),
            std::mem::take(&mut log.acked),
            log.pending.len(),
            log.connections,
            std::mem::take(&mut log.problems),
        )
    });
    println!(
        "store {}: {} kills, {} customers, {} agents ({} agent connections), \
         {} webhook posts unanswered and retried",
        options.store,
        options.kills,
        options.customers,
        options.agents,
        connections,
        sent.unanswered
    );
    if !problems.is_empty() {
        println!(
            "agents saw {} error frames, e.g. {:?}",
            problems.len(),
            &problems[..problems.len().min(5)]
        );
    }
    Ok(audit::audit(
        options.kills,
        &sent.acknowledged,
        &deliveries,
        &acked,
        pending,
        &twilio,
    ))
}

/// The switchboard's environment (the same for every restart).
fn environment(
    options: &SoakOptions,
    addr: std::net::SocketAddr,
    sim_addr: std::net::SocketAddr,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let agents = (0..options.agents)
        .map(|i| format!("agent{i}:agent{i}-pw"))
        .collect::<Vec<_>>()
        .join(",");
    let mut env = vec![
        ("PORT", addr.port().to_string()),
        ("BIND_ADDR", "127.0.0.1".to_string()),
        (
            "DATA_DIR",
            options.work_dir.join("data").display().to_string(),
        ),
        ("PUBLIC_URL", format!("http://{addr}")),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
        ("TWILIO_FROM", TEAM_NUMBER.to_string()),
        ("TWILIO_API_BASE", format!("http://{sim_addr}")),
        ("AGENTS", agents),
        // Conversations stay with their agent across every restart.
        ("AGENT_GRACE_SECS", "600".to_string()),
        ("RUST_LOG", "warn,switchboard=info".to_string()),
    ];
    match options.store.as_str() {
        "sled" => {}
        "dynamodb" => {
            for name in [
                "AWS_ENDPOINT_URL",
                "AWS_REGION",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
            ] {
                let value = std::env::var(name)
                    .with_context(|| format!("{name} must be set for --store dynamodb"))?;
                env.push((name, value));
            }
            env.push(("STORE", "dynamodb".to_string()));
            // One name across the restarts, as a dyno has: each restart
            // takes the lease its killed predecessor held at once.
            env.push(("INSTANCE_ID", "soak".to_string()));
            env.push((
                "DYNAMODB_TABLE_PREFIX",
                format!("soak-{:08x}-", rand::random::<u32>()),
            ));
        }
        other => anyhow::bail!("--store must be sled or dynamodb, not {other}"),
    }
    Ok(env)
}

/// Bodies of every message the Twilio stand-in accepted, one per send.
async fn twilio_bodies(
    http: &reqwest::Client,
    sim_addr: std::net::SocketAddr,
) -> anyhow::Result<Vec<String>> {
    let messages: Vec<SimMessage> = http
        .get(format!("http://{sim_addr}/sim/messages"))
        .send()
        .await?
        .json()
        .await?;
    Ok(messages
        .into_iter()
        .filter(|m| m.direction == SimDirection::Outbound)
        .map(|m| m.body)
        .collect())
}
