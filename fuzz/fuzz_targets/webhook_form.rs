//! The webhook's form decoder and signature check, on arbitrary bodies.
//!
//! Beyond "never panics": a body that decodes, re-encoded the standard way,
//! decodes to the same parameters; the signature we compute for it is
//! accepted, also under the port variant Twilio's libraries allow, and
//! refused for another token; an arbitrary signature header never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::form_decode::decode_form;
use switchboard_fuzz::signature;

fuzz_target!(|data: &[u8]| {
    // The first line (if any) is the signature header and URL, the rest the body.
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let Ok(params) = decode_form(body) else {
        return;
    };

    let again: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let round_trip = decode_form(again.as_bytes()).expect("our own encoding decodes");
    assert_eq!(round_trip, params, "decode(encode(params)) changed them");

    let header = String::from_utf8_lossy(header);
    let url = format!("https://example.com/twilio/sms{}", header.trim());
    let sig = signature::compute("token", &url, &params);
    assert!(signature::is_valid("token", &url, &params, &sig));
    assert!(!signature::is_valid("other", &url, &params, &sig));
    let with_port = url.replacen("example.com", "example.com:443", 1);
    assert!(signature::is_valid("token", &with_port, &params, &sig));
    // Whatever the header says, checking it must not panic.
    let _ = signature::is_valid("token", &header, &params, &header);
});
