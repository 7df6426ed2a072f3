//! AWS-facing building blocks shared by the switchboard and the agent UI: the
//! SDK configuration (with timeouts), the S3-backed file server with its local
//! fallback, email through SES v2 or a local `.eml` outbox, and the
//! platform's stop signal every binary shuts down on, and the metrics
//! exporter and HTTP request ids both serve (`telemetry`).

mod atomic_file;
pub mod aws;
pub mod files;
pub mod guard;
pub mod mail;
pub mod shutdown;
pub mod telemetry;
