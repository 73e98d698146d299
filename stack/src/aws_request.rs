//! What an AWS API request asks IAM for: the caller's access key, and each action and
//! resource ARN the request is authorised as — DynamoDB and SQS by their JSON protocol's
//! `X-Amz-Target` and body (a transaction is authorised item by item, as DynamoDB does),
//! SES v2 by its REST path, S3's GetObject and PutObject by their path-style URLs (signed
//! in a header, or in the query of a pre-signed URL). A request the runner cannot read is refused, never waved through.

use serde_json::Value;

/// Where the stack lives, for building ARNs.
#[derive(Debug, Clone)]
pub struct Partition {
    pub region: String,
    pub account_id: String,
}

/// One action IAM must allow on one of `resources` (SES accepts a send that either the
/// address's or the domain's identity allows; everything else names one resource).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub action: String,
    pub resources: Vec<String>,
}

/// A request read for authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorisation {
    /// `DynamoDB.GetItem`, `SQS.SendMessage`, `SESv2.SendEmail`.
    pub operation: String,
    /// Every one must be allowed.
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// The access key id in a SigV4 `Authorization` header.
pub fn access_key(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').next().filter(|k| !k.is_empty())
}

/// The checks for a request with this target header (if any), method, path and body.
pub fn authorisation(
    partition: &Partition,
    target: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Authorisation, Unreadable> {
    match target.and_then(|t| t.split_once('.')) {
        Some(("DynamoDB_20120810", operation)) => dynamodb(partition, operation, body),
        Some(("AmazonSQS", operation)) => sqs(partition, operation, body),
        Some((service, _)) => Err(Unreadable(format!("unknown service target {service}"))),
        None if method == "POST" && path == "/v2/email/outbound-emails" => {
            ses_send_email(partition, body)
        }
        None => Err(Unreadable(format!("unknown request {method} {path}"))),
    }
}

fn json(body: &[u8]) -> Result<Value, Unreadable> {
    serde_json::from_slice(body).map_err(|e| Unreadable(format!("body is not JSON: {e}")))
}

fn dynamodb(
    partition: &Partition,
    operation: &str,
    body: &[u8],
) -> Result<Authorisation, Unreadable> {
    let doc = json(body)?;
    let table = |name: &str| {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{name}",
            partition.region, partition.account_id
        )
    };
    let check = |action: &str, resource: String| Check {
        action: format!("dynamodb:{action}"),
        resources: vec![resource],
    };
    let named = |doc: &Value| {
        doc["TableName"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Unreadable(format!("{operation} without TableName")))
    };
    let checks = match operation {
        "BatchGetItem" | "BatchWriteItem" => doc["RequestItems"]
            .as_object()
            .ok_or_else(|| Unreadable(format!("{operation} without RequestItems")))?
            .keys()
            .map(|name| check(operation, table(name)))
            .collect(),
        "TransactWriteItems" | "TransactGetItems" => doc["TransactItems"]
            .as_array()
            .ok_or_else(|| Unreadable(format!("{operation} without TransactItems")))?
            .iter()
            .map(|item| transact_item(item, &table))
            .collect::<Result<_, _>>()?,
        "Query" | "Scan" => {
            let mut resource = table(&named(&doc)?);
            if let Some(index) = doc["IndexName"].as_str() {
                resource = format!("{resource}/index/{index}");
            }
            vec![check(operation, resource)]
        }
        _ => vec![check(operation, table(&named(&doc)?))],
    };
    Ok(Authorisation {
        operation: format!("DynamoDB.{operation}"),
        checks,
    })
}

/// A transaction's item is authorised as the single-item action it performs.
fn transact_item(item: &Value, table: &impl Fn(&str) -> String) -> Result<Check, Unreadable> {
    let kinds = [
        ("Put", "PutItem"),
        ("Update", "UpdateItem"),
        ("Delete", "DeleteItem"),
        ("ConditionCheck", "ConditionCheckItem"),
        ("Get", "GetItem"),
    ];
    kinds
        .iter()
        .find_map(|(kind, action)| {
            let name = item[kind]["TableName"].as_str()?;
            Some(Check {
                action: format!("dynamodb:{action}"),
                resources: vec![table(name)],
            })
        })
        .ok_or_else(|| Unreadable(format!("unknown transaction item {item}")))
}

fn sqs(partition: &Partition, operation: &str, body: &[u8]) -> Result<Authorisation, Unreadable> {
    let doc = json(body)?;
    let action = match operation {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    };
    let resource = match (doc["QueueUrl"].as_str(), doc["QueueName"].as_str()) {
        (Some(url), _) => queue_arn(partition, url)?,
        (None, Some(name)) => format!(
            "arn:aws:sqs:{}:{}:{name}",
            partition.region, partition.account_id
        ),
        (None, None) if operation == "ListQueues" => "*".to_string(),
        (None, None) => return Err(Unreadable(format!("{operation} without QueueUrl"))),
    };
    Ok(Authorisation {
        operation: format!("SQS.{operation}"),
        checks: vec![Check {
            action: format!("sqs:{action}"),
            resources: vec![resource],
        }],
    })
}

/// `http://host/123456789012/name` → `arn:aws:sqs:<region>:123456789012:name`.
fn queue_arn(partition: &Partition, url: &str) -> Result<String, Unreadable> {
    let mut segments = url.rsplit('/');
    match (segments.next(), segments.next()) {
        (Some(name), Some(account)) if !name.is_empty() && !account.is_empty() => {
            Ok(format!("arn:aws:sqs:{}:{account}:{name}", partition.region))
        }
        _ => Err(Unreadable(format!("not a queue URL: {url}"))),
    }
}

/// SES authorises a send against the identity the sender belongs to: the address's own
/// identity or its domain's. Both are checked; either allowing it is enough.
/// The service a SigV4 `Authorization` header's credential scope names (`s3`, `dynamodb`).
pub fn signed_service(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split([',', ' ']).next()?.split('/').nth(3)
}

/// A pre-signed URL's `X-Amz-Credential` (`<key id>/<date>/<region>/<service>/aws4_request`).
pub fn presigned_credential(query: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs
        .into_iter()
        .find(|(name, _)| name == "X-Amz-Credential")
        .map(|(_, value)| value)
}

/// The checks for an S3 request on `/<bucket>/<key>` (path style, as the functions' S3
/// client addresses moto): GET is GetObject, PUT is PutObject; the functions make no other.
pub fn s3_authorisation(method: &str, path: &str) -> Result<Authorisation, Unreadable> {
    let (operation, action) = match method {
        "GET" => ("S3.GetObject", "s3:GetObject"),
        "PUT" => ("S3.PutObject", "s3:PutObject"),
        _ => return Err(Unreadable(format!("unknown S3 request {method} {path}"))),
    };
    let decoded = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|e| Unreadable(format!("S3 path is not UTF-8: {e}")))?;
    let (bucket, key) = (decoded.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .ok_or_else(|| Unreadable(format!("unknown request GET {path}")))?;
    Ok(Authorisation {
        operation: operation.into(),
        checks: vec![Check {
            action: action.into(),
            resources: vec![format!("arn:aws:s3:::{bucket}/{key}")],
        }],
    })
}

fn ses_send_email(partition: &Partition, body: &[u8]) -> Result<Authorisation, Unreadable> {
    let doc = json(body)?;
    let from = doc["FromEmailAddress"]
        .as_str()
        .ok_or_else(|| Unreadable("SendEmail without FromEmailAddress".into()))?;
    // `Name <a@b.c>` or a bare address.
    let address = from
        .rsplit_once('<')
        .map(|(_, rest)| rest.trim_end_matches('>'))
        .unwrap_or(from)
        .trim();
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .ok_or_else(|| Unreadable(format!("not an address: {from}")))?;
    let identity = |name: &str| {
        format!(
            "arn:aws:ses:{}:{}:identity/{name}",
            partition.region, partition.account_id
        )
    };
    Ok(Authorisation {
        operation: "SESv2.SendEmail".into(),
        checks: vec![Check {
            action: "ses:SendEmail".into(),
            resources: vec![identity(domain), identity(address)],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn partition() -> Partition {
        Partition {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/t";

    fn checks(target: &str, body: Value) -> Vec<(String, String)> {
        authorisation(
            &partition(),
            Some(target),
            "POST",
            "/",
            body.to_string().as_bytes(),
        )
        .expect("readable")
        .checks
        .into_iter()
        .flat_map(|c| c.resources.into_iter().map(move |r| (c.action.clone(), r)))
        .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .collect()
    }

    #[test]
    fn dynamodb_requests_name_their_actions_and_tables() {
        let index = format!("{TABLE}/index/gsi1");
        // (action, request body, expected (action, resource) checks)
        type Case = (&'static str, Value, Vec<(String, String)>);
        let cases: Vec<Case> = vec![
            (
                "GetItem",
                json!({"TableName": "t"}),
                pairs(&[("dynamodb:GetItem", TABLE)]),
            ),
            (
                "Query",
                json!({"TableName": "t", "IndexName": "gsi1"}),
                pairs(&[("dynamodb:Query", &index)]),
            ),
            (
                "BatchGetItem",
                json!({"RequestItems": {"t": {"Keys": []}}}),
                pairs(&[("dynamodb:BatchGetItem", TABLE)]),
            ),
            (
                "TransactWriteItems",
                json!({"TransactItems": [
                    {"Put": {"TableName": "t"}},
                    {"Update": {"TableName": "t"}},
                    {"Delete": {"TableName": "t"}},
                    {"ConditionCheck": {"TableName": "t"}}
                ]}),
                pairs(&[
                    ("dynamodb:PutItem", TABLE),
                    ("dynamodb:UpdateItem", TABLE),
                    ("dynamodb:DeleteItem", TABLE),
                    ("dynamodb:ConditionCheckItem", TABLE),
                ]),
            ),
        ];
        for (operation, body, expected) in cases {
            assert_eq!(
                checks(&format!("DynamoDB_20120810.{operation}"), body),
                expected,
                "{operation}"
            );
        }
    }

    #[test]
    fn sqs_batches_are_authorised_as_their_single_action() {
        let queue = "arn:aws:sqs:us-east-1:123456789012:send";
        let url = "http://127.0.0.1:5000/123456789012/send";
        let cases = [
            ("SendMessage", "sqs:SendMessage"),
            ("SendMessageBatch", "sqs:SendMessage"),
            ("DeleteMessageBatch", "sqs:DeleteMessage"),
            ("ReceiveMessage", "sqs:ReceiveMessage"),
        ];
        for (operation, action) in cases {
            assert_eq!(
                checks(&format!("AmazonSQS.{operation}"), json!({"QueueUrl": url})),
                pairs(&[(action, queue)]),
            );
        }
    }

    #[test]
    fn s3_reads_are_authorised_on_the_object_and_other_requests_refused() {
        let signed = "AWS4-HMAC-SHA256 Credential=AKIA1/20261207/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";
        assert_eq!(signed_service(signed), Some("s3"));
        let read = |path: &str| s3_authorisation("GET", path);
        let object = read("/replies/inbound/abc%2Bdef").expect("readable");
        assert_eq!(object.operation, "S3.GetObject");
        assert_eq!(
            object.checks,
            vec![Check {
                action: "s3:GetObject".into(),
                resources: vec!["arn:aws:s3:::replies/inbound/abc+def".into()],
            }]
        );
        for unreadable in ["/replies", "/replies/", "/"] {
            assert!(read(unreadable).is_err(), "{unreadable}");
        }
        let put = s3_authorisation("PUT", "/replies/media/a-0.png").expect("readable");
        assert_eq!(put.checks[0].action, "s3:PutObject");
        assert!(s3_authorisation("DELETE", "/replies/inbound/abc").is_err());
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA1%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=0";
        let credential = presigned_credential(query).expect("a pre-signed URL");
        assert_eq!(credential, "AKIA1/20261207/us-east-1/s3/aws4_request");
        assert_eq!(
            signed_service(&format!("Credential={credential}")),
            Some("s3")
        );
    }

    #[test]
    fn ses_sends_are_checked_against_the_senders_identities() {
        let body = json!({"FromEmailAddress": "Acme <sms@acme.example>"}).to_string();
        let auth = authorisation(
            &partition(),
            None,
            "POST",
            "/v2/email/outbound-emails",
            body.as_bytes(),
        )
        .expect("readable");
        assert_eq!(auth.checks.len(), 1, "one action, either identity");
        assert_eq!(
            auth.checks[0].resources,
            [
                "arn:aws:ses:us-east-1:123456789012:identity/acme.example",
                "arn:aws:ses:us-east-1:123456789012:identity/sms@acme.example"
            ]
        );
    }

    #[test]
    fn unknown_requests_are_unreadable() {
        assert!(
            authorisation(
                &partition(),
                Some("Kinesis_20131202.PutRecord"),
                "POST",
                "/",
                b"{}"
            )
            .is_err()
        );
        assert!(authorisation(&partition(), None, "GET", "/v2/email/identities", b"").is_err());
        assert!(
            authorisation(
                &partition(),
                Some("DynamoDB_20120810.GetItem"),
                "POST",
                "/",
                b"{}"
            )
            .is_err()
        );
    }

    #[test]
    fn access_keys_come_from_the_credential_scope() {
        let header = "AWS4-HMAC-SHA256 Credential=ASIAFUNCTION/20261206/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(access_key(header), Some("ASIAFUNCTION"));
        assert_eq!(access_key("Bearer x"), None);
    }
}
