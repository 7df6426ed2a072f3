//! AWS-facing building blocks shared by the switchboard and the agent UI: the
//! SDK configuration (with timeouts), the S3-backed file server with its local
//! fallback, and email through SES v2 or a local `.eml` outbox.

mod atomic_file;
pub mod aws;
pub mod files;
pub mod mail;
