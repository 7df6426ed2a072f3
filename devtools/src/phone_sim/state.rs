//! The simulator's shared state: its configuration, every message that
//! passed through it, the queued faults and where customer messages go.
//!
//! Everything lives in memory: the simulator is a local stand-in, and a
//! restart giving a clean slate is what a demo or a test wants.

use super::config::SimConfig;
use super::faults::Fault;
use super::media_fetch::FetchedMedia;
use super::twilio_format::now_ms;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use switchboard_protocol::Media;

/// Twilio waits this long for a webhook answer before giving up.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// Which way a message went, seen from the switchboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimDirection {
    /// Customer → switchboard: the simulator posted it to the webhook.
    Inbound,
    /// Switchboard → customer: received on the simulated REST API.
    Outbound,
}

/// One message as `GET /sim/messages` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMessage {
    pub sid: String,
    pub direction: SimDirection,
    pub from: String,
    pub to: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Media>,
    /// Outbound: what fetching each `MediaUrl` gave, in order (filled in
    /// once every fetch finished; `media_fetch.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_fetch: Vec<FetchedMedia>,
    pub num_segments: u32,
    /// Twilio's status: `queued`, `sent`, `delivered`, `undelivered`,
    /// `failed` for outbound messages; `received` for inbound ones.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    /// Outbound: where delivery-status callbacks go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
    /// Inbound: the URL the webhook was posted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Inbound: the switchboard's HTTP status, once it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_status: Option<u16>,
    /// Inbound: why the switchboard could not be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_error: Option<String>,
    /// Outbound: when the simulated API accepted it (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<u64>,
    /// Inbound: when the simulator posted it (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<u64>,
    /// Last change of `status` or of the webhook outcome.
    pub updated_at: u64,
}

impl SimMessage {
    pub fn involves(&self, number: &str) -> bool {
        self.from == number || self.to == number
    }
}

/// The one state every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    config: SimConfig,
    http: reqwest::Client,
    messages: Mutex<Vec<SimMessage>>,
    /// Fetched outbound pictures by (message SID, index): type and bytes.
    media: Mutex<HashMap<(String, usize), (String, Bytes)>>,
    faults: Mutex<VecDeque<Fault>>,
    /// Set when the switchboard registers its webhook through the
    /// IncomingPhoneNumbers API; until then the configured URL.
    webhook_url: Mutex<String>,
}

impl AppState {
    pub fn new(config: SimConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .user_agent("TwilioProxy/1.1")
            .build()
            // Only fails when the TLS backend cannot initialise: nothing can
            // be sent at all then, so falling back to defaults is no worse.
            .unwrap_or_else(|_| reqwest::Client::new());
        let webhook_url = Mutex::new(config.webhook_url.clone());
        AppState(Arc::new(Shared {
            config,
            http,
            messages: Mutex::default(),
            media: Mutex::default(),
            faults: Mutex::default(),
            webhook_url,
        }))
    }

    pub fn config(&self) -> &SimConfig {
        &self.0.config
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    pub fn webhook_url(&self) -> String {
        lock(&self.0.webhook_url).clone()
    }

    pub fn set_webhook_url(&self, url: String) {
        *lock(&self.0.webhook_url) = url;
    }

    pub fn record(&self, message: SimMessage) {
        lock(&self.0.messages).push(message);
    }

    /// Messages in the order they happened, optionally only those to or
    /// from `number`.
    pub fn messages(&self, number: Option<&str>) -> Vec<SimMessage> {
        lock(&self.0.messages)
            .iter()
            .filter(|m| number.is_none_or(|n| m.involves(n)))
            .cloned()
            .collect()
    }

    pub fn message(&self, sid: &str) -> Option<SimMessage> {
        lock(&self.0.messages)
            .iter()
            .find(|m| m.sid == sid)
            .cloned()
    }

    /// Applies `change` to the message `sid` and stamps `updated_at`.
    pub fn update(&self, sid: &str, change: impl FnOnce(&mut SimMessage)) {
        if let Some(message) = lock(&self.0.messages).iter_mut().find(|m| m.sid == sid) {
            change(message);
            message.updated_at = now_ms();
        }
    }

    /// Keeps a fetched picture of message `sid`.
    pub fn keep_media(&self, sid: &str, index: usize, content_type: String, bytes: Bytes) {
        lock(&self.0.media).insert((sid.to_string(), index), (content_type, bytes));
    }

    /// A fetched picture: its type and bytes.
    pub fn media(&self, sid: &str, index: usize) -> Option<(String, Bytes)> {
        lock(&self.0.media).get(&(sid.to_string(), index)).cloned()
    }

    /// Appends faults; answers how many are now waiting.
    pub fn push_faults(&self, faults: Vec<Fault>) -> usize {
        let mut queue = lock(&self.0.faults);
        queue.extend(faults);
        queue.len()
    }

    pub fn take_fault(&self) -> Option<Fault> {
        lock(&self.0.faults).pop_front()
    }

    pub fn clear_faults(&self) {
        lock(&self.0.faults).clear();
    }
}

/// The guarded data stays consistent even if a holder panicked (every
/// critical section is a single push, pop or field update), so a poisoned
/// lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
