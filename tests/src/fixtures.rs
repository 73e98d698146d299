//! Sample domain values for tests.

use std::collections::BTreeMap;

use smsflow_shared::domain::{
    Account, AccountId, CrmConnection, EmailAddress, InboundNumber, KeyHash, PhoneNumber, Secret,
    SendLimits, SenderKind, TwilioCredentials, User,
};

pub fn account_id(id: &str) -> AccountId {
    AccountId::parse(id).expect("fixture account id is valid")
}

pub fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(e164).expect("fixture phone is valid E.164")
}

pub fn email(address: &str) -> EmailAddress {
    EmailAddress::parse(address).expect("fixture e-mail is valid")
}

/// An account on the sandbox CRM owning `numbers` (E.164 strings), with one user `mary`.
pub fn account(id: &str, numbers: &[&str]) -> Account {
    let mut users = BTreeMap::new();
    users.insert(
        "mary".to_string(),
        User {
            id: "mary".into(),
            name: "Mary Anders".into(),
            email: email("mary@example.com"),
            crm_user_id: Some("1".into()),
        },
    );
    Account {
        id: account_id(id),
        name: format!("Account {id}"),
        default_country: "US".parse().expect("US is a country"),
        twilio: TwilioCredentials {
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: Secret::new("test-auth-token"),
            api_key: None,
            messaging_service_sids: vec![],
        },
        numbers: numbers
            .iter()
            .map(|n| InboundNumber {
                number: phone(n),
                kind: SenderKind::LongCode,
                backup_email: email("office@example.com"),
                segments_per_second: None,
                keyword_handling: Default::default(),
            })
            .collect(),
        users,
        crm: CrmConnection::Sandbox,
        goal_integration: "smsflow".into(),
        limits: SendLimits::default(),
        send_key_hash: KeyHash::of("test-send-key"),
        alert_number: None,
        replies: Default::default(),
        subscription_field: None,
        sms_notes: true,
        event_webhook: None,
        quiet_hours: None,
        debug_log_bodies: false,
    }
}
