//! The security headers on every response of both services, as one axum
//! middleware: what a scanner expects (no sniffing, no framing, no referrer
//! leaks, no powerful browser features), the service's Content-Security-
//! Policy, and HSTS when the browser's connection is HTTPS (as a trusted
//! proxy says; a plain-HTTP local run must not pin the browser to HTTPS).
//! A handler that sets one of these itself keeps its own.

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::TrustedProxies;

/// One year, the usual HSTS lifetime.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The headers and what decides HSTS.
#[derive(Clone)]
pub struct HeaderPolicy {
    /// The service's Content-Security-Policy.
    pub csp: &'static str,
    pub proxies: TrustedProxies,
}

/// Headers every response carries (besides the CSP).
pub const FIXED: [(&str, &str); 7] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("x-permitted-cross-domain-policies", "none"),
];

/// The middleware: `axum::middleware::from_fn_with_state(policy, apply)`.
pub async fn apply(State(policy): State<HeaderPolicy>, request: Request, next: Next) -> Response {
    let https = policy.proxies.client_of(&request).https;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    for (name, value) in FIXED {
        set(HeaderName::from_static(name), value);
    }
    set(header::CONTENT_SECURITY_POLICY, policy.csp);
    if https {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}
