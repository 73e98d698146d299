//! `smsflow numbers release`: takes a number off the account and, only with `--in-twilio`,
//! releases it in Twilio as well (the account stops paying for it and loses it). Twilio is
//! asked first, so a refusal there changes nothing; a release whose number cannot then be
//! taken off the account names the command that finishes it.

use clap::Args;
use serde::Serialize;
use smsflow_shared::domain::AccountId;

use super::twilio::{Session, TwilioFlags, WebhookFlags, credentials, not_in_twilio, twilio_error};
use super::{NumberArg, not_in_account, remove_from_account};
use crate::hints;
use crate::output::{CliResult, Output};
use crate::target::Location;

#[derive(Args, Debug)]
pub struct ReleaseArgs {
    /// The account (its Twilio account's credentials are used).
    #[arg(long)]
    account: String,
    #[command(flatten)]
    number: NumberArg,
    /// Also release the number in the account's Twilio account (it cannot be undone: the
    /// number may go to someone else). Without it the number stays yours in Twilio.
    #[arg(long)]
    in_twilio: bool,
    #[command(flatten)]
    twilio: TwilioFlags,
    #[command(flatten)]
    at: Location,
}

#[derive(Serialize)]
struct Released {
    account: AccountId,
    number: String,
    removed_from_account: bool,
    /// The SID (`PN…`) released in Twilio, if it was.
    released_in_twilio: Option<String>,
}

pub async fn run(args: ReleaseArgs, out: Output) -> CliResult {
    let id = AccountId::parse(&args.account)?;
    let session =
        Session::open(&args.at, &args.twilio, &WebhookFlags { webhook_url: None }).await?;
    let account = session.account(&id).await?;
    let number = account.parse_phone(args.number.typed())?;
    if account.number(&number).is_none() {
        return Err(not_in_account(&id, &number));
    }
    let mut released_in_twilio = None;
    if args.in_twilio {
        let creds = credentials(&account)?;
        let owned = (session
            .twilio
            .owned(creds, &number)
            .await
            .map_err(twilio_error)?)
        .ok_or_else(|| {
            not_in_twilio(&number, creds).with_hint(format!(
                "without --in-twilio, {} only takes it off the account",
                hints::command(&[
                    "numbers",
                    "release",
                    "--account",
                    id.as_str(),
                    number.as_str()
                ])
            ))
        })?;
        (session.twilio.release(creds, &owned.sid).await).map_err(twilio_error)?;
        released_in_twilio = Some(owned.sid);
    }
    if let Err(e) = remove_from_account(&*session.store, &args.at, &id, number.as_str()).await {
        let Some(sid) = &released_in_twilio else {
            return Err(e);
        };
        let finish = hints::command(&[
            "numbers",
            "remove",
            "--account",
            id.as_str(),
            "--number",
            number.as_str(),
        ]);
        return Err(e
            .context(format!(
                "released {number} ({sid}) in Twilio, but could not take it off account {id}"
            ))
            .with_hint(format!("{finish} finishes it")));
    }
    let released = Released {
        account: id,
        number: number.to_string(),
        removed_from_account: true,
        released_in_twilio,
    };
    out.emit(&released, || print(&released))
}

fn print(released: &Released) {
    println!(
        "removed {} from account {}",
        released.number, released.account
    );
    match &released.released_in_twilio {
        Some(sid) => println!("released {} ({sid}) in Twilio", released.number),
        None => println!(
            "it is still yours in Twilio ({} releases it there too)",
            hints::command(&[
                "numbers",
                "release",
                "--account",
                released.account.as_str(),
                released.number.as_str(),
                "--in-twilio",
            ])
        ),
    }
}
