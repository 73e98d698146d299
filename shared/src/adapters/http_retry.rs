//! The HTTP `Retry-After` header, read the same way for every outbound HTTP adapter
//! (Twilio, Keap, the webhook CRM).
//!
//! Only the delay-seconds form is understood (`Retry-After: 30`). The HTTP-date form
//! (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`) is ignored, as is any other value: none of
//! the services smsflow calls send a date, and a caller without a hint falls back to its own
//! backoff.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The wait a response asks for, when its `Retry-After` header holds a whole number of seconds
/// (surrounding whitespace allowed); `None` when the header is missing, not ASCII, a date or
/// anything else.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn with(value: &'static [u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn whole_seconds_are_a_duration() {
        assert_eq!(retry_after(&with(b"30")), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(&with(b"0")), Some(Duration::ZERO));
        assert_eq!(retry_after(&with(b" 7 ")), Some(Duration::from_secs(7)));
    }

    #[test]
    fn a_missing_header_is_no_hint() {
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn garbage_is_no_hint() {
        for value in [&b"soon"[..], b"-5", b"1.5", b"", b"10s", b"\xff"] {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_bytes(value).unwrap());
            assert_eq!(retry_after(&headers), None, "{value:?}");
        }
    }

    #[test]
    fn an_http_date_is_ignored() {
        assert_eq!(retry_after(&with(b"Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }
}
