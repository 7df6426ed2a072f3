//! How hard the sled databases (the store, the job queue) work to make an
//! acknowledged write survive. Its own module so that the store and the jobs
//! take it as a plain setting without depending on the command-line
//! configuration.

/// How hard the switchboard works to make an acknowledged message survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// sled flush plus `fdatasync` of its data file: survives `kill -9` and power loss.
    Fsync,
    /// sled flush only (data reaches the OS page cache): survives `kill -9`, not power loss.
    Flush,
}
