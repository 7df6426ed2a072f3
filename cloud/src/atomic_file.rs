//! Writing a whole file so a reader (or a crash) sees the old content or the
//! new, never a torn one: a temporary file beside the target, fsynced, then
//! renamed over it. Used for the local file copies and the `.eml` outbox.

use std::path::Path;
use tokio::fs;
use tokio::io::AsyncWriteExt;

pub(crate) async fn write(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    // A leading dot keeps temporary files out of the file server's reach.
    let tmp = target.with_file_name(format!(".{name}.tmp-{:016x}", rand::random::<u64>()));
    let result = async {
        let mut file = fs::File::create(&tmp).await?;
        file.write_all(bytes).await?;
        file.sync_all().await?;
        fs::rename(&tmp, target).await
    }
    .await;
    if result.is_err() {
        let _ = fs::remove_file(&tmp).await;
    }
    result
}
