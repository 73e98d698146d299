//! `smsflow numbers search`: the SMS-capable numbers Twilio offers the account's Twilio
//! account (`AvailablePhoneNumbers/{Country}/Local|TollFree|Mobile.json`).

use clap::Args;
use serde::Serialize;
use smsflow_shared::adapters::twilio::numbers::{AvailableNumber, NumberSearch, NumberType};
use smsflow_shared::domain::AccountId;

use super::twilio::{Session, TwilioFlags, WebhookFlags, credentials, twilio_error};
use crate::output::{CliError, CliResult, Output, table};
use crate::target::Location;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The account whose Twilio account searches (and would buy).
    #[arg(long)]
    account: String,
    /// ISO country code, e.g. US, CA, GB (default: the account's default country).
    #[arg(long)]
    country: Option<String>,
    /// Only numbers in this area code (US and Canada: three digits).
    #[arg(long)]
    area_code: Option<u32>,
    /// Only numbers containing these digits or letters (`*` matches any one digit).
    #[arg(long)]
    contains: Option<String>,
    /// Toll-free numbers instead of local ones.
    #[arg(long, conflicts_with = "mobile")]
    toll_free: bool,
    /// Mobile numbers instead of local ones (countries that sell them).
    #[arg(long)]
    mobile: bool,
    /// At most this many numbers (1 to 1000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    #[command(flatten)]
    twilio: TwilioFlags,
    #[command(flatten)]
    at: Location,
}

/// One offered number as listed.
#[derive(Serialize)]
struct Offered {
    number: String,
    locality: Option<String>,
    region: Option<String>,
    country: Option<String>,
    sms: bool,
    mms: bool,
    voice: bool,
    /// The address Twilio needs on file before it sells the number: none, any, local, foreign.
    address_requirements: Option<String>,
}

pub async fn run(args: SearchArgs, out: Output) -> CliResult {
    let id = AccountId::parse(&args.account)?;
    if let Some(pattern) = &args.contains
        && !valid_pattern(pattern)
    {
        return Err(CliError::invalid(format!(
            "--contains '{pattern}' must be 2 or more digits, letters or *"
        )));
    }
    let session =
        Session::open(&args.at, &args.twilio, &WebhookFlags { webhook_url: None }).await?;
    let account = session.account(&id).await?;
    let country = match &args.country {
        Some(code) => country_code(code)?,
        None => account.default_country.code(),
    };
    let search = NumberSearch {
        country,
        number_type: number_type(args.toll_free, args.mobile),
        area_code: args.area_code,
        contains: args.contains.clone(),
        limit: args.limit,
    };
    let found = (session.twilio)
        .available(credentials(&account)?, &search)
        .await
        .map_err(twilio_error)?;
    let offered: Vec<Offered> = found.into_iter().map(Offered::from).collect();
    out.emit(&offered, || {
        if offered.is_empty() {
            println!(
                "Twilio offers no SMS-capable number like that in {}",
                search.country
            );
        } else {
            println!("{}", render(&offered));
        }
    })
}

fn number_type(toll_free: bool, mobile: bool) -> NumberType {
    match (toll_free, mobile) {
        (true, _) => NumberType::TollFree,
        (_, true) => NumberType::Mobile,
        _ => NumberType::Local,
    }
}

/// Twilio's `Contains`: digits and letters (read on the keypad), `*` for any digit.
fn valid_pattern(pattern: &str) -> bool {
    pattern.chars().count() >= 2
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*')
}

fn country_code(code: &str) -> CliResult<String> {
    let upper = code.trim().to_ascii_uppercase();
    if upper.len() == 2 && upper.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(upper)
    } else {
        Err(CliError::invalid(format!(
            "--country '{code}' is not a two-letter ISO country code (US, CA, GB...)"
        )))
    }
}

impl From<AvailableNumber> for Offered {
    fn from(n: AvailableNumber) -> Self {
        let can = n.capabilities.unwrap_or_default();
        Offered {
            number: n.phone_number,
            locality: n.locality,
            region: n.region,
            country: n.iso_country,
            sms: can.sms,
            mms: can.mms,
            voice: can.voice,
            address_requirements: n.address_requirements,
        }
    }
}

fn render(offered: &[Offered]) -> String {
    let rows: Vec<Vec<String>> = offered
        .iter()
        .map(|n| {
            let can: Vec<&str> = [(n.sms, "sms"), (n.mms, "mms"), (n.voice, "voice")]
                .into_iter()
                .filter_map(|(yes, name)| yes.then_some(name))
                .collect();
            let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            vec![
                n.number.clone(),
                text(&n.locality),
                text(&n.region),
                can.join(" "),
                text(&n.address_requirements),
            ]
        })
        .collect();
    table(&["NUMBER", "LOCALITY", "REGION", "CAN", "ADDRESS"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_countries_are_checked_before_twilio_is_asked() {
        for (pattern, ok) in [
            ("952", true),
            ("55*1", true),
            ("ACME", true),
            ("5", false),
            ("95-2", false),
        ] {
            assert_eq!(valid_pattern(pattern), ok, "{pattern}");
        }
        assert_eq!(country_code("us").ok().as_deref(), Some("US"));
        assert!(country_code("USA").is_err());
    }
}
