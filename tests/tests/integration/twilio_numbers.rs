//! The Twilio numbers mock (`stack/src/twilio_numbers/`): its check of requests against
//! Twilio's OpenAPI definition, and smsflow's numbers client
//! (`shared/src/adapters/twilio/numbers.rs`) against it.

use smsflow_shared::adapters::twilio::numbers::{
    NumberSearch, NumberType, NumbersError, Purchase, PurchaseTarget, TwilioNumbers,
};
use smsflow_shared::domain::{PhoneNumber, Secret, TwilioCredentials};
use smsflow_tests::example::{ACME_AUTH_TOKEN, ACME_TWILIO_SID};
use smsflow_tests::twilio_numbers::openapi::{Request, Spec};
use smsflow_tests::twilio_numbers::{Failure, Offer, TwilioNumbersMock};

const AUTH: &str = "Basic QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTpzZWNyZXQ=";
const ACCOUNT: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001";

fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    body: &'a [u8],
) -> Request<'a> {
    Request {
        method,
        path,
        query,
        content_type: (!body.is_empty()).then_some("application/x-www-form-urlencoded"),
        authorization: Some(AUTH),
        body,
    }
}

#[test]
fn requests_are_held_to_twilios_definition() {
    let spec = Spec::load();
    let search = format!("{ACCOUNT}/AvailablePhoneNumbers/US/Local.json");
    let buy = format!("{ACCOUNT}/IncomingPhoneNumbers.json");
    let one = format!("{ACCOUNT}/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json");
    let bad_sid = format!("{ACCOUNT}/IncomingPhoneNumbers/42.json");
    let cases: Vec<(Request, Result<&str, &str>)> = vec![
            (request("GET", &search, Some("SmsEnabled=true&AreaCode=952"), b""), Ok("ListAvailablePhoneNumberLocal")),
            (request("GET", &search, Some("AreaCode=nine"), b""), Err("is not an integer")),
            (request("GET", &search, Some("Colour=red"), b""), Err("query parameter Colour is not declared")),
            (request("POST", &buy, None, b"PhoneNumber=%2B19525550100&SmsUrl=https%3A%2F%2Fa.example%2Ftwilio%2Finbound&SmsMethod=POST"), Ok("CreateIncomingPhoneNumber")),
            (request("POST", &buy, None, b"SmsMethod=PUT"), Err("SmsMethod")),
            (request("POST", &buy, None, b"Colour=red"), Err("form parameter Colour is not declared")),
            (request("POST", &buy, None, b"PhoneNumber=9525550100"), Err("PhoneNumber")),
            (request("DELETE", &one, None, b""), Ok("DeleteIncomingPhoneNumber")),
            (request("DELETE", &bad_sid, None, b""), Err("path parameter Sid")),
            (request("PUT", &one, None, b""), Err("PUT is not an operation")),
            (request("GET", "/2010-04-01/Accounts/AC1/Calls.json", None, b""), Err("no path")),
        ];
    for (request, expected) in cases {
        let got = spec.check(&request).map(|m| m.operation_id);
        match expected {
            Ok(id) => assert_eq!(
                got.as_deref(),
                Ok(id),
                "{} {}",
                request.method,
                request.path
            ),
            Err(reason) => {
                let error = got.expect_err(reason);
                assert!(error.contains(reason), "{error}");
            }
        }
    }
    let mut anonymous = request("GET", &search, None, b"");
    anonymous.authorization = None;
    assert!(spec.check(&anonymous).is_err());
    let mut json_body = request("POST", &buy, None, b"{\"AreaCode\":\"952\"}");
    json_body.content_type = Some("application/json");
    assert!(
        spec.check(&json_body)
            .expect_err("JSON")
            .contains("must be application/x-www-form-urlencoded")
    );
}

fn acme() -> TwilioCredentials {
    TwilioCredentials {
        account_sid: ACME_TWILIO_SID.into(),
        auth_token: Secret::new(ACME_AUTH_TOKEN),
        api_key: None,
        messaging_service_sids: vec![],
    }
}

const INBOUND: &str = "https://sms.example.com/twilio/inbound";

#[tokio::test]
async fn the_client_searches_buys_wires_and_releases_as_twilio_documents() {
    let mock = TwilioNumbersMock::start(&[acme()]).await;
    mock.offer(Offer::local("+19525550101", "Minneapolis", "MN"));
    mock.offer(Offer::toll_free("+18885550102"));
    let client = TwilioNumbers::connect(Some(&mock.base_url())).expect("client");
    let search = NumberSearch {
        country: "US".into(),
        number_type: NumberType::Local,
        area_code: Some(952),
        contains: Some("555*1".into()),
        limit: 5,
    };
    let found = client.available(&acme(), &search).await.expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].locality.as_deref(), Some("Minneapolis"));
    let number = PhoneNumber::parse_e164("+19525550101").expect("number");
    let purchase = Purchase {
        target: PurchaseTarget::Number(number.clone()),
        sms_url: INBOUND.into(),
        address_sid: None,
        bundle_sid: None,
    };
    let bought = client.buy(&acme(), &purchase).await.expect("buy");
    assert_eq!(bought.sms_url.as_deref(), Some(INBOUND));
    let owned = client
        .owned(&acme(), &number)
        .await
        .expect("list")
        .expect("owned");
    assert_eq!(owned.sid, bought.sid);
    let moved = client
        .set_sms_webhook(
            &acme(),
            &owned.sid,
            "https://other.example.com/twilio/inbound",
        )
        .await
        .expect("update");
    assert_eq!(
        moved.sms_url.as_deref(),
        Some("https://other.example.com/twilio/inbound")
    );
    client.release(&acme(), &owned.sid).await.expect("release");
    assert_eq!(client.owned(&acme(), &number).await.expect("list"), None);
    let again = client.buy(&acme(), &purchase).await.expect_err("sold");
    assert!(
        matches!(
            again,
            NumbersError::Twilio {
                code: Some(21422),
                ..
            }
        ),
        "{again}"
    );
    assert_eq!(
        mock.calls(),
        [
            "ListAvailablePhoneNumberLocal",
            "CreateIncomingPhoneNumber",
            "ListIncomingPhoneNumber",
            "UpdateIncomingPhoneNumber",
            "DeleteIncomingPhoneNumber",
            "ListIncomingPhoneNumber",
            "CreateIncomingPhoneNumber",
        ]
    );
}

#[tokio::test]
async fn twilio_errors_reach_the_client_with_code_and_link() {
    let mock = TwilioNumbersMock::start(&[acme()]).await;
    let client = TwilioNumbers::connect(Some(&mock.base_url())).expect("client");
    let wrong = TwilioCredentials {
        auth_token: Secret::new("not-the-token"),
        ..acme()
    };
    let search = NumberSearch {
        country: "US".into(),
        number_type: NumberType::TollFree,
        area_code: None,
        contains: None,
        limit: 1,
    };
    let denied = client.available(&wrong, &search).await.expect_err("401");
    assert_eq!(
        denied.to_string(),
        "Twilio error 20003: Authenticate (https://www.twilio.com/docs/errors/20003)"
    );
    mock.fail_next(
        "CreateIncomingPhoneNumber",
        Failure::new(400, 21631, "Phone Number Requires an Address"),
    );
    let purchase = Purchase {
        target: PurchaseTarget::AreaCode(952),
        sms_url: INBOUND.into(),
        address_sid: None,
        bundle_sid: None,
    };
    let refused = client.buy(&acme(), &purchase).await.expect_err("21631");
    assert!(matches!(
        refused,
        NumbersError::Twilio {
            code: Some(21631),
            http_status: 400,
            ..
        }
    ));
    assert!(mock.violations().is_empty());
}
