//! SMS segments as Twilio counts them (`NumSegments`).
//!
//! Pure and dependency-free (only `std`), so the fuzz target
//! (`fuzz/fuzz_targets/sms_segments.rs`) compiles this very file.

/// How many SMS segments Twilio bills for `body`: GSM-7 when every character
/// fits (160 alone, 153 per concatenated part), UCS-2 otherwise (70 / 67).
pub fn num_segments(body: &str) -> u32 {
    let (units, single, part) = match gsm7_septets(body) {
        Some(septets) => (septets, 160, 153),
        None => (body.encode_utf16().count(), 70, 67),
    };
    let segments = if units <= single {
        1
    } else {
        units.div_ceil(part)
    };
    u32::try_from(segments).unwrap_or(u32::MAX)
}

/// Septets needed in the GSM 03.38 alphabet, or `None` when a character
/// is outside it. Extension-table characters take an escape septet too.
fn gsm7_septets(body: &str) -> Option<usize> {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "^{}\\[~]|€\u{c}";
    body.chars().try_fold(0usize, |septets, c| {
        if BASIC.contains(c) {
            Some(septets + 1)
        } else if EXTENSION.contains(c) {
            Some(septets + 2)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_encoding() {
        assert_eq!(num_segments(""), 1);
        assert_eq!(num_segments(&"a".repeat(160)), 1);
        assert_eq!(num_segments(&"a".repeat(161)), 2);
        assert_eq!(num_segments(&"a".repeat(306)), 2);
        assert_eq!(num_segments(&"a".repeat(307)), 3);
        // `{` costs two septets.
        assert_eq!(num_segments(&"{".repeat(81)), 2);
        assert_eq!(num_segments(&"é".repeat(160)), 1);
        assert_eq!(num_segments(&"ü".repeat(160)), 1);
        assert_eq!(num_segments(&"😀".repeat(35)), 1);
        assert_eq!(num_segments(&"😀".repeat(36)), 2);
    }
}
