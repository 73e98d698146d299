//! A test account, and the test values most tests of the domain build, shared by the
//! domain's unit tests.

use std::collections::BTreeMap;

use super::account::{
    Account, AccountId, CrmConnection, InboundNumber, SendLimits, SenderKind, TwilioCredentials,
    User,
};
use super::email::EmailAddress;
use super::phone::PhoneNumber;
use super::secret::{KeyHash, Secret};

pub const SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";

/// A test e-mail address (one that does not parse is a mistake in the test).
pub fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).expect("valid test e-mail")
}

/// A test phone number in E.164 (one that does not parse is a mistake in the test).
pub fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(e164).expect("valid test number")
}

/// Account "acme" (US): long code +12025550101 at the default rate, toll-free
/// +18005550102 at 2.5 segments/s, one Messaging Service, user "mary".
pub fn account() -> Account {
    let mary = User {
        id: "mary".into(),
        name: "Mary Jane Anders".into(),
        email: email("mary@example.com"),
        crm_user_id: Some("7".into()),
        admin: false,
    };
    Account {
        id: AccountId::parse("acme").expect("valid account id"),
        name: "Acme Roofing".into(),
        default_country: "US".parse().expect("US is a country"),
        provider: Default::default(),
        twilio: Some(TwilioCredentials {
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: Secret::new("token"),
            api_key: None,
            messaging_service_sids: vec![SERVICE_SID.into()],
        }),
        instasent: None,
        numbers: vec![
            InboundNumber {
                number: phone("+12025550101"),
                kind: SenderKind::LongCode,
                backup_email: email("office@example.com"),
                segments_per_second: None,
                keyword_handling: Default::default(),
                provider: None,
            },
            InboundNumber {
                number: phone("+18005550102"),
                kind: SenderKind::TollFree,
                backup_email: email("office@example.com"),
                segments_per_second: Some(2.5),
                keyword_handling: Default::default(),
                provider: None,
            },
        ],
        users: BTreeMap::from([("mary".to_string(), mary)]),
        crm: CrmConnection::Sandbox,
        goal_integration: "smsflow".into(),
        limits: SendLimits::default(),
        send_key_hash: KeyHash::of("key"),
        alert_number: Some(phone("+14155550100")),
        replies: Default::default(),
        subscription_field: None,
        sms_notes: true,
        event_webhook: None,
        quiet_hours: None,
        debug_log_bodies: false,
        bounce_policy: Default::default(),
    }
}
