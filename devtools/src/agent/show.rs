//! What the terminal agent prints: the switchboard's frames as lines, the
//! queue and the canned replies as lists, and lengths of time in words.
//! Pure formatting (`String`s); `mod.rs` prints them.

use switchboard_protocol::{CannedReply, Direction, Message, QueueEntry, ServerFrame};

/// Milliseconds since the epoch now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A length of time in a few characters: `12 s`, `3 min`, `2 h 5 min`,
/// `3 d 4 h`.
pub fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

/// The `/queue` listing: who waits, longest first, numbered for `/take N`.
/// `length` counts them all (the switchboard lists the longest waiting).
pub fn queue(length: usize, entries: &[QueueEntry], now_ms: u64) -> String {
    if length == 0 {
        return "* nobody is waiting".into();
    }
    let mut out = format!("* {length} waiting, longest first (/take N takes one):");
    for (i, entry) in entries.iter().enumerate() {
        let waited = span(now_ms.saturating_sub(entry.waiting_since_ms));
        let opted_out = if entry.opted_out { " (opted out)" } else { "" };
        let preview = if entry.preview.is_empty() {
            "(a picture)".to_string()
        } else {
            format!("{:?}", shorten(&entry.preview, 60))
        };
        out.push_str(&format!(
            "\n  {}. {}  waiting {waited}{opted_out}  {preview}",
            i + 1,
            entry.conversation
        ));
    }
    if length > entries.len() {
        out.push_str(&format!("\n  … and {} more", length - entries.len()));
    }
    out
}

/// The `/canned` listing. `is_command` tells which keywords a command
/// shadows (those are texted with `/canned KEYWORD`).
pub fn canned(replies: &[CannedReply], is_command: impl Fn(&str) -> bool) -> String {
    if replies.is_empty() {
        return "* no canned replies yet (the console's Canned replies dialog adds them)".into();
    }
    let mut out = String::from(
        "* canned replies (/KEYWORD [TEXT] texts one to the current conversation, {customer} and {agent} filled in):",
    );
    for reply in replies {
        let how = if is_command(&reply.keyword) {
            format!("/canned {}", reply.keyword)
        } else {
            format!("/{}", reply.keyword)
        };
        out.push_str(&format!("\n  {how}  {}", shorten(&reply.body, 70)));
    }
    out
}

/// `text` on one line, cut to `max` characters with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// One stored message as a line.
pub fn message(m: &Message) -> String {
    let agent = m.agent.as_deref().unwrap_or("agent");
    let who = match m.direction {
        Direction::Inbound => m.conversation.clone(),
        Direction::Outbound => agent.to_string(),
        Direction::Note => format!("{agent} (private note)"),
        Direction::Event => match &m.event {
            Some(event) => format!("* {}", event.describe()),
            None => "* event".to_string(),
        },
    };
    format!("[{} #{}] {who}: {}", m.conversation, m.seq, m.body)
}

/// A frame as the lines to print (none for frames the terminal keeps
/// quiet about).
pub fn frame(frame: &ServerFrame) -> Vec<String> {
    match frame {
        ServerFrame::Welcome {
            agent,
            capacity,
            queue_length,
            ..
        } => {
            vec![format!(
                "* signed in as {agent} (capacity {capacity}); {queue_length} waiting"
            )]
        }
        ServerFrame::Assigned {
            conversation,
            history,
            ..
        } => {
            let mut lines = vec![format!(
                "* new conversation {} ({} messages)",
                conversation.id,
                history.len()
            )];
            lines.extend(history.iter().map(message));
            lines
        }
        ServerFrame::Message { message: m } => vec![message(m)],
        ServerFrame::Status {
            conversation,
            seq,
            status,
            error,
        } => vec![match error {
            Some(e) => format!("  [{conversation} #{seq}] {status:?}: {}", e.message),
            None => format!("  [{conversation} #{seq}] {status:?}"),
        }],
        ServerFrame::OptOut {
            conversation,
            opted_out,
        } => vec![format!(
            "* {conversation} {}",
            if *opted_out {
                "opted out (STOP)"
            } else {
                "opted back in"
            }
        )],
        ServerFrame::Unassigned {
            conversation,
            reason,
        } => vec![format!("* {conversation} left you: {reason:?}")],
        ServerFrame::Queue { length, .. } => {
            vec![format!("* {length} waiting (/queue lists them)")]
        }
        ServerFrame::Availability {
            available,
            capacity,
        } => vec![format!(
            "* now {} (capacity {capacity}), set on another of your connections",
            if *available { "available" } else { "away" }
        )],
        ServerFrame::Canned { replies } => {
            vec![format!(
                "* {} canned replies (/canned lists them)",
                replies.len()
            )]
        }
        ServerFrame::Error { message, .. } => vec![format!("! {message}")],
        ServerFrame::Presence { .. }
        | ServerFrame::Ack { .. }
        | ServerFrame::Pong { .. }
        | ServerFrame::Overview { .. }
        // The terminal agent never asks to watch.
        | ServerFrame::Watching { .. }
        | ServerFrame::WatchEnded { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(number: &str, since: u64, preview: &str) -> QueueEntry {
        QueueEntry {
            conversation: number.into(),
            waiting_since_ms: since,
            preview: preview.into(),
            recent: Vec::new(),
            opted_out: false,
        }
    }

    #[test]
    fn spans_read_as_words() {
        assert_eq!(span(0), "0 s");
        assert_eq!(span(59_999), "59 s");
        assert_eq!(span(60_000), "1 min");
        assert_eq!(span(3_600_000), "1 h");
        assert_eq!(span(3_900_000), "1 h 5 min");
        assert_eq!(span(90_000_000), "1 d 1 h");
    }

    #[test]
    fn the_queue_is_numbered_with_waits_and_the_rest_counted() {
        let now = 1_000_000;
        let list = queue(
            3,
            &[
                waiting("+15550001", now - 180_000, "where is my\norder?"),
                waiting("+15550002", now - 5_000, ""),
            ],
            now,
        );
        assert_eq!(
            list,
            "* 3 waiting, longest first (/take N takes one):\n  \
             1. +15550001  waiting 3 min  \"where is my order?\"\n  \
             2. +15550002  waiting 5 s  (a picture)\n  \
             … and 1 more"
        );
        assert_eq!(queue(0, &[], now), "* nobody is waiting");
    }

    #[test]
    fn canned_replies_list_how_to_send_each() {
        let reply = |k: &str, b: &str| CannedReply {
            keyword: k.into(),
            body: b.into(),
            updated_by: None,
            updated_at_ms: 0,
        };
        let list = canned(
            &[reply("hello", "Hi {customer}"), reply("note", "x")],
            |k| k == "note",
        );
        assert!(list.contains("\n  /hello  Hi {customer}"), "{list}");
        assert!(list.contains("\n  /canned note  x"), "{list}");
    }
}
