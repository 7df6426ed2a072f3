//! Helpers shared by unit tests (compiled for tests only).

use std::time::Duration;

/// Opens a sled-backed thing again in this process. sled's own threads
/// (its flusher, `flush_async`'s helper) may hold the database, and so its
/// file lock, for a moment after the last handle is dropped: wait for the
/// lock instead of failing with "could not acquire lock" (a real restart is
/// a new process, where it is free).
pub async fn reopen<T, E: std::fmt::Display>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match open() {
            Ok(opened) => return opened,
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reopen: {e}"),
        }
    }
}
