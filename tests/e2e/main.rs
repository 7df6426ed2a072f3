//! The end-to-end tests: one test binary, one module per suite.
//!
//! One binary instead of one per file, because every binary links the whole
//! switchboard and the AWS SDK: fourteen of them cost minutes of linking and
//! gigabytes of disk on every change. Select a suite by its module path, e.g.
//! `cargo test --test e2e -- routing::` (the test command does this for the
//! core suite on DynamoDB).
//!
//! Most tests start the real `switchboard` binary (built beforehand by
//! `cargo build --workspace --bins`) on a random port with its own data
//! directory; the helpers for that live in [`common`].

mod common;

// The core suite: also run against the DynamoDB store by the test command
// (`SWITCHBOARD_TEST_STORE=dynamodb`).
mod durability;
mod lifecycle;
mod outbound;
mod routing;
mod webhook_ingress;

// AWS (S3, DynamoDB, SES) against the emulator.
mod aws_media;
mod aws_outage;
mod aws_transcript_alert;
mod dynamo_store;
mod files_s3;

// Twilio: the REST client against Prism, signatures against Twilio's own
// Python library, the phone simulator.
mod phone_sim;
mod signature_oracle;
mod twilio_prism;

// The agent UI's server in front of a switchboard.
mod agent_ui_server;

// /metrics and the JSON logs of both services.
mod observability;
