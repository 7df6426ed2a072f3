//! The store contract: one list of cases ([`cases`]) run against every
//! store — sled on a temporary directory on disk, DynamoDB in the AWS
//! emulator over HTTP with the real SDK, and the in-memory store — so the
//! three keep the same semantics.
//!
//! The DynamoDB backend needs the emulator the test command starts
//! (`MOTO_URL`, or `LOCALSTACK_URL`); without one its tests fail with a
//! message saying so rather than being skipped.

mod cases;

use super::dynamo::{DynamoOptions, DynamoStore};
use super::fence::FenceCell;
use super::memory::MemoryStore;
use super::sled_store::{SledOptions, SledStore};
use super::Store;
use crate::durability::Durability;
use std::time::Duration;

/// A store under test and what must live as long as it.
struct Harness {
    store: Box<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    async fn finish(self) {
        self.store.close().await.expect("close the store");
    }
}

async fn memory() -> Harness {
    let (store, _outbox) = MemoryStore::new();
    Harness {
        store: Box::new(store),
        _dir: None,
    }
}

async fn sled() -> Harness {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (store, _outbox) = SledStore::open(SledOptions {
        path: dir.path(),
        cache_mb: 16,
        durability: Durability::Flush,
    })
    .expect("open sled");
    Harness {
        store: Box::new(store),
        _dir: Some(dir),
    }
}

/// The emulator's endpoint, found as the end-to-end tests find it.
fn emulator() -> String {
    ["MOTO_URL", "LOCALSTACK_URL"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| {
            panic!(
                "MOTO_URL is not set: run the project's test command (scripts/test.sh), which \
                 installs and starts the AWS emulator (moto), or set LOCALSTACK_URL"
            )
        })
}

/// A DynamoDB store in the emulator, on tables of its own, leading: it
/// holds the router lease item, so its fenced writes go through.
pub(crate) struct DynamoHarness {
    /// The store under test.
    pub store: DynamoStore,
    /// The tables' name prefix, for tests that write items directly.
    pub prefix: String,
    /// The store's fence (set: this store leads).
    pub fence: FenceCell,
    /// Its `DATA_DIR`, removed when dropped.
    pub dir: tempfile::TempDir,
}

async fn dynamodb() -> Harness {
    let harness = open_dynamodb().await;
    Harness {
        store: Box::new(harness.store),
        _dir: Some(harness.dir),
    }
}

/// Opens a DynamoDB store on new tables and takes the router lease for it.
pub(crate) async fn open_dynamodb() -> DynamoHarness {
    let prefix = format!("contract-{:016x}-", rand::random::<u64>());
    open_dynamodb_at(&prefix, true).await
}

/// Opens a DynamoDB store on the tables named by `prefix` (creating them
/// first when `create`), with an empty `DATA_DIR` of its own, and takes the
/// router lease for it.
pub(crate) async fn open_dynamodb_at(prefix: &str, create: bool) -> DynamoHarness {
    static ENV: std::sync::Once = std::sync::Once::new();
    let endpoint = emulator();
    ENV.call_once(|| {
        // The SDK reads these; every test in this process uses the same.
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    });
    if create {
        let conf = switchboard_cloud::aws::sdk_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&conf);
        let streams = aws_sdk_dynamodbstreams::Client::new(&conf);
        crate::migrate::apply(&dynamo, &streams, prefix, Duration::from_secs(60))
            .await
            .expect("create the tables");
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let fence = FenceCell::new();
    let (store, _outbox) = DynamoStore::open(DynamoOptions {
        data_dir: dir.path(),
        table_prefix: prefix,
        stream_poll: Duration::from_millis(50),
        cache_mb: 16,
        fence: fence.clone(),
    })
    .await
    .expect("open the DynamoDB store");
    let taken = store.take_lease_unconditionally("contract").await;
    fence.set(Some(taken.expect("take the router lease")));
    // It leads: it follows the streams itself.
    store.start_stream_reader();
    DynamoHarness {
        store,
        prefix: prefix.to_string(),
        fence,
        dir,
    }
}

/// One `#[tokio::test]` per case for a backend.
macro_rules! contract_tests {
    ($backend:ident: $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let harness = super::$backend().await;
                    super::cases::$case(harness.store.as_ref()).await;
                    harness.finish().await;
                }
            )*
        }
    };
}

/// The cases, once, for every backend.
macro_rules! every_backend {
    ($($case:ident),* $(,)?) => {
        contract_tests!(memory: $($case),*);
        contract_tests!(sled: $($case),*);
        contract_tests!(dynamodb: $($case),*);
    };
}

every_backend!(
    inbound_messages_get_gap_free_seqs_per_conversation,
    a_retried_message_sid_is_stored_once,
    replies_are_refused_for_unknown_or_opted_out_customers,
    stop_and_start_keywords_change_opt_out_and_help_does_not,
    statuses_only_move_forward,
    an_early_status_is_applied_when_its_sid_is_recorded,
    a_status_for_a_missing_message_is_an_error,
    history_returns_exactly_the_range_asked_for,
    a_replys_pictures_are_stored_with_it_and_an_empty_body_is_kept,
    the_outbox_lists_unsent_replies_oldest_first_until_settled,
    a_send_intent_is_listed_with_its_reply_and_the_first_one_kept,
    the_change_feed_reports_each_change_once_in_order,
    wait_for_changes_resolves_when_a_change_arrives,
    a_working_store_reports_ready_and_a_closed_one_refuses_writes,
    notes_and_events_are_stored_in_order_never_sent_and_allowed_after_stop,
    canned_replies_are_one_list_replaced_only_from_the_version_read,
    resolved_conversations_are_listed_per_customer_and_newest_first,
    search_finds_words_and_numbers_newest_first_in_pages,
    search_finds_word_beginnings_and_number_fragments,
);
