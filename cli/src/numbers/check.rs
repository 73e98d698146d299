//! `smsflow numbers check`: for each number of each account (or of one), asks Twilio where
//! it sends the number's texts and reports every one that does not reach this deployment,
//! with what fixes it. Exits 4 when any is wrong.

use clap::Args;
use serde::Serialize;
use smsflow_shared::adapters::twilio::numbers::OwnedNumber;
use smsflow_shared::domain::provider::SmsProviderKind;
use smsflow_shared::domain::{Account, AccountId, InboundNumber, SenderKind};

use super::twilio::{Session, TwilioFlags, WebhookFlags, credentials, twilio_error};
use crate::hints;
use crate::output::{CliError, CliResult, Output, table};
use crate::target::Location;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Only this account's numbers (default: every stored account's).
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    webhook: WebhookFlags,
    #[command(flatten)]
    twilio: TwilioFlags,
    #[command(flatten)]
    at: Location,
}

/// Where Twilio sends a number's texts, compared with this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum State {
    /// Its SMS webhook is this deployment's, with POST.
    Ok,
    /// Its SMS webhook is another URL (or GET).
    WrongUrl,
    /// The account's Twilio account does not own it.
    NotInTwilio,
    /// A Messaging Service takes its texts (Twilio ignores the number's webhook).
    MessagingService,
    /// A TwiML app takes its texts (Twilio ignores the number's webhook).
    Application,
    /// Short codes are not IncomingPhoneNumbers: not checked.
    Skipped,
    /// Twilio could not be asked.
    TwilioError,
}

#[derive(Serialize)]
struct Row {
    account: AccountId,
    number: String,
    state: State,
    /// What Twilio has: the webhook, the service or app SID, or its error.
    detail: String,
    /// What fixes it, when it is wrong.
    fix: Option<String>,
}

#[derive(Serialize)]
struct Report {
    webhook_url: String,
    numbers: Vec<Row>,
    wrong: usize,
}

pub async fn run(args: CheckArgs, out: Output) -> CliResult {
    let only = args.account.as_deref().map(AccountId::parse).transpose()?;
    let session = Session::open(&args.at, &args.twilio, &args.webhook).await?;
    let url = session.inbound_url()?.to_string();
    let ids = match only {
        Some(id) => vec![id],
        None => session.store.account_ids().await?,
    };
    let mut numbers = Vec::new();
    for id in ids {
        let account = session.account(&id).await?;
        for number in &account.numbers {
            numbers.push(check_one(&session, &account, number, &url).await);
        }
    }
    let wrong = numbers.iter().filter(|row| is_wrong(row.state)).count();
    let report = Report {
        webhook_url: url,
        numbers,
        wrong,
    };
    out.emit(&report, || print(&report))?;
    match wrong {
        0 => Ok(()),
        n => Err(CliError::invalid(format!(
            "{n} of {} numbers do not send their texts to {}",
            report.numbers.len(),
            report.webhook_url
        ))
        .with_hint("each wrong number's fix is listed with it")),
    }
}

fn is_wrong(state: State) -> bool {
    !matches!(state, State::Ok | State::Skipped)
}

async fn check_one(session: &Session, account: &Account, number: &InboundNumber, url: &str) -> Row {
    let on_instasent = account.provider_of(Some(&number.number)) == SmsProviderKind::Instasent;
    let (state, detail) = match credentials(account) {
        _ if number.kind == SenderKind::ShortCode => (State::Skipped, "short code".to_string()),
        _ if on_instasent => (State::Skipped, "sends through Instasent".to_string()),
        Err(_) => (
            State::Skipped,
            "the account has no Twilio credentials".to_string(),
        ),
        Ok(twilio) => match session.twilio.owned(twilio, &number.number).await {
            Ok(owned) => classify(owned.as_ref(), url),
            Err(e) => (State::TwilioError, twilio_error(e).message),
        },
    };
    let fix = fix(state, &account.id, number.number.as_str(), &detail, url);
    Row {
        account: account.id.clone(),
        number: number.number.to_string(),
        state,
        detail,
        fix,
    }
}

/// Where Twilio sends the texts of `owned`, compared with `url`.
fn classify(owned: Option<&OwnedNumber>, url: &str) -> (State, String) {
    let Some(owned) = owned else {
        return (
            State::NotInTwilio,
            "not in the account's Twilio account".into(),
        );
    };
    // Twilio ignores sms_url while an app or a service takes the texts.
    match owned
        .sms_application_sid
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        Some(sid) if sid.starts_with("MG") => return (State::MessagingService, sid.to_string()),
        Some(sid) => return (State::Application, sid.to_string()),
        None => {}
    }
    let sms_url = owned.sms_url.clone().unwrap_or_default();
    // Twilio's default method is POST; a #fragment holds connection overrides, not the URL.
    let method = owned.sms_method.as_deref().unwrap_or("POST");
    let same = same_url(&sms_url, url) && method.eq_ignore_ascii_case("POST");
    let detail = match (sms_url.is_empty(), method) {
        (true, _) => "(no SMS webhook)".to_string(),
        (false, "POST") => sms_url,
        (false, other) => format!("{other} {sms_url}"),
    };
    (if same { State::Ok } else { State::WrongUrl }, detail)
}

fn same_url(twilio: &str, ours: &str) -> bool {
    let bare = |u: &str| {
        u.split('#')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string()
    };
    bare(twilio) == bare(ours)
}

fn fix(state: State, id: &AccountId, number: &str, detail: &str, url: &str) -> Option<String> {
    let wire = || hints::command(&["numbers", "wire", "--account", id.as_str(), number]);
    Some(match state {
        State::Ok | State::Skipped => return None,
        State::WrongUrl => format!("{} points it here", wire()),
        State::NotInTwilio => format!(
            "the number was released or is in another Twilio account: {} takes it off the \
             account, or give the account that Twilio account's credentials",
            hints::command(&["numbers", "release", "--account", id.as_str(), number])
        ),
        State::MessagingService => format!(
            "set Messaging Service {detail}'s incoming-message webhook to {url} in Twilio's \
             console, or take the number out of the service and run {}",
            wire()
        ),
        State::Application => format!(
            "clear the number's TwiML app {detail} in Twilio's console, then run {}",
            wire()
        ),
        State::TwilioError => "fix what Twilio said, then run the check again".to_string(),
    })
}

fn print(report: &Report) {
    let rows: Vec<Vec<String>> = (report.numbers.iter())
        .map(|row| {
            let state = serde_json::to_value(row.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            vec![
                row.account.to_string(),
                row.number.clone(),
                state,
                row.detail.clone(),
            ]
        })
        .collect();
    println!("this deployment's inbound webhook: {}", report.webhook_url);
    println!(
        "{}",
        table(&["ACCOUNT", "NUMBER", "STATE", "TWILIO HAS"], &rows)
    );
    for row in report.numbers.iter().filter(|row| row.fix.is_some()) {
        println!(
            "fix {}: {}",
            row.number,
            row.fix.as_deref().unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(sms_url: Option<&str>, method: Option<&str>, app: Option<&str>) -> OwnedNumber {
        OwnedNumber {
            sid: "PN1".into(),
            phone_number: "+19525550100".into(),
            sms_url: sms_url.map(str::to_string),
            sms_method: method.map(str::to_string),
            sms_application_sid: app.map(str::to_string),
            number_type: None,
            capabilities: None,
        }
    }

    #[test]
    fn numbers_are_classified_by_where_twilio_sends_their_texts() {
        let ours = "https://sms.example.com/twilio/inbound";
        let cases = [
            (Some(owned(Some(ours), Some("POST"), None)), State::Ok),
            (
                Some(owned(
                    Some("https://sms.example.com/twilio/inbound/#rc=2"),
                    None,
                    Some(""),
                )),
                State::Ok,
            ),
            (Some(owned(Some(ours), Some("GET"), None)), State::WrongUrl),
            (
                Some(owned(
                    Some("https://old.example.com/sms"),
                    Some("POST"),
                    None,
                )),
                State::WrongUrl,
            ),
            (Some(owned(None, None, None)), State::WrongUrl),
            (
                Some(owned(Some(ours), Some("POST"), Some("MG0123"))),
                State::MessagingService,
            ),
            (
                Some(owned(Some(ours), Some("POST"), Some("AP0123"))),
                State::Application,
            ),
            (None, State::NotInTwilio),
        ];
        for (owned, state) in cases {
            assert_eq!(classify(owned.as_ref(), ours).0, state, "{owned:?}");
        }
    }
}
