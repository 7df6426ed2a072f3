//! Routing records and assignment claims.
//!
//! The routes table keeps each conversation's [`RouteRecord`] (as JSON) and,
//! while an agent holds the conversation, its name in `owner`. A claim is a
//! conditional write on `owner`: it succeeds only when nobody holds the
//! conversation, the claimant already does, or it comes from the agent
//! that holds it (a transfer) — so when several routers race for one
//! conversation exactly one wins. Queueing never displaces an owner either:
//! a conversation claimed elsewhere stays with its claimant. A refused
//! write is reported as [`RouteWrite::HeldElsewhere`], never as success.
//!
//! Every write here — claims, route records, agents' settings — is fenced
//! by the router lease (`fenced.rs`): one `TransactWriteItems` with the
//! lease check, so an instance that lost leadership gets
//! [`StoreError::Fenced`] and writes nothing.
//!
//! Agents' declared availability shares the table under keys
//! `agent#<name>` (phone numbers never start with a letter), in the
//! `agent_settings` attribute; a route scan skips those rows since they have
//! no `route`.

use super::error;
use super::fenced::Written;
use super::history::RESOLUTIONS;
use super::items::{attr, s};
use super::DynamoStore;
use crate::store::history::Resolution;
use crate::store::{
    AgentSettings, Claim, Result, RouteRecord, RouteWrite, RoutingState, StoreError,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use switchboard_protocol::ConversationId;

/// The attribute holding an agent's [`AgentSettings`] (JSON).
const AGENT_SETTINGS: &str = "agent_settings";
/// Prefix of the key of an agent's settings row.
const AGENT_KEY_PREFIX: &str = "agent#";

fn encode(route: &RouteRecord) -> Result<String> {
    serde_json::to_string(route).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl DynamoStore {
    /// A route write, fenced by the router lease (`fenced.rs`); its own
    /// condition failing means another claimant holds the conversation.
    async fn fenced_route_write(&self, table: &str, update: UpdateBuilder) -> Result<RouteWrite> {
        let update = update
            .build()
            .map_err(|e| StoreError::Storage(format!("building a route write: {e}")))?;
        let write = TransactWriteItem::builder().update(update).build();
        Ok(
            match self.fenced("TransactWriteItems", table, write).await? {
                Written::Written => RouteWrite::Written,
                Written::ConditionFailed => RouteWrite::HeldElsewhere,
            },
        )
    }
}

#[async_trait]
impl RoutingState for DynamoStore {
    async fn claim(&self, claim: &Claim) -> Result<RouteWrite> {
        let (conversation, agent) = (claim.conversation.as_str(), claim.agent.as_str());
        let route = claim.route();
        let table = &self.tables.routes;
        let mut update = Update::builder()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .update_expression("SET #route = :route, #owner = :agent")
            .expression_attribute_names("#route", attr::ROUTE)
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_values(":route", s(encode(&route)?))
            .expression_attribute_values(":agent", s(agent));
        update = match claim.previous.as_deref() {
            Some(previous) => update
                .condition_expression(
                    "attribute_not_exists(#owner) OR #owner = :agent OR #owner = :previous",
                )
                .expression_attribute_values(":previous", s(previous)),
            None => update.condition_expression("attribute_not_exists(#owner) OR #owner = :agent"),
        };
        self.fenced_route_write(table, update).await
    }

    async fn save_route(&self, conversation: &str, route: &RouteRecord) -> Result<RouteWrite> {
        let table = &self.tables.routes;
        let update = Update::builder()
            .table_name(table)
            .key(attr::CONVERSATION, s(conversation))
            .expression_attribute_names("#route", attr::ROUTE)
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_values(":route", s(encode(route)?));
        let update = match route {
            RouteRecord::Assigned { agent, .. } => update
                .update_expression("SET #route = :route, #owner = :agent")
                .expression_attribute_values(":agent", s(agent)),
            // Handed back by its owner: only that owner may release it.
            RouteRecord::Queued {
                released_by: Some(agent),
                ..
            } => update
                .update_expression("SET #route = :route REMOVE #owner")
                .condition_expression("attribute_not_exists(#owner) OR #owner = :agent")
                .expression_attribute_values(":agent", s(agent)),
            // A new message queues it only if nobody holds it.
            RouteRecord::Queued { .. } => update
                .update_expression("SET #route = :route")
                .condition_expression("attribute_not_exists(#owner)"),
            // The resolve also joins the customer's history (`history.rs`).
            RouteRecord::Resolved {
                at_ms,
                upto_seq,
                by,
            } => {
                let resolution = Resolution {
                    conversation: conversation.to_string(),
                    upto_seq: *upto_seq,
                    at_ms: *at_ms,
                    by: by.clone(),
                    closed: None,
                };
                let json = serde_json::to_string(&resolution)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                update
                    .update_expression(
                        "SET #route = :route, #res = list_append(if_not_exists(#res, :none), :one) \
                         REMOVE #owner",
                    )
                    .expression_attribute_names("#res", RESOLUTIONS)
                    .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
                    .expression_attribute_values(":one", AttributeValue::L(vec![s(json)]))
            }
        };
        self.fenced_route_write(table, update).await
    }

    async fn routes(&self) -> Result<Vec<(ConversationId, RouteRecord)>> {
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

    async fn save_agent(&self, agent: &str, settings: AgentSettings) -> Result<()> {
        let table = &self.tables.routes;
        let json =
            serde_json::to_string(&settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let put = Put::builder()
            .table_name(table)
            .item(attr::CONVERSATION, s(format!("{AGENT_KEY_PREFIX}{agent}")))
            .item(AGENT_SETTINGS, s(json))
            .build()
            .map_err(|e| StoreError::Storage(format!("building an agent's settings write: {e}")))?;
        let put = TransactWriteItem::builder().put(put).build();
        // No condition of its own: only the lease's.
        self.fenced("TransactWriteItems", table, put).await?;
        Ok(())
    }

    async fn agents(&self) -> Result<Vec<(String, AgentSettings)>> {
        let table = &self.tables.routes;
        let mut pages = self
            .client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .filter_expression("attribute_exists(#settings)")
            .expression_attribute_names("#settings", AGENT_SETTINGS)
            .into_paginator()
            .items()
            .send();
        let mut agents = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| error::dynamo("Scan", table, &e))?;
            let (Some(AttributeValue::S(key)), Some(AttributeValue::S(json))) =
                (item.get(attr::CONVERSATION), item.get(AGENT_SETTINGS))
            else {
                continue;
            };
            let Some(name) = key.strip_prefix(AGENT_KEY_PREFIX) else {
                continue;
            };
            let settings =
                serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            agents.push((name.to_string(), settings));
        }
        Ok(agents)
    }
}
