//! Twilio's phone-number resources (REST 2010-04-01), for the operator's `smsflow numbers`
//! commands: the numbers Twilio offers (`AvailablePhoneNumbers/{Country}/{Type}.json`) and
//! those the account owns (`IncomingPhoneNumbers`): buy one, find one, point its SMS webhook
//! at smsflow, release it. Same credentials, base URL and auth as the Messages client
//! ([`super::TwilioClient`]); no port uses it, only the CLI.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde::{Deserialize, Serialize};

use super::{TWILIO_API_BASE_URL, basic_auth, checked_account_sid, snippet};
use crate::domain::{PhoneNumber, TwilioCredentials};

/// What went wrong talking to Twilio's number resources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumbersError {
    /// Twilio answered with an error (its JSON `{code, message, more_info, status}`).
    #[error("{}", twilio_error_text(*code, message, more_info.as_deref()))]
    Twilio {
        http_status: u16,
        code: Option<u32>,
        message: String,
        more_info: Option<String>,
    },
    /// No byte of the request reached Twilio: nothing happened there.
    #[error("Twilio could not be reached: {0}")]
    Unreachable(String),
    /// The request may have reached Twilio, but no answer came back.
    #[error("no answer from Twilio: {0}")]
    NoAnswer(String),
    /// Twilio answered with success, but not with what its API documents.
    #[error("Twilio's answer could not be read: {0}")]
    Unreadable(String),
    /// A value that goes into the request path is not what Twilio issues.
    #[error("'{0}' is not a Twilio SID or country code")]
    BadPathValue(String),
}

/// "Twilio error CODE: message (more_info)", or the HTTP status when there is no code.
fn twilio_error_text(code: Option<u32>, message: &str, more_info: Option<&str>) -> String {
    let head = match code {
        Some(code) => format!("Twilio error {code}: {message}"),
        None => format!("Twilio: {message}"),
    };
    match more_info {
        Some(link) => format!("{head} ({link})"),
        None => head,
    }
}

/// Which of Twilio's lists of available numbers to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberType {
    Local,
    TollFree,
    Mobile,
}

impl NumberType {
    fn resource(self) -> &'static str {
        match self {
            NumberType::Local => "Local",
            NumberType::TollFree => "TollFree",
            NumberType::Mobile => "Mobile",
        }
    }
}

/// A search of the numbers Twilio offers; only SMS-capable ones are asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberSearch {
    /// ISO 3166-1 alpha-2, e.g. `US`.
    pub country: String,
    pub number_type: NumberType,
    pub area_code: Option<u32>,
    /// Digits or letters the number must contain (Twilio's `Contains` pattern).
    pub contains: Option<String>,
    /// At most this many (Twilio's `PageSize`, 1 to 1000).
    pub limit: u32,
}

/// What a number can do, as Twilio reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    // Twilio's JSON has spelled these `SMS` and `MMS` as well as `sms` and `mms`.
    #[serde(default, alias = "SMS")]
    pub sms: bool,
    #[serde(default, alias = "MMS")]
    pub mms: bool,
    #[serde(default, alias = "Voice")]
    pub voice: bool,
}

/// One number Twilio offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailableNumber {
    pub phone_number: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub locality: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub iso_country: Option<String>,
    /// `none`, `any`, `local` or `foreign`: the address Twilio needs before selling it.
    #[serde(default)]
    pub address_requirements: Option<String>,
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
}

/// One number the Twilio account owns (an IncomingPhoneNumber), as far as smsflow reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedNumber {
    /// `PN…`.
    pub sid: String,
    pub phone_number: String,
    #[serde(default)]
    pub sms_url: Option<String>,
    #[serde(default)]
    pub sms_method: Option<String>,
    /// Set when a TwiML app (`AP…`) or a Messaging Service (`MG…`) takes the number's texts:
    /// Twilio then ignores `sms_url`.
    #[serde(default)]
    pub sms_application_sid: Option<String>,
    /// `local`, `toll-free`, `mobile`… when Twilio says.
    #[serde(default, rename = "type")]
    pub number_type: Option<String>,
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
}

/// Which number to buy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseTarget {
    Number(PhoneNumber),
    /// Any number in a US or Canadian area code (Twilio picks it).
    AreaCode(u32),
}

/// A purchase: the number, where its texts go, and the regulatory documents some
/// countries require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub target: PurchaseTarget,
    /// The number's SMS webhook (`SmsUrl`), called with `POST`.
    pub sms_url: String,
    /// `AD…`: the address Twilio must have for some numbers (errors 21613, 21631).
    pub address_sid: Option<String>,
    /// `BU…`: the regulatory bundle some countries require (error 21649).
    pub bundle_sid: Option<String>,
}

/// Twilio's number resources of one API origin.
#[derive(Debug, Clone)]
pub struct TwilioNumbers {
    http: reqwest::Client,
    base_url: String,
}

/// How long one call may take; the connect part is shorter, so a host that cannot be
/// reached is told apart from one that does not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct AvailablePage {
    #[serde(default)]
    available_phone_numbers: Vec<AvailableNumber>,
}

#[derive(Deserialize)]
struct OwnedPage {
    #[serde(default)]
    incoming_phone_numbers: Vec<OwnedNumber>,
}

impl TwilioNumbers {
    /// `base_url` is scheme and host, e.g. [`TWILIO_API_BASE_URL`]; a trailing `/` is
    /// ignored.
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        TwilioNumbers {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    /// With an HTTP client of its own (the CLI's case).
    pub fn connect(base_url: Option<&str>) -> Result<Self, NumbersError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| NumbersError::Unreachable(format!("no HTTP client: {e}")))?;
        Ok(Self::new(http, base_url.unwrap_or(TWILIO_API_BASE_URL)))
    }

    fn url(&self, credentials: &TwilioCredentials, rest: &str) -> Result<String, NumbersError> {
        let sid = checked_account_sid(credentials)
            .map_err(|_| NumbersError::BadPathValue(credentials.account_sid.clone()))?;
        Ok(format!(
            "{}/2010-04-01/Accounts/{sid}/{rest}",
            self.base_url
        ))
    }

    /// The numbers Twilio offers for `search`, SMS-capable only.
    pub async fn available(
        &self,
        credentials: &TwilioCredentials,
        search: &NumberSearch,
    ) -> Result<Vec<AvailableNumber>, NumbersError> {
        let country = path_value(&search.country, |c| c.is_ascii_uppercase())?;
        let mut query = vec![
            ("SmsEnabled", "true".to_string()),
            ("PageSize", search.limit.to_string()),
        ];
        if let Some(area_code) = search.area_code {
            query.push(("AreaCode", area_code.to_string()));
        }
        if let Some(contains) = &search.contains {
            query.push(("Contains", contains.clone()));
        }
        let rest = format!(
            "AvailablePhoneNumbers/{country}/{}.json?{}",
            search.number_type.resource(),
            encode(&query)
        );
        let request = self.http.get(self.url(credentials, &rest)?);
        let page: AvailablePage = call(request, credentials).await?;
        Ok(page.available_phone_numbers)
    }

    /// Buys a number with its SMS webhook set (`SmsMethod=POST`).
    pub async fn buy(
        &self,
        credentials: &TwilioCredentials,
        purchase: &Purchase,
    ) -> Result<OwnedNumber, NumbersError> {
        let mut form = match &purchase.target {
            PurchaseTarget::Number(number) => vec![("PhoneNumber", number.as_str().to_string())],
            PurchaseTarget::AreaCode(code) => vec![("AreaCode", code.to_string())],
        };
        form.push(("SmsUrl", purchase.sms_url.clone()));
        form.push(("SmsMethod", "POST".to_string()));
        if let Some(sid) = &purchase.address_sid {
            form.push(("AddressSid", sid.clone()));
        }
        if let Some(sid) = &purchase.bundle_sid {
            form.push(("BundleSid", sid.clone()));
        }
        let url = self.url(credentials, "IncomingPhoneNumbers.json")?;
        call(self.http.post(url).form(&form), credentials).await
    }

    /// The account's number `number`, if it owns it.
    pub async fn owned(
        &self,
        credentials: &TwilioCredentials,
        number: &PhoneNumber,
    ) -> Result<Option<OwnedNumber>, NumbersError> {
        let query = encode(&[("PhoneNumber", number.as_str().to_string())]);
        let url = self.url(credentials, &format!("IncomingPhoneNumbers.json?{query}"))?;
        let page: OwnedPage = call(self.http.get(url), credentials).await?;
        // The filter matches what Twilio considers the same number; keep the exact one.
        Ok(page
            .incoming_phone_numbers
            .into_iter()
            .find(|owned| owned.phone_number == number.as_str()))
    }

    /// Points the owned number `sid` (`PN…`) at `sms_url` with `POST`.
    pub async fn set_sms_webhook(
        &self,
        credentials: &TwilioCredentials,
        sid: &str,
        sms_url: &str,
    ) -> Result<OwnedNumber, NumbersError> {
        let sid = path_value(sid, |c| c.is_ascii_alphanumeric())?;
        let url = self.url(credentials, &format!("IncomingPhoneNumbers/{sid}.json"))?;
        let form = [("SmsUrl", sms_url), ("SmsMethod", "POST")];
        call(self.http.post(url).form(&form), credentials).await
    }

    /// Releases the owned number `sid` (`PN…`): the account stops paying for it and loses it.
    pub async fn release(
        &self,
        credentials: &TwilioCredentials,
        sid: &str,
    ) -> Result<(), NumbersError> {
        let sid = path_value(sid, |c| c.is_ascii_alphanumeric())?;
        let url = self.url(credentials, &format!("IncomingPhoneNumbers/{sid}.json"))?;
        let response = send(self.http.delete(url), credentials).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(error_from(status, &body))
    }
}

/// `value`, when it is non-empty and every character passes `allowed` (it goes into the
/// path, where anything else could change the request).
fn path_value(value: &str, allowed: impl Fn(char) -> bool) -> Result<&str, NumbersError> {
    if value.is_empty() || !value.chars().all(allowed) {
        return Err(NumbersError::BadPathValue(value.to_string()));
    }
    Ok(value)
}

fn encode(pairs: &[(&str, String)]) -> String {
    // Encoding pairs of strings cannot fail.
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

async fn send(
    request: RequestBuilder,
    credentials: &TwilioCredentials,
) -> Result<reqwest::Response, NumbersError> {
    let (user, password) = basic_auth(credentials);
    request
        .basic_auth(user, Some(password))
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() || e.is_builder() {
                NumbersError::Unreachable(e.to_string())
            } else {
                NumbersError::NoAnswer(e.to_string())
            }
        })
}

/// Sends `request` and reads a success as `T`, an error as Twilio's error.
async fn call<T: for<'de> Deserialize<'de>>(
    request: RequestBuilder,
    credentials: &TwilioCredentials,
) -> Result<T, NumbersError> {
    let response = send(request, credentials).await?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| NumbersError::NoAnswer(format!("HTTP {status}, body unreadable: {e}")))?;
    if !status.is_success() {
        return Err(error_from(status, &body));
    }
    serde_json::from_slice(&body)
        .map_err(|e| NumbersError::Unreadable(format!("HTTP {status} ({e}): {}", snippet(&body))))
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
    more_info: Option<String>,
}

fn error_from(status: StatusCode, body: &[u8]) -> NumbersError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let (code, message, more_info) = match parsed {
        Some(b) => (b.code, b.message, b.more_info),
        None => (None, None, None),
    };
    NumbersError::Twilio {
        http_status: status.as_u16(),
        code,
        message: message.unwrap_or_else(|| format!("HTTP {status}: {}", snippet(body))),
        more_info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_errors_read_with_their_code_and_link() {
        let cases = [
            (
                br#"{"code":21422,"message":"PhoneNumber is not available","more_info":"https://www.twilio.com/docs/errors/21422","status":400}"#.as_slice(),
                "Twilio error 21422: PhoneNumber is not available (https://www.twilio.com/docs/errors/21422)",
            ),
            (b"<html>bad gateway</html>".as_slice(), "Twilio: HTTP 502 Bad Gateway: <html>bad gateway</html>"),
        ];
        for (body, text) in cases {
            let status = if body.starts_with(b"{") {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::BAD_GATEWAY
            };
            assert_eq!(error_from(status, body).to_string(), text);
        }
    }

    #[test]
    fn path_values_hold_only_what_twilio_issues() {
        assert_eq!(
            path_value("PN0a", |c| c.is_ascii_alphanumeric()),
            Ok("PN0a")
        );
        for bad in ["", "PN/../x", "PN 1", "PN?x=1"] {
            assert!(
                path_value(bad, |c| c.is_ascii_alphanumeric()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn capabilities_read_either_spelling() {
        let upper: Capabilities =
            serde_json::from_str(r#"{"SMS":true,"MMS":false,"voice":true}"#).expect("upper");
        let lower: Capabilities =
            serde_json::from_str(r#"{"sms":true,"mms":false,"voice":true,"fax":false}"#)
                .expect("lower");
        assert_eq!(upper, lower);
        assert!(upper.sms && upper.voice && !upper.mms);
    }
}
