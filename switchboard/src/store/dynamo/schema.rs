//! The DynamoDB store's tables, as data: the definitions in `migrations/`
//! (embedded in the binary, so a deployed binary always carries its own
//! schema), the table and index names the store uses, and [`verify`], which
//! checks without changing anything that the tables match. The store opens
//! only on verified tables; `switchboard migrate` ([`crate::migrate`])
//! creates what is missing. Kept beside the store so the store does not
//! depend on the migration command.

use aws_sdk_dynamodb::types::{
    AttributeValue, IndexStatus, KeySchemaElement, Projection, ProjectionType, TableDescription,
};
use serde::Deserialize;
use switchboard_cloud::aws::log_failure;

/// The table definitions, in the order they are created.
const TABLE_FILES: &[(&str, &str)] = &[
    (
        "meta.json",
        include_str!("../../../../migrations/meta.json"),
    ),
    (
        "messages.json",
        include_str!("../../../../migrations/messages.json"),
    ),
    (
        "conversations.json",
        include_str!("../../../../migrations/conversations.json"),
    ),
    (
        "lookups.json",
        include_str!("../../../../migrations/lookups.json"),
    ),
    (
        "routes.json",
        include_str!("../../../../migrations/routes.json"),
    ),
];
const FORMAT_FILE: &str = include_str!("../../../../migrations/format.json");

/// Table names (without the prefix) the store uses.
pub const MESSAGES: &str = "messages";
pub const CONVERSATIONS: &str = "conversations";
pub const LOOKUPS: &str = "lookups";
pub const ROUTES: &str = "routes";
pub const META: &str = "meta";
/// The sparse index of the messages table that lists unsettled replies.
pub const OUTBOX_INDEX: &str = "outbox";
/// Key of the meta item holding the applied format version.
pub(crate) const FORMAT_ITEM: &str = "store_format";

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
    pub(crate) fn key_type_of(&self, attribute: &str) -> Option<&str> {
        self.attribute_definitions
            .iter()
            .find(|a| a.attribute_name == attribute)
            .map(|a| a.attribute_type.as_str())
    }

    pub(crate) fn wants_stream(&self) -> bool {
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

pub(crate) fn aws_error<E, R>(
    operation: &'static str,
    table: &str,
    e: &aws_sdk_dynamodb::error::SdkError<E, R>,
) -> MigrateError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let message = log_failure("dynamodb", operation, table, e);
    MigrateError::Aws {
        operation,
        table: table.to_string(),
        message,
    }
}

pub(crate) fn stream_enabled(table: &TableDescription) -> bool {
    table
        .stream_specification()
        .is_some_and(|s| s.stream_enabled())
        && table.latest_stream_arn().is_some()
}

pub(crate) fn describe_keys(keys: &[KeySchemaElement]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str()))
        .collect();
    format!("[{}]", parts.join(", "))
}

pub(crate) fn describe_key_defs(keys: &[KeyDef]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {}", k.attribute_name, k.key_type))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Compares key names, key roles and key attribute types.
pub(crate) fn check_key_schema(
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

pub(crate) fn definition_error(name: &str, e: impl std::fmt::Display) -> MigrateError {
    MigrateError::Definition {
        file: format!("{name}.json"),
        reason: e.to_string(),
    }
}

impl ProjectionDef {
    pub(crate) fn to_sdk(&self) -> Projection {
        Projection::builder()
            .projection_type(ProjectionType::from(self.projection_type.as_str()))
            .build()
    }
}

pub(crate) async fn applied_format(
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
