//! `switchboard agent`: a terminal agent, for demos, support and smoke tests.
//!
//! It speaks the same protocol as the agent UI. Type a line to reply to the
//! current conversation (the one that last had activity); `/to NUMBER`
//! switches, `/resolve`, `/transfer [AGENT]`, `/away`, `/back`, `/quit`.

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use switchboard_protocol::{decode, encode, ClientFrame, Direction, Message, ServerFrame};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

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
    /// Conversations at once.
    #[arg(long, default_value_t = 3)]
    pub capacity: u32,
}

pub async fn run(config: AgentCliConfig) -> anyhow::Result<()> {
    let mut request = config
        .url
        .as_str()
        .into_client_request()
        .context("agent URL")?;
    let credentials = BASE64.encode(format!("{}:{}", config.name, config.password));
    request.headers_mut().insert(
        "authorization",
        format!("Basic {credentials}")
            .parse()
            .context("credentials")?,
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .with_context(|| format!("connecting to {}", config.url))?;
    let (mut sink, mut stream) = socket.split();
    let hello = ClientFrame::Hello {
        resume: BTreeMap::new(),
        available: Some(true),
        capacity: Some(config.capacity),
    };
    sink.send(WsMessage::Text(encode(&hello).into())).await?;

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut current: Option<String> = None;
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            incoming = stream.next() => {
                let Some(incoming) = incoming else { break };
                match incoming? {
                    WsMessage::Text(text) => match decode::<ServerFrame>(text.as_str()) {
                        Ok(frame) => show(&frame, &mut current),
                        Err(e) => println!("! unreadable frame: {e}"),
                    },
                    WsMessage::Close(_) => break,
                    _ => {}
                }
            }
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                let line = line.trim();
                let frame = match line.split_once(' ').unwrap_or((line, "")) {
                    ("", _) => continue,
                    ("/quit", _) => break,
                    ("/to", number) => { current = Some(number.trim().to_string()); println!("> talking to {number}"); continue }
                    ("/away", _) => ClientFrame::Availability { available: false, capacity: config.capacity },
                    ("/back", _) => ClientFrame::Availability { available: true, capacity: config.capacity },
                    ("/resolve", _) | ("/transfer", _) if current.is_none() => { println!("! no current conversation"); continue }
                    ("/resolve", _) => ClientFrame::Resolve { conversation: current.clone().unwrap_or_default() },
                    ("/transfer", to) => ClientFrame::Transfer {
                        conversation: current.clone().unwrap_or_default(),
                        to: Some(to.trim().to_string()).filter(|t| !t.is_empty()),
                    },
                    _ => match &current {
                        Some(conversation) => {
                            next_id += 1;
                            ClientFrame::Reply {
                                conversation: conversation.clone(),
                                client_id: format!("cli-{}-{next_id}", std::process::id()),
                                body: line.to_string(),
                            }
                        }
                        None => { println!("! no conversation yet"); continue }
                    },
                };
                sink.send(WsMessage::Text(encode(&frame).into())).await?;
            }
        }
    }
    Ok(())
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
        ServerFrame::Queue { length } => println!("* {length} waiting"),
        ServerFrame::Error { message, .. } => println!("! {message}"),
        ServerFrame::Presence { .. } | ServerFrame::Ack { .. } | ServerFrame::Pong { .. } => {}
    }
}

fn print_message(m: &Message) {
    let who = match m.direction {
        Direction::Inbound => m.conversation.as_str(),
        Direction::Outbound => m.agent.as_deref().unwrap_or("agent"),
    };
    println!("[{} #{}] {who}: {}", m.conversation, m.seq, m.body);
}
