//! Several switchboards on one DynamoDB table set: one leader at a time.
//!
//! Every instance takes webhooks and status callbacks (they only write
//! DynamoDB). Routing, the Streams reader, the outbox and alerts run on the
//! one instance that holds the router lease ([`lease`]: the state machine,
//! [`dynamo_lease`]: its DynamoDB calls, [`duties`]: what a leader runs).
//! With `STORE=sled` there is one instance and no lease: it always leads.
//!
//! [`run`] is the loop that keeps the lease: it asks the state machine what
//! to do, makes the call, and reports the answer. On gaining the lease it
//! sets the store's fence (every routing and outbox write is then
//! conditioned on this epoch) and asks the duties task to start; on losing
//! it, it clears the fence first, then the duties stop. The duties run in
//! their own task, so loading routes at a takeover never delays a renewal.

pub mod duties;
pub mod dynamo_lease;
pub mod lease;

use crate::store::fence::{Fence, FenceCell};
use duties::{Duties, Running};
use dynamo_lease::{Answer, DynamoLease};
use lease::{Call, Change, Lease, Next, Outcome};
use std::time::Instant;
use tokio::sync::watch;

/// This instance's id in the lease: `INSTANCE_ID`, else Heroku's `DYNO`
/// (stable across a dyno's restarts), else the host name plus a random
/// suffix (two processes on one host never share an id).
pub async fn instance_id(configured: Option<&str>) -> String {
    if let Some(id) = configured {
        return id.to_string();
    }
    // Heroku names each dyno (`web.1`) and keeps the name across restarts:
    // a restarted dyno then takes its own lease at once (lease.rs, "Restart").
    if let Some(dyno) = std::env::var("DYNO").ok().filter(|d| !d.trim().is_empty()) {
        return dyno.trim().to_string();
    }
    let host = match std::env::var("HOSTNAME") {
        Ok(host) => Some(host),
        Err(_) => tokio::fs::read_to_string("/proc/sys/kernel/hostname")
            .await
            .ok(),
    };
    let host = host
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "switchboard".into());
    format!("{host}-{:08x}", rand::random::<u32>())
}

/// Keeps (or contends for) the lease until `shutdown` turns true; then
/// stops the duties if leading and releases the lease, in that order (the
/// next leader must not start while this one's outbox may still send).
pub async fn run(
    mut lease: Lease,
    io: DynamoLease,
    duties: Duties,
    fence: FenceCell,
    mut shutdown: watch::Receiver<bool>,
) {
    let (wanted, wanted_rx) = watch::channel::<Option<Fence>>(None);
    let follower = tokio::spawn(follow(duties, wanted_rx, fence.clone()));
    let mut refusals = fence.refusals();
    refusals.mark_unchanged();
    tracing::info!(instance = lease.me(), "contending for the router lease");
    crate::telemetry::leader(false);
    loop {
        // Shutdown, or its sender gone (nothing would ever stop us then).
        if *shutdown.borrow() || shutdown.has_changed().is_err() {
            break;
        }
        let (change, next) = lease.poll(Instant::now());
        act(change, &fence, &wanted);
        match next {
            Next::Wait(until) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    Ok(()) = refusals.changed() => act(lease.refused(Instant::now()), &fence, &wanted),
                    _ = shutdown.changed() => {}
                }
            }
            Next::Call(call) => {
                let started = Instant::now();
                // A leader's call must not outlast its lease: at the
                // deadline the call is dropped and the next poll steps down.
                let deadline = lease.deadline().unwrap_or(started + lease_cap());
                let answer = tokio::select! {
                    answer = io.perform(&call) => Some(answer),
                    _ = tokio::time::sleep_until(deadline.into()) => None,
                    // Shutdown does not wait for a slow call (the loop ends
                    // at its top).
                    _ = shutdown.changed() => None,
                    Ok(()) = refusals.changed() => {
                        act(lease.refused(Instant::now()), &fence, &wanted);
                        None
                    }
                };
                let now = Instant::now();
                let change = match (call, answer) {
                    (_, None) => None,
                    (Call::Read, Some(Answer::Read(item))) => {
                        lease.read(now, item);
                        None
                    }
                    (Call::Take { .. }, Some(Answer::Wrote(outcome))) => {
                        lease.took(started, now, outcome)
                    }
                    (Call::Renew { .. }, Some(Answer::Wrote(outcome))) => {
                        lease.renewed(started, now, outcome)
                    }
                    (Call::Release { .. }, Some(_)) => {
                        lease.released(now);
                        None
                    }
                    (call, Some(_)) => {
                        tracing::error!(?call, "the lease call got an answer of the wrong kind");
                        None
                    }
                };
                act(change, &fence, &wanted);
            }
        }
    }
    // Shutdown: stop the duties (the fence goes first), wait for them, then
    // release the lease so another instance takes over without waiting.
    act(lease.resign(), &fence, &wanted);
    drop(wanted);
    let _ = follower.await;
    if let (_, Next::Call(call @ Call::Release { .. })) = lease.poll(Instant::now()) {
        match io.perform(&call).await {
            Answer::Wrote(Outcome::Done) => tracing::info!("router lease released"),
            _ => tracing::warn!(
                "could not release the router lease; another instance takes it when it runs out"
            ),
        }
        lease.released(Instant::now());
    }
}

/// How long a contender's call may take (it has no lease to outlast; the
/// client's own timeouts end it sooner).
fn lease_cap() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

/// Applies a change of role: the fence at once, the duties through their task.
fn act(change: Option<Change>, fence: &FenceCell, wanted: &watch::Sender<Option<Fence>>) {
    match change {
        Some(Change::Gained(new)) => {
            tracing::info!(
                holder = new.holder,
                epoch = new.epoch,
                "took the router lease"
            );
            fence.set(Some(new.clone()));
            wanted.send_replace(Some(new));
        }
        Some(Change::Lost(why)) => {
            tracing::warn!(?why, "lost the router lease; stepping down");
            fence.set(None);
            if why != lease::LostBecause::Resigned {
                // The outbox drops its POSTs in flight (outbox/handover.rs).
                fence.report_lost();
            }
            wanted.send_replace(None);
        }
        None => {}
    }
}

/// The duties task: starts them while a fence is wanted, stops them when
/// it is not (or changed: a new term), and stops them for good when the
/// lease loop ends.
async fn follow(duties: Duties, mut wanted: watch::Receiver<Option<Fence>>, fence: FenceCell) {
    let mut running: Option<(Fence, Running)> = None;
    loop {
        let want = wanted.borrow_and_update().clone();
        let current = running.as_ref().map(|(f, _)| f.clone());
        if current != want {
            if let Some((_, term)) = running.take() {
                duties.stop(term).await;
            }
            if let Some(new) = want {
                match duties.start().await {
                    Ok(term) => running = Some((new, term)),
                    Err(e) => {
                        // Step down (as if fenced off) rather than lead
                        // without routing; the lease is taken again later.
                        tracing::error!(error = %e, "could not start routing after taking the lease; stepping down");
                        fence.report_refused();
                        if wanted.changed().await.is_err() {
                            break;
                        }
                    }
                }
            }
            // What is wanted may have changed while starting or stopping.
            continue;
        }
        if wanted.changed().await.is_err() {
            break;
        }
    }
    if let Some((_, term)) = running.take() {
        duties.stop(term).await;
    }
}
