//! Benchmark of the history port on the sled store (`#[ignore]`d; run in
//! release by `scripts/bench-history.sh`, which writes
//! `bench/results/history-latest.md`): stores `HISTORY_BENCH_MESSAGES`
//! (100,000) messages from 20 per customer, half of them agents' replies,
//! each customer's conversation resolved after its 10th and 20th message,
//! then times searches (first and second pages of 20), the Resolved view
//! (the team's and one agent's, first and a deep page) and a customer's
//! past conversations. Prints `history bench:` lines; never asserts a time.

use super::history::{self, Cursor, Page};
use super::search::Query;
use super::sled_store::{SledOptions, SledStore};
use super::{InboundMessage, MessageLog, Reply, RouteRecord, RoutingState};
use crate::conversation::figures::Span;
use crate::durability::Durability;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AGENTS: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// Messages per customer, and after which ones their conversation is resolved.
const PER_CUSTOMER: usize = 20;
const RESOLVE_AFTER: [usize; 2] = [10, 20];
/// Writes in flight while loading (the group-commit writer batches them).
const IN_FLIGHT: usize = 512;
/// Timed runs per query.
const RUNS: usize = 200;

fn customer(i: usize) -> String {
    format!("+1555{:07}", 1_000_000 + i)
}

/// A message body: 6–14 words, a few domain words at fixed shares (1% say
/// "refund", 5% "parcel", 20% "order", 60% "the"), the rest drawn from
/// 5,000 made-up words (so a made-up word is in ~0.2% of messages).
fn body(rng: &mut impl Rng) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "va", "ze", "bo", "di", "fu", "ga", "hi",
        "ju",
    ];
    let mut words: Vec<String> = Vec::new();
    for (word, share) in [
        ("refund", 0.01),
        ("parcel", 0.05),
        ("order", 0.2),
        ("the", 0.6),
    ] {
        if rng.random_bool(share) {
            words.push(word.to_string());
        }
    }
    for _ in 0..rng.random_range(6..14) {
        let n: usize = rng.random_range(0..5_000);
        let word: String = [n % 16, (n / 16) % 16, (n / 256) % 16, n / 4096]
            .iter()
            .map(|s| SYLLABLES[*s])
            .collect();
        words.push(word);
    }
    words.join(" ")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// Times `run` `RUNS` times and prints its line.
async fn time<F, Fut>(what: &str, run: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    time_runs(what, RUNS, run).await
}

/// Times `run` `runs` times and prints its line.
async fn time_runs<F, Fut>(what: &str, runs: usize, mut run: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut took = Vec::with_capacity(runs);
    let mut found = 0;
    for _ in 0..runs {
        let start = Instant::now();
        found = run().await;
        took.push(start.elapsed());
    }
    took.sort();
    println!(
        "history bench: what=\"{what}\" results={found} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} runs={runs}",
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        percentile(&took, 1.0)
    );
}

fn next_of<T>(page: &Page<T>) -> Option<Cursor> {
    page.next.as_deref().and_then(Cursor::parse)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-history.sh runs it in release"]
async fn history_bench() {
    let messages: usize = std::env::var("HISTORY_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let customers = (messages / PER_CUSTOMER).max(1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let (store, _outbox) = SledStore::open(SledOptions {
        path: dir.path(),
        cache_mb: 64,
        durability: Durability::Fsync,
    })
    .expect("open sled");
    let store = Arc::new(store);

    // Load: round k writes every customer's k-th message (odd k: a reply).
    let start = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut at_ms = 1_700_000_000_000u64;
    for k in 1..=PER_CUSTOMER {
        let mut writes: tokio::task::JoinSet<super::Result<()>> = tokio::task::JoinSet::new();
        for c in 0..customers {
            at_ms += 1;
            let (store, text) = (store.clone(), body(&mut rng));
            let number = customer(c);
            if writes.len() >= IN_FLIGHT {
                if let Some(done) = writes.join_next().await {
                    done.expect("a write task").expect("a write");
                }
            }
            writes.spawn(async move {
                if k % 2 == 1 {
                    let m = InboundMessage {
                        message_sid: format!("SM{c}x{k}"),
                        from: number,
                        to: "+15550009999".into(),
                        body: text,
                        country: None,
                        media: Vec::new(),
                        at_ms,
                    };
                    store.append_inbound(m).await.map(|_| ())
                } else {
                    let r = Reply {
                        conversation: number,
                        agent: AGENTS[c % AGENTS.len()].into(),
                        client_id: format!("r{c}x{k}"),
                        body: text,
                        media: Vec::new(),
                        at_ms,
                        kind: Default::default(),
                    };
                    store.append_reply(r).await.map(|_| ())
                }
            });
        }
        while let Some(done) = writes.join_next().await {
            done.expect("a write task").expect("a write");
        }
        if RESOLVE_AFTER.contains(&k) {
            let mut resolves: tokio::task::JoinSet<super::Result<super::RouteWrite>> =
                tokio::task::JoinSet::new();
            for c in 0..customers {
                at_ms += 1;
                let route = RouteRecord::Resolved {
                    at_ms,
                    upto_seq: k as u64,
                    by: Some(AGENTS[c % AGENTS.len()].into()),
                };
                if resolves.len() >= IN_FLIGHT {
                    if let Some(done) = resolves.join_next().await {
                        done.expect("a resolve task").expect("a resolve");
                    }
                }
                let store = store.clone();
                resolves.spawn(async move { store.save_route(&customer(c), &route).await });
            }
            while let Some(done) = resolves.join_next().await {
                done.expect("a resolve task").expect("a resolve");
            }
        }
    }
    let loaded = start.elapsed();
    println!(
        "history bench: messages={} customers={customers} resolves={} load_s={:.1} durability={:?}",
        customers * PER_CUSTOMER,
        customers * RESOLVE_AFTER.len(),
        loaded.as_secs_f64(),
        Durability::Fsync
    );

    let log: &dyn MessageLog = &*store;
    let hist: &dyn super::History = &*store;
    for text in [
        "refund",
        "parcel",
        "order",
        "the",
        "order refund",
        "lokakaka",
        // Word beginnings: of one word ("refund", "order"), of two made-up
        // words, of ~300 made-up words (every one starting "ka": half the
        // messages), and two at once.
        "refu",
        "ord",
        "lokaka",
        "ka",
        "ord refu",
        &customer(customers / 2)[5..],
        &customer(customers / 2)[..9],
        // A number's last four digits.
        &customer(customers / 2)[8..],
    ] {
        let query = Query::parse(text).expect("a query");
        time(&format!("search {text:?}, page 1"), || async {
            let page = history::search_page(hist, &query, None, 20).await;
            page.expect("search").items.len()
        })
        .await;
        let first = history::search_page(hist, &query, None, 20)
            .await
            .expect("search");
        if let Some(after) = next_of(&first) {
            time(&format!("search {text:?}, page 2"), || async {
                let page = history::search_page(hist, &query, Some(&after), 20).await;
                page.expect("search").items.len()
            })
            .await;
        }
    }

    for (label, agent) in [("team", None), ("one agent", Some("alice"))] {
        time(&format!("resolved ({label}), page 1"), || async {
            let page = history::resolved_page(log, hist, agent, None, 20).await;
            page.expect("resolved").items.len()
        })
        .await;
        // Page 50 (1,000 resolves back).
        let mut after = None;
        for _ in 0..49 {
            let page = history::resolved_page(log, hist, agent, after.as_ref(), 20)
                .await
                .expect("resolved");
            after = next_of(&page);
        }
        time(&format!("resolved ({label}), page 50"), || async {
            let page = history::resolved_page(log, hist, agent, after.as_ref(), 20).await;
            page.expect("resolved").items.len()
        })
        .await;
    }
    let mut pick = rand::rngs::StdRng::seed_from_u64(11);
    time("a customer's past conversations", || {
        let number = customer(pick.random_range(0..customers));
        async move { history::past(log, hist, &number).await.expect("past").len() }
    })
    .await;

    // The supervisor's figures (`/v1/history/stats`) over the last 24 hours
    // of the load: every resolve is in range (the bound, 5,000, applies).
    // Cold: a fresh service reads every conversation; warm: only the list
    // of resolves (what a dialog refreshing every minute costs).
    let now_ms = at_ms + 1;
    let shared_log: Arc<dyn MessageLog> = store.clone();
    let shared_history: Arc<dyn super::History> = store.clone();
    let conversations =
        |report: crate::stats::Report| report.buckets.iter().map(|b| b.resolved as usize).sum();
    time_runs("stats, last 24 h, nothing cached", 10, || {
        let stats = crate::stats::Stats::new(shared_log.clone(), shared_history.clone());
        async move {
            let report = stats.report(Span::Hours, 0, now_ms).await;
            conversations(report.expect("stats"))
        }
    })
    .await;
    let warm = crate::stats::Stats::new(shared_log.clone(), shared_history.clone());
    warm.report(Span::Hours, 0, now_ms).await.expect("stats");
    time("stats, last 24 h, cached", || async {
        conversations(warm.report(Span::Hours, 0, now_ms).await.expect("stats"))
    })
    .await;

    let bytes: u64 = walk_size(dir.path());
    println!(
        "history bench: disk_mb={:.1}",
        bytes as f64 / (1024.0 * 1024.0)
    );
    super::Lifecycle::close(&*store).await.expect("close");
}

/// Bytes under `path`.
fn walk_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => walk_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
