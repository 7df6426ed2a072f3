//! A stand-in for Twilio's media URLs, running in the test process.
//!
//! Like Twilio, `GET /2010-04-01/Accounts/{sid}/Messages/{MM}/Media/{name}`
//! needs the account's Basic auth (401 otherwise). An item added with
//! `via_cdn` answers with a 302 to `/cdn/{name}` on `localhost` instead of
//! `127.0.0.1` — another host, as Twilio's CDN is — which serves it without
//! credentials. Every request is recorded, with its `Authorization` header,
//! so tests can see what was fetched and that credentials stayed home.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One request the stand-in answered.
#[derive(Debug, Clone)]
pub struct MediaRequest {
    /// `media` (the authenticated Twilio URL) or `cdn`.
    pub kind: &'static str,
    pub name: String,
    pub host: String,
    pub authorization: Option<String>,
    pub status: u16,
}

struct Item {
    content_type: String,
    bytes: Vec<u8>,
    via_cdn: bool,
}

#[derive(Default)]
struct Shared {
    items: HashMap<String, Item>,
    requests: Vec<MediaRequest>,
    /// Answer every request with this status (a Twilio outage), when set.
    failing: Option<u16>,
    /// Items held back (a slow download): their requests wait until the
    /// test opens the gate with [`TwilioMedia::release`].
    gates: HashMap<String, tokio::sync::watch::Sender<bool>>,
    /// Requests for a held item that arrived while it was held.
    held: HashMap<String, usize>,
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Mutex<Shared>>,
    expected_auth: String,
    account_sid: String,
    port: u16,
}

pub struct TwilioMedia {
    pub base: String,
    account_sid: String,
    shared: Arc<Mutex<Shared>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TwilioMedia {
    /// Serves media for `account_sid`, accepting only `account_sid:auth_token`.
    pub async fn start(account_sid: &str, auth_token: &str) -> TwilioMedia {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind media stand-in");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = AppState {
            shared: shared.clone(),
            expected_auth: format!(
                "Basic {}",
                BASE64.encode(format!("{account_sid}:{auth_token}"))
            ),
            account_sid: account_sid.to_string(),
            port,
        };
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{name}",
                get(media),
            )
            .route("/cdn/{name}", get(cdn))
            .with_state(state);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        TwilioMedia {
            base: format!("http://127.0.0.1:{port}"),
            account_sid: account_sid.to_string(),
            shared,
            stop: Some(stop),
        }
    }

    /// Adds an item; returns its Twilio-style URL (what the webhook carries).
    pub fn add(
        &self,
        message_sid: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        via_cdn: bool,
    ) -> String {
        self.shared.lock().unwrap().items.insert(
            name.to_string(),
            Item {
                content_type: content_type.to_string(),
                bytes: bytes.to_vec(),
                via_cdn,
            },
        );
        format!(
            "{}/2010-04-01/Accounts/{}/Messages/{message_sid}/Media/{name}",
            self.base, self.account_sid
        )
    }

    pub fn requests(&self) -> Vec<MediaRequest> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// Holds back every request for `name` until [`Self::release`]: a
    /// download that is slow for exactly as long as the test needs.
    pub fn hold(&self, name: &str) {
        let (gate, _) = tokio::sync::watch::channel(false);
        self.shared
            .lock()
            .unwrap()
            .gates
            .insert(name.to_string(), gate);
    }

    /// Lets the held requests for `name` (and later ones) through.
    pub fn release(&self, name: &str) {
        if let Some(gate) = self.shared.lock().unwrap().gates.get(name) {
            gate.send_replace(true);
        }
    }

    /// How many requests for `name` arrived while it was held: a test that
    /// holds an item checks with it that the hold was used.
    pub fn held(&self, name: &str) -> usize {
        self.shared
            .lock()
            .unwrap()
            .held
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    /// Makes every request fail with `status` (None: back to normal).
    pub fn set_failing(&self, status: Option<u16>) {
        self.shared.lock().unwrap().failing = status;
    }
}

impl Drop for TwilioMedia {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn record(
    state: &AppState,
    kind: &'static str,
    name: &str,
    headers: &HeaderMap,
    status: StatusCode,
) {
    let text = |h| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    state.shared.lock().unwrap().requests.push(MediaRequest {
        kind,
        name: name.to_string(),
        host: text(header::HOST).unwrap_or_default(),
        authorization: text(header::AUTHORIZATION),
        status: status.as_u16(),
    });
}

async fn media(
    State(state): State<AppState>,
    Path((sid, _message, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let authorized = sid == state.account_sid
        && headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(state.expected_auth.as_str());
    let (failing, gate) = {
        let mut shared = state.shared.lock().unwrap();
        let gate = shared.gates.get(&name).map(|g| g.subscribe());
        if gate.as_ref().is_some_and(|g| !*g.borrow()) {
            *shared.held.entry(name.clone()).or_default() += 1;
        }
        (shared.failing, gate)
    };
    if let Some(mut gate) = gate {
        let _ = gate.wait_for(|open| *open).await;
    }
    let response = if let Some(status) = failing {
        StatusCode::from_u16(status).unwrap().into_response()
    } else if !authorized {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"Twilio API\"")],
            "Authenticate",
        )
            .into_response()
    } else {
        let shared = state.shared.lock().unwrap();
        match shared.items.get(&name) {
            None => (StatusCode::NOT_FOUND, "no such media").into_response(),
            Some(item) if item.via_cdn => (
                StatusCode::FOUND,
                [(
                    header::LOCATION,
                    format!("http://localhost:{}/cdn/{name}", state.port),
                )],
            )
                .into_response(),
            Some(item) => (
                [(header::CONTENT_TYPE, item.content_type.clone())],
                item.bytes.clone(),
            )
                .into_response(),
        }
    };
    record(&state, "media", &name, &headers, response.status());
    response
}

async fn cdn(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let response = match state.shared.lock().unwrap().items.get(&name) {
        Some(item) => (
            [(header::CONTENT_TYPE, item.content_type.clone())],
            item.bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such media").into_response(),
    };
    record(&state, "cdn", &name, &headers, response.status());
    response
}

/// Webhook parameters of an inbound MMS carrying `media` (URL, content type).
pub fn mms_params(
    sid: &str,
    from: &str,
    body: &str,
    media: &[(String, String)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = super::inbound_params(sid, from, body)
        .into_iter()
        .filter(|(k, _)| k != "NumMedia")
        .collect();
    params.push(("NumMedia".into(), media.len().to_string()));
    for (i, (url, content_type)) in media.iter().enumerate() {
        params.push((format!("MediaUrl{i}"), url.clone()));
        params.push((format!("MediaContentType{i}"), content_type.clone()));
    }
    params
}
