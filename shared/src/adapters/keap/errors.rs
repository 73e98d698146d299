//! Keap's failures in smsflow's words: no answer, or an answer's error body.

use super::wire::ErrorBody;
use crate::ports::CrmError;

/// How much of an unexpected response body goes into an error message.
const BODY_SNIPPET_CHARS: usize = 200;

/// A request that got no HTTP answer. Keap work is retried by the queue, so all of these
/// are "try again later".
pub(super) fn transport_error(err: reqwest::Error) -> CrmError {
    if err.is_timeout() {
        CrmError::Unavailable(format!("Keap did not answer in time: {err}"))
    } else {
        CrmError::Unavailable(format!("cannot reach Keap: {err}"))
    }
}

/// Keap's own words from an error body, or the start of the body.
pub(super) fn error_message(body: &[u8]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = match (parsed.message, parsed.error, parsed.error_description) {
        (Some(m), _, _) if !m.is_empty() => Some(m),
        (_, Some(e), Some(d)) => Some(format!("{e}: {d}")),
        (_, Some(e), None) => Some(e),
        (_, None, Some(d)) => Some(d),
        _ => None,
    };
    message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let snippet: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
        if snippet.trim().is_empty() {
            "no details".to_string()
        } else {
            snippet
        }
    })
}
