//! The agent protocol's frame decoder (what the switchboard reads from an
//! agent's socket, and what agents read from it), on arbitrary text.
//!
//! A frame that decodes re-encodes to a frame that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_protocol::{decode, encode, ClientFrame, ServerFrame};

fuzz_target!(|text: &str| {
    if let Ok(frame) = decode::<ClientFrame>(text) {
        let back: ClientFrame = decode(&encode(&frame)).expect("an encoded frame decodes");
        assert_eq!(back, frame);
    }
    if let Ok(frame) = decode::<ServerFrame>(text) {
        let back: ServerFrame = decode(&encode(&frame)).expect("an encoded frame decodes");
        assert_eq!(back, frame);
    }
});
