//! Twilio request signatures (`X-Twilio-Signature`).
//!
//! Twilio signs every webhook with HMAC-SHA1 keyed by the account's auth
//! token over the full URL it called followed by each POST parameter's name
//! and value, parameters sorted by name. We compute it exactly as Twilio's
//! helper libraries do, including their tolerance for the port: a URL without
//! one also matches with the scheme's default (`:443` / `:80`) added, and a URL
//! with one also matches with it removed.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// Computes the base64 signature Twilio sends for `url` and form `params`.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(
        signer(auth_token, url, &sorted_params(params))
            .finalize()
            .into_bytes(),
    )
}

/// True when `signature` is Twilio's signature for this request.
///
/// Compares in constant time, against the URL as given and with its port
/// removed or its default port added, like Twilio's `RequestValidator`.
pub fn is_valid(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(given) = BASE64.decode(signature.trim()) else {
        return false;
    };
    let params = sorted_params(params);
    url_variants(url).iter().any(|candidate| {
        signer(auth_token, candidate, &params)
            .verify_slice(&given)
            .is_ok()
    })
}

/// Twilio's reference libraries sort the distinct names and, for a name given
/// more than once, its distinct values.
fn sorted_params(params: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

fn signer(auth_token: &str, url: &str, sorted: &[(&str, &str)]) -> HmacSha1 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The URL itself, plus the one other form Twilio's helper libraries accept:
/// without its port if it has one (any port: Twilio has signed both with and
/// without non-default ports over the years), else with the scheme's default.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    let (prefix, rest, default_port) = if let Some(rest) = url.strip_prefix("https://") {
        ("https://", rest, "443")
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http://", rest, "80")
    } else {
        return variants;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The port's colon comes after any `user:pass@` and any `[v6::literal]`.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let port_search_start = authority[host_start..]
        .rfind(']')
        .map_or(host_start, |bracket| host_start + bracket + 1);
    match authority[port_search_start..].find(':') {
        Some(colon) => {
            let without_port = &authority[..port_search_start + colon];
            variants.push(format!("{prefix}{without_port}{tail}"));
        }
        None => variants.push(format!("{prefix}{authority}:{default_port}{tail}")),
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documented_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The example from Twilio's security documentation.
    #[test]
    fn matches_twilios_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = compute("12345", url, &documented_params());
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(is_valid("12345", url, &documented_params(), &sig));
    }

    #[test]
    fn rejects_other_token_url_or_params() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = compute("12345", url, &documented_params());
        assert!(!is_valid("54321", url, &documented_params(), &sig));
        assert!(!is_valid(
            "12345",
            "https://evil.example/myapp.php?foo=1&bar=2",
            &documented_params(),
            &sig
        ));
        let mut params = documented_params();
        params[2].1 = "9999".into();
        assert!(!is_valid("12345", url, &params, &sig));
        assert!(!is_valid("12345", url, &documented_params(), "not base64!"));
        assert!(!is_valid("12345", url, &documented_params(), ""));
    }

    #[test]
    fn tolerates_default_port_either_way() {
        let params = documented_params();
        let sig = compute("tok", "https://example.com:443/sms", &params);
        assert!(is_valid("tok", "https://example.com/sms", &params, &sig));
        let sig = compute("tok", "https://example.com/sms", &params);
        assert!(is_valid(
            "tok",
            "https://example.com:443/sms",
            &params,
            &sig
        ));
        // A port-less URL only gains the default port, never another one...
        let sig = compute("tok", "https://example.com:8443/sms", &params);
        assert!(!is_valid("tok", "https://example.com/sms", &params, &sig));
        // ...but any port may be missing from what Twilio signed.
        let sig = compute("tok", "https://example.com/sms", &params);
        assert!(is_valid(
            "tok",
            "https://example.com:8443/sms",
            &params,
            &sig
        ));
        assert!(!is_valid(
            "tok",
            "https://example.com:8443/other",
            &params,
            &sig
        ));
        // Credentials and IPv6 literals have colons that are not the port's.
        let sig = compute("tok", "http://u:p@[::1]/sms", &params);
        assert!(is_valid("tok", "http://u:p@[::1]:8080/sms", &params, &sig));
        assert!(is_valid("tok", "http://u:p@[::1]:80/sms", &params, &sig));
        let sig = compute("tok", "http://u:p@[::1]:80/sms", &params);
        assert!(is_valid("tok", "http://u:p@[::1]/sms", &params, &sig));
    }
}
