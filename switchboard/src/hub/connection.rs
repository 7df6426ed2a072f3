//! One agent's WebSocket session.
//!
//! Reading and writing run side by side: the writer drains the bounded
//! buffer the router fills (plus keep-alive pings), the reader turns frames
//! into router commands. A bad frame gets an `error` frame and the session
//! goes on; a silent peer, a full buffer, a newer session of the same agent
//! or shutdown ends it.

use super::queue_list::QueueList;
use crate::canned::rules::Edit;
use crate::canned::service::EditError;
use crate::canned::Canned;
use crate::cluster::duties::Term;
use crate::http::AppState;
use crate::outbound_media::reply::{check_reply_media, ReplyMediaError};
use crate::router::{Command, Conn, ConnId, Outgoing, RouterHandle, RESUME_STATUS_WINDOW};
use crate::store::{MessageLog, StoreError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use switchboard_protocol::violation::{self, Violation, MAX_CLOSE_REASON};
use switchboard_protocol::{
    decode, encode, ClientFrame, ConversationInfo, DecodeError, Direction, ErrorCode, ServerFrame,
    MAX_NOTE_CHARS,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{interval, timeout, Instant, MissedTickBehavior};

/// Longest time between two pings; shorter when `AGENT_SILENCE_SECS` is
/// short, so a live peer always has two chances to answer in time.
const PING_AT_MOST_EVERY: Duration = Duration::from_secs(20);
/// How long a new connection may take to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest `hello.client` (an agent-UI instance id, a terminal agent's id).
const MAX_CLIENT_CHARS: usize = 128;
/// How long the peer may take to answer our Close (it may first have to
/// read a backlog of frames).
const CLOSE_HANDSHAKE_LIMIT: Duration = Duration::from_secs(4);

/// Serves one agent socket within `term`, the leadership term it was
/// accepted in: it ends with `not_leader` when the term does.
pub async fn serve(socket: WebSocket, agent: String, state: AppState, term: Term) {
    let (mut sink, mut stream) = socket.split();
    let conn_id = state.next_conn_id.fetch_add(1, Ordering::Relaxed);
    let (frames_tx, mut frames_rx) = mpsc::channel::<Outgoing>(state.config.agent_buffer_frames);
    let (close_tx, close_rx) = oneshot::channel::<ServerFrame>();
    // The reader tells the writer when the client broke the protocol.
    let (violation_tx, violation_rx) = oneshot::channel::<Violation>();
    let mut violation_tx = Some(violation_tx);
    let mut shutdown = state.shutdown.clone();

    // Wait for hello before telling the router anything.
    let hello = match timeout(HELLO_TIMEOUT, first_hello(&agent, &mut stream, &mut sink)).await {
        Ok(Some(hello)) => hello,
        _ => return,
    };
    let ClientFrame::Hello {
        resume,
        available,
        capacity,
        client,
    } = hello
    else {
        return;
    };
    let conn = Conn {
        id: conn_id,
        frames: frames_tx.clone(),
        close: Some(close_tx),
    };
    let router = term.router.clone();
    if term.ended.is_cancelled()
        || !router
            .send(Command::Connect {
                agent: agent.clone(),
                conn,
                client: client.unwrap_or_default(),
                resume,
                available,
                capacity,
            })
            .await
    {
        return;
    }

    // No frame at all (pongs included) for this long: the peer is gone.
    let silence_limit = Duration::from_secs_f64(state.config.agent_silence_secs);
    let ping_every = PING_AT_MOST_EVERY.min(silence_limit / 3);

    // Writer: router frames, canned replies, pings, and the final close.
    let store = state.store.clone();
    let canned = state.canned.clone();
    let mut canned_rx = canned.subscribe();
    let writer_agent = agent.clone();
    let ended = term.ended.clone();
    let mut writer = tokio::spawn(tracing::Instrument::in_current_span(async move {
        let mut ping = interval(ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (mut close_rx, mut violation_rx) = (close_rx, violation_rx);
        let mut close_code = 1000;
        let mut queue_list = QueueList::default();
        // Canned replies follow the `welcome`, never precede it.
        let mut welcomed = false;
        let farewell: Option<ServerFrame> = loop {
            tokio::select! {
                next = frames_rx.recv() => match next {
                    Some(item) => {
                        let welcome = matches!(item, Outgoing::Frame(ServerFrame::Welcome { .. }));
                        // Queue frames without flushing while more are
                        // waiting: one socket write for a burst, not one each.
                        let mut written = feed_item(&mut sink, &store, &mut queue_list, item).await;
                        if welcome && written.is_ok() {
                            welcomed = true;
                            written = feed_canned(&mut sink, &canned).await;
                            canned_rx.borrow_and_update();
                        }
                        let flushed = match written {
                            Ok(()) if frames_rx.is_empty() => sink.flush().await.map_err(FeedError::from),
                            other => other,
                        };
                        match flushed {
                            Ok(()) => {}
                            Err(FeedError::Socket(e)) => {
                                tracing::info!(error = %e, "agent socket closed");
                                return;
                            }
                            // What the agent must be sent next cannot be read:
                            // skipping it would leave a gap, so end the session
                            // and say why; the agent resumes from what it saw.
                            Err(FeedError::Store(e)) => {
                                tracing::error!(agent = writer_agent, error = %e, "could not read from the store what an agent must be sent; closing its socket");
                                close_code = CLOSE_INTERNAL_ERROR;
                                break Some(ServerFrame::Error {
                                    code: ErrorCode::Unavailable,
                                    message: format!("the switchboard could not read the store ({e}); reconnect and resume"),
                                    client_id: None,
                                    conversation: None,
                                    fatal: true,
                                });
                            }
                        }
                    }
                    None => break None,
                },
                Ok(()) = canned_rx.changed(), if welcomed => {
                    let replies = canned_rx.borrow_and_update().to_vec();
                    let frame = ServerFrame::Canned { replies };
                    if sink.send(Message::Text(encode(&frame).into())).await.is_err() { return; }
                }
                _ = ping.tick() => if sink.send(Message::Ping(Vec::new().into())).await.is_err() { return; },
                reason = &mut close_rx => break reason.ok(),
                Ok(violation) = &mut violation_rx => {
                    close_code = violation.code;
                    break Some(violation_frame(&violation));
                }
                _ = shutdown.changed() => break None,
                _ = ended.cancelled() => break None,
            }
        };
        // The reader reports a violation just before the router drops this
        // connection's channels, so either branch above may win: the
        // violation is what to tell the client.
        let farewell = match violation_rx.try_recv() {
            Ok(violation) => {
                close_code = violation.code;
                Some(violation_frame(&violation))
            }
            Err(_) => farewell,
        };
        // On shutdown the router also stops and drops this connection's
        // channels, so whichever branch won above, say why we are closing.
        let farewell = match farewell {
            None if *shutdown.borrow() => Some(ServerFrame::Error {
                code: ErrorCode::ShuttingDown,
                message: "the switchboard is restarting; reconnect and resume".into(),
                client_id: None,
                conversation: None,
                fatal: true,
            }),
            // Likewise when this instance stopped leading: the client
            // reconnects and the proxy finds it the new leader.
            None if ended.is_cancelled() => Some(ServerFrame::Error {
                code: ErrorCode::NotLeader,
                message: "this switchboard no longer routes; reconnect and resume".into(),
                client_id: None,
                conversation: None,
                fatal: true,
            }),
            other => other,
        };
        if let Some(frame) = &farewell {
            let _ = sink.send(Message::Text(encode(frame).into())).await;
        }
        let reason = match &farewell {
            Some(ServerFrame::Error { message, .. }) => {
                violation::truncate(message.clone(), MAX_CLOSE_REASON)
            }
            _ => String::new(),
        };
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: close_code,
                reason: reason.into(),
            })))
            .await;
    }));

    // Reader.
    let mut last_heard = Instant::now();
    let mut silence = interval(silence_limit / 4);
    let mut writer_done = false;
    loop {
        tokio::select! {
            incoming = stream.next() => {
                let message = match incoming {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => {
                        match violation::classify(&e) {
                            Some(v) => {
                                tracing::warn!(agent, code = v.code, reason = %v.reason, "closing an agent socket: the client broke the protocol");
                                if let Some(tx) = violation_tx.take() {
                                    let _ = tx.send(v);
                                }
                            }
                            None => tracing::info!(agent, error = %e, "agent socket failed"),
                        }
                        break;
                    }
                    None => break,
                };
                last_heard = Instant::now();
                match message {
                    Message::Text(text) => handle_frame(&state, &router, &agent, conn_id, &frames_tx, text.as_str()).await,
                    Message::Binary(_) => reply_error(&frames_tx, ErrorCode::BadFrame, "frames are JSON text, not binary".into()),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            _ = silence.tick() => if last_heard.elapsed() > silence_limit {
                tracing::info!(agent, "agent silent for too long; closing");
                break;
            },
            _ = &mut writer => {
                writer_done = true;
                break;
            }
        }
    }
    router
        .send(Command::Disconnect {
            agent: agent.clone(),
            conn_id,
        })
        .await;
    drop(frames_tx);
    if !writer_done {
        let told = violation_tx.is_none();
        let _ = timeout(Duration::from_secs(2), writer).await;
        if told {
            // We sent Close with the reason; give the peer time to read it.
            // After a violation the stream usually cannot be read any more,
            // so the peer's Close never shows up: keep the socket open for
            // the same bounded time anyway. Closed at once, a late pong from
            // the peer meets a closed socket, the kernel answers with a
            // reset, and the peer loses the reason it had not read yet.
            let linger = tokio::time::sleep(CLOSE_HANDSHAKE_LIMIT);
            let closed = timeout(CLOSE_HANDSHAKE_LIMIT, drain_until_close(&mut stream)).await;
            if !matches!(closed, Ok(true)) {
                linger.await;
            }
        }
    } else {
        // We sent Close: wait for the peer's. Dropping the socket while its
        // pongs sit unread makes the kernel answer with a reset, which
        // throws away what the peer has not read yet: the last messages
        // and the frame saying why we closed.
        let _ = timeout(CLOSE_HANDSHAKE_LIMIT, drain_until_close(&mut stream)).await;
    }
}

/// Reads (and discards) until the peer's Close (true) or the end of the
/// stream (false).
async fn drain_until_close(stream: &mut futures_util::stream::SplitStream<WebSocket>) -> bool {
    while let Some(Ok(message)) = stream.next().await {
        if matches!(message, Message::Close(_)) {
            return true;
        }
    }
    false
}

/// Messages per store read when streaming a range.
const RANGE_PAGE: u64 = 256;
/// Close code: the server hit an error it cannot go on from (RFC 6455).
const CLOSE_INTERNAL_ERROR: u16 = 1011;

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Why router output could not be queued on the socket.
#[derive(Debug, thiserror::Error)]
enum FeedError {
    /// The socket failed: the peer is gone.
    #[error("{0}")]
    Socket(#[from] axum::Error),
    /// The store could not supply what the frame needs.
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for FeedError {
    fn from(e: StoreError) -> Self {
        FeedError::Store(e.to_string())
    }
}

/// Queues one item of router output as frames (the caller flushes),
/// reading from the store what it needs.
async fn feed_item(
    sink: &mut Sink,
    store: &Arc<dyn MessageLog>,
    queue_list: &mut QueueList,
    item: Outgoing,
) -> Result<(), FeedError> {
    match item {
        Outgoing::Frame(frame) => feed(sink, &frame).await,
        Outgoing::Range {
            conversation,
            after,
            upto,
        } => feed_range(sink, store, &conversation, after, upto).await,
        Outgoing::Assigned {
            conversation,
            after,
            upto,
            waiting_since_ms,
        } => {
            let record = store.conversation(&conversation).await?.unwrap_or_default();
            let history = store.history(&conversation, after, upto).await?;
            history.iter().for_each(crate::telemetry::sent_to_agent);
            let frame = ServerFrame::Assigned {
                conversation: ConversationInfo {
                    id: conversation,
                    to: record.to,
                    country: record.country,
                    opted_out: record.opted_out,
                    waiting_since_ms,
                },
                after,
                history,
            };
            feed(sink, &frame).await
        }
        Outgoing::Watching {
            conversation,
            holder,
            upto,
        } => {
            let record = store.conversation(&conversation).await?.unwrap_or_default();
            let history = store.history(&conversation, 0, upto).await?;
            let frame = ServerFrame::Watching {
                conversation: ConversationInfo {
                    id: conversation,
                    to: record.to,
                    country: record.country,
                    opted_out: record.opted_out,
                    waiting_since_ms: None,
                },
                holder,
                history,
            };
            feed(sink, &frame).await
        }
        Outgoing::Resume { conversation, seen } => {
            let recent = store
                .history(
                    &conversation,
                    seen.saturating_sub(RESUME_STATUS_WINDOW),
                    seen,
                )
                .await?;
            for m in recent
                .into_iter()
                .filter(|m| m.direction == Direction::Outbound)
            {
                if let Some(status) = m.status {
                    let frame = ServerFrame::Status {
                        conversation: m.conversation,
                        seq: m.seq,
                        status,
                        error: m.error,
                    };
                    feed(sink, &frame).await?;
                }
            }
            feed_opt_out(sink, store, conversation).await
        }
        Outgoing::Status { conversation, seq } => {
            let Some(m) = store.message(&conversation, seq).await? else {
                return Ok(());
            };
            let Some(status) = m.status else {
                return Ok(());
            };
            let frame = ServerFrame::Status {
                conversation,
                seq,
                status,
                error: m.error,
            };
            feed(sink, &frame).await
        }
        Outgoing::OptOut { conversation } => feed_opt_out(sink, store, conversation).await,
        Outgoing::Queue { length, entries } => {
            let entries = queue_list.entries(store, entries).await?;
            let frame = ServerFrame::Queue { length, entries };
            feed(sink, &frame).await
        }
    }
}

/// Queues the conversation's current `opt_out` state.
async fn feed_opt_out(
    sink: &mut Sink,
    store: &Arc<dyn MessageLog>,
    conversation: String,
) -> Result<(), FeedError> {
    let opted_out = store
        .conversation(&conversation)
        .await?
        .is_some_and(|r| r.opted_out);
    let frame = ServerFrame::OptOut {
        conversation,
        opted_out,
    };
    feed(sink, &frame).await
}

async fn feed(sink: &mut Sink, frame: &ServerFrame) -> Result<(), FeedError> {
    Ok(sink.feed(Message::Text(encode(frame).into())).await?)
}

/// Queues the stored canned replies after `welcome`, when there are any. A
/// store that cannot be read costs the agent the list until the next
/// change, not the session.
async fn feed_canned(sink: &mut Sink, canned: &Canned) -> Result<(), FeedError> {
    match canned.load().await {
        Ok(replies) if replies.is_empty() => Ok(()),
        Ok(replies) => {
            let frame = ServerFrame::Canned {
                replies: replies.to_vec(),
            };
            feed(sink, &frame).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the canned replies");
            Ok(())
        }
    }
}

/// Applies a canned-reply edit from the agent; the new list reaches every
/// connection (this one too) through [`Canned::subscribe`], a refusal only
/// this one.
async fn edit_canned(state: &AppState, agent: &str, frames: &mpsc::Sender<Outgoing>, edit: Edit) {
    let (code, message) = match state
        .canned
        .edit(&edit, agent, crate::clock::now_ms())
        .await
    {
        Ok(_) => return,
        Err(EditError::Refused(refused)) => (ErrorCode::InvalidCanned, refused.to_string()),
        Err(e @ EditError::Store(_)) => (ErrorCode::Unavailable, e.to_string()),
    };
    reply_error(frames, code, message);
}

/// Queues messages `(after, upto]` from the store as `message` frames
/// (the caller flushes).
async fn feed_range(
    sink: &mut Sink,
    store: &Arc<dyn MessageLog>,
    conversation: &str,
    after: u64,
    upto: u64,
) -> Result<(), FeedError> {
    let mut from = after;
    while from < upto {
        let to = upto.min(from + RANGE_PAGE);
        let messages = store.history(conversation, from, to).await?;
        if messages.len() as u64 != to - from {
            return Err(FeedError::Store(format!(
                "the store returned {} of messages {}..={to} of {conversation}",
                messages.len(),
                from + 1
            )));
        }
        for message in messages {
            crate::telemetry::sent_to_agent(&message);
            let frame = encode(&ServerFrame::Message { message });
            sink.feed(Message::Text(frame.into())).await?;
        }
        from = to;
    }
    Ok(())
}

/// The fatal `error` frame sent before closing for a violation.
fn violation_frame(violation: &Violation) -> ServerFrame {
    ServerFrame::Error {
        code: ErrorCode::BadFrame,
        message: violation.reason.clone(),
        client_id: None,
        conversation: None,
        fatal: true,
    }
}

/// Reads frames until a valid `hello`; anything else gets an error frame,
/// and a frame that breaks the protocol ends the session with its reason.
async fn first_hello(
    agent: &str,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    sink: &mut Sink,
) -> Option<ClientFrame> {
    while let Some(next) = stream.next().await {
        let message = match next {
            Ok(message) => message,
            Err(e) => {
                if let Some(v) = violation::classify(&e) {
                    tracing::warn!(agent, code = v.code, reason = %v.reason, "closing an agent socket: the client broke the protocol");
                    let _ = sink
                        .send(Message::Text(encode(&violation_frame(&v)).into()))
                        .await;
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code: v.code,
                            reason: v.reason.into(),
                        })))
                        .await;
                }
                return None;
            }
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return None,
            _ => continue,
        };
        let error = match decode::<ClientFrame>(text.as_str()) {
            Ok(ClientFrame::Hello {
                client: Some(client),
                ..
            }) if client.is_empty() || client.chars().count() > MAX_CLIENT_CHARS => {
                format!("hello.client must be 1 to {MAX_CLIENT_CHARS} characters")
            }
            Ok(hello @ ClientFrame::Hello { .. }) => return Some(hello),
            Ok(_) => "send `hello` first".to_string(),
            Err(e) => e.to_string(),
        };
        let frame = ServerFrame::Error {
            code: ErrorCode::BadFrame,
            message: error,
            client_id: None,
            conversation: None,
            fatal: false,
        };
        sink.send(Message::Text(encode(&frame).into())).await.ok()?;
    }
    None
}

async fn handle_frame(
    state: &AppState,
    router: &RouterHandle,
    agent: &str,
    conn_id: ConnId,
    frames: &mpsc::Sender<Outgoing>,
    text: &str,
) {
    let frame = match decode::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(e @ (DecodeError::Malformed(_) | DecodeError::Version(_))) => {
            return reply_error(frames, ErrorCode::BadFrame, e.to_string());
        }
    };
    let agent = agent.to_string();
    let command = match frame {
        ClientFrame::Hello { .. } => {
            return reply_error(
                frames,
                ErrorCode::BadFrame,
                "already said hello; reconnect to resume".into(),
            )
        }
        ClientFrame::Ping { nonce } => {
            let _ = frames.try_send(Outgoing::Frame(ServerFrame::Pong { nonce }));
            return;
        }
        ClientFrame::Availability {
            available,
            capacity,
        } => Command::Availability {
            agent,
            conn_id,
            available,
            capacity,
        },
        ClientFrame::Reply {
            conversation,
            client_id,
            body,
            media,
        } => {
            let reason = if client_id.is_empty() || client_id.len() > 128 {
                Some("client_id must be 1 to 128 characters".to_string())
            } else if body.trim().is_empty() && media.is_empty() {
                Some("the reply is empty".to_string())
            } else if body.chars().count() > state.config.max_reply_chars {
                Some(format!(
                    "the reply is longer than {} characters",
                    state.config.max_reply_chars
                ))
            } else {
                None
            };
            if let Some(message) = reason {
                let frame = ServerFrame::Error {
                    code: ErrorCode::InvalidReply,
                    message,
                    client_id: Some(client_id),
                    conversation: Some(conversation),
                    fatal: false,
                };
                let _ = frames.try_send(Outgoing::Frame(frame));
                return;
            }
            let media = match check_reply_media(&state.files, &conversation, &media).await {
                Ok(media) => media,
                Err(e) => {
                    let code = match e {
                        ReplyMediaError::Problem(_) => ErrorCode::InvalidMedia,
                        ReplyMediaError::Unavailable(_) => ErrorCode::Unavailable,
                    };
                    tracing::info!(agent = %agent, conversation = %conversation, error = %e, "reply's pictures refused");
                    let frame = ServerFrame::Error {
                        code,
                        message: e.to_string(),
                        client_id: Some(client_id),
                        conversation: Some(conversation),
                        fatal: false,
                    };
                    let _ = frames.try_send(Outgoing::Frame(frame));
                    return;
                }
            };
            Command::Reply {
                agent,
                conn_id,
                conversation,
                client_id,
                body,
                media,
                note: false,
            }
        }
        ClientFrame::Note {
            conversation,
            client_id,
            body,
        } => {
            let reason = if client_id.is_empty() || client_id.len() > 128 {
                Some("client_id must be 1 to 128 characters".to_string())
            } else {
                note_problem(&body)
            };
            if let Some(message) = reason {
                let frame = ServerFrame::Error {
                    code: ErrorCode::InvalidReply,
                    message,
                    client_id: Some(client_id),
                    conversation: Some(conversation),
                    fatal: false,
                };
                let _ = frames.try_send(Outgoing::Frame(frame));
                return;
            }
            Command::Reply {
                agent,
                conn_id,
                conversation,
                client_id,
                body,
                media: Vec::new(),
                note: true,
            }
        }
        ClientFrame::CannedSave {
            keyword,
            body,
            replaces,
        } => {
            let edit = Edit::Save {
                keyword,
                body,
                replaces,
            };
            return edit_canned(state, &agent, frames, edit).await;
        }
        ClientFrame::CannedDelete { keyword } => {
            return edit_canned(state, &agent, frames, Edit::Delete { keyword }).await;
        }
        ClientFrame::Resolve { conversation } => Command::Resolve {
            agent,
            conn_id,
            conversation,
        },
        ClientFrame::Reopen { conversation } => Command::Reopen {
            agent,
            conn_id,
            conversation,
        },
        ClientFrame::Transfer {
            conversation,
            to,
            note,
        } => {
            // A blank note is no note; a too long one refuses the transfer
            // (the agent keeps the conversation and can shorten it).
            let note = note.filter(|n| !n.trim().is_empty());
            if let Some(message) = note.as_deref().and_then(note_problem) {
                let frame = ServerFrame::Error {
                    code: ErrorCode::TransferRejected,
                    message: format!("transfer note: {message}"),
                    client_id: None,
                    conversation: Some(conversation),
                    fatal: false,
                };
                let _ = frames.try_send(Outgoing::Frame(frame));
                return;
            }
            Command::Transfer {
                agent,
                conn_id,
                conversation,
                to,
                note,
            }
        }
        ClientFrame::Take { conversation } => Command::Take {
            agent,
            conn_id,
            conversation,
        },
        ClientFrame::Supervise => Command::Supervise { agent, conn_id },
        ClientFrame::QueueWindow { limit } => Command::QueueWindow {
            agent,
            conn_id,
            limit,
        },
        ClientFrame::Watch { conversation } => Command::Watch {
            agent,
            conn_id,
            conversation: Some(conversation),
        },
        ClientFrame::Unwatch => Command::Watch {
            agent,
            conn_id,
            conversation: None,
        },
    };
    router.send(command).await;
}

/// Why a private note (or transfer note) cannot be stored, if it cannot.
fn note_problem(body: &str) -> Option<String> {
    if body.trim().is_empty() {
        Some("the note is empty".to_string())
    } else if body.chars().count() > MAX_NOTE_CHARS {
        Some(format!(
            "the note is longer than {MAX_NOTE_CHARS} characters"
        ))
    } else {
        None
    }
}

fn reply_error(frames: &mpsc::Sender<Outgoing>, code: ErrorCode, message: String) {
    let frame = ServerFrame::Error {
        code,
        message,
        client_id: None,
        conversation: None,
        fatal: false,
    };
    let _ = frames.try_send(Outgoing::Frame(frame));
}
