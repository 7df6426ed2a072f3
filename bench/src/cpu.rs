//! Who used the CPU during a phase: the server under test, this process
//! (load generator and agents), and everything else on the machine.
//!
//! Load tool and server share a small machine, and other work on it (a
//! compiler, another test run) skews every figure; measuring the rest of
//! the machine's CPU lets the report say when a run was disturbed.

use anyhow::Context as _;
use std::time::{Duration, Instant};

/// Linux reports CPU time in ticks of 1/100 s (`CLK_TCK` is 100 on every
/// architecture Rust targets).
const TICKS_PER_SECOND: u64 = 100;

/// A point-in-time reading of the three CPU totals.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    machine: Duration,
    server: Duration,
    own: Duration,
}

/// CPU used between two samples, in cores (1.0 = one core busy throughout).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuUse {
    pub server_cores: f64,
    pub own_cores: f64,
    /// Everything else on the machine.
    pub other_cores: f64,
    /// Absolute CPU time of the server.
    pub server_time: Duration,
    pub own_time: Duration,
}

impl CpuSample {
    /// Reads the totals now; `server_pid` is the process under test.
    pub fn take(server_pid: u32) -> anyhow::Result<CpuSample> {
        Ok(CpuSample {
            at: Instant::now(),
            machine: machine_busy()?,
            server: process_time(&server_pid.to_string())?,
            own: process_time("self")?,
        })
    }

    /// What was used from `self` to `later`.
    pub fn until(&self, later: &CpuSample) -> CpuUse {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let server = later.server.saturating_sub(self.server);
        let own = later.own.saturating_sub(self.own);
        let other = later
            .machine
            .saturating_sub(self.machine)
            .saturating_sub(server + own);
        CpuUse {
            server_cores: server.as_secs_f64() / wall,
            own_cores: own.as_secs_f64() / wall,
            other_cores: other.as_secs_f64() / wall,
            server_time: server,
            own_time: own,
        }
    }
}

/// CPU time of each thread of a process, summed by thread name.
#[derive(Debug, Clone)]
pub struct ThreadSample {
    at: Instant,
    /// (thread id, name, CPU time so far)
    threads: Vec<(u32, String, Duration)>,
}

/// One thread name's share of a phase.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadUse {
    pub name: String,
    /// Threads with that name.
    pub threads: usize,
    /// Cores used by all of them together.
    pub cores: f64,
    /// Cores used by the busiest one: near 1.0 means a serial bottleneck.
    pub busiest_cores: f64,
}

impl ThreadSample {
    pub fn take(pid: u32) -> anyhow::Result<ThreadSample> {
        let mut threads = Vec::new();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let tid = entry?.file_name().to_string_lossy().to_string();
            // A thread may end between listing and reading; skip it.
            let Ok(time) = process_time(&format!("{pid}/task/{tid}")) else {
                continue;
            };
            let name =
                std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
            threads.push((tid.parse()?, name.trim().to_string(), time));
        }
        Ok(ThreadSample {
            at: Instant::now(),
            threads,
        })
    }

    /// Per-name use from `self` to `later`, busiest first.
    pub fn until(&self, later: &ThreadSample) -> Vec<ThreadUse> {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let mut by_name: Vec<ThreadUse> = Vec::new();
        for (tid, name, time) in &later.threads {
            let before = self
                .threads
                .iter()
                .find(|(t, _, _)| t == tid)
                .map_or(Duration::ZERO, |(_, _, d)| *d);
            let cores = time.saturating_sub(before).as_secs_f64() / wall;
            match by_name.iter_mut().find(|u| &u.name == name) {
                Some(u) => {
                    u.threads += 1;
                    u.cores += cores;
                    u.busiest_cores = u.busiest_cores.max(cores);
                }
                None => by_name.push(ThreadUse {
                    name: name.clone(),
                    threads: 1,
                    cores,
                    busiest_cores: cores,
                }),
            }
        }
        by_name.sort_by(|a, b| b.cores.total_cmp(&a.cores));
        by_name
    }
}

/// Non-idle CPU time of the whole machine, from the first line of `/proc/stat`.
fn machine_busy() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("malformed /proc/stat")?;
    // user nice system idle iowait irq softirq steal (guest time is already
    // counted in user); idle and iowait are not work.
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Ok(from_ticks(total.saturating_sub(idle)))
}

/// utime + stime, all threads, from `/proc/<pid>/stat`.
fn process_time(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces; fields are counted after its ')'.
    let after_name = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks =
        |i: usize| -> anyhow::Result<u64> { Ok(fields.get(i).context("short stat")?.parse()?) };
    // utime and stime are fields 14 and 15 of stat: 12th and 13th after the name.
    Ok(from_ticks(ticks(11)? + ticks(12)?))
}

fn from_ticks(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_work_is_attributed_to_us() {
        // Spins until the kernel has charged this process 200 ms of CPU,
        // however long that takes on a busy machine (no wall-clock bound
        // decides the result), then checks where the time was counted.
        let pid = std::process::id();
        let before = CpuSample::take(pid).unwrap();
        let mut x = 0u64;
        let used = loop {
            for _ in 0..1_000_000 {
                x = x.wrapping_mul(31).wrapping_add(1);
            }
            std::hint::black_box(x);
            let used = before.until(&CpuSample::take(pid).unwrap());
            if used.own_time >= Duration::from_millis(200) {
                break used;
            }
        };
        // We are both "server" and "own" here; the spin shows up in both,
        // and is not counted as the rest of the machine's.
        // (Read one after the other: a clock tick, 10 ms, may fall between.)
        let apart = used.server_time.abs_diff(used.own_time);
        assert!(apart <= Duration::from_millis(20), "{used:?}");
        assert!(used.own_cores > 0.0, "{used:?}");
        assert!(used.other_cores >= 0.0);
    }

    #[test]
    fn threads_are_grouped_by_name() {
        let pid = std::process::id();
        let before = ThreadSample::take(pid).unwrap();
        let after = ThreadSample::take(pid).unwrap();
        let used = before.until(&after);
        assert!(!used.is_empty());
        assert!(used.iter().all(|u| u.threads >= 1 && u.cores >= 0.0));
    }
}
