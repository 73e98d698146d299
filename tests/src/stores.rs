//! A fresh store of each backend, for the suites that run against both: a `DynamoStore`
//! on a table of its own in moto, an `EmbeddedStore` on an in-memory database.

use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedStore};

use crate::moto::{serialized_sdk_config, unique_name};

/// A `DynamoStore` on a fresh table of its own (named after `name`).
pub async fn fresh_dynamo_store(name: &str) -> DynamoStore {
    let config = serialized_sdk_config(None).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique_name(name);
    create_table(&client, &table)
        .await
        .expect("create the test table in moto");
    DynamoStore::new(client, table)
}

/// An `EmbeddedStore` on a fresh in-memory redb database.
pub fn fresh_embedded_store() -> EmbeddedStore {
    EmbeddedStore::new(EmbeddedDb::in_memory().expect("in-memory database"))
}
