//! The storage conformance suite against every `Store` backend.
//!
//! DynamoDB runs against moto: set `SMSFLOW_TEST_AWS_ENDPOINT` (see `smsflow_tests::moto`).

use std::sync::Arc;

use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedStore};
use smsflow_shared::ports::Store;
use smsflow_tests::moto::{serialized_sdk_config, unique_name};
use smsflow_tests::store_conformance;

/// A `DynamoStore` on a fresh table of its own.
async fn dynamo_store() -> Arc<dyn Store> {
    let config = serialized_sdk_config(None).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique_name("store");
    create_table(&client, &table)
        .await
        .expect("create the test table in moto");
    Arc::new(DynamoStore::new(client, table))
}

/// An `EmbeddedStore` on a fresh in-memory redb database.
async fn embedded_store() -> Arc<dyn Store> {
    let db = EmbeddedDb::in_memory().expect("in-memory database");
    Arc::new(EmbeddedStore::new(db))
}

store_conformance!(dynamodb, dynamo_store());
store_conformance!(embedded, embedded_store());
