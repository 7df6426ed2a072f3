//! `agent-ui` command line: one subcommand per job.
//!
//! `score` reads one message per line on stdin and prints one JSON analysis per line
//! (or, with `--bench N`, measures scoring throughput). New jobs (the web server) are
//! added as another [`Command`] variant and one match arm.

use std::io::{self, BufRead, Write};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use agent_ui::sentiment;

#[derive(Debug, Parser)]
#[command(name = "agent-ui", version, about = "Switchboard's agent console")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    match Cli::parse().command {
        Command::Score(args) => score(args),
    }
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
