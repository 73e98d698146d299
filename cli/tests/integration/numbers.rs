//! `smsflow numbers search/buy/wire/check/release` on the local database against the
//! Twilio numbers mock, which fails the test on any request Twilio's OpenAPI definition
//! does not allow (`stack/src/twilio_numbers/`).

use serde_json::Value;
use smsflow_shared::domain::{Secret, TwilioCredentials};
use smsflow_tests::example::{
    ACME_AUTH_TOKEN, ACME_LONG_CODE, ACME_TWILIO_SID, ExampleConfig, OtherAccount,
};
use smsflow_tests::twilio_numbers::{Failure, Offer, Owned, TwilioNumbersMock};

use crate::support::{Local, Run, smsflow, texts};

/// The example's `server.public_base_url` and the inbound route.
const LOCAL_INBOUND: &str = "http://127.0.0.1:8080/twilio/inbound";
const ACME_TOLL_FREE: &str = "+18885550100";
const BETA_TWILIO_SID: &str = "AC00000000000000000000000000000002";
const BETA: OtherAccount = OtherAccount {
    id: "beta",
    name: "Beta",
    send_key: "beta-send-key-0123456789abcdef0123",
    auth_token: "beta-auth-token",
    number: "+16125550100",
    backup_email: "office@beta.example",
    crm: "kind = \"sandbox\"",
};

/// The example (and the account beta) stored locally, and the mock holding both
/// accounts' Twilio numbers as Twilio would once they are wired.
struct Setup {
    mock: TwilioNumbersMock,
    local: Local,
    // Last: the mock's server runs on it.
    _runtime: tokio::runtime::Runtime,
}

fn credentials(sid: &str, token: &str) -> TwilioCredentials {
    TwilioCredentials {
        account_sid: sid.into(),
        auth_token: Secret::new(token),
        api_key: None,
        messaging_service_sids: vec![],
    }
}

impl Setup {
    fn new() -> Self {
        Setup::with(ExampleConfig::new().with_account(&BETA))
    }

    /// The mock with acme's and beta's Twilio accounts, behind the local store of `config`.
    fn with(config: ExampleConfig) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let accounts = [
            credentials(ACME_TWILIO_SID, ACME_AUTH_TOKEN),
            credentials(BETA_TWILIO_SID, BETA.auth_token),
        ];
        let mock = runtime.block_on(TwilioNumbersMock::start(&accounts));
        let setup = Setup {
            mock,
            local: Local::with_config(config.text()),
            _runtime: runtime,
        };
        for number in [ACME_LONG_CODE, ACME_TOLL_FREE] {
            setup
                .mock
                .own(owned(ACME_TWILIO_SID, number, Some(LOCAL_INBOUND)));
        }
        setup
    }

    /// `smsflow ARGS --config …` with Twilio's API at the mock.
    fn run(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--config", &self.local.config]);
        let base_url = self.mock.base_url();
        smsflow(&all, &[("SMSFLOW_TWILIO_API_BASE_URL", &base_url)])
    }

    fn json(&self, args: &[&str]) -> Value {
        self.run(&[&["--json"], args].concat()).json()
    }

    /// acme's numbers as `numbers list --json` prints them.
    fn acme_numbers(&self) -> Value {
        self.json(&["numbers", "list", "--account", "acme"])
    }

    /// The SMS webhook Twilio has for acme's `number`, if acme's Twilio account owns it.
    fn twilio_url(&self, number: &str) -> Option<Option<String>> {
        let owned = self.mock.owned_by(ACME_TWILIO_SID);
        owned
            .into_iter()
            .find(|o| o.number == number)
            .map(|o| o.sms_url)
    }
}

fn owned(account_sid: &str, number: &str, sms_url: Option<&str>) -> Owned {
    Owned {
        account_sid: account_sid.into(),
        number: number.into(),
        sms_url: sms_url.map(str::to_string),
        sms_method: Some("POST".into()),
        number_type: "local".into(),
        ..Owned::default()
    }
}

fn number_entry<'a>(numbers: &'a Value, number: &str) -> Option<&'a Value> {
    numbers.as_array()?.iter().find(|n| n["number"] == number)
}

#[test]
fn search_lists_what_twilio_offers_with_capabilities() {
    let setup = Setup::new();
    setup
        .mock
        .offer(Offer::local("+19525550101", "Minneapolis", "MN"));
    setup
        .mock
        .offer(Offer::local("+16515550102", "Saint Paul", "MN"));
    setup.mock.offer(Offer::toll_free("+18445550103"));
    let cases: [(&[&str], &[&str]); 4] = [
        (&[], &["+19525550101", "+16515550102"]),
        (&["--area-code", "651"], &["+16515550102"]),
        (&["--contains", "5550101"], &["+19525550101"]),
        (&["--toll-free"], &["+18445550103"]),
    ];
    for (filters, expected) in cases {
        let args = [&["numbers", "search", "--account", "acme"], filters].concat();
        let found = setup.json(&args);
        assert_eq!(texts(&found, "number"), expected, "{filters:?}");
    }
    let table = setup.run(&[
        "numbers",
        "search",
        "--account",
        "acme",
        "--area-code",
        "952",
    ]);
    table.prints(&[
        "NUMBER",
        "+19525550101",
        "Minneapolis",
        "MN",
        "sms mms voice",
    ]);
    let found = setup.json(&["numbers", "search", "--account", "acme", "--toll-free"]);
    assert_eq!(
        (found[0]["sms"].clone(), found[0]["mms"].clone()),
        (Value::Bool(true), Value::Bool(false))
    );
}

#[test]
fn buy_points_the_number_here_and_adds_it_with_its_kind_and_backup_email() {
    let setup = Setup::new();
    setup
        .mock
        .offer(Offer::local("+19525550101", "Minneapolis", "MN"));
    setup
        .mock
        .offer(Offer::local("+16515550102", "Saint Paul", "MN"));
    setup.mock.offer(Offer::toll_free("+18445550103"));
    let cases: [(&[&str], &str, &str); 3] = [
        (&["+19525550101"], "+19525550101", "long_code"),
        (&["--area-code", "651"], "+16515550102", "long_code"),
        (&["(844) 555-0103"], "+18445550103", "toll_free"),
    ];
    for (what, number, kind) in cases {
        let args = [
            &[
                "numbers",
                "buy",
                "--account",
                "acme",
                "--backup-email",
                "sales@acme.example",
            ],
            what,
        ]
        .concat();
        let bought = setup.json(&args);
        assert_eq!(bought["number"], number);
        assert!(
            bought["sid"]
                .as_str()
                .is_some_and(|sid| sid.starts_with("PN")),
            "{bought}"
        );
        assert_eq!(
            setup.twilio_url(number),
            Some(Some(LOCAL_INBOUND.to_string()))
        );
        let numbers = setup.acme_numbers();
        let entry =
            number_entry(&numbers, number).unwrap_or_else(|| panic!("{number} in {numbers}"));
        assert_eq!(entry["kind"], kind);
        assert_eq!(entry["backup_email"], "sales@acme.example");
    }
    let human = setup.run(&[
        "numbers",
        "buy",
        "--account",
        "acme",
        "+19525550101",
        "--backup-email",
        "a@acme.example",
    ]);
    human.fails_saying(4, &["already has number +19525550101"]);
}

#[test]
fn a_purchase_that_cannot_be_stored_is_reported_with_its_sid_and_the_wire_command() {
    let setup = Setup::new();
    // Twilio sells a number smsflow still has on account beta (released in Twilio long ago).
    setup
        .mock
        .offer(Offer::local(BETA.number, "Minneapolis", "MN"));
    let run = setup.run(&[
        "numbers",
        "buy",
        "--account",
        "acme",
        "--area-code",
        "612",
        "--backup-email",
        "sales@acme.example",
    ]);
    let stderr = run.fails_saying(
        4,
        &[
            "bought +16125550100 (PN",
            "could not add it to account acme",
            "belongs to account beta",
        ],
    );
    assert!(
        stderr.contains("`smsflow numbers wire --account acme +16125550100 --kind long_code --backup-email sales@acme.example --config"),
        "{stderr}"
    );
    assert_eq!(
        setup.twilio_url(BETA.number),
        Some(Some(LOCAL_INBOUND.to_string()))
    );
    assert!(number_entry(&setup.acme_numbers(), BETA.number).is_none());
}

#[test]
fn wire_points_an_owned_number_here_and_adds_it_when_asked() {
    let setup = Setup::new();
    setup.mock.own(owned(
        ACME_TWILIO_SID,
        "+19525550101",
        Some("https://old.example.com/sms"),
    ));
    setup
        .run(&["numbers", "wire", "--account", "acme", "+19525550101"])
        .fails_saying(
            4,
            &["account acme has no number +19525550101; to add it, give --backup-email"],
        );
    assert_eq!(
        setup.mock.calls(),
        Vec::<String>::new(),
        "refused before Twilio is asked"
    );
    let wired = setup.json(&[
        "numbers",
        "wire",
        "--account",
        "acme",
        "+19525550101",
        "--backup-email",
        "sales@acme.example",
    ]);
    assert_eq!(
        (wired["added"].clone(), wired["sms_url"].clone()),
        (Value::Bool(true), Value::from(LOCAL_INBOUND))
    );
    assert_eq!(
        setup.twilio_url("+19525550101"),
        Some(Some(LOCAL_INBOUND.to_string()))
    );
    assert!(number_entry(&setup.acme_numbers(), "+19525550101").is_some());
    // A number the account has, whose webhook went elsewhere, is only pointed back here.
    setup.mock.own(owned(
        ACME_TWILIO_SID,
        "+19525550199",
        Some("https://old.example.com/sms"),
    ));
    setup
        .run(&[
            "numbers",
            "add",
            "--account",
            "acme",
            "--number",
            "+19525550199",
            "--backup-email",
            "a@acme.example",
        ])
        .ok();
    setup
        .run(&[
            "numbers",
            "wire",
            "--account",
            "acme",
            "--number",
            "+19525550199",
        ])
        .prints(&["now sends its texts to http://127.0.0.1:8080/twilio/inbound"]);
    setup
        .run(&[
            "numbers",
            "wire",
            "--account",
            "acme",
            "+19525550123",
            "--backup-email",
            "a@acme.example",
        ])
        .fails_saying(
            3,
            &["number +19525550123 is not in Twilio account AC00000000000000000000000000000001"],
        );
}

#[test]
fn check_reports_each_number_that_does_not_reach_this_deployment() {
    // acme's long code as Twilio has it, the state check reports, and its exit code.
    let cases: [(Option<Owned>, &str, i32); 4] = [
        (
            Some(owned(ACME_TWILIO_SID, ACME_LONG_CODE, Some(LOCAL_INBOUND))),
            "ok",
            0,
        ),
        (
            Some(owned(
                ACME_TWILIO_SID,
                ACME_LONG_CODE,
                Some("https://old.example.com/sms"),
            )),
            "wrong_url",
            4,
        ),
        (None, "not_in_twilio", 4),
        (
            Some(Owned {
                sms_application_sid: Some("MG00000000000000000000000000000001".into()),
                ..owned(ACME_TWILIO_SID, ACME_LONG_CODE, Some(LOCAL_INBOUND))
            }),
            "messaging_service",
            4,
        ),
    ];
    for (long_code, state, code) in cases {
        let setup = Setup::new();
        setup.mock.disown(ACME_TWILIO_SID, ACME_LONG_CODE);
        if let Some(long_code) = long_code {
            setup.mock.own(long_code);
        }
        let run = setup.run(&["--json", "numbers", "check", "--account", "acme"]);
        assert_eq!(run.code, code, "{state}: {}", run.stderr);
        let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
        let rows = &report["numbers"];
        assert_eq!(
            number_entry(rows, ACME_LONG_CODE).map(|r| r["state"].clone()),
            Some(Value::from(state))
        );
        assert_eq!(
            number_entry(rows, ACME_TOLL_FREE).map(|r| r["state"].clone()),
            Some(Value::from("ok"))
        );
        if state == "wrong_url" {
            let human = setup.run(&["numbers", "check", "--account", "acme"]);
            let out = human.stdout.clone();
            human.fails_saying(
                4,
                &["1 of 2 numbers do not send their texts to http://127.0.0.1:8080/twilio/inbound"],
            );
            assert!(
                out.contains("`smsflow numbers wire --account acme +19523142318 --config"),
                "{out}"
            );
        }
    }
}

/// Senders on Instasent are not Twilio numbers: check skips them, and nothing is wrong.
#[test]
fn check_skips_numbers_that_send_through_instasent() {
    let on_instasent = ExampleConfig::new()
        .replace_first(
            "queue_limit = 500",
            "provider = \"instasent\"\nqueue_limit = 500",
        )
        .replace(
            "messaging_service_sids = [\"MG00000000000000000000000000000001\"]\n",
            "",
        )
        .replace("twilio_keywords = \"advanced\"", "")
        .replace_first(
            "[accounts.twilio]",
            "[accounts.instasent]\napi_token = \"cli-instasent-token\"\n\n[accounts.twilio]",
        );
    let setup = Setup::with(on_instasent);
    let run = setup.run(&["--json", "numbers", "check", "--account", "acme"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    for number in [ACME_LONG_CODE, ACME_TOLL_FREE] {
        let row = number_entry(&report["numbers"], number).expect("listed");
        assert_eq!(
            (&row["state"], &row["detail"]),
            (
                &Value::from("skipped"),
                &Value::from("sends through Instasent")
            ),
            "{number}"
        );
    }
}

#[test]
fn release_takes_the_number_off_and_releases_it_in_twilio_only_when_asked() {
    let setup = Setup::new();
    let kept = setup.json(&["numbers", "release", "--account", "acme", ACME_TOLL_FREE]);
    assert_eq!(kept["released_in_twilio"], Value::Null);
    assert!(
        setup.twilio_url(ACME_TOLL_FREE).is_some(),
        "still acme's in Twilio"
    );
    let released = setup.run(&[
        "numbers",
        "release",
        "--account",
        "acme",
        ACME_LONG_CODE,
        "--in-twilio",
    ]);
    released.prints(&[
        "removed +19523142318 from account acme",
        "released +19523142318 (PN",
    ]);
    assert_eq!(setup.twilio_url(ACME_LONG_CODE), None);
    assert_eq!(setup.acme_numbers(), Value::Array(vec![]));
    setup
        .run(&["numbers", "release", "--account", "acme", ACME_LONG_CODE])
        .fails_saying(3, &["account acme has no number +19523142318"]);
}

#[test]
fn twilio_errors_are_shown_with_their_code_and_a_hint_and_change_nothing() {
    let buy: &[&str] = &[
        "numbers",
        "buy",
        "--account",
        "acme",
        "+19525550101",
        "--backup-email",
        "a@acme.example",
    ];
    let search: &[&str] = &["numbers", "search", "--account", "acme"];
    // The operation that fails, how, the command, its exit code and what it says.
    type Case<'a> = (&'a str, Failure, &'a [&'a str], i32, &'a [&'a str]);
    let cases: [Case; 5] = [
        (
            "CreateIncomingPhoneNumber",
            Failure::new(400, 21422, "PhoneNumber is not available"),
            buy,
            3,
            &[
                "Twilio error 21422: PhoneNumber is not available (https://www.twilio.com/docs/errors/21422)",
                "no longer for sale",
            ],
        ),
        (
            "CreateIncomingPhoneNumber",
            Failure::new(400, 21631, "Phone Number Requires an Address"),
            buy,
            4,
            &["Twilio error 21631", "--address-sid"],
        ),
        (
            "CreateIncomingPhoneNumber",
            Failure::new(400, 21649, "Phone Number Requires a Bundle"),
            buy,
            4,
            &["Twilio error 21649", "--bundle-sid"],
        ),
        (
            "ListAvailablePhoneNumberLocal",
            Failure::new(401, 20003, "Authenticate"),
            search,
            4,
            &["Twilio error 20003: Authenticate", "credentials"],
        ),
        (
            "ListAvailablePhoneNumberLocal",
            Failure::new(503, 20500, "Internal Server Error"),
            search,
            5,
            &["Twilio error 20500"],
        ),
    ];
    for (operation, failure, args, code, said) in cases {
        let setup = Setup::new();
        setup
            .mock
            .offer(Offer::local("+19525550101", "Minneapolis", "MN"));
        setup.mock.fail_next(operation, failure);
        setup.run(args).fails_saying(code, said);
        assert!(number_entry(&setup.acme_numbers(), "+19525550101").is_none());
        assert_eq!(setup.twilio_url("+19525550101"), None);
    }
}
