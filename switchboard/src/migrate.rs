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

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableDescription, TableStatus,
};
use aws_sdk_dynamodbstreams::types::StreamStatus;
use serde::Deserialize;
use std::time::{Duration, Instant};
use switchboard_cloud::aws::{describe_error, error_code};

/// The table definitions, in the order they are created.
const TABLE_FILES: &[(&str, &str)] = &[
    ("meta.json", include_str!("../../migrations/meta.json")),
    (
        "messages.json",
        include_str!("../../migrations/messages.json"),
    ),
    (
        "conversations.json",
        include_str!("../../migrations/conversations.json"),
    ),
    (
        "lookups.json",
        include_str!("../../migrations/lookups.json"),
    ),
    ("routes.json", include_str!("../../migrations/routes.json")),
];
const FORMAT_FILE: &str = include_str!("../../migrations/format.json");

/// Table names (without the prefix) the store uses.
pub const MESSAGES: &str = "messages";
pub const CONVERSATIONS: &str = "conversations";
pub const LOOKUPS: &str = "lookups";
pub const ROUTES: &str = "routes";
pub const META: &str = "meta";
/// The sparse index of the messages table that lists unsettled replies.
pub const OUTBOX_INDEX: &str = "outbox";
/// Key of the meta item holding the applied format version.
const FORMAT_ITEM: &str = "store_format";

/// Settings of `switchboard migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateConfig {
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

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("DynamoDB {operation} on {table} failed: {message}")]
    Aws {
        operation: &'static str,
        table: String,
        message: String,
    },
    #[error(
        "table {table} exists with key schema {found} but this version of switchboard needs {expected}; \
         it was not created by switchboard (or by an incompatible version): choose another \
         DYNAMODB_TABLE_PREFIX or move the data by hand"
    )]
    KeySchema {
        table: String,
        expected: String,
        found: String,
    },
    #[error(
        "index {index} of table {table} has key schema {found} but switchboard needs {expected}; \
         delete the index and run `switchboard migrate` again"
    )]
    IndexSchema {
        table: String,
        index: String,
        expected: String,
        found: String,
    },
    #[error(
        "the stream of table {table} has view type {found}, switchboard needs NEW_AND_OLD_IMAGES; \
         disable the stream and run `switchboard migrate` again"
    )]
    StreamViewType { table: String, found: String },
    #[error(
        "the tables with prefix `{prefix}` are at store format {found}, newer than this \
         binary's {known}: deploy the newer switchboard"
    )]
    NewerFormat {
        prefix: String,
        found: u64,
        known: u64,
    },
    #[error("{what} of table {table} did not become active within {secs} s")]
    Timeout {
        table: String,
        what: &'static str,
        secs: u64,
    },
    #[error(
        "DynamoDB is not ready for this version of switchboard: {problem}. Run `switchboard migrate` \
         with the same DYNAMODB_TABLE_PREFIX and AWS settings first (it is safe to run on every deploy)"
    )]
    NotMigrated { problem: String },
    #[error("bad table definition in migrations/{file}: {reason}")]
    Definition { file: String, reason: String },
    #[error("DYNAMODB_TABLE_PREFIX `{0}` may only contain letters, digits, `_`, `-` and `.`")]
    Prefix(String),
}

/// One table as `migrations/*.json` describes it: the subset of DynamoDB's
/// `CreateTable` input switchboard uses, in the same shape, so a file also
/// works with `aws dynamodb create-table --cli-input-json` (after adding
/// the prefix to `TableName` and dropping `Description`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableDef {
    pub table_name: String,
    #[serde(default)]
    pub description: String,
    pub attribute_definitions: Vec<AttrDef>,
    pub key_schema: Vec<KeyDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    #[serde(default)]
    pub stream_specification: Option<StreamDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttrDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProjectionDef {
    pub projection_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamDef {
    pub stream_enabled: bool,
    pub stream_view_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FormatDef {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    store_format: u64,
}

impl TableDef {
    fn key_type_of(&self, attribute: &str) -> Option<&str> {
        self.attribute_definitions
            .iter()
            .find(|a| a.attribute_name == attribute)
            .map(|a| a.attribute_type.as_str())
    }

    fn wants_stream(&self) -> bool {
        self.stream_specification
            .as_ref()
            .is_some_and(|s| s.stream_enabled)
    }
}

/// The embedded table definitions.
pub fn tables() -> Result<Vec<TableDef>, MigrateError> {
    TABLE_FILES
        .iter()
        .map(|(file, text)| {
            let def: TableDef =
                serde_json::from_str(text).map_err(|e| MigrateError::Definition {
                    file: file.to_string(),
                    reason: e.to_string(),
                })?;
            let keys = def.key_schema.iter().chain(
                def.global_secondary_indexes
                    .iter()
                    .flat_map(|i| &i.key_schema),
            );
            for key in keys {
                if def.key_type_of(&key.attribute_name).is_none() {
                    return Err(MigrateError::Definition {
                        file: file.to_string(),
                        reason: format!("key {} has no attribute definition", key.attribute_name),
                    });
                }
            }
            Ok(def)
        })
        .collect()
}

/// The store format version this binary reads and writes.
pub fn store_format() -> Result<u64, MigrateError> {
    serde_json::from_str::<FormatDef>(FORMAT_FILE)
        .map(|f| f.store_format)
        .map_err(|e| MigrateError::Definition {
            file: "format.json".into(),
            reason: e.to_string(),
        })
}

/// The full name of a table.
pub fn table_name(prefix: &str, table: &str) -> String {
    format!("{prefix}{table}")
}

pub fn check_prefix(prefix: &str) -> Result<(), MigrateError> {
    if prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        Ok(())
    } else {
        Err(MigrateError::Prefix(prefix.to_string()))
    }
}

/// What a migration run did, one line per change.
#[derive(Debug, Default)]
pub struct Report {
    pub changes: Vec<String>,
}

/// `switchboard migrate`.
pub async fn run(config: MigrateConfig) -> anyhow::Result<()> {
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

/// Checks, without changing anything, that every table, index and stream
/// exists as defined and the recorded format is this binary's.
pub async fn verify(dynamo: &aws_sdk_dynamodb::Client, prefix: &str) -> Result<(), MigrateError> {
    check_prefix(prefix)?;
    let format = store_format()?;
    for def in tables()? {
        let name = table_name(prefix, &def.table_name);
        let Some(table) = describe(dynamo, &name).await? else {
            return Err(MigrateError::NotMigrated {
                problem: format!("table {name} does not exist"),
            });
        };
        check_key_schema(&name, def.clone(), &table)?;
        for index in &def.global_secondary_indexes {
            let found = table
                .global_secondary_indexes()
                .iter()
                .find(|i| i.index_name() == Some(index.index_name.as_str()));
            match found {
                None => {
                    return Err(MigrateError::NotMigrated {
                        problem: format!(
                            "index {} of table {name} does not exist",
                            index.index_name
                        ),
                    })
                }
                Some(i) if i.index_status() != Some(&IndexStatus::Active) => {
                    return Err(MigrateError::NotMigrated {
                        problem: format!(
                            "index {} of table {name} is not active yet",
                            index.index_name
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        if def.wants_stream() && !stream_enabled(&table) {
            return Err(MigrateError::NotMigrated {
                problem: format!("table {name} has no stream"),
            });
        }
    }
    let meta_table = table_name(prefix, META);
    match applied_format(dynamo, &meta_table).await? {
        Some(found) if found == format => Ok(()),
        Some(found) if found > format => Err(MigrateError::NewerFormat {
            prefix: prefix.to_string(),
            found,
            known: format,
        }),
        Some(found) => Err(MigrateError::NotMigrated {
            problem: format!("the tables are at store format {found}, this binary needs {format}"),
        }),
        None => Err(MigrateError::NotMigrated {
            problem: "no store format is recorded".into(),
        }),
    }
}

/// The table's description, or None when it does not exist.
pub async fn describe(
    dynamo: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<Option<TableDescription>, MigrateError> {
    match dynamo.describe_table().table_name(name).send().await {
        Ok(out) => Ok(out.table),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("DescribeTable", name, &e)),
    }
}

fn aws_error<E, R>(
    operation: &'static str,
    table: &str,
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> MigrateError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let message = describe_error(e);
    tracing::error!(
        service = "dynamodb",
        operation,
        table,
        code = error_code(e).as_deref().unwrap_or("none"),
        error = %message,
        "AWS call failed"
    );
    MigrateError::Aws {
        operation,
        table: table.to_string(),
        message,
    }
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

fn stream_enabled(table: &TableDescription) -> bool {
    table
        .stream_specification()
        .is_some_and(|s| s.stream_enabled())
        && table.latest_stream_arn().is_some()
}

fn describe_keys(keys: &[KeySchemaElement]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str()))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn describe_key_defs(keys: &[KeyDef]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {}", k.attribute_name, k.key_type))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Compares key names, key roles and key attribute types.
fn check_key_schema(
    name: &str,
    def: TableDef,
    table: &TableDescription,
) -> Result<(), MigrateError> {
    let type_of = |attribute: &str| {
        table
            .attribute_definitions()
            .iter()
            .find(|a| a.attribute_name() == attribute)
            .map(|a| a.attribute_type().as_str().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let found: Vec<String> = table
        .key_schema()
        .iter()
        .map(|k| {
            format!(
                "{} {} {}",
                k.attribute_name(),
                k.key_type().as_str(),
                type_of(k.attribute_name())
            )
        })
        .collect();
    let expected: Vec<String> = def
        .key_schema
        .iter()
        .map(|k| {
            format!(
                "{} {} {}",
                k.attribute_name,
                k.key_type,
                def.key_type_of(&k.attribute_name).unwrap_or("?")
            )
        })
        .collect();
    if found == expected {
        Ok(())
    } else {
        Err(MigrateError::KeySchema {
            table: name.to_string(),
            expected: format!("[{}]", expected.join(", ")),
            found: format!("[{}]", found.join(", ")),
        })
    }
}

fn definition_error(name: &str, e: impl std::fmt::Display) -> MigrateError {
    MigrateError::Definition {
        file: format!("{name}.json"),
        reason: e.to_string(),
    }
}

impl ProjectionDef {
    fn to_sdk(&self) -> Projection {
        Projection::builder()
            .projection_type(ProjectionType::from(self.projection_type.as_str()))
            .build()
    }
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
    let mut pause = Duration::from_millis(100);
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
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
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
    loop {
        let status = match streams.describe_stream().stream_arn(arn).send().await {
            Ok(out) => out
                .stream_description
                .and_then(|d| d.stream_status)
                .unwrap_or(StreamStatus::Enabled),
            Err(e) => {
                let message = describe_error(&e);
                tracing::error!(
                    service = "dynamodbstreams",
                    operation = "DescribeStream",
                    table,
                    code = error_code(&e).as_deref().unwrap_or("none"),
                    error = %message,
                    "AWS call failed"
                );
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
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn applied_format(
    dynamo: &aws_sdk_dynamodb::Client,
    meta_table: &str,
) -> Result<Option<u64>, MigrateError> {
    let out = match dynamo
        .get_item()
        .table_name(meta_table)
        .key("id", AttributeValue::S(FORMAT_ITEM.into()))
        .consistent_read(true)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(aws_error("GetItem", meta_table, &e)),
    };
    Ok(out.item.and_then(|item| match item.get("version") {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }))
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
