//! The local copy of the files: atomic writes with a content-type sidecar, and
//! streamed reads confined to the local root.

use std::io::{ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use axum::body::Body;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::response::{decide, Decision, ObjectMeta, Outcome, Request};
use super::{FileError, FileKey};

/// What the local copy remembers beside the bytes. Kept in `.<name>.meta`
/// next to the file; keys never start a segment with `.`, so it is never served.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    content_type: String,
}

fn io_err(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_path_buf();
    move |source| FileError::Local {
        operation,
        path,
        source,
    }
}

fn sidecar_path(file: &Path) -> Option<PathBuf> {
    let name = file.file_name()?.to_str()?;
    Some(file.with_file_name(format!(".{name}.meta")))
}

/// Writes `bytes` under `root/key` (and its sidecar) so that a reader sees
/// either the old or the new file, never a partial one.
pub(crate) async fn write(
    root: &Path,
    key: &FileKey,
    bytes: &Bytes,
    content_type: &str,
) -> Result<(), FileError> {
    fs::create_dir_all(root)
        .await
        .map_err(io_err("create directory", root))?;
    let root_canon = fs::canonicalize(root)
        .await
        .map_err(io_err("resolve", root))?;
    let path = root.join(key.as_str());
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(FileError::InvalidKey("no file name"));
    };
    fs::create_dir_all(parent)
        .await
        .map_err(io_err("create directory", parent))?;
    let parent_canon = fs::canonicalize(parent)
        .await
        .map_err(io_err("resolve", parent))?;
    if !parent_canon.starts_with(&root_canon) {
        return Err(FileError::Escape(path));
    }
    let target = parent_canon.join(name);
    let sidecar = serde_json::to_vec(&Sidecar {
        content_type: content_type.to_string(),
    })
    .map_err(|e| FileError::Local {
        operation: "encode metadata",
        path: target.clone(),
        source: e.into(),
    })?;
    if let Some(meta_path) = sidecar_path(&target) {
        write_atomic(&meta_path, &sidecar).await?;
    }
    write_atomic(&target, bytes).await
}

/// Temporary file + fsync + rename, so a crash leaves the old file or the new one.
async fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), FileError> {
    crate::atomic_file::write(target, bytes)
        .await
        .map_err(io_err("write", target))
}

/// Looks `key` up under `root` and prepares the answer to `req`.
pub(crate) async fn fetch(
    root: &Path,
    key: &FileKey,
    req: &Request<'_>,
) -> Result<Outcome, FileError> {
    let Some(root_canon) = resolve(root).await? else {
        return Ok(Outcome::NotFound);
    };
    let path = root.join(key.as_str());
    let Some(canon) = resolve(&path).await? else {
        return Ok(Outcome::NotFound);
    };
    // Keys cannot say `..`, but a symlink inside the root still could point out.
    if !canon.starts_with(&root_canon) {
        tracing::warn!(key = %key, path = %canon.display(), "file key resolves outside the files directory; refusing");
        return Ok(Outcome::NotFound);
    }
    // Open first, then read the metadata of what was opened: a concurrent
    // rename can then not pair one file's length with another's bytes.
    let mut file = match fs::File::open(&canon).await {
        Ok(f) => f,
        Err(e) if is_missing(&e) => return Ok(Outcome::NotFound),
        Err(e) => return Err(io_err("open", &canon)(e)),
    };
    let md = file.metadata().await.map_err(io_err("stat", &canon))?;
    if !md.is_file() {
        return Ok(Outcome::NotFound);
    }
    let modified = md.modified().ok();
    let stamp = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let meta = ObjectMeta {
        len: md.len(),
        content_type: content_type(&canon, key).await,
        etag: Some(format!("\"{:x}-{:x}\"", md.len(), stamp)),
        last_modified: modified,
    };
    let part = match decide(&meta, req) {
        Decision::NotModified => {
            return Ok(Outcome::NotModified {
                etag: meta.etag,
                last_modified: meta.last_modified,
            })
        }
        Decision::Unsatisfiable => {
            return Ok(Outcome::Unsatisfiable {
                len: Some(meta.len),
            })
        }
        Decision::Whole => None,
        Decision::Part(first, last) => Some((first, last)),
    };
    let body = if req.head {
        Body::empty()
    } else {
        let (first, len) = match part {
            Some((first, last)) => (first, last - first + 1),
            None => (0, meta.len),
        };
        if first > 0 {
            file.seek(SeekFrom::Start(first))
                .await
                .map_err(io_err("seek", &canon))?;
        }
        Body::from_stream(ReaderStream::new(file.take(len)))
    };
    Ok(Outcome::Found { meta, part, body })
}

/// The canonical path, or `None` when nothing is there.
async fn resolve(path: &Path) -> Result<Option<PathBuf>, FileError> {
    match fs::canonicalize(path).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(io_err("resolve", path)(e)),
    }
}

fn is_missing(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// The type recorded at write time, else a guess from the extension.
async fn content_type(file: &Path, key: &FileKey) -> String {
    if let Some(meta_path) = sidecar_path(file) {
        if let Ok(raw) = fs::read(&meta_path).await {
            if let Ok(sidecar) = serde_json::from_slice::<Sidecar>(&raw) {
                return sidecar.content_type;
            }
        }
    }
    guess_type(key)
}

pub(crate) fn guess_type(key: &FileKey) -> String {
    mime_guess::from_path(key.as_str())
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}
