//! Twilio's resource identifiers (SIDs): a two-letter type prefix (`AC` for an
//! account, `SM`/`MM` for a message, `PN` for a phone number) and 32 hex
//! digits. One check for every place that accepts one.

/// True for a SID of the given type: `prefix` and then 32 hex digits.
pub fn is_sid(text: &str, prefix: &str) -> bool {
    text.len() == prefix.len() + 32
        && text.starts_with(prefix)
        && text[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// True for a message SID: `SM` (SMS) or `MM` (MMS).
pub fn is_message_sid(text: &str) -> bool {
    is_sid(text, "SM") || is_sid(text, "MM")
}

/// clap value parser for an account SID setting (`TWILIO_ACCOUNT_SID`).
pub fn parse_account_sid(text: &str) -> Result<String, String> {
    if is_sid(text, "AC") {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{text}` is not a Twilio account SID (AC followed by 32 hex digits)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_shapes() {
        assert!(is_sid("AC0123456789abcdef0123456789abcdef", "AC"));
        assert!(is_sid("PN0123456789ABCDEF0123456789abcdef", "PN"));
        assert!(!is_sid("AC0123456789abcdef0123456789abcdef", "PN"));
        assert!(!is_sid("AC0123456789abcdef0123456789abcde", "AC"));
        assert!(!is_sid("AC0123456789abcdef0123456789abcdefa", "AC"));
        assert!(!is_sid("AC0123456789abcdef0123456789abcdeg", "AC"));
        // Multi-byte text must not panic on slicing.
        assert!(!is_sid("AC0123456789abcdef0123456789abcdé", "AC"));
        assert!(is_message_sid("SM0123456789abcdef0123456789abcdef"));
        assert!(is_message_sid("MM0123456789abcdef0123456789abcdef"));
        assert!(!is_message_sid("AC0123456789abcdef0123456789abcdef"));
        assert!(parse_account_sid("AC0123456789abcdef0123456789abcdef").is_ok());
        assert!(parse_account_sid("AC123").is_err());
    }
}
