//! What the SMS providers' HTTP adapters (Twilio, Instasent) share: how a request that
//! got no answer is classed, how a send's answer is read, and how much of an unexpected
//! body an error quotes.

use crate::ports::sms::SmsError;

/// How much of an unexpected response body goes into an error message.
const BODY_SNIPPET_CHARS: usize = 200;

/// Maps a request that got no HTTP response.
///
/// reqwest tells the phases apart: `is_connect()` means the TCP/TLS connection was never
/// established, so no byte of the request reached the provider (a `connect_timeout` is reported
/// as both `is_connect()` and `is_timeout()`, and connect wins). `is_builder()` means the
/// request was never built. Anything else (`is_timeout()` from the overall timeout, a
/// connection reset while writing or reading, `is_body()`, `is_decode()`) happened once
/// the request may have been written, and the provider may have created the message.
pub(crate) fn transport_error(err: reqwest::Error) -> SmsError {
    if err.is_connect() || err.is_builder() {
        SmsError::Unavailable(format!("request not sent: {err}"))
    } else if err.is_timeout() {
        SmsError::OutcomeUnknown(format!("no response in time: {err}"))
    } else {
        SmsError::OutcomeUnknown(format!("request failed after it may have been sent: {err}"))
    }
}

/// A provider's HTTP answer to a send, read.
pub(crate) enum SendAnswer {
    /// A 2xx and its body.
    Created(reqwest::StatusCode, axum::body::Bytes),
    /// Any other status, its headers and whatever body came.
    Refused(
        reqwest::StatusCode,
        reqwest::header::HeaderMap,
        axum::body::Bytes,
    ),
}

/// Reads a send's answer. A success whose body cannot be read leaves us without the
/// provider's id for a message it has taken: an unknown outcome, not a failure to retry.
/// Otherwise the status alone decides, and the body only adds detail.
pub(crate) async fn read_send_answer(response: reqwest::Response) -> Result<SendAnswer, SmsError> {
    let status = response.status();
    if status.is_success() {
        let body = response.bytes().await.map_err(|e| {
            SmsError::OutcomeUnknown(format!("HTTP {status}, body unreadable: {e}"))
        })?;
        return Ok(SendAnswer::Created(status, body));
    }
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default();
    Ok(SendAnswer::Refused(status, headers, body))
}

/// The start of a body for error messages, cut on a character boundary.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
    if text.chars().nth(BODY_SNIPPET_CHARS).is_some() {
        cut.push('…');
    }
    if cut.is_empty() {
        "(empty body)".to_string()
    } else {
        cut
    }
}
