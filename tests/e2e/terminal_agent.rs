//! `switchboard-dev agent`, the terminal agent, as a person at a terminal uses
//! it: the real binary with piped stdin/stdout against an in-process
//! switchboard and the phone simulator (issue 10, broken item 8). A line
//! starting with `/` is a command and never reaches the customer; `/away` and
//! `/back` say what they did; a wrong password is said in words; and a new
//! agent starts with the same capacity as in the console (the switchboard's
//! saved value).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::common::{binary, Options, PhoneSim, Switchboard};

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
