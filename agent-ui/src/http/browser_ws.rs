//! `GET /ws`: one browser tab's WebSocket.
//!
//! The tab attaches to its agent's session: it gets a `state` snapshot first, then
//! every live frame. Frames the tab sends are validated here and forwarded upstream;
//! a refused frame is answered on this socket only, and the socket lives on. A tab
//! that falls behind the broadcast gets a fresh snapshot instead of a hole.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use switchboard_protocol::violation::{self, Violation};
use switchboard_protocol::ClientFrame;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

use super::session::CurrentSession;
use super::AppState;
use crate::agent_session::AgentHandle;
use crate::browser::{self, BrowserErrorCode, BrowserFrame, Parsed};
use crate::sessions::SignedIn;

/// Largest frame a browser may send (a reply is at most 1,600 characters).
const MAX_BROWSER_FRAME_BYTES: usize = 64 * 1024;
/// Keeps proxies from closing an idle socket and detects vanished tabs.
const PING_EVERY: Duration = Duration::from_secs(25);
/// A tab that cannot take a frame for this long is disconnected (it reconnects and
/// gets a snapshot).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a socket closed for a protocol violation stays open for the
/// page's Close (see [`linger`]).
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Close code telling the page its session is over: go to the sign-in page.
const CLOSE_SIGNED_OUT: u16 = 4001;
/// Longest wait of a tab that started its agent's session for the upstream's
/// welcome before its first snapshot.
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(5);
/// Longest wait, after the agent session ended, for the registry to record why.
const SESSION_END_RECORDED: Duration = Duration::from_secs(5);
/// Close code for a server shutdown: reconnect shortly.
const CLOSE_GOING_AWAY: u16 = 1001;

pub async fn upgrade(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
    }
    let shutdown = state.registry.shutdown_token();
    let tracked = state.registry.track();
    let registry = state.registry.clone();
    // The agent's upstream on this instance: the one its other tabs here use,
    // or a new one (a session signed in on another instance, or before a restart).
    let (handle, started) = state.registry.agent_session(&session);
    ws.max_message_size(MAX_BROWSER_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            let tab = registry.open_tab(&session.session_id);
            if started {
                // The console opens showing the agent's real state (availability,
                // upstream live), not a blank "connecting" one, when the
                // switchboard answers quickly; otherwise the page shows the
                // upstream banner until it does.
                handle.wait_connected(FIRST_CONNECT_WAIT).await;
            }
            crate::telemetry::count_browser_socket(serve(
                socket, session, handle, shutdown, registry,
            ))
            .await;
            drop(tab);
            drop(tracked);
        })
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;

async fn serve(
    socket: WebSocket,
    session: SignedIn,
    handle: AgentHandle,
    shutdown: tokio_util::sync::CancellationToken,
    registry: std::sync::Arc<crate::sessions::Registry>,
) {
    let (mut sink, mut stream) = socket.split();
    let Some(mut attached) = handle.attach().await else {
        close(&mut sink, CLOSE_SIGNED_OUT, "session ended").await;
        return;
    };
    if send(&mut sink, attached.snapshot).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = session.ended.cancelled() => {
                if shutdown.is_cancelled() {
                    close(&mut sink, CLOSE_GOING_AWAY, "agent UI restarting").await;
                } else {
                    close(&mut sink, CLOSE_SIGNED_OUT, "signed out").await;
                }
                // Dropped at once, a page's ping or frame in flight meets a
                // closed socket and the reset loses our Close (seen: 1006
                // instead of 1001 during a restart on a busy machine).
                linger(&mut stream).await;
                return;
            }
            frame = attached.frames.recv() => {
                let sent = match frame {
                    Ok(text) => send(&mut sink, text).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(agent = %session.agent, missed, "browser fell behind; sending a fresh state");
                        match handle.attach().await {
                            Some(fresh) => {
                                attached = fresh;
                                send(&mut sink, attached.snapshot.clone()).await
                            }
                            None => Err(()),
                        }
                    }
                    Err(RecvError::Closed) => {
                        // The agent session ended (e.g. signed in elsewhere); its last
                        // frame, already sent, said why. The registry records that
                        // for the sign-in page just after; wait for it (bounded) so
                        // the page's next request already learns why.
                        let _ = tokio::time::timeout(SESSION_END_RECORDED, session.ended.cancelled()).await;
                        close(&mut sink, CLOSE_SIGNED_OUT, "session ended").await;
                        linger(&mut stream).await;
                        return;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(answer) = handle_text(&handle, text.as_str()).await {
                        if send(&mut sink, Utf8Bytes::from(answer.to_json())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let refusal = BrowserFrame::error(BrowserErrorCode::BadFrame, "frames are JSON text");
                    if send(&mut sink, Utf8Bytes::from(refusal.to_json())).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    match violation::classify(&e) {
                        Some(Violation { code, reason }) => {
                            tracing::warn!(agent = %session.agent, code, reason = %reason, "closing a browser socket: the page broke the protocol");
                            let refusal = BrowserFrame::error(BrowserErrorCode::BadFrame, reason.clone());
                            let _ = send(&mut sink, Utf8Bytes::from(refusal.to_json())).await;
                            close_with(&mut sink, code, reason).await;
                            linger(&mut stream).await;
                        }
                        None => tracing::debug!(agent = %session.agent, error = %e, "browser socket failed"),
                    }
                    return;
                }
                Some(Ok(Message::Close(_))) | None => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                // An open tab is activity: its session does not expire under it.
                registry.touch(&session.session_id);
                let pinged = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Default::default()))).await;
                if !matches!(pinged, Ok(Ok(()))) {
                    return;
                }
            }
        }
    }
}

/// Validates and forwards one browser frame; returns the answer for this tab alone,
/// if there is one.
async fn handle_text(handle: &AgentHandle, text: &str) -> Option<BrowserFrame> {
    let frame = match browser::parse_command(text) {
        Ok(Parsed::Upstream(frame)) => frame,
        // Kept by this server alone: works while the switchboard is down too.
        Ok(Parsed::Read { conversation, seq }) => {
            if !handle.read(conversation, seq).await {
                return Some(BrowserFrame::error(
                    BrowserErrorCode::Unavailable,
                    "this session has ended; sign in again",
                ));
            }
            return None;
        }
        Err(refusal) => return Some(refusal.into()),
    };
    if !handle.is_connected() {
        let (client_id, conversation) = match &frame {
            ClientFrame::Reply {
                client_id,
                conversation,
                ..
            }
            | ClientFrame::Note {
                client_id,
                conversation,
                ..
            } => (Some(client_id.clone()), Some(conversation.clone())),
            ClientFrame::Resolve { conversation }
            | ClientFrame::Reopen { conversation }
            | ClientFrame::Transfer { conversation, .. } => (None, Some(conversation.clone())),
            _ => (None, None),
        };
        return Some(BrowserFrame::Error {
            code: BrowserErrorCode::Unavailable,
            message: "the switchboard is unreachable; retry when it is back".into(),
            client_id,
            conversation,
        });
    }
    if !handle.forward(frame).await {
        return Some(BrowserFrame::error(
            BrowserErrorCode::Unavailable,
            "this session has ended; sign in again",
        ));
    }
    None
}

async fn send(sink: &mut Sink, text: Utf8Bytes) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Keeps a socket this side closed open, bounded, until the page's Close.
/// Dropped at once, the bytes the page is still sending (the rest of an
/// oversized message, a ping) meet a closed socket, the kernel answers with a reset,
/// and the page loses the Close frame that says why (it sees 1006). After a
/// violation the stream often cannot be read any more: then the socket
/// stays open for the whole bound anyway.
async fn linger(stream: &mut Stream) {
    let bound = tokio::time::sleep(CLOSE_LINGER);
    let closed = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                return true;
            }
        }
        false
    })
    .await;
    if !matches!(closed, Ok(true)) {
        bound.await;
    }
}

async fn close_with(sink: &mut Sink, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

/// Browsers always send `Origin` on WebSocket requests; a page from another site must
/// not ride on the agent's cookie. (Non-browser clients send none and are let through:
/// they hold the cookie themselves.)
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin_host) = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host.trim_end_matches('/'))
    else {
        return false;
    };
    [header::HOST.as_str(), "x-forwarded-host"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .any(|host| host.eq_ignore_ascii_case(origin_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn origin_must_match_the_host() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "internal:8080"),
            ("x-forwarded-host", "agents.example.com"),
            ("origin", "https://agents.example.com")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[("host", "a"), ("origin", "null")])));
    }
}
