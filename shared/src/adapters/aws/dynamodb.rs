//! The storage ports on one DynamoDB table (single-table design).
//!
//! The table has a string hash key `pk` and a string range key `sk`, is billed per request,
//! has TTL on `expires_at` (epoch seconds) and one sparse global secondary index `gsi1`
//! (hash `gsi1pk`, range `gsi1sk`, all attributes projected) for the per-account lists.
//! [`create_table`] creates exactly that, as the SAM template does.
//!
//! | Item                 | `pk`                        | `sk`               | Attributes besides `pk`/`sk`                                                         |
//! |----------------------|-----------------------------|--------------------|--------------------------------------------------------------------------------------|
//! | account              | `ACCOUNT#<id>`              | `ACCOUNT`          | `data` (JSON `Account`), `numbers` (list of E.164), `services` (list of `MG…` it claims; absent on accounts stored before services were indexed), `version` |
//! | account index        | `ACCOUNTS`                  | `<id>`             | —                                                                                    |
//! | number ownership     | `NUMBER#<e164>`             | `NUMBER`           | `account_id`, `data` (the account's JSON, written with it; see `account_lookup`)    |
//! | Messaging Service ownership | `SERVICE#<MG…>` (canonical: `MG` + lower-case hex) | `SERVICE` | `account_id`, `data` (as on a number)                         |
//! | index built          | `INDEX#messaging-services`  | `INDEX`            | — (every stored account's services are claimed; see `account_by_messaging_service`) |
//! | message              | `CONV#<account>#<phone>`    | `MSG#<ulid id>`    | `data` (JSON `MessageRecord`), `status`, `status_rank`, `updated_at`, `error_code`?, `provider_sid`? |
//! | goal log entry       | `CONV#<account>#<phone>`    | `FIRED#<message id>#<goal>` | `data` (JSON `GoalRecord`): what became of a goal about that message |
//! | refusal log entry    | `CONV#<account>#<phone>`    | `REFUSED#<message id>` | `data` (JSON `Refusal`): why a request or queued send with that id sent nothing |
//! | provider SID pointer | `SID#<sid>`                 | `SID`              | `msg_pk`, `msg_sk` (the message's key)                                               |
//! | consent              | `CONSENT#<account>#<phone>` | `CONSENT`          | `data` (JSON `ConsentRecord`), `changed_at`; when opted out `gsi1pk` = `OPTOUT#<account>`, `gsi1sk` = `<phone>` |
//! | conversation summary | `CONVLAST#<account>#<phone>`| `CONVLAST`         | `data` (JSON `ConversationSummary`), `last_at`, `gsi1pk` = `CONVS#<account>`, `gsi1sk` = `<last_at, 16 digits>#<phone>` |
//! | queue job failure    | `JOBFAIL#<queue>#<msg id>`  | `JOBFAIL`          | `data` (JSON `JobFailure`), `expires_at_ms`, `expires_at`                            |
//! | sequence session     | `SESSION#<account>#<phone>` | `SESSION`          | `data` (JSON `SessionRecord`), `session_id`, `revision`, `expires_at_ms`, `expires_at` |
//! | sequence definition  | `ACCOUNT#<id>`              | `SEQUENCE#<name>`  | `data` (JSON of the definition file, validated again on read), `name`               |
//! | sequence note        | `SEQNOTE#<account>#<contact id>` | `SEQUENCE#<name>` | `note_id` (the CRM note a contact's runs of the sequence append to)            |
//! | idempotency record   | `IDEM#<key>`                | `IDEM`             | `created_at_ms`, `expires_at_ms`, `expires_at`, `response_body`?                     |
//! | pending sends        | `ACCOUNT#<id>`              | `PENDING`          | `n`                                                                                  |
//! | sender rate state    | `RATE#<sender>`             | `RATE`             | `next_free_ms`                                                                       |
//! | disabled goal        | `ACCOUNT#<id>`              | `GOAL#<call_name>` | `call_name`                                                                          |
//! | cached CRM contact   | `CONTACT#<account>#<phone>` | `CONTACT`          | `data` (JSON contact), `expires_at_ms`, `expires_at`                                 |
//! | phone health         | `PHONE#<account>#<phone>`   | `PHONE`            | `phone_status` (`active`/`bounced`/`paused`), `hard_failures`, `version`             |
//! | CRM refresh token    | `ACCOUNT#<id>`              | `CRM_REFRESH_TOKEN` | `token`, `version`, `origin` (see the `credentials` module)                        |
//! | inbox sign-in link   | `INBOXLINK#<digest>`        | `INBOXLINK`        | `data` (JSON `SignInLink`), `expires_at_ms`, `expires_at`; deleted when followed      |
//! | inbox session        | `INBOXSESSION#<digest>`     | `INBOXSESSION`     | `data` (JSON `InboxSession`), `expires_at_ms`, `expires_at`                          |
//! | inbox sign-in count  | `SIGNIN#<lower-cased e-mail>#<window ms>` | `SIGNIN` | `n`, `expires_at_ms`, `expires_at`                                         |
//! | inbox read mark      | `READ#<account>#<user>`     | `<phone>`          | `read_through_ms`                                                                    |
//!
//! Access patterns served by `gsi1` (eventually consistent, like every GSI): an account's
//! opt-outs in phone order (`gsi1pk = OPTOUT#<account>`, see `optout`) and its conversations
//! most recent first (`gsi1pk = CONVS#<account>`, descending, see `conversations`).
//!
//! Times are epoch milliseconds (`Timestamp`), except `expires_at`, which is in seconds because
//! that is what DynamoDB's TTL reads. TTL deletes lazily (and moto never does), so every read
//! of an expiring item compares `expires_at_ms` with `now` itself.
//!
//! Fields a conditional update changes in place (a message's status, error code and provider
//! SID) live in their own attributes, which win over the copy inside `data` on reads.
//!
//! Every invariant is carried by a conditional write or a transaction: duplicate messages
//! (by id or provider SID), number and Messaging Service ownership, forward-only status, one active session per
//! contact and its updates (by `revision`), one note per contact and sequence, idempotency
//! claims, the admission counter and send-slot reservations; phone health is written
//! optimistically under its `version` (see `phone`). Sequence definitions live in `sequences`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use crate::ports::store::StoreResult;
use errors::{backend, build_error};

// The shared plumbing: items and keys, errors, the requests the ports are built from.
mod errors;
mod item;
mod requests;

// One file per store port (or a few ports over the same items).
mod account_lookup;
mod accounts;
mod claims;
mod consent;
mod contacts;
mod conversations;
mod credentials;
mod goal_log;
mod goals;
mod inbox;
mod job_failures;
mod message_history;
mod messages;
mod optout;
mod phone;
mod rate;
mod refusal_log;
mod reply_grants;
mod send_path;
mod sequences;
mod services_index;
mod sessions;

/// The sparse global secondary index of the per-account lists (see the module documentation).
pub const GSI1: &str = "gsi1";

/// How often a write that lost a race with a concurrent writer of the same items is retried
/// before giving up with a (retryable) backend error.
const MAX_RACE_RETRIES: usize = 8;

/// The most items one TransactWriteItems call may hold.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// How long [`create_table`] waits for a new table to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Creates the smsflow table as the SAM template does (`pk`/`sk` strings, on-demand billing,
/// the `gsi1` index, TTL on `expires_at`) and waits until it is active. Used by tests and
/// local setups.
pub async fn create_table(client: &Client, name: &str) -> StoreResult<()> {
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(key_attribute("pk")?)
        .attribute_definitions(key_attribute("sk")?)
        .attribute_definitions(key_attribute("gsi1pk")?)
        .attribute_definitions(key_attribute("gsi1sk")?)
        .key_schema(key_element("pk", KeyType::Hash)?)
        .key_schema(key_element("sk", KeyType::Range)?)
        .global_secondary_indexes(gsi1()?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| backend(&format!("CreateTable {name}"), &e))?;
    // Real DynamoDB creates tables asynchronously and refuses TTL changes until it is active.
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(TABLE_ACTIVE_TIMEOUT)
        .await
        .map_err(|e| backend(&format!("waiting for table {name}"), &e))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .map_err(build_error)?,
        )
        .send()
        .await
        .map_err(|e| backend(&format!("UpdateTimeToLive {name}"), &e))?;
    Ok(())
}

fn key_attribute(attribute: &str) -> StoreResult<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(attribute)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(build_error)
}

fn key_element(attribute: &str, key_type: KeyType) -> StoreResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(attribute)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

/// The `gsi1` index, projecting every attribute.
fn gsi1() -> StoreResult<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key_element("gsi1pk", KeyType::Hash)?)
        .key_schema(key_element("gsi1sk", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_error)
}

/// Every store port on one DynamoDB table (see the module documentation for the layout).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Seen the `INDEX#messaging-services` item: it is never removed, so once is enough.
    services_indexed: Arc<AtomicBool>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            services_indexed: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}
