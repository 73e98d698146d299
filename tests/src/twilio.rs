//! Webhooks as acme's Twilio account sends them, signed with its auth token.

use smsflow_shared::domain::twilio_signature;
use smsflow_shared::usecases::WebhookRequest;

use crate::example::ACME_AUTH_TOKEN;

/// `params` as owned pairs (in the order given), and their `X-Twilio-Signature` for `url`.
pub fn sign(url: &str, params: &[(&str, &str)]) -> (Vec<(String, String)>, String) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = twilio_signature::sign(ACME_AUTH_TOKEN, url, &owned);
    (owned, signature)
}

/// The signed inbound webhook for `url` as the inbound use case receives it.
pub fn webhook_request(url: &str, params: &[(&str, &str)]) -> WebhookRequest {
    let (params, signature) = sign(url, params);
    WebhookRequest {
        url: url.into(),
        signature: Some(signature),
        params,
    }
}
