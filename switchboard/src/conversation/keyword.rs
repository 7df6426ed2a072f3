//! Twilio's standard keywords.
//!
//! Twilio itself honours these on long codes: after STOP it blocks our
//! messages to the number (error 21610) until the customer sends START.
//! The switchboard mirrors that so it refuses replies instead of sending
//! them into a block. A keyword counts only as the whole message (any
//! case, surrounding spaces and a trailing `.`/`!` ignored): "please stop
//! calling" is an ordinary message.

/// What a keyword message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT.
    OptOut,
    /// START, YES, UNSTOP, OPTIN.
    OptIn,
    /// HELP, INFO. Twilio answers it itself; it changes no opt-out state
    /// and is routed to agents like any message.
    Help,
}

impl Keyword {
    /// The opt-out state the keyword asks for, if it asks for one.
    pub fn opted_out(self) -> Option<bool> {
        match self {
            Keyword::OptOut => Some(true),
            Keyword::OptIn => Some(false),
            Keyword::Help => None,
        }
    }
}

/// The keyword a message body is, if it is one.
pub fn classify(body: &str) -> Option<Keyword> {
    let word = body
        .trim()
        .trim_end_matches(['.', '!'])
        .to_ascii_uppercase();
    Some(match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "REVOKE" | "OPTOUT" => {
            Keyword::OptOut
        }
        "START" | "YES" | "UNSTOP" | "OPTIN" => Keyword::OptIn,
        "HELP" | "INFO" => Keyword::Help,
        _ => return None,
    })
}

/// The opt-out state a message body asks for (`Some(true)`: opt out).
pub fn requested_opt_out(body: &str) -> Option<bool> {
    classify(body).and_then(Keyword::opted_out)
}
