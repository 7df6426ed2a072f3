//! Everything that speaks Twilio: request signatures and the REST client.

pub mod client;
pub mod sid;
pub mod signature;

/// Twilio's "Attempt to send to unsubscribed recipient": the number texted STOP.
pub const OPTED_OUT_ERROR: u32 = 21610;

/// A short human description of the Twilio error codes agents meet most.
pub fn describe_error(code: Option<u32>) -> String {
    match code {
        Some(21610) => "the customer has opted out (texted STOP)".into(),
        Some(21211) => "the number is not a valid phone number".into(),
        Some(21614) => "the number cannot receive SMS".into(),
        Some(30003) => "the handset is unreachable".into(),
        Some(30005) => "unknown destination handset".into(),
        Some(30006) => "landline or unreachable carrier".into(),
        Some(30007) => "filtered by the carrier as spam".into(),
        Some(30008) => "unknown delivery error".into(),
        Some(code) => format!("Twilio error {code}"),
        None => "no reason given".into(),
    }
}
