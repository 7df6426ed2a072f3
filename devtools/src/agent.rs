//! `switchboard-dev agent`: a terminal agent, for demos, support and smoke tests.
//!
//! It speaks the same protocol as the agent UI. Type a line to reply to the
//! current conversation (the one that last had activity); a line starting
//! with `/` is a command (`/help` lists them) and is never texted to the
//! customer: an unknown one prints an error. `//` at the start sends the line
//! with one `/`. It reconnects by itself when the link breaks and resumes
//! where it was.
//!
//! Capacity has one owner: the switchboard's saved setting for the agent
//! (1 for a new agent, changed from the console or with `--capacity`), so the
//! console and the terminal agent start from the same value.

use futures_util::StreamExt;
use std::time::Duration;
use switchboard_protocol::client::{
    self, Beat, ConnectError, Credentials, Heartbeat, Incoming, ResumePoints,
};
use switchboard_protocol::{ClientFrame, Direction, ErrorCode, Message, ServerFrame};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

/// How often to ping the switchboard while connected (three silent intervals
/// end the link, which is then reconnected).
const PING_EVERY: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, clap::Args)]
pub struct AgentCliConfig {
    /// Switchboard agent endpoint.
    #[arg(
        long,
        env = "SWITCHBOARD_WS_URL",
        default_value = "ws://localhost:3000/v1/agent"
    )]
    pub url: String,
    /// Agent name (one of AGENTS).
    #[arg(long)]
    pub name: String,
    /// Agent password.
    #[arg(long, env = "AGENT_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Conversations at once; without it, the agent's saved capacity (1 for a
    /// new agent, the same default as the console's).
    #[arg(long)]
    pub capacity: Option<u32>,
}

/// What `/help` prints.
const HELP: &str = "\
commands (a line without a leading / is texted to the current conversation):
  /to NUMBER          reply to NUMBER from now on
  /resolve            resolve the current conversation
  /transfer [AGENT]   hand it to AGENT, or back to the queue
  /note TEXT          a private note in the current conversation (never texted)
  /away               take no new conversations
  /back               take conversations again
  /help               this list
  /quit               sign out and exit
  //text             send \"/text\" to the customer";

/// How one connection ended.
enum End {
    /// `/quit` or end of input.
    Quit,
    /// A connection with this process's client id replaced ours (it cannot
    /// be another terminal agent, whose id differs): reconnecting would only
    /// fight it.
    Superseded,
    /// The link broke; reconnect and resume.
    Lost(String),
}

/// What the terminal agent remembers across reconnects.
struct Agent {
    config: AgentCliConfig,
    /// The conversation a typed line replies to.
    current: Option<String>,
    /// Last seq seen per assigned conversation, for `hello` after a reconnect.
    resume: ResumePoints,
    /// Capacity in force: `--capacity`, then whatever the switchboard's
    /// `welcome` says (sent back with `/away` and `/back`).
    capacity: Option<u32>,
    /// This process's client id (`hello.client`, random): the same agent
    /// signed in through the agent UI too keeps both connections, and this
    /// process's own reconnects replace its earlier connection.
    client: String,
    /// Counter of this process's reply ids.
    next_id: u64,
    /// Replies not yet acknowledged (or refused): sent again after a
    /// reconnect, where the switchboard's `client_id` idempotency stores each
    /// at most once.
    pending: Vec<ClientFrame>,
}

/// Runs the terminal agent until `/quit`, end of input, a wrong password or
/// another sign-in as this agent; reconnects (with the protocol client's
/// backoff) and resumes whenever the link breaks.
pub async fn run(config: AgentCliConfig) -> anyhow::Result<()> {
    let credentials = Credentials {
        url: config.url.clone(),
        name: config.name.clone(),
        password: config.password.clone(),
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut agent = Agent {
        capacity: config.capacity,
        config,
        current: None,
        resume: ResumePoints::default(),
        client: format!("terminal-{:016x}", rand::random::<u64>()),
        next_id: 0,
        pending: Vec::new(),
    };
    let mut first = true;
    loop {
        let mut socket = match client::connect_retrying(&credentials, |e, wait| {
            println!("! {e}; retrying in {:.1} s", wait.as_secs_f64())
        })
        .await
        {
            Ok(socket) => socket,
            Err(ConnectError::Unauthorized) => anyhow::bail!(
                "the switchboard refused the name {:?} with that password: check --name and AGENT_PASSWORD (or --password)",
                credentials.name
            ),
            Err(e) => return Err(e.into()),
        };
        // The first hello declares availability; later ones keep whatever the
        // agent declared since (`/away` stays away across a reconnect).
        let hello = ClientFrame::Hello {
            resume: agent.resume.to_hello(),
            available: first.then_some(true),
            capacity: first.then_some(agent.config.capacity).flatten(),
            client: Some(agent.client.clone()),
        };
        first = false;
        let end = match client::send(&mut socket, &hello).await {
            Ok(()) => agent.session(&mut socket, &mut lines).await,
            Err(e) => End::Lost(e.to_string()),
        };
        match end {
            End::Quit | End::Superseded => {
                let _ = socket.close(None).await;
                return Ok(());
            }
            End::Lost(why) => println!("! connection lost ({why}); reconnecting"),
        }
    }
}

impl Agent {
    /// One connection's life: frames in, typed lines out, pings.
    async fn session(
        &mut self,
        socket: &mut client::Socket,
        lines: &mut Lines<BufReader<Stdin>>,
    ) -> End {
        let mut heartbeat = Heartbeat::new(PING_EVERY);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let frame = tokio::select! {
                incoming = socket.next() => {
                    let message = match incoming {
                        Some(Ok(message)) => message,
                        Some(Err(e)) => return End::Lost(e.to_string()),
                        None => return End::Lost("connection closed".into()),
                    };
                    heartbeat.heard();
                    match client::read(&message) {
                        Incoming::Frame(frame) => {
                            if let Some(end) = self.on_frame(&frame) {
                                return end;
                            }
                            if matches!(frame, ServerFrame::Welcome { .. }) {
                                for reply in self.pending.clone() {
                                    if let Err(e) = client::send(socket, &reply).await {
                                        return End::Lost(e.to_string());
                                    }
                                }
                            }
                            continue;
                        }
                        Incoming::Closed(why) => {
                            return End::Lost(why.unwrap_or_else(|| "closed by the switchboard".into()))
                        }
                        Incoming::Unreadable(e) => {
                            println!("! unreadable frame: {e}");
                            continue;
                        }
                        Incoming::Control => continue,
                    }
                }
                _ = tick.tick() => match heartbeat.check() {
                    Beat::Quiet => continue,
                    Beat::Ping(ping) => ping,
                    Beat::Silent(silence) => {
                        return End::Lost(format!("no answer in {} s", silence.as_secs()))
                    }
                },
                line = lines.next_line() => match line {
                    Ok(Some(line)) => match self.on_line(line.trim()) {
                        Typed::Send(frame) => frame,
                        Typed::Nothing => continue,
                        Typed::Quit => return End::Quit,
                    },
                    Ok(None) => return End::Quit,
                    Err(e) => {
                        println!("! cannot read the terminal: {e}");
                        return End::Quit;
                    }
                },
            };
            if let Err(e) = client::send(socket, &frame).await {
                return End::Lost(e.to_string());
            }
        }
    }

    fn on_frame(&mut self, frame: &ServerFrame) -> Option<End> {
        self.resume.observe(frame);
        if let ServerFrame::Welcome { capacity, .. } | ServerFrame::Availability { capacity, .. } =
            frame
        {
            self.capacity = Some(*capacity);
        }
        show(frame, &mut self.current);
        if let ServerFrame::Ack { client_id, .. }
        | ServerFrame::Error {
            client_id: Some(client_id),
            ..
        } = frame
        {
            self.pending.retain(|f| {
                !matches!(f, ClientFrame::Reply { client_id: c, .. }
                    | ClientFrame::Note { client_id: c, .. } if c == client_id)
            });
        }
        match frame {
            ServerFrame::Error {
                code: ErrorCode::Superseded,
                fatal: true,
                ..
            } => Some(End::Superseded),
            // shutting_down, slow_consumer: the switchboard closes; resume.
            ServerFrame::Error {
                fatal: true,
                message,
                ..
            } => Some(End::Lost(message.clone())),
            _ => None,
        }
    }

    /// A typed line: a command, or a reply to the current conversation.
    fn on_line(&mut self, line: &str) -> Typed {
        let frame = match Command::parse(line) {
            Command::Nothing => return Typed::Nothing,
            Command::Quit => return Typed::Quit,
            Command::Help => {
                println!("{HELP}");
                return Typed::Nothing;
            }
            Command::Unknown(name) => {
                println!("! unknown command {name} (not sent); /help lists the commands");
                return Typed::Nothing;
            }
            Command::Missing(what) => {
                println!("! {what}");
                return Typed::Nothing;
            }
            Command::To(number) => {
                self.current = Some(number.to_string());
                println!("> talking to {number}");
                return Typed::Nothing;
            }
            Command::Availability(available) => {
                // The switchboard has no echo for this frame: say it here.
                let capacity = self.capacity.unwrap_or(1);
                if available {
                    let plural = if capacity == 1 { "" } else { "s" };
                    println!("* available again (up to {capacity} conversation{plural} at once)");
                } else {
                    println!(
                        "* away: no new conversations until /back (you keep the ones you hold)"
                    );
                }
                ClientFrame::Availability {
                    available,
                    capacity,
                }
            }
            Command::Resolve | Command::Transfer(_) | Command::Note(_)
                if self.current.is_none() =>
            {
                println!("! no current conversation");
                return Typed::Nothing;
            }
            Command::Resolve => ClientFrame::Resolve {
                conversation: self.current.clone().unwrap_or_default(),
            },
            Command::Transfer(to) => ClientFrame::Transfer {
                conversation: self.current.clone().unwrap_or_default(),
                to: to.map(str::to_string),
                note: None,
            },
            Command::Note(body) => {
                self.next_id += 1;
                ClientFrame::Note {
                    conversation: self.current.clone().unwrap_or_default(),
                    client_id: format!("cli-{}-{}", std::process::id(), self.next_id),
                    body: body.to_string(),
                }
            }
            Command::Text(body) => match &self.current {
                Some(conversation) => {
                    self.next_id += 1;
                    ClientFrame::Reply {
                        conversation: conversation.clone(),
                        client_id: format!("cli-{}-{}", std::process::id(), self.next_id),
                        body: body.to_string(),
                        media: Vec::new(),
                    }
                }
                None => {
                    println!("! no conversation yet");
                    return Typed::Nothing;
                }
            },
        };
        if let ClientFrame::Reply { .. } | ClientFrame::Note { .. } = frame {
            self.pending.push(frame.clone());
        }
        Typed::Send(frame)
    }
}

/// A typed line, parsed: commands start with `/`, everything else is a reply.
#[derive(Debug, PartialEq, Eq)]
enum Command<'a> {
    /// An empty line.
    Nothing,
    /// `/quit` (or `/exit`): sign out and exit.
    Quit,
    /// `/help` (or `/?`): print the commands.
    Help,
    /// `/to NUMBER`.
    To(&'a str),
    /// `/back` (true) or `/away` (false).
    Availability(bool),
    /// `/resolve` the current conversation.
    Resolve,
    /// `/transfer [AGENT]` (none: back to the queue).
    Transfer(Option<&'a str>),
    /// `/note TEXT`: a private note, never texted to the customer.
    Note(&'a str),
    /// A `/word` that is no command: never texted to the customer.
    Unknown(&'a str),
    /// A command without its argument; the text says what is missing.
    Missing(&'static str),
    /// A reply to text to the customer (`//x` becomes `/x`).
    Text(&'a str),
}

impl<'a> Command<'a> {
    fn parse(line: &'a str) -> Self {
        let line = line.trim();
        if line.is_empty() {
            return Command::Nothing;
        }
        if let Some(escaped) = line.strip_prefix("//") {
            return Command::Text(&line[line.len() - escaped.len() - 1..]);
        }
        if !line.starts_with('/') {
            return Command::Text(line);
        }
        let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match name {
            "/quit" | "/exit" => Command::Quit,
            "/help" | "/?" => Command::Help,
            "/to" if rest.is_empty() => Command::Missing("usage: /to NUMBER"),
            "/to" => Command::To(rest),
            "/away" => Command::Availability(false),
            "/back" => Command::Availability(true),
            "/resolve" => Command::Resolve,
            "/transfer" => Command::Transfer(Some(rest).filter(|r| !r.is_empty())),
            "/note" if rest.is_empty() => Command::Missing("usage: /note TEXT"),
            "/note" => Command::Note(rest),
            _ => Command::Unknown(name),
        }
    }
}

/// What a typed line asks for.
enum Typed {
    Send(ClientFrame),
    Nothing,
    Quit,
}

fn show(frame: &ServerFrame, current: &mut Option<String>) {
    match frame {
        ServerFrame::Welcome {
            agent,
            capacity,
            queue_length,
            ..
        } => {
            println!("* signed in as {agent} (capacity {capacity}); {queue_length} waiting")
        }
        ServerFrame::Assigned {
            conversation,
            history,
            ..
        } => {
            println!(
                "* new conversation {} ({} messages)",
                conversation.id,
                history.len()
            );
            history.iter().for_each(print_message);
            *current = Some(conversation.id.clone());
        }
        ServerFrame::Message { message } => {
            print_message(message);
            *current = Some(message.conversation.clone());
        }
        ServerFrame::Status {
            conversation,
            seq,
            status,
            error,
        } => match error {
            Some(e) => println!("  [{conversation} #{seq}] {status:?}: {}", e.message),
            None => println!("  [{conversation} #{seq}] {status:?}"),
        },
        ServerFrame::OptOut {
            conversation,
            opted_out,
        } => {
            println!(
                "* {conversation} {}",
                if *opted_out {
                    "opted out (STOP)"
                } else {
                    "opted back in"
                }
            )
        }
        ServerFrame::Unassigned {
            conversation,
            reason,
        } => println!("* {conversation} left you: {reason:?}"),
        ServerFrame::Queue { length, .. } => println!("* {length} waiting"),
        ServerFrame::Availability {
            available,
            capacity,
        } => println!(
            "* now {} (capacity {capacity}), set on another of your connections",
            if *available { "available" } else { "away" }
        ),
        ServerFrame::Error { message, .. } => println!("! {message}"),
        ServerFrame::Presence { .. }
        | ServerFrame::Ack { .. }
        | ServerFrame::Pong { .. }
        | ServerFrame::Overview { .. }
        // The terminal agent never asks to watch.
        | ServerFrame::Watching { .. }
        | ServerFrame::WatchEnded { .. }
        | ServerFrame::Canned { .. } => {}
    }
}

fn print_message(m: &Message) {
    let agent = m.agent.as_deref().unwrap_or("agent");
    let who = match m.direction {
        Direction::Inbound => m.conversation.clone(),
        Direction::Outbound => agent.to_string(),
        Direction::Note => format!("{agent} (private note)"),
        Direction::Event => match &m.event {
            Some(event) => format!("* {}", event.describe()),
            None => "* event".to_string(),
        },
    };
    println!("[{} #{}] {who}: {}", m.conversation, m.seq, m.body);
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn plain_lines_are_replies() {
        assert_eq!(
            Command::parse("  hello there "),
            Command::Text("hello there")
        );
        assert_eq!(Command::parse("a/b"), Command::Text("a/b"));
        assert_eq!(Command::parse("   "), Command::Nothing);
    }

    #[test]
    fn unknown_commands_are_never_replies() {
        assert_eq!(Command::parse("/foo"), Command::Unknown("/foo"));
        assert_eq!(Command::parse("/foo bar baz"), Command::Unknown("/foo"));
        assert_eq!(Command::parse("/"), Command::Unknown("/"));
        assert_eq!(Command::parse("/RESOLVE"), Command::Unknown("/RESOLVE"));
    }

    #[test]
    fn known_commands() {
        assert_eq!(Command::parse("/help"), Command::Help);
        assert_eq!(Command::parse("/quit"), Command::Quit);
        assert_eq!(Command::parse("/away"), Command::Availability(false));
        assert_eq!(Command::parse("/back"), Command::Availability(true));
        assert_eq!(Command::parse("/resolve"), Command::Resolve);
        assert_eq!(Command::parse("/transfer"), Command::Transfer(None));
        assert_eq!(
            Command::parse("/note  call her back "),
            Command::Note("call her back")
        );
        assert_eq!(
            Command::parse("/note"),
            Command::Missing("usage: /note TEXT")
        );
        assert_eq!(
            Command::parse("/transfer  bob "),
            Command::Transfer(Some("bob"))
        );
        assert_eq!(Command::parse("/to +15550001"), Command::To("+15550001"));
        assert!(matches!(Command::parse("/to"), Command::Missing(_)));
    }

    #[test]
    fn a_double_slash_sends_the_line_with_one_slash() {
        assert_eq!(Command::parse("//help me"), Command::Text("/help me"));
        assert_eq!(Command::parse("//"), Command::Text("/"));
    }
}
