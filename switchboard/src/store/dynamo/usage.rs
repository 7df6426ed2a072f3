//! What this process asks of DynamoDB, counted: every request (each
//! attempt, retries included, since AWS bills attempts) by client and
//! operation, and the capacity units DynamoDB says each call consumed.
//!
//! An interceptor on every DynamoDB and DynamoDB Streams client of the
//! service (store, lease, Streams reader) asks for `ReturnConsumedCapacity
//! = TOTAL` on the operations that accept it and adds up what comes back.
//! The figures go to `/metrics` (`switchboard_dynamodb_requests_total`,
//! `switchboard_dynamodb_capacity_units_total`); the cost benchmark
//! (`scripts/bench-dynamo-cost.sh`) divides them by the messages it sent to
//! give requests, units and dollars per message. Capacity units are what the
//! endpoint reports: real DynamoDB and DynamoDB Local (LocalStack) compute
//! them from item sizes; moto answers fixed values.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    scan::{ScanInput, ScanOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// Counts one client's DynamoDB requests and capacity units.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Which client of the service: `store`, `lease` or `streams`.
    pub client: &'static str,
}

impl Intercept for Usage {
    fn name(&self) -> &'static str {
        "SwitchboardDynamoDbUsage"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        ask_for_capacity(context.input_mut());
        Ok(())
    }

    /// Once per attempt: a retried call is billed per attempt.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        crate::telemetry::dynamodb_request(self.client, operation(cfg));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error() {
            let units = consumed(output);
            if units > 0.0 {
                crate::telemetry::dynamodb_units(self.client, operation(cfg), units);
            }
        }
        Ok(())
    }
}

/// The operation's name (`PutItem`, `GetRecords`…), as AWS names it.
fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Sets `ReturnConsumedCapacity = TOTAL` on the operations that take it.
fn ask_for_capacity(input: &mut aws_smithy_runtime_api::client::interceptors::context::Input) {
    macro_rules! total {
        ($($input:ty),*) => {
            $(if let Some(input) = input.downcast_mut::<$input>() {
                input.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
                return;
            })*
        };
    }
    total!(
        PutItemInput,
        UpdateItemInput,
        DeleteItemInput,
        GetItemInput,
        QueryInput,
        ScanInput,
        BatchGetItemInput,
        TransactWriteItemsInput
    );
}

/// The capacity units a call's output reports (0 when it reports none).
fn consumed(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> f64 {
    fn units(capacity: Option<&ConsumedCapacity>) -> f64 {
        capacity.and_then(|c| c.capacity_units).unwrap_or(0.0)
    }
    fn sum(capacities: Option<&Vec<ConsumedCapacity>>) -> f64 {
        capacities.map_or(0.0, |all| all.iter().map(|c| units(Some(c))).sum())
    }
    macro_rules! one {
        ($($output:ty),*) => {
            $(if let Some(output) = output.downcast_ref::<$output>() {
                return units(output.consumed_capacity.as_ref());
            })*
        };
    }
    one!(
        PutItemOutput,
        UpdateItemOutput,
        DeleteItemOutput,
        GetItemOutput,
        QueryOutput,
        ScanOutput
    );
    if let Some(output) = output.downcast_ref::<TransactWriteItemsOutput>() {
        return sum(output.consumed_capacity.as_ref());
    }
    if let Some(output) = output.downcast_ref::<BatchGetItemOutput>() {
        return sum(output.consumed_capacity.as_ref());
    }
    0.0
}
