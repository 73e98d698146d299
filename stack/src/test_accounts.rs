//! The Twilio account the stand-ins' tests send as, and the check of the webhooks the
//! Twilio stand-in posts for it (`twilio/tests.rs`, `sandbox/tests.rs`).

use smsflow_shared::domain::{Secret, TwilioCredentials, twilio_signature};

pub const ACME_SID: &str = "AC00000000000000000000000000000001";

/// Acme's credentials: its account SID and auth token, no API key.
pub fn acme_twilio() -> TwilioCredentials {
    TwilioCredentials {
        account_sid: ACME_SID.into(),
        auth_token: Secret::new("acme-token"),
        api_key: None,
        messaging_service_sids: vec![],
    }
}

/// The form of a webhook the Twilio stand-in posted, after checking it went to `domain`
/// signed with Acme's auth token for `public_url`, as Twilio signs its webhooks.
pub fn acme_signed_form(
    request: &wiremock::Request,
    domain: &str,
    public_url: &str,
) -> Vec<(String, String)> {
    let host = request.headers.get("host").and_then(|h| h.to_str().ok());
    assert_eq!(host, Some(domain));
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&request.body).expect("a form");
    let signature = request
        .headers
        .get(twilio_signature::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    assert!(
        twilio_signature::validate("acme-token", public_url, &params, signature),
        "signed for {public_url}"
    );
    params
}
