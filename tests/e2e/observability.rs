//! `/metrics` and the JSON logs, end to end: one signed webhook through the
//! real `switchboard` and `agent-ui` binaries, then what an operator sees —
//! its counters and histograms on both services' `/metrics`, and its path
//! (its MessageSid, conversation, seq and agent) in both services' JSON logs,
//! with a request id on the HTTP lines. And the guard: `/metrics` refuses a
//! scrape without the token, is off without one, and a bad token stops the
//! start-up.

use crate::agent_ui_server::AgentUi;
use crate::common::{
    self, binary, inbound_params, new_sid, number, wait_for, Options, Switchboard,
};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// Generous bound of every wait: a working system answers far sooner.
const WAIT: Duration = Duration::from_secs(20);

/// The scrape token both services are given.
const TOKEN: &str = "test-metrics-token-0123456789";

/// The value of one series (`name{labels}` exactly as the exporter writes
/// it) in a Prometheus text exposition.
fn series(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// Scrapes `url` with the bearer `token`; returns the status and body.
async fn scrape(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET /metrics");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The JSON log lines of `log` (a service's stdout + stderr).
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// Whether any span of `line` (the current one and its parents) has
/// `field` equal to `value`.
fn span_has(line: &Value, field: &str, value: &str) -> bool {
    line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|s| s[field] == value))
}

/// The first log line with message `message` whose fields name
/// `conversation` and `seq`.
fn message_line<'a>(
    lines: &'a [Value],
    message: &str,
    conversation: &str,
    seq: u64,
) -> Option<&'a Value> {
    lines.iter().find(|l| {
        l["fields"]["message"] == message
            && l["fields"]["conversation"] == conversation
            && l["fields"]["seq"] == seq
    })
}

#[tokio::test]
async fn one_message_shows_in_metrics_and_in_both_services_json_logs() {
    let json_env = |filter: &str| {
        vec![
            ("LOG_FORMAT".to_string(), "json".to_string()),
            ("RUST_LOG".to_string(), filter.to_string()),
            ("METRICS_TOKEN".to_string(), TOKEN.to_string()),
        ]
    };
    // A process (not in-process): its log and its metrics are its own.
    let sb = Switchboard::start(Options {
        extra_env: json_env("info,switchboard=debug,tower_http=debug"),
        ..Options::default()
    })
    .await;
    let ui = AgentUi::process_with(
        &sb.ws_url(),
        &[
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info,agent_ui=debug,tower_http=debug"),
            ("METRICS_TOKEN", TOKEN),
        ],
    )
    .await;
    // alice signs in and her console opens: the agent UI opens her session
    // upstream.
    let cookie = ui.sign_in("alice").await;
    let _console = ui.browser(&cookie).await;
    let customer = number(7101);
    let sid = new_sid();
    let params = inbound_params(&sid, &customer, "where is my parcel?");
    let signature = switchboard::twilio::signature::compute(
        common::AUTH_TOKEN,
        &sb.url("/twilio/sms"),
        &params,
    );
    let response = sb
        .http
        .post(sb.url("/twilio/sms"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(common::form_body(&params))
        .send()
        .await
        .expect("webhook");
    assert_eq!(response.status(), 200);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("the webhook's answer names its request id")
        .to_string();

    // The agent (alice's session in the agent UI) receives it: its log says so,
    // with the conversation, the seq and the agent on the session's span.
    let ui_line = wait_for("the agent UI to receive the message", WAIT, async || {
        let lines = json_lines(&ui.log());
        message_line(
            &lines,
            "message received from the switchboard",
            &customer,
            1,
        )
        .cloned()
    })
    .await;
    assert!(
        span_has(&ui_line, "agent", "alice"),
        "the agent UI's line names the agent on its span: {ui_line}"
    );
    assert_eq!(
        ui_line["fields"]["message_sid"], sid,
        "the agent UI's line names the message's MessageSid: {ui_line}"
    );

    // The switchboard's log follows the same message: stored under its
    // MessageSid and conversation, sent to alice's socket.
    let sb_lines = json_lines(&sb.log());
    let stored = sb_lines
        .iter()
        .find(|l| l["fields"]["message"] == "inbound stored")
        .unwrap_or_else(|| panic!("no `inbound stored` line; log:\n{}", sb.log()));
    assert_eq!(stored["fields"]["seq"], 1, "{stored}");
    assert!(span_has(stored, "message_sid", &sid), "{stored}");
    assert!(span_has(stored, "conversation", &customer), "{stored}");
    assert!(
        span_has(stored, "request_id", &request_id),
        "the webhook's lines carry its request id: {stored}"
    );
    let sent = message_line(&sb_lines, "message sent to agent", &customer, 1)
        .unwrap_or_else(|| panic!("no `message sent to agent` line; log:\n{}", sb.log()));
    assert!(span_has(sent, "agent", "alice"), "{sent}");
    // Every HTTP line names its request (tower-http's lines included).
    let http_lines: Vec<&Value> = sb_lines
        .iter()
        .filter(|l| l["span"]["name"] == "http")
        .collect();
    assert!(
        !http_lines.is_empty(),
        "no line inside an HTTP request span"
    );
    for line in http_lines {
        assert!(
            line["span"]["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "an HTTP line without a request id: {line}"
        );
    }

    // Metrics: the switchboard counted and timed it, and timed its way to
    // the agent; the agent UI timed its enrichment.
    // The router's gauges are set just after its step, which may be a moment
    // after the frame left: wait for them.
    let text = wait_for(
        "the router's gauges to show alice's conversation",
        WAIT,
        async || {
            let (status, text) = scrape(&sb.url("/metrics"), Some(TOKEN)).await;
            assert_eq!(status, 200, "{text}");
            let load = series(&text, r#"switchboard_agent_conversations{agent="alice"}"#);
            (load == Some(1.0)).then_some(text)
        },
    )
    .await;
    assert_eq!(
        series(&text, r#"switchboard_webhooks_total{outcome="stored"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(&text, "switchboard_webhook_duration_seconds_count"),
        Some(1.0),
        "{text}"
    );
    assert!(
        series(&text, "switchboard_webhook_to_agent_seconds_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    if common::dynamodb_selected() {
        // DynamoDB has no group commit; its change feed is the stream.
        assert!(
            series(&text, "switchboard_dynamodb_stream_lag_seconds").is_some(),
            "{text}"
        );
    } else {
        assert!(
            series(&text, "switchboard_store_batch_size_count").is_some_and(|n| n >= 1.0),
            "{text}"
        );
    }
    assert_eq!(
        series(&text, "switchboard_agents_online"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(&text, "switchboard_router_queue_length"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        series(&text, "switchboard_agent_sockets"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(&text, r#"switchboard_jobs_pending{kind="media"}"#),
        Some(0.0),
        "{text}"
    );
    assert!(
        text.contains("# TYPE switchboard_webhook_duration_seconds histogram"),
        "{text}"
    );

    // A forged webhook is counted as such.
    let (status, _) = sb
        .post_form(
            "/twilio/sms",
            &inbound_params(&new_sid(), &customer, "x"),
            Some("forged"),
        )
        .await;
    assert_eq!(status, 403);
    let (_, text) = scrape(&sb.url("/metrics"), Some(TOKEN)).await;
    assert_eq!(
        series(&text, r#"switchboard_webhooks_total{outcome="forged"}"#),
        Some(1.0),
        "{text}"
    );

    let (status, text) = scrape(&ui.url("/metrics"), Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        series(&text, "agent_ui_enrich_duration_seconds_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_refuse_a_scrape_without_the_token_and_are_off_without_one() {
    let guarded = Switchboard::start_in_process(Options {
        extra_env: vec![("METRICS_TOKEN".into(), TOKEN.into())],
        ..Options::default()
    })
    .await;
    let url = guarded.url("/metrics");
    for token in [None, Some("test-metrics-token-012345678"), Some("wrong")] {
        let (status, body) = scrape(&url, token).await;
        assert_eq!(status, 401, "token {token:?}: {body}");
        assert!(!body.contains("switchboard_"), "{body}");
    }
    assert_eq!(scrape(&url, Some(TOKEN)).await.0, 200);

    let open = Switchboard::start_in_process(Options::default()).await;
    assert_eq!(scrape(&open.url("/metrics"), Some(TOKEN)).await.0, 404);
}

#[test]
fn a_short_metrics_token_stops_the_start_up() {
    for (program, token) in [
        ("switchboard", "short"),
        ("agent-ui", "has spaces in it, alas"),
    ] {
        let out = Command::new(binary(program))
            .args(["serve", "--metrics-token", token])
            .env_clear()
            .env("AGENTS", "alice:alice-pw")
            .env("TWILIO_ACCOUNT_SID", common::ACCOUNT_SID)
            .env("TWILIO_AUTH_TOKEN", common::AUTH_TOKEN)
            .env("TWILIO_FROM", common::TWILIO_NUMBER)
            .env("SWITCHBOARD_WS_URL", "ws://127.0.0.1:9/agent")
            .output()
            .expect("run the binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{program} started with a bad token");
        assert!(stderr.contains("metrics-token"), "{program}: {stderr}");
    }
}
