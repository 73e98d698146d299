//! First-use and per-parse cost of `phonenumber` 0.3 and `rlibphonenumber` 2.2: parse,
//! validate and format numbers of the countries the tests cover. Run each library in its own
//! process (the first parse loads the library's metadata):
//! `cargo run --release -- phonenumber` and `cargo run --release -- rlibphonenumber`.

use std::time::Instant;

/// (input, the country it is read in, its E.164 form)
const NUMBERS: &[(&str, &str, &str)] = &[
    ("+14155552671", "US", "+14155552671"),
    ("(952) 314-2318", "US", "+19523142318"),
    ("+447400123456", "GB", "+447400123456"),
    ("612 34 56 78", "ES", "+34612345678"),
    ("0034 612 345 678", "ES", "+34612345678"),
    ("+33612345678", "FR", "+33612345678"),
    ("030 901820", "DE", "+4930901820"),
    ("0412 345 678", "AU", "+61412345678"),
    ("+525512345678", "MX", "+525512345678"),
    ("+819012345678", "JP", "+819012345678"),
];
const WARM_ROUNDS: usize = 1000;

fn with_phonenumber(input: &str, country: &str) -> Option<String> {
    let id: phonenumber::country::Id = country.parse().ok()?;
    let parsed = phonenumber::parse(Some(id), input).ok()?;
    phonenumber::is_valid(&parsed)
        .then(|| parsed.format().mode(phonenumber::Mode::E164).to_string())
}

fn with_rlibphonenumber(input: &str, country: &str) -> Option<String> {
    let region: rlibphonenumber::Region = country.parse().ok()?;
    let parsed = rlibphonenumber::PhoneNumber::parse(input, Some(region)).ok()?;
    let e164 = parsed.format_as(rlibphonenumber::PhoneNumberFormat::E164);
    parsed.is_valid().then(|| e164.into_owned())
}

fn main() {
    let library = std::env::args().nth(1).unwrap_or_default();
    let parse: fn(&str, &str) -> Option<String> = match library.as_str() {
        "phonenumber" => with_phonenumber,
        "rlibphonenumber" => with_rlibphonenumber,
        _ => {
            eprintln!("usage: phone-libs-bench phonenumber|rlibphonenumber");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let (input, country, _) = NUMBERS[0];
    let first = parse(input, country);
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    let wrong: Vec<_> = NUMBERS
        .iter()
        .filter(|(input, country, e164)| parse(input, country).as_deref() != Some(*e164))
        .collect();
    let warm = Instant::now();
    for _ in 0..WARM_ROUNDS {
        for (input, country, _) in NUMBERS {
            std::hint::black_box(parse(input, country));
        }
    }
    let warm_us = warm.elapsed().as_secs_f64() * 1e6 / (WARM_ROUNDS * NUMBERS.len()) as f64;
    println!(
        "{{\"library\":\"{library}\",\"first_parse_ms\":{first_ms:.2},\"warm_parse_us\":{warm_us:.2},\"first_ok\":{},\"wrong\":{wrong:?}}}",
        first.is_some()
    );
}
