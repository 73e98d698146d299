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
//! | number ownership     | `NUMBER#<e164>`             | `NUMBER`           | `account_id`                                                                         |
//! | Messaging Service ownership | `SERVICE#<MG…>` (canonical: `MG` + lower-case hex) | `SERVICE` | `account_id`                                                  |
//! | index built          | `INDEX#messaging-services`  | `INDEX`            | — (every stored account's services are claimed; see `account_by_messaging_service`) |
//! | message              | `CONV#<account>#<phone>`    | `MSG#<ulid id>`    | `data` (JSON `MessageRecord`), `status`, `status_rank`, `updated_at`, `error_code`?, `provider_sid`? |
//! | goal log entry       | `CONV#<account>#<phone>`    | `FIRED#<message id>#<goal>` | `data` (JSON `GoalRecord`): what became of a goal about that message |
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

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod credentials;

use crate::domain::routing::RoutingDecision;
use crate::domain::{
    Account, AccountId, MessageRecord, MessageStatus, PhoneNumber, Timestamp, canonical_service_sid,
};
use crate::ports::store::{
    AccountStore, CachedContact, ConsentRecord, ConsentStore, ContactCache, ConversationStore,
    GoalStore, RateStore, Recorded, SessionRecord, SessionStart, SessionStore, StatusUpdate,
    StoreError, StoreResult,
};

mod claims;
mod conversations;
mod goal_log;
mod job_failures;
mod optout;
mod phone;
mod sequences;

/// The sparse global secondary index of the per-account lists (see the module documentation).
pub const GSI1: &str = "gsi1";

type Item = HashMap<String, AttributeValue>;

/// How often a write that lost a race with a concurrent writer of the same items is retried
/// before giving up with a (retryable) backend error.
const MAX_RACE_RETRIES: usize = 8;

/// The most items one TransactWriteItems call may hold.
const MAX_TRANSACTION_ITEMS: usize = 100;

/// How long [`create_table`] waits for a new table to become active.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// The reason code DynamoDB gives for a transaction item whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// Reason codes of transactions cancelled by a concurrent one: worth retrying.
const CONFLICT_CODES: [&str; 2] = ["TransactionConflict", "ConditionalCheckFailed"];

/// Creates the smsflow table as the SAM template does (`pk`/`sk` strings, on-demand billing,
/// the `gsi1` index, TTL on `expires_at`) and waits until it is active. Used by tests and
/// local setups.
pub async fn create_table(client: &Client, name: &str) -> StoreResult<()> {
    let key_attribute = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let key_element = |attribute: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(key_type)
            .build()
            .map_err(build_error)
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(key_attribute("pk")?)
        .attribute_definitions(key_attribute("sk")?)
        .attribute_definitions(key_attribute("gsi1pk")?)
        .attribute_definitions(key_attribute("gsi1sk")?)
        .key_schema(key_element("pk", KeyType::Hash)?)
        .key_schema(key_element("sk", KeyType::Range)?)
        .global_secondary_indexes(
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
                .map_err(build_error)?,
        )
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

// ---------------------------------------------------------------- keys and attributes

/// An item's primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    pk: String,
    sk: String,
}

impl Key {
    fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    fn account(id: &AccountId) -> Self {
        Key::new(format!("ACCOUNT#{id}"), "ACCOUNT")
    }

    fn account_index(id: &AccountId) -> Self {
        Key::new(ACCOUNT_INDEX_PK, id.as_str())
    }

    fn number(number: &PhoneNumber) -> Self {
        Key::new(format!("NUMBER#{}", number.as_str()), "NUMBER")
    }

    /// `service` is in [`canonical_service_sid`] form.
    fn service(service: &str) -> Self {
        Key::new(format!("SERVICE#{service}"), "SERVICE")
    }

    fn services_indexed() -> Self {
        Key::new("INDEX#messaging-services", "INDEX")
    }

    fn message(account: &AccountId, phone: &PhoneNumber, id: &str) -> Self {
        Key::new(
            conversation_pk(account, phone),
            format!("{MESSAGE_PREFIX}{id}"),
        )
    }

    fn sid(provider_sid: &str) -> Self {
        Key::new(format!("SID#{provider_sid}"), "SID")
    }

    fn consent(account: &AccountId, phone: &PhoneNumber) -> Self {
        Key::new(format!("CONSENT#{account}#{}", phone.as_str()), "CONSENT")
    }

    fn session(account: &AccountId, phone: &PhoneNumber) -> Self {
        Key::new(format!("SESSION#{account}#{}", phone.as_str()), "SESSION")
    }

    fn idempotency(key: &str) -> Self {
        Key::new(format!("IDEM#{key}"), "IDEM")
    }

    fn pending(account: &AccountId) -> Self {
        Key::new(format!("ACCOUNT#{account}"), "PENDING")
    }

    /// One send counted in the account's [`Key::pending`] counter.
    fn admitted(account: &AccountId, message_id: &str) -> Self {
        Key::new(
            format!("ACCOUNT#{account}"),
            format!("ADMITTED#{message_id}"),
        )
    }

    fn rate(sender: &str) -> Self {
        Key::new(format!("RATE#{sender}"), "RATE")
    }

    fn goal(account: &AccountId, call_name: &str) -> Self {
        Key::new(
            format!("ACCOUNT#{account}"),
            format!("{GOAL_PREFIX}{call_name}"),
        )
    }

    fn contact(account: &AccountId, phone: &PhoneNumber) -> Self {
        Key::new(format!("CONTACT#{account}#{}", phone.as_str()), "CONTACT")
    }

    /// The key attributes alone, for GetItem/DeleteItem/UpdateItem, or as the start of an item.
    /// The key as the map key of [`DynamoStore::batch_get`]'s answer.
    fn pair(&self) -> (String, String) {
        (self.pk.clone(), self.sk.clone())
    }

    fn item(&self) -> Item {
        HashMap::from([
            ("pk".to_string(), s(&self.pk)),
            ("sk".to_string(), s(&self.sk)),
        ])
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}

const ACCOUNT_INDEX_PK: &str = "ACCOUNTS";
const MESSAGE_PREFIX: &str = "MSG#";
const GOAL_PREFIX: &str = "GOAL#";

fn conversation_pk(account: &AccountId, phone: &PhoneNumber) -> String {
    format!("CONV#{account}#{}", phone.as_str())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key of a stored item, for error messages about it.
fn describe(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}/{}", part("pk"), part("sk"))
}

fn corrupt(item: &Item, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: describe(item),
        detail: detail.into(),
    }
}

fn string_attr<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    optional_string_attr(item, name)?
        .ok_or_else(|| corrupt(item, format!("attribute {name} is missing")))
}

fn optional_string_attr<'a>(item: &'a Item, name: &str) -> StoreResult<Option<&'a str>> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
        Some(_) => Err(corrupt(item, format!("attribute {name} is not a string"))),
    }
}

fn number_attr(item: &Item, name: &str) -> StoreResult<i64> {
    optional_number_attr(item, name)?
        .ok_or_else(|| corrupt(item, format!("attribute {name} is missing")))
}

fn optional_number_attr(item: &Item, name: &str) -> StoreResult<Option<i64>> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt(item, format!("attribute {name} is not an integer: {v}"))),
        Some(_) => Err(corrupt(item, format!("attribute {name} is not a number"))),
    }
}

fn timestamp_attr(item: &Item, name: &str) -> StoreResult<Timestamp> {
    number_attr(item, name).map(Timestamp::from_millis)
}

/// Decodes the JSON payload in `data`.
fn decode<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let json = string_attr(item, "data")?;
    serde_json::from_str(json).map_err(|e| corrupt(item, format!("data: {e}")))
}

/// Encodes a payload for `data`. Our types always serialise; a failure means a bug, reported
/// against the item it was meant for.
fn encode<T: Serialize>(value: &T, key: &Key) -> StoreResult<AttributeValue> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            detail: format!("cannot encode: {e}"),
        })
}

/// A key-plus-attributes item.
fn item_with(
    key: &Key,
    attributes: impl IntoIterator<Item = (&'static str, AttributeValue)>,
) -> Item {
    let mut item = key.item();
    item.extend(attributes.into_iter().map(|(k, v)| (k.to_string(), v)));
    item
}

/// The attributes every expiring item carries: milliseconds for our reads, seconds for TTL.
fn expiry_attributes(expires_at: Timestamp) -> [(&'static str, AttributeValue); 2] {
    [
        ("expires_at_ms", n(expires_at.as_millis())),
        ("expires_at", n(expires_at.as_secs())),
    ]
}

fn is_live(item: &Item, now: Timestamp) -> StoreResult<bool> {
    Ok(timestamp_attr(item, "expires_at_ms")? > now)
}

// ---------------------------------------------------------------- errors

fn backend<E>(context: &str, err: &E) -> StoreError
where
    E: std::error::Error,
{
    StoreError::Backend(format!("DynamoDB {context}: {}", DisplayErrorContext(err)))
}

fn build_error(err: BuildError) -> StoreError {
    StoreError::Backend(format!("DynamoDB request could not be built: {err}"))
}

/// Operation errors that can say "your condition failed".
trait ConditionalError: std::error::Error + Sized + 'static {
    /// `Ok` with the item the condition saw (when the request asked for it) if the write's
    /// condition failed; `Err(self)` for any other error.
    fn into_condition_failure(self) -> Result<Option<Item>, Self>;
}

impl ConditionalError for PutItemError {
    fn into_condition_failure(self) -> Result<Option<Item>, Self> {
        match self {
            PutItemError::ConditionalCheckFailedException(e) => Ok(e.item),
            other => Err(other),
        }
    }
}

impl ConditionalError for UpdateItemError {
    fn into_condition_failure(self) -> Result<Option<Item>, Self> {
        match self {
            UpdateItemError::ConditionalCheckFailedException(e) => Ok(e.item),
            other => Err(other),
        }
    }
}

impl ConditionalError for DeleteItemError {
    fn into_condition_failure(self) -> Result<Option<Item>, Self> {
        match self {
            DeleteItemError::ConditionalCheckFailedException(e) => Ok(e.item),
            other => Err(other),
        }
    }
}

/// For a failed conditional write: `Ok(old item, if returned)` when its condition failed,
/// a backend error otherwise.
fn condition_failed<E, R>(context: &str, err: SdkError<E, R>) -> StoreResult<Option<Item>>
where
    E: ConditionalError,
    R: fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => service
            .into_err()
            .into_condition_failure()
            .map_err(|other| backend(context, &other)),
        other => Err(backend(context, &other)),
    }
}

/// For a failed transaction: one reason code per transaction item (in request order) when it
/// was cancelled, a backend error otherwise.
fn cancellation_reasons<R>(
    context: &str,
    err: SdkError<TransactWriteItemsError, R>,
) -> StoreResult<Vec<Option<String>>>
where
    R: fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => match service.into_err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => Ok(cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code().map(str::to_string))
                .collect()),
            other => Err(backend(context, &other)),
        },
        other => Err(backend(context, &other)),
    }
}

fn reason_is(reasons: &[Option<String>], index: usize, code: &str) -> bool {
    reasons.get(index).and_then(Option::as_deref) == Some(code)
}

fn cancelled_error(context: &str, reasons: &[Option<String>]) -> StoreError {
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r.as_deref().unwrap_or("None"))
        .collect();
    StoreError::Backend(format!(
        "DynamoDB {context}: transaction cancelled ({})",
        codes.join(", ")
    ))
}

// ---------------------------------------------------------------- request helpers

impl DynamoStore {
    /// Puts `item` unless a live (unexpired at `now`) item holds `key`; returns that holder
    /// instead. Carries "one active session" and "one claim per key".
    async fn put_unless_live(
        &self,
        key: &Key,
        item: Item,
        now: Timestamp,
    ) -> StoreResult<Option<Item>> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // An item is live while now < expires_at.
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms <= :now")
            .expression_attribute_values(":now", n(now.as_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(None),
            Err(err) => err,
        };
        match condition_failed(&format!("PutItem {key}"), err)? {
            Some(holder) => Ok(Some(holder)),
            None => {
                self.get(key, true).await?.map(Some).ok_or_else(|| {
                    StoreError::Backend(format!("{key} refused the write but is gone"))
                })
            }
        }
    }

    async fn get(&self, key: &Key, consistent: bool) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| backend(&format!("GetItem {key}"), &e))?;
        Ok(out.item)
    }

    /// The items at `keys` that exist, read strongly consistent in one BatchGetItem (and
    /// again for any keys DynamoDB leaves unprocessed under load), keyed by their keys.
    async fn batch_get(&self, keys: &[&Key]) -> StoreResult<HashMap<(String, String), Item>> {
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys.iter().map(|k| k.item()).collect()))
                .consistent_read(true)
                .build()
                .map_err(build_error)?,
        );
        let mut found = HashMap::new();
        while let Some(request) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| backend("BatchGetItem", &e))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let key = (
                    string_attr(&item, "pk")?.to_string(),
                    string_attr(&item, "sk")?.to_string(),
                );
                found.insert(key, item);
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
        }
        Ok(found)
    }

    async fn put(&self, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend("PutItem", &e))?;
        Ok(())
    }

    async fn delete(&self, key: &Key) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend(&format!("DeleteItem {key}"), &e))?;
        Ok(out.attributes.filter(|old| !old.is_empty()))
    }

    /// Every item of a partition (strongly consistent), optionally only the sort keys
    /// starting with `sk_prefix`, in sort-key order.
    async fn query_partition(&self, pk: &str, sk_prefix: Option<&str>) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start_key: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start_key.take());
            query = match sk_prefix {
                Some(prefix) => query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix)),
                None => query.key_condition_expression("pk = :pk"),
            };
            let out = query
                .send()
                .await
                .map_err(|e| backend(&format!("Query {pk}"), &e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start_key = Some(next),
                _ => return Ok(items),
            }
        }
    }

    fn transact_put(&self, item: Item, condition: &str) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// As [`Self::transact_put`], with one value the condition names.
    fn transact_put_with(
        &self,
        item: Item,
        condition: &str,
        value: (&str, AttributeValue),
    ) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_values(value.0, value.1)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>>
    {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }
}

// ---------------------------------------------------------------- accounts

/// What one optimistic attempt at a write did.
enum Attempt<T> {
    Done(T),
    /// A concurrent writer changed the items first: read again and retry.
    Raced,
}

impl DynamoStore {
    async fn number_owner(&self, number: &PhoneNumber) -> StoreResult<Option<AccountId>> {
        self.claim_owner(&Key::number(number)).await
    }

    async fn service_owner(&self, service: &str) -> StoreResult<Option<AccountId>> {
        self.claim_owner(&Key::service(service)).await
    }

    /// The account holding the claim item at `key` (a number's or a service's), if any.
    async fn claim_owner(&self, key: &Key) -> StoreResult<Option<AccountId>> {
        let Some(item) = self.get(key, true).await? else {
            return Ok(None);
        };
        let owner = string_attr(&item, "account_id")?;
        AccountId::parse(owner)
            .map(Some)
            .map_err(|e| corrupt(&item, e.to_string()))
    }

    /// A claim item (number or service) for account `me`, written unless another account
    /// holds it.
    fn claim(&self, key: &Key, me: &AttributeValue) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item_with(key, [("account_id", me.clone())])))
            .condition_expression("attribute_not_exists(pk) OR account_id = :me")
            .expression_attribute_values(":me", me.clone())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Deletes a claim item (number or service) if it is `me`'s: never another account's.
    fn release(&self, key: &Key, me: &AttributeValue) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .condition_expression("account_id = :me")
            .expression_attribute_values(":me", me.clone())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// One attempt at `put_account`: reads the account's current version, numbers and
    /// services, then writes the account, its index entry, its number and service claims and
    /// their releases in one transaction guarded by that version.
    async fn try_put_account(&self, account: &Account) -> StoreResult<Attempt<()>> {
        let key = Key::account(&account.id);
        let previous = self.get(&key, true).await?;
        let (previous_version, previous_numbers, previous_services) = match &previous {
            Some(item) => (
                Some(number_attr(item, "version")?),
                stored_numbers(item)?,
                stored_services(item)?,
            ),
            None => (None, BTreeSet::new(), BTreeSet::new()),
        };
        let numbers: BTreeSet<PhoneNumber> =
            account.numbers.iter().map(|n| n.number.clone()).collect();
        let released: Vec<&PhoneNumber> = previous_numbers.difference(&numbers).collect();
        let services = account.twilio.canonical_service_sids();
        let released_services: Vec<&String> = previous_services.difference(&services).collect();
        // The account and its index entry take 2 items of the transaction.
        let claims = numbers.len() + released.len() + services.len() + released_services.len();
        if claims + 2 > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooManyClaims {
                account: account.id.clone(),
                claims,
                limit: MAX_TRANSACTION_ITEMS - 2,
            });
        }
        let me = s(account.id.as_str());

        let account_item = item_with(
            &key,
            [
                ("data", encode(account, &key)?),
                (
                    "numbers",
                    AttributeValue::L(numbers.iter().map(|p| s(p.as_str())).collect()),
                ),
                (
                    "services",
                    AttributeValue::L(services.iter().map(s).collect()),
                ),
                ("version", n(previous_version.map_or(1, |v| v + 1))),
            ],
        );
        let mut account_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(account_item));
        account_put = match previous_version {
            Some(version) => account_put
                .condition_expression("version = :version")
                .expression_attribute_values(":version", n(version)),
            None => account_put.condition_expression("attribute_not_exists(pk)"),
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .put(account_put.build().map_err(build_error)?)
                .build(),
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(Key::account_index(&account.id).item()))
                        .build()
                        .map_err(build_error)?,
                )
                .build(),
        ];
        const FIRST_CLAIM: usize = 2;
        for number in &numbers {
            items.push(self.claim(&Key::number(number), &me)?);
        }
        let first_service_claim = items.len();
        for service in &services {
            items.push(self.claim(&Key::service(service), &me)?);
        }
        for number in &released {
            items.push(self.release(&Key::number(number), &me)?);
        }
        for service in &released_services {
            items.push(self.release(&Key::service(service), &me)?);
        }

        let context = format!("TransactWriteItems put_account {}", account.id);
        let err = match self.transact(items).await {
            Ok(()) => return Ok(Attempt::Done(())),
            Err(err) => err,
        };
        let reasons = cancellation_reasons(&context, err)?;
        for (i, number) in numbers.iter().enumerate() {
            if reason_is(&reasons, FIRST_CLAIM + i, CONDITION_FAILED) {
                return match self.number_owner(number).await? {
                    Some(owner) if owner != account.id => Err(StoreError::NumberTaken {
                        number: number.clone(),
                        owner,
                    }),
                    // Released since: try again.
                    _ => Ok(Attempt::Raced),
                };
            }
        }
        for (i, service) in services.iter().enumerate() {
            if reason_is(&reasons, first_service_claim + i, CONDITION_FAILED) {
                return match self.service_owner(service).await? {
                    Some(owner) if owner != account.id => Err(StoreError::ServiceTaken {
                        service: service.clone(),
                        owner,
                    }),
                    _ => Ok(Attempt::Raced),
                };
            }
        }
        let raced = reasons
            .iter()
            .flatten()
            .any(|code| CONFLICT_CODES.contains(&code.as_str()));
        if raced {
            Ok(Attempt::Raced)
        } else {
            Err(cancelled_error(&context, &reasons))
        }
    }
}

/// The numbers an account item claims (kept beside `data` so they can be released even if the
/// account's JSON no longer decodes).
fn stored_numbers(item: &Item) -> StoreResult<BTreeSet<PhoneNumber>> {
    let Some(value) = item.get("numbers") else {
        return Err(corrupt(item, "attribute numbers is missing"));
    };
    let AttributeValue::L(list) = value else {
        return Err(corrupt(item, "attribute numbers is not a list"));
    };
    list.iter()
        .map(|entry| match entry {
            AttributeValue::S(e164) => {
                PhoneNumber::parse_e164(e164).map_err(|e| corrupt(item, format!("numbers: {e}")))
            }
            _ => Err(corrupt(item, "numbers holds a non-string")),
        })
        .collect()
}

/// The Messaging Services an account item claims (like `numbers`, kept beside `data`). An
/// account stored before services were indexed has no such list and claims none.
fn stored_services(item: &Item) -> StoreResult<BTreeSet<String>> {
    let Some(value) = item.get("services") else {
        return Ok(BTreeSet::new());
    };
    let AttributeValue::L(list) = value else {
        return Err(corrupt(item, "attribute services is not a list"));
    };
    list.iter()
        .map(|entry| match entry {
            AttributeValue::S(service) => Ok(service.clone()),
            _ => Err(corrupt(item, "services holds a non-string")),
        })
        .collect()
}

// Accounts stored before Messaging Services were indexed claim none. The first lookup by
// service that misses claims them all, once per table: a scan of the accounts, then the
// `INDEX#messaging-services` item, so later misses cost one more read (none once this
// process has seen that item). Without it the index could not tell "no account lists this
// service" from "an older account lists it unclaimed" but by scanning on every miss, which
// an unsigned webhook could trigger at will (the account, and so the signature check,
// comes after the lookup).
impl DynamoStore {
    async fn services_indexed(&self) -> StoreResult<bool> {
        if self.services_indexed.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let indexed = self.get(&Key::services_indexed(), true).await?.is_some();
        if indexed {
            self.services_indexed.store(true, Ordering::Relaxed);
        }
        Ok(indexed)
    }

    /// Claims the services of every account stored without a `services` list, then records
    /// that the index is complete. Safe to run concurrently (each account's claims are
    /// written under its version) and to run again.
    async fn index_stored_services(&self) -> StoreResult<()> {
        for id in self.account_ids().await? {
            let mut indexed = false;
            for _ in 0..MAX_RACE_RETRIES {
                if let Attempt::Done(()) = self.try_index_account_services(&id).await? {
                    indexed = true;
                    break;
                }
            }
            if !indexed {
                return Err(StoreError::Backend(format!(
                    "account {id} kept changing while its Messaging Services were indexed; gave up after {MAX_RACE_RETRIES} attempts"
                )));
            }
        }
        self.put(Key::services_indexed().item()).await?;
        self.services_indexed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// One attempt at claiming the services of an account stored without a `services` list.
    /// The claims and the list are written with a new version, so a concurrent
    /// `put_account` that read the account before them retries and sees what to release.
    /// A service another account holds stays with it (the first by id, which the scan this
    /// index replaces found first): this account is refused it at its next `put_account`.
    async fn try_index_account_services(&self, id: &AccountId) -> StoreResult<Attempt<()>> {
        let key = Key::account(id);
        let Some(item) = self.get(&key, true).await? else {
            return Ok(Attempt::Done(()));
        };
        if item.contains_key("services") {
            return Ok(Attempt::Done(()));
        }
        let version = number_attr(&item, "version")?;
        let account: Account = decode(&item)?;
        let mut claimable = Vec::new();
        for service in account.twilio.canonical_service_sids() {
            match self.service_owner(&service).await? {
                Some(owner) if owner != *id => tracing::warn!(
                    account = %id,
                    %owner,
                    service,
                    "two stored accounts list one Messaging Service: it stays with the first"
                ),
                _ => claimable.push(service),
            }
        }
        if claimable.is_empty() {
            return Ok(Attempt::Done(()));
        }
        if claimable.len() + 1 > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooManyClaims {
                account: id.clone(),
                claims: claimable.len(),
                limit: MAX_TRANSACTION_ITEMS - 1,
            });
        }
        let me = s(id.as_str());
        let list = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression("SET services = :services, version = :next")
            .condition_expression("version = :version")
            .expression_attribute_values(
                ":services",
                AttributeValue::L(claimable.iter().map(s).collect()),
            )
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":version", n(version))
            .build()
            .map_err(build_error)?;
        let mut items = vec![TransactWriteItem::builder().update(list).build()];
        for service in &claimable {
            items.push(self.claim(&Key::service(service), &me)?);
        }
        let context = format!("TransactWriteItems index services of {id}");
        let err = match self.transact(items).await {
            Ok(()) => return Ok(Attempt::Done(())),
            Err(err) => err,
        };
        let reasons = cancellation_reasons(&context, err)?;
        let raced = reasons
            .iter()
            .flatten()
            .any(|code| CONFLICT_CODES.contains(&code.as_str()));
        if raced {
            Ok(Attempt::Raced)
        } else {
            Err(cancelled_error(&context, &reasons))
        }
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn put_account(&self, account: &Account) -> StoreResult<()> {
        for _ in 0..MAX_RACE_RETRIES {
            if let Attempt::Done(()) = self.try_put_account(account).await? {
                return Ok(());
            }
        }
        Err(StoreError::Backend(format!(
            "account {} kept changing concurrently; gave up after {MAX_RACE_RETRIES} attempts",
            account.id
        )))
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        self.get(&Key::account(id), true)
            .await?
            .map(|item| decode(&item))
            .transpose()
    }

    async fn account_by_number(&self, number: &PhoneNumber) -> StoreResult<Option<Account>> {
        match self.number_owner(number).await? {
            Some(owner) => self.account(&owner).await,
            None => Ok(None),
        }
    }

    async fn account_by_messaging_service(
        &self,
        service_sid: &str,
    ) -> StoreResult<Option<Account>> {
        let service = canonical_service_sid(service_sid);
        if let Some(owner) = self.service_owner(&service).await? {
            return self.account(&owner).await;
        }
        if self.services_indexed().await? {
            return Ok(None);
        }
        self.index_stored_services().await?;
        match self.service_owner(&service).await? {
            Some(owner) => self.account(&owner).await,
            None => Ok(None),
        }
    }

    async fn account_ids(&self) -> StoreResult<Vec<AccountId>> {
        let mut ids = self
            .query_partition(ACCOUNT_INDEX_PK, None)
            .await?
            .iter()
            .map(|item| {
                let id = string_attr(item, "sk")?;
                AccountId::parse(id).map_err(|e| corrupt(item, e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }
}

// ---------------------------------------------------------------- conversations

fn message_item(message: &MessageRecord) -> StoreResult<Item> {
    let key = Key::message(&message.account, &message.contact_phone, &message.id);
    let mut item = item_with(
        &key,
        [
            ("data", encode(message, &key)?),
            ("status", s(message.status.as_str())),
            ("status_rank", n(message.status.rank())),
            ("updated_at", n(message.updated_at.as_millis())),
        ],
    );
    if let Some(sid) = &message.provider_sid {
        item.insert("provider_sid".into(), s(sid));
    }
    if let Some(code) = message.error_code {
        item.insert("error_code".into(), n(code));
    }
    Ok(item)
}

/// A message as stored: `data`, with the attributes conditional updates change laid over it.
fn decode_message(item: &Item) -> StoreResult<MessageRecord> {
    let mut message: MessageRecord = decode(item)?;
    let status = string_attr(item, "status")?;
    message.status = status
        .parse::<MessageStatus>()
        .map_err(|e| corrupt(item, e.to_string()))?;
    message.updated_at = timestamp_attr(item, "updated_at")?;
    message.provider_sid = optional_string_attr(item, "provider_sid")?.map(str::to_string);
    if let Some(routing) = optional_string_attr(item, "routing")? {
        message.routing =
            Some(serde_json::from_str(routing).map_err(|e| corrupt(item, e.to_string()))?);
    }
    message.error_code = optional_number_attr(item, "error_code")?
        .map(|code| {
            u32::try_from(code)
                .map_err(|_| corrupt(item, format!("error_code {code} out of range")))
        })
        .transpose()?;
    Ok(message)
}

fn sid_pointer_item(provider_sid: &str, message: &Key) -> Item {
    item_with(
        &Key::sid(provider_sid),
        [("msg_pk", s(&message.pk)), ("msg_sk", s(&message.sk))],
    )
}

impl DynamoStore {
    /// The key of the message a provider SID points at.
    async fn message_key_by_sid(&self, provider_sid: &str) -> StoreResult<Option<Key>> {
        let Some(pointer) = self.get(&Key::sid(provider_sid), true).await? else {
            return Ok(None);
        };
        Ok(Some(Key::new(
            string_attr(&pointer, "msg_pk")?,
            string_attr(&pointer, "msg_sk")?,
        )))
    }

    /// Sets an error code the message does not have yet (status unchanged).
    async fn keep_first_error_code(&self, message: &Key, error_code: u32) -> StoreResult<Item> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(message.item()))
            .update_expression("SET error_code = if_not_exists(error_code, :ec)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":ec", n(error_code))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| backend(&format!("UpdateItem {message}"), &e))?;
        out.attributes
            .ok_or_else(|| StoreError::Backend(format!("UpdateItem {message} returned no item")))
    }
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn record_message(&self, message: &MessageRecord) -> StoreResult<Recorded> {
        let key = Key::message(&message.account, &message.contact_phone, &message.id);
        let mut items =
            vec![self.transact_put(message_item(message)?, "attribute_not_exists(pk)")?];
        if let Some(sid) = &message.provider_sid {
            items.push(self.transact_put(sid_pointer_item(sid, &key), "attribute_not_exists(pk)")?);
        }
        let message_items = items.len();
        items.push(self.conversation_summary_put(message)?);
        let context = format!("TransactWriteItems record_message {key}");
        // At most twice: the second time without the summary, when a newer message already
        // is the conversation's latest.
        loop {
            let with_summary = items.len() > message_items;
            let err = match self.transact(items.clone()).await {
                Ok(()) => return Ok(Recorded::New),
                Err(err) => err,
            };
            let reasons = cancellation_reasons(&context, err)?;
            if (0..message_items).any(|i| reason_is(&reasons, i, CONDITION_FAILED)) {
                return Ok(Recorded::Duplicate);
            }
            if with_summary && reason_is(&reasons, message_items, CONDITION_FAILED) {
                items.truncate(message_items);
                continue;
            }
            return Err(cancelled_error(&context, &reasons));
        }
    }

    async fn conversation(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        let pk = conversation_pk(account, phone);
        let mut messages = Vec::new();
        let mut start_key: Option<Item> = None;
        // A page can stop short of `Limit` (1 MB cap), so keep going until enough are read.
        while messages.len() < limit {
            let remaining = i32::try_from(limit - messages.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s(MESSAGE_PREFIX))
                .scan_index_forward(false)
                .limit(remaining)
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| backend(&format!("Query {pk}"), &e))?;
            for item in out.items.unwrap_or_default() {
                messages.push(decode_message(&item)?);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start_key = Some(next),
                _ => break,
            }
        }
        messages.truncate(limit);
        Ok(messages)
    }

    async fn message_by_sid(&self, provider_sid: &str) -> StoreResult<Option<MessageRecord>> {
        let Some(key) = self.message_key_by_sid(provider_sid).await? else {
            return Ok(None);
        };
        match self.get(&key, true).await? {
            Some(item) => decode_message(&item).map(Some),
            None => Err(StoreError::Corrupt {
                key: Key::sid(provider_sid).to_string(),
                detail: format!("points at missing message {key}"),
            }),
        }
    }

    async fn message(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let key = Key::message(account, phone, message_id);
        self.get(&key, true)
            .await?
            .map(|item| decode_message(&item))
            .transpose()
    }

    async fn attach_provider_sid(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        provider_sid: &str,
    ) -> StoreResult<()> {
        let key = Key::message(account, phone, message_id);
        // The pointer may already exist only for this very message (a repeated attach).
        let pointer = Put::builder()
            .table_name(&self.table)
            .set_item(Some(sid_pointer_item(provider_sid, &key)))
            .condition_expression(
                "attribute_not_exists(pk) OR (msg_pk = :msg_pk AND msg_sk = :msg_sk)",
            )
            .expression_attribute_values(":msg_pk", s(&key.pk))
            .expression_attribute_values(":msg_sk", s(&key.sk))
            .build()
            .map_err(build_error)?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression("SET provider_sid = :sid")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":sid", s(provider_sid))
            .build()
            .map_err(build_error)?;
        let items = vec![
            TransactWriteItem::builder().put(pointer).build(),
            TransactWriteItem::builder().update(update).build(),
        ];
        let err = match self.transact(items).await {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        let context = format!("TransactWriteItems attach_provider_sid {key}");
        let reasons = cancellation_reasons(&context, err)?;
        if reason_is(&reasons, 1, CONDITION_FAILED) {
            Err(StoreError::NotFound(format!("message {message_id}")))
        } else if reason_is(&reasons, 0, CONDITION_FAILED) {
            // Provider SIDs are unique per message: this is an inconsistency, not a retry case.
            Err(StoreError::Backend(format!(
                "provider SID {provider_sid} already belongs to another message than {key}"
            )))
        } else {
            Err(cancelled_error(&context, &reasons))
        }
    }

    async fn record_routing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        routing: &RoutingDecision,
    ) -> StoreResult<()> {
        let key = Key::message(account, phone, message_id);
        let json = serde_json::to_string(routing).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            detail: e.to_string(),
        })?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            // A separate attribute, laid over `data` on reads like the status.
            .update_expression("SET routing = :routing")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":routing", s(&json))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                // Only a failed condition (no such message) gets past this line.
                condition_failed(&format!("UpdateItem {key}"), err)?;
                Err(StoreError::NotFound(format!("message {message_id}")))
            }
        }
    }

    async fn apply_status(
        &self,
        provider_sid: &str,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate> {
        let Some(key) = self.message_key_by_sid(provider_sid).await? else {
            return Ok(StatusUpdate::UnknownSid);
        };
        self.apply_status_at(&key, status, error_code, at)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                key: Key::sid(provider_sid).to_string(),
                detail: format!("points at missing message {key}"),
            })
    }

    async fn apply_status_by_id(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate> {
        let key = Key::message(account, phone, message_id);
        Ok(self
            .apply_status_at(&key, status, error_code, at)
            .await?
            .unwrap_or(StatusUpdate::UnknownSid))
    }
}

/// `:end0`...: the statuses nothing follows ([`MessageStatus::ENDS`]), in a condition.
const END_PLACEHOLDERS: [&str; MessageStatus::ENDS.len()] =
    [":end0", ":end1", ":end2", ":end3", ":end4"];

impl DynamoStore {
    /// Moves the message at `key` forward (never back) and keeps its first error code;
    /// `None` when there is no message there.
    async fn apply_status_at(
        &self,
        key: &Key,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<Option<StatusUpdate>> {
        let mut update =
            String::from("SET #status = :status, status_rank = :rank, updated_at = :at");
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .condition_expression(format!(
                "attribute_exists(pk) AND status_rank < :rank AND NOT (#status IN ({}))",
                END_PLACEHOLDERS.join(", ")
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":rank", n(status.rank()))
            .expression_attribute_values(":at", n(at.as_millis()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, end) in END_PLACEHOLDERS.iter().zip(MessageStatus::ENDS) {
            request = request.expression_attribute_values(*placeholder, s(end.as_str()));
        }
        if let Some(code) = error_code {
            update.push_str(", error_code = if_not_exists(error_code, :ec)");
            request = request.expression_attribute_values(":ec", n(code));
        }
        let context = format!("UpdateItem {key}");
        match request.update_expression(update).send().await {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Backend(format!("{context} returned no item")))?;
                Ok(Some(StatusUpdate::Advanced(decode_message(&item)?)))
            }
            Err(err) => {
                let seen = match condition_failed(&context, err)? {
                    Some(item) => item,
                    None => match self.get(key, true).await? {
                        Some(item) => item,
                        None => return Ok(None),
                    },
                };
                self.not_progress(key, &seen, error_code).await.map(Some)
            }
        }
    }

    /// A status that is not progress for the message `seen` at `key`: nothing changes,
    /// except that a failure without an error code keeps this one (failures are ends, so
    /// the status cannot change under this write).
    async fn not_progress(
        &self,
        key: &Key,
        seen: &Item,
        error_code: Option<u32>,
    ) -> StoreResult<StatusUpdate> {
        let seen = decode_message(seen)?;
        let current = match error_code {
            Some(code) if seen.error_code.is_none() && seen.status.takes_late_error_code() => {
                decode_message(&self.keep_first_error_code(key, code).await?)?
            }
            _ => seen,
        };
        Ok(StatusUpdate::Unchanged(current))
    }
}

// ---------------------------------------------------------------- consent

#[async_trait]
impl ConsentStore for DynamoStore {
    async fn set_consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &ConsentRecord,
    ) -> StoreResult<bool> {
        let key = Key::consent(account, phone);
        let item = optout::consent_item(account, phone, record)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR changed_at < :changed_at")
            .expression_attribute_values(":changed_at", n(record.changed_at.as_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => condition_failed(&format!("PutItem {key}"), err).map(|_| false),
        }
    }

    async fn consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<Option<ConsentRecord>> {
        self.get(&Key::consent(account, phone), true)
            .await?
            .map(|item| decode(&item))
            .transpose()
    }
}

// ---------------------------------------------------------------- sequence sessions

fn session_item(key: &Key, session: &SessionRecord) -> StoreResult<Item> {
    let [expires_ms, expires_s] = expiry_attributes(session.expires_at);
    Ok(item_with(
        key,
        [
            ("data", encode(session, key)?),
            ("session_id", s(&session.session_id)),
            ("revision", n(session.revision)),
            expires_ms,
            expires_s,
        ],
    ))
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn start_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
        now: Timestamp,
    ) -> StoreResult<SessionStart> {
        let key = Key::session(account, phone);
        let item = session_item(&key, session)?;
        let Some(holder) = self.put_unless_live(&key, item, now).await? else {
            return Ok(SessionStart::Started);
        };
        Ok(SessionStart::AlreadyActive(decode(&holder)?))
    }

    async fn active_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        match self.get(&Key::session(account, phone), true).await? {
            Some(item) if is_live(&item, now)? => decode(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn update_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
    ) -> StoreResult<bool> {
        let key = Key::session(account, phone);
        // Revision 0 is the start: there is no update that writes it.
        let Some(read_revision) = session.revision.checked_sub(1) else {
            return Ok(false);
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(&key, session)?))
            .condition_expression("session_id = :session_id AND revision = :read_revision")
            .expression_attribute_values(":session_id", s(&session.session_id))
            .expression_attribute_values(":read_revision", n(read_revision))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => condition_failed(&format!("PutItem {key}"), err).map(|_| false),
        }
    }

    async fn end_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session_id: &str,
    ) -> StoreResult<bool> {
        let key = Key::session(account, phone);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .condition_expression("session_id = :session_id")
            .expression_attribute_values(":session_id", s(session_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => condition_failed(&format!("DeleteItem {key}"), err).map(|_| false),
        }
    }
}

// ---------------------------------------------------------------- pacing

/// Milliseconds of a cost, rounded up so a sender is never paced faster than its rate.
fn cost_millis(cost: Duration) -> i64 {
    let millis = cost.as_nanos().div_ceil(1_000_000);
    i64::try_from(millis).unwrap_or(i64::MAX)
}

#[async_trait]
impl RateStore for DynamoStore {
    /// Two atomic updates instead of read-compute-write: an idle sender (next free time not
    /// after `now`) is set to `now + cost` and sends at `now`; a busy one has `cost` added and
    /// sends at the old next free time. Each is one conditional write, so concurrent
    /// reservations serialise in DynamoDB without retry storms.
    async fn reserve_send_slot(
        &self,
        sender: &str,
        cost: Duration,
        now: Timestamp,
    ) -> StoreResult<Timestamp> {
        let key = Key::rate(sender);
        let cost = cost_millis(cost);
        let context = format!("UpdateItem {key}");
        for _ in 0..MAX_RACE_RETRIES {
            let idle = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.item()))
                .update_expression("SET next_free_ms = :next")
                .condition_expression("attribute_not_exists(next_free_ms) OR next_free_ms <= :now")
                .expression_attribute_values(":next", n(now.as_millis().saturating_add(cost)))
                .expression_attribute_values(":now", n(now.as_millis()))
                .send()
                .await;
            match idle {
                Ok(_) => return Ok(now),
                Err(err) => {
                    condition_failed(&context, err)?;
                }
            }
            let busy = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.item()))
                .update_expression("ADD next_free_ms :cost")
                .condition_expression("next_free_ms > :now")
                .expression_attribute_values(":cost", n(cost))
                .expression_attribute_values(":now", n(now.as_millis()))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match busy {
                Ok(out) => {
                    let item = out.attributes.ok_or_else(|| {
                        StoreError::Backend(format!("{context} returned no attributes"))
                    })?;
                    let next_free = number_attr(&item, "next_free_ms")?;
                    return Ok(Timestamp::from_millis(next_free.saturating_sub(cost)));
                }
                // The state vanished in between (deleted by hand): start over.
                Err(err) => {
                    condition_failed(&context, err)?;
                }
            }
        }
        Err(StoreError::Backend(format!(
            "rate state {key} kept changing; gave up after {MAX_RACE_RETRIES} attempts"
        )))
    }
}

// ---------------------------------------------------------------- CRM support

#[async_trait]
impl GoalStore for DynamoStore {
    async fn disable_goal(&self, account: &AccountId, call_name: &str) -> StoreResult<()> {
        let key = Key::goal(account, call_name);
        self.put(item_with(&key, [("call_name", s(call_name))]))
            .await
    }

    async fn disabled_goals(&self, account: &AccountId) -> StoreResult<BTreeSet<String>> {
        self.query_partition(&Key::account(account).pk, Some(GOAL_PREFIX))
            .await?
            .iter()
            .map(|item| string_attr(item, "call_name").map(str::to_string))
            .collect()
    }

    async fn reset_disabled_goals(&self, account: &AccountId) -> StoreResult<usize> {
        let goals = self
            .query_partition(&Key::account(account).pk, Some(GOAL_PREFIX))
            .await?;
        let mut removed = 0;
        for item in &goals {
            let key = Key::new(string_attr(item, "pk")?, string_attr(item, "sk")?);
            // Count only what this call deleted, so concurrent resets do not double count.
            if self.delete(&key).await?.is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl ContactCache for DynamoStore {
    async fn cache_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        contact: &CachedContact,
    ) -> StoreResult<()> {
        let key = Key::contact(account, phone);
        let [expires_ms, expires_s] = expiry_attributes(contact.expires_at);
        let data = encode(&contact.contact, &key)?;
        self.put(item_with(&key, [("data", data), expires_ms, expires_s]))
            .await
    }

    async fn cached_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<CachedContact>> {
        // A cache: an eventually consistent read is good enough and half the price.
        match self.get(&Key::contact(account, phone), false).await? {
            Some(item) if is_live(&item, now)? => Ok(Some(CachedContact {
                contact: decode(&item)?,
                expires_at: timestamp_attr(&item, "expires_at_ms")?,
            })),
            _ => Ok(None),
        }
    }

    async fn forget_contact(&self, account: &AccountId, phone: &PhoneNumber) -> StoreResult<()> {
        self.delete(&Key::contact(account, phone)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_rounds_up_to_whole_milliseconds() {
        let cases = [
            (Duration::ZERO, 0),
            (Duration::from_millis(250), 250),
            (Duration::from_secs(1) / 3, 334),
            (Duration::from_micros(1), 1),
        ];
        for (cost, millis) in cases {
            assert_eq!(cost_millis(cost), millis, "{cost:?}");
        }
    }

    #[test]
    fn decodes_message_attributes_over_data() {
        let message = MessageRecord {
            id: "01J00000000000000000000001".into(),
            account: AccountId::parse("acme").expect("valid id"),
            contact_phone: PhoneNumber::parse_e164("+14155552671").expect("valid phone"),
            our_sender: "+14155552672".into(),
            direction: crate::domain::Direction::Outbound,
            body: "hi".into(),
            media_urls: vec![],
            status: MessageStatus::Queued,
            provider_sid: None,
            error_code: None,
            user_id: None,
            campaign: None,
            created_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(1),
            contact_id: None,
            routing: None,
        };
        let mut item = message_item(&message).expect("encodes");
        item.insert("status".into(), s("delivered"));
        item.insert("error_code".into(), n(30003));
        item.insert("provider_sid".into(), s("SM1"));
        item.insert("updated_at".into(), n(9));
        let decoded = decode_message(&item).expect("decodes");
        assert_eq!(decoded.status, MessageStatus::Delivered);
        assert_eq!(decoded.error_code, Some(30003));
        assert_eq!(decoded.provider_sid.as_deref(), Some("SM1"));
        assert_eq!(decoded.updated_at, Timestamp::from_millis(9));

        item.insert("status".into(), s("lost"));
        assert!(matches!(
            decode_message(&item),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
