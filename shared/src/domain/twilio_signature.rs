//! Twilio request signatures (`X-Twilio-Signature`): computing them (the sandbox carrier
//! signs the callbacks it posts) and validating them (every Twilio webhook we receive).
//!
//! Form posts: `base64(HMAC-SHA1(auth_token, url + name1 + value1 + name2 + value2 ...))`
//! with the pairs sorted by name in byte order. JSON posts: Twilio adds
//! `bodySHA256=<hex sha256 of the raw body>` to the URL and signs the URL alone.
//!
//! Everything works on the URL string exactly as Twilio was configured with it. We never
//! re-serialise it through a URL parser: WHATWG serialisation (the `url` crate) re-encodes
//! characters such as `'`, and a single changed byte breaks the signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// The HTTP header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The query parameter Twilio adds to the URL of a JSON-body request.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// The signature Twilio would send for a form post of `params` to `url`.
///
/// `params` may repeat a name (array parameters such as `MessagingBinding.Address`): like
/// Twilio's own validators, pairs are sorted by name and then value, exact duplicates are
/// dropped, and each remaining `name + value` is appended. Values are used as is, never
/// trimmed: Twilio signs leading and trailing whitespace too.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(signing_mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header_signature` is Twilio's signature of a form post of `params` to `url`.
///
/// Besides `url` exactly as given, this tries the variants Twilio is known to sign: with
/// and without the port (`:443`/`:80` added when there is none; an explicit port kept),
/// and with and without `user:pass@`. A missing header never validates.
pub fn validate(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header_signature: Option<&str>,
) -> bool {
    let Some(expected) = header_signature.and_then(decode_signature) else {
        return false;
    };
    signed_url_candidates(url).iter().any(|candidate| {
        signing_mac(auth_token, candidate, params)
            .verify_slice(&expected)
            .is_ok()
    })
}

/// Whether a JSON-body request is authentic: `url` must carry a `bodySHA256` parameter equal
/// to the hex SHA-256 of `raw_body` (the bytes as received, not re-serialised JSON), and
/// `header_signature` must sign the URL with no parameters appended.
pub fn validate_json_body(
    auth_token: &str,
    url: &str,
    raw_body: &[u8],
    header_signature: Option<&str>,
) -> bool {
    let Some(claimed_hash) = query_param(url, BODY_SHA256_PARAM) else {
        return false;
    };
    body_hash_matches(claimed_hash, raw_body) && validate(auth_token, url, &[], header_signature)
}

/// Lower-case hex SHA-256 of a request body, as Twilio puts it in `bodySHA256`.
pub fn body_sha256_hex(raw_body: &[u8]) -> String {
    hex::encode(Sha256::digest(raw_body))
}

/// `url` with `bodySHA256=<hash of raw_body>` appended to its query (before any fragment):
/// the URL a JSON-body request is sent to and signed over.
pub fn url_with_body_sha256(url: &str, raw_body: &[u8]) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let separator = if !before_fragment.contains('?') {
        "?"
    } else if before_fragment.ends_with('?') || before_fragment.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!(
        "{before_fragment}{separator}{BODY_SHA256_PARAM}={}{fragment}",
        body_sha256_hex(raw_body)
    )
}

fn signing_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    // HMAC takes keys of any length (long ones are hashed first), so this cannot fail.
    let mut mac =
        HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The raw 20 HMAC bytes of a header value, or `None` when it is not base64.
fn decode_signature(header: &str) -> Option<Vec<u8>> {
    BASE64.decode(header).ok()
}

fn body_hash_matches(claimed_hex: &str, raw_body: &[u8]) -> bool {
    match hex::decode(claimed_hex) {
        Ok(claimed) => claimed.ct_eq(Sha256::digest(raw_body).as_slice()).into(),
        Err(_) => false,
    }
}

/// The raw value of the one query parameter called `name`; `None` when absent or repeated
/// (an ambiguous hash is no hash). Not percent-decoded: the hash is plain hex.
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split('#').next()?.split_once('?')?.1;
    let mut values = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').filter(|(n, _)| *n == name))
        .map(|(_, value)| value);
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// The pieces of an absolute URL, as slices of the original string.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: &'a str,
    /// Without the trailing `@`.
    userinfo: Option<&'a str>,
    /// Including brackets for IPv6 literals.
    host: &'a str,
    /// Digits only; `None` when absent or empty (`host:`).
    port: Option<&'a str>,
    /// Path, query and fragment, untouched.
    rest: &'a str,
}

impl UrlParts<'_> {
    fn assemble(&self, userinfo: Option<&str>, port: Option<&str>) -> String {
        let mut url = format!("{}://", self.scheme);
        if let Some(userinfo) = userinfo {
            url.push_str(userinfo);
            url.push('@');
        }
        url.push_str(self.host);
        if let Some(port) = port {
            url.push(':');
            url.push_str(port);
        }
        url.push_str(self.rest);
        url
    }
}

/// Splits `scheme://[userinfo@]host[:port]rest`; `None` for anything else (relative URLs,
/// non-numeric ports), which then only validates exactly as given.
fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after_scheme) = url.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(authority_end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']')?;
        let (host, after_host) = host_port.split_at(close + 1);
        match after_host {
            "" => (host, None),
            _ => (host, Some(after_host.strip_prefix(':')?)),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() || port.is_some_and(|p| !p.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    Some(UrlParts {
        scheme,
        userinfo,
        host,
        port: port.filter(|p| !p.is_empty()),
        rest,
    })
}

/// Every URL string Twilio may have signed for a request we received at `url`: the URL
/// as given first, then with/without port and with/without userinfo. No duplicates.
fn signed_url_candidates(url: &str) -> Vec<String> {
    let mut candidates = vec![url.to_string()];
    let Some(parts) = split_url(url) else {
        return candidates;
    };
    let default_port = if parts.scheme.eq_ignore_ascii_case("https") {
        Some("443")
    } else if parts.scheme.eq_ignore_ascii_case("http") {
        Some("80")
    } else {
        None
    };
    let with_port = parts.port.or(default_port);
    let userinfos = [parts.userinfo, None];
    let ports = [None, with_port];
    for userinfo in userinfos {
        for port in ports {
            let candidate = parts.assemble(userinfo, port);
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
    }
    candidates
}

#[cfg(test)]
mod tests;
