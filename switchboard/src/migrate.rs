//! `switchboard migrate`: creates and checks the DynamoDB tables of the
//! DynamoDB store, from the definitions in `migrations/` (embedded in the
//! binary, so a deployed binary always carries its own schema).
//!
//! Safe to run on every deploy (a PaaS release phase): it only ever adds what
//! is missing — tables (on-demand billing), secondary indexes, streams
//! (`NEW_AND_OLD_IMAGES`) — waits until each is `ACTIVE` / `ENABLED`, and
//! then records the store format version in the `meta` table. Run twice, the
//! second run changes nothing. It never deletes or rewrites: a table that
//! exists with another key schema, or a stream with another view type, is a
//! clear error for a person to resolve. `switchboard serve` with
//! `STORE=dynamodb` calls [`verify`] and refuses to start on tables that are
//! missing or at another format, pointing at this command.

use crate::backoff::TABLE_WAIT;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription, TableStatus,
};
use aws_sdk_dynamodbstreams::types::StreamStatus;
use std::time::{Duration, Instant};
use switchboard_cloud::aws::log_failure;

/// The schema lives beside the DynamoDB store; this command applies it.
pub use crate::store::dynamo::schema::*;

/// Settings of `switchboard migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateConfig {
    /// The store `serve` uses (the same `STORE` setting). With `sled` there is
    /// nothing to migrate (the embedded store creates what it needs in
    /// `DATA_DIR` at start-up), so the command succeeds without touching AWS:
    /// a Procfile's `release: switchboard migrate` works for both stores.
    #[arg(long, env = "STORE", value_enum, default_value_t = crate::config::StoreKind::Sled)]
    pub store: crate::config::StoreKind,

    /// Prefix of the DynamoDB table names (the same as `serve`'s).
    #[arg(long, env = "DYNAMODB_TABLE_PREFIX", default_value = "switchboard-")]
    pub table_prefix: String,

    /// How long to wait for tables, indexes and streams to become active, in seconds.
    #[arg(long, env = "MIGRATE_WAIT_SECS", default_value_t = 600)]
    pub wait_secs: u64,

    /// Only check: exit non-zero (saying what is missing) instead of changing anything.
    #[arg(long)]
    pub check: bool,
}

/// What a migration run did, one line per change.
#[derive(Debug, Default)]
pub struct Report {
    pub changes: Vec<String>,
}

/// `switchboard migrate`.
pub async fn run(config: MigrateConfig) -> anyhow::Result<()> {
    if config.store == crate::config::StoreKind::Sled {
        println!("nothing to do: STORE=sled keeps its data in DATA_DIR and needs no migration");
        return Ok(());
    }
    check_prefix(&config.table_prefix)?;
    let conf = switchboard_cloud::aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&conf);
    let streams = aws_sdk_dynamodbstreams::Client::new(&conf);
    if config.check {
        verify(&dynamo, &config.table_prefix).await?;
        println!(
            "DynamoDB tables with prefix `{}` are up to date (store format {})",
            config.table_prefix,
            store_format()?
        );
        return Ok(());
    }
    let report = apply(
        &dynamo,
        &streams,
        &config.table_prefix,
        Duration::from_secs(config.wait_secs),
    )
    .await?;
    if report.changes.is_empty() {
        println!(
            "nothing to do: DynamoDB tables with prefix `{}` are at store format {}",
            config.table_prefix,
            store_format()?
        );
    }
    for change in &report.changes {
        println!("{change}");
    }
    Ok(())
}

/// Brings the tables with `prefix` up to this binary's definitions.
pub async fn apply(
    dynamo: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    prefix: &str,
    wait: Duration,
) -> Result<Report, MigrateError> {
    let defs = tables()?;
    let format = store_format()?;
    let mut report = Report::default();
    // Refuse before touching anything when a newer binary already migrated.
    let meta_table = table_name(prefix, META);
    if describe(dynamo, &meta_table).await?.is_some() {
        if let Some(found) = applied_format(dynamo, &meta_table).await? {
            if found > format {
                return Err(MigrateError::NewerFormat {
                    prefix: prefix.to_string(),
                    found,
                    known: format,
                });
            }
        }
    }
    // Check every existing table before changing anything, so a conflict
    // leaves the account as it was.
    for def in &defs {
        let name = table_name(prefix, &def.table_name);
        if let Some(table) = describe(dynamo, &name).await? {
            check_key_schema(&name, def.clone(), &table)?;
        }
    }
    for def in &defs {
        let name = table_name(prefix, &def.table_name);
        ensure_table(dynamo, streams, &name, def, wait, &mut report).await?;
    }
    record_format(dynamo, &meta_table, format, &mut report).await?;
    Ok(report)
}

async fn ensure_table(
    dynamo: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    name: &str,
    def: &TableDef,
    wait: Duration,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let table = match describe(dynamo, name).await? {
        Some(table) => table,
        None => {
            create_table(dynamo, name, def).await?;
            report.changes.push(format!("created table {name}"));
            wait_for(dynamo, name, "the table", wait, |t| {
                t.table_status() == Some(&TableStatus::Active)
                    && t.global_secondary_indexes()
                        .iter()
                        .all(|i| i.index_status() == Some(&IndexStatus::Active))
            })
            .await?
        }
    };
    check_key_schema(name, def.clone(), &table)?;
    if table.table_status() != Some(&TableStatus::Active) {
        wait_for(dynamo, name, "the table", wait, |t| {
            t.table_status() == Some(&TableStatus::Active)
        })
        .await?;
    }

    for index in &def.global_secondary_indexes {
        let existing = table
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(index.index_name.as_str()));
        match existing {
            Some(found) => {
                let found_keys = describe_keys(found.key_schema());
                let expected = describe_key_defs(&index.key_schema);
                if found_keys != expected {
                    return Err(MigrateError::IndexSchema {
                        table: name.to_string(),
                        index: index.index_name.clone(),
                        expected,
                        found: found_keys,
                    });
                }
            }
            None => {
                create_index(dynamo, name, def, index).await?;
                report
                    .changes
                    .push(format!("created index {} on {name}", index.index_name));
            }
        }
        let index_name = index.index_name.clone();
        wait_for(dynamo, name, "an index", wait, move |t| {
            t.global_secondary_indexes().iter().any(|i| {
                i.index_name() == Some(index_name.as_str())
                    && i.index_status() == Some(&IndexStatus::Active)
            })
        })
        .await?;
    }

    if let Some(stream) = def
        .stream_specification
        .as_ref()
        .filter(|s| s.stream_enabled)
    {
        let table = describe(dynamo, name)
            .await?
            .ok_or_else(|| MigrateError::NotMigrated {
                problem: format!("table {name} disappeared during the migration"),
            })?;
        if stream_enabled(&table) {
            let found = table
                .stream_specification()
                .and_then(|s| s.stream_view_type())
                .map(|v| v.as_str().to_string())
                .unwrap_or_default();
            if found != stream.stream_view_type {
                return Err(MigrateError::StreamViewType {
                    table: name.to_string(),
                    found,
                });
            }
        } else {
            enable_stream(dynamo, name, stream).await?;
            report.changes.push(format!(
                "enabled the {} stream of {name}",
                stream.stream_view_type
            ));
        }
        let table = wait_for(dynamo, name, "the stream", wait, |t| {
            t.table_status() == Some(&TableStatus::Active) && t.latest_stream_arn().is_some()
        })
        .await?;
        if let Some(arn) = table.latest_stream_arn() {
            wait_for_stream(streams, name, arn, wait).await?;
        }
    }
    Ok(())
}

fn attribute_definitions(
    def: &TableDef,
    names: &[&str],
) -> Result<Vec<AttributeDefinition>, MigrateError> {
    names
        .iter()
        .map(|name| {
            let kind = def.key_type_of(name).ok_or_else(|| {
                definition_error(&def.table_name, format!("{name} is not defined"))
            })?;
            AttributeDefinition::builder()
                .attribute_name(*name)
                .attribute_type(ScalarAttributeType::from(kind))
                .build()
                .map_err(|e| definition_error(&def.table_name, e))
        })
        .collect()
}

fn key_schema(def: &TableDef, keys: &[KeyDef]) -> Result<Vec<KeySchemaElement>, MigrateError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| definition_error(&def.table_name, e))
        })
        .collect()
}

fn stream_spec(def: &TableDef, stream: &StreamDef) -> Result<StreamSpecification, MigrateError> {
    StreamSpecification::builder()
        .stream_enabled(stream.stream_enabled)
        .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
        .build()
        .map_err(|e| definition_error(&def.table_name, e))
}

async fn create_table(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    def: &TableDef,
) -> Result<(), MigrateError> {
    // Only key attributes (of the table and its indexes) may be declared.
    let mut key_names: Vec<&str> = def
        .key_schema
        .iter()
        .chain(
            def.global_secondary_indexes
                .iter()
                .flat_map(|i| &i.key_schema),
        )
        .map(|k| k.attribute_name.as_str())
        .collect();
    key_names.sort_unstable();
    key_names.dedup();
    let mut request = dynamo
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attribute_definitions(def, &key_names)?))
        .set_key_schema(Some(key_schema(def, &def.key_schema)?));
    for index in &def.global_secondary_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(def, &index.key_schema)?))
                .projection(index.projection.to_sdk())
                .build()
                .map_err(|e| definition_error(&def.table_name, e))?,
        );
    }
    if let Some(stream) = def
        .stream_specification
        .as_ref()
        .filter(|s| s.stream_enabled)
    {
        request = request.stream_specification(stream_spec(def, stream)?);
    }
    match request.send().await {
        Ok(_) => Ok(()),
        // Another deploy's migrate created it meanwhile: carry on and check it.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_error("CreateTable", name, &e)),
    }
}

async fn create_index(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    def: &TableDef,
    index: &IndexDef,
) -> Result<(), MigrateError> {
    let names: Vec<&str> = index
        .key_schema
        .iter()
        .map(|k| k.attribute_name.as_str())
        .collect();
    let action = CreateGlobalSecondaryIndexAction::builder()
        .index_name(&index.index_name)
        .set_key_schema(Some(key_schema(def, &index.key_schema)?))
        .projection(index.projection.to_sdk())
        .build()
        .map_err(|e| definition_error(&def.table_name, e))?;
    dynamo
        .update_table()
        .table_name(name)
        .set_attribute_definitions(Some(attribute_definitions(def, &names)?))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(action).build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("UpdateTable", name, &e))?;
    Ok(())
}

async fn enable_stream(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    stream: &StreamDef,
) -> Result<(), MigrateError> {
    let spec = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
        .build()
        .map_err(|e| definition_error(name, e))?;
    dynamo
        .update_table()
        .table_name(name)
        .stream_specification(spec)
        .send()
        .await
        .map_err(|e| aws_error("UpdateTable", name, &e))?;
    Ok(())
}

/// Polls the table's description until `ready` holds.
async fn wait_for(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
    what: &'static str,
    wait: Duration,
    ready: impl Fn(&TableDescription) -> bool,
) -> Result<TableDescription, MigrateError> {
    let deadline = Instant::now() + wait;
    let mut pauses = TABLE_WAIT.delays();
    loop {
        if let Some(table) = describe(dynamo, name).await? {
            if ready(&table) {
                return Ok(table);
            }
        }
        if Instant::now() >= deadline {
            return Err(MigrateError::Timeout {
                table: name.to_string(),
                what,
                secs: wait.as_secs(),
            });
        }
        tokio::time::sleep(pauses.next_delay()).await;
    }
}

/// Waits until the stream says `ENABLED`. Emulators that drop records
/// written while a stream is still enabling (LocalStack) make this matter;
/// an endpoint that does not report a status is taken at its word.
async fn wait_for_stream(
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
    arn: &str,
    wait: Duration,
) -> Result<(), MigrateError> {
    let deadline = Instant::now() + wait;
    let mut pauses = TABLE_WAIT.delays();
    loop {
        let status = match streams.describe_stream().stream_arn(arn).send().await {
            Ok(out) => out
                .stream_description
                .and_then(|d| d.stream_status)
                .unwrap_or(StreamStatus::Enabled),
            Err(e) => {
                let message = log_failure("dynamodbstreams", "DescribeStream", table, &e);
                return Err(MigrateError::Aws {
                    operation: "DescribeStream",
                    table: table.to_string(),
                    message,
                });
            }
        };
        if status == StreamStatus::Enabled {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(MigrateError::Timeout {
                table: table.to_string(),
                what: "the stream",
                secs: wait.as_secs(),
            });
        }
        tokio::time::sleep(pauses.next_delay()).await;
    }
}

/// Records `format` unless it (or a newer one) is already recorded.
async fn record_format(
    dynamo: &aws_sdk_dynamodb::Client,
    meta_table: &str,
    format: u64,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let result = dynamo
        .put_item()
        .table_name(meta_table)
        .item("id", AttributeValue::S(FORMAT_ITEM.into()))
        .item("version", AttributeValue::N(format.to_string()))
        .item(
            "applied_by",
            AttributeValue::S(format!("switchboard {}", env!("CARGO_PKG_VERSION"))),
        )
        .item(
            "applied_at_ms",
            AttributeValue::N(crate::clock::now_ms().to_string()),
        )
        .condition_expression("attribute_not_exists(#v) OR #v < :v")
        .expression_attribute_names("#v", "version")
        .expression_attribute_values(":v", AttributeValue::N(format.to_string()))
        .send()
        .await;
    match result {
        Ok(_) => {
            report
                .changes
                .push(format!("recorded store format {format} in {meta_table}"));
            Ok(())
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            match applied_format(dynamo, meta_table).await? {
                Some(found) if found > format => Err(MigrateError::NewerFormat {
                    prefix: meta_table.trim_end_matches(META).to_string(),
                    found,
                    known: format,
                }),
                _ => Ok(()),
            }
        }
        Err(e) => Err(aws_error("PutItem", meta_table, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_definitions_parse_and_declare_their_keys() {
        let defs = tables().unwrap();
        let names: Vec<&str> = defs.iter().map(|d| d.table_name.as_str()).collect();
        for wanted in [MESSAGES, CONVERSATIONS, LOOKUPS, ROUTES, META] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
        let streamed: Vec<&str> = defs
            .iter()
            .filter(|d| d.wants_stream())
            .map(|d| d.table_name.as_str())
            .collect();
        assert_eq!(streamed, vec![MESSAGES, CONVERSATIONS]);
        assert!(store_format().unwrap() >= 1);
        let messages = defs.iter().find(|d| d.table_name == MESSAGES).unwrap();
        assert!(messages
            .global_secondary_indexes
            .iter()
            .any(|i| i.index_name == OUTBOX_INDEX));
    }

    #[test]
    fn prefixes_are_table_name_safe() {
        assert!(check_prefix("switchboard-").is_ok());
        assert!(check_prefix("prod_v2.").is_ok());
        assert!(check_prefix("bad prefix/").is_err());
    }
}
