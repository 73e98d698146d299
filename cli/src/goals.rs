//! `smsflow goals ...`: the CRM goals an account's CRM said are not configured, which
//! smsflow stopped calling until they are reset.

use clap::Subcommand;
use smsflow_shared::domain::AccountId;
use smsflow_shared::usecases::goals::{self, ResetFailed};

use crate::output::{CliResult, Output};
use crate::target::Location;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List an account's disabled goals.
    Disabled {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        at: Location,
    },
    /// Forget an account's disabled goals, after adding them in the CRM.
    #[command(visible_alias = "reset-disabled")]
    Reset {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        at: Location,
    },
}

pub async fn run(command: Command, out: Output) -> CliResult {
    match command {
        Command::Disabled { account, at } => {
            let id = AccountId::parse(&account)?;
            let goals = at.store().await?.disabled_goals(&id).await?;
            out.emit(&goals, || {
                for goal in &goals {
                    println!("{goal}");
                }
            })
        }
        Command::Reset { account, at } => {
            let id = AccountId::parse(&account)?;
            let store = at.store().await?;
            let reset = goals::reset_disabled(store.as_ref(), &id)
                .await
                .map_err(|ResetFailed(e)| e)?;
            out.emit(
                &serde_json::json!({ "account": id, "reset": reset }),
                || println!("reset {reset} disabled goal(s) of account {id}"),
            )
        }
    }
}
