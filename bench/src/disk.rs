//! The floor the disk puts under durable latency: how long a small write
//! plus `fdatasync` takes in the directory the switchboard stores into.
//!
//! A durable webhook cannot be answered faster than one sync of its batch,
//! so the report shows this next to the latencies it explains.

use crate::stats;
use hdrhistogram::Histogram;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Appends 512 bytes and `fdatasync`s, `rounds` times, in a scratch file in
/// `dir` (removed afterwards).
pub fn sync_latency(dir: &Path, rounds: usize) -> anyhow::Result<Histogram<u64>> {
    let path = dir.join("bench-sync-probe");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let block = [0x5au8; 512];
    let mut hist = stats::histogram();
    for _ in 0..rounds {
        let start = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        stats::record(&mut hist, start.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(hist)
}

#[cfg(test)]
mod tests {
    #[test]
    fn probes_a_temp_dir() {
        let dir = tempfile::tempdir().unwrap();
        let hist = super::sync_latency(dir.path(), 5).unwrap();
        assert_eq!(hist.len(), 5);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
