//! The credential store conformance suite against every backend that keeps Keap's rotating
//! OAuth refresh tokens.
//!
//! DynamoDB runs against moto: set `SMSFLOW_TEST_AWS_ENDPOINT` (see `smsflow_tests::moto`).

use std::sync::Arc;

use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedStore};
use smsflow_shared::ports::CredentialStore;
use smsflow_tests::credential_conformance;
use smsflow_tests::moto::{serialized_sdk_config, unique_name};

/// A `DynamoStore` on a fresh table of its own.
async fn dynamo_credentials() -> Arc<dyn CredentialStore> {
    let config = serialized_sdk_config(None).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique_name("credentials");
    create_table(&client, &table)
        .await
        .expect("create the test table in moto");
    Arc::new(DynamoStore::new(client, table))
}

/// An `EmbeddedStore` on a fresh in-memory redb database.
async fn embedded_credentials() -> Arc<dyn CredentialStore> {
    let db = EmbeddedDb::in_memory().expect("in-memory database");
    Arc::new(EmbeddedStore::new(db))
}

credential_conformance!(dynamodb, dynamo_credentials());
credential_conformance!(embedded, embedded_credentials());
