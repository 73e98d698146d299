//! The use cases' log lines as the functions write them (JSON): plain values, a field with
//! no value left out, and no field named `message` beside the line's own message.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::domain::fixtures::{account, phone};
use crate::domain::goals::StandardGoal;
use crate::domain::{MessageId, MessageStatus};

/// A writer the subscriber writes every line into.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The one line `log` writes, in the functions' JSON format.
fn json_line_of(log: impl FnOnce()) -> String {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, log);
    let bytes = lines.0.lock().expect("the lines").clone();
    String::from_utf8(bytes).expect("UTF-8").trim().to_string()
}

/// The line's fields, once each key is known to be there only once.
fn fields_of(line: &str) -> serde_json::Value {
    assert_eq!(line.matches("\"message\":").count(), 1, "{line}");
    let parsed: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    parsed["fields"].clone()
}

#[test]
fn an_applied_status_logs_plain_values_and_leaves_out_what_it_lacks() {
    let id = MessageId::new("01M96T");
    let to = phone("+19523142318");
    // (status, error code, goal, the fields expected)
    let cases = [
        (
            MessageStatus::Delivered,
            None,
            None,
            serde_json::json!({
                "message": "delivery status applied", "account": "acme",
                "message_id": "01M96T", "to": to.masked(), "status": "delivered",
            }),
        ),
        (
            MessageStatus::Undelivered,
            Some(30003),
            Some(StandardGoal::BadNumber),
            serde_json::json!({
                "message": "delivery status applied", "account": "acme",
                "message_id": "01M96T", "to": to.masked(), "status": "undelivered",
                "error_code": 30003, "goal": "BadNumber",
            }),
        ),
    ];
    for (status, code, goal, expected) in cases {
        let line = json_line_of(|| {
            super::status::log_applied(&account().id, &id, &to, status, code, goal);
        });
        assert_eq!(fields_of(&line), expected, "{line}");
    }
}

#[test]
fn a_logged_body_names_its_message_by_message_id() {
    let mut logging = account();
    logging.debug_log_bodies = true;
    let line = json_line_of(|| super::log_body(&logging, &MessageId::new("01M96T"), "Hi Ann"));
    let fields = fields_of(&line);
    assert_eq!(fields["message"], "message body (debug_log_bodies is on)");
    assert_eq!(fields["message_id"], "01M96T", "{line}");
    assert_eq!(fields["body"], "Hi Ann", "{line}");
}
