//! `smsflow optouts import FILE.csv` / `smsflow optouts export`: an account's opt-out list
//! in and out as CSV.
//!
//! Import reads a header row naming a phone column (and optionally a date and a source
//! column), reads each number in the account's default country, and stores the valid rows
//! in batches. Each batch is committed before the next is read, and a phone that is already
//! opted out is left alone and counted as a duplicate, so an interrupted import is resumed
//! by running it again: nothing is added twice. Invalid rows are listed with their line
//! numbers; the rest is imported either way.

use std::collections::HashSet;
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use smsflow_shared::domain::{Account, AccountId, PhoneNumber, Timestamp};
use smsflow_shared::ports::{OptOut, OptOutImport, Store};

use crate::accounts::stored_account;
use crate::output::{CliError, CliResult, ErrorKind, Output, rfc3339, unreadable_file_hint};
use crate::target::Location;

/// Rows stored per batch (one transaction locally; concurrent conditional writes on AWS).
const DEFAULT_BATCH: usize = 500;
/// Opt-outs read per page when exporting.
const EXPORT_PAGE: usize = 1000;

const PHONE_COLUMNS: [&str; 6] = [
    "phone",
    "phone_number",
    "phone number",
    "number",
    "mobile",
    "mobile_phone",
];
const DATE_COLUMNS: [&str; 5] = ["date", "opted_out_at", "opt_out_date", "changed_at", "time"];
const SOURCE_COLUMNS: [&str; 1] = ["source"];

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Import opt-outs from a CSV file with a header row: a phone column (phone, number,
    /// mobile...), optionally date (YYYY-MM-DD, YYYY-MM-DD HH:MM:SS in UTC, or RFC 3339;
    /// default: now) and source.
    /// Safe to run again: phones already opted out are counted as duplicates.
    Import {
        /// The CSV file.
        file: PathBuf,
        #[arg(long)]
        account: String,
        /// Source recorded for rows without a source column (default: "import <file name>").
        #[arg(long)]
        source: Option<String>,
        /// Rows per batch.
        #[arg(long, default_value_t = DEFAULT_BATCH, value_parser = batch_size)]
        batch: usize,
        #[command(flatten)]
        at: Location,
    },
    /// Export an account's opt-outs as CSV (phone,date,source), in phone order.
    Export {
        #[arg(long)]
        account: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        at: Location,
    },
}

fn batch_size(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(format!("'{text}' is not a batch size from 1 to 10000")),
    }
}

pub async fn run(command: Command, out: Output) -> CliResult {
    match command {
        Command::Import {
            file,
            account,
            source,
            batch,
            at,
        } => run_import(&file, &account, source, batch, &at, out).await,
        Command::Export {
            account,
            output,
            at,
        } => {
            let id = AccountId::parse(&account)?;
            let store = at.store().await?;
            stored_account(&*store, &id).await?;
            export(&*store, &id, output.as_deref(), out).await
        }
    }
}

/// `optouts import`: imports the file, prints the summary, and fails when rows were rejected.
async fn run_import(
    file: &Path,
    account: &str,
    source: Option<String>,
    batch: usize,
    at: &Location,
    out: Output,
) -> CliResult {
    let id = AccountId::parse(account)?;
    let store = at.store().await?;
    let account = stored_account(&*store, &id).await?;
    let source = source.unwrap_or_else(|| {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        format!("import {}", name.unwrap_or_default())
    });
    let summary = import(&*store, &account, file, &source, batch).await?;
    out.emit(&summary, || summary.print())?;
    if summary.invalid.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(
            ErrorKind::RowsRejected,
            format!(
                "{} invalid row(s) in {} were not imported",
                summary.invalid.len(),
                file.display()
            ),
        )
        .with_hint("fix the listed lines and run the import again: rows already imported count as duplicates"))
    }
}

/// One row that was not imported.
#[derive(Debug, Serialize)]
pub struct InvalidRow {
    pub line: u64,
    pub value: String,
    pub problem: String,
}

impl InvalidRow {
    /// A row the CSV reader could not read.
    fn unreadable(e: &csv::Error) -> Self {
        InvalidRow {
            line: e.position().map(|p| p.line()).unwrap_or(0),
            value: String::new(),
            problem: e.to_string(),
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportSummary {
    pub account: String,
    pub file: String,
    /// Data rows read (the header excluded).
    pub rows: u64,
    /// Newly opted out.
    pub accepted: u64,
    /// Already opted out, or repeated in the file: nothing changed.
    pub duplicates: u64,
    /// A newer opt-in is stored (the contact re-subscribed after the row's date): kept.
    pub newer_opt_in_kept: u64,
    pub invalid: Vec<InvalidRow>,
}

impl ImportSummary {
    fn print(&self) {
        println!("imported {} into account {}", self.file, self.account);
        println!("  rows                {}", self.rows);
        println!("  accepted            {}", self.accepted);
        println!("  duplicates          {}", self.duplicates);
        println!("  newer opt-in kept   {}", self.newer_opt_in_kept);
        println!("  invalid             {}", self.invalid.len());
        for row in &self.invalid {
            println!("    line {}: '{}': {}", row.line, row.value, row.problem);
        }
    }
}

/// Which column holds what.
struct Columns {
    phone: usize,
    date: Option<usize>,
    source: Option<usize>,
}

fn find_column(header: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    header.iter().position(|h| {
        let h = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        names.contains(&h.as_str())
    })
}

fn columns(header: &csv::StringRecord, file: &Path) -> CliResult<Columns> {
    let phone = find_column(header, &PHONE_COLUMNS).ok_or_else(|| {
        CliError::invalid(format!(
            "{}: the first line names no phone column (it is: {})",
            file.display(),
            header.iter().collect::<Vec<_>>().join(",")
        ))
        .with_hint("start the file with a header such as phone,date,source")
    })?;
    Ok(Columns {
        phone,
        date: find_column(header, &DATE_COLUMNS),
        source: find_column(header, &SOURCE_COLUMNS),
    })
}

/// Reads the data rows of an import as opt-outs of one account.
struct RowReader<'a> {
    columns: Columns,
    account: &'a Account,
    /// Recorded for rows without a source.
    default_source: &'a str,
    /// Recorded for rows without a date.
    now: Timestamp,
}

impl RowReader<'_> {
    /// The row's opt-out: the phone in the account's default country, the row's date and
    /// source or the defaults.
    fn opt_out(&self, record: &csv::StringRecord) -> Result<OptOut, InvalidRow> {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let reject = |value: &str, problem: String| InvalidRow {
            line,
            value: value.to_string(),
            problem,
        };
        let raw_phone = record.get(self.columns.phone).unwrap_or_default();
        let phone = self
            .account
            .parse_phone(raw_phone)
            .map_err(|e| reject(raw_phone, e.to_string()))?;
        let changed_at = match self.columns.date.and_then(|c| record.get(c)) {
            Some(date) if !date.is_empty() => {
                parse_date(date).map_err(|problem| reject(date, problem))?
            }
            _ => self.now,
        };
        let source = match self.columns.source.and_then(|c| record.get(c)) {
            Some(source) if !source.is_empty() => source.to_string(),
            _ => self.default_source.to_string(),
        };
        Ok(OptOut {
            phone,
            changed_at,
            source,
        })
    }
}

/// Reads a date as written in opt-out lists: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` (UTC) or
/// `YYYY-MM-DD` (midnight UTC).
pub fn parse_date(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    let utc = jiff::tz::TimeZone::UTC;
    let timestamp = if let Ok(t) = text.parse::<jiff::Timestamp>() {
        t
    } else if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        dt.to_zoned(utc).map_err(|e| e.to_string())?.timestamp()
    } else if let Ok(d) = text.parse::<jiff::civil::Date>() {
        d.to_zoned(utc).map_err(|e| e.to_string())?.timestamp()
    } else {
        return Err(format!(
            "date '{text}' is not YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or RFC 3339"
        ));
    };
    Ok(Timestamp::from_millis(timestamp.as_millisecond()))
}

/// Counts the bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    bar: Option<ProgressBar>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}

/// A progress bar over the file's bytes when stderr is a terminal.
fn progress_bar(len: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta} left) {msg}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

fn read_error(file: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::invalid(format!("cannot read {}: {e}", file.display()))
}

type CsvFile = csv::Reader<Counting<std::io::BufReader<File>>>;

/// Opens `file` as CSV (fields trimmed, rows of any length), with a progress bar over its
/// bytes when stderr is a terminal.
fn open_csv(file: &Path) -> CliResult<(CsvFile, Option<ProgressBar>)> {
    let handle =
        File::open(file).map_err(|e| read_error(file, &e).with_hint(unreadable_file_hint(&e)))?;
    let len = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(len);
    let reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(Counting {
            inner: std::io::BufReader::new(handle),
            bar: bar.clone(),
        });
    Ok((reader, bar))
}

/// Imports `file` into `account`'s opt-out list; see the module documentation.
pub async fn import(
    store: &dyn Store,
    account: &Account,
    file: &Path,
    default_source: &str,
    batch_size: usize,
) -> CliResult<ImportSummary> {
    let (mut reader, bar) = open_csv(file)?;
    let header = reader.headers().map_err(|e| read_error(file, e))?.clone();
    let rows = RowReader {
        columns: columns(&header, file)?,
        account,
        default_source,
        now: Timestamp::from_millis(jiff::Timestamp::now().as_millisecond()),
    };
    let mut summary = ImportSummary {
        account: account.id.to_string(),
        file: file.display().to_string(),
        ..ImportSummary::default()
    };
    // Phones met earlier in the file: a repeat is a duplicate, not a second write.
    let mut seen: HashSet<PhoneNumber> = HashSet::new();
    let mut pending: Vec<OptOut> = Vec::with_capacity(batch_size);
    for result in reader.records() {
        if let Err(e) = &result
            && e.is_io_error()
        {
            return Err(read_error(file, e));
        }
        summary.rows += 1;
        let read = result
            .map_err(|e| InvalidRow::unreadable(&e))
            .and_then(|record| rows.opt_out(&record));
        let opt_out = match read {
            Ok(opt_out) => opt_out,
            Err(invalid) => {
                summary.invalid.push(invalid);
                continue;
            }
        };
        if !seen.insert(opt_out.phone.clone()) {
            summary.duplicates += 1;
            continue;
        }
        pending.push(opt_out);
        if pending.len() >= batch_size {
            store_batch(store, &account.id, &mut pending, &mut summary).await?;
        }
    }
    store_batch(store, &account.id, &mut pending, &mut summary).await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(summary)
}

async fn store_batch(
    store: &dyn Store,
    account: &AccountId,
    pending: &mut Vec<OptOut>,
    summary: &mut ImportSummary,
) -> CliResult {
    if pending.is_empty() {
        return Ok(());
    }
    let outcomes = store.import_opt_outs(account, pending).await.map_err(|e| {
        CliError::from(e).context(format!(
            "import stopped after {} accepted row(s)",
            summary.accepted
        ))
    })?;
    for outcome in outcomes {
        match outcome {
            OptOutImport::Added => summary.accepted += 1,
            OptOutImport::AlreadyOptedOut => summary.duplicates += 1,
            OptOutImport::NewerOptIn => summary.newer_opt_in_kept += 1,
        }
    }
    pending.clear();
    Ok(())
}

#[derive(Serialize)]
struct ExportedOptOut {
    phone: String,
    date: String,
    changed_at: i64,
    source: String,
}

async fn export(
    store: &dyn Store,
    account: &AccountId,
    path: Option<&Path>,
    out: Output,
) -> CliResult {
    let rows: Vec<ExportedOptOut> = all_opt_outs(store, account)
        .await?
        .into_iter()
        .map(|o| ExportedOptOut {
            phone: o.phone.to_string(),
            date: rfc3339(o.changed_at),
            changed_at: o.changed_at.as_millis(),
            source: o.source,
        })
        .collect();
    if out.json && path.is_none() {
        return out.emit(&rows, || {});
    }
    write_csv(&rows, path)?;
    if let Some(p) = path {
        let done = serde_json::json!({
            "account": account,
            "file": p.display().to_string(),
            "exported": rows.len(),
        });
        out.emit(&done, || {
            eprintln!("exported {} opt-out(s) to {}", rows.len(), p.display())
        })?;
    }
    Ok(())
}

/// Every opt-out of the account, in phone order, read page by page.
async fn all_opt_outs(store: &dyn Store, account: &AccountId) -> CliResult<Vec<OptOut>> {
    let mut all = Vec::new();
    let mut after: Option<PhoneNumber> = None;
    loop {
        let page = store.opt_outs(account, after.as_ref(), EXPORT_PAGE).await?;
        let full = page.len() == EXPORT_PAGE;
        after = page.last().map(|o| o.phone.clone());
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// Writes the rows as CSV (phone,date,source) to `path`, or to stdout.
fn write_csv(rows: &[ExportedOptOut], path: Option<&Path>) -> CliResult {
    let write_error = |e: &dyn std::fmt::Display| {
        CliError::invalid(format!(
            "cannot write {}: {e}",
            path.map_or("stdout".into(), |p| p.display().to_string())
        ))
    };
    let sink: Box<dyn Write> = match path {
        Some(p) => Box::new(File::create(p).map_err(|e| write_error(&e))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(sink);
    writer
        .write_record(["phone", "date", "source"])
        .map_err(|e| write_error(&e))?;
    for row in rows {
        writer
            .write_record([&row.phone, &row.date, &row.source])
            .map_err(|e| write_error(&e))?;
    }
    writer.flush().map_err(|e| write_error(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_usual_forms() {
        let cases = [
            ("2024-05-01", Some(1_714_521_600_000)),
            ("2024-05-01T12:00:00Z", Some(1_714_564_800_000)),
            ("2024-05-01T14:00:00+02:00", Some(1_714_564_800_000)),
            ("2024-05-01 12:00:00", Some(1_714_564_800_000)),
            (" 2024-05-01 ", Some(1_714_521_600_000)),
            ("01/05/2024", None),
            ("yesterday", None),
            ("2024-13-01", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_date(text).ok().map(Timestamp::as_millis),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn import_help_names_every_date_form_it_reads() {
        use clap::CommandFactory;
        let mut cli = crate::Cli::command();
        let import = cli
            .find_subcommand_mut("optouts")
            .and_then(|optouts| optouts.find_subcommand_mut("import"))
            .expect("optouts import");
        let help = import.render_long_help().to_string();
        // (the form as the help names it, a date in that form)
        let forms = [
            ("YYYY-MM-DD,", "2024-05-01"),
            ("YYYY-MM-DD HH:MM:SS in UTC", "2024-05-01 12:00:00"),
            ("RFC 3339", "2024-05-01T12:00:00Z"),
        ];
        for (form, example) in forms {
            assert!(help.contains(form), "{form}: {help}");
            assert!(parse_date(example).is_ok(), "{example}");
        }
    }

    #[test]
    fn phone_column_is_found_by_its_usual_names() {
        let cases = [
            (vec!["phone"], Some(0)),
            (vec!["\u{feff}Phone", "date"], Some(0)),
            (vec!["name", "Mobile"], Some(1)),
            (vec!["name", "Phone Number", "source"], Some(1)),
            (vec!["name", "email"], None),
        ];
        for (header, expected) in cases {
            let record = csv::StringRecord::from(header.clone());
            assert_eq!(find_column(&record, &PHONE_COLUMNS), expected, "{header:?}");
        }
    }
}
