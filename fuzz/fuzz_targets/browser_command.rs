//! The agent UI's browser frame parser (`parse_command`), on arbitrary text.
//!
//! A frame it accepts becomes an upstream frame within the limits it
//! promises (or a read mark for a bounded conversation id); a refusal's
//! echoed ids are bounded.
#![no_main]

use switchboard_fuzz::browser::{parse_command, Parsed, MAX_CAPACITY};
use libfuzzer_sys::fuzz_target;
use switchboard_protocol::{decode, encode, ClientFrame};

fuzz_target!(|text: &str| {
    match parse_command(text) {
        Ok(Parsed::Read { conversation, .. }) => {
            assert!(!conversation.is_empty() && conversation.chars().count() <= 32);
        }
        Ok(Parsed::Upstream(frame)) => {
            match &frame {
                ClientFrame::Availability { capacity, .. } => assert!(*capacity <= MAX_CAPACITY),
                ClientFrame::Reply {
                    conversation,
                    client_id,
                    ..
                } => {
                    assert!(!conversation.is_empty() && conversation.chars().count() <= 32);
                    assert!(!client_id.is_empty() && client_id.chars().count() <= 128);
                }
                ClientFrame::Resolve { conversation }
                | ClientFrame::Reopen { conversation }
                | ClientFrame::Transfer { conversation, .. } => {
                    assert!(!conversation.is_empty() && conversation.chars().count() <= 32);
                }
                ClientFrame::Hello { .. } | ClientFrame::Ping { .. } => {
                    panic!("a browser may not send {frame:?}")
                }
            }
            let back: ClientFrame = decode(&encode(&frame)).expect("an encoded frame decodes");
            assert_eq!(back, frame);
        }
        Err(refusal) => {
            for id in [&refusal.client_id, &refusal.conversation]
                .into_iter()
                .flatten()
            {
                assert!(id.chars().count() <= 128);
            }
        }
    }
});
