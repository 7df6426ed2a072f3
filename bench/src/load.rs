//! HTTP/1.1 load over keep-alive connections, as fast as answers come back
//! (closed loop) or at a fixed rate (open loop).
//!
//! One task per connection drives a raw hyper `http1` client connection with
//! pipelining off: send one pre-built request, read the whole answer, repeat.
//! Requests come from a shared [`Pool`] in id order, so the ids a phase used
//! form one contiguous range that the ledger can audit afterwards. Only
//! requests that start after the warm-up count towards latency, and only
//! answers that complete inside the measured window count towards throughput.

use crate::ledger::{Ledger, Outcome};
use crate::stats;
use crate::webhook::Pool;
use anyhow::Context as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const SIGNATURE_HEADER: HeaderName = HeaderName::from_static("x-twilio-signature");
const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");
/// A request unanswered this long counts as failed; without a limit a
/// deadlocked server would hang the benchmark instead of being reported.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What one phase of load looks like.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub addr: SocketAddr,
    /// Request target, e.g. `/twilio/sms`.
    pub path: String,
    pub connections: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Requests per second across all connections; `None` = closed loop.
    pub rate: Option<f64>,
    /// Wrap around the pool instead of stopping when it runs out. Only for
    /// the baseline, which does not care about unique `MessageSid`s.
    pub reuse_pool: bool,
}

/// What one phase measured.
#[derive(Debug)]
pub struct LoadResult {
    pub measured: Duration,
    /// `200` answers completed inside the measured window.
    pub ok_in_window: u64,
    /// Request → full answer, for requests started inside the window.
    pub latency: Histogram<u64>,
    /// Requests sent in the whole phase (warm-up included).
    pub sent: u64,
    /// Answers other than `200`, by status.
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    /// The pool ran out before the phase's time did.
    pub pool_exhausted: bool,
    /// Ids this phase used (meaningless with `reuse_pool`).
    pub ids: Range<u32>,
    /// The plan's rate: `None` for closed loop.
    pub rate: Option<f64>,
    /// Open loop only: the latest a request left after its scheduled time.
    pub max_send_lag: Duration,
    /// First request to last answer.
    pub elapsed: Duration,
    /// The measured window: from the end of the warm-up to the end of the phase.
    pub window: Range<Instant>,
}

impl LoadResult {
    /// Acknowledged requests per second in the measured window.
    pub fn throughput(&self) -> f64 {
        self.ok_in_window as f64 / self.measured.as_secs_f64()
    }

    pub fn errors(&self) -> u64 {
        self.transport_errors + self.statuses.values().sum::<u64>()
    }
}

/// Everything the connection tasks share.
struct Shared {
    plan: LoadPlan,
    pool: Arc<Pool>,
    ledger: Arc<Ledger>,
    uri: Uri,
    host: HeaderValue,
    next: AtomicU64,
    start: Instant,
    warm: Instant,
    end: Instant,
}

/// One connection's tally, merged into the [`LoadResult`].
struct ConnTally {
    latency: Histogram<u64>,
    ok_in_window: u64,
    sent: u64,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    exhausted: bool,
    max_send_lag: Duration,
}

/// Runs one phase: opens every connection first, so connecting is not
/// measured, then starts the clock.
pub async fn run(
    plan: LoadPlan,
    pool: Arc<Pool>,
    ledger: Arc<Ledger>,
) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(!pool.is_empty(), "empty request pool");
    let mut senders = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        senders.push(connect(plan.addr).await?);
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        uri: plan.path.parse().context("request path")?,
        host: HeaderValue::from_str(&plan.addr.to_string())?,
        warm: start + plan.warmup,
        end: start + plan.warmup + plan.measure,
        start,
        next: AtomicU64::new(0),
        plan,
        pool,
        ledger,
    });
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|sender| tokio::spawn(drive(shared.clone(), sender)))
        .collect();
    let mut result = LoadResult {
        measured: shared.plan.measure,
        ok_in_window: 0,
        latency: stats::histogram(),
        sent: 0,
        statuses: BTreeMap::new(),
        transport_errors: 0,
        pool_exhausted: false,
        ids: 0..0,
        rate: shared.plan.rate,
        max_send_lag: Duration::ZERO,
        elapsed: Duration::ZERO,
        window: shared.warm..shared.end,
    };
    for task in tasks {
        let tally = task.await.context("load connection task")?;
        result
            .latency
            .add(&tally.latency)
            .context("merging histograms")?;
        result.ok_in_window += tally.ok_in_window;
        result.sent += tally.sent;
        result.transport_errors += tally.transport_errors;
        result.pool_exhausted |= tally.exhausted;
        result.max_send_lag = result.max_send_lag.max(tally.max_send_lag);
        for (status, n) in tally.statuses {
            *result.statuses.entry(status).or_default() += n;
        }
    }
    result.elapsed = start.elapsed();
    let used = shared
        .next
        .load(Ordering::Relaxed)
        .min(shared.pool.len() as u64) as u32;
    result.ids = shared.pool.base..shared.pool.base + used;
    if result.measured > result.elapsed {
        // A phase that ran out of requests measured for less time.
        result.measured = result
            .elapsed
            .saturating_sub(shared.plan.warmup)
            .max(Duration::from_millis(1));
    }
    Ok(result)
}

/// The loop of one keep-alive connection.
async fn drive(shared: Arc<Shared>, mut sender: SendRequest<Full<Bytes>>) -> ConnTally {
    let mut tally = ConnTally {
        latency: stats::histogram(),
        ok_in_window: 0,
        sent: 0,
        statuses: BTreeMap::new(),
        transport_errors: 0,
        exhausted: false,
        max_send_lag: Duration::ZERO,
    };
    let pool_len = shared.pool.len() as u64;
    loop {
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        // Time ends a phase before the pool does: a paced phase's pool holds
        // exactly what its schedule needs.
        let due = shared
            .plan
            .rate
            .map(|rate| shared.start + Duration::from_secs_f64(n as f64 / rate));
        if due.unwrap_or_else(Instant::now) >= shared.end {
            break;
        }
        let index = if shared.plan.reuse_pool {
            n % pool_len
        } else if n < pool_len {
            n
        } else {
            tally.exhausted = true;
            break;
        };
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
            tally.max_send_lag = tally
                .max_send_lag
                .max(Instant::now().saturating_duration_since(due));
        }

        let id = shared.pool.base + index as u32;
        let hook = &shared.pool.items[index as usize];
        let mut request = Request::new(Full::new(hook.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = shared.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, shared.host.clone());
        headers.insert(CONTENT_TYPE, FORM);
        headers.insert(SIGNATURE_HEADER, hook.signature.clone());

        let sent_at = Instant::now();
        shared.ledger.mark_sent(id, sent_at);
        tally.sent += 1;
        let answer = exchange(&mut sender, request).await;
        let done_at = Instant::now();
        match answer {
            Ok(StatusCode::OK) => {
                shared
                    .ledger
                    .mark_outcome(id, Outcome::Acknowledged, done_at);
                if done_at >= shared.warm && done_at <= shared.end {
                    tally.ok_in_window += 1;
                }
            }
            Ok(status) => {
                shared.ledger.mark_outcome(id, Outcome::Rejected, done_at);
                *tally.statuses.entry(status.as_u16()).or_default() += 1;
            }
            Err(_) => {
                shared
                    .ledger
                    .mark_outcome(id, Outcome::TransportError, done_at);
                tally.transport_errors += 1;
                // The connection is unusable after a transport error; open a
                // fresh one, and give up on this connection if even that fails.
                match connect(shared.plan.addr).await {
                    Ok(fresh) => sender = fresh,
                    Err(_) => break,
                }
            }
        }
        if sent_at >= shared.warm && sent_at < shared.end {
            stats::record(&mut tally.latency, done_at - sent_at);
        }
    }
    tally
}

/// Sends one request and reads the whole answer, so the connection is ready
/// for the next one.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<StatusCode> {
    let round_trip = async {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        anyhow::Ok(status)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, round_trip)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// Opens one HTTP/1.1 keep-alive client connection.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out"))?
        .with_context(|| format!("connecting to {addr}"))?;
    // Requests are small and latency is measured: do not let Nagle batch them.
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; the request
        // path reports any error that matters.
        let _ = connection.await;
    });
    Ok(sender)
}

/// `GET path` on a fresh connection; the status, or an error if unreachable.
pub async fn get_status(addr: SocketAddr, path: &str) -> anyhow::Result<StatusCode> {
    let mut sender = connect(addr).await?;
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = path.parse()?;
    request
        .headers_mut()
        .insert(HOST, HeaderValue::from_str(&addr.to_string())?);
    exchange(&mut sender, request).await
}
