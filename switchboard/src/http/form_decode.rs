//! Strict `application/x-www-form-urlencoded` decoding of webhook bodies.
//!
//! Pure and dependency-free (only `std`), so the fuzz target
//! (`fuzz/fuzz_targets/webhook_form.rs`) compiles this very file.

/// Strict `application/x-www-form-urlencoded` decoding: a `%` not followed by
/// two hex digits, or bytes that are not UTF-8 once decoded, is an error that
/// says where, never a lenient guess (a guess would be stored as the
/// customer's words, and checked against a signature Twilio never made).
pub fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut offset = 0;
    let mut params = Vec::new();
    for pair in body.split(|&b| b == b'&') {
        let start = offset;
        offset += pair.len() + 1;
        if pair.is_empty() {
            continue;
        }
        let (name, value, value_at) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..], start + i + 1),
            None => (pair, &[][..], start + pair.len()),
        };
        params.push((
            decode_component(name, start)?,
            decode_component(value, value_at)?,
        ));
    }
    Ok(params)
}

/// Decodes one name or value (`+` is a space, `%XY` one byte). `at` is its
/// offset in the body, for the error.
fn decode_component(part: &[u8], at: usize) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        match part[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let byte = match (part.get(i + 1), part.get(i + 2)) {
                    (Some(&high), Some(&low)) => hex_value(high)
                        .zip(hex_value(low))
                        .map(|(high, low)| high << 4 | low),
                    _ => None,
                };
                let Some(byte) = byte else {
                    let end = (i + 3).min(part.len());
                    return Err(format!(
                        "bad percent-encoding `{}` at byte {} of the body: `%` must be followed by two hex digits",
                        String::from_utf8_lossy(&part[i..end]),
                        at + i
                    ));
                };
                bytes.push(byte);
                i += 2;
            }
            other => bytes.push(other),
        }
        i += 1;
    }
    String::from_utf8(bytes)
        .map_err(|_| "the body is not valid UTF-8 once percent-decoded".to_string())
}

/// The value of one ASCII hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::decode_form;

    #[test]
    fn decodes_plus_percent_and_unicode() {
        let form =
            decode_form(b"From=%2B15551234567&Body=hi+there+%F0%9F%99%8F&Empty=&Flag").unwrap();
        assert_eq!(form[0], ("From".into(), "+15551234567".into()));
        assert_eq!(form[1], ("Body".into(), "hi there 🙏".into()));
        assert_eq!(form[2], ("Empty".into(), "".into()));
        assert_eq!(form[3], ("Flag".into(), "".into()));
    }

    #[test]
    fn rejects_bad_percent_encoding_with_a_reason() {
        for body in [
            &b"Body=%zz"[..],
            b"Body=%",
            b"Body=%4",
            b"Body=100%",
            b"Body=%4g",
            b"Body=%+1",
            b"B%y=x",
            b"From=%2B1&Body=50%25+off+100%",
        ] {
            let err = decode_form(body).expect_err(&String::from_utf8_lossy(body));
            assert!(err.contains("percent-encoding"), "{err}");
        }
        // The reason points at the offending bytes.
        let err = decode_form(b"From=%2B1&Body=100%").unwrap_err();
        assert!(err.contains("`%`") && err.contains("byte 18"), "{err}");
        let err = decode_form(b"Body=%zz1").unwrap_err();
        assert!(err.contains("`%zz`") && err.contains("byte 5"), "{err}");
        // Well-formed escapes, upper or lower case, still decode.
        assert_eq!(
            decode_form(b"Body=50%25%2a%2A").unwrap(),
            vec![("Body".into(), "50%**".into())]
        );
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert!(decode_form(b"Body=%FF%FE").is_err());
        assert!(decode_form(&[b'B', b'=', 0xff]).is_err());
    }
}
