//! The credential store conformance suite against every backend that keeps Keap's rotating
//! OAuth refresh tokens.
//!
//! DynamoDB runs against moto: set `SMSFLOW_TEST_AWS_ENDPOINT` (see `smsflow_tests::moto`).

use std::sync::Arc;

use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedStore};
use smsflow_shared::ports::CredentialStore;
use smsflow_tests::aws_app::fresh_dynamo_store;
use smsflow_tests::credential_conformance;

/// A `DynamoStore` on a fresh table of its own.
async fn dynamo_credentials() -> Arc<dyn CredentialStore> {
    Arc::new(fresh_dynamo_store("credentials").await)
}

/// An `EmbeddedStore` on a fresh in-memory redb database.
async fn embedded_credentials() -> Arc<dyn CredentialStore> {
    let db = EmbeddedDb::in_memory().expect("in-memory database");
    Arc::new(EmbeddedStore::new(db))
}

credential_conformance!(dynamodb, dynamo_credentials());
credential_conformance!(embedded, embedded_credentials());
