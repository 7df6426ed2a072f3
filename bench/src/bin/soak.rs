//! `soak`: the kill -9 soak of the switchboard (see `scripts/soak.sh`).

use clap::Parser;
use switchboard_bench::soak::{self, SoakOptions};

fn main() -> anyhow::Result<()> {
    let options = SoakOptions::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let audit = runtime.block_on(soak::run(options))?;
    println!("{audit}");
    anyhow::ensure!(audit.passed(), "the soak's audit failed");
    println!("audit passed");
    Ok(())
}
