//! What SQS refuses that moto accepts: a message body with a character outside SQS's set
//! (U+FFFE, U+FFFF...). The proxy answers it as SQS does, so the deployed shape fails
//! where AWS would.

use serde_json::Value;
use smsflow_shared::ports::queue::allowed_in_body;

/// SQS's message for a body it refuses, if the `SendMessage` or `SendMessageBatch` request
/// `body` carries one (other requests are not read).
pub fn refused_body(operation: &str, body: &[u8]) -> Option<String> {
    if !matches!(operation, "SQS.SendMessage" | "SQS.SendMessageBatch") {
        return None;
    }
    let doc: Value = serde_json::from_slice(body).ok()?;
    let bodies: Vec<&str> = match operation {
        "SQS.SendMessage" => doc["MessageBody"].as_str().into_iter().collect(),
        "SQS.SendMessageBatch" => doc["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["MessageBody"].as_str())
            .collect(),
        _ => return None,
    };
    let bad = bodies
        .iter()
        .find_map(|body| body.chars().find(|c| !allowed_in_body(*c)))?;
    Some(format!(
        "Invalid binary character '#x{:X}' was found in the message body, the set of allowed \
         characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        u32::from(bad)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_sqs_refuses_are_refused() {
        let cases = [
            (
                "SQS.SendMessage",
                json!({"MessageBody": "hi\u{FFFF}"}),
                Some("#xFFFF"),
            ),
            ("SQS.SendMessage", json!({"MessageBody": "hi 😀\n"}), None),
            (
                "SQS.SendMessageBatch",
                json!({"Entries": [{"MessageBody": "ok"}, {"MessageBody": "\u{FFFE}"}]}),
                Some("#xFFFE"),
            ),
            (
                "SQS.ReceiveMessage",
                json!({"MessageBody": "\u{FFFF}"}),
                None,
            ),
        ];
        for (operation, doc, expected) in cases {
            let refused = refused_body(operation, doc.to_string().as_bytes());
            assert_eq!(
                refused
                    .as_deref()
                    .map(|m| m.contains(expected.unwrap_or("?"))),
                expected.map(|_| true),
                "{operation} {doc}"
            );
        }
    }
}
