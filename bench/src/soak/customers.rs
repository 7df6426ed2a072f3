//! Customers: each texts the team one message at a time, as signed webhooks
//! posted straight to the switchboard, and sends its next message only once
//! the previous one was acknowledged (HTTP 200). A webhook that got no 200 —
//! the switchboard was being killed or restarting — is posted again with the
//! same `MessageSid`, as Twilio would retry it, so a message the switchboard
//! stored but could not acknowledge must be absorbed by its dedupe.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::twilio::signature;

/// The Twilio settings the webhooks are signed with.
#[derive(Debug, Clone)]
pub struct Signing {
    pub account_sid: String,
    pub auth_token: String,
    /// The team's number (the switchboard's `TWILIO_FROM`).
    pub to: String,
}

/// What the customers did: per customer, the bodies the switchboard
/// acknowledged, in the order they were sent.
#[derive(Debug, Default)]
pub struct Sent {
    pub acknowledged: Vec<Vec<String>>,
    /// Posts that got no 200 (each was retried until it did).
    pub unanswered: u64,
}

/// The customer number of customer `index`.
pub fn number(index: usize) -> String {
    format!("+1555700{index:04}")
}

/// The body of customer `index`'s `nth` message.
pub fn body(index: usize, nth: usize) -> String {
    format!("soak c{index} m{nth}")
}

/// Runs `customers` customers against `addr` until `stop` is set; each
/// finishes the message it is sending (until acknowledged) before stopping.
pub async fn run(
    addr: SocketAddr,
    signing: Signing,
    customers: usize,
    stop: Arc<AtomicBool>,
) -> Sent {
    // MessageSids unique to this run: `SM` + customer + message + nonce.
    let nonce: u64 = rand::random();
    let sent = Arc::new(Mutex::new(Sent {
        acknowledged: vec![Vec::new(); customers],
        unanswered: 0,
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default();
    let tasks: Vec<_> = (0..customers)
        .map(|index| {
            let (http, signing, stop, sent) =
                (http.clone(), signing.clone(), stop.clone(), sent.clone());
            tokio::spawn(async move {
                let mut nth = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = body(index, nth);
                    let sid = format!("SM{index:04}{nth:06}{nonce:022x}");
                    let mut attempts = 0u64;
                    while !post(&http, addr, &signing, &sid, &number(index), &body).await {
                        attempts += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    if let Ok(mut sent) = sent.lock() {
                        sent.acknowledged[index].push(body);
                        sent.unanswered += attempts;
                    }
                    nth += 1;
                    let pause = 100 + rand::random::<u64>() % 400;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    Arc::try_unwrap(sent)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_default()
}

/// Posts one signed webhook; true when the switchboard answered 200.
async fn post(
    http: &reqwest::Client,
    addr: SocketAddr,
    signing: &Signing,
    sid: &str,
    from: &str,
    body: &str,
) -> bool {
    let url = format!("http://{addr}/twilio/sms");
    let params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", signing.account_sid.as_str()),
        ("From", from),
        ("To", signing.to.as_str()),
        ("Body", body),
        ("NumMedia", "0"),
        ("FromCountry", "US"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = signature::compute(&signing.auth_token, &url, &params);
    let form: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let answer = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(form)
        .send()
        .await;
    matches!(answer, Ok(r) if r.status().as_u16() == 200)
}
