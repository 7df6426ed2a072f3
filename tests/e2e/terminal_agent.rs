//! `switchboard-dev agent`, the terminal agent, as a person at a terminal uses
//! it: the real binary with piped stdin/stdout against an in-process
//! switchboard and the phone simulator (issue 10, broken item 8). A line
//! starting with `/` is a command and never reaches the customer; `/away` and
//! `/back` say what they did; a wrong password is said in words; and a new
//! agent starts with the same capacity as in the console (the switchboard's
//! saved value). It keeps up with the console's workflow: the queue and
//! `/take`, canned replies with their placeholders filled, a transfer with a
//! note, and the history API (`/search` by a word's beginning or a number's
//! digits, `/history`, `/resolved`, `/more`) and `/reopen`.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::common::{binary, timeline_line, Agent, Options, PhoneSim, Switchboard};
use std::collections::BTreeMap;
use switchboard_protocol::{ClientFrame, ServerFrame};

/// Generous bound that only ends a broken run.
const WAIT: Duration = Duration::from_secs(30);

/// A running terminal agent: what it printed so far, and its keyboard.
struct Terminal {
    child: Child,
    stdin: ChildStdin,
    printed: Arc<Mutex<String>>,
}

impl Terminal {
    fn start(sb: &Switchboard, name: &str, password: &str) -> Terminal {
        let mut child = Command::new(binary("switchboard-dev"))
            .args(["agent", "--url", &sb.ws_url(), "--name", name])
            .env_clear()
            .env("AGENT_PASSWORD", password)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start switchboard-dev agent");
        let stdin = child.stdin.take().expect("stdin");
        let printed = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout"))
                as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let printed = printed.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut all) = printed.lock() {
                        all.push_str(&line);
                        all.push('\n');
                    }
                }
            });
        }
        Terminal {
            child,
            stdin,
            printed,
        }
    }

    fn printed(&self) -> String {
        self.printed.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Waits until the terminal shows `text`.
    async fn shows(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.printed().contains(text) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the terminal never showed {text:?}; it printed:\n{}",
                self.printed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the terminal has shown `text` at least `times` times.
    async fn shows_times(&self, text: &str, times: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.printed().matches(text).count() < times {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the terminal never showed {text:?} {times} times; it printed:\n{}",
                self.printed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Types `line` until the terminal shows `text` after it (for what the
    /// switchboard records a moment after the event that announced it).
    async fn retype_until(&mut self, line: &str, text: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let before = self.printed().len();
            self.type_line(line).await;
            let round = tokio::time::Instant::now() + Duration::from_millis(500);
            while tokio::time::Instant::now() < round {
                if self.printed()[before..].contains(text) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{line:?} never showed {text:?}; the terminal printed:\n{}",
                self.printed()
            );
        }
    }

    async fn type_line(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("type into the terminal agent");
        self.stdin.flush().await.expect("flush");
    }

    async fn exit_status(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the terminal agent exits")
            .expect("exit status")
    }
}

#[tokio::test]
async fn a_wrong_password_is_said_in_words() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let mut terminal = Terminal::start(&sb, "alice", "not-her-password");
    let status = terminal.exit_status().await;
    assert!(!status.success(), "a wrong password ends the agent");
    terminal.shows("password").await;
    let printed = terminal.printed();
    assert!(printed.contains("refused the name \"alice\""), "{printed}");
    assert!(!printed.contains("401"), "no bare HTTP status: {printed}");
}

#[tokio::test]
async fn commands_are_never_texted_to_the_customer() {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 0).await;
    let sb = Switchboard::start_in_process(Options {
        twilio_api_base: sim.base.clone(),
        ..Options::default()
    })
    .await;
    let customer = "+15550007001";
    let mut terminal = Terminal::start(&sb, "alice", "alice-pw");
    // A new agent's capacity is the switchboard's default, as in the console.
    terminal.shows("* signed in as alice (capacity 1)").await;
    let (status, answer) = sb.text(customer, "hi, is anyone there?").await;
    assert_eq!(status, 200, "{answer}");
    terminal
        .shows(&format!("* new conversation {customer}"))
        .await;

    terminal.type_line("/help").await;
    terminal.shows("/transfer [AGENT]").await;
    terminal.type_line("/foo bar").await;
    terminal
        .shows("! unknown command /foo (not sent); /help lists the commands")
        .await;
    terminal.type_line("/away").await;
    terminal.shows("* away: no new conversations").await;
    terminal.type_line("/back").await;
    terminal
        .shows("* available again (up to 1 conversation at once)")
        .await;

    // A private note is stored and shown, never texted.
    terminal.type_line("/note regular customer").await;
    terminal
        .shows("alice (private note): regular customer")
        .await;

    // The switchboard sends a conversation's replies in order: once this one
    // reached Twilio, anything typed before it would have too.
    terminal.type_line("Yes! How can I help?").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let sent = loop {
        let sent: Vec<String> = sim
            .sent()
            .await
            .iter()
            .filter_map(|m| m["body"].as_str().map(str::to_string))
            .collect();
        if !sent.is_empty() {
            break sent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reply reached Twilio"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sent, ["Yes! How can I help?"], "only the reply was texted");

    terminal.type_line("/quit").await;
    assert!(terminal.exit_status().await.success());
}

/// Waits until the phone simulator has sent `body` to a customer; returns
/// every body sent so far.
async fn texted(sim: &PhoneSim, body: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let sent: Vec<String> = sim
            .sent()
            .await
            .iter()
            .filter_map(|m| m["body"].as_str().map(str::to_string))
            .collect();
        if sent.iter().any(|b| b == body) {
            return sent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{body:?} never reached Twilio; sent: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_queue_take_canned_replies_and_a_transfer_note_from_the_terminal() {
    let sim = PhoneSim::start("http://127.0.0.1:9/twilio/sms", 0).await;
    let sb = Switchboard::start_in_process(Options {
        twilio_api_base: sim.base.clone(),
        ..Options::default()
    })
    .await;
    let customer = "+15550007101";
    // bob, away for now, writes the team's canned reply.
    let mut bob = Agent::connect(&sb, "bob", BTreeMap::new(), Some(false), Some(5)).await;
    bob.send(&ClientFrame::CannedSave {
        keyword: "hello".into(),
        body: "Hi {customer}, this is {agent}.".into(),
        replaces: None,
    })
    .await;
    bob.until_frame(
        WAIT,
        "the canned list",
        |f| matches!(f, ServerFrame::Canned { replies } if !replies.is_empty()),
    )
    .await;

    let mut terminal = Terminal::start(&sb, "alice", "alice-pw");
    terminal.shows("* signed in as alice").await;
    terminal.shows("* 1 canned replies").await;
    terminal.type_line("/away").await;
    terminal.shows("* away: no new conversations").await;
    // Nobody available: the customer waits in the queue.
    let (status, answer) = sb.text(customer, "where is my order?").await;
    assert_eq!(status, 200, "{answer}");
    terminal.shows("* 1 waiting").await;
    terminal.type_line("/queue").await;
    terminal.shows(&format!("  1. {customer}  waiting ")).await;
    terminal.shows("\"where is my order?\"").await;
    terminal.type_line("/take 2").await;
    terminal.shows("! no number 2 in the queue").await;
    terminal.type_line("/take 1").await;
    terminal
        .shows(&format!("* new conversation {customer}"))
        .await;

    // The canned replies, and one texted with its placeholders filled and
    // more text after it. An unknown keyword is not sent.
    terminal.type_line("/canned").await;
    terminal
        .shows("  /hello  Hi {customer}, this is {agent}.")
        .await;
    terminal.type_line("/hullo there").await;
    terminal.shows("! unknown command /hullo (not sent)").await;
    terminal.type_line("/hello How can I help?").await;
    let canned = format!("Hi {customer}, this is alice. How can I help?");
    let sent = texted(&sim, &canned).await;
    // The switchboard sends a conversation's replies in order: nothing
    // typed before the canned reply was texted.
    assert_eq!(sent, [canned.as_str()], "only the canned reply was texted");

    // A transfer with a note: bob gets the conversation, the note in its
    // timeline with the transfer.
    bob.send(&ClientFrame::Availability {
        available: true,
        capacity: 5,
    })
    .await;
    bob.until_frame(WAIT, "bob's presence", |f| {
        matches!(f, ServerFrame::Presence { agents } if agents.iter().any(|a| a.name == "bob" && a.available))
    })
    .await;
    terminal
        .type_line("/transfer bob wants a refund for order 4411")
        .await;
    terminal.shows("> transferring to bob, with a note").await;
    terminal
        .shows(&format!("* {customer} left you: Transferred"))
        .await;
    bob.until(WAIT, "the transferred conversation", |b| {
        b.assigned.contains(customer)
    })
    .await;
    bob.until(WAIT, "the transfer note", |b| {
        b.timeline(customer)
            .iter()
            .any(|l| l == "[transferred from alice to bob] wants a refund for order 4411")
    })
    .await;
    assert_eq!(
        bob.bodies(customer),
        ["where is my order?", canned.as_str()]
    );
    assert!(
        bob.timeline(customer).iter().all(|l| !l.contains("/hullo")),
        "{:?}",
        bob.messages
            .get(customer)
            .map(|m| m.iter().map(timeline_line).collect::<Vec<_>>())
    );

    terminal.type_line("/quit").await;
    assert!(terminal.exit_status().await.success());
}

#[tokio::test]
async fn search_history_resolved_and_reopen_from_the_terminal() {
    let sb = Switchboard::start_in_process(Options::default()).await;
    let customer = "+15550007202";
    let mut terminal = Terminal::start(&sb, "alice", "alice-pw");
    terminal.shows("* signed in as alice").await;
    // Before anything is stored: nothing found, said in words.
    terminal.type_line("/search refu").await;
    terminal.shows("* search \"refu\": nothing found").await;

    sb.text(customer, "I need a refund for order 4411").await;
    terminal
        .shows(&format!("* new conversation {customer}"))
        .await;
    // Ten more: two pages of search hits.
    for i in 1..=10 {
        sb.text(customer, &format!("refunded yet? ({i})")).await;
    }
    terminal.shows("refunded yet? (10)").await;

    // A word's beginning finds "refund" and "refunded", newest first, a page
    // of ten; /more has the oldest.
    terminal.type_line("/search REFU").await;
    terminal.shows("/more for the next page").await;
    let first_hit = format!("ago [{customer} #1]");
    assert!(
        !terminal.printed().contains(&first_hit),
        "{}",
        terminal.printed()
    );
    terminal.type_line("/more").await;
    terminal.shows(&first_hit).await;
    // A customer's number by a few of its digits: their newest message
    // (shown a second time: the first page above had it too).
    terminal.type_line("/search 7202").await;
    terminal.shows("* search \"7202\", newest first:").await;
    terminal
        .shows_times(&format!("ago [{customer} #11]"), 2)
        .await;

    // Resolve; the customer's history, the Resolved list, then reopen.
    terminal.type_line("/resolve").await;
    terminal
        .shows(&format!("* {customer} left you: Resolved"))
        .await;
    terminal
        .retype_until("/history", "ago by alice: 11 messages (#1–#11)")
        .await;
    terminal
        .retype_until("/resolved", &format!("{customer}  resolved"))
        .await;
    terminal.type_line("/reopen").await;
    terminal.shows(&format!("> reopening {customer}")).await;
    terminal
        .shows_times(&format!("* new conversation {customer}"), 2)
        .await;
    terminal.shows("* reopened by alice").await;

    terminal.type_line("/quit").await;
    assert!(terminal.exit_status().await.success());
}
