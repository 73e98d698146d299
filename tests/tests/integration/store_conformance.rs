//! The storage conformance suite against every `Store` backend.
//!
//! DynamoDB runs against moto: set `SMSFLOW_TEST_AWS_ENDPOINT` (see `smsflow_tests::moto`).

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use smsflow_shared::adapters::embedded::{DbError, EmbeddedDb, EmbeddedStore};
use smsflow_tests::conformance::store::{
    claims_without_account_copies_still_find_it, stored_accounts_without_service_claims_are_indexed,
};
use smsflow_tests::moto::sdk_config;
use smsflow_tests::store_conformance;
use smsflow_tests::stores::{fresh_dynamo_store, fresh_embedded_store};

store_conformance!(dynamodb, async {
    Arc::new(fresh_dynamo_store("store").await)
});
store_conformance!(embedded, async { Arc::new(fresh_embedded_store()) });

// What versions before the Messaging Service index stored: accounts without service claims.
// Each hook removes the claims and the "index built" marker, in the backend's own layout.

#[tokio::test]
async fn dynamodb_accounts_stored_without_service_claims_are_indexed() {
    let store = fresh_dynamo_store("legacy").await;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = store.table().to_string();
    let forget = || async {
        let items = client
            .scan()
            .table_name(&table)
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default();
        for item in items {
            let pk = match item.get("pk") {
                Some(AttributeValue::S(pk)) => pk.clone(),
                other => panic!("item without a string pk: {other:?}"),
            };
            let key: HashMap<String, AttributeValue> = ["pk", "sk"]
                .into_iter()
                .map(|k| (k.to_string(), item[k].clone()))
                .collect();
            if pk.starts_with("SERVICE#") || pk.starts_with("INDEX#") {
                client
                    .delete_item()
                    .table_name(&table)
                    .set_key(Some(key))
                    .send()
                    .await
                    .expect("delete claim");
            } else if pk.starts_with("ACCOUNT#") && item.contains_key("services") {
                client
                    .update_item()
                    .table_name(&table)
                    .set_key(Some(key))
                    .update_expression("REMOVE services")
                    .send()
                    .await
                    .expect("remove the services list");
            }
        }
    };
    stored_accounts_without_service_claims_are_indexed(&store, forget).await;
}

#[tokio::test]
async fn embedded_accounts_stored_without_service_claims_are_indexed() {
    let db = EmbeddedDb::in_memory().expect("in-memory database");
    let store = EmbeddedStore::new(db.clone());
    let forget = || async {
        db.write(|tx| {
            for table in ["store_services", "store_indexes"] {
                tx.delete_table(redb::TableDefinition::<&str, &str>::new(table))
                    .map_err(DbError::from)?;
            }
            Ok::<_, DbError>(())
        })
        .await
        .expect("forget the service claims");
    };
    stored_accounts_without_service_claims_are_indexed(&store, forget).await;
}

/// Every item of the table whose `pk` starts with one of `prefixes`.
async fn items_under(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    prefixes: &[&str],
) -> Vec<HashMap<String, AttributeValue>> {
    let items = client
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    items
        .into_iter()
        .filter(|item| match item.get("pk") {
            Some(AttributeValue::S(pk)) => prefixes.iter().any(|p| pk.starts_with(p)),
            other => panic!("item without a string pk: {other:?}"),
        })
        .collect()
}

// What versions before the account copy stored: number and service claims holding only the
// account's id. The hook removes the copies.

#[tokio::test]
async fn dynamodb_claims_without_account_copies_still_find_it() {
    let store = fresh_dynamo_store("nocopy").await;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = store.table().to_string();
    let claims = ["NUMBER#", "SERVICE#"];
    let strip = || async {
        for item in items_under(&client, &table, &claims).await {
            let key: HashMap<String, AttributeValue> = ["pk", "sk"]
                .into_iter()
                .map(|k| (k.to_string(), item[k].clone()))
                .collect();
            client
                .update_item()
                .table_name(&table)
                .set_key(Some(key))
                .update_expression("REMOVE #data")
                .expression_attribute_names("#data", "data")
                .send()
                .await
                .expect("remove the copy");
        }
    };
    claims_without_account_copies_still_find_it(&store, strip).await;
    // `put_account` (`smsflow accounts push`) wrote the copies again.
    let rewritten = items_under(&client, &table, &claims).await;
    assert!(!rewritten.is_empty());
    for item in rewritten {
        assert!(item.contains_key("data"), "{item:?}");
    }
}
