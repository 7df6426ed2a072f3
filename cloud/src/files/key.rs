//! Validated file keys: the only way a request path reaches the disk or S3.
//!
//! Keys are rejected, never normalised: a key that would need cleaning up is
//! either a bug or an attack, and serving "something close" hides both.

use super::FileError;

/// Longest key accepted, in bytes; leaves room for an S3 prefix within S3's
/// 1024-byte key limit.
pub const MAX_KEY_LEN: usize = 900;
/// Longest path segment, in bytes; leaves room for the `.name.meta` sidecar and
/// temporary names within common file systems' 255-byte name limit.
pub const MAX_SEGMENT_LEN: usize = 200;

/// A relative, `/`-separated file key such as `conversations/42/media/1.jpg`.
///
/// Every segment is non-empty and does not start with `.` (so no `.`, `..`,
/// and no hidden files: the store keeps its own sidecar and temporary files
/// as dot-files); no `\`, no control characters, at most [`MAX_KEY_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey(String);

impl FileKey {
    /// Validates `raw` (already percent-decoded) as a key.
    pub fn parse(raw: &str) -> Result<FileKey, FileError> {
        let invalid = |reason: &'static str| Err(FileError::InvalidKey(reason));
        if raw.is_empty() {
            return invalid("empty");
        }
        if raw.len() > MAX_KEY_LEN {
            return invalid("longer than 900 bytes");
        }
        if raw.starts_with('/') {
            return invalid("absolute path");
        }
        if raw.contains('\\') {
            return invalid("contains a backslash");
        }
        if raw.chars().any(char::is_control) {
            return invalid("contains a control character");
        }
        for segment in raw.split('/') {
            if segment.is_empty() {
                return invalid("empty path segment");
            }
            if segment == "." || segment == ".." {
                return invalid("contains a '.' or '..' segment");
            }
            if segment.starts_with('.') {
                return invalid("hidden path segment (starts with '.')");
            }
            if segment.len() > MAX_SEGMENT_LEN {
                return invalid("path segment longer than 200 bytes");
            }
        }
        Ok(FileKey(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) {
        assert_eq!(FileKey::parse(raw).map(|k| k.0).ok().as_deref(), Some(raw));
    }

    fn rejected(raw: &str) {
        assert!(
            matches!(FileKey::parse(raw), Err(FileError::InvalidKey(_))),
            "{raw:?} should be rejected"
        );
    }

    #[test]
    fn accepts_ordinary_relative_keys() {
        ok("a.txt");
        ok("conversations/42/media/1.jpg");
        ok("img/logo v2.png");
        ok("unicode/café.png");
        ok("a..b/c...d");
        ok(&"x".repeat(MAX_SEGMENT_LEN));
    }

    #[test]
    fn rejects_traversal_and_absolute_paths() {
        rejected("..");
        rejected("../secret");
        rejected("a/../../secret");
        rejected("a/..");
        rejected("./a");
        rejected("a/./b");
        rejected("/etc/passwd");
        rejected("//etc/passwd");
    }

    #[test]
    fn rejects_malformed_segments_and_characters() {
        rejected("");
        rejected("a//b");
        rejected("a/");
        rejected("a\\b");
        rejected("..\\secret");
        rejected("a\0b");
        rejected("a\nb");
        rejected(".env");
        rejected("a/.b.meta");
        rejected(&"x".repeat(MAX_SEGMENT_LEN + 1));
        let long = vec!["abcdefgh"; 120].join("/");
        assert!(long.len() > MAX_KEY_LEN);
        rejected(&long);
    }
}
