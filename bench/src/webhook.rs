//! Pre-built, correctly signed Twilio inbound-message webhooks.
//!
//! The load generator must stay cheap next to the server it measures, so each
//! request body and its `X-Twilio-Signature` are computed before the clock
//! starts; sending one is then a few reference-count bumps. Every message
//! carries its benchmark id in the `Body` (`#<id> …`) so an agent that
//! receives it can tell which webhook it was, and a unique `MessageSid` so
//! the switchboard's idempotency never turns a measured request into a no-op.

use bytes::Bytes;
use hyper::header::HeaderValue;

/// First digits of every simulated customer's number; see [`customer_number`].
const CUSTOMER_PREFIX: &str = "+1555";
/// Offset that keeps the customer part seven digits long.
const CUSTOMER_BASE: u32 = 1_000_000;

/// What every webhook of a run shares.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    /// The exact URL the server believes Twilio called (its `PUBLIC_URL` +
    /// `/twilio/sms`); the signature covers it.
    pub signed_url: String,
    pub auth_token: String,
    pub account_sid: String,
    /// The team's Twilio number (`TWILIO_FROM`).
    pub to: String,
    /// Distinguishes the `MessageSid`s of separate runs.
    pub run_nonce: u32,
}

/// One ready-to-send webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub body: Bytes,
    pub signature: HeaderValue,
}

/// A contiguous range of benchmark ids, `base..base + len()`, each with its
/// pre-built webhook.
#[derive(Debug)]
pub struct Pool {
    pub base: u32,
    pub items: Vec<Webhook>,
}

impl Pool {
    /// Builds `count` webhooks with ids from `base`; `customer_of(id)` picks
    /// the sender. Uses every core, since a large pool is built while the
    /// operator waits.
    pub fn build(
        spec: &WebhookSpec,
        base: u32,
        count: usize,
        customer_of: impl Fn(u32) -> u32 + Sync,
    ) -> Pool {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = count.div_ceil(threads).max(1);
        let mut items = Vec::with_capacity(count);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .step_by(chunk)
                .map(|start| {
                    let end = (start + chunk).min(count);
                    let customer_of = &customer_of;
                    scope.spawn(move || {
                        (start..end)
                            .map(|i| {
                                let id = base + i as u32;
                                build(spec, id, customer_of(id))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for handle in handles {
                items.extend(handle.join().expect("webhook builder thread panicked"));
            }
        });
        Pool { base, items }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Builds and signs the webhook with benchmark id `id` from customer number
/// `customer`.
pub fn build(spec: &WebhookSpec, id: u32, customer: u32) -> Webhook {
    // Field set of a real Twilio inbound SMS webhook, minus the geography
    // fields, so body size and signing cost are realistic.
    let params: Vec<(String, String)> = vec![
        ("ToCountry".into(), "US".into()),
        ("SmsMessageSid".into(), message_sid(spec.run_nonce, id)),
        ("NumMedia".into(), "0".into()),
        ("SmsSid".into(), message_sid(spec.run_nonce, id)),
        ("SmsStatus".into(), "received".into()),
        ("Body".into(), body_for(id)),
        ("FromCountry".into(), "US".into()),
        ("To".into(), spec.to.clone()),
        ("NumSegments".into(), "1".into()),
        ("MessageSid".into(), message_sid(spec.run_nonce, id)),
        ("AccountSid".into(), spec.account_sid.clone()),
        ("From".into(), customer_number(customer)),
        ("ApiVersion".into(), "2010-04-01".into()),
    ];
    let signature =
        switchboard::twilio::signature::compute(&spec.auth_token, &spec.signed_url, &params);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    Webhook {
        body: Bytes::from(body),
        signature: HeaderValue::from_maybe_shared(Bytes::from(signature))
            .expect("base64 is a valid header value"),
    }
}

/// `SM` + 32 hex digits, unique per (run, id).
fn message_sid(run_nonce: u32, id: u32) -> String {
    format!("SM{run_nonce:08x}{id:024x}")
}

/// A typical customer text that starts with the benchmark id.
fn body_for(id: u32) -> String {
    format!("#{id} Hi, my order still hasn't arrived. Can you check where it is?")
}

/// E.164 number of simulated customer `index`.
pub fn customer_number(index: u32) -> String {
    format!("{CUSTOMER_PREFIX}{:07}", CUSTOMER_BASE + index)
}

/// Inverse of [`customer_number`]; `None` for numbers the benchmark did not make.
pub fn customer_index(number: &str) -> Option<u32> {
    number
        .strip_prefix(CUSTOMER_PREFIX)?
        .parse::<u32>()
        .ok()?
        .checked_sub(CUSTOMER_BASE)
}

/// The benchmark id a message body starts with, as written by [`build`].
pub fn id_of_body(body: &str) -> Option<u32> {
    let rest = body.strip_prefix('#')?;
    let end = rest.find(' ').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WebhookSpec {
        WebhookSpec {
            signed_url: "http://127.0.0.1:4000/twilio/sms".into(),
            auth_token: "secret".into(),
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            to: "+15550000000".into(),
            run_nonce: 0xabcdef01,
        }
    }

    #[test]
    fn webhook_is_signed_over_its_own_fields() {
        let hook = build(&spec(), 42, 7);
        let params: Vec<(String, String)> =
            form_urlencoded::parse(&hook.body).into_owned().collect();
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("From"), "+15551000007");
        assert_eq!(get("MessageSid").len(), 34);
        assert_eq!(id_of_body(&get("Body")), Some(42));
        assert!(switchboard::twilio::signature::is_valid(
            "secret",
            "http://127.0.0.1:4000/twilio/sms",
            &params,
            hook.signature.to_str().unwrap()
        ));
    }

    #[test]
    fn pool_ids_and_numbers_round_trip() {
        let pool = Pool::build(&spec(), 100, 37, |id| id % 5);
        assert_eq!(pool.len(), 37);
        let first: Vec<(String, String)> = form_urlencoded::parse(&pool.items[0].body)
            .into_owned()
            .collect();
        assert!(first
            .iter()
            .any(|(k, v)| k == "Body" && id_of_body(v) == Some(100)));
        assert_eq!(customer_index(&customer_number(199)), Some(199));
        assert_eq!(customer_index("+447700900123"), None);
        assert_eq!(id_of_body("no id here"), None);
    }
}
