//! Webhooks as Twilio sends them (acme's account unless a test says otherwise), signed with
//! the account's auth token: the signed form, the request that carries it, and acme's
//! inbound text.

use smsflow_shared::domain::twilio_signature::{self, SIGNATURE_HEADER};
use smsflow_shared::usecases::WebhookRequest;

use crate::example::{ACME_AUTH_TOKEN, ACME_LONG_CODE, ACME_TWILIO_SID};

/// The form of an inbound text Twilio posts for acme: `body` from `from` to acme's long
/// code, with the `MessageSid` `sid` (a test repeats one to play Twilio's retry).
pub fn text_to_acme<'a>(
    sid: &'a str,
    from: &'a str,
    body: &'a str,
) -> [(&'static str, &'a str); 5] {
    [
        ("AccountSid", ACME_TWILIO_SID),
        ("MessageSid", sid),
        ("From", from),
        ("To", ACME_LONG_CODE),
        ("Body", body),
    ]
}

/// `params` as owned pairs (in the order given), and their `X-Twilio-Signature` for `url`.
pub fn sign(url: &str, params: &[(&str, &str)]) -> (Vec<(String, String)>, String) {
    sign_with(ACME_AUTH_TOKEN, url, params)
}

/// As [`sign`], with another account's `auth_token`.
pub fn sign_with(
    auth_token: &str,
    url: &str,
    params: &[(&str, &str)],
) -> (Vec<(String, String)>, String) {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = twilio_signature::sign(auth_token, url, &owned);
    (owned, signature)
}

/// The POST of the form `params` to `post_to`, signed with `auth_token` for `signed_for`:
/// the URL Twilio signs, its public one, which a proxy may forward to `post_to`.
pub fn signed_post(
    http: &reqwest::Client,
    auth_token: &str,
    post_to: &str,
    signed_for: &str,
    params: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let (form, signature) = sign_with(auth_token, signed_for, params);
    http.post(post_to)
        .header(SIGNATURE_HEADER, signature)
        .form(&form)
}

/// Posts `params` to `url` as acme's Twilio does: the status and the body of the answer.
pub async fn post_signed(url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let http = reqwest::Client::new();
    answer(signed_post(&http, ACME_AUTH_TOKEN, url, url, params)).await
}

/// Sends `request`: the status and the body of the answer.
pub async fn answer(request: reqwest::RequestBuilder) -> (u16, String) {
    let r = request.send().await.expect("webhook answers");
    (r.status().as_u16(), r.text().await.expect("body"))
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
