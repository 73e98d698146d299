//! `smsflow send`: a manual SMS on behalf of an account user.
//!
//! The arguments become the fields of a CRM send request and go through the one send path,
//! `request_send`: the same validation, idempotency, contact lookup, merge fields, consent,
//! admission, pacing and goals as every CRM send. Nothing is checked here that the use case
//! checks; the operator needs no send key because they already have the store.
//!
//! `--user` is required unless `--campaign` is given: the command exists to text on a
//! user's behalf (`SendManual`, replies routed to them). A send for nobody is an automated
//! send, which the CRM tells apart by its campaign label, so it must carry one.

use clap::Args;
use smsflow_shared::domain::send_request::SendFields;
use smsflow_shared::domain::{Account, AccountId};
use smsflow_shared::usecases::send_request::{SendOutcome, SendReply, request_send};

use crate::accounts::stored_account;
use crate::hints;
use crate::output::{CliError, CliResult, ErrorKind, Output};
use crate::target::Location;

#[derive(Args, Debug)]
pub struct SendArgs {
    /// The account the message is sent from.
    #[arg(long)]
    pub account: String,
    /// The recipient: E.164, or national in the account's default country.
    #[arg(long)]
    pub to: Option<String>,
    /// The CRM contact: texted at its phone when --to is not given; its fields fill
    /// ~Contact.*~ merge fields, and goals fire on it.
    #[arg(long)]
    pub contact_id: Option<String>,
    /// The text, with merge fields as in CRM requests (~Contact.FirstName~, ~User.Name~...).
    #[arg(long, required_unless_present = "media")]
    pub message: Option<String>,
    /// The account user the message goes out for (SendManual; replies go to them), by id or
    /// e-mail. Required unless --campaign is given.
    #[arg(long, required_unless_present = "campaign")]
    pub user: Option<String>,
    /// The account user who gets the replies to a campaign send (without --user), by id or
    /// e-mail.
    #[arg(long, conflicts_with = "user")]
    pub reply: Option<String>,
    /// The sender: an account number, one of its Messaging Service SIDs, or an alphanumeric
    /// sender id (default: the account's first number).
    #[arg(long)]
    pub from: Option<String>,
    /// bulk (default: needs a subscribed contact), transactional, or alert (to the
    /// account's alert number).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// A media URL (repeat for several, up to 10).
    #[arg(long, value_name = "URL")]
    pub media: Vec<String>,
    /// The contact's SMS subscription if known: subscribed, unsubscribed or none.
    #[arg(long)]
    pub subscription: Option<String>,
    /// A campaign label kept on the message (an automated send: SendAuto).
    #[arg(long)]
    pub campaign: Option<String>,
    /// An id for this request: running the command again with it sends nothing more
    /// (within 24 hours). Without it, the same message to the same recipient from the same
    /// sender within 10 minutes counts as a repeat.
    #[arg(long)]
    pub request_id: Option<String>,
    #[command(flatten)]
    pub at: Location,
}

impl SendArgs {
    /// The send request's fields, named as a CRM names them.
    pub fn fields(&self) -> SendFields {
        let single = [
            ("phone", &self.to),
            ("contactId", &self.contact_id),
            ("message", &self.message),
            ("user", &self.user),
            ("reply", &self.reply),
            ("from", &self.from),
            ("type", &self.kind),
            ("subscription", &self.subscription),
            ("campaign", &self.campaign),
            ("requestId", &self.request_id),
        ];
        let pairs = single
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name.to_string(), v)))
            .chain(
                self.media
                    .iter()
                    .map(|url| ("media".to_string(), url.clone())),
            );
        let mut fields = SendFields::default();
        fields.extend(pairs);
        fields
    }
}

pub async fn run(args: SendArgs, out: Output) -> CliResult {
    let id = AccountId::parse(&args.account)?;
    let app = args.at.app().await?;
    let account = stored_account(&*app.store, &id).await?;
    let reply = request_send(&app, &account, &args.fields())
        .await
        .map_err(|e| {
            CliError::new(ErrorKind::Backend, format!("{e}; nothing was queued")).with_hint(
                "check the connection, credentials and CRM, then run the same command again",
            )
        })?;
    let refusal = refusal(&reply, &args);
    // With --json the answer is printed whatever it is (the same JSON as the HTTP route's);
    // a refusal's human text is the error on stderr.
    if out.json || refusal.is_none() {
        out.emit(&reply, || print_queued(&reply, &args, &account))?;
    }
    // A warning never stops the send: it is on its way already.
    for warning in &reply.warnings {
        eprintln!("warning: {}", warning.detail);
    }
    match refusal {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn print_queued(reply: &SendReply, args: &SendArgs, account: &Account) {
    let id = reply.message_id.as_ref().map_or("-", |id| id.as_str());
    let recipient = match (&args.to, &args.contact_id) {
        (Some(to), _) => format!(" to {to}"),
        (None, Some(contact)) => format!(" to contact {contact}"),
        (None, None) => String::new(),
    };
    let on_behalf = args
        .user
        .as_deref()
        .map(|u| format!(" for user {u}"))
        .unwrap_or_default();
    if reply.repeated {
        println!("already queued as message {id}{recipient}: nothing new was queued");
        println!(
            "  (a repeat of an earlier request: the same --request-id, or the same message to the \
             same recipient within 10 minutes; give a new --request-id to send it again)"
        );
    } else {
        println!(
            "queued message {id}{recipient}{on_behalf} (account {})",
            args.account
        );
    }
    let follow = match &args.to {
        // In E.164, as conversations are stored: no shell quoting, and one spelling of it.
        Some(to) => {
            let phone = account
                .parse_phone(to)
                .map_or_else(|_| to.clone(), |p| p.as_str().to_string());
            hints::command(&["conversations", "show", "--account", &args.account, &phone])
        }
        None => hints::command(&["conversations", "list", "--account", &args.account]),
    };
    if args.at.target.is_aws() {
        println!("  the send worker sends it; follow it with {follow}");
    } else {
        println!(
            "  {} sends it: it waits in this database's send queue until then; follow it with {follow}",
            hints::local_command(&["serve"])
        );
    }
}

/// The error a reply that queued nothing ends the command with, or `None` when the message
/// is queued (now or by the first of repeated requests).
fn refusal(reply: &SendReply, args: &SendArgs) -> Option<CliError> {
    let kind = match reply.outcome {
        SendOutcome::Queued => return None,
        SendOutcome::Invalid => ErrorKind::InvalidInput,
        SendOutcome::UnknownContact => ErrorKind::NotFound,
        SendOutcome::Refused | SendOutcome::QueueFull => ErrorKind::Refused,
        // Another run is handling the same request: running again gets its answer.
        SendOutcome::InProgress => ErrorKind::Backend,
    };
    let code = reply.code.as_deref().unwrap_or("refused");
    let detail = reply.detail.as_deref().unwrap_or("");
    let repeat = if reply.repeated {
        " (the answer to an earlier identical request)"
    } else {
        ""
    };
    let error = CliError::new(kind, format!("not sent ({code}): {detail}{repeat}"));
    Some(match hint(code, &args.account) {
        Some(hint) => error.with_hint(hint),
        None => error,
    })
}

/// What to do about a refusal, by its stable code.
fn hint(code: &str, account: &str) -> Option<String> {
    let hint = match code {
        "missing_recipient" => "give --to PHONE or --contact-id ID (or --type alert)".into(),
        "contact_has_no_phone" => "give the phone with --to".into(),
        "invalid_phone" => {
            "give the number in E.164 (+19525550100) or national in the account's default_country".into()
        }
        "invalid_value" => {
            "--type is bulk, transactional or alert; --subscription is subscribed, unsubscribed or none".into()
        }
        "unknown_user" | "ambiguous_user" => format!(
            "name the user by id or e-mail: {} shows its users",
            hints::command(&["users", "list", "--account", account])
        ),
        "unknown_sender_number" | "unknown_messaging_service" => {
            format!(
                "{} shows its numbers",
                hints::command(&["numbers", "list", "--account", account])
            )
        }
        "unknown_contact" => "check the contact id in the CRM".into(),
        "unknown_merge_field" => "the merge fields are ~Contact.FirstName~, ~Contact.LastName~, \
            ~Contact.Email~, ~Contact.Phone1~, ~Contact.Id~, ~Contact._<CustomField>~, \
            ~Account.Name~, ~User.Name~, ~User.FirstName~, ~User.LastName~ and ~User.Email~; \
            a fallback after '|' is sent when the value is empty: ~Contact.FirstName|there~"
            .into(),
        "opted_out" => {
            "the recipient opted out; smsflow texts them again only after they text START".into()
        }
        "not_subscribed" => "bulk sends need a subscribed contact: pass --subscription subscribed \
                             if they agreed, or --type transactional for a message that is not marketing"
            .into(),
        "phone_bounced" => format!(
            "repeated hard failures marked the number bounced ({} shows them); a text from it makes it active again",
            hints::command(&["conversations", "show", "--account", account, "PHONE"])
        ),
        "phone_paused" => "an operator paused the number; it stays paused until an operator resumes it".into(),
        "queue_full" => format!(
            "wait for the queued sends to go out, or raise the limit: {}",
            hints::command(&["accounts", "set-limit", "--account", account, "--queue-limit", "N"])
        ),
        "in_progress" => {
            "another run is handling the same request; run the command again in a few seconds for its answer".into()
        }
        _ => return None,
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        send: SendArgs,
    }

    fn parse(args: &[&str]) -> Result<SendArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("send").chain(args.iter().copied())).map(|c| c.send)
    }

    #[test]
    fn every_argument_becomes_its_request_field() {
        let args = parse(&[
            "--account",
            "acme",
            "--to",
            "952-314-0001",
            "--contact-id",
            "42",
            "--message",
            "  Hi ~Contact.FirstName~\n",
            "--user",
            "mary",
            "--from",
            "+18885550100",
            "--type",
            "transactional",
            "--media",
            "https://x.test/a.png",
            "--media",
            "https://x.test/b.png",
            "--subscription",
            "subscribed",
            "--campaign",
            "spring",
            "--request-id",
            "r-1",
        ])
        .expect("valid arguments");
        let fields = args.fields();
        let cases = [
            ("phone", Some("952-314-0001")),
            ("contactId", Some("42")),
            ("user", Some("mary")),
            ("reply", None),
            ("from", Some("+18885550100")),
            ("type", Some("transactional")),
            ("subscription", Some("subscribed")),
            ("campaign", Some("spring")),
            ("requestId", Some("r-1")),
            ("media", Some("https://x.test/b.png")),
        ];
        for (name, value) in cases {
            assert_eq!(fields.get(name), value, "{name}");
        }
        let mut expected = SendFields::default();
        expected.extend([
            ("phone".to_string(), "952-314-0001".to_string()),
            ("contactId".into(), "42".into()),
            ("message".into(), "  Hi ~Contact.FirstName~\n".into()),
            ("user".into(), "mary".into()),
            ("from".into(), "+18885550100".into()),
            ("type".into(), "transactional".into()),
            ("subscription".into(), "subscribed".into()),
            ("campaign".into(), "spring".into()),
            ("requestId".into(), "r-1".into()),
            ("media".into(), "https://x.test/a.png".into()),
            ("media".into(), "https://x.test/b.png".into()),
        ]);
        assert_eq!(fields, expected, "the message is kept as typed");
    }

    #[test]
    fn a_user_or_a_campaign_and_a_message_or_media_are_required() {
        let cases: [(&[&str], bool); 6] = [
            (
                &[
                    "--account",
                    "acme",
                    "--to",
                    "+19523140001",
                    "--message",
                    "hi",
                ],
                false,
            ),
            (
                &[
                    "--account",
                    "acme",
                    "--to",
                    "+19523140001",
                    "--message",
                    "hi",
                    "--user",
                    "mary",
                ],
                true,
            ),
            (
                &[
                    "--account",
                    "acme",
                    "--to",
                    "+19523140001",
                    "--message",
                    "hi",
                    "--campaign",
                    "spring",
                ],
                true,
            ),
            (
                &[
                    "--account",
                    "acme",
                    "--to",
                    "+19523140001",
                    "--media",
                    "https://x.test/a.png",
                    "--user",
                    "mary",
                ],
                true,
            ),
            (
                &[
                    "--account",
                    "acme",
                    "--to",
                    "+19523140001",
                    "--user",
                    "mary",
                ],
                false,
            ),
            (
                &[
                    "--account",
                    "acme",
                    "--message",
                    "hi",
                    "--user",
                    "mary",
                    "--reply",
                    "john",
                ],
                false,
            ),
        ];
        for (args, valid) in cases {
            assert_eq!(parse(args).is_ok(), valid, "{args:?}");
        }
    }

    #[test]
    fn outcomes_map_to_exit_codes() {
        let args = parse(&[
            "--account",
            "acme",
            "--to",
            "1",
            "--message",
            "hi",
            "--user",
            "mary",
        ])
        .expect("valid arguments");
        let reply = |outcome, code: &str| SendReply {
            outcome,
            code: Some(code.to_string()),
            detail: Some("detail".into()),
            message_id: None,
            repeated: false,
            warnings: vec![],
        };
        let cases = [
            (reply(SendOutcome::Invalid, "invalid_phone"), Some(4)),
            (
                reply(SendOutcome::UnknownContact, "unknown_contact"),
                Some(3),
            ),
            (reply(SendOutcome::Refused, "opted_out"), Some(7)),
            (reply(SendOutcome::QueueFull, "queue_full"), Some(7)),
            (reply(SendOutcome::InProgress, "in_progress"), Some(5)),
            (
                SendReply {
                    outcome: SendOutcome::Queued,
                    code: None,
                    detail: None,
                    message_id: Some("01J".into()),
                    repeated: true,
                    warnings: vec![],
                },
                None,
            ),
        ];
        for (reply, code) in cases {
            let error = refusal(&reply, &args);
            assert_eq!(
                error.as_ref().map(|e| e.kind.exit_code()),
                code,
                "{reply:?}"
            );
            if let Some(error) = error {
                assert!(error.hint.is_some(), "{reply:?} has a hint");
                assert!(error.message.contains(reply.code.as_deref().unwrap_or("")));
            }
        }
    }
}
