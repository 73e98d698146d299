//! SMS provider conformance: what every `SmsProvider` (Twilio's REST API, the sandbox
//! carrier) must do, using Twilio's documented magic test numbers as the shared language:
//! Twilio's test credentials answer them, the sandbox carrier honours them, and the mock
//! Twilio of the tests mimics Twilio's answers byte for byte.

use std::sync::Arc;

use smsflow_shared::domain::{InstasentCredentials, TwilioCredentials};
use smsflow_shared::domain::{MessageStatus, ProviderCredentials, Secret, Timestamp};
use smsflow_shared::ports::{Clock, OutboundSms, Sender, SmsError, SmsProvider, SystemClock};

use crate::fixtures::phone;

/// One adapter under test, fresh for each case.
pub struct SmsUnderTest {
    pub provider: Arc<dyn SmsProvider>,
    pub credentials: TwilioCredentials,
    /// Whatever must stay alive while the adapter is used (e.g. the mock server).
    pub _guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

pub fn test_credentials() -> TwilioCredentials {
    TwilioCredentials {
        account_sid: "AC00000000000000000000000000000001".into(),
        auth_token: Secret::new("test-auth-token"),
        api_key: None,
        messaging_service_sids: vec![],
    }
}

/// Twilio's magic sender that "passes all validation".
pub const VALID_FROM: &str = "+15005550006";

fn sms(from: &str, to: &str) -> OutboundSms {
    OutboundSms {
        to: phone(to),
        sender: Sender::Number(phone(from)),
        body: "Your appointment is confirmed ✓".into(),
        media_urls: vec![],
        status_callback: None,
        client_id: None,
    }
}

fn assert_sid(sid: &str, prefix: &str) {
    assert!(
        sid.len() == 34
            && sid.starts_with(prefix)
            && sid[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "not a Twilio {prefix} SID: {sid}"
    );
}

pub async fn accepts_a_valid_send(t: SmsUnderTest) {
    let accepted = t
        .provider
        .send(
            ProviderCredentials::Twilio(&t.credentials),
            &sms(VALID_FROM, "+14155552671"),
        )
        .await
        .expect("a valid send is accepted");
    assert_sid(&accepted.sid, "SM");
    assert_eq!(accepted.status, MessageStatus::Queued);
}

pub async fn media_sends_are_mms(t: SmsUnderTest) {
    let mut message = sms(VALID_FROM, "+14155552671");
    message.media_urls = vec!["https://example.com/a.jpg".into()];
    let accepted = t
        .provider
        .send(ProviderCredentials::Twilio(&t.credentials), &message)
        .await
        .expect("a media send is accepted");
    assert_sid(&accepted.sid, "MM");
}

pub async fn each_send_gets_its_own_sid(t: SmsUnderTest) {
    let a = t
        .provider
        .send(
            ProviderCredentials::Twilio(&t.credentials),
            &sms(VALID_FROM, "+14155552671"),
        )
        .await;
    let b = t
        .provider
        .send(
            ProviderCredentials::Twilio(&t.credentials),
            &sms(VALID_FROM, "+14155552671"),
        )
        .await;
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert_ne!(a.sid, b.sid);
}

/// Twilio's documented magic numbers and the errors they produce.
pub async fn magic_numbers_produce_twilios_errors(t: SmsUnderTest) {
    let cases: &[(&str, &str, u32)] = &[
        ("+15005550001", "+14155552671", 21212),
        ("+15005550007", "+14155552671", 21606),
        (VALID_FROM, "+15005550001", 21211),
        (VALID_FROM, "+15005550002", 21612),
        (VALID_FROM, "+15005550003", 21408),
        (VALID_FROM, "+15005550004", 21610),
        (VALID_FROM, "+15005550009", 21614),
    ];
    for (from, to, code) in cases {
        match t
            .provider
            .send(ProviderCredentials::Twilio(&t.credentials), &sms(from, to))
            .await
        {
            Err(SmsError::Rejected { code: got, .. }) => {
                assert_eq!(got, *code, "{from} -> {to}");
            }
            other => panic!("{from} -> {to}: expected Rejected {code}, got {other:?}"),
        }
    }
}

/// A full sender queue is a reason to retry later, never a permanent failure.
pub async fn full_sender_queue_is_rate_limited(t: SmsUnderTest) {
    match t
        .provider
        .send(
            ProviderCredentials::Twilio(&t.credentials),
            &sms("+15005550008", "+14155552671"),
        )
        .await
    {
        Err(SmsError::RateLimited { code, .. }) => assert_eq!(code, 21611),
        other => panic!("expected RateLimited 21611, got {other:?}"),
    }
}

/// A send whose answer was lost is found by what it was (recipient, sender, text) and
/// when; nothing else is taken for it: another text, another recipient or sender, or a
/// message taken before the attempt.
pub async fn finds_a_message_it_took_and_nothing_else(t: SmsUnderTest) {
    let message = sms(VALID_FROM, "+14155552671");
    let now = SystemClock.now().as_millis();
    let before = Timestamp::from_millis(now - 2_000);
    let accepted = t
        .provider
        .send(ProviderCredentials::Twilio(&t.credentials), &message)
        .await
        .expect("accepted");
    let find = |sms: OutboundSms, since| {
        let (provider, credentials) = (t.provider.clone(), t.credentials.clone());
        async move {
            provider
                .find_sent(ProviderCredentials::Twilio(&credentials), &sms, since)
                .await
                .expect("the provider answers")
        }
    };
    let found = find(message.clone(), before).await.expect("found");
    assert_eq!(found.sid, accepted.sid);

    let other_text = OutboundSms {
        body: "Another text".into(),
        ..message.clone()
    };
    let other_recipient = OutboundSms {
        to: phone("+14155552672"),
        ..message.clone()
    };
    let other_sender = sms("+15005550010", "+14155552671");
    let later = Timestamp::from_millis(now + 60_000);
    for (what, sms, since) in [
        ("another text", other_text, before),
        ("another recipient", other_recipient, before),
        ("another sender", other_sender, before),
        ("taken before the attempt", message, later),
    ] {
        assert_eq!(find(sms, since).await, None, "{what}");
    }
}

#[macro_export]
macro_rules! sms_conformance {
    ($name:ident, $factory:path) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::sms_conformance!(@cases $factory;
                accepts_a_valid_send,
                media_sends_are_mms,
                each_send_gets_its_own_sid,
                magic_numbers_produce_twilios_errors,
                full_sender_queue_is_rate_limited,
            );
        }
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::conformance::sms::$case($factory().await).await;
            }
        )*
    };
}

/// One Instasent adapter under test (its HTTP adapter against a mock or the stack's
/// stand-in, or the sandbox carrier playing Instasent), fresh for each case.
pub struct InstasentUnderTest {
    pub provider: Arc<dyn SmsProvider>,
    pub credentials: InstasentCredentials,
    pub _guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

pub const INSTASENT_TOKEN: &str = "test-instasent-token";

/// Instasent credentials whose base URL is `base_url` (a mock's, a stand-in's).
pub fn instasent_credentials(base_url: Option<String>) -> InstasentCredentials {
    InstasentCredentials {
        api_token: Secret::new(INSTASENT_TOKEN),
        base_url,
        callback_secret: Some(Secret::new("test-callback-secret-0001")),
    }
}

/// A text to a Spanish mobile from an alphanumeric sender, as Connectif sends them.
pub fn instasent_sms(to: &str, text: &str, client_id: &str) -> OutboundSms {
    OutboundSms {
        to: phone(to),
        sender: Sender::Alphanumeric("ACME".into()),
        body: text.into(),
        media_urls: vec![],
        status_callback: None,
        client_id: Some(client_id.into()),
    }
}

pub async fn instasent_accepts_a_valid_send(t: InstasentUnderTest) {
    let accepted = t
        .provider
        .send(
            ProviderCredentials::Instasent(&t.credentials),
            &instasent_sms(
                "+34600000001",
                "Tu cita es mañana",
                "01JCONFORMANCE0000000001",
            ),
        )
        .await
        .expect("a valid send is accepted");
    assert!(!accepted.sid.as_str().is_empty());
    assert_eq!(accepted.status, MessageStatus::Queued);
}

pub async fn instasent_each_send_gets_its_own_id(t: InstasentUnderTest) {
    let credentials = ProviderCredentials::Instasent(&t.credentials);
    let message = |id| instasent_sms("+34600000001", "Hola ✓", id);
    let a = t.provider.send(credentials, &message("01JA")).await;
    let b = t.provider.send(credentials, &message("01JB")).await;
    assert_ne!(a.expect("first").sid, b.expect("second").sid);
}

/// Instasent sends text only: media is refused for good, never sent without it.
pub async fn instasent_refuses_media(t: InstasentUnderTest) {
    let mut message = instasent_sms("+34600000001", "See the photo", "01JMEDIA");
    message.media_urls = vec!["https://example.com/a.jpg".into()];
    let refused = t
        .provider
        .send(ProviderCredentials::Instasent(&t.credentials), &message)
        .await;
    assert!(
        matches!(refused, Err(SmsError::Rejected { .. })),
        "{refused:?}"
    );
}

/// A send whose answer was lost is found by our `clientId`; another id finds nothing.
pub async fn instasent_finds_a_message_by_its_client_id(t: InstasentUnderTest) {
    let credentials = ProviderCredentials::Instasent(&t.credentials);
    let before = Timestamp::from_millis(SystemClock.now().as_millis() - 2_000);
    let message = instasent_sms("+34600000001", "Lost answer", "01JLOSTANSWER");
    let accepted = t.provider.send(credentials, &message).await.expect("sent");
    let found = t.provider.find_sent(credentials, &message, before).await;
    assert_eq!(found.expect("answers").map(|f| f.sid), Some(accepted.sid));
    let other = instasent_sms("+34600000001", "Lost answer", "01JNEVERSENT");
    let found = t.provider.find_sent(credentials, &other, before).await;
    assert_eq!(found.expect("answers"), None);
}

#[macro_export]
macro_rules! instasent_conformance {
    ($name:ident, $factory:path) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::sms_conformance!(@cases $factory;
                instasent_accepts_a_valid_send,
                instasent_each_send_gets_its_own_id,
                instasent_refuses_media,
                instasent_finds_a_message_by_its_client_id,
            );
        }
    };
}
