//! `loadgen`: the switchboard benchmark.
//!
//! `loadgen suite` runs every measurement against freshly started servers
//! and writes the results table (what `scripts/bench.sh` calls);
//! `loadgen http` points the same webhook load at an already running server.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bench::findings::thousands;
use switchboard_bench::ledger::Ledger;
use switchboard_bench::load::{self, LoadPlan};
use switchboard_bench::stats::Summary;
use switchboard_bench::suite::{self, SuiteOptions};
use switchboard_bench::webhook::{Pool, WebhookSpec};

#[derive(Debug, Parser)]
#[command(about = "Benchmark for the switchboard: webhook ingest, agent latency, bytes, memory")]
struct Cli {
    /// Worker threads of the load generator (agents get one more of their own).
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the trivial server and a fresh switchboard, measure everything,
    /// print the table and write it as markdown.
    Suite(SuiteOptions),
    /// Send signed webhooks to a running server and print throughput and latency.
    Http(HttpOptions),
}

#[derive(Debug, clap::Args)]
struct HttpOptions {
    /// Address of the server, e.g. 127.0.0.1:3000. Loopback only.
    #[arg(long)]
    addr: SocketAddr,
    /// The URL the server signs against (its PUBLIC_URL + /twilio/sms).
    #[arg(long)]
    signed_url: String,
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    auth_token: String,
    #[arg(long, default_value = "AC0123456789abcdef0123456789abcdef")]
    account_sid: String,
    /// The team's number (the server's TWILIO_FROM).
    #[arg(long, default_value = "+15550000000")]
    to: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,
    /// Requests per second; omitted = as fast as answers come back.
    #[arg(long)]
    rate: Option<f64>,
    /// Distinct customer numbers.
    #[arg(long, default_value_t = 200)]
    numbers: u32,
    /// Pre-built unique requests; the run stops early if they run out.
    #[arg(long, default_value_t = 200_000)]
    requests: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Suite(options) => {
                let out = options.out.clone();
                let result = suite::run(options).await?;
                println!("\n{}", result.report.to_text());
                println!("markdown written to {}", out.display());
                // Missed targets are findings; a run that could not measure is a failure.
                anyhow::ensure!(
                    result.complete,
                    "the benchmark did not complete (see the notes above)"
                );
                Ok(())
            }
            Command::Http(options) => http(options).await,
        }
    })
}

async fn http(options: HttpOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        options.addr.ip().is_loopback(),
        "load goes to 127.0.0.1 only"
    );
    let spec = WebhookSpec {
        signed_url: options.signed_url.clone(),
        auth_token: options.auth_token.clone(),
        account_sid: options.account_sid.clone(),
        to: options.to.clone(),
        run_nonce: rand::random(),
    };
    let numbers = options.numbers.max(1);
    let pool =
        tokio::task::block_in_place(|| Pool::build(&spec, 0, options.requests, |id| id % numbers));
    let ledger = Arc::new(Ledger::new(options.requests));
    let plan = LoadPlan {
        addr: options.addr,
        path: url_path(&options.signed_url)?,
        connections: options.connections,
        warmup: Duration::from_secs_f64(options.warmup_secs),
        measure: Duration::from_secs_f64(options.duration_secs),
        rate: options.rate,
        reuse_pool: false,
    };
    let result = load::run(plan, Arc::new(pool), ledger).await?;
    println!(
        "{} req/s (200s in the measured window), latency p50 / p99 {}, sent {}, errors {} {:?}{}",
        thousands(result.throughput()),
        Summary::of(&result.latency).p50_p99(),
        result.sent,
        result.transport_errors,
        result.statuses,
        if result.pool_exhausted {
            ", ran out of requests"
        } else {
            ""
        }
    );
    Ok(())
}

/// `/twilio/sms` from `http://host:port/twilio/sms`.
fn url_path(url: &str) -> anyhow::Result<String> {
    let uri: hyper::Uri = url.parse().context("--signed-url")?;
    Ok(uri
        .path_and_query()
        .map_or("/".into(), |p| p.as_str().to_string()))
}
