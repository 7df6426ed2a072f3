//! Transcripts of resolved conversations: written to the file store as
//! `transcripts/<conversation>/<resolved_at_ms>.json` and `.txt`, and mailed
//! (text + HTML) when `TRANSCRIPT_TO` is set.
//!
//! Both jobs read messages `1..=upto_seq` from the store, where `upto_seq` is
//! the newest message the router had seen when the agent resolved, so a
//! retry days later produces the same transcript.

use super::worker::{Failure, JobContext};
use bytes::Bytes;
use serde::Serialize;
use switchboard_cloud::files::FileKey;
use switchboard_cloud::mail::Email;
use switchboard_protocol::{Direction, Message, Seq, TimelineEvent};

/// Everything a transcript says.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    pub conversation: String,
    /// Our Twilio number the customer wrote to.
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub resolved_by: String,
    pub resolved_at_ms: u64,
    pub upto_seq: Seq,
    pub messages: Vec<Message>,
}

/// `transcripts/<conversation>/<resolved_at_ms>.<ext>`.
pub fn key(conversation: &str, resolved_at_ms: u64, ext: &str) -> String {
    format!("transcripts/{conversation}/{resolved_at_ms}.{ext}")
}

async fn load(
    ctx: &JobContext,
    conversation: &str,
    upto_seq: Seq,
    resolved_at_ms: u64,
    agent: &str,
) -> Result<Transcript, Failure> {
    let store_failure =
        |e: crate::store::StoreError| Failure::new("store", "read history", e.to_string());
    let record = ctx
        .store
        .conversation(conversation)
        .await
        .map_err(store_failure)?
        .unwrap_or_default();
    // Without the `resolved` events: the transcript says who resolved it,
    // and whether this resolve's own event is stored by now depends on
    // which of two writes finished first (the router records it beside
    // the resolve), so a transcript read twice would differ.
    let messages = ctx
        .store
        .history(conversation, 0, upto_seq)
        .await
        .map_err(store_failure)?
        .into_iter()
        .filter(|m| !matches!(m.event.as_deref(), Some(TimelineEvent::Resolved { .. })))
        .collect();
    Ok(Transcript {
        conversation: conversation.to_string(),
        to: record.to,
        country: record.country,
        resolved_by: agent.to_string(),
        resolved_at_ms,
        upto_seq,
        messages,
    })
}

/// The transcript job: both files, JSON first.
pub async fn write(
    ctx: &JobContext,
    conversation: &str,
    upto_seq: Seq,
    resolved_at_ms: u64,
    agent: &str,
) -> Result<(), Failure> {
    let t = load(ctx, conversation, upto_seq, resolved_at_ms, agent).await?;
    let json = serde_json::to_vec_pretty(&t)
        .map_err(|e| Failure::new("transcript", "encode JSON", e.to_string()).give_up_after(1))?;
    let text = text(&t, &ctx.public_base);
    for (ext, bytes, content_type) in [
        ("json", Bytes::from(json), "application/json"),
        ("txt", Bytes::from(text), "text/plain; charset=utf-8"),
    ] {
        let key =
            FileKey::parse(&key(conversation, resolved_at_ms, ext)).map_err(Failure::from_file)?;
        ctx.files
            .put(&key, bytes, content_type)
            .await
            .map_err(Failure::from_file)?;
    }
    tracing::info!(
        conversation,
        upto_seq,
        messages = t.messages.len(),
        "transcript written"
    );
    Ok(())
}

/// The transcript mail job; `job_key` names the mail (its Message-ID and
/// outbox file).
pub async fn mail(
    ctx: &JobContext,
    job_key: &str,
    conversation: &str,
    upto_seq: Seq,
    resolved_at_ms: u64,
    agent: &str,
    to: &[String],
) -> Result<(), Failure> {
    let t = load(ctx, conversation, upto_seq, resolved_at_ms, agent).await?;
    let email = Email {
        to: to.to_vec(),
        subject: format!("Transcript: conversation with {conversation}, resolved by {agent}"),
        text: text(&t, &ctx.public_base),
        html: Some(html(&t, &ctx.public_base)),
    };
    ctx.mailer
        .send(&email, job_key)
        .await
        .map_err(Failure::from_mail)?;
    Ok(())
}

/// Who wrote the line; the team's own entries say what they are (the
/// transcript goes to the team, so private notes are kept).
fn who(m: &Message) -> String {
    let agent = m.agent.as_deref().unwrap_or("agent");
    match m.direction {
        Direction::Inbound => "customer".to_string(),
        Direction::Outbound => agent.to_string(),
        Direction::Note => format!("{agent} (private note)"),
        Direction::Event => match &m.event {
            Some(event) => format!("[{}]", event.describe()),
            None => "[event]".to_string(),
        },
    }
}

fn media_links(m: &Message, public_base: &str) -> Vec<String> {
    m.media
        .iter()
        .map(|media| absolute(&media.url, public_base))
        .collect()
}

/// Our `/files/…` links are relative; mail and stored files need the host.
fn absolute(url: &str, public_base: &str) -> String {
    if url.starts_with('/') {
        format!("{}{url}", public_base.trim_end_matches('/'))
    } else {
        url.to_string()
    }
}

/// Plain text: a header, then one line per message (time, who, body, media).
pub fn text(t: &Transcript, public_base: &str) -> String {
    let mut out = format!(
        "Conversation with {} (to {})\nResolved by {} at {}; {} messages.\n\n",
        t.conversation,
        t.to,
        t.resolved_by,
        utc(t.resolved_at_ms),
        t.messages.len()
    );
    for m in &t.messages {
        // One line per message: line breaks in a body become a visible mark.
        let body = m.body.replace("\r\n", "\n").replace('\n', " \u{21b5} ");
        out.push_str(&format!("{}  {}: {}", utc(m.at_ms), who(m), body));
        let links = media_links(m, public_base);
        if !links.is_empty() {
            out.push_str(&format!(
                "{}[media: {}]",
                if body.is_empty() { "" } else { "  " },
                links.join(" ")
            ));
        }
        out.push('\n');
    }
    out
}

/// HTML for the mail: a table, every body escaped.
pub fn html(t: &Transcript, public_base: &str) -> String {
    let mut rows = String::new();
    for m in &t.messages {
        let media: String = media_links(m, public_base)
            .iter()
            .enumerate()
            .map(|(i, link)| {
                let link = escape(link);
                format!(r#" <a href="{link}">media {}</a>"#, i + 1)
            })
            .collect();
        rows.push_str(&format!(
            "<tr><td style=\"white-space:nowrap;color:#666\">{}</td><td><b>{}</b></td><td style=\"white-space:pre-wrap\">{}{media}</td></tr>\n",
            utc(m.at_ms),
            escape(&who(m)),
            escape(&m.body),
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><body>\n<h2>Conversation with {}</h2>\n<p>To {}. Resolved by {} at {}; {} messages.</p>\n<table cellpadding=\"4\">\n{rows}</table>\n</body></html>\n",
        escape(&t.conversation),
        escape(&t.to),
        escape(&t.resolved_by),
        utc(t.resolved_at_ms),
        t.messages.len()
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` for milliseconds since the epoch.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::Media;

    fn message(seq: Seq, direction: Direction, body: &str) -> Message {
        Message {
            conversation: "+15550001111".into(),
            seq,
            direction,
            body: body.into(),
            at_ms: 1_700_000_000_000 + seq * 1000,
            media: vec![],
            agent: (direction == Direction::Outbound).then(|| "alice".into()),
            client_id: None,
            status: None,
            error: None,
            sid: None,
            event: None,
        }
    }

    fn transcript() -> Transcript {
        let mut photo = message(2, Direction::Inbound, "");
        photo.media.push(Media {
            url: "/files/media/%2B15550001111/MM1/0.jpg".into(),
            content_type: "image/jpeg".into(),
        });
        Transcript {
            conversation: "+15550001111".into(),
            to: "+15550009999".into(),
            country: None,
            resolved_by: "alice".into(),
            resolved_at_ms: 1_700_000_100_000,
            upto_seq: 3,
            messages: vec![
                message(
                    1,
                    Direction::Inbound,
                    "Hi <b>there</b> & \"you\"\nsecond line",
                ),
                photo,
                message(3, Direction::Outbound, "Hello!"),
            ],
        }
    }

    #[test]
    fn keys_are_named_by_the_resolution_time_as_the_readme_says() {
        // One file per resolution, and a listing sorts oldest first.
        assert_eq!(
            key("+15550001111", 1_700_000_100_000, "json"),
            "transcripts/+15550001111/1700000100000.json"
        );
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn text_has_one_line_per_message_with_absolute_media_links() {
        let text = text(&transcript(), "https://sb.example/");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3 + 3, "{text}");
        assert_eq!(
            lines[3],
            "2023-11-14 22:13:21 UTC  customer: Hi <b>there</b> & \"you\" \u{21b5} second line"
        );
        assert_eq!(
            lines[4],
            "2023-11-14 22:13:22 UTC  customer: [media: https://sb.example/files/media/%2B15550001111/MM1/0.jpg]"
        );
        assert_eq!(lines[5], "2023-11-14 22:13:23 UTC  alice: Hello!");
    }

    #[test]
    fn html_escapes_bodies() {
        let html = html(&transcript(), "https://sb.example");
        assert!(
            html.contains("Hi &lt;b&gt;there&lt;/b&gt; &amp; &quot;you&quot;"),
            "{html}"
        );
        assert!(!html.contains("<b>there"));
        assert!(html.contains(
            r#"<a href="https://sb.example/files/media/%2B15550001111/MM1/0.jpg">media 1</a>"#
        ));
    }

    #[test]
    fn json_lists_every_message() {
        let json: serde_json::Value = serde_json::to_value(transcript()).unwrap();
        assert_eq!(json["messages"].as_array().unwrap().len(), 3);
        assert_eq!(json["resolved_by"], "alice");
        assert_eq!(
            json["messages"][1]["media"][0]["content_type"],
            "image/jpeg"
        );
    }
}
