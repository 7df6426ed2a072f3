//! Phone-number checks shared by the webhook and the configuration.

/// True for an E.164 number: `+`, a non-zero digit, at most 15 digits in all.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::is_e164;

    #[test]
    fn e164_shapes() {
        assert!(is_e164("+15551234567"));
        assert!(is_e164("+447700900123"));
        assert!(!is_e164("15551234567"));
        assert!(!is_e164("+0555"));
        assert!(!is_e164("+1555-123"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164(""));
    }
}
