//! Job claims ([`JobClaims`]) in DynamoDB: one `lookups` item per job key,
//! `job:<key>` → `state` (`running` or `finished`), `holder` (the instance),
//! `until_ms` (when a running claim expires). A published job is a `meta`
//! item `job#<key>` → `job` (JSON), deleted when it is finished: `meta`
//! holds only a handful of items besides them, so listing them is one
//! scan. Claiming is one conditional
//! write: no item yet, or a running claim that is this instance's own or
//! has expired (wall clocks: instances' clocks are assumed within
//! `jobs::claim_heartbeat::CLOCK_SKEW` of each other). A running job's
//! claim is short and renewed by the same write while its attempt runs
//! (`jobs/claim_heartbeat.rs`). Not fenced: every instance
//! runs the jobs its own webhooks queue.

use super::error::{self, condition_failed};
use super::items::{attr, get_n, get_s, n, s};
use super::DynamoStore;
use crate::store::job_claims::{JobClaim, JobClaims};
use crate::store::Result;
use async_trait::async_trait;

const STATE: &str = "state";
const HOLDER: &str = "holder";
const UNTIL_MS: &str = "until_ms";
const RUNNING: &str = "running";
const FINISHED: &str = "finished";

/// The attribute of a published job holding its JSON.
const JOB: &str = "job";
/// Prefix of a published job's id in `meta`.
const PUBLISHED_PREFIX: &str = "job#";

fn claim_id(key: &str) -> String {
    format!("job:{key}")
}

fn published_id(key: &str) -> String {
    format!("{PUBLISHED_PREFIX}{key}")
}

#[async_trait]
impl JobClaims for DynamoStore {
    async fn claim(&self, key: &str, until_ms: u64) -> Result<JobClaim> {
        let table = &self.tables.lookups;
        let claimed = self
            .client
            .update_item()
            .table_name(table)
            .key(attr::ID, s(claim_id(key)))
            .update_expression("SET #state = :running, #holder = :me, #until = :until")
            .condition_expression(
                "attribute_not_exists(#id) OR (#state = :running AND (#holder = :me OR #until < :now))",
            )
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_names("#until", UNTIL_MS)
            .expression_attribute_values(":running", s(RUNNING))
            .expression_attribute_values(":me", s(&self.instance))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(crate::clock::now_ms()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(JobClaim::Mine),
            Err(e) if condition_failed(&e) => {
                // Finished, or another instance's live claim: read which.
                let out = self
                    .client
                    .get_item()
                    .table_name(table)
                    .key(attr::ID, s(claim_id(key)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| error::dynamo("GetItem", table, &e))?;
                let item = out.item.unwrap_or_default();
                Ok(match get_s(&item, STATE) {
                    Some(FINISHED) => JobClaim::Finished,
                    _ => JobClaim::HeldUntil(get_n(&item, UNTIL_MS).unwrap_or(until_ms)),
                })
            }
            Err(e) => Err(error::dynamo("UpdateItem", table, &e)),
        }
    }

    async fn finish(&self, key: &str) -> Result<()> {
        let table = &self.tables.lookups;
        self.client
            .update_item()
            .table_name(table)
            .key(attr::ID, s(claim_id(key)))
            .update_expression("SET #state = :finished REMOVE #until")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#until", UNTIL_MS)
            .expression_attribute_values(":finished", s(FINISHED))
            .send()
            .await
            .map_err(|e| error::dynamo("UpdateItem", table, &e))?;
        let meta = &self.tables.meta;
        self.client
            .delete_item()
            .table_name(meta)
            .key(attr::ID, s(published_id(key)))
            .send()
            .await
            .map_err(|e| error::dynamo("DeleteItem", meta, &e))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<()> {
        let table = &self.tables.lookups;
        let released = self
            .client
            .update_item()
            .table_name(table)
            .key(attr::ID, s(claim_id(key)))
            .update_expression("SET #until = :zero")
            .condition_expression("#state = :running AND #holder = :me")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#holder", HOLDER)
            .expression_attribute_names("#until", UNTIL_MS)
            .expression_attribute_values(":running", s(RUNNING))
            .expression_attribute_values(":me", s(&self.instance))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match released {
            // Not ours (any more): nothing to let go of.
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(error::dynamo("UpdateItem", table, &e)),
        }
    }

    async fn publish(&self, key: &str, job: &str) -> Result<()> {
        let meta = &self.tables.meta;
        let put = self
            .client
            .put_item()
            .table_name(meta)
            .item(attr::ID, s(published_id(key)))
            .item(JOB, s(job))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::ID)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(error::dynamo("PutItem", meta, &e)),
        }
    }

    async fn published(&self) -> Result<Vec<(String, String)>> {
        let meta = &self.tables.meta;
        let mut pages = self
            .client
            .scan()
            .table_name(meta)
            .consistent_read(true)
            .filter_expression("begins_with(#id, :prefix)")
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_values(":prefix", s(PUBLISHED_PREFIX))
            .into_paginator()
            .items()
            .send();
        let mut jobs = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| error::dynamo("Scan", meta, &e))?;
            let (Some(id), Some(job)) = (get_s(&item, attr::ID), get_s(&item, JOB)) else {
                continue;
            };
            if let Some(key) = id.strip_prefix(PUBLISHED_PREFIX) {
                jobs.push((key.to_string(), job.to_string()));
            }
        }
        Ok(jobs)
    }
}

/// On the AWS emulator (moto): two instances on one table set.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::{open_dynamodb, open_dynamodb_at};
    use crate::store::Lifecycle;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_runs_on_one_instance_and_a_dead_ones_claim_is_taken_over() {
        let a = open_dynamodb().await;
        let b = open_dynamodb_at(&a.prefix, false).await;
        let now = crate::clock::now_ms();
        let (alert, transcript) = ("alert/+15550100001/42/1", "transcript/+15550100001/7");
        let long = now + 600_000;

        assert_eq!(a.store.claim(alert, long).await.unwrap(), JobClaim::Mine);
        assert_eq!(
            b.store.claim(alert, long).await.unwrap(),
            JobClaim::HeldUntil(long),
            "a live claim of another instance"
        );
        // Its own retry may claim again.
        assert_eq!(a.store.claim(alert, long).await.unwrap(), JobClaim::Mine);
        a.store.finish(alert).await.unwrap();
        assert_eq!(
            b.store.claim(alert, long).await.unwrap(),
            JobClaim::Finished
        );
        assert_eq!(
            a.store.claim(alert, long).await.unwrap(),
            JobClaim::Finished
        );

        // Published until finished, then gone.
        a.store.publish(transcript, r#"{"t":1}"#).await.unwrap();
        a.store.publish(transcript, r#"{"t":2}"#).await.unwrap();
        assert_eq!(
            b.store.published().await.unwrap(),
            vec![(transcript.to_string(), r#"{"t":1}"#.to_string())]
        );

        // An instance that died while running a job: once its claim has
        // expired, another takes the job.
        let expired = now.saturating_sub(1);
        assert_eq!(
            a.store.claim(transcript, expired).await.unwrap(),
            JobClaim::Mine
        );
        assert_eq!(
            b.store.claim(transcript, long).await.unwrap(),
            JobClaim::Mine
        );
        assert_eq!(
            a.store.claim(transcript, long).await.unwrap(),
            JobClaim::HeldUntil(long)
        );
        // A failed attempt lets go: the next to try may run it.
        a.store.release(transcript).await.unwrap();
        assert_eq!(
            a.store.claim(transcript, long).await.unwrap(),
            JobClaim::HeldUntil(long),
            "only its holder lets go"
        );
        b.store.release(transcript).await.unwrap();
        assert_eq!(
            a.store.claim(transcript, long).await.unwrap(),
            JobClaim::Mine
        );
        b.store.finish(transcript).await.unwrap();
        assert_eq!(b.store.published().await.unwrap(), vec![]);
        a.store.close().await.unwrap();
        b.store.close().await.unwrap();
    }
}
