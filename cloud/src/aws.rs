//! The shared AWS SDK configuration and error reporting.
//!
//! Every caller builds its service clients from [`sdk_config`], so all of them
//! get the same timeouts: an unreachable or hung AWS endpoint turns into an
//! error after a bounded time instead of stalling a request or a worker.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// How long to wait for a TCP/TLS connection to an AWS endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt (request + response headers) may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an operation may take over all its retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The standard AWS configuration chain (environment, profile, instance
/// role; `AWS_REGION`, `AWS_ENDPOINT_URL`) with bounded timeouts.
pub async fn sdk_config() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}

/// An S3 client for `conf`. With a custom endpoint (LocalStack, moto, MinIO)
/// buckets are addressed in the path (`http://host/bucket/key`), because such
/// endpoints rarely resolve `bucket.host` names.
pub fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint =
        conf.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3_conf = aws_sdk_s3::config::Builder::from(conf)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(s3_conf)
}

/// One line for logs and error messages: `"<AWS error code>: <message>"` for
/// an error AWS answered, or the transport failure (`timeout`, `connection
/// refused`, ...) when it did not answer at all.
///
/// `SdkError` is the same type in every `aws-sdk-*` crate (re-exported from
/// the smithy runtime), so this works for all services.
pub fn describe_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: Debug + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                (None, Some(message)) => message.to_string(),
                (None, None) => e.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "timeout".to_string(),
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() {
                format!("timeout: {}", source_chain(err))
            } else {
                source_chain(err)
            }
        }
        SdkError::ResponseError(_) => format!("unreadable response: {}", source_chain(err)),
        SdkError::ConstructionFailure(_) => format!("request not built: {}", source_chain(err)),
        _ => source_chain(err),
    }
}

/// Logs a failed AWS call once — service, operation, the resource it was
/// on and AWS's error code — and returns [`describe_error`]'s line for the
/// caller's own error value.
pub fn log_failure<E, R>(
    service: &'static str,
    operation: &'static str,
    resource: &str,
    err: &SdkError<E, R>,
) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: Debug + 'static,
{
    let message = describe_error(err);
    tracing::error!(
        service,
        operation,
        resource,
        code = error_code(err).as_deref().unwrap_or("none"),
        error = %message,
        "AWS call failed"
    );
    message
}

/// The AWS error code (`NoSuchKey`, `ConditionalCheckFailedException`, ...)
/// when AWS answered with one.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string)
}

/// The HTTP status AWS answered with, if it answered.
pub fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// True when AWS did not answer usefully: no connection, a timeout, or a
/// server-side (5xx) error. These are worth retrying and, for reads, worth
/// falling back to a local copy.
pub fn is_unavailable<E>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(_) | SdkError::ServiceError(_) => {
            http_status(err).is_none_or(|s| s >= 500)
        }
        _ => false,
    }
}

/// The innermost causes of an SDK error, which carry the useful words
/// ("Connection refused") that the top-level "dispatch failure" hides.
fn source_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}
