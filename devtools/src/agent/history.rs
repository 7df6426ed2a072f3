//! `/search`, `/history`, `/resolved` and `/more`: the switchboard's
//! history API (`/v1/history/…`, beside the agent socket:
//! [`history_base`]) called with the agent's own credentials, the answers
//! printed as lines.
//!
//! Each call runs in a task of its own, so a slow answer (a search scans
//! the table on DynamoDB) never holds up the conversation: frames keep
//! arriving and lines keep being read meanwhile. The cursor of the last
//! listing is kept for `/more`.

use super::show;
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_protocol::client::history_base;
use switchboard_protocol::Message;

/// A history call that takes longer is given up (and said).
const TIMEOUT: Duration = Duration::from_secs(30);
/// Entries per page of `/search` and `/resolved`.
const PAGE: usize = 10;

/// A page of a listing, as the API returns it.
#[derive(Debug, Deserialize)]
struct Page<T> {
    items: Vec<T>,
    next: Option<String>,
}

/// One of a customer's conversations (`/v1/history/customer`,
/// `/v1/history/resolved`); the fields the terminal shows.
#[derive(Debug, Deserialize)]
struct PastConversation {
    conversation: String,
    first_seq: u64,
    last_seq: u64,
    last_at_ms: u64,
    messages: u64,
    resolved_at_ms: Option<u64>,
    resolved_by: Option<String>,
}

/// A paged listing `/more` continues.
#[derive(Debug, Clone)]
enum Listing {
    Search(String),
    Resolved,
}

/// The history API as this agent reaches it.
#[derive(Clone)]
pub struct HistoryApi {
    http: reqwest::Client,
    /// `http(s)://…/v1/history`, or why there is none.
    base: Result<String, String>,
    name: String,
    password: String,
    /// The last listing and where its next page starts.
    more: Arc<Mutex<Option<(Listing, String)>>>,
}

impl HistoryApi {
    pub fn new(ws_url: &str, name: &str, password: &str) -> HistoryApi {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        HistoryApi {
            http,
            base: history_base(ws_url),
            name: name.to_string(),
            password: password.to_string(),
            more: Arc::new(Mutex::new(None)),
        }
    }

    /// `/search WORDS`: the first page.
    pub fn search(&self, words: &str) {
        self.spawn_listing(Listing::Search(words.to_string()), None);
    }

    /// `/resolved`: the first page of this agent's resolved conversations.
    pub fn resolved(&self) {
        self.spawn_listing(Listing::Resolved, None);
    }

    /// `/more`: the next page of the last listing.
    pub fn more(&self) {
        let last = self.more.lock().map(|m| m.clone()).unwrap_or_default();
        match last {
            Some((listing, next)) => self.spawn_listing(listing, Some(next)),
            None => println!("! nothing more: /search or /resolved first"),
        }
    }

    /// `/history NUMBER`: the customer's conversations.
    pub fn customer(&self, number: &str) {
        let api = self.clone();
        let number = number.to_string();
        tokio::spawn(async move {
            let path = format!("customer/{}", urlencode(&number));
            match api.get::<Page<PastConversation>>(&path, &[]).await {
                Ok(page) if page.items.is_empty() => {
                    println!("* {number}: no conversations stored")
                }
                Ok(page) => {
                    let now = show::now_ms();
                    println!(
                        "* {number}: {} conversations, newest first",
                        page.items.len()
                    );
                    for past in &page.items {
                        println!("  {}", conversation_line(past, now));
                    }
                }
                Err(why) => println!("! history of {number}: {why}"),
            }
        });
    }

    fn spawn_listing(&self, listing: Listing, after: Option<String>) {
        let api = self.clone();
        tokio::spawn(async move {
            let limit = PAGE.to_string();
            let mut query: Vec<(&str, &str)> = vec![("limit", &limit)];
            if let Some(after) = &after {
                query.push(("after", after));
            }
            let next = match &listing {
                Listing::Search(words) => {
                    query.push(("q", words));
                    match api.get::<Page<Message>>("search", &query).await {
                        Ok(page) => {
                            print_search(words, &page, after.is_some());
                            page.next
                        }
                        Err(why) => {
                            println!("! search {words:?}: {why}");
                            return;
                        }
                    }
                }
                Listing::Resolved => {
                    query.push(("mine", "true"));
                    match api.get::<Page<PastConversation>>("resolved", &query).await {
                        Ok(page) => {
                            print_resolved(&page, after.is_some());
                            page.next
                        }
                        Err(why) => {
                            println!("! resolved conversations: {why}");
                            return;
                        }
                    }
                }
            };
            if let Ok(mut more) = api.more.lock() {
                *more = next.map(|next| (listing, next));
            }
        });
    }

    /// `GET base/path?query` as this agent; the JSON, or why not in words.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, String> {
        let base = self
            .base
            .as_ref()
            .map_err(|why| format!("no history API for this switchboard ({why})"))?;
        let response = self
            .http
            .get(format!("{base}/{path}"))
            .query(query)
            .basic_auth(&self.name, Some(&self.password))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "the switchboard did not answer in time".to_string()
                } else {
                    format!("the switchboard's history API is unreachable ({e})")
                }
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| format!("the answer broke off ({e})"))?;
        match status.as_u16() {
            200 => serde_json::from_str(&body).map_err(|e| format!("an unreadable answer ({e})")),
            401 => Err("the switchboard refused this agent's password".into()),
            404 => Err("this switchboard has no history API".into()),
            code => Err(format!(
                "the switchboard said {code}: {}",
                show::shorten(&body, 200)
            )),
        }
    }
}

fn print_search(words: &str, page: &Page<Message>, continued: bool) {
    if page.items.is_empty() {
        println!(
            "* search {words:?}: {}",
            if continued {
                "no more"
            } else {
                "nothing found"
            }
        );
        return;
    }
    let now = show::now_ms();
    println!(
        "* search {words:?}{}, newest first:",
        if continued { ", more" } else { "" }
    );
    for m in &page.items {
        let ago = show::span(now.saturating_sub(m.at_ms));
        println!("  {ago} ago {}", show::message(m));
    }
    if page.next.is_some() {
        println!("  /more for the next page; /history NUMBER for a customer's conversations");
    }
}

fn print_resolved(page: &Page<PastConversation>, continued: bool) {
    if page.items.is_empty() {
        println!(
            "* resolved by you: {}",
            if continued { "no more" } else { "none yet" }
        );
        return;
    }
    let now = show::now_ms();
    println!("* resolved by you, newest first (/reopen NUMBER takes one back):");
    for past in &page.items {
        println!("  {}", conversation_line(past, now));
    }
    if page.next.is_some() {
        println!("  /more for the next page");
    }
}

/// One past (or the open) conversation as a line.
fn conversation_line(past: &PastConversation, now: u64) -> String {
    let state = match (past.resolved_at_ms, &past.resolved_by) {
        (Some(at), Some(by)) => format!(
            "resolved {} ago by {by}",
            show::span(now.saturating_sub(at))
        ),
        (Some(at), None) => format!("resolved {} ago", show::span(now.saturating_sub(at))),
        (None, _) => format!(
            "open, last message {} ago",
            show::span(now.saturating_sub(past.last_at_ms))
        ),
    };
    let plural = if past.messages == 1 { "" } else { "s" };
    format!(
        "{}  {state}: {} message{plural} (#{}–#{})",
        past.conversation, past.messages, past.first_seq, past.last_seq
    )
}

/// A customer's number as one path segment (`+` and digits pass; anything
/// else is percent-encoded).
fn urlencode(number: &str) -> String {
    number
        .bytes()
        .map(|b| match b {
            b'+' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b if b.is_ascii_alphanumeric() => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}
