//! What a send request may carry: a body, media URLs, or both, within Twilio's limits (a body
//! of at most 1600 characters, at most 10 media URLs, at least one of the two), so a request
//! Twilio would refuse is refused up front with a specific error instead of failing later in
//! the worker. Check the body after merge fields are rendered: that is the text Twilio
//! receives.

use url::Url;

/// Twilio's body limit ("up to 1,600 characters", error 21617).
pub const MAX_BODY_LENGTH: usize = 1600;
/// Twilio's media limit per message.
pub const MAX_MEDIA_URLS: usize = 10;

/// Why the content of a send request is refused. `code()` is stable for APIs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("the message needs a body or at least one media URL")]
    Empty,
    #[error("the body is {length} characters long; the limit is {MAX_BODY_LENGTH}")]
    BodyTooLong { length: usize },
    #[error("{count} media URLs given; the limit is {MAX_MEDIA_URLS}")]
    TooManyMedia { count: usize },
    #[error("media URL '{url}' is not usable: {reason}")]
    InvalidMediaUrl { url: String, reason: &'static str },
}

impl ContentError {
    pub fn code(&self) -> &'static str {
        match self {
            ContentError::Empty => "empty_message",
            ContentError::BodyTooLong { .. } => "body_too_long",
            ContentError::TooManyMedia { .. } => "too_many_media",
            ContentError::InvalidMediaUrl { .. } => "invalid_media_url",
        }
    }
}

/// Checked content: `media_urls` are absolute http(s) URLs in normalised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendContent {
    pub body: String,
    pub media_urls: Vec<String>,
}

/// A body's length as Twilio's 1600 limit counts it: in UTF-16 code units.
///
/// Twilio says "characters" without defining them, and notes for 21617 that "some glyphs
/// (emoji etc.) count as several characters". Code units are what UCS-2 segments count
/// (see `segments`) and are never fewer than Unicode scalars, so a body within this
/// count is within Twilio's whichever way it counts.
pub fn body_length(body: &str) -> usize {
    body.encode_utf16().count()
}

/// Checks a request's body and media. A body of only whitespace counts as no body; blank
/// media values are dropped (a CRM form whose media field merged to nothing means "no
/// media"). Errors come in this order: nothing to send, body too long, too many media, the
/// first unusable URL.
pub fn check_content(body: &str, media_urls: &[String]) -> Result<SendContent, ContentError> {
    let media: Vec<&str> = media_urls
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    if body.trim().is_empty() && media.is_empty() {
        return Err(ContentError::Empty);
    }
    let length = body_length(body);
    if length > MAX_BODY_LENGTH {
        return Err(ContentError::BodyTooLong { length });
    }
    if media.len() > MAX_MEDIA_URLS {
        return Err(ContentError::TooManyMedia { count: media.len() });
    }
    let media_urls = media
        .into_iter()
        .map(check_media_url)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SendContent {
        body: body.to_string(),
        media_urls,
    })
}

/// Checks one media URL: absolute, http or https (Twilio fetches it).
/// Returns it normalised.
pub fn check_media_url(url: &str) -> Result<String, ContentError> {
    let invalid = |reason| ContentError::InvalidMediaUrl {
        url: url.to_string(),
        reason,
    };
    let parsed = Url::parse(url.trim()).map_err(|_| invalid("not an absolute URL"))?;
    // The URL standard gives every http(s) URL a non-empty host ("http://" fails to parse).
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("only http and https URLs can be fetched"));
    }
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("https://cdn.example.com/{i}.png"))
            .collect()
    }

    #[test]
    fn body_length_counts_utf16_units() {
        let cases = [
            ("", 0),
            ("abc", 3),
            ("ñ€", 2),
            ("中文", 2),
            ("😀", 2),
            ("e\u{0301}", 2),
        ];
        for (body, want) in cases {
            assert_eq!(body_length(body), want, "{body:?}");
        }
    }

    #[test]
    fn accepts() {
        let cases: Vec<(&str, String, Vec<String>, Vec<String>)> = vec![
            ("body only", "hi".into(), vec![], vec![]),
            ("media only", String::new(), urls(1), urls(1)),
            ("1600 ASCII", "a".repeat(1600), vec![], vec![]),
            ("800 emoji are 1600 units", "😀".repeat(800), vec![], vec![]),
            ("ten media", "hi".into(), urls(10), urls(10)),
            (
                "blank media values are dropped",
                "hi".into(),
                vec![" ".into(), String::new()],
                vec![],
            ),
            (
                "URLs are trimmed and normalised",
                "hi".into(),
                vec![" HTTP://CDN.Example.com/a b.png ".into()],
                vec!["http://cdn.example.com/a%20b.png".into()],
            ),
            (
                "eleven values, one blank",
                "hi".into(),
                urls(10).into_iter().chain([String::new()]).collect(),
                urls(10),
            ),
        ];
        for (name, body, media, want_media) in cases {
            let got = check_content(&body, &media);
            assert_eq!(
                got,
                Ok(SendContent {
                    body,
                    media_urls: want_media
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn refuses() {
        let bad_url = |url: &str, reason| ContentError::InvalidMediaUrl {
            url: url.into(),
            reason,
        };
        let mut cases: Vec<(&str, String, Vec<String>, ContentError)> = vec![
            ("nothing", String::new(), vec![], ContentError::Empty),
            (
                "whitespace body",
                " \n\t".into(),
                vec![],
                ContentError::Empty,
            ),
            (
                "whitespace body, blank media",
                " ".into(),
                vec![" ".into()],
                ContentError::Empty,
            ),
            (
                "1601 ASCII",
                "a".repeat(1601),
                vec![],
                ContentError::BodyTooLong { length: 1601 },
            ),
            (
                "801 emoji are 1602 units",
                "😀".repeat(801),
                vec![],
                ContentError::BodyTooLong { length: 1602 },
            ),
            (
                "eleven media",
                "hi".into(),
                urls(11),
                ContentError::TooManyMedia { count: 11 },
            ),
            (
                "body checked before media",
                "a".repeat(1601),
                urls(11),
                ContentError::BodyTooLong { length: 1601 },
            ),
            (
                "first bad URL reported",
                "hi".into(),
                vec![
                    "https://ok.example.com/1.png".into(),
                    "nope".into(),
                    "also nope".into(),
                ],
                bad_url("nope", "not an absolute URL"),
            ),
        ];
        // A short body with one media URL that cannot be fetched: (name, URL, reason).
        let (not_absolute, not_http) = (
            "not an absolute URL",
            "only http and https URLs can be fetched",
        );
        let bad_media = [
            ("relative URL", "/img/a.png", not_absolute),
            ("no scheme", "cdn.example.com/a.png", not_absolute),
            ("no host", "http://", not_absolute),
            ("ftp", "ftp://example.com/a.png", not_http),
            ("data URL", "data:image/png;base64,AAAA", not_http),
        ];
        cases.extend(bad_media.map(|(name, url, reason)| {
            (name, "hi".into(), vec![url.into()], bad_url(url, reason))
        }));
        for (name, body, media, want) in cases {
            assert_eq!(check_content(&body, &media), Err(want), "{name}");
        }
        let codes = [
            ContentError::Empty,
            ContentError::BodyTooLong { length: 1601 },
            ContentError::TooManyMedia { count: 11 },
            bad_url("x", "not an absolute URL"),
        ]
        .map(|e| e.code());
        assert_eq!(
            codes,
            [
                "empty_message",
                "body_too_long",
                "too_many_media",
                "invalid_media_url"
            ]
        );
    }
}
