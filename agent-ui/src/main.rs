//! `agent-ui` command line: one subcommand per job.
//!
//! `serve` runs the web server (configuration from flags, the environment or `.env`).
//! `score` reads one message per line on stdin and prints one JSON analysis per line
//! (or, with `--bench N`, measures scoring throughput). New jobs are added as another
//! [`Command`] variant and one match arm.

use std::io::{self, BufRead, Write};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use agent_ui::config::{Config, LogFormat};
use agent_ui::sentiment;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "agent-ui", version, about = "Switchboard's agent console")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent console web server.
    Serve(Box<Config>),
    /// Score sentiment: one message per line on stdin, one JSON object per line on stdout.
    Score(ScoreArgs),
}

#[derive(Debug, Args)]
struct ScoreArgs {
    /// Instead of printing results, score N messages (cycling through stdin's lines)
    /// and print one JSON line with the throughput; start-up and I/O are not timed.
    #[arg(long, value_name = "N")]
    bench: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    // A missing .env is normal; a broken one should be said.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("warning: could not read .env: {e}");
        }
    }
    match Cli::parse().command {
        Command::Serve(config) => serve(*config),
        Command::Score(args) => score(args),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let addr = (config.bind_addr, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {}:{}", addr.0, addr.1))?;
        agent_ui::serve(config, listener, switchboard_cloud::shutdown::signal()).await?;
        Ok(())
    })
}

fn score(args: ScoreArgs) -> anyhow::Result<()> {
    let stdin = io::stdin().lock();
    let stdout = io::BufWriter::new(io::stdout().lock());
    match args.bench {
        None => {
            sentiment::score_lines(stdin, stdout).context("scoring stdin")?;
        }
        Some(total) => {
            let messages = stdin
                .split(b'\n')
                .map(|line| line.map(|l| String::from_utf8_lossy(&l).trim_end().to_owned()))
                .collect::<Result<Vec<_>, _>>()
                .context("reading messages from stdin")?;
            anyhow::ensure!(
                !messages.is_empty(),
                "--bench needs at least one message on stdin"
            );
            let report = sentiment::bench(&messages, total);
            let mut out = stdout;
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
            out.flush()?;
        }
    }
    Ok(())
}
