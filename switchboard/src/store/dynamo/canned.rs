//! The team's canned replies ([`CannedStore`]) in DynamoDB: one `meta` item
//! `canned` → `replies` (JSON of the list), `version` (N). A replace is one
//! `PutItem` conditioned on the version it read (or on no item, at version
//! 0), so of two concurrent edits exactly one lands and the other starts
//! over. Reads are strongly consistent. Not fenced: only the leader has
//! agent sockets, and the condition alone keeps edits from being lost.

use super::error::{self, condition_failed};
use super::items::{attr, get_n, get_s, n, s};
use super::DynamoStore;
use crate::store::{CannedList, CannedStore, Result, StoreError};
use async_trait::async_trait;
use switchboard_protocol::CannedReply;

/// The item's id in `meta` (never a lease, checkpoint or job id).
const CANNED_ID: &str = "canned";
/// The list, as JSON.
const REPLIES: &str = "replies";
/// Bumped by every replace.
const VERSION: &str = "version";

#[async_trait]
impl CannedStore for DynamoStore {
    async fn canned(&self) -> Result<CannedList> {
        let meta = &self.tables.meta;
        let out = self
            .client
            .get_item()
            .table_name(meta)
            .key(attr::ID, s(CANNED_ID))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::dynamo("GetItem", meta, &e))?;
        let Some(item) = out.item else {
            return Ok(CannedList::default());
        };
        let replies = match get_s(&item, REPLIES) {
            Some(json) => {
                serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?
            }
            None => Vec::new(),
        };
        Ok(CannedList {
            version: get_n(&item, VERSION).unwrap_or(0),
            replies,
        })
    }

    async fn replace_canned(&self, expected: u64, replies: &[CannedReply]) -> Result<bool> {
        let meta = &self.tables.meta;
        let json =
            serde_json::to_string(replies).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let put = self
            .client
            .put_item()
            .table_name(meta)
            .item(attr::ID, s(CANNED_ID))
            .item(REPLIES, s(json))
            .item(VERSION, n(expected + 1))
            .expression_attribute_names("#version", VERSION);
        let put = if expected == 0 {
            put.condition_expression("attribute_not_exists(#version) OR #version = :expected")
        } else {
            put.condition_expression("#version = :expected")
        }
        .expression_attribute_values(":expected", n(expected));
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(error::dynamo("PutItem", meta, &e)),
        }
    }
}
