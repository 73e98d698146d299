//! `smsflow numbers buy`: buys a number in the account's Twilio account with its SMS
//! webhook pointing at this deployment, then adds it to the account as `numbers add` does.
//! Everything that can be refused is checked before the purchase; a purchase that cannot
//! be stored is reported with its SID and the `numbers wire` command that finishes it.

use clap::Args;
use serde::Serialize;
use smsflow_shared::adapters::twilio::numbers::{
    NumbersError, OwnedNumber, Purchase, PurchaseTarget,
};
use smsflow_shared::domain::{Account, AccountId, SenderKind};

use super::twilio::{
    Session, TwilioFlags, WebhookFlags, credentials, refuse_if_taken, twilio_error,
};
use super::{NewNumber, add_to_account, parse_kind};
use crate::hints;
use crate::output::{CliError, CliResult, Output};
use crate::target::Location;

/// Twilio sets no message status callback on the number: the send worker gives every
/// message its own (`StatusCallback` of the Messages request), so the number keeps
/// Twilio's default.
#[derive(Args, Debug)]
#[command(
    after_help = "Delivery reports need nothing on the number: smsflow's send worker sets \
     each message's status callback when it sends it. The number's StatusCallback (voice call \
     status) is left as Twilio has it."
)]
pub struct BuyArgs {
    /// The account (its Twilio account's credentials are used).
    #[arg(long)]
    account: String,
    /// The number to buy, as `numbers search` lists it (E.164, or national in the
    /// account's country).
    #[arg(value_name = "NUMBER", required_unless_present_any = ["number", "area_code"])]
    positional: Option<String>,
    #[arg(
        long = "number",
        value_name = "NUMBER",
        hide = true,
        conflicts_with = "positional"
    )]
    number: Option<String>,
    /// Buy any number Twilio has in this US or Canadian area code instead.
    #[arg(long, conflicts_with_all = ["positional", "number"])]
    area_code: Option<u32>,
    /// long_code, toll_free, short_code or alphanumeric (default: toll_free for a US/CA
    /// toll-free number, else long_code).
    #[arg(long, value_parser = parse_kind)]
    kind: Option<SenderKind>,
    /// Where the number's inbound texts go when nobody better is found.
    #[arg(long)]
    backup_email: String,
    /// Send rate in segments per second (default: the kind's).
    #[arg(long)]
    segments_per_second: Option<f64>,
    /// The address (AD…) Twilio requires for numbers of some countries (errors 21613, 21631).
    #[arg(long, value_name = "SID")]
    address_sid: Option<String>,
    /// The regulatory bundle (BU…) some countries require (error 21649).
    #[arg(long, value_name = "SID")]
    bundle_sid: Option<String>,
    #[command(flatten)]
    webhook: WebhookFlags,
    #[command(flatten)]
    twilio: TwilioFlags,
    #[command(flatten)]
    at: Location,
}

#[derive(Serialize)]
struct Bought {
    account: AccountId,
    number: String,
    sid: String,
    sms_url: String,
    kind: SenderKind,
    backup_email: String,
}

pub async fn run(args: BuyArgs, out: Output) -> CliResult {
    let id = AccountId::parse(&args.account)?;
    let kind = args.kind.unwrap_or(SenderKind::LongCode);
    // Checked now, so that nothing typed wrong is found after the purchase.
    NewNumber::checked(kind, &args.backup_email, args.segments_per_second)?;
    checked_sid("--address-sid", "AD", args.address_sid.as_deref())?;
    checked_sid("--bundle-sid", "BU", args.bundle_sid.as_deref())?;
    let session = Session::open(&args.at, &args.twilio, &args.webhook).await?;
    let account = session.account(&id).await?;
    let sms_url = session.inbound_url()?.to_string();
    let target = purchase_target(&session, &account, &args).await?;
    let purchase = Purchase {
        target,
        sms_url: sms_url.clone(),
        address_sid: args.address_sid.clone(),
        bundle_sid: args.bundle_sid.clone(),
    };
    let owned = (session.twilio)
        .buy(credentials(&account)?, &purchase)
        .await
        .map_err(|e| purchase_failed(e, &purchase, &args))?;
    let kind = args.kind.unwrap_or_else(|| kind_of(&owned));
    let new = NewNumber::checked(kind, &args.backup_email, args.segments_per_second)?;
    if let Err(e) = add_to_account(&*session.store, &args.at, &id, &owned.phone_number, new).await {
        return Err(not_stored(&id, &owned, &args, kind, e));
    }
    let bought = Bought {
        account: id,
        number: owned.phone_number,
        sid: owned.sid,
        sms_url,
        kind,
        backup_email: args.backup_email,
    };
    out.emit(&bought, || {
        println!(
            "bought {} ({}) in Twilio; its texts go to {}",
            bought.number, bought.sid, bought.sms_url
        );
        println!(
            "added it to account {} as {}",
            bought.account,
            kind_name(kind)
        );
    })
}

/// The number typed, or the area code, checked against the account and the store.
async fn purchase_target(
    session: &Session,
    account: &Account,
    args: &BuyArgs,
) -> CliResult<PurchaseTarget> {
    let id = &account.id;
    match (
        args.positional.as_ref().or(args.number.as_ref()),
        args.area_code,
    ) {
        (Some(text), _) => {
            let number = account.parse_phone(text)?;
            if account.number(&number).is_some() {
                return Err(CliError::invalid(format!(
                    "account {id} already has number {number}"
                )));
            }
            refuse_if_taken(&*session.store, id, &number).await?;
            Ok(PurchaseTarget::Number(number))
        }
        (None, Some(code)) if (200..=999).contains(&code) => Ok(PurchaseTarget::AreaCode(code)),
        (None, code) => Err(CliError::invalid(format!(
            "--area-code {} is not a three-digit US or Canadian area code",
            code.unwrap_or_default()
        ))),
    }
}

/// Twilio's error; when no answer came, the purchase may have happened: how to find out.
fn purchase_failed(e: NumbersError, purchase: &Purchase, args: &BuyArgs) -> CliError {
    let unanswered = matches!(e, NumbersError::NoAnswer(_));
    let error = twilio_error(e);
    match (&purchase.target, unanswered) {
        (PurchaseTarget::Number(number), true) => error.with_hint(format!(
            "Twilio may have sold it: {} adds it if it did (and says it is not in the Twilio \
             account if it did not)",
            hints::command(&[
                "numbers",
                "wire",
                "--account",
                args.account.as_str(),
                number.as_str(),
                "--backup-email",
                args.backup_email.as_str(),
            ])
        )),
        (PurchaseTarget::AreaCode(_), true) => error.with_hint(
            "Twilio may have sold one: look in its console (Phone Numbers > Active numbers) \
             before buying again",
        ),
        _ => error,
    }
}

/// A purchase whose number could not be added to the account: the SID, the number and
/// the command that adds it once the cause is fixed, with the storing error's exit code.
fn not_stored(
    id: &AccountId,
    owned: &OwnedNumber,
    args: &BuyArgs,
    kind: SenderKind,
    e: CliError,
) -> CliError {
    let mut words = vec![
        "numbers",
        "wire",
        "--account",
        id.as_str(),
        owned.phone_number.as_str(),
    ];
    let kind = kind_name(kind);
    words.extend(["--kind", kind, "--backup-email", args.backup_email.as_str()]);
    let rate = args.segments_per_second.map(|r| r.to_string());
    if let Some(rate) = &rate {
        words.extend(["--segments-per-second", rate.as_str()]);
    }
    CliError::new(
        e.kind,
        format!(
            "bought {} ({}) in Twilio and pointed its texts here, but could not add it to \
             account {id}: {}",
            owned.phone_number, owned.sid, e.message
        ),
    )
    .with_hint(format!(
        "the number is yours in Twilio; once the cause is fixed, {} adds it",
        hints::command(&words)
    ))
}

/// A Twilio SID as Twilio issues them: the prefix, then 32 hex digits.
fn checked_sid(flag: &str, prefix: &str, sid: Option<&str>) -> CliResult {
    let Some(sid) = sid else { return Ok(()) };
    let hex = sid.strip_prefix(prefix).unwrap_or_default();
    if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(CliError::invalid(format!(
        "{flag} '{sid}' is not a Twilio SID ({prefix} and 32 hex digits)"
    )))
}

/// What Twilio says the number is, else the North American toll-free codes.
fn kind_of(owned: &OwnedNumber) -> SenderKind {
    let twilio_says_toll_free = owned
        .number_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("toll-free") || t.eq_ignore_ascii_case("tollfree"));
    let nanp_toll_free = ["800", "833", "844", "855", "866", "877", "888"]
        .iter()
        .any(|code| {
            owned
                .phone_number
                .strip_prefix("+1")
                .is_some_and(|rest| rest.starts_with(code))
        });
    if twilio_says_toll_free || nanp_toll_free {
        SenderKind::TollFree
    } else {
        SenderKind::LongCode
    }
}

fn kind_name(kind: SenderKind) -> &'static str {
    match kind {
        SenderKind::LongCode => "long_code",
        SenderKind::TollFree => "toll_free",
        SenderKind::ShortCode => "short_code",
        SenderKind::Alphanumeric => "alphanumeric",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_are_checked_before_the_purchase() {
        let good = format!("AD{}", "0a".repeat(16));
        assert!(checked_sid("--address-sid", "AD", Some(&good)).is_ok());
        assert!(checked_sid("--address-sid", "AD", None).is_ok());
        for bad in [
            "AD123",
            "BU0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
            "ADzz0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
        ] {
            assert!(
                checked_sid("--address-sid", "AD", Some(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_kind_follows_twilio_then_the_toll_free_codes() {
        let owned = |number: &str, number_type: Option<&str>| OwnedNumber {
            sid: "PN1".into(),
            phone_number: number.into(),
            sms_url: None,
            sms_method: None,
            sms_application_sid: None,
            number_type: number_type.map(str::to_string),
            capabilities: None,
        };
        let cases = [
            (owned("+19525550100", Some("local")), SenderKind::LongCode),
            (owned("+18885550100", None), SenderKind::TollFree),
            (
                owned("+442071838750", Some("toll-free")),
                SenderKind::TollFree,
            ),
            (owned("+442071838750", None), SenderKind::LongCode),
        ];
        for (owned, kind) in cases {
            assert_eq!(kind_of(&owned), kind, "{}", owned.phone_number);
        }
    }
}
