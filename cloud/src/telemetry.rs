//! Metrics and HTTP tracing plumbing shared by both binaries.
//!
//! Metrics are recorded at call sites through the `metrics` facade
//! (`metrics::counter!(…)`), into one process-wide Prometheus recorder
//! ([`recorder`]); `GET /metrics` renders it in Prometheus' text format. The
//! names and what they mean live in each binary's own `telemetry` module.
//!
//! `/metrics` is off unless a bearer token is configured (`METRICS_TOKEN`):
//! it shows traffic volumes and agent names, which are not for the open
//! internet. With a token, a scrape must send `Authorization: Bearer <token>`;
//! anything else is 401, compared in constant time.
//!
//! Every HTTP request gets an id (`x-request-id`: the caller's, or a new
//! UUID), echoed in the response and carried by the request's span, so every
//! log line written while handling it names it.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Buckets of every `…_seconds` histogram: from half a millisecond (a sled
/// write without fsync) to 10 s (a Twilio send that keeps retrying).
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of every `…_batch_size` histogram (the group commit's batches:
/// at most 1,024 writes).
const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Shortest accepted `METRICS_TOKEN`: a guessable token is no guard.
const MIN_TOKEN_CHARS: usize = 16;

/// The process-wide Prometheus recorder, installed on first use. Tests that
/// run several services in one process share it (their counters add up);
/// each binary in production has its own.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), SIZE_BUCKETS));
        let handle = match builder.map(PrometheusBuilder::install_recorder) {
            Ok(Ok(handle)) => handle,
            // Another recorder was installed first (an embedding program):
            // /metrics then shows only what is recorded into this one.
            Ok(Err(e)) | Err(e) => {
                tracing::warn!(error = %e, "could not install the metrics recorder; /metrics stays empty");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        // Histogram samples wait in a buffer until upkeep folds them into
        // their buckets: without scrapes that buffer would only grow.
        let upkeep = handle.clone();
        let started = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            });
        if let Err(e) = started {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread");
        }
        handle
    })
}

/// The bearer token that guards `/metrics` (`METRICS_TOKEN`). Its `Debug`
/// never shows the value.
#[derive(Clone)]
pub struct MetricsToken(Arc<str>);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

/// Parses `METRICS_TOKEN` (a clap `value_parser`): at least 16 characters,
/// each one that may stand in an `Authorization: Bearer` header (RFC 6750's
/// token68: letters, digits, `-._~+/=`).
pub fn parse_metrics_token(value: &str) -> Result<MetricsToken, String> {
    if value.chars().count() < MIN_TOKEN_CHARS {
        return Err(format!(
            "must be at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 32`)"
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(*c)))
    {
        return Err(format!(
            "may hold only letters, digits and -._~+/= (found {bad:?})"
        ));
    }
    Ok(MetricsToken(value.into()))
}

/// Why a `/metrics` request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token is configured: the endpoint does not exist (404).
    Off,
    /// The bearer token is missing or wrong (401 with `WWW-Authenticate: Bearer`).
    Unauthorized,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Off => StatusCode::NOT_FOUND.into_response(),
            Refusal::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
                "a valid `Authorization: Bearer` token is needed\n",
            )
                .into_response(),
        }
    }
}

/// Whether a `/metrics` request may see the metrics: only with the
/// configured token as its bearer token (compared in constant time).
pub fn authorize(token: Option<&MetricsToken>, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(token) = token else {
        return Err(Refusal::Off);
    };
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(offered.as_bytes().ct_eq(token.0.as_bytes())) {
        Ok(())
    } else {
        Err(Refusal::Unauthorized)
    }
}

/// Everything recorded so far, in Prometheus' text exposition format.
pub fn exposition() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        recorder().render(),
    )
        .into_response()
}

/// Wraps `router` in the request-id and trace layers: each request's span
/// (`http`) carries its method, path and request id; the id is echoed as
/// `x-request-id`. The query string is left out of the span: it may carry
/// a signed link.
pub fn with_http_layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(http_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The span of one HTTP request.
fn http_span(request: &Request<Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = request.uri().path(),
        request_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn tokens_that_are_short_or_unsendable_are_refused() {
        assert!(parse_metrics_token("short").unwrap_err().contains("16"));
        assert!(parse_metrics_token("0123456789abcdef 0123")
            .unwrap_err()
            .contains("' '"));
        assert!(parse_metrics_token("0123456789abcdef-._~+/=").is_ok());
    }

    #[test]
    fn only_the_exact_bearer_token_is_let_in() {
        let token = parse_metrics_token("0123456789abcdef0123").unwrap();
        assert!(authorize(Some(&token), &bearer("Bearer 0123456789abcdef0123")).is_ok());
        for wrong in [
            "Bearer 0123456789abcdef012",
            "Bearer 0123456789abcdef01234",
            "Basic 0123456789abcdef0123",
            "0123456789abcdef0123",
        ] {
            let refused = authorize(Some(&token), &bearer(wrong)).unwrap_err();
            assert_eq!(refused, Refusal::Unauthorized, "{wrong}");
            assert_eq!(refused.into_response().status(), StatusCode::UNAUTHORIZED);
        }
        let refused = authorize(Some(&token), &HeaderMap::new()).unwrap_err();
        assert_eq!(refused, Refusal::Unauthorized);
        let off = authorize(None, &bearer("Bearer 0123456789abcdef0123")).unwrap_err();
        assert_eq!(off.into_response().status(), StatusCode::NOT_FOUND);
    }
}
