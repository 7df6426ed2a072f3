//! `switchboard-dev` binary: `phone-sim` runs the local stand-in for Twilio
//! and the customer's phone, `agent` is a terminal agent.

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "switchboard-dev",
    version,
    about = "Development tools of the SMS customer-service switchboard"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the phone simulator: a customer's phone page plus a stand-in for
    /// Twilio's Messages API, for local use without a Twilio account.
    PhoneSim(switchboard_devtools::phone_sim::SimConfig),
    /// A terminal agent: see and answer conversations from a shell.
    Agent(switchboard_devtools::agent::AgentCliConfig),
}

fn main() -> anyhow::Result<()> {
    // A missing .env is normal; a broken one should be said.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("warning: could not read .env: {e}");
        }
    }
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::PhoneSim(config) => {
                let addr = (config.bind_addr, config.port);
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {}:{}", addr.0, addr.1))?;
                switchboard_devtools::phone_sim::serve(
                    config,
                    listener,
                    switchboard_cloud::shutdown::signal(),
                )
                .await
            }
            Command::Agent(config) => switchboard_devtools::agent::run(config).await,
        }
    })
}
