//! The phone simulator as a Twilio stand-in: it runs in-process on a real
//! socket, and a tiny capture server plays the switchboard, recording every
//! webhook and status callback so their fields and signatures can be checked
//! with the switchboard's own validator.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard::twilio::sid::is_sid;
use switchboard::twilio::signature;
use switchboard_devtools::phone_sim::{self, SimConfig};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "sim-test-token";
const TWILIO_FROM: &str = "+15550009999";
const CUSTOMER: &str = "+15551230001";
const WAIT: Duration = Duration::from_secs(5);

/// A request that reached the stand-in switchboard.
#[derive(Debug)]
struct Captured {
    path: String,
    signature: Option<String>,
    params: Vec<(String, String)>,
}

impl Captured {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The simulator plus the capture server, both stopped when dropped.
struct Harness {
    sim: String,
    capture: String,
    captured: mpsc::UnboundedReceiver<Captured>,
    http: reqwest::Client,
    _stop: Vec<oneshot::Sender<()>>,
}

impl Harness {
    async fn start() -> Harness {
        let (tx, captured) = mpsc::unbounded_channel();
        let capture_app = Router::new()
            .route("/twilio/sms", post(capture_webhook))
            .route("/other/sms", post(capture_webhook))
            .route("/refusing/sms", post(refuse))
            .route("/twilio/status", post(capture_webhook))
            .with_state(tx);
        let (capture, stop_capture) = spawn_server(capture_app).await;

        let mut config = SimConfig::new(
            ACCOUNT_SID,
            AUTH_TOKEN,
            TWILIO_FROM,
            format!("{capture}/twilio/sms"),
        );
        config.delivery_delay_ms = 20;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind simulator");
        let sim = format!(
            "http://{}",
            listener.local_addr().expect("simulator address")
        );
        let (stop_sim, stopped) = oneshot::channel::<()>();
        tokio::spawn(phone_sim::serve(config, listener, async {
            let _ = stopped.await;
        }));

        Harness {
            sim,
            capture,
            captured,
            http: reqwest::Client::new(),
            _stop: vec![stop_capture, stop_sim],
        }
    }

    async fn next_capture(&mut self) -> Captured {
        tokio::time::timeout(WAIT, self.captured.recv())
            .await
            .expect("nothing reached the stand-in switchboard in time")
            .expect("capture server gone")
    }

    /// Asserts the capture carries Twilio's signature over `url`.
    fn assert_signed(&self, captured: &Captured, url: &str) {
        let signature = captured
            .signature
            .as_deref()
            .expect("X-Twilio-Signature header");
        assert!(
            signature::is_valid(AUTH_TOKEN, url, &captured.params, signature),
            "signature {signature} does not verify for {url} and {:?}",
            captured.params
        );
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            self.sim
        )
    }

    async fn send_sms(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.messages_url())
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
            .form(form)
            .send()
            .await
            .expect("simulator reachable")
    }

    async fn customer_sends(&self, request: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/sim/send", self.sim))
            .json(&request)
            .send()
            .await
            .expect("simulator reachable");
        let status = response.status();
        (status, response.json().await.expect("JSON answer"))
    }

    async fn queue_faults(&self, faults: Value) {
        let response = self
            .http
            .post(format!("{}/sim/faults", self.sim))
            .json(&faults)
            .send()
            .await
            .expect("simulator reachable");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{:?}",
            response.text().await
        );
    }
}

async fn spawn_server(app: Router) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind capture server");
    let base = format!("http://{}", listener.local_addr().expect("capture address"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    (base, stop)
}

async fn capture_webhook(
    State(tx): State<mpsc::UnboundedSender<Captured>>,
    uri: Uri,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> impl IntoResponse {
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let _ = tx.send(Captured {
        path: uri.path().to_string(),
        signature,
        params,
    });
    ([("content-type", "text/xml")], "<Response/>")
}

async fn refuse() -> impl IntoResponse {
    (StatusCode::FORBIDDEN, "invalid signature")
}

#[tokio::test]
async fn customer_message_arrives_as_signed_twilio_webhook() {
    let mut h = Harness::start().await;
    let (status, answer) = h
        .customer_sends(json!({
            "from": "+447700900123",
            "body": "Hello & welcome? 100% = +1 ✓",
            "media": [{ "url": "https://example.com/cat.png", "content_type": "image/png" }],
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["body"], "<Response/>");

    let webhook = h.next_capture().await;
    assert_eq!(webhook.path, "/twilio/sms");
    h.assert_signed(&webhook, &format!("{}/twilio/sms", h.capture));
    let sid = webhook.get("MessageSid").expect("MessageSid");
    assert!(is_sid(sid, "SM"), "{sid}");
    assert_eq!(answer["message_sid"], sid);
    assert_eq!(webhook.get("AccountSid"), Some(ACCOUNT_SID));
    assert_eq!(webhook.get("From"), Some("+447700900123"));
    assert_eq!(webhook.get("To"), Some(TWILIO_FROM));
    assert_eq!(webhook.get("Body"), Some("Hello & welcome? 100% = +1 ✓"));
    assert_eq!(webhook.get("FromCountry"), Some("GB"));
    assert_eq!(webhook.get("NumMedia"), Some("1"));
    assert_eq!(
        webhook.get("MediaUrl0"),
        Some("https://example.com/cat.png")
    );
    assert_eq!(webhook.get("MediaContentType0"), Some("image/png"));
    assert_eq!(webhook.get("SmsStatus"), Some("received"));
    assert_eq!(webhook.get("ApiVersion"), Some("2010-04-01"));

    // The message is listed for the customer's number, with the outcome.
    let listed: Value = h
        .http
        .get(format!("{}/sim/messages?number=%2B447700900123", h.sim))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON list");
    assert_eq!(listed[0]["direction"], "inbound");
    assert_eq!(listed[0]["sid"], sid);
    assert_eq!(listed[0]["webhook_status"], 200);
}

#[tokio::test]
async fn customer_side_refusals() {
    let h = Harness::start().await;
    let (status, answer) = h
        .customer_sends(json!({ "from": "5551230001", "body": "hi" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("E.164")),
        "{answer}"
    );

    // A refusing switchboard's answer is passed back as it was.
    let register = |url: String| {
        h.http
            .post(format!(
                "{}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json",
                h.sim
            ))
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
            .form(&[("SmsUrl", url.as_str()), ("SmsMethod", "POST")])
            .send()
    };
    register(format!("{}/refusing/sms", h.capture))
        .await
        .expect("register");
    let (status, answer) = h
        .customer_sends(json!({ "from": CUSTOMER, "body": "hi" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], 403);
    assert_eq!(answer["body"], "invalid signature");

    // Nobody listening: 502 with the reason.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = format!(
        "http://{}/twilio/sms",
        closed.local_addr().expect("address")
    );
    drop(closed);
    register(dead).await.expect("register");
    let (status, answer) = h
        .customer_sends(json!({ "from": CUSTOMER, "body": "hi" }))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        is_sid(answer["message_sid"].as_str().unwrap_or_default(), "SM"),
        "{answer}"
    );
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable")),
        "{answer}"
    );
}

#[tokio::test]
async fn rest_api_checks_credentials_account_and_fields() {
    let h = Harness::start().await;
    let form = [("To", CUSTOMER), ("From", TWILIO_FROM), ("Body", "hi")];

    let anonymous = h
        .http
        .post(h.messages_url())
        .form(&form)
        .send()
        .await
        .expect("reachable");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let body: Value = anonymous.json().await.expect("JSON error");
    assert_eq!(
        body,
        json!({
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401
        })
    );

    let wrong_token = h
        .http
        .post(h.messages_url())
        .basic_auth(ACCOUNT_SID, Some("not-the-token"))
        .form(&form)
        .send()
        .await
        .expect("reachable");
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);

    let other_account = h
        .http
        .post(format!(
            "{}/2010-04-01/Accounts/ACffffffffffffffffffffffffffffffff/Messages.json",
            h.sim
        ))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .form(&form)
        .send()
        .await
        .expect("reachable");
    assert_eq!(other_account.status(), StatusCode::NOT_FOUND);
    let body: Value = other_account.json().await.expect("JSON error");
    assert_eq!(
        (body["code"].as_u64(), body["status"].as_u64()),
        (Some(20404), Some(404))
    );

    for (form, code) in [
        (vec![("From", TWILIO_FROM), ("Body", "hi")], 21604),
        (vec![("To", CUSTOMER), ("From", TWILIO_FROM)], 21602),
        (vec![("To", CUSTOMER), ("Body", "hi")], 21603),
    ] {
        let response = h.send_sms(&form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.expect("JSON error");
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], 400);
        assert_eq!(
            body["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
    }
}

#[tokio::test]
async fn accepted_message_gets_signed_sent_then_delivered_callbacks() {
    let mut h = Harness::start().await;
    let callback = format!("{}/twilio/status", h.capture);
    let response = h
        .send_sms(&[
            ("To", CUSTOMER),
            ("From", TWILIO_FROM),
            ("Body", "Your order shipped"),
            ("StatusCallback", &callback),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let message: Value = response.json().await.expect("message JSON");
    let sid = message["sid"].as_str().expect("sid").to_string();
    assert!(is_sid(&sid, "SM"), "{sid}");
    assert_eq!(message["account_sid"], ACCOUNT_SID);
    assert_eq!(message["to"], CUSTOMER);
    assert_eq!(message["from"], TWILIO_FROM);
    assert_eq!(message["body"], "Your order shipped");
    assert_eq!(message["status"], "queued");
    assert_eq!(message["direction"], "outbound-api");
    assert_eq!(message["num_segments"], "1");
    assert_eq!(
        message["uri"],
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json")
    );
    let created = message["date_created"].as_str().expect("date_created");
    assert!(
        created.ends_with(" +0000") && created.len() == 31,
        "{created}"
    );

    for expected in ["sent", "delivered"] {
        let status = h.next_capture().await;
        assert_eq!(status.path, "/twilio/status");
        h.assert_signed(&status, &callback);
        assert_eq!(status.get("MessageSid"), Some(sid.as_str()));
        assert_eq!(status.get("MessageStatus"), Some(expected));
        assert_eq!(status.get("AccountSid"), Some(ACCOUNT_SID));
        assert_eq!(status.get("From"), Some(TWILIO_FROM));
        assert_eq!(status.get("To"), Some(CUSTOMER));
        assert_eq!(status.get("ErrorCode"), None);
    }

    let fetched: Value = h
        .http
        .get(format!(
            "{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            h.sim
        ))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .send()
        .await
        .expect("fetch")
        .json()
        .await
        .expect("message JSON");
    assert_eq!(fetched["status"], "delivered");
}

#[tokio::test]
async fn faults_are_served_in_order_then_normal_service_resumes() {
    let mut h = Harness::start().await;
    h.queue_faults(json!({ "faults": [
        { "status": 429, "retry_after_secs": 1 },
        { "status": 400, "code": 21610, "message": "Attempt to send to unsubscribed recipient" },
        { "status": 500 },
        { "status": 201, "final_status": "undelivered", "error_code": 30003 },
    ]}))
    .await;
    let callback = format!("{}/twilio/status", h.capture);
    let form = [
        ("To", CUSTOMER),
        ("From", TWILIO_FROM),
        ("Body", "hi"),
        ("StatusCallback", callback.as_str()),
    ];

    let limited = h.send_sms(&form).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = limited.json().await.expect("JSON error");
    assert_eq!(
        (body["code"].as_u64(), body["status"].as_u64()),
        (Some(20429), Some(429))
    );

    let unsubscribed = h.send_sms(&form).await;
    assert_eq!(unsubscribed.status(), StatusCode::BAD_REQUEST);
    let body: Value = unsubscribed.json().await.expect("JSON error");
    assert_eq!(
        body,
        json!({
            "code": 21610,
            "message": "Attempt to send to unsubscribed recipient",
            "more_info": "https://www.twilio.com/docs/errors/21610",
            "status": 400
        })
    );

    assert_eq!(
        h.send_sms(&form).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let accepted = h.send_sms(&form).await;
    assert_eq!(accepted.status(), StatusCode::CREATED);
    let sid = accepted.json::<Value>().await.expect("message JSON")["sid"]
        .as_str()
        .map(str::to_string);
    let sent = h.next_capture().await;
    assert_eq!(sent.get("MessageStatus"), Some("sent"));
    let undelivered = h.next_capture().await;
    h.assert_signed(&undelivered, &callback);
    assert_eq!(undelivered.get("MessageSid"), sid.as_deref());
    assert_eq!(undelivered.get("MessageStatus"), Some("undelivered"));
    assert_eq!(undelivered.get("ErrorCode"), Some("30003"));

    // The queue is empty again: plain service.
    assert_eq!(h.send_sms(&form).await.status(), StatusCode::CREATED);

    // Cleared faults are never served.
    h.queue_faults(json!({ "faults": [{ "status": 503 }] }))
        .await;
    let cleared = h
        .http
        .delete(format!("{}/sim/faults", h.sim))
        .send()
        .await
        .expect("clear");
    assert!(cleared.status().is_success());
    assert_eq!(h.send_sms(&form).await.status(), StatusCode::CREATED);

    let bad = h
        .http
        .post(format!("{}/sim/faults", h.sim))
        .json(&json!({ "faults": [{ "status": 500, "final_status": "failed" }] }))
        .send()
        .await
        .expect("reachable");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn registered_sms_url_receives_customer_messages() {
    let mut h = Harness::start().await;
    let url = format!("{}/other/sms", h.capture);
    let response = h
        .http
        .post(format!(
            "{}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json",
            h.sim
        ))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .form(&[("SmsUrl", url.as_str()), ("SmsMethod", "POST")])
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status(), StatusCode::OK);
    let number: Value = response.json().await.expect("number JSON");
    assert_eq!(number["sms_url"], url);
    assert_eq!(number["phone_number"], TWILIO_FROM);

    let (status, _) = h
        .customer_sends(json!({ "from": CUSTOMER, "body": "hi" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let webhook = h.next_capture().await;
    assert_eq!(webhook.path, "/other/sms");
    h.assert_signed(&webhook, &url);
    assert_eq!(webhook.get("FromCountry"), Some("US"));
}

#[tokio::test]
async fn page_is_served_and_says_it_is_a_simulator() {
    let h = Harness::start().await;
    let response = h
        .http
        .get(format!("{}/", h.sim))
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("HTML");
    assert!(html.contains("Simulator"));
    assert!(!html.contains("innerHTML"));
}
