//! Routing records and assignment claims.
//!
//! The routes table keeps each conversation's [`RouteRecord`] (as JSON) and,
//! while an agent holds the conversation, its name in `owner`. A claim is a
//! conditional write on `owner`: it succeeds only when nobody holds the
//! conversation, the claimant already does, or it comes from the agent
//! that holds it (a transfer) — so when several routers race for one
//! conversation exactly one wins. Queueing never displaces an owner either:
//! a conversation claimed elsewhere stays with its claimant.

use super::error::{self, condition_failed};
use super::items::{attr, s};
use super::DynamoStore;
use crate::store::{Result, RouteRecord, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use switchboard_protocol::ConversationId;

fn encode(route: &RouteRecord) -> Result<String> {
    serde_json::to_string(route).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl DynamoStore {
    pub(super) async fn claim_impl(
        &self,
        conversation: &str,
        agent: &str,
        previous: Option<&str>,
        since_ms: u64,
    ) -> Result<bool> {
        let route = RouteRecord::Assigned {
            agent: agent.to_string(),
            since_ms,
        };
        let table = &self.tables.routes;
        let mut request = self
            .client
            .update_item()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .update_expression("SET #route = :route, #owner = :agent")
            .expression_attribute_names("#route", attr::ROUTE)
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_values(":route", s(encode(&route)?))
            .expression_attribute_values(":agent", s(agent));
        request = match previous {
            Some(previous) => request
                .condition_expression(
                    "attribute_not_exists(#owner) OR #owner = :agent OR #owner = :previous",
                )
                .expression_attribute_values(":previous", s(previous)),
            None => request.condition_expression("attribute_not_exists(#owner) OR #owner = :agent"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(error::dynamo("UpdateItem", table, &e)),
        }
    }

    pub(super) async fn save_route_impl(
        &self,
        conversation: &str,
        route: &RouteRecord,
    ) -> Result<()> {
        let table = &self.tables.routes;
        let request = self
            .client
            .update_item()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .expression_attribute_names("#route", attr::ROUTE)
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_values(":route", s(encode(route)?));
        let request = match route {
            RouteRecord::Assigned { agent, .. } => request
                .update_expression("SET #route = :route, #owner = :agent")
                .expression_attribute_values(":agent", s(agent)),
            // Handed back by its owner: only that owner may release it.
            RouteRecord::Queued {
                released_by: Some(agent),
                ..
            } => request
                .update_expression("SET #route = :route REMOVE #owner")
                .condition_expression("attribute_not_exists(#owner) OR #owner = :agent")
                .expression_attribute_values(":agent", s(agent)),
            // A new message queues it only if nobody holds it.
            RouteRecord::Queued { .. } => request
                .update_expression("SET #route = :route")
                .condition_expression("attribute_not_exists(#owner)"),
            RouteRecord::Resolved { .. } => {
                request.update_expression("SET #route = :route REMOVE #owner")
            }
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => {
                tracing::debug!(
                    conversation,
                    "route kept: the conversation is held elsewhere"
                );
                Ok(())
            }
            Err(e) => Err(error::dynamo("UpdateItem", table, &e)),
        }
    }

    pub(super) async fn routes_impl(&self) -> Result<Vec<(ConversationId, RouteRecord)>> {
        let table = &self.tables.routes;
        let mut pages = self
            .client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut routes = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| error::dynamo("Scan", table, &e))?;
            let (Some(AttributeValue::S(conversation)), Some(AttributeValue::S(route))) =
                (item.get(attr::CONVERSATION), item.get(attr::ROUTE))
            else {
                continue;
            };
            let route =
                serde_json::from_str(route).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            routes.push((conversation.clone(), route));
        }
        Ok(routes)
    }
}
