//! The process as an operator sees it: configuration errors, `--help`,
//! graceful shutdown on SIGTERM, and a slow agent being cut off.

use crate::common;

use common::*;
use std::process::Command;
use std::time::Duration;
use switchboard_protocol::{ErrorCode, ServerFrame};

#[test]
fn help_lists_every_setting() {
    let out = Command::new(binary("switchboard"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "PORT",
        "DATA_DIR",
        "PUBLIC_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM",
        "TWILIO_PHONE_NUMBER_SID",
        "TWILIO_API_BASE",
        "AGENTS",
        "SLED_CACHE_MB",
        "DURABILITY",
    ] {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
    }
}

#[test]
fn missing_or_malformed_settings_name_the_variable_and_exit_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let out = Command::new(binary("switchboard"))
            .arg("serve")
            .env_clear()
            .current_dir(tmp.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let good = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", "t"),
        ("TWILIO_FROM", "+15550001000"),
        ("AGENTS", "alice:pw"),
    ];
    let (ok, err) = run(&good[1..]);
    assert!(!ok);
    assert!(err.contains("TWILIO_ACCOUNT_SID"), "{err}");

    let mut bad = good.to_vec();
    bad[0] = ("TWILIO_ACCOUNT_SID", "AC123");
    let (ok, err) = run(&bad);
    assert!(!ok);
    assert!(
        err.contains("TWILIO_ACCOUNT_SID") && err.contains("AC123"),
        "{err}"
    );

    let mut bad = good.to_vec();
    bad[3] = ("AGENTS", "alice");
    let (ok, err) = run(&bad);
    assert!(!ok);
    assert!(
        err.contains("AGENTS") && err.contains("name:password"),
        "{err}"
    );

    let mut bad = good.to_vec();
    bad.push(("BUSINESS_HOURS", "Mon-Fri 09:00-17:00"));
    bad.push(("BUSINESS_TZ", "Mars/Olympus"));
    let (ok, err) = run(&bad);
    assert!(!ok);
    assert!(
        err.contains("BUSINESS_TZ") && err.contains("Mars/Olympus"),
        "{err}"
    );

    let mut bad = good.to_vec();
    bad.push(("PORT", "eighty"));
    let (ok, err) = run(&bad);
    assert!(!ok);
    assert!(err.contains("PORT"), "{err}");
}

#[tokio::test]
async fn sigterm_closes_agents_cleanly_and_keeps_everything_acknowledged() {
    let mut sb = Switchboard::start(Options::default()).await;
    let mut alice = sb.agent("alice").await;
    for i in 0..20 {
        assert_eq!(sb.text(&number(1), &format!("m{i}")).await.0, 200);
    }
    alice
        .until(Duration::from_secs(5), "20 messages", |a| {
            a.received_count() == 20
        })
        .await;
    assert!(
        sb.terminate(),
        "exit status 0 after SIGTERM; log:\n{}",
        sb.log()
    );
    // Reads to the end of the closed socket (the bound only matters if it
    // never closes).
    alice.drain(Duration::from_secs(20)).await;
    assert!(
        alice.frames.iter().any(|f| matches!(
            f,
            ServerFrame::Error {
                code: ErrorCode::ShuttingDown,
                fatal: true,
                ..
            }
        )),
        "agents are told why the socket closes: {:?}",
        alice.frames.last()
    );
    // Everything is still there after a restart, and the agent resumes.
    sb.spawn().await;
    assert_eq!(sb.text(&number(1), "after restart").await.0, 200);
    let mut alice = alice.reconnect(&sb).await;
    alice
        .until(Duration::from_secs(5), "message 21", |a| {
            a.received_count() == 21
        })
        .await;
    let seqs: Vec<u64> = alice.messages[&number(1)].iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=21).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_stuck_agent_is_disconnected_without_delaying_others_and_resumes_later() {
    let sb = Switchboard::start(Options {
        extra_env: vec![
            ("AGENT_BUFFER_FRAMES".into(), "16".into()),
            // Alice reads nothing, not even pings, until the flood is
            // routed; on a busy machine with DynamoDB on an emulator that
            // can outlast the default 60 s after which a silent peer is
            // taken for dead (and then the reason frame is never read).
            ("AGENT_SILENCE_SECS".into(), "3600".into()),
        ],
        // This is about resume, not grace: on a busy machine the flood
        // below (DynamoDB on the emulator) can outlast the default 30 s,
        // and a grace period over requeues the conversation, so alice got
        // it back whole (`assigned`) instead of the gap — the CI flake.
        grace_secs: 3600.0,
        ..Options::default()
    })
    .await;
    let mut stuck = Agent::connect_tiny_window(&sb, "alice", 1).await;
    let mut healthy = sb.agent_with("bob", 1).await;
    // Alice gets the first customer, bob the second.
    sb.text(&number(1), "to alice").await;
    stuck
        .until(Duration::from_secs(5), "assignment", |a| {
            a.assigned.len() == 1
        })
        .await;
    sb.text(&number(2), "to bob").await;
    healthy
        .until(Duration::from_secs(5), "assignment", |a| {
            a.assigned.len() == 1
        })
        .await;

    // Alice stops reading; her customer keeps texting long messages.
    // Four-byte characters: ~6 KB per frame, so a few MB of socket buffers fill quickly.
    let long = "🙂".repeat(1500);
    let flood = async {
        for i in 0..1200 {
            sb.text(&number(1), &format!("{i} {long}")).await;
            if i % 100 == 0 {
                sb.text(&number(2), &format!("bob {i}")).await;
            }
        }
    };
    // Bounds below are generous upper limits, not expectations: with
    // DynamoDB on the emulator every webhook and every change is an HTTP
    // round trip to a Python process, and on a busy 2-core machine routing
    // the flood takes minutes (the earlier 60 s bound was the other
    // half of the flake).
    let started = std::time::Instant::now();
    let bob_keeps_up = async {
        healthy
            .until(Duration::from_secs(600), "bob's 5", |b| {
                b.received_count() >= 5
            })
            .await;
    };
    tokio::join!(flood, bob_keeps_up);
    // Routing has caught up with the flood (with the DynamoDB store the
    // change feed trails the webhooks): bob's last message came after
    // 1100 of alice's.
    eprintln!("flood stored in {:?}", started.elapsed());
    healthy
        .until(Duration::from_secs(600), "all of bob's", |b| {
            b.received_count() >= 13
        })
        .await;
    eprintln!("routing caught up after {:?}", started.elapsed());

    // Alice now reads what was buffered: it ends with the slow-consumer reason.
    let mut told = false;
    while let Some(frame) = stuck.next_frame(Duration::from_secs(5)).await {
        if matches!(
            frame,
            ServerFrame::Error {
                code: ErrorCode::SlowConsumer,
                fatal: true,
                ..
            }
        ) {
            told = true;
        }
    }
    assert!(
        told,
        "the stuck agent was told why it was cut off; got {} frames; log:\n{}",
        stuck.frames.len(),
        sb.log()
            .lines()
            .filter(|l| !l.contains("webhook"))
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Reconnecting resumes exactly where it stopped.
    let mut alice = stuck.reconnect(&sb).await;
    let resumed_at = alice.frames.len();
    // Generous: ~7 MB read back from the store at the socket's pace.
    let resuming = std::time::Instant::now();
    alice
        .until(Duration::from_secs(600), "the rest", |a| {
            a.bodies(&number(1)).len() >= 1201
        })
        .await;
    eprintln!("resume delivered in {:?}", resuming.elapsed());
    let seqs: Vec<u64> = alice.messages[&number(1)].iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=1201).collect::<Vec<_>>());
    assert!(
        !alice.frames[resumed_at..].iter().any(|f| matches!(
            f,
            ServerFrame::Assigned { .. } | ServerFrame::Unassigned { .. }
        )),
        "alice resumed her conversation rather than getting it again"
    );
}

#[tokio::test]
async fn frames_that_break_the_websocket_rules_get_a_reason_and_the_right_close_code() {
    use futures_util::{SinkExt, StreamExt};
    use switchboard_protocol::{decode, encode, ClientFrame};
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    use tokio_tungstenite::MaybeTlsStream;

    let sb = Switchboard::start(Options::default()).await;
    // A client frame, masked as RFC 6455 requires, with a chosen first byte.
    let masked = |first: u8, payload: &[u8]| {
        let key = [1u8, 2, 3, 4];
        let mut frame = vec![first, 0x80 | payload.len() as u8];
        frame.extend(key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        frame
    };
    let cases = [
        ("over 256 KiB", 1009, None),
        ("invalid UTF-8", 1007, Some(masked(0x81, &[0xff, 0xfe]))),
        ("a reserved bit set", 1002, Some(masked(0xC1, b"hi"))),
    ];
    for (what, expected, raw) in cases {
        let mut socket = open_socket(&sb, "alice").await.expect("agent connects");
        let hello = ClientFrame::Hello {
            resume: Default::default(),
            available: None,
            capacity: None,
            client: None,
        };
        socket
            .send(WsMessage::Text(encode(&hello).into()))
            .await
            .expect("hello");
        match raw {
            None => socket
                .send(WsMessage::Text("x".repeat(300 * 1024).into()))
                .await
                .expect("send a big message"),
            Some(bytes) => match socket.get_mut() {
                MaybeTlsStream::Plain(tcp) => tcp.write_all(&bytes).await.expect("raw frame"),
                _ => panic!("plain TCP expected"),
            },
        }
        let (mut told, mut closed) = (None, None);
        while let Ok(Some(next)) =
            tokio::time::timeout(Duration::from_secs(20), socket.next()).await
        {
            match next {
                Ok(WsMessage::Text(text)) => {
                    if let Ok(ServerFrame::Error {
                        code: ErrorCode::BadFrame,
                        fatal: true,
                        message,
                        ..
                    }) = decode::<ServerFrame>(text.as_str())
                    {
                        told = Some(message);
                    }
                }
                Ok(WsMessage::Close(frame)) => {
                    closed = frame;
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("{what}: the socket failed before a Close: {e}"),
            }
        }
        let close = closed.unwrap_or_else(|| panic!("{what}: no Close frame"));
        assert_eq!(u16::from(close.code), expected, "{what}: {close:?}");
        assert!(!close.reason.is_empty(), "{what}: a Close without a reason");
        assert!(told.is_some(), "{what}: no error frame before the Close");
    }
    let log = sb.log();
    assert_eq!(
        log.matches("the client broke the protocol").count(),
        3,
        "each violation is logged:\n{log}"
    );
}
