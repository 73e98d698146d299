//! `smsflow numbers wire`: points a number the Twilio account already owns at this
//! deployment (its `SmsUrl`, with `POST`) and adds it to the account when it is not there
//! yet. Refusals come before anything changes in Twilio.

use clap::Args;
use serde::Serialize;
use smsflow_shared::adapters::twilio::numbers::OwnedNumber;
use smsflow_shared::domain::{AccountId, SenderKind};

use super::twilio::{
    Session, TwilioFlags, WebhookFlags, credentials, not_in_twilio, refuse_if_taken, twilio_error,
};
use super::{NewNumber, NumberArg, add_to_account, parse_kind};
use crate::hints;
use crate::output::{CliError, CliResult, Output};
use crate::target::Location;

#[derive(Args, Debug)]
pub struct WireArgs {
    /// The account (its Twilio account's credentials are used).
    #[arg(long)]
    account: String,
    #[command(flatten)]
    number: NumberArg,
    /// When the account does not have the number yet: long_code, toll_free, short_code or
    /// alphanumeric.
    #[arg(long, default_value = "long_code", value_parser = parse_kind)]
    kind: SenderKind,
    /// When the account does not have the number yet (required then): where its inbound
    /// texts go when nobody better is found.
    #[arg(long)]
    backup_email: Option<String>,
    /// When the account does not have the number yet: its send rate in segments per second.
    #[arg(long)]
    segments_per_second: Option<f64>,
    #[command(flatten)]
    webhook: WebhookFlags,
    #[command(flatten)]
    twilio: TwilioFlags,
    #[command(flatten)]
    at: Location,
}

#[derive(Serialize)]
struct Wired {
    account: AccountId,
    number: String,
    sid: String,
    sms_url: String,
    /// Whether the number was added to the account now.
    added: bool,
    /// A TwiML app or Messaging Service that takes the number's texts instead.
    sms_application_sid: Option<String>,
}

pub async fn run(args: WireArgs, out: Output) -> CliResult {
    let id = AccountId::parse(&args.account)?;
    let session = Session::open(&args.at, &args.twilio, &args.webhook).await?;
    let account = session.account(&id).await?;
    let sms_url = session.inbound_url()?.to_string();
    let number = account.parse_phone(args.number.typed())?;
    // To add it afterwards: its settings, checked now.
    let new = match (account.number(&number), &args.backup_email) {
        (Some(_), _) => None,
        (None, Some(email)) => {
            refuse_if_taken(&*session.store, &id, &number).await?;
            Some(NewNumber::checked(
                args.kind,
                email,
                args.segments_per_second,
            )?)
        }
        (None, None) => {
            return Err(CliError::invalid(format!(
                "account {id} has no number {number}; to add it, give --backup-email (and --kind)"
            )));
        }
    };
    let creds = credentials(&account)?;
    let twilio = &session.twilio;
    let owned = (twilio.owned(creds, &number).await.map_err(twilio_error)?)
        .ok_or_else(|| not_in_twilio(&number, creds))?;
    let updated =
        (twilio.set_sms_webhook(creds, &owned.sid, &sms_url).await).map_err(twilio_error)?;
    let added = new.is_some();
    if let Some(new) = new
        && let Err(e) = add_to_account(&*session.store, &args.at, &id, number.as_str(), new).await
    {
        let again = hints::command(&["numbers", "wire", "--account", id.as_str(), number.as_str()]);
        return Err(e.context(format!(
            "pointed {number} ({}) at {sms_url} in Twilio, but could not add it to account {id}; \
             fix the cause and run {again} with the same options",
            updated.sid
        )));
    }
    let wired = wired(id, updated, sms_url, added);
    out.emit(&wired, || print(&wired))
}

fn wired(account: AccountId, updated: OwnedNumber, sms_url: String, added: bool) -> Wired {
    Wired {
        account,
        number: updated.phone_number,
        sid: updated.sid,
        sms_url,
        added,
        sms_application_sid: updated.sms_application_sid.filter(|sid| !sid.is_empty()),
    }
}

fn print(wired: &Wired) {
    println!(
        "{} ({}) now sends its texts to {}",
        wired.number, wired.sid, wired.sms_url
    );
    if wired.added {
        println!("added it to account {}", wired.account);
    }
    if let Some(sid) = &wired.sms_application_sid {
        println!(
            "note: {sid} takes this number's texts, and Twilio ignores the number's own \
             webhook while it does: point {sid} at the URL above, or take the number out of it"
        );
    }
}
