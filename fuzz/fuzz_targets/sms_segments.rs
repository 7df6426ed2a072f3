//! The Rust SMS segment counter (the phone simulator's, which reports
//! `NumSegments` like Twilio), on arbitrary text.
//!
//! At least one segment; never fewer after appending a character; never more
//! than the UCS-2 count of its UTF-16 units.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::segments::num_segments;

fuzz_target!(|text: &str| {
    let n = num_segments(text);
    assert!(n >= 1);
    let units = text.encode_utf16().count();
    let ucs2 = if units <= 70 { 1 } else { units.div_ceil(67) };
    assert!(n as usize <= ucs2, "{n} segments for {units} UTF-16 units");
    for extra in ["a", "{", "é", "😀"] {
        assert!(num_segments(&format!("{text}{extra}")) >= n);
    }
});
