//! Agents that answer every customer message, and survive the switchboard
//! being killed: each reconnects with backoff, resumes from the last seq it
//! saw, and resends every reply not yet acknowledged (same `client_id`, so
//! the switchboard stores it once).

use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_protocol::client::{self, Credentials, Incoming, ResumePoints};
use switchboard_protocol::{ClientFrame, ConversationId, Direction, Message, Seq, ServerFrame};

/// One message as an agent received it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub agent: usize,
    pub conversation: ConversationId,
    pub seq: Seq,
    pub direction: Direction,
    pub body: String,
}

/// Everything the agents saw and did, shared with the soak's driver.
#[derive(Debug, Default)]
pub struct AgentsLog {
    /// Every message delivered (in `assigned` histories and `message` frames),
    /// in arrival order per agent.
    pub deliveries: Vec<Delivery>,
    /// Replies acknowledged (`ack`): their bodies.
    pub acked: Vec<String>,
    /// Replies sent and not acknowledged yet, by `client_id`.
    pub pending: BTreeMap<String, ClientFrame>,
    /// Sockets opened (the first and every reconnect).
    pub connections: u64,
    /// `error` frames and unreadable frames.
    pub problems: Vec<String>,
}

/// The reply body an agent writes to a customer message.
pub fn reply_body(customer_body: &str) -> String {
    format!("re {customer_body}")
}

/// Runs agent `index` until `stop` is set.
pub async fn run(
    index: usize,
    credentials: Credentials,
    log: Arc<Mutex<AgentsLog>>,
    stop: Arc<AtomicBool>,
) {
    let mut resume = ResumePoints::default();
    while !stop.load(Ordering::Relaxed) {
        let mut socket = match client::connect_retrying(&credentials, |_, _| {}).await {
            Ok(socket) => socket,
            // The retry policy gave up while the switchboard was down: go on.
            Err(e) if e.is_transient() => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => {
                with(&log, |log| log.problems.push(format!("agent{index}: {e}")));
                return;
            }
        };
        with(&log, |log| log.connections += 1);
        let hello = ClientFrame::Hello {
            resume: resume.to_hello(),
            available: Some(true),
            capacity: Some(100),
            client: None,
        };
        if client::send(&mut socket, &hello).await.is_err() {
            continue;
        }
        let mut resend = tokio::time::interval(Duration::from_secs(2));
        let mut stopping = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                next = socket.next() => {
                    let Some(Ok(message)) = next else { break };
                    let frame = match client::read(&message) {
                        Incoming::Frame(frame) => frame,
                        Incoming::Closed(_) => break,
                        Incoming::Unreadable(text) => {
                            with(&log, |log| log.problems.push(text));
                            continue;
                        }
                        Incoming::Control => continue,
                    };
                    resume.observe(&frame);
                    for reply in handle(index, frame, &log) {
                        if client::send(&mut socket, &reply).await.is_err() {
                            break;
                        }
                    }
                }
                _ = resend.tick() => {
                    // Replies the switchboard never acknowledged (lost in a
                    // kill, or refused as unavailable): same client_id again.
                    let pending: Vec<ClientFrame> = with(&log, |log| log.pending.values().cloned().collect());
                    for reply in pending {
                        if client::send(&mut socket, &reply).await.is_err() {
                            break;
                        }
                    }
                }
                _ = stopping.tick() => {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                }
            }
        }
    }
}

/// Records one frame; returns the replies to send.
fn handle(index: usize, frame: ServerFrame, log: &Mutex<AgentsLog>) -> Vec<ClientFrame> {
    let messages: Vec<Message> = match frame {
        ServerFrame::Assigned { history, .. } => history,
        ServerFrame::Message { message } => vec![message],
        ServerFrame::Ack { client_id, .. } => {
            with(log, |log| {
                if let Some(ClientFrame::Reply { body, .. }) = log.pending.remove(&client_id) {
                    log.acked.push(body);
                }
            });
            return Vec::new();
        }
        ServerFrame::Error { code, message, .. } => {
            with(log, |log| log.problems.push(format!("{code:?}: {message}")));
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    with(log, |log| {
        let mut replies = Vec::new();
        for m in messages {
            if m.direction == Direction::Inbound {
                let client_id = format!("{}-{}", m.conversation, m.seq);
                let reply = ClientFrame::Reply {
                    conversation: m.conversation.clone(),
                    client_id: client_id.clone(),
                    body: reply_body(&m.body),
                    media: Vec::new(),
                };
                // Answered once per message, whichever frame brought it.
                if !log.pending.contains_key(&client_id)
                    && !log.acked.contains(&reply_body(&m.body))
                {
                    log.pending.insert(client_id, reply.clone());
                    replies.push(reply);
                }
            }
            log.deliveries.push(Delivery {
                agent: index,
                conversation: m.conversation,
                seq: m.seq,
                direction: m.direction,
                body: m.body,
            });
        }
        replies
    })
}

/// Runs `f` on the shared log (a poisoned lock still holds the data).
pub fn with<T>(log: &Mutex<AgentsLog>, f: impl FnOnce(&mut AgentsLog) -> T) -> T {
    let mut guard = log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut guard)
}
