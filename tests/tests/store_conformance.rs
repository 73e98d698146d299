//! The storage conformance suite against every `Store` backend.
//!
//! DynamoDB runs against moto: set `SMSFLOW_TEST_AWS_ENDPOINT` (see `smsflow_tests::moto`).

use std::sync::Arc;

use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedStore};
use smsflow_shared::ports::Store;
use smsflow_tests::aws_app::fresh_dynamo_store;
use smsflow_tests::store_conformance;

/// A `DynamoStore` on a fresh table of its own.
async fn dynamo_store() -> Arc<dyn Store> {
    Arc::new(fresh_dynamo_store("store").await)
}

/// An `EmbeddedStore` on a fresh in-memory redb database.
async fn embedded_store() -> Arc<dyn Store> {
    let db = EmbeddedDb::in_memory().expect("in-memory database");
    Arc::new(EmbeddedStore::new(db))
}

store_conformance!(dynamodb, dynamo_store());
store_conformance!(embedded, embedded_store());
