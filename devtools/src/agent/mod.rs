//! `switchboard-dev agent`: a terminal agent, for demos, support and smoke tests.
//!
//! It speaks the same protocol as the agent UI and keeps up with the
//! console's workflow: the queue (`/queue`, `/take`), canned replies
//! (`/KEYWORD`, `/canned`), private notes, transfer with a note, resolve and
//! reopen, and the history API (`/search`, `/history`, `/resolved`). Type a
//! line to reply to the current conversation (the one that last had
//! activity); a line starting with `/` is a command (`/help` lists them,
//! `command.rs` parses them) and is never texted to the customer unless it
//! names a canned reply: an unknown one prints an error. `//` at the start
//! sends the line with one `/`. It reconnects by itself when the link breaks
//! and resumes where it was.
//!
//! `show.rs` turns frames and lists into lines; `history.rs` calls the
//! history API in tasks of its own.
//!
//! Capacity has one owner: the switchboard's saved setting for the agent
//! (1 for a new agent, changed from the console or with `--capacity`), so the
//! console and the terminal agent start from the same value.

mod command;
mod history;
mod show;

use command::{Command, Pick, HELP};
use futures_util::StreamExt;
use history::HistoryApi;
use std::time::Duration;
use switchboard_protocol::client::{
    self, Beat, ConnectError, Credentials, Heartbeat, Incoming, ResumePoints,
};
use switchboard_protocol::{CannedReply, ClientFrame, ErrorCode, QueueEntry, ServerFrame};
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
    /// How many wait in the queue, and the longest waiting (the last
    /// `queue` frame): what `/queue` lists and `/take N` picks from.
    queue_length: usize,
    queue: Vec<QueueEntry>,
    /// The team's canned replies (the last `canned` frame).
    canned: Vec<CannedReply>,
    /// The history API (`/search`, `/history`, `/resolved`, `/more`).
    history: HistoryApi,
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
        history: HistoryApi::new(&config.url, &config.name, &config.password),
        queue_length: 0,
        queue: Vec::new(),
        canned: Vec::new(),
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
        match frame {
            ServerFrame::Welcome { queue_length, .. } => self.queue_length = *queue_length,
            ServerFrame::Queue { length, entries } => {
                self.queue_length = *length;
                self.queue = entries.clone();
            }
            ServerFrame::Canned { replies } => self.canned = replies.clone(),
            ServerFrame::Assigned { conversation, .. } => {
                self.current = Some(conversation.id.clone())
            }
            ServerFrame::Message { message } => self.current = Some(message.conversation.clone()),
            _ => {}
        }
        for line in show::frame(frame) {
            println!("{line}");
        }
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
            Command::Help => return say(HELP),
            Command::Unknown(name) => {
                return say(&format!(
                    "! unknown command {name} (not sent); /help lists the commands"
                ))
            }
            Command::Missing(what) => return say(&format!("! {what}")),
            Command::To(number) => {
                self.current = Some(number.to_string());
                return say(&format!("> talking to {number}"));
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
            Command::Queue => {
                return say(&show::queue(self.queue_length, &self.queue, show::now_ms()))
            }
            Command::Take(pick) => {
                let conversation = match pick {
                    Pick::Number(number) => number.to_string(),
                    Pick::Longest => match self.queue.first() {
                        Some(entry) => entry.conversation.clone(),
                        None => return say("! nobody is waiting"),
                    },
                    Pick::Listed(n) => match self.queue.get(n - 1) {
                        Some(entry) => entry.conversation.clone(),
                        None => {
                            return say(&format!(
                                "! no number {n} in the queue; /queue lists who is waiting"
                            ))
                        }
                    },
                };
                println!("> taking {conversation}");
                ClientFrame::Take { conversation }
            }
            Command::CannedList => {
                return say(&show::canned(&self.canned, |keyword| {
                    !matches!(
                        Command::parse(&format!("/{keyword}")),
                        Command::Canned { .. }
                    )
                }))
            }
            Command::Canned { keyword, more } => {
                let wanted = keyword.to_lowercase();
                let Some(reply) = self.canned.iter().find(|r| r.keyword == wanted) else {
                    return say(&format!(
                        "! unknown command /{keyword} (not sent); /help lists the commands, /canned the canned replies"
                    ));
                };
                let Some(conversation) = self.current.clone() else {
                    return say("! no current conversation");
                };
                let filled = switchboard_protocol::canned::fill(
                    &reply.body,
                    &conversation,
                    &self.config.name,
                );
                let body = if more.is_empty() {
                    filled
                } else {
                    format!("{filled} {more}")
                };
                self.reply(conversation, body)
            }
            Command::Search(words) => {
                self.history.search(words);
                return Typed::Nothing;
            }
            Command::Resolved => {
                self.history.resolved();
                return Typed::Nothing;
            }
            Command::More => {
                self.history.more();
                return Typed::Nothing;
            }
            Command::History(number) => {
                match number.map(str::to_string).or_else(|| self.current.clone()) {
                    Some(number) => self.history.customer(&number),
                    None => println!("! usage: /history NUMBER (no current conversation)"),
                }
                return Typed::Nothing;
            }
            Command::Reopen(number) => {
                let Some(conversation) =
                    number.map(str::to_string).or_else(|| self.current.clone())
                else {
                    return say("! usage: /reopen NUMBER (no current conversation)");
                };
                println!("> reopening {conversation}");
                ClientFrame::Reopen { conversation }
            }
            Command::Resolve | Command::Transfer { .. } | Command::Note(_)
                if self.current.is_none() =>
            {
                return say("! no current conversation");
            }
            Command::Resolve => ClientFrame::Resolve {
                conversation: self.current.clone().unwrap_or_default(),
            },
            Command::Transfer { to, note } => {
                let whom = to.unwrap_or("the queue");
                match note {
                    Some(_) => println!("> transferring to {whom}, with a note"),
                    None => println!("> transferring to {whom}"),
                }
                ClientFrame::Transfer {
                    conversation: self.current.clone().unwrap_or_default(),
                    to: to.map(str::to_string),
                    note: note.map(str::to_string),
                }
            }
            Command::Note(body) => ClientFrame::Note {
                conversation: self.current.clone().unwrap_or_default(),
                client_id: self.next_client_id(),
                body: body.to_string(),
            },
            Command::Text(body) => match self.current.clone() {
                Some(conversation) => self.reply(conversation, body.to_string()),
                None => return say("! no conversation yet"),
            },
        };
        if let ClientFrame::Reply { .. } | ClientFrame::Note { .. } = frame {
            self.pending.push(frame.clone());
        }
        Typed::Send(frame)
    }

    /// A reply to `conversation`, with a fresh client id.
    fn reply(&mut self, conversation: String, body: String) -> ClientFrame {
        ClientFrame::Reply {
            conversation,
            client_id: self.next_client_id(),
            body,
            media: Vec::new(),
        }
    }

    /// A client id no earlier reply or note of this process used.
    fn next_client_id(&mut self) -> String {
        self.next_id += 1;
        format!("cli-{}-{}", std::process::id(), self.next_id)
    }
}

/// Prints `text`; nothing is sent.
fn say(text: &str) -> Typed {
    println!("{text}");
    Typed::Nothing
}

/// What a typed line asks for.
enum Typed {
    Send(ClientFrame),
    Nothing,
    Quit,
}
