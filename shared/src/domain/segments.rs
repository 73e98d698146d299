//! How many SMS segments a body costs, counted the way Twilio counts them.
//!
//! One SMS carries 140 octets (1120 bits). A body is GSM-7 (7-bit septets) only when every
//! character is in the GSM-7 basic set or its extension table; otherwise the whole body is
//! UCS-2 (16-bit UTF-16 code units). A body that fits one segment gets it whole (160 septets
//! or 70 units); a longer one is split into parts that each lose 6 octets to the
//! concatenation header (153 septets or 67 units each).
//!
//! Like Twilio's reference calculator (TwilioDevEd/message-segment-calculator), characters
//! are placed whole: an extension character's ESC + char pair, a UTF-16 surrogate pair and a
//! whole grapheme (an emoji with modifiers, a letter with combining accents) never straddle
//! two segments, so the count can exceed a naive `ceil(units / 153)`. Segments matter
//! because Twilio's throughput (MPS: segments per second per sender) and price are per
//! segment.

use std::time::Duration;

use unicode_segmentation::UnicodeSegmentation;

/// The character encoding a body is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 03.38 default alphabet: 7-bit septets, extension characters take two.
    Gsm7,
    /// UTF-16 code units (Twilio's "UCS-2"): characters outside the BMP take two.
    Ucs2,
}

impl Encoding {
    /// The name Twilio's documentation and calculator use.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    /// Units (septets or code units) a body may use and still go as one SMS.
    pub fn single_segment_units(self) -> u32 {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units each part of a multi-part SMS holds (the rest carries the 6-octet header).
    pub fn multi_segment_units(self) -> u32 {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }
}

/// The result of counting a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCount {
    pub encoding: Encoding,
    /// SMS parts the body is sent as; at least 1 (see [`count_segments`]).
    pub segments: u32,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole body, headers excluded.
    pub units: u32,
}

/// Septets a character takes in GSM-7, or `None` when GSM-7 cannot carry it.
///
/// The set is exactly the one of Twilio's calculator (`UnicodeToGSM.ts`): 127 basic
/// characters and 10 extension characters. Note that only upper-case `Ç` is in it: `ç`
/// forces UCS-2 (verified against the calculator).
pub fn gsm7_septets(c: char) -> Option<u32> {
    match c {
        '\n' | '\r' | ' '..='?' | '@'..='Z' | '_' | 'a'..='z' => Some(1),
        '¡' | '£' | '¤' | '¥' | '§' | '¿' => Some(1),
        'Ä' | 'Å' | 'Æ' | 'Ç' | 'É' | 'Ñ' | 'Ö' | 'Ø' | 'Ü' | 'ß' => Some(1),
        'à' | 'ä' | 'å' | 'æ' | 'è' | 'é' | 'ì' | 'ñ' | 'ò' | 'ö' | 'ø' | 'ù' | 'ü' => {
            Some(1)
        }
        'Γ' | 'Δ' | 'Θ' | 'Λ' | 'Ξ' | 'Π' | 'Σ' | 'Φ' | 'Ψ' | 'Ω' => Some(1),
        // The extension table: ESC (0x1B) followed by the character's code.
        '\u{000C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

/// The encoding Twilio picks for `body`: GSM-7 when every character is in the GSM-7 map.
pub fn encoding_of(body: &str) -> Encoding {
    if body.chars().all(|c| gsm7_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Counts the segments of `body` as Twilio does.
///
/// An empty body counts as one segment with zero units: Twilio's calculator starts every
/// message with one segment, and a media-only message still occupies its sender for a send
/// slot, so pacing must not treat it as free.
pub fn count_segments(body: &str) -> SegmentCount {
    let encoding = encoding_of(body);
    let units_of = |c: char| -> u32 {
        match encoding {
            // Every character passed the GSM-7 check, so `unwrap_or` never picks its default.
            Encoding::Gsm7 => gsm7_septets(c).unwrap_or(2),
            Encoding::Ucs2 => c.len_utf16() as u32,
        }
    };

    let total: u32 = body.chars().map(units_of).sum();
    if total <= encoding.single_segment_units() {
        return SegmentCount {
            encoding,
            segments: 1,
            units: total,
        };
    }

    let mut packer = Packer::new(encoding.multi_segment_units());
    for grapheme in body.graphemes(true) {
        let grapheme_units: u32 = grapheme.chars().map(units_of).sum();
        // A CR LF pair is one grapheme but two GSM-7 characters, which Twilio splits like
        // any other two characters (the calculator special-cases it the same way). A
        // grapheme too big for any segment (dozens of combining marks) must be split too;
        // it then breaks between characters, never inside one.
        if grapheme == "\r\n" || grapheme_units > packer.capacity {
            for c in grapheme.chars() {
                packer.place(units_of(c));
            }
        } else {
            packer.place(grapheme_units);
        }
    }
    SegmentCount {
        encoding,
        segments: packer.segments,
        units: total,
    }
}

/// Greedy placement of indivisible pieces into fixed-size segments.
struct Packer {
    capacity: u32,
    segments: u32,
    used: u32,
}

impl Packer {
    fn new(capacity: u32) -> Self {
        Packer {
            capacity,
            segments: 1,
            used: 0,
        }
    }

    fn place(&mut self, units: u32) {
        if self.used + units > self.capacity {
            self.segments += 1;
            self.used = units;
        } else {
            self.used += units;
        }
    }
}

/// The slowest rate ever assumed, used if a rate is not a positive number (configuration
/// rejects those, so this is a guard, not a policy): one segment per second, the lowest of
/// Twilio's defaults (a US long code).
const FALLBACK_SEGMENTS_PER_SECOND: f64 = 1.0;

/// How long a sender is busy sending `segments` at `segments_per_second`: the spacing the
/// send worker leaves before that sender's next message (Twilio's MPS counts segments, so a
/// 3-segment SMS takes 3 s of a 1-MPS long code).
pub fn send_cost(segments: u32, segments_per_second: f64) -> Duration {
    let rate = if segments_per_second.is_finite() && segments_per_second > 0.0 {
        segments_per_second
    } else {
        FALLBACK_SEGMENTS_PER_SECOND
    };
    // A rate so small that the cost overflows a Duration means "practically never".
    Duration::try_from_secs_f64(f64::from(segments) / rate).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(body: &str) -> (Encoding, u32, u32) {
        let c = count_segments(body);
        (c.encoding, c.segments, c.units)
    }

    fn rep(s: &str, n: usize) -> String {
        s.repeat(n)
    }

    use Encoding::{Gsm7, Ucs2};

    /// Checks what `count` says of each named body: (encoding, segments, units).
    fn assert_counts(cases: Vec<(&str, String, (Encoding, u32, u32))>) {
        for (name, body, want) in cases {
            assert_eq!(count(&body), want, "{name}");
        }
    }

    #[test]
    fn gsm7_boundaries() {
        assert_counts(vec![
            ("empty body is one segment", String::new(), (Gsm7, 1, 0)),
            ("one char", "a".into(), (Gsm7, 1, 1)),
            ("160 fills one segment", rep("a", 160), (Gsm7, 1, 160)),
            ("161 needs two", rep("a", 161), (Gsm7, 2, 161)),
            ("153*2 fills two", rep("a", 306), (Gsm7, 2, 306)),
            ("153*2+1 needs three", rep("a", 307), (Gsm7, 3, 307)),
            ("153*3 fills three", rep("a", 459), (Gsm7, 3, 459)),
            ("153*3+1 needs four", rep("a", 460), (Gsm7, 4, 460)),
            ("1600 chars", rep("a", 1600), (Gsm7, 11, 1600)),
            // Live Twilio: 80a + CRLF + 79a is 161 septets, 2 segments.
            (
                "CRLF counts two septets",
                format!("{}\r\n{}", rep("a", 80), rep("a", 79)),
                (Gsm7, 2, 161),
            ),
            (
                "LF counts one septet",
                format!("{}\n{}", rep("a", 80), rep("a", 79)),
                (Gsm7, 1, 160),
            ),
        ]);
    }

    #[test]
    fn extension_characters_count_two_and_never_split() {
        assert_counts(vec![
            ("one pipe", "|".into(), (Gsm7, 1, 2)),
            ("80 euros fill one segment", rep("€", 80), (Gsm7, 1, 160)),
            ("81 euros need two", rep("€", 81), (Gsm7, 2, 162)),
            (
                "159 + ext = 161 septets",
                format!("{}^", rep("a", 159)),
                (Gsm7, 2, 161),
            ),
            (
                "158 + ext = 160 septets",
                format!("{}^", rep("a", 158)),
                (Gsm7, 1, 160),
            ),
            // 152 septets + an extension char: the pair would straddle the 153 boundary,
            // so it moves whole to segment 2; 152 + 2 + 151 = 305 ≤ 306 but needs 3.
            (
                "extension char at the 153 boundary moves whole",
                format!("{}{{{}", rep("a", 152), rep("a", 152)),
                (Gsm7, 3, 306),
            ),
            (
                "extension char ending exactly at 153",
                format!("{}{{{}", rep("a", 151), rep("a", 153)),
                (Gsm7, 2, 306),
            ),
            (
                "all ten extension characters",
                "\u{000C}^{}\\[~]|€".into(),
                (Gsm7, 1, 20),
            ),
        ]);
    }

    #[test]
    fn ucs2_boundaries() {
        assert_counts(vec![
            ("70 fill one segment", rep("中", 70), (Ucs2, 1, 70)),
            ("71 need two", rep("中", 71), (Ucs2, 2, 71)),
            ("67*2 fill two", rep("中", 134), (Ucs2, 2, 134)),
            ("67*2+1 need three", rep("中", 135), (Ucs2, 3, 135)),
            ("67*3 fill three", rep("中", 201), (Ucs2, 3, 201)),
            // One non-GSM char turns the whole body UCS-2: 160 chars are 3 segments.
            (
                "one non-GSM char switches the whole body",
                format!("{}ç", rep("a", 159)),
                (Ucs2, 3, 160),
            ),
            // In UCS-2 an extension character is one code unit, not two.
            (
                "extension chars are one unit in UCS-2",
                format!("中{}", rep("€", 69)),
                (Ucs2, 1, 70),
            ),
            ("lowercase ç is not GSM-7", "ç".into(), (Ucs2, 1, 1)),
            ("backtick is not GSM-7", "`".into(), (Ucs2, 1, 1)),
            ("curly quote is not GSM-7", "\u{2019}".into(), (Ucs2, 1, 1)),
        ]);
    }

    #[test]
    fn emoji_and_graphemes_never_split() {
        assert_counts(vec![
            ("one emoji is two units", "😀".into(), (Ucs2, 1, 2)),
            ("35 emoji fill one segment", rep("😀", 35), (Ucs2, 1, 70)),
            ("36 emoji need two", rep("😀", 36), (Ucs2, 2, 72)),
            // 66 units then an emoji: the surrogate pair cannot be split at 67.
            (
                "emoji at the 67 boundary moves whole",
                format!("{}😀{}", rep("中", 66), rep("中", 66)),
                (Ucs2, 3, 134),
            ),
            (
                "emoji ending exactly at 67",
                format!("{}😀{}", rep("中", 65), rep("中", 67)),
                (Ucs2, 2, 134),
            ),
            // 33 emoji are 66 units per segment: 67 emoji (134 units) need 3, not 2.
            ("67 emoji", rep("😀", 67), (Ucs2, 3, 134)),
            // Live Twilio: 70 x (e + U+0301) is UCS-2, 3 segments.
            ("decomposed accents", rep("e\u{0301}", 70), (Ucs2, 3, 140)),
            ("one decomposed accent", "e\u{0301}".into(), (Ucs2, 1, 2)),
            ("70 precomposed é stay GSM-7", rep("é", 70), (Gsm7, 1, 70)),
            // A family emoji is one 8-unit grapheme (3 people + 2 ZWJ) that moves whole:
            // after 60 units it starts segment 2, leaving 59 units there. Split between
            // scalars it would leave 65, and 60 + family + 65 would fit in 2 segments.
            (
                "ZWJ sequence moves whole",
                format!("{}👨\u{200D}👩\u{200D}👧{}", rep("中", 60), rep("中", 59)),
                (Ucs2, 2, 127),
            ),
            (
                "ZWJ sequence kept whole costs a third segment",
                format!("{}👨\u{200D}👩\u{200D}👧{}", rep("中", 60), rep("中", 65)),
                (Ucs2, 3, 133),
            ),
        ]);
    }

    #[test]
    fn a_grapheme_bigger_than_a_segment_splits_between_characters() {
        // 'a' followed by 100 combining marks is one grapheme of 101 units.
        let body = format!("a{}", rep("\u{0301}", 100));
        assert_eq!(count(&body), (Ucs2, 2, 101));
    }

    #[test]
    fn gsm7_set_has_127_basic_and_10_extension_characters() {
        let (mut basic, mut extension) = (0, 0);
        for c in (0..=0xFFFFu32).filter_map(char::from_u32) {
            match gsm7_septets(c) {
                Some(1) => basic += 1,
                Some(2) => extension += 1,
                Some(n) => panic!("{c:?} takes {n} septets"),
                None => {}
            }
        }
        assert_eq!((basic, extension), (127, 10));
    }

    #[test]
    fn send_cost_is_segments_over_rate() {
        let cases = [
            (1, 1.0, Duration::from_secs(1)),
            (3, 1.0, Duration::from_secs(3)),
            (3, 3.0, Duration::from_secs(1)),
            (1, 10.0, Duration::from_millis(100)),
            (1, 100.0, Duration::from_millis(10)),
            (0, 1.0, Duration::ZERO),
            (2, 0.5, Duration::from_secs(4)),
            // Invalid rates fall back to 1 segment/s rather than panic or send unpaced.
            (2, 0.0, Duration::from_secs(2)),
            (2, -5.0, Duration::from_secs(2)),
            (2, f64::NAN, Duration::from_secs(2)),
            (2, f64::INFINITY, Duration::from_secs(2)),
            (u32::MAX, f64::MIN_POSITIVE, Duration::MAX),
        ];
        for (segments, rate, want) in cases {
            assert_eq!(send_cost(segments, rate), want, "{segments} @ {rate}");
        }
    }
}
