use std::path::{Path, PathBuf};

use super::*;
use crate::domain::CrmConnection;

const EXAMPLE: &str = include_str!("../../../smsflow.example.toml");

fn parse(text: &str) -> Result<LocalConfig, ConfigError> {
    LocalConfig::parse(Path::new("/etc/smsflow/test.toml"), text)
}

#[test]
fn the_shipped_example_is_valid() {
    let config = parse(EXAMPLE).expect("example config parses");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.server.data_dir,
        PathBuf::from("/etc/smsflow/.smsflow")
    );
    let acme = &config.accounts[0];
    assert_eq!(acme.id.as_str(), "acme");
    assert_eq!(acme.numbers[0].number.as_str(), "+19523142318");
    assert_eq!(acme.numbers[1].segments_per_second(), 3.0);
    assert_eq!(acme.numbers[0].segments_per_second(), 1.0);
    assert!(
        acme.send_key_hash
            .matches("local-dev-key-change-me-0123456789")
    );
    assert_eq!(acme.users.len(), 2);
    assert_eq!(acme.crm, CrmConnection::Sandbox);
    assert_eq!(acme.bounce_policy.hard_failures_to_bounce, 3, "the default");
    let strict = EXAMPLE.replacen(
        "queue_limit = 500",
        "queue_limit = 500\nbounce_after = 1",
        1,
    );
    let strict = parse(&strict).expect("bounce_after parses");
    assert_eq!(strict.accounts[0].bounce_policy.hard_failures_to_bounce, 1);
}

/// Applies `edit` to the example and expects an error at `field` mentioning `problem`.
#[test]
fn bad_configuration_names_field_and_problem() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (what is wrong, replace this, with this, expected "field: problem" fragment)
        (
            "missing field",
            "goal_integration = \"smsflow\"",
            "",
            "accounts[0]: missing field `goal_integration`",
        ),
        (
            "malformed number",
            "number = \"(952) 314-2318\"",
            "number = \"952-31\"",
            "accounts[0].numbers[0].number: '952-31' is not",
        ),
        (
            "duplicate inbound number",
            "number = \"+18885550100\"",
            "number = \"+19523142318\"",
            "accounts[0].numbers[1].number: duplicate inbound number +19523142318 (also accounts[0].numbers[0].number)",
        ),
        (
            "unknown field (typo)",
            "queue_limit = 500",
            "queue_limt = 500",
            "accounts[0].queue_limt: unknown field `queue_limt`",
        ),
        (
            "bad e-mail",
            "email = \"mary@acme.example\"",
            "email = \"mary\"",
            "accounts[0].users[0].email: 'mary' is not an e-mail address",
        ),
        (
            "two users with one e-mail (send requests name users by e-mail too)",
            "email = \"john@acme.example\"",
            "email = \"Mary@ACME.example\"",
            "accounts[0].users[1].email: user 'john' has the same e-mail as user 'mary'",
        ),
        (
            "bad country",
            "default_country = \"US\"",
            "default_country = \"XX\"",
            "accounts[0].default_country: 'XX' is not an ISO 3166-1",
        ),
        (
            "bad account sid",
            "account_sid = \"AC00000000000000000000000000000001\"",
            "account_sid = \"AC123\"",
            "accounts[0].twilio.account_sid: 'AC123' is not a Twilio Account SID",
        ),
        (
            "bad sender kind",
            "kind = \"long_code\"",
            "kind = \"landline\"",
            "accounts[0].numbers[0].kind: unknown variant `landline`",
        ),
        (
            "short send key",
            "send_key = \"local-dev-key-change-me-0123456789\"",
            "send_key = \"short\"",
            "accounts[0].send_key: must be at least 16 characters",
        ),
        (
            "bad listen address",
            "listen = \"127.0.0.1:8080\"",
            "listen = \"localhost\"",
            "server.listen: 'localhost' is not an address:port",
        ),
        (
            "bad account id",
            "id = \"acme\"",
            "id = \"Acme Inc\"",
            "accounts[0].id: 'Acme Inc' is not an account id",
        ),
        (
            "bounce after zero failures",
            "queue_limit = 500",
            "queue_limit = 500\nbounce_after = 0",
            "accounts[0].bounce_after: must be at least 1",
        ),
        (
            "bad reply domain",
            "reply_domain = \"reply.acme.example\"",
            "reply_domain = \"reply\"",
            "mail.reply_domain: 'reply' is not a domain name",
        ),
        (
            "reply days out of range",
            "reply_address_days = 30",
            "reply_address_days = 400",
            "mail.reply_address_days: a reply address must work for 1 to 365 days",
        ),
        ("syntax error", "[mail]", "[mail", "(syntax): "),
    ];
    for (what, from, to, expected) in cases {
        assert!(EXAMPLE.contains(from), "{what}: example lacks {from:?}");
        let edited = EXAMPLE.replacen(from, to, 1);
        let err = parse(&edited).expect_err(what);
        let shown = err.to_string();
        assert!(
            shown.starts_with("/etc/smsflow/test.toml: "),
            "{what}: message must name the file: {shown}"
        );
        assert!(shown.contains(expected), "{what}: got {shown}");
    }
}

/// The example's commented-out event webhook, switched on.
fn with_event_webhook() -> String {
    let block = "# [accounts.event_webhook]\n# url = \"https://events.acme.example/smsflow\"\n# signing_secret = \"change-me-to-a-long-random-string\"";
    assert!(
        EXAMPLE.contains(block),
        "the example documents the event webhook"
    );
    EXAMPLE.replacen(block, &block.replace("# ", ""), 1)
}

#[test]
fn event_webhook_is_optional_and_validated() {
    assert_eq!(
        parse(EXAMPLE).expect("example").accounts[0].event_webhook,
        None
    );
    let on = with_event_webhook();
    let webhook = parse(&on).expect("event webhook parses").accounts[0]
        .event_webhook
        .clone()
        .expect("configured");
    assert_eq!(webhook.url, "https://events.acme.example/smsflow");
    assert_eq!(
        webhook.signing_secret.expose(),
        "change-me-to-a-long-random-string"
    );

    let cases = [
        (
            "not a URL",
            "url = \"https://events.acme.example/smsflow\"",
            "url = \"events.acme.example\"",
            "accounts[0].event_webhook.url: 'events.acme.example' is not an http(s) URL",
        ),
        (
            "empty secret",
            "signing_secret = \"change-me-to-a-long-random-string\"",
            "signing_secret = \" \"",
            "accounts[0].event_webhook.signing_secret: must not be empty",
        ),
        (
            "missing secret",
            "signing_secret = \"change-me-to-a-long-random-string\"",
            "",
            "accounts[0].event_webhook: missing field `signing_secret`",
        ),
        (
            "unknown field",
            "signing_secret = \"change-me-to-a-long-random-string\"",
            "secret = \"x\"",
            "accounts[0].event_webhook.secret: unknown field `secret`",
        ),
    ];
    for (what, from, to, expected) in cases {
        let edited = on.replacen(from, to, 1);
        let err = parse(&edited).expect_err(what).to_string();
        assert!(err.contains(expected), "{what}: got {err}");
    }
}

#[test]
fn quiet_hours_are_optional_and_validated() {
    assert_eq!(
        parse(EXAMPLE).expect("example").accounts[0].quiet_hours,
        None
    );
    let block = "# [accounts.quiet_hours]\n# start = \"21:00\"\n# end = \"08:00\"\n# time_zone = \"America/Chicago\"";
    assert!(EXAMPLE.contains(block), "the example documents quiet hours");
    let on = EXAMPLE.replacen(block, &block.replace("# ", ""), 1);
    let quiet = parse(&on).expect("quiet hours parse").accounts[0]
        .quiet_hours
        .clone()
        .expect("configured");
    assert_eq!(
        (
            quiet.start.to_string(),
            quiet.end.to_string(),
            quiet.default_zone.as_str()
        ),
        ("21:00".to_string(), "08:00".to_string(), "America/Chicago")
    );
    let cases = [
        (
            "start = \"21:00\"",
            "start = \"9pm\"",
            "accounts[0].quiet_hours.start: '9pm' is not a time of day",
        ),
        (
            "time_zone = \"America/Chicago\"",
            "time_zone = \"Central\"",
            "accounts[0].quiet_hours.time_zone: 'Central' is not an IANA time zone",
        ),
        (
            "end = \"08:00\"",
            "end = \"21:00\"",
            "accounts[0].quiet_hours.end: the quiet hours start and end at the same time",
        ),
    ];
    for (from, to, expected) in cases {
        let err = parse(&on.replacen(from, to, 1)).expect_err(to).to_string();
        assert!(err.contains(expected), "{to}: got {err}");
    }
}

#[test]
fn duplicate_numbers_across_accounts_and_duplicate_ids_are_refused() {
    let second = EXAMPLE
        .split("[[accounts]]")
        .nth(1)
        .expect("example has an account");
    let doubled = format!(
        "{EXAMPLE}\n[[accounts]]{}",
        second.replacen("id = \"acme\"", "id = \"beta\"", 1)
    );
    let err = parse(&doubled).expect_err("same numbers in two accounts");
    assert_eq!(err.field, "accounts[1].numbers[0].number");
    assert!(
        err.problem.contains("also accounts[0].numbers[0].number"),
        "{err}"
    );

    let same_id = format!("{EXAMPLE}\n[[accounts]]{second}");
    let err = parse(&same_id).expect_err("same id twice");
    assert_eq!(err.field, "accounts[1].id");
}

#[test]
fn a_messaging_service_in_two_accounts_is_refused_whatever_its_case() {
    let with_service =
        |toml: &str, sid: &str| toml.replacen("MG00000000000000000000000000000001", sid, 1);
    let first = with_service(EXAMPLE, "MG00000000000000000000000000000abc");
    let second = EXAMPLE
        .split("[[accounts]]")
        .nth(1)
        .expect("example has an account")
        .replacen("id = \"acme\"", "id = \"beta\"", 1)
        .replacen(
            "number = \"(952) 314-2318\"",
            "number = \"+16125550111\"",
            1,
        )
        .replacen("number = \"+18885550100\"", "number = \"+16125550112\"", 1);
    for sid in [
        "MG00000000000000000000000000000abc",
        "MG00000000000000000000000000000ABC",
    ] {
        let toml = format!("{first}\n[[accounts]]{}", with_service(&second, sid));
        let err = parse(&toml).expect_err(sid);
        assert_eq!(
            err.field, "accounts[1].twilio.messaging_service_sids[0]",
            "{sid}"
        );
        assert!(
            err.problem
                .contains("also accounts[0].twilio.messaging_service_sids[0]"),
            "{sid}: {err}"
        );
    }
    let other_service = format!(
        "{first}\n[[accounts]]{}",
        with_service(&second, "MG00000000000000000000000000000abd")
    );
    parse(&other_service).expect("two accounts, two services");

    // One account listing its service twice is not a conflict.
    let repeated = EXAMPLE.replacen(
        "[\"MG00000000000000000000000000000001\"]",
        "[\"MG00000000000000000000000000000abc\", \"MG00000000000000000000000000000ABC\"]",
        1,
    );
    parse(&repeated).expect("a repeated service in one account");
}

#[test]
fn function_env_requires_table_and_queues() {
    let full = |name: &str| match name {
        "SMSFLOW_TABLE" => Some("smsflow".to_string()),
        "SMSFLOW_SEND_QUEUE_URL" => Some("https://sqs/send".to_string()),
        "SMSFLOW_AUTOMATION_QUEUE_URL" => Some("https://sqs/automation".to_string()),
        "SMSFLOW_PUBLIC_BASE_URL" => Some("https://sms.example.com/".to_string()),
        "SMSFLOW_MAIL_FROM" => Some("sms@example.com".to_string()),
        "SMSFLOW_TWILIO_API_BASE_URL" => Some("https://api.dublin.ie1.twilio.com/".to_string()),
        _ => None,
    };
    let env = FunctionEnv::from_lookup(full).expect("complete env");
    assert_eq!(
        env.public_base_url.as_deref(),
        Some("https://sms.example.com")
    );
    assert_eq!(
        env.twilio_api_base_url.as_deref(),
        Some("https://api.dublin.ie1.twilio.com")
    );
    type Seconds = fn(&FunctionEnv) -> Option<std::time::Duration>;
    let knobs: [(&str, Seconds); 2] = [
        ("SMSFLOW_RETRY_BACKOFF_SECONDS", |e| e.retry_backoff),
        ("SMSFLOW_LEASE_SECONDS", |e| e.lease),
    ];
    for (name, read) in knobs {
        for (raw, expected) in [("7", Some(7)), ("0", None), ("-1", None), ("soon", None)] {
            let env = FunctionEnv::from_lookup(|n| {
                if n == name {
                    Some(raw.to_string())
                } else {
                    full(n)
                }
            });
            assert_eq!(
                env.map(|e| read(&e).map(|d| d.as_secs())).ok(),
                expected.map(Some),
                "{name}={raw}"
            );
        }
    }
    let defaults = FunctionEnv::from_lookup(full).expect("complete env");
    assert_eq!((defaults.retry_backoff, defaults.lease), (None, None));
    let without = FunctionEnv::from_lookup(|n| {
        (n != "SMSFLOW_TWILIO_API_BASE_URL")
            .then(|| full(n))
            .flatten()
    })
    .expect("Twilio's URL is optional");
    assert_eq!(without.twilio_api_base_url, None);
    for missing in [
        "SMSFLOW_TABLE",
        "SMSFLOW_SEND_QUEUE_URL",
        "SMSFLOW_AUTOMATION_QUEUE_URL",
    ] {
        let err = FunctionEnv::from_lookup(|n| if n == missing { None } else { full(n) })
            .expect_err(missing);
        assert_eq!(err.name, missing);
    }
    let err = FunctionEnv::from_lookup(|n| {
        if n == "SMSFLOW_MAIL_FROM" {
            Some("nope".into())
        } else {
            full(n)
        }
    })
    .expect_err("bad mail from");
    assert_eq!(err.name, "SMSFLOW_MAIL_FROM");
}

#[test]
fn function_env_reads_the_reply_domain_and_its_days() {
    // (SMSFLOW_REPLY_DOMAIN, SMSFLOW_REPLY_ADDRESS_DAYS, domain and days, or the bad variable)
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Result<Option<(&'static str, u64)>, &'static str>,
    );
    let cases: [Case; 6] = [
        (None, None, Ok(None)),
        (None, Some("7"), Ok(None)),
        (
            Some("Reply.Acme.Example"),
            None,
            Ok(Some(("reply.acme.example", 30))),
        ),
        (
            Some("reply.acme.example"),
            Some("7"),
            Ok(Some(("reply.acme.example", 7))),
        ),
        (
            Some("reply.acme.example"),
            Some("0"),
            Err("SMSFLOW_REPLY_ADDRESS_DAYS"),
        ),
        (Some("not a domain"), None, Err("SMSFLOW_REPLY_DOMAIN")),
    ];
    for (domain, days, want) in cases {
        let env = FunctionEnv::from_lookup(|n| match n {
            "SMSFLOW_TABLE" => Some("smsflow".into()),
            "SMSFLOW_SEND_QUEUE_URL" => Some("https://sqs/send".into()),
            "SMSFLOW_AUTOMATION_QUEUE_URL" => Some("https://sqs/automation".into()),
            "SMSFLOW_REPLY_DOMAIN" => domain.map(str::to_string),
            "SMSFLOW_REPLY_ADDRESS_DAYS" => days.map(str::to_string),
            _ => None,
        });
        let got = env
            .map(|e| {
                e.replies
                    .map(|r| (r.domain().to_string(), r.window().as_secs() / 86_400))
            })
            .map_err(|e| e.name);
        let want = want.map(|o| o.map(|(d, n)| (d.to_string(), n)));
        assert_eq!(got, want, "{domain:?} {days:?}");
    }
}

#[test]
fn every_problem_of_the_file_is_reported_in_its_order() {
    let edits = [
        ("listen = \"127.0.0.1:8080\"", "listen = \"localhost\""),
        (
            "account_sid = \"AC00000000000000000000000000000001\"",
            "account_sid = \"AC123\"",
        ),
        ("number = \"(952) 314-2318\"", "number = \"952-31\""),
        ("email = \"mary@acme.example\"", "email = \"mary\""),
        ("queue_limit = 500", "queue_limit = 0"),
    ];
    let mut text = EXAMPLE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "example lacks {from:?}");
        text = text.replacen(from, to, 1);
    }
    let problems = LocalConfig::parse_all(Path::new("/etc/smsflow/test.toml"), &text)
        .expect_err("five problems")
        .0;
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "server.listen",
            "accounts[0].twilio.account_sid",
            "accounts[0].numbers[0].number",
            "accounts[0].users[0].email",
            "accounts[0].queue_limit",
        ]
    );
    let first = parse(&text).expect_err("parse stops at the first");
    assert_eq!(first, problems[0]);
}

/// The example's account moved to Instasent, with what Twilio alone offers taken out: no
/// Messaging Service, no Advanced Opt-Out, and no `[accounts.twilio]` at all.
fn instasent_example() -> String {
    let twilio = "[accounts.twilio]\n\
        account_sid = \"AC00000000000000000000000000000001\"\n\
        auth_token = \"sandbox-auth-token\"         # signs webhooks; the sandbox carrier signs with it too\n\
        messaging_service_sids = [\"MG00000000000000000000000000000001\"]\n";
    assert!(EXAMPLE.contains(twilio), "the example's Twilio section");
    let instasent = "[accounts.instasent]\napi_token = \"instasent-api-token\"\n";
    EXAMPLE
        .replacen(
            "queue_limit = 500",
            "provider = \"instasent\"\nqueue_limit = 500",
            1,
        )
        .replacen(twilio, instasent, 1)
        .replacen("twilio_keywords = \"advanced\"", "", 1)
}

#[test]
fn an_account_sends_through_instasent_without_twilio() {
    let config = parse(&instasent_example()).expect("an Instasent account parses");
    let acme = &config.accounts[0];
    assert_eq!(acme.provider, crate::domain::SmsProviderKind::Instasent);
    assert!(acme.twilio.is_none());
    let instasent = acme.instasent.as_ref().expect("Instasent credentials");
    assert_eq!(instasent.api_token.expose(), "instasent-api-token");
    assert_eq!(
        instasent.api_base_url(),
        "https://api.instasent.com/transactional/v1"
    );
    assert_eq!(instasent.callback_secret, None, "generated when stored");
    let with_secret = instasent_example().replacen(
        "api_token = \"instasent-api-token\"",
        "api_token = \"t\"\nbase_url = \"http://127.0.0.1:9/v1\"\ncallback_secret = \"abcdefghijklmnop-_09\"",
        1,
    );
    let config = parse(&with_secret).expect("base URL and secret parse");
    let instasent = config.accounts[0].instasent.clone().expect("Instasent");
    assert_eq!(instasent.api_base_url(), "http://127.0.0.1:9/v1");
    assert!(instasent.callback_secret_matches("abcdefghijklmnop-_09"));
}

/// What Instasent cannot do is refused when the file is read, naming the field.
#[test]
fn twilio_only_features_on_instasent_are_refused_at_configuration_time() {
    let base = instasent_example();
    let cases: &[(&str, &str, &str, &str)] = &[
        // (what is wrong, replace this, with this, expected "field: problem" fragment)
        (
            "a Messaging Service",
            "api_token = \"instasent-api-token\"",
            "api_token = \"instasent-api-token\"\n\n[accounts.twilio]\naccount_sid = \"AC00000000000000000000000000000001\"\nauth_token = \"x\"\nmessaging_service_sids = [\"MG00000000000000000000000000000001\"]",
            "accounts[0].twilio.messaging_service_sids: Messaging Services are Twilio's",
        ),
        (
            "Advanced Opt-Out",
            "segments_per_second = 3",
            "segments_per_second = 3\ntwilio_keywords = \"advanced\"",
            "accounts[0].numbers[1].twilio_keywords: Advanced Opt-Out is Twilio's",
        ),
        (
            "one of Twilio's magic test numbers",
            "number = \"+18885550100\"",
            "number = \"+15005550006\"",
            "accounts[0].numbers[1].number: +15005550006 is one of Twilio's test numbers",
        ),
        (
            "no Instasent credentials",
            "api_token = \"instasent-api-token\"",
            "",
            "accounts[0].instasent: missing field `api_token`",
        ),
        (
            "an unknown provider",
            "provider = \"instasent\"",
            "provider = \"nexmo\"",
            "accounts[0].provider: 'nexmo' is not a provider: use twilio or instasent",
        ),
        (
            "a Twilio number without Twilio credentials",
            "segments_per_second = 3",
            "segments_per_second = 3\nprovider = \"twilio\"",
            "accounts[0].twilio: missing: the account or one of its numbers sends through Twilio",
        ),
        (
            "an empty API token",
            "api_token = \"instasent-api-token\"",
            "api_token = \" \"",
            "accounts[0].instasent.api_token: must not be empty",
        ),
        (
            "a short callback secret",
            "api_token = \"instasent-api-token\"",
            "api_token = \"t\"\ncallback_secret = \"short\"",
            "accounts[0].instasent.callback_secret: use at least 16 letters",
        ),
        (
            "a callback secret that does not fit a URL path",
            "api_token = \"instasent-api-token\"",
            "api_token = \"t\"\ncallback_secret = \"abcdefghijklmnop/..\"",
            "accounts[0].instasent.callback_secret: use at least 16 letters",
        ),
        (
            "a base URL that is not http(s)",
            "api_token = \"instasent-api-token\"",
            "api_token = \"t\"\nbase_url = \"api.instasent.com\"",
            "accounts[0].instasent.base_url: 'api.instasent.com' is not an http(s) URL",
        ),
    ];
    for (what, from, to, expected) in cases {
        assert!(base.contains(from), "{what}: example lacks {from:?}");
        let err = parse(&base.replacen(from, to, 1)).expect_err(what);
        assert!(err.to_string().contains(expected), "{what}: got {err}");
    }
}

/// On a Twilio account, one number may send through Instasent; Twilio's features on that
/// number are refused just the same, and Instasent's credentials are required.
#[test]
fn a_number_may_name_instasent_on_a_twilio_account() {
    let one_number = EXAMPLE.replacen(
        "segments_per_second = 3",
        "segments_per_second = 3\nprovider = \"instasent\"",
        1,
    );
    let err = parse(&one_number).expect_err("advanced and no Instasent credentials");
    assert!(
        err.to_string()
            .contains("accounts[0].instasent: missing: the account or one of its numbers"),
        "{err}"
    );
    let with_credentials = one_number.replacen(
        "[accounts.twilio]",
        "[accounts.instasent]\napi_token = \"t\"\n\n[accounts.twilio]",
        1,
    );
    let err = parse(&with_credentials).expect_err("Advanced Opt-Out on Instasent");
    assert!(
        err.to_string()
            .contains("accounts[0].numbers[1].twilio_keywords: Advanced Opt-Out is Twilio's"),
        "{err}"
    );
    let fine = with_credentials.replacen("twilio_keywords = \"advanced\"", "", 1);
    let config = parse(&fine).expect("parses");
    let acme = &config.accounts[0];
    let (twilio_number, instasent_number) = (&acme.numbers[0].number, &acme.numbers[1].number);
    use crate::domain::SmsProviderKind::{Instasent, Twilio};
    assert_eq!(acme.provider_of(Some(twilio_number)), Twilio);
    assert_eq!(acme.provider_of(Some(instasent_number)), Instasent);
    assert_eq!(acme.provider_of(None), Twilio);
}
