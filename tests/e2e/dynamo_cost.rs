//! What a message costs on DynamoDB: the switchboard counts every DynamoDB
//! request and the capacity units DynamoDB reports (`/metrics`,
//! `store/dynamo/usage.rs`); this drives customers' texts, then agents'
//! replies with Twilio's status callbacks (the phone simulator), and divides.
//!
//! As a test it checks the counting (each phase's requests are counted under
//! the operations that do the work). As the cost benchmark
//! (`scripts/bench-dynamo-cost.sh`, on LocalStack, whose DynamoDB Local
//! computes capacity units from item sizes as AWS does; moto reports fixed
//! ones) it writes the table named by `DYNAMO_COST_OUT`, with more messages
//! (`DYNAMO_COST_CUSTOMERS` × `DYNAMO_COST_TEXTS`) and an idle window
//! (`DYNAMO_COST_IDLE_SECS`) for what an idle instance asks per hour.

use crate::common;

use common::aws::Moto;
use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use switchboard_protocol::{ClientFrame, DeliveryStatus, ServerFrame};

/// Generous: an emulator on a busy machine (each reply is some twenty
/// DynamoDB round trips): a minute plus two seconds per message.
fn wait_for(messages: u64) -> Duration {
    Duration::from_secs(60 + 2 * messages)
}
const TOKEN: &str = "dynamo-cost-metrics-token-0123456789";
/// On-demand prices in us-east-1 (AWS's DynamoDB pricing page, after the
/// November 2024 cut): dollars per million request units, and per million
/// DynamoDB Streams read requests ($0.02 per 100,000).
const WRITE_PER_MILLION: f64 = 0.625;
const READ_PER_MILLION: f64 = 0.125;
const STREAM_READ_PER_MILLION: f64 = 0.20;

/// One counter series: (client, operation) → value.
type Series = BTreeMap<(String, String), f64>;

/// The series of `name` in a Prometheus text exposition, by client and
/// operation.
fn series(exposition: &str, name: &str) -> Series {
    let mut found = Series::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let Some((labels, value)) = rest.strip_prefix('{').and_then(|r| r.split_once("} ")) else {
            continue;
        };
        let label = |key: &str| {
            labels.split(',').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == key).then(|| v.trim_matches('"').to_string())
            })
        };
        if let (Some(client), Some(operation), Ok(value)) =
            (label("client"), label("operation"), value.trim().parse())
        {
            found.insert((client, operation), value);
        }
    }
    found
}

/// What the switchboard has asked of DynamoDB so far.
#[derive(Debug, Clone, Default)]
struct Usage {
    requests: Series,
    /// Capacity units (the metric counts hundredths).
    units: Series,
}

impl Usage {
    async fn of(sb: &Switchboard) -> Usage {
        let response = reqwest::Client::new()
            .get(sb.url("/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), 200, "metrics refused");
        let text = response.text().await.expect("metrics body");
        let mut units = series(&text, "switchboard_dynamodb_capacity_centiunits_total");
        units.values_mut().for_each(|v| *v /= 100.0);
        Usage {
            requests: series(&text, "switchboard_dynamodb_requests_total"),
            units,
        }
    }

    /// What was asked between `earlier` and now.
    fn since(&self, earlier: &Usage) -> Usage {
        let minus = |now: &Series, before: &Series| -> Series {
            now.iter()
                .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v > 0.0)
                .collect()
        };
        Usage {
            requests: minus(&self.requests, &earlier.requests),
            units: minus(&self.units, &earlier.units),
        }
    }

    fn requests(&self, client: &str, operation: &str) -> f64 {
        self.requests
            .get(&(client.to_string(), operation.to_string()))
            .copied()
            .unwrap_or(0.0)
    }

    fn total(series: &Series, client: &str, only: impl Fn(&str) -> bool) -> f64 {
        series
            .iter()
            .filter(|((c, op), _)| c == client && only(op))
            .map(|(_, v)| v)
            .sum()
    }
}

/// Whether `operation` writes (billed in write units) rather than reads.
fn writes(operation: &str) -> bool {
    matches!(
        operation,
        "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem"
    )
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One phase's row: requests, write and read units per message, and the
/// on-demand cost of a million such messages (store client only: the lease
/// and the Streams reader cost per hour, not per message — the idle row).
fn row(what: &str, usage: &Usage, messages: f64) -> String {
    let store_requests = Usage::total(&usage.requests, "store", |_| true) / messages;
    let write_units = Usage::total(&usage.units, "store", writes) / messages;
    let read_units = Usage::total(&usage.units, "store", |op| !writes(op)) / messages;
    let stream_reads = usage.requests("streams", "GetRecords") / messages;
    let dollars = write_units * WRITE_PER_MILLION
        + read_units * READ_PER_MILLION
        + stream_reads * STREAM_READ_PER_MILLION;
    let by_operation: Vec<String> = usage
        .requests
        .iter()
        .filter(|((client, _), _)| client == "store")
        .map(|((_, op), n)| format!("{op} {:.2}", n / messages))
        .collect();
    format!(
        "| {what} | {store_requests:.2} ({}) | {write_units:.2} | {read_units:.2} | {stream_reads:.3} | ${dollars:.2} |",
        by_operation.join(", ")
    )
}

#[tokio::test]
async fn dynamodb_requests_and_capacity_per_message_are_counted() {
    let customers = env_number("DYNAMO_COST_CUSTOMERS", 4);
    let texts = env_number("DYNAMO_COST_TEXTS", 3);
    let idle_secs = env_number("DYNAMO_COST_IDLE_SECS", 0);
    let moto = Moto::shared();
    let mut env = dynamodb_env(&moto);
    env.push(("METRICS_TOKEN".into(), TOKEN.into()));
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 0).await;
    let sb = Switchboard::start(Options {
        twilio_api_base: sim.base.clone(),
        extra_env: env,
        ..Options::default()
    })
    .await;
    let mut alice = Agent::connect(
        &sb,
        "alice",
        BTreeMap::new(),
        Some(true),
        Some(customers as u32),
    )
    .await;
    let numbers: Vec<String> = (0..customers as usize).map(|c| number(900 + c)).collect();
    let inbound = (customers * texts) as f64;

    // Customers' texts, each to the agent.
    let start = Usage::of(&sb).await;
    for i in 0..texts {
        for customer in &numbers {
            let (status, answer) = sb.text(customer, &format!("question {i}")).await;
            assert_eq!(status, 200, "{answer}");
        }
    }
    alice
        .until(wait_for(customers * texts), "every text", |a| {
            numbers.iter().all(|c| a.bodies(c).len() == texts as usize)
        })
        .await;
    let after_texts = Usage::of(&sb).await;
    let texts_usage = after_texts.since(&start);

    // A reply to each, sent through Twilio, with its status callbacks.
    let mut sent = 0;
    for (n, customer) in numbers.iter().enumerate() {
        for i in 0..texts {
            alice
                .send(&ClientFrame::Reply {
                    conversation: customer.clone(),
                    client_id: format!("r{n}.{i}"),
                    body: format!("answer {i}"),
                    media: Vec::new(),
                })
                .await;
            sent += 1;
        }
    }
    // Replies delivered, each once however many frames said so.
    let delivered = |a: &Agent| {
        a.frames
            .iter()
            .filter_map(|f| match f {
                ServerFrame::Status {
                    conversation,
                    seq,
                    status: DeliveryStatus::Delivered,
                    ..
                } => Some((conversation.clone(), *seq)),
                _ => None,
            })
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    if !alice
        .try_until(wait_for(sent as u64), |a| delivered(a) >= sent)
        .await
    {
        panic!(
            "{} of {sent} replies delivered, {} sent to Twilio; log:\n{}",
            delivered(&alice),
            sim.sent().await.len(),
            sb.log()
        );
    }
    let sent_to_twilio = sim.sent().await.len();
    assert_eq!(sent_to_twilio, sent, "each reply sent once");
    let replies_usage = Usage::of(&sb).await.since(&after_texts);

    // The counting works: each phase's work shows under its operations.
    let written = |u: &Usage| Usage::total(&u.requests, "store", writes);
    assert!(
        written(&texts_usage) >= inbound,
        "each stored text is at least one counted write: {texts_usage:?}"
    );
    assert!(
        written(&replies_usage) >= sent as f64,
        "each reply is at least one counted write: {replies_usage:?}"
    );
    assert!(
        Usage::total(&texts_usage.units, "store", writes) > 0.0,
        "DynamoDB's consumed capacity is counted: {texts_usage:?}"
    );
    assert!(
        after_texts.requests("streams", "GetRecords") > 0.0,
        "the Streams reader's requests are counted: {after_texts:?}"
    );
    assert!(
        after_texts.requests("lease", "UpdateItem") + after_texts.requests("lease", "PutItem")
            > 0.0,
        "the lease's requests are counted: {after_texts:?}"
    );

    let mut table = vec![
        format!(
            "DynamoDB requests and capacity units per message ({} customers × {texts} texts, each answered; endpoint: {}):",
            customers,
            if common::aws::on_localstack() { "LocalStack (DynamoDB Local)" } else { "moto (fixed capacity figures)" }
        ),
        String::new(),
        "| per message | store requests (by operation) | write units | read units | Streams GetRecords | on-demand $ per million |".into(),
        "|---|---|---|---|---|---|".into(),
        row("customer's text (stored, routed, checkpointed)", &texts_usage, inbound),
        row("agent's reply (stored, sent, 2 status callbacks)", &replies_usage, sent as f64),
    ];
    if idle_secs > 0 {
        let before = Usage::of(&sb).await;
        let began = Instant::now();
        tokio::time::sleep(Duration::from_secs(idle_secs)).await;
        let idle = Usage::of(&sb).await.since(&before);
        let hours = began.elapsed().as_secs_f64() / 3600.0;
        let per_hour: Vec<String> = idle
            .requests
            .iter()
            .map(|((client, op), n)| format!("{client} {op} {:.0}", n / hours))
            .collect();
        let units = |only: fn(&str) -> bool| -> f64 {
            ["store", "lease"]
                .iter()
                .map(|client| Usage::total(&idle.units, client, only))
                .sum()
        };
        let stream_reads = idle.requests("streams", "GetRecords");
        let month = 730.0 / hours;
        let dollars = (units(writes) * WRITE_PER_MILLION
            + units(|op| !writes(op)) * READ_PER_MILLION
            + stream_reads * STREAM_READ_PER_MILLION)
            * month
            / 1e6;
        table.push(String::new());
        table.push(format!(
            "Idle, per hour ({idle_secs} s measured): {}; about ${dollars:.2} a month per instance (lease writes and Streams polls).",
            per_hour.join(", ")
        ));
    }
    let table = table.join("\n");
    println!("{table}");
    if let Ok(out) = std::env::var("DYNAMO_COST_OUT") {
        std::fs::write(&out, format!("{table}\n")).expect("write DYNAMO_COST_OUT");
    }
}
