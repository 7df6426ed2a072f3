//! What a typed line means, as a pure parse: a `/command`, a `/keyword` that
//! may name a canned reply, or a reply to text to the customer. Nothing
//! here sends anything; `mod.rs` decides what each one does.

/// What `/help` prints.
pub const HELP: &str = "\
commands (a line without a leading / is texted to the current conversation):
  /to NUMBER             reply to NUMBER from now on
  /queue                 who is waiting, longest first, and for how long
  /take [N | NUMBER]     take a waiting customer: N from /queue, a number, or the longest waiting
  /KEYWORD [TEXT]        text the canned reply KEYWORD (placeholders filled), then TEXT
  /canned [KEYWORD]      list the canned replies, or text one (when a command has its name)
  /note TEXT             a private note in the current conversation (never texted)
  /transfer [AGENT] [NOTE]  hand it to AGENT (- or nothing: the queue), with a NOTE for them
  /resolve               resolve the current conversation
  /reopen [NUMBER]       take a resolved conversation back (the current one without NUMBER)
  /search WORDS          search every conversation (word beginnings, numbers)
  /history [NUMBER]      a customer's conversations (the current one's without NUMBER)
  /resolved              the conversations you resolved, newest first
  /more                  the next page of the last /search or /resolved
  /away                  take no new conversations
  /back                  take conversations again
  /help                  this list
  /quit                  sign out and exit
  //text                 send \"/text\" to the customer";

/// Which waiting customer `/take` means.
#[derive(Debug, PartialEq, Eq)]
pub enum Pick<'a> {
    /// The one who has waited longest (the queue's head).
    Longest,
    /// The N-th of the last `/queue` listing (from 1).
    Listed(usize),
    /// A customer's number.
    Number(&'a str),
}

/// A typed line, parsed: commands start with `/`, everything else is a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
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
    /// `/queue`: list who waits.
    Queue,
    /// `/take [N | NUMBER]`.
    Take(Pick<'a>),
    /// `/resolve` the current conversation.
    Resolve,
    /// `/reopen [NUMBER]` (none: the current conversation).
    Reopen(Option<&'a str>),
    /// `/transfer [AGENT] [NOTE]` (no agent, or `-`: back to the queue).
    Transfer {
        to: Option<&'a str>,
        note: Option<&'a str>,
    },
    /// `/note TEXT`: a private note, never texted to the customer.
    Note(&'a str),
    /// `/canned`: list the canned replies.
    CannedList,
    /// `/canned KEYWORD [TEXT]` or `/KEYWORD [TEXT]`: text a canned reply
    /// (keyword as typed, without the `/`), then `TEXT`. A `/KEYWORD` that
    /// is no canned reply is an unknown command, never texted.
    Canned { keyword: &'a str, more: &'a str },
    /// `/search WORDS`.
    Search(&'a str),
    /// `/history [NUMBER]` (none: the current conversation).
    History(Option<&'a str>),
    /// `/resolved`: this agent's resolved conversations.
    Resolved,
    /// `/more`: the next page of the last listing.
    More,
    /// A `/` alone or followed by what cannot be a keyword: never texted.
    Unknown(&'a str),
    /// A command without its argument; the text says what is missing.
    Missing(&'static str),
    /// A reply to text to the customer (`//x` becomes `/x`).
    Text(&'a str),
}

impl<'a> Command<'a> {
    pub fn parse(line: &'a str) -> Self {
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
        let argument = Some(rest).filter(|r| !r.is_empty());
        match name {
            "/quit" | "/exit" => Command::Quit,
            "/help" | "/?" => Command::Help,
            "/to" if rest.is_empty() => Command::Missing("usage: /to NUMBER"),
            "/to" => Command::To(rest),
            "/away" => Command::Availability(false),
            "/back" => Command::Availability(true),
            "/queue" => Command::Queue,
            "/take" => Command::Take(match argument {
                None => Pick::Longest,
                Some(n) => match n.parse::<usize>() {
                    Ok(index) if index >= 1 && n.len() <= 3 => Pick::Listed(index),
                    _ => Pick::Number(n),
                },
            }),
            "/resolve" => Command::Resolve,
            "/reopen" => Command::Reopen(argument),
            "/transfer" => {
                let (to, note) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                Command::Transfer {
                    to: Some(to).filter(|t| !t.is_empty() && *t != "-"),
                    note: Some(note.trim()).filter(|n| !n.is_empty()),
                }
            }
            "/note" if rest.is_empty() => Command::Missing("usage: /note TEXT"),
            "/note" => Command::Note(rest),
            "/canned" => match rest.split_once(char::is_whitespace) {
                _ if rest.is_empty() => Command::CannedList,
                Some((keyword, more)) => Command::Canned {
                    keyword: keyword.trim_start_matches('/'),
                    more: more.trim(),
                },
                None => Command::Canned {
                    keyword: rest.trim_start_matches('/'),
                    more: "",
                },
            },
            "/search" if rest.is_empty() => Command::Missing("usage: /search WORDS"),
            "/search" => Command::Search(rest),
            "/history" => Command::History(argument),
            "/resolved" => Command::Resolved,
            "/more" => Command::More,
            _ => {
                let keyword = &name[1..];
                if keyword.is_empty() || keyword.contains('/') {
                    Command::Unknown(name)
                } else {
                    Command::Canned {
                        keyword,
                        more: rest,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Command, Pick};

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
    fn other_slash_words_are_canned_keywords_or_nothing_never_replies() {
        assert_eq!(
            Command::parse("/foo bar baz"),
            Command::Canned {
                keyword: "foo",
                more: "bar baz"
            }
        );
        assert_eq!(
            Command::parse("/RESOLVE"),
            Command::Canned {
                keyword: "RESOLVE",
                more: ""
            }
        );
        assert_eq!(Command::parse("/"), Command::Unknown("/"));
        assert_eq!(Command::parse("/a/b"), Command::Unknown("/a/b"));
    }

    #[test]
    fn known_commands() {
        assert_eq!(Command::parse("/help"), Command::Help);
        assert_eq!(Command::parse("/quit"), Command::Quit);
        assert_eq!(Command::parse("/away"), Command::Availability(false));
        assert_eq!(Command::parse("/back"), Command::Availability(true));
        assert_eq!(Command::parse("/resolve"), Command::Resolve);
        assert_eq!(Command::parse("/queue"), Command::Queue);
        assert_eq!(
            Command::parse("/note  call her back "),
            Command::Note("call her back")
        );
        assert_eq!(
            Command::parse("/note"),
            Command::Missing("usage: /note TEXT")
        );
        assert_eq!(Command::parse("/to +15550001"), Command::To("+15550001"));
        assert!(matches!(Command::parse("/to"), Command::Missing(_)));
        assert_eq!(Command::parse("/reopen"), Command::Reopen(None));
        assert_eq!(
            Command::parse("/reopen +15550001"),
            Command::Reopen(Some("+15550001"))
        );
        assert_eq!(
            Command::parse("/search  refu ord "),
            Command::Search("refu ord")
        );
        assert!(matches!(Command::parse("/search"), Command::Missing(_)));
        assert_eq!(Command::parse("/history"), Command::History(None));
        assert_eq!(
            Command::parse("/history +1555"),
            Command::History(Some("+1555"))
        );
        assert_eq!(Command::parse("/resolved"), Command::Resolved);
        assert_eq!(Command::parse("/more"), Command::More);
    }

    #[test]
    fn take_picks_the_longest_waiting_a_listed_one_or_a_number() {
        assert_eq!(Command::parse("/take"), Command::Take(Pick::Longest));
        assert_eq!(Command::parse("/take 2"), Command::Take(Pick::Listed(2)));
        assert_eq!(
            Command::parse("/take +15550001"),
            Command::Take(Pick::Number("+15550001"))
        );
        // A bare long number is a customer's number, not a position.
        assert_eq!(
            Command::parse("/take 15550001"),
            Command::Take(Pick::Number("15550001"))
        );
        assert_eq!(Command::parse("/take 0"), Command::Take(Pick::Number("0")));
    }

    #[test]
    fn transfer_takes_an_agent_and_a_note() {
        assert_eq!(
            Command::parse("/transfer"),
            Command::Transfer {
                to: None,
                note: None
            }
        );
        assert_eq!(
            Command::parse("/transfer  bob "),
            Command::Transfer {
                to: Some("bob"),
                note: None
            }
        );
        assert_eq!(
            Command::parse("/transfer bob  wants a refund, order 4411"),
            Command::Transfer {
                to: Some("bob"),
                note: Some("wants a refund, order 4411")
            }
        );
        assert_eq!(
            Command::parse("/transfer - billing question"),
            Command::Transfer {
                to: None,
                note: Some("billing question")
            }
        );
    }

    #[test]
    fn canned_lists_or_names_a_reply() {
        assert_eq!(Command::parse("/canned"), Command::CannedList);
        assert_eq!(
            Command::parse("/canned /help now"),
            Command::Canned {
                keyword: "help",
                more: "now"
            }
        );
        assert_eq!(
            Command::parse("/canned hello"),
            Command::Canned {
                keyword: "hello",
                more: ""
            }
        );
    }

    #[test]
    fn a_double_slash_sends_the_line_with_one_slash() {
        assert_eq!(Command::parse("//help me"), Command::Text("/help me"));
        assert_eq!(Command::parse("//"), Command::Text("/"));
    }
}
