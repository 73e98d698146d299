use super::*;
use crate::domain::fixtures::email;

const MAY_1_2024: Timestamp = Timestamp::from_millis(1_714_572_180_000);
const MAY_1: &str = "2024-05-01 14:03 UTC";

fn users() -> BTreeMap<String, User> {
    [
        ("mary", "Mary Anders", "mary@team.example", Some("17")),
        ("bob", "Bob Stone", "bob@team.example", Some("18")),
        ("ann", "Ann Lee", "Ann@Team.example", None),
    ]
    .into_iter()
    .map(|(id, name, mail, crm)| {
        let user = User {
            id: id.to_string(),
            name: name.to_string(),
            email: email(mail),
            crm_user_id: crm.map(str::to_string),
            admin: false,
        };
        (id.to_string(), user)
    })
    .collect()
}

fn crm(id: &'static str) -> CrmUserRef<'static> {
    CrmUserRef {
        crm_user_id: id,
        name: None,
        email: None,
    }
}

fn sms(user: Option<&'static str>, campaign: Option<&'static str>) -> LastSms<'static> {
    LastSms {
        user_id: user,
        sent_at: MAY_1_2024,
        campaign,
    }
}

fn note(user: Option<CrmUserRef<'static>>) -> LastCallNote<'static> {
    LastCallNote {
        user,
        logged_at: Some(MAY_1_2024),
    }
}

struct Case<'a> {
    name: &'static str,
    contact: Option<ContactHistory<'a>>,
    to: &'static str,
    user_id: Option<&'static str>,
    rule: RoutingRule,
    reason: String,
}

#[test]
fn routing_cases() {
    let backup = email("front-desk@team.example");
    let pat_email = email("pat@elsewhere.example");
    let ann_email = email("ann@team.example");
    let pat = CrmUserRef {
        crm_user_id: "40",
        name: Some("Pat Kim"),
        email: Some(&pat_email),
    };
    let ann_by_email = CrmUserRef {
        crm_user_id: "41",
        name: Some("Ann L."),
        email: Some(&ann_email),
    };
    let ghost = CrmUserRef {
        crm_user_id: "99",
        name: Some("Gone Person"),
        email: None,
    };
    let history = |last_sms, last_call_note, owner| {
        Some(ContactHistory {
            last_sms,
            last_call_note,
            owner,
        })
    };
    let no_teammate =
        "No teammate is linked to this contact, so the number's backup address gets it.";
    let unreachable = "No reachable teammate is linked to this contact, so the number's \
                       backup address gets it.";
    let cases = [
        // Case 1: reply to a manual SMS, whatever else is known.
        Case {
            name: "last manual sms",
            contact: history(
                Some(sms(Some("mary"), None)),
                Some(note(Some(crm("18")))),
                Some(crm("18")),
            ),
            to: "mary@team.example",
            user_id: Some("mary"),
            rule: RoutingRule::LastSms,
            reason: format!("Mary Anders sent the last SMS to this contact on {MAY_1}."),
        },
        // Case 4: reply to a campaign SMS goes to its reply-to user.
        Case {
            name: "campaign reply-to",
            contact: history(
                Some(sms(Some("bob"), Some("spring-promo"))),
                None,
                Some(crm("17")),
            ),
            to: "bob@team.example",
            user_id: Some("bob"),
            rule: RoutingRule::CampaignReplyTo,
            reason: format!(
                "Bob Stone is the reply-to user of campaign 'spring-promo', which sent the \
                 last SMS to this contact on {MAY_1}."
            ),
        },
        // Case 2: never texted; the last call decides.
        Case {
            name: "last call note",
            contact: history(None, Some(note(Some(crm("18")))), Some(crm("17"))),
            to: "bob@team.example",
            user_id: Some("bob"),
            rule: RoutingRule::LastCallNote,
            reason: format!("Bob Stone logged the last call with this contact on {MAY_1}."),
        },
        Case {
            name: "call note without date",
            contact: history(
                None,
                Some(LastCallNote {
                    user: Some(crm("18")),
                    logged_at: None,
                }),
                None,
            ),
            to: "bob@team.example",
            user_id: Some("bob"),
            rule: RoutingRule::LastCallNote,
            reason: "Bob Stone logged the last call with this contact.".into(),
        },
        // Case 2, no call either: the owner.
        Case {
            name: "owner",
            contact: history(None, None, Some(crm("17"))),
            to: "mary@team.example",
            user_id: Some("mary"),
            rule: RoutingRule::ContactOwner,
            reason: "Mary Anders owns this contact in the CRM.".into(),
        },
        Case {
            name: "owner matched to a user by e-mail",
            contact: history(None, None, Some(ann_by_email)),
            to: "Ann@team.example",
            user_id: Some("ann"),
            rule: RoutingRule::ContactOwner,
            reason: "Ann Lee owns this contact in the CRM.".into(),
        },
        Case {
            name: "owner known only to the CRM",
            contact: history(None, None, Some(pat)),
            to: "pat@elsewhere.example",
            user_id: None,
            rule: RoutingRule::ContactOwner,
            reason: "Pat Kim owns this contact in the CRM.".into(),
        },
        // Nobody linked: the backup address.
        Case {
            name: "no history, no owner",
            contact: history(None, None, None),
            to: "front-desk@team.example",
            user_id: None,
            rule: RoutingRule::BackupEmail,
            reason: no_teammate.into(),
        },
        // Case 3: not a contact at all.
        Case {
            name: "unknown sender",
            contact: None,
            to: "front-desk@team.example",
            user_id: None,
            rule: RoutingRule::UnknownSender,
            reason: "The sender is not a contact in the CRM, so the number's backup \
                     address gets it."
                .into(),
        },
        // Fall-throughs, each said in the reason.
        Case {
            name: "last sms user left the account",
            contact: history(
                Some(sms(Some("carol"), None)),
                Some(note(Some(crm("18")))),
                None,
            ),
            to: "bob@team.example",
            user_id: Some("bob"),
            rule: RoutingRule::LastCallNote,
            reason: format!(
                "Bob Stone logged the last call with this contact on {MAY_1}. The last SMS \
                 to this contact (on {MAY_1}) went out for user 'carol', who is no longer \
                 on this account."
            ),
        },
        Case {
            name: "campaign without reply-to",
            contact: history(Some(sms(None, Some("drip"))), None, Some(crm("17"))),
            to: "mary@team.example",
            user_id: Some("mary"),
            rule: RoutingRule::ContactOwner,
            reason: format!(
                "Mary Anders owns this contact in the CRM. The last SMS to this contact \
                 came from campaign 'drip' on {MAY_1} with no reply-to user."
            ),
        },
        Case {
            name: "manual sms without user",
            contact: history(Some(sms(None, None)), None, Some(crm("17"))),
            to: "mary@team.example",
            user_id: Some("mary"),
            rule: RoutingRule::ContactOwner,
            reason: format!(
                "Mary Anders owns this contact in the CRM. The last SMS to this contact \
                 (on {MAY_1}) has no user."
            ),
        },
        Case {
            name: "call note user unknown, owner too",
            contact: history(None, Some(note(Some(ghost))), Some(crm("99"))),
            to: "front-desk@team.example",
            user_id: None,
            rule: RoutingRule::BackupEmail,
            reason: format!(
                "{unreachable} The last call note's user (Gone Person, CRM user 99) is not \
                 on this account and the CRM has no e-mail for them. The contact's owner \
                 (CRM user 99) is not on this account and the CRM has no e-mail for them."
            ),
        },
        Case {
            name: "call note without user",
            contact: history(None, Some(note(None)), Some(crm("18"))),
            to: "bob@team.example",
            user_id: Some("bob"),
            rule: RoutingRule::ContactOwner,
            reason: format!(
                "Bob Stone owns this contact in the CRM. The last call note on this \
                 contact on {MAY_1} has no user."
            ),
        },
        Case {
            name: "every rule skipped",
            contact: history(
                Some(sms(Some("carol"), Some("drip"))),
                Some(note(None)),
                Some(ghost),
            ),
            to: "front-desk@team.example",
            user_id: None,
            rule: RoutingRule::BackupEmail,
            reason: format!(
                "{unreachable} The last SMS to this contact (on {MAY_1}) went out for user \
                 'carol', who is no longer on this account. The last call note on this \
                 contact on {MAY_1} has no user. The contact's owner (Gone Person, CRM \
                 user 99) is not on this account and the CRM has no e-mail for them."
            ),
        },
    ];
    let users = users();
    for case in cases {
        let facts = RoutingFacts {
            contact: case.contact,
            users: &users,
            backup_email: &backup,
        };
        let decision = route_inbound(&facts);
        assert_eq!(
            decision,
            RoutingDecision {
                to: email(case.to),
                user_id: case.user_id.map(str::to_string),
                rule: case.rule,
                reason: case.reason,
            },
            "{}",
            case.name
        );
    }
}

#[test]
fn backup_address_of_a_teammate_names_them() {
    let users = users();
    let backup = email("BOB@team.example");
    for contact in [None, Some(ContactHistory::default())] {
        let decision = route_inbound(&RoutingFacts {
            contact,
            users: &users,
            backup_email: &backup,
        });
        assert_eq!(decision.to, backup);
        assert_eq!(decision.user_id.as_deref(), Some("bob"), "{contact:?}");
    }
}

#[test]
fn utc_formatting() {
    let cases = [
        (0, "1970-01-01 00:00 UTC"),
        (1_714_572_180_000, MAY_1),
        (951_782_400_000, "2000-02-29 00:00 UTC"),
        (1_735_689_599_999, "2024-12-31 23:59 UTC"),
        (-60_000, "1969-12-31 23:59 UTC"),
    ];
    for (ms, expected) in cases {
        assert_eq!(format_utc(Timestamp::from_millis(ms)), expected, "{ms}");
    }
}
