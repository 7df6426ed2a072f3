//! The agent UI's metrics: every name, its help text, and one small
//! recording function per thing measured, so call sites stay one line. The
//! exporter and the `/metrics` guard are shared with the switchboard
//! (`switchboard_cloud::telemetry`).

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use std::future::Future;
use std::time::Duration;
use switchboard_protocol::ServerFrame;

/// Installs the recorder and gives every metric its help text.
pub fn init() {
    switchboard_cloud::telemetry::recorder();
    describe_gauge!(
        "agent_ui_browser_sockets",
        "Open browser WebSockets (one per console tab)."
    );
    describe_counter!(
        "agent_ui_upstream_reconnects_total",
        "Upstream connections to the switchboard lost and reopened."
    );
    describe_histogram!(
        "agent_ui_enrich_duration_seconds",
        "Time to turn one upstream frame carrying messages into browser frames (sentiment, humanized time)."
    );
}

/// Counts `socket` (a browser socket's task) in the open-sockets gauge
/// while it runs.
pub async fn count_browser_socket(socket: impl Future<Output = ()>) {
    gauge!("agent_ui_browser_sockets").increment(1.0);
    socket.await;
    gauge!("agent_ui_browser_sockets").decrement(1.0);
}

/// The upstream connection was lost; a reconnect follows.
pub fn upstream_lost() {
    counter!("agent_ui_upstream_reconnects_total").increment(1);
}

/// An upstream frame arrived (the agent is on the session's span): each
/// message it carries (a `message`, or an `assigned`'s history) is logged
/// at debug with its conversation and seq, the key the switchboard's logs
/// name it by.
pub fn received(frame: &ServerFrame) {
    let messages = match frame {
        ServerFrame::Message { message } => std::slice::from_ref(message),
        ServerFrame::Assigned { history, .. } => history.as_slice(),
        _ => &[],
    };
    for message in messages {
        tracing::debug!(message_sid = message.sid.as_deref().unwrap_or(""), conversation = %message.conversation, seq = message.seq, "message received from the switchboard");
    }
}

/// Whether a frame carries messages to enrich (so its handling time is
/// the enrichment time).
pub fn carries_messages(frame: &ServerFrame) -> bool {
    matches!(
        frame,
        ServerFrame::Message { .. } | ServerFrame::Assigned { .. }
    )
}

/// One frame's messages were enriched in `took`.
pub fn enriched(took: Duration) {
    histogram!("agent_ui_enrich_duration_seconds").record(took.as_secs_f64());
}
