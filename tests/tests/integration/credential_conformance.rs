//! The credential store conformance suite against every backend that keeps Keap's rotating
//! OAuth refresh tokens.
//!
//! DynamoDB runs against moto: set `SMSFLOW_TEST_AWS_ENDPOINT` (see `smsflow_tests::moto`).

use std::sync::Arc;

use smsflow_tests::credential_conformance;
use smsflow_tests::stores::{fresh_dynamo_store, fresh_embedded_store};

credential_conformance!(dynamodb, async {
    Arc::new(fresh_dynamo_store("credentials").await)
});
credential_conformance!(embedded, async { Arc::new(fresh_embedded_store()) });
