//! The history port on DynamoDB: resolves kept on the routes table, search
//! by reading the messages table.
//!
//! Each resolve is appended (`list_append`) to the `resolutions` attribute
//! of the customer's `routes` row, in the same fenced write that records
//! the `Resolved` route (`routes.rs`), so a customer's resolves are one
//! `GetItem`. The team's recent resolves and full-text search have no
//! index on DynamoDB: they **scan** — the routes table (one row per
//! customer) and the messages table (every message) — and sort in memory.
//! On real DynamoDB a search reads the whole messages table each time
//! (about 1 read unit per 8 KB eventually consistent, so 100,000 messages
//! of ~200 bytes cost ~2,500 RCU and several seconds per query); the README
//! says so and names the way out (an OpenSearch or a GSI-fed index) for a
//! deployment that searches often.

use super::error;
use super::items::{self, attr, s};
use super::DynamoStore;
use crate::store::history::{self, Cursor, History, Resolution};
use crate::store::search::{self, Query};
use crate::store::{Result, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use switchboard_protocol::Message;

/// The routes-table attribute holding a customer's resolves: a list of
/// [`Resolution`]s as JSON strings, oldest first.
pub(super) const RESOLUTIONS: &str = "resolutions";

/// The resolves in a routes row.
fn resolutions_of(item: &items::Item) -> Result<Vec<Resolution>> {
    let Some(AttributeValue::L(list)) = item.get(RESOLUTIONS) else {
        return Ok(Vec::new());
    };
    list.iter()
        .filter_map(|value| value.as_s().ok())
        .map(|json| {
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("resolve: {e}")))
        })
        .collect()
}

#[async_trait]
impl History for DynamoStore {
    /// One consistent `GetItem` of the customer's routes row.
    async fn resolutions(&self, conversation: &str) -> Result<Vec<Resolution>> {
        let table = &self.tables.routes;
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::dynamo("GetItem", table, &e))?;
        match out.item {
            Some(item) => resolutions_of(&item),
            None => Ok(Vec::new()),
        }
    }

    /// A scan of the routes table's rows that have resolves.
    async fn recent_resolutions(
        &self,
        agent: Option<&str>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Resolution>> {
        let table = &self.tables.routes;
        let mut pages = self
            .client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .filter_expression("attribute_exists(#res)")
            .expression_attribute_names("#res", RESOLUTIONS)
            .into_paginator()
            .items()
            .send();
        let mut all = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| error::dynamo("Scan", table, &e))?;
            all.extend(resolutions_of(&item)?);
        }
        Ok(history::page_of_resolutions(all, agent, after, limit))
    }

    /// A scan of the messages table, matched and sorted here.
    async fn search(
        &self,
        query: &Query,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let table = &self.tables.messages;
        let mut pages = self
            .client
            .scan()
            .table_name(table)
            .into_paginator()
            .items()
            .send();
        let mut messages = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| error::dynamo("Scan", table, &e))?;
            messages.push(items::message_from_item(&item)?);
        }
        Ok(search::search_messages(messages, query, after, limit))
    }
}
