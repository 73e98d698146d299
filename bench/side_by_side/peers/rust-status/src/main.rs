// Reference for the delivery-status callback (`POST /twilio/status?account=..&message=..`): what
// smsflow's `status-callback` does for a `delivered` callback of an outbound message, in plain
// Rust, making the same AWS calls with the same keys, item shapes and conditions, so moto charges
// both the same (8 calls, counted with strace on smsflow's binary):
//   GetItem SID pointer, GetItem message, GetItem account   (find the account, check the signature)
//   UpdateItem message, addressed by the key the pointer gave
//   PutItem phone-event claim, GetItem phone, UpdateItem claim's response   (phone health, once per message)
//   SendMessage the CRM goal job (GoodNumber) when the message has a CRM contact.
// Only what the bench exercises is covered: an account without event webhook (no event job), a
// SID already attached (no attach from the URL), a healthy phone (no phone write).
use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use base64::Engine;
use hmac::{Hmac, Mac};
use lambda_http::{run, service_fn, Body, Error, Request, Response};

type Item = HashMap<String, AttributeValue>;

struct Deps { ddb: aws_sdk_dynamodb::Client, sqs: aws_sdk_sqs::Client, table: String, queue: String, base: String }

// The statuses nothing follows (smsflow's MessageStatus::ENDS), in the update's condition.
const ENDS: [&str; 5] = ["undelivered", "failed", "canceled", "received", "read"];
// How long a recorded phone event is remembered, and the claim's lease (smsflow's defaults).
const PHONE_EVENT_KEEP_MS: u64 = 7 * 24 * 3600 * 1000;
const CLAIM_LEASE_MS: u64 = 15_000;

fn s(v: &str) -> AttributeValue { AttributeValue::S(v.to_string()) }
fn n(v: impl ToString) -> AttributeValue { AttributeValue::N(v.to_string()) }
fn attr<'a>(item: &'a Item, name: &str) -> &'a str { item.get(name).and_then(|v| v.as_s().ok()).map_or("", |v| v.as_str()) }
fn now_ms() -> u64 { std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64) }
fn answer(status: u16, body: &str) -> Result<Response<Body>, Error> {
    Ok(Response::builder().status(status).body(Body::from(body.to_string()))?)
}
// A JSON string literal (the job body is written field by field, in smsflow's field order).
fn js(v: &str) -> String { serde_json::Value::from(v).to_string() }

fn signature_ok(token: &str, url: &str, params: &[(String, String)], sig: &str) -> bool {
    let mut sorted: Vec<_> = params.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (k, v) in &sorted { mac.update(k.as_bytes()); mac.update(v.as_bytes()); }
    match base64::engine::general_purpose::STANDARD.decode(sig) { Ok(s) => mac.verify_slice(&s).is_ok(), Err(_) => false }
}

impl Deps {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, Error> {
        Ok(self.ddb.get_item().table_name(&self.table).key("pk", s(pk)).key("sk", s(sk)).consistent_read(true).send().await?.item)
    }

    async fn sid_pointer(&self, sid: &str) -> Result<Option<(String, String)>, Error> {
        Ok(self.get(&format!("SID#{sid}"), "SID").await?.map(|p| (attr(&p, "msg_pk").to_string(), attr(&p, "msg_sk").to_string())))
    }

    // Moves the message forward only (a higher rank, not from an end). The message as it is
    // now, and whether this call moved it.
    async fn apply_status(&self, key: &(String, String), status: &str, rank: u8) -> Result<(Item, bool), Error> {
        let mut update = self.ddb.update_item().table_name(&self.table).key("pk", s(&key.0)).key("sk", s(&key.1))
            .update_expression("SET #status = :status, status_rank = :rank, updated_at = :at")
            .condition_expression("attribute_exists(pk) AND status_rank < :rank AND NOT (#status IN (:end0, :end1, :end2, :end3, :end4))")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status)).expression_attribute_values(":rank", n(rank))
            .expression_attribute_values(":at", n(now_ms()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (i, end) in ENDS.iter().enumerate() {
            update = update.expression_attribute_values(format!(":end{i}"), s(end));
        }
        match update.send().await {
            Ok(out) => Ok((out.attributes.unwrap_or_default(), true)),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => Ok((c.item().cloned().unwrap_or_default(), false)),
                _ => Err(e.into()),
            },
        }
    }

    // Records "this message was delivered" against the phone once (a claim with a TTL), then
    // the phone's health: a delivery clears a healthy phone's count, which the bench's phone
    // never has, so it only reads it. False when the event was recorded before.
    async fn record_phone_delivered(&self, account: &str, phone: &str, message_id: &str) -> Result<bool, Error> {
        let key = format!("IDEM#delivery:{message_id}:phone:delivered");
        let now = now_ms();
        let claim = self.ddb.put_item().table_name(&self.table)
            .item("pk", s(&key)).item("sk", s("IDEM")).item("created_at_ms", n(now))
            .item("lease_until_ms", n(now + CLAIM_LEASE_MS)).item("expires_at_ms", n(now + PHONE_EVENT_KEEP_MS))
            .item("expires_at", n((now + PHONE_EVENT_KEEP_MS) / 1000))
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms <= :now").expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send().await;
        match claim {
            Ok(_) => {}
            Err(e) if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let health = self.get(&format!("PHONE#{account}#{phone}"), "PHONE").await?;
        let counted = health.as_ref().and_then(|h| h.get("consecutive_hard_failures")).and_then(|v| v.as_n().ok()).is_some_and(|v| v != "0");
        if counted {
            return Err("a phone with counted failures: not covered by this peer".into());
        }
        self.ddb.update_item().table_name(&self.table).key("pk", s(&key)).key("sk", s("IDEM"))
            .update_expression("SET response_body = :response").condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":response", s("active")).send().await?;
        Ok(true)
    }
}

async fn handle(d: &Deps, req: Request) -> Result<Response<Body>, Error> {
    let body = match req.body() { Body::Text(t) => t.as_bytes().to_vec(), Body::Binary(b) => b.clone(), _ => vec![] };
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let query = req.uri().query().unwrap_or("");
    let hint = form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k == "account" && !v.is_empty()).map(|(_, v)| v.into_owned());
    let (sid, status) = (get("MessageSid"), get("MessageStatus"));
    if status != "delivered" {
        return answer(400, "{\"error\":\"this peer handles delivered callbacks only\"}");
    }
    // The message the SID names, and the account (named in the URL, else the message's).
    let Some(key) = d.sid_pointer(&sid).await? else { return answer(404, "{\"error\":\"unknown message\"}") };
    let Some(message) = d.get(&key.0, &key.1).await? else { return answer(500, "{\"error\":\"SID points at no message\"}") };
    let data: serde_json::Value = serde_json::from_str(attr(&message, "data"))?;
    let owner = data["account"].as_str().unwrap_or_default();
    let account_id = hint.unwrap_or_else(|| owner.to_string());
    let Some(account) = d.get(&format!("ACCOUNT#{account_id}"), "ACCOUNT").await? else { return answer(404, "{\"error\":\"unknown account\"}") };
    let account_data: serde_json::Value = serde_json::from_str(attr(&account, "data"))?;
    let token = account_data["twilio"]["auth_token"].as_str().unwrap_or_default();
    let sig = req.headers().get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let url = format!("{}{}", d.base, req.uri().path_and_query().map_or("/", |p| p.as_str()));
    if !signature_ok(token, &url, &params, sig) {
        return answer(403, "{\"error\":\"bad signature\"}");
    }
    if owner != account_id {  // another account's token cannot move this SID
        return answer(404, "{\"error\":\"unknown message\"}");
    }
    let (now, moved) = d.apply_status(&key, &status, 4).await?;
    // Not progress and not a repeat of the callback that made it: an old status arriving late.
    if !moved && attr(&now, "status") != status {
        return answer(204, "");
    }
    let (message_id, phone) = (data["id"].as_str().unwrap_or_default(), data["contact_phone"].as_str().unwrap_or_default());
    d.record_phone_delivered(&account_id, phone, message_id).await?;
    if let Some(contact) = data["contact_id"].as_str() {
        // The CRM goal the delivery fires; its id makes the automation worker run it once.
        let job = format!("{{\"job_id\":{},\"kind\":\"achieve_goal\",\"account\":{},\"contact_id\":{},\"call_name\":\"GoodNumber\",\"about\":{{\"phone\":{},\"message_id\":{}}}}}",
            js(&format!("delivery:{message_id}:goal:GoodNumber")), js(&account_id), js(contact), js(phone), js(message_id));
        d.sqs.send_message().queue_url(&d.queue).message_body(job).delay_seconds(0).send().await?;
    }
    answer(204, "")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let conf = aws_config::load_from_env().await;
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let d = Deps { ddb: aws_sdk_dynamodb::Client::new(&conf), sqs: aws_sdk_sqs::Client::new(&conf), table: env("TABLE_NAME"), queue: env("QUEUE_URL"), base: env("PUBLIC_BASE_URL") };
    run(service_fn(|req| handle(&d, req))).await
}
