//! Sample domain values and sequences for tests.

use std::collections::BTreeMap;

use smsflow_shared::domain::consent::SendKind;
use smsflow_shared::domain::{
    Account, AccountId, CrmConnection, Direction, EmailAddress, InboundNumber, KeyHash, MessageId,
    MessageRecord, MessageStatus, PhoneNumber, Secret, SendLimits, SenderKind, Timestamp,
    TwilioCredentials, User,
};
use smsflow_shared::jobs::SendJob;
use smsflow_shared::ports::{NewContact, Sender};

use crate::example::ACME_LONG_CODE;

/// acme's survey sequence (`tests/fixtures/survey.yaml`): three questions with branching,
/// a closing message that quotes an answer, a note, and the tags for an opt-out and an
/// invalid number; started by the keyword SURVEY or by the CRM.
pub const SURVEY: &str = include_str!("../fixtures/survey.yaml");

pub fn account_id(id: &str) -> AccountId {
    AccountId::parse(id).expect("fixture account id is valid")
}

pub fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(e164).expect("fixture phone is valid E.164")
}

pub fn email(address: &str) -> EmailAddress {
    EmailAddress::parse(address).expect("fixture e-mail is valid")
}

/// A CRM contact to create: `first_name` with the phone `e164`, nothing else.
pub fn new_contact(first_name: &str, e164: &str) -> NewContact {
    NewContact {
        first_name: Some(first_name.into()),
        phone: Some(phone(e164)),
        ..NewContact::default()
    }
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
            admin: false,
        },
    );
    Account {
        id: account_id(id),
        name: format!("Account {id}"),
        default_country: "US".parse().expect("US is a country"),
        provider: Default::default(),
        twilio: Some(TwilioCredentials {
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: Secret::new("test-auth-token"),
            api_key: None,
            messaging_service_sids: vec![],
        }),
        instasent: None,
        numbers: numbers
            .iter()
            .map(|n| InboundNumber {
                number: phone(n),
                kind: SenderKind::LongCode,
                backup_email: email("office@example.com"),
                segments_per_second: None,
                keyword_handling: Default::default(),
                provider: None,
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
        bounce_policy: Default::default(),
    }
}

/// Message `id` between the example's long code and `contact`, as first recorded at `at`
/// (outbound: queued; inbound: received), with no body, SID, user, campaign or contact: a
/// test sets what it needs with `..`.
pub fn message(
    id: impl Into<MessageId>,
    account: &AccountId,
    contact: &str,
    direction: Direction,
    at: Timestamp,
) -> MessageRecord {
    MessageRecord {
        id: id.into(),
        account: account.clone(),
        contact_phone: phone(contact),
        our_sender: ACME_LONG_CODE.into(),
        direction,
        body: String::new(),
        media_urls: vec![],
        status: match direction {
            Direction::Outbound => MessageStatus::Queued,
            Direction::Inbound => MessageStatus::Received,
        },
        provider_sid: None,
        error_code: None,
        user_id: None,
        campaign: None,
        kind: None,
        contact_id: None,
        created_at: at,
        updated_at: at,
        routing: None,
    }
}

/// A transactional send job `message_id` of `body` to `to` from the account's first number,
/// due now, for no user, campaign or contact: a test sets what it needs with `..`.
pub fn send_job(
    message_id: impl Into<MessageId>,
    account: &Account,
    to: PhoneNumber,
    body: &str,
) -> SendJob {
    SendJob {
        message_id: message_id.into(),
        account: account.id.clone(),
        to,
        sender: Sender::Number(account.numbers[0].number.clone()),
        body: body.into(),
        media_urls: vec![],
        user_id: None,
        campaign: None,
        contact_id: None,
        manual: false,
        kind: SendKind::Transactional,
        not_before: None,
        send_slot: None,
        time_zone: None,
        sequence: None,
    }
}
