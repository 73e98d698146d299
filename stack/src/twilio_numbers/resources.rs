//! The mock's phone-number resources: what each operation of Twilio's definition does to
//! the numbers on offer and the numbers owned, and the JSON it answers (the fields of
//! Twilio's `available_phone_number_*` and `incoming_phone_number` schemas smsflow reads,
//! and a few more as Twilio sends them).

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::openapi::Matched;
use super::{Failure, State, new_sid, path_param, reply};

/// A number Twilio offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub number: String,
    pub locality: String,
    pub region: String,
    /// ISO country code.
    pub country: String,
    /// `Local`, `TollFree` or `Mobile`: the list it is in.
    pub list: &'static str,
    pub sms: bool,
    pub mms: bool,
    pub voice: bool,
}

impl Offer {
    /// A US local number that can do everything.
    pub fn local(number: &str, locality: &str, region: &str) -> Self {
        Offer {
            number: number.into(),
            locality: locality.into(),
            region: region.into(),
            country: "US".into(),
            list: "Local",
            sms: true,
            mms: true,
            voice: true,
        }
    }

    /// A US toll-free number (SMS and voice).
    pub fn toll_free(number: &str) -> Self {
        Offer {
            list: "TollFree",
            mms: false,
            locality: String::new(),
            region: String::new(),
            ..Offer::local(number, "", "")
        }
    }

    fn json(&self) -> Value {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        json!({
            "phone_number": self.number,
            "friendly_name": self.number,
            "locality": text(&self.locality),
            "region": text(&self.region),
            "iso_country": self.country,
            "address_requirements": "none",
            "beta": false,
            "capabilities": {"sms": self.sms, "mms": self.mms, "voice": self.voice, "fax": false},
        })
    }
}

/// A number a Twilio account owns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owned {
    pub account_sid: String,
    /// `PN…`; empty: the mock gives one.
    pub sid: String,
    pub number: String,
    pub sms_url: Option<String>,
    pub sms_method: Option<String>,
    pub sms_application_sid: Option<String>,
    /// `local`, `toll-free` or `mobile`.
    pub number_type: String,
}

impl Owned {
    fn json(&self) -> Value {
        json!({
            "account_sid": self.account_sid,
            "sid": self.sid,
            "phone_number": self.number,
            "friendly_name": self.number,
            "sms_url": self.sms_url,
            "sms_method": self.sms_method.clone().unwrap_or_else(|| "POST".into()),
            "sms_application_sid": self.sms_application_sid,
            "status": "in-use",
            "type": self.number_type,
            "api_version": "2010-04-01",
            "capabilities": {"sms": true, "mms": true, "voice": true, "fax": false},
            "uri": format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json", self.account_sid, self.sid),
        })
    }
}

type Form = HashMap<String, String>;

/// Runs the matched operation on the mock's numbers.
pub(super) fn serve(
    state: &mut State,
    matched: &Matched,
    account: &str,
    query: &Form,
    body: &Form,
) -> Response {
    match matched.operation_id.as_str() {
        "ListAvailablePhoneNumberLocal" => available(state, matched, "Local", query),
        "ListAvailablePhoneNumberTollFree" => available(state, matched, "TollFree", query),
        "ListAvailablePhoneNumberMobile" => available(state, matched, "Mobile", query),
        "CreateIncomingPhoneNumber" => buy(state, account, body),
        "ListIncomingPhoneNumber" => {
            let wanted = query.get("PhoneNumber");
            let numbers: Vec<Value> = (state.owned.iter())
                .filter(|o| o.account_sid == account && wanted.is_none_or(|n| &o.number == n))
                .map(Owned::json)
                .collect();
            reply(
                StatusCode::OK,
                json!({"incoming_phone_numbers": numbers, "page": 0, "page_size": 50}),
            )
        }
        "UpdateIncomingPhoneNumber" => {
            let sid = path_param(matched, "Sid");
            let Some(owned) = state
                .owned
                .iter_mut()
                .find(|o| o.account_sid == account && o.sid == sid)
            else {
                return not_found(&sid);
            };
            if let Some(url) = body.get("SmsUrl") {
                owned.sms_url = Some(url.clone());
            }
            if let Some(method) = body.get("SmsMethod") {
                owned.sms_method = Some(method.clone());
            }
            reply(StatusCode::OK, owned.json())
        }
        "DeleteIncomingPhoneNumber" => {
            let sid = path_param(matched, "Sid");
            let before = state.owned.len();
            state
                .owned
                .retain(|o| !(o.account_sid == account && o.sid == sid));
            match state.owned.len() < before {
                true => StatusCode::NO_CONTENT.into_response(),
                false => not_found(&sid),
            }
        }
        other => Failure::new(405, 20004, format!("mock: {other} is not served")).into_response(),
    }
}

fn not_found(sid: &str) -> Response {
    let message = format!("The requested resource /IncomingPhoneNumbers/{sid}.json was not found");
    Failure::new(404, 20404, message).into_response()
}

/// The offered numbers of one list, filtered as Twilio filters them.
fn available(state: &State, matched: &Matched, list: &str, query: &Form) -> Response {
    let country = path_param(matched, "CountryCode");
    let area = query.get("AreaCode").map(|code| format!("+1{code}"));
    let limit: usize = query
        .get("PageSize")
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let numbers: Vec<Value> = (state.offered.iter())
        .filter(|o| o.list == list && o.country == country)
        .filter(|o| {
            query
                .get("SmsEnabled")
                .is_none_or(|yes| yes != "true" || o.sms)
        })
        .filter(|o| {
            area.as_ref()
                .is_none_or(|a| o.number.starts_with(a.as_str()))
        })
        .filter(|o| query.get("Contains").is_none_or(|p| contains(&o.number, p)))
        .take(limit)
        .map(Offer::json)
        .collect();
    reply(StatusCode::OK, json!({"available_phone_numbers": numbers}))
}

/// Twilio's `Contains`: the digits in order, `*` matching any one digit.
fn contains(number: &str, pattern: &str) -> bool {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let pattern: Vec<char> = pattern.chars().collect();
    digits.windows(pattern.len()).any(|window| {
        window
            .iter()
            .zip(&pattern)
            .all(|(d, p)| *p == '*' || d == p)
    })
}

/// A purchase by `PhoneNumber` or `AreaCode`: the number leaves the offer and is owned.
fn buy(state: &mut State, account: &str, body: &Form) -> Response {
    let position = match (body.get("PhoneNumber"), body.get("AreaCode")) {
        (Some(number), _) => state
            .offered
            .iter()
            .position(|o| &o.number == number)
            .ok_or_else(|| {
                Failure::new(400, 21422, format!("PhoneNumber {number} is not available"))
            }),
        (None, Some(code)) => (state.offered.iter())
            .position(|o| o.list == "Local" && o.number.starts_with(&format!("+1{code}")))
            .ok_or_else(|| {
                Failure::new(
                    400,
                    21452,
                    format!("No phone numbers found in area code {code}"),
                )
            }),
        (None, None) => Err(Failure::new(
            400,
            0,
            "mock: give an AreaCode or a PhoneNumber",
        )),
    };
    let offer = match position {
        Ok(i) => state.offered.remove(i),
        Err(failure) => return failure.into_response(),
    };
    let owned = Owned {
        account_sid: account.to_string(),
        sid: new_sid(state),
        number: offer.number,
        sms_url: body.get("SmsUrl").cloned(),
        sms_method: body.get("SmsMethod").cloned(),
        sms_application_sid: None,
        number_type: match offer.list {
            "TollFree" => "toll-free".into(),
            other => other.to_ascii_lowercase(),
        },
    };
    let created = owned.json();
    state.owned.push(owned);
    reply(StatusCode::CREATED, created)
}
