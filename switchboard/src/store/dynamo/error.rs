//! Turning AWS SDK errors into [`StoreError`]s, logged once with the
//! service, the operation and AWS's error code.
//!
//! A failed conditional write is not an error here: it is how the store
//! learns that someone else got there first, so callers test for it with
//! [`condition_failed`] before treating anything as a failure.

use super::super::StoreError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use switchboard_cloud::aws::{error_code, log_failure};

/// Logs a failed DynamoDB (or DynamoDB Streams) call and converts it.
pub(super) fn failed<E, R>(
    service: &'static str,
    operation: &'static str,
    table: &str,
    e: &SdkError<E, R>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let message = log_failure(service, operation, table, e);
    StoreError::Storage(format!("{service} {operation} on {table}: {message}"))
}

/// Shorthand for DynamoDB calls.
pub(super) fn dynamo<E, R>(operation: &'static str, table: &str, e: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    failed("dynamodb", operation, table, e)
}

/// True when a conditional write was refused because its condition did
/// not hold.
pub(super) fn condition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    error_code(e).as_deref() == Some("ConditionalCheckFailedException")
}
