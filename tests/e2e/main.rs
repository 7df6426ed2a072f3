//! The end-to-end tests: one test binary, one module per suite.
//!
//! One binary instead of one per file, because every binary links the whole
//! switchboard and the AWS SDK: fourteen of them cost minutes of linking and
//! gigabytes of disk on every change. Select a suite by its module path, e.g.
//! `cargo test --test e2e -- routing::` (the test command does this for the
//! core suite on DynamoDB).
//!
//! Rules every suite keeps, so a result cannot depend on how busy the
//! machine is:
//!
//! * The switchboard (and the agent UI) run inside the test process on an
//!   ephemeral port (`Switchboard::start_in_process`), unless a test needs
//!   `kill -9`, SIGTERM, a restart, its log, or the AWS SDK's environment;
//!   then the real binary (built beforehand by `cargo build --workspace
//!   --bins`) runs on a random port with its own data directory.
//! * No wall-clock threshold decides a result: waits are for events, with
//!   generous bounds that only end a broken run.
//! * Absence is proven with a barrier, a later event that must arrive first
//!   (`Switchboard::barrier`, or a stopped switchboard whose job queue is
//!   read: `Switchboard::stop_and_list_jobs_left`), never a drain window.
//! * A test that injects a fault checks that the fault was used.
//!
//! The helpers live in [`common`].

mod common;

// The core suite: also run against the DynamoDB store by the test command
// (`SWITCHBOARD_TEST_STORE=dynamodb`).
mod customer_texts;
mod durability;
mod history;
mod lifecycle;
mod notes_canned;
mod once_only;
mod outbound;
mod outbound_media;
mod routing;
mod webhook_ingress;

// AWS (S3, DynamoDB, SES) against the emulator.
mod aws_media;
mod aws_outage;
mod aws_transcript_alert;
mod cluster;
mod dynamo_cost;
mod dynamo_store;
mod files_s3;

// Twilio: the REST client against Prism, signatures against Twilio's own
// Python library, the phone simulator.
mod phone_sim;
mod signature_oracle;
mod twilio_prism;

// The agent UI's server in front of a switchboard.
mod agent_ui_server;

// The terminal agent (`switchboard-dev agent`) at a terminal.
mod terminal_agent;

// /metrics and the JSON logs of both services.
mod observability;

// The deploy files: the Procfile as a PaaS runs it, nginx from
// deploy/nginx.conf in front of the services.
mod nginx_front;
mod paas_boot;
