//! `switchboard` binary: `serve` runs the service, `migrate` creates the
//! DynamoDB tables. The development tools (phone simulator, terminal agent)
//! are the separate `switchboard-dev` binary of `devtools/`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc: sled's writer allocates and frees
/// many small tree nodes per message, and glibc's allocator spent a quarter
/// of the process's CPU on it under load (`README.md`, Benchmark).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "SMS customer-service switchboard"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the switchboard (webhooks, agent WebSocket, Twilio sender).
    Serve(Box<Config>),
    /// Create or update the DynamoDB tables of `STORE=dynamodb` (idempotent:
    /// safe to run on every deploy, e.g. as the PaaS release phase).
    Migrate(switchboard::migrate::MigrateConfig),
    /// Hash an agent's password for `AGENTS` (`name:<hash>`): reads it from
    /// a prompt on a terminal, else from the first line of stdin — never
    /// from the command line, where it would stay in the shell history.
    HashPassword,
}

fn main() -> anyhow::Result<()> {
    // A missing .env is normal; a broken one should be said.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("warning: could not read .env: {e}");
        }
    }
    let cli = Cli::parse();
    if let Command::HashPassword = cli.command {
        return hash_password();
    }
    let log_json = matches!(&cli.command, Command::Serve(c) if c.log_format == LogFormat::Json);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if log_json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(config) => {
                let addr = (config.bind_addr, config.port);
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {}:{}", addr.0, addr.1))?;
                switchboard::server::serve(*config, listener, switchboard_cloud::shutdown::signal())
                    .await
            }
            Command::Migrate(config) => switchboard::migrate::run(config).await,
            Command::HashPassword => hash_password(),
        }
    })
}

/// `switchboard hash-password`: prints the Argon2 hash of a password.
fn hash_password() -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").context("reading the password")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    let hash = switchboard::credentials::hash_password(&password).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(())
}
