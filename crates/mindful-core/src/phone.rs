//! E.164 normalisation of caller numbers.
//!
//! Own code rather than the `phonenumber` crate, chosen by measurement: `phonenumber` 0.3.10 spends
//! ~70 ms (up to ~105 ms) deserialising libphonenumber's metadata on the first parse and adds ~3 MB
//! to each binary, while a flow waits on every cold start. What this module needs is narrower than
//! libphonenumber: turn what a flow or Connect hands us into the E.164 key Mindful stores, and reject
//! what cannot be one. It works from static tables (no lazy initialisation: the first call costs the
//! same microseconds as every other) and agrees with libphonenumber on the E.164 form of valid
//! numbers; `tests/phone_agreement.rs` checks that against the `phonenumber` crate (a dev-dependency
//! only). It validates shape (country code assigned, national length, NANP area/exchange rules) but
//! not number-range assignment, which Mindful and the carrier do anyway.

use std::fmt;
use std::str::FromStr;

/// Why a string cannot be an E.164 number. Never carries the input (it may be a full number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("no number given")]
    Empty,
    #[error("the caller withheld the number")]
    Withheld,
    #[error("the number contains characters that are not digits or separators")]
    InvalidCharacters,
    #[error("the country code is not assigned")]
    UnknownCountryCode,
    #[error("the default country is not supported")]
    UnknownDefaultCountry,
    #[error("the number has the wrong length for its country")]
    InvalidLength,
    #[error("the number is not a valid number for its country")]
    InvalidNumber,
}

/// A normalised number: country calling code and national significant number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    country_code: u16,
    national: String,
}

/// How a number is spelled as a Datastore key (`DATASTORE_NUMBER_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumberFormat {
    /// `+13209071234`
    #[default]
    E164,
    /// `13209071234`
    Digits,
    /// `3209071234` (the national significant number, without trunk prefix)
    National,
}

impl FromStr for NumberFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "e164" | "e.164" => Ok(Self::E164),
            "digits" => Ok(Self::Digits),
            "national" => Ok(Self::National),
            other => Err(format!(
                "unknown number format {other:?} (expected e164, digits or national)"
            )),
        }
    }
}

impl fmt::Display for NumberFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::E164 => "e164",
            Self::Digits => "digits",
            Self::National => "national",
        })
    }
}

impl PhoneNumber {
    pub fn country_code(&self) -> u16 {
        self.country_code
    }

    /// `+` country code national number.
    pub fn e164(&self) -> String {
        format!("+{}{}", self.country_code, self.national)
    }

    pub fn digits(&self) -> String {
        format!("{}{}", self.country_code, self.national)
    }

    pub fn national(&self) -> &str {
        &self.national
    }

    pub fn format(&self, format: NumberFormat) -> String {
        match format {
            NumberFormat::E164 => self.e164(),
            NumberFormat::Digits => self.digits(),
            NumberFormat::National => self.national.clone(),
        }
    }

    /// The number masked to its last four digits, for logs.
    pub fn masked(&self) -> String {
        mask_number(&self.national)
    }
}

/// A country's dialling rules, as far as normalisation needs them.
#[derive(Debug, Clone, Copy)]
struct CountryRules {
    code: u16,
    /// National (trunk) prefix dialled before national numbers, e.g. `0` in GB, `1` in NANP.
    trunk: &'static str,
    /// Allowed lengths of the national significant number.
    min_len: usize,
    max_len: usize,
    /// International call prefix dialled in this country.
    idd: &'static str,
}

const fn rules(
    code: u16,
    trunk: &'static str,
    min_len: usize,
    max_len: usize,
    idd: &'static str,
) -> CountryRules {
    CountryRules {
        code,
        trunk,
        min_len,
        max_len,
        idd,
    }
}

/// Countries with explicit rules. Others with an assigned code fall back to generic lengths.
/// NANP members all share code 1 and are listed by region so `DEFAULT_COUNTRY=CA` etc. work.
const REGIONS: &[(&str, CountryRules)] = &[
    ("US", rules(1, "1", 10, 10, "011")),
    ("CA", rules(1, "1", 10, 10, "011")),
    ("PR", rules(1, "1", 10, 10, "011")),
    ("VI", rules(1, "1", 10, 10, "011")),
    ("GU", rules(1, "1", 10, 10, "011")),
    ("AS", rules(1, "1", 10, 10, "011")),
    ("MP", rules(1, "1", 10, 10, "011")),
    ("BS", rules(1, "1", 10, 10, "011")),
    ("BB", rules(1, "1", 10, 10, "011")),
    ("BM", rules(1, "1", 10, 10, "011")),
    ("DO", rules(1, "1", 10, 10, "011")),
    ("JM", rules(1, "1", 10, 10, "011")),
    ("TT", rules(1, "1", 10, 10, "011")),
    ("KY", rules(1, "1", 10, 10, "011")),
    ("GB", rules(44, "0", 9, 10, "00")),
    ("IE", rules(353, "0", 7, 9, "00")),
    ("DE", rules(49, "0", 5, 13, "00")),
    ("FR", rules(33, "0", 9, 9, "00")),
    ("ES", rules(34, "", 9, 9, "00")),
    ("PT", rules(351, "", 9, 9, "00")),
    ("IT", rules(39, "", 6, 11, "00")),
    ("NL", rules(31, "0", 9, 9, "00")),
    ("BE", rules(32, "0", 8, 9, "00")),
    ("LU", rules(352, "", 4, 11, "00")),
    ("CH", rules(41, "0", 9, 9, "00")),
    ("AT", rules(43, "0", 4, 13, "00")),
    ("DK", rules(45, "", 8, 8, "00")),
    ("NO", rules(47, "", 8, 8, "00")),
    ("SE", rules(46, "0", 7, 10, "00")),
    ("FI", rules(358, "0", 5, 12, "00")),
    ("PL", rules(48, "", 9, 9, "00")),
    ("MX", rules(52, "", 10, 10, "00")),
    ("BR", rules(55, "0", 10, 11, "00")),
    ("AR", rules(54, "0", 10, 11, "00")),
    ("CL", rules(56, "", 9, 9, "00")),
    ("CO", rules(57, "", 10, 10, "00")),
    ("PE", rules(51, "0", 8, 9, "00")),
    ("AU", rules(61, "0", 9, 9, "0011")),
    ("NZ", rules(64, "0", 8, 10, "00")),
    ("IN", rules(91, "0", 10, 10, "00")),
    ("PH", rules(63, "0", 10, 10, "00")),
    ("SG", rules(65, "", 8, 8, "000")),
    ("JP", rules(81, "0", 9, 10, "010")),
    ("ZA", rules(27, "0", 9, 9, "00")),
    ("IL", rules(972, "0", 8, 9, "00")),
    ("AE", rules(971, "0", 8, 9, "00")),
];

/// Two-digit codes; with 1 and 7 these make the prefix-free set that tells a code's length.
const TWO_DIGIT_CODES: &[u16] = &[
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

/// Assigned three-digit codes (ITU-T E.164 list).
const THREE_DIGIT_CODES: &[u16] = &[
    211, 212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233,
    234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252,
    253, 254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297,
    298, 299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376,
    377, 378, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505,
    506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675,
    676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850,
    852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966,
    967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

fn region_rules(region: &str) -> Option<CountryRules> {
    let region = region.trim();
    REGIONS
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(region))
        .map(|(_, rules)| *rules)
}

/// Rules for a calling code: a listed country, else generic (no trunk prefix, 4–14 digits).
fn code_rules(code: u16) -> CountryRules {
    REGIONS
        .iter()
        .map(|(_, r)| *r)
        .find(|r| r.code == code)
        .unwrap_or(rules(code, "", 4, 14, "00"))
}

/// True when `region` is a default country this module can normalise national numbers for.
pub fn is_supported_region(region: &str) -> bool {
    region_rules(region).is_some()
}

/// Splits a leading country code off `digits` (which follow a `+` or an international prefix).
fn split_country_code(digits: &str) -> Option<(u16, &str)> {
    let first = digits.get(..1)?;
    if first == "1" || first == "7" {
        return Some((first.parse().ok()?, &digits[1..]));
    }
    let two: u16 = digits.get(..2)?.parse().ok()?;
    if TWO_DIGIT_CODES.contains(&two) {
        return Some((two, &digits[2..]));
    }
    let three: u16 = digits.get(..3)?.parse().ok()?;
    if THREE_DIGIT_CODES.contains(&three) {
        return Some((three, &digits[3..]));
    }
    None
}

/// Words Connect or carriers use for a withheld caller id.
fn is_withheld(s: &str) -> bool {
    let lower = s.trim().to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "anonymous" | "restricted" | "private" | "unavailable" | "unknown" | "withheld" | "blocked"
    ) || lower.starts_with("sip:anonymous")
}

/// Parses `input` into a [`PhoneNumber`], reading national numbers in `default_country`
/// (ISO 3166 alpha-2). Accepts the spellings people and systems write: spaces, dashes, dots,
/// parentheses, slashes, a `tel:` prefix, `+`, an international call prefix (`011`, `00`), a
/// trunk prefix (`1` in NANP, `0` in GB…), and the `+44 (0)20…` style.
pub fn parse_number(input: &str, default_country: &str) -> Result<PhoneNumber, PhoneError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    if is_withheld(trimmed) {
        return Err(PhoneError::Withheld);
    }
    let body = trimmed
        .strip_prefix("tel:")
        .or_else(|| trimmed.strip_prefix("TEL:"))
        .unwrap_or(trimmed);

    let mut plus = false;
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            // Full-width and Arabic-Indic digits, which libphonenumber also reads.
            '\u{FF10}'..='\u{FF19}' | '\u{0660}'..='\u{0669}' | '\u{06F0}'..='\u{06F9}' => {
                let base = match c {
                    '\u{FF10}'..='\u{FF19}' => 0xFF10,
                    '\u{0660}'..='\u{0669}' => 0x0660,
                    _ => 0x06F0,
                };
                let d = (c as u32 - base) as u8;
                digits.push(char::from(b'0' + d));
            }
            '+' | '\u{FF0B}' if digits.is_empty() && !plus => plus = true,
            ' '
            | '-'
            | '.'
            | '('
            | ')'
            | '/'
            | '\u{00A0}'
            | '\u{2010}'..='\u{2015}'
            | '\u{2212}' => {}
            _ => return Err(PhoneError::InvalidCharacters),
        }
        if digits.len() > 20 {
            return Err(PhoneError::InvalidLength);
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }

    if plus {
        return international(&digits);
    }

    let region = region_rules(default_country).ok_or(PhoneError::UnknownDefaultCountry)?;

    // International call prefix dialled from the default country (011 in NANP, 00 elsewhere).
    if let Some(rest) = digits.strip_prefix(region.idd) {
        if rest.len() >= 6 {
            if let Ok(n) = international(rest) {
                return Ok(n);
            }
        }
    }
    national(&digits, region)
}

fn international(digits: &str) -> Result<PhoneNumber, PhoneError> {
    if digits.starts_with('0') {
        return Err(PhoneError::UnknownCountryCode);
    }
    let (code, rest) = split_country_code(digits).ok_or(PhoneError::UnknownCountryCode)?;
    national(rest, code_rules(code))
}

/// Builds the number from a national part, stripping the trunk prefix when what remains is a
/// valid length (as libphonenumber does, also after a country code: `+44 (0)20…`).
fn national(digits: &str, rules: CountryRules) -> Result<PhoneNumber, PhoneError> {
    let fits = |n: &str| (rules.min_len..=rules.max_len).contains(&n.len());
    let mut nsn = digits;
    if !rules.trunk.is_empty() {
        if let Some(stripped) = digits.strip_prefix(rules.trunk) {
            if fits(stripped) && (!fits(digits) || rules.code == 1 || rules.trunk == "0") {
                nsn = stripped;
            }
        }
    }
    if rules.code == 52 && nsn.len() == 11 && nsn.starts_with('1') {
        // Mexico dropped the mobile "1" after +52 in 2019; old spellings still circulate.
        nsn = &nsn[1..];
    }
    if !fits(nsn) {
        return Err(PhoneError::InvalidLength);
    }
    if digits_sum_len(rules.code) + nsn.len() > 15 {
        return Err(PhoneError::InvalidLength);
    }
    if rules.code == 1 {
        let b = nsn.as_bytes();
        // NANP: area code and exchange start with 2-9.
        if b[0] < b'2' || b[3] < b'2' {
            return Err(PhoneError::InvalidNumber);
        }
    } else if nsn.starts_with('0') && (rules.code != 39 || nsn.starts_with("00")) {
        // Only Italy keeps a leading zero in the national significant number, and never two:
        // `00` is its international prefix, so such a number could not be dialled nationally.
        return Err(PhoneError::InvalidNumber);
    }
    Ok(PhoneNumber {
        country_code: rules.code,
        national: nsn.to_string(),
    })
}

fn digits_sum_len(code: u16) -> usize {
    match code {
        0..=9 => 1,
        10..=99 => 2,
        _ => 3,
    }
}

/// Normalises `input` to E.164 (`+13209071234`), reading national numbers in `default_country`.
pub fn normalize_e164(input: &str, default_country: &str) -> Result<String, PhoneError> {
    parse_number(input, default_country).map(|n| n.e164())
}

/// Normalises `input` and spells it in `format`.
pub fn normalize(
    input: &str,
    default_country: &str,
    format: NumberFormat,
) -> Result<String, PhoneError> {
    parse_number(input, default_country).map(|n| n.format(format))
}

/// Mindful's Agent Answer ANI pattern `^\+?[1-9]\d{1,14}$`, checked without a regex engine.
pub fn matches_mindful_ani(ani: &str) -> bool {
    let digits = ani.strip_prefix('+').unwrap_or(ani);
    let b = digits.as_bytes();
    (2..=15).contains(&b.len()) && (b'1'..=b'9').contains(&b[0]) && b.iter().all(u8::is_ascii_digit)
}

/// Masks a phone number (or anything that may be one) to its last four digits: `***1234`.
/// Non-digit characters are dropped so nothing of the original spelling leaks.
pub fn mask_number(s: &str) -> String {
    let digits: Vec<char> = s.chars().filter(char::is_ascii_digit).collect();
    if digits.len() <= 4 {
        return "***".to_string();
    }
    let tail: String = digits[digits.len() - 4..].iter().collect();
    format!("***{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_spellings_all_give_the_same_e164() {
        for input in [
            "(320) 907-1234",
            "320.907.1234",
            "1 320 907 1234",
            "+1 320-907-1234",
            "+13209071234",
            "13209071234",
            "3209071234",
            "tel:+1-320-907-1234",
            " +1 (320) 907 1234 ",
        ] {
            assert_eq!(
                normalize_e164(input, "US").as_deref(),
                Ok("+13209071234"),
                "{input}"
            );
        }
    }

    #[test]
    fn formats() {
        let n = parse_number("(320) 907-1234", "US").unwrap();
        assert_eq!(n.format(NumberFormat::E164), "+13209071234");
        assert_eq!(n.format(NumberFormat::Digits), "13209071234");
        assert_eq!(n.format(NumberFormat::National), "3209071234");
        assert_eq!("E164".parse::<NumberFormat>(), Ok(NumberFormat::E164));
        assert_eq!("digits".parse::<NumberFormat>(), Ok(NumberFormat::Digits));
        assert_eq!(
            " National ".parse::<NumberFormat>(),
            Ok(NumberFormat::National)
        );
        assert!("intl".parse::<NumberFormat>().is_err());
    }

    #[test]
    fn national_numbers_per_country() {
        let cases = [
            ("GB", "020 7946 0018", "+442079460018"),
            ("GB", "07700 900123", "+447700900123"),
            ("GB", "+44 (0)20 7946 0018", "+442079460018"),
            ("DE", "030 123456", "+4930123456"),
            ("DE", "0151 23456789", "+4915123456789"),
            ("FR", "01 23 45 67 89", "+33123456789"),
            ("FR", "06 12 34 56 78", "+33612345678"),
            ("ES", "912 345 678", "+34912345678"),
            ("MX", "55 1234 5678", "+525512345678"),
            ("AU", "02 9876 5432", "+61298765432"),
            ("AU", "0412 345 678", "+61412345678"),
            ("IN", "098765 43210", "+919876543210"),
            ("BR", "(11) 91234-5678", "+5511912345678"),
            ("CA", "(416) 555-0199", "+14165550199"),
            ("US", "011 44 20 7946 0018", "+442079460018"),
            ("GB", "00 33 1 23 45 67 89", "+33123456789"),
            ("IT", "06 1234 5678", "+390612345678"),
            ("US", "３２０９０７１２３４", "+13209071234"),
        ];
        for (region, input, want) in cases {
            assert_eq!(
                normalize_e164(input, region).as_deref(),
                Ok(want),
                "{region} {input}"
            );
        }
    }

    #[test]
    fn rejects_what_cannot_be_e164() {
        let cases = [
            ("", PhoneError::Empty),
            ("   ", PhoneError::Empty),
            ("anonymous", PhoneError::Withheld),
            ("Restricted", PhoneError::Withheld),
            ("sip:anonymous@anonymous.invalid", PhoneError::Withheld),
            ("+1 800 FLOWERS", PhoneError::InvalidCharacters),
            ("320-907-1234;ext=5", PhoneError::InvalidCharacters),
            (".;phone-context=", PhoneError::InvalidCharacters),
            ("+dwPAA;phone-context=AA", PhoneError::InvalidCharacters),
            ("  2 22#:", PhoneError::InvalidCharacters),
            ("３２０x", PhoneError::InvalidCharacters),
            ("+", PhoneError::Empty),
            ("---", PhoneError::Empty),
            ("+0123456789", PhoneError::UnknownCountryCode),
            ("+999 123 4567", PhoneError::UnknownCountryCode),
            ("12345", PhoneError::InvalidLength),
            ("320907123", PhoneError::InvalidLength),
            ("+1 320 907 12345", PhoneError::InvalidLength),
            ("123456789012345678901234", PhoneError::InvalidLength),
            ("(120) 907-1234", PhoneError::InvalidNumber),
            ("(320) 107-1234", PhoneError::InvalidNumber),
            ("+1++3209071234", PhoneError::InvalidCharacters),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_e164(input, "US"), Err(want), "{input:?}");
        }
        assert_eq!(
            normalize_e164("3209071234", "XX"),
            Err(PhoneError::UnknownDefaultCountry)
        );
        // A `+` number needs no default country.
        assert_eq!(
            normalize_e164("+13209071234", "XX").as_deref(),
            Ok("+13209071234")
        );
    }

    /// Regression (found by `cargo fuzz`, target `phone`): an Italian number whose national part
    /// starts with `00` (the international prefix) was accepted, and its national spelling then
    /// read back as a different number. Real Italian numbers with one leading zero still parse.
    #[test]
    fn italian_numbers_never_start_with_the_international_prefix() {
        assert_eq!(
            normalize_e164("+39 0039006684", "US"),
            Err(PhoneError::InvalidNumber)
        );
        assert_eq!(
            normalize_e164(")))))))+39003900668))4", "IT"),
            Err(PhoneError::InvalidNumber)
        );
        assert_eq!(
            normalize_e164("+39 06 6982 1234", "US").as_deref(),
            Ok("+390669821234")
        );
        let n = parse_number("06 6982 1234", "IT").unwrap();
        assert_eq!(parse_number(n.national(), "IT"), Ok(n));
    }

    #[test]
    fn results_always_match_mindfuls_ani_pattern() {
        // Every input here is valid: a rejection fails the test instead of skipping the check.
        for input in [
            "+13209071234",
            "020 7946 0018",
            "+4915123456789",
            "+8613912345678",
        ] {
            let e = normalize_e164(input, "GB").unwrap_or_else(|err| panic!("{input}: {err}"));
            assert!(matches_mindful_ani(&e), "{e}");
        }
    }

    #[test]
    fn mindful_ani_pattern() {
        for ok in ["+13209071234", "13209071234", "12", "+123456789012345"] {
            assert!(matches_mindful_ani(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "1",
            "+0123",
            "0123",
            "+1234567890123456",
            "+1 320",
            "abc",
            "+1-320",
        ] {
            assert!(!matches_mindful_ani(bad), "{bad}");
        }
    }

    #[test]
    fn masking_keeps_only_last_four_digits() {
        assert_eq!(mask_number("+13209071234"), "***1234");
        assert_eq!(mask_number("(320) 907-1234"), "***1234");
        assert_eq!(mask_number("123"), "***");
        assert_eq!(mask_number("anonymous"), "***");
        assert_eq!(
            parse_number("+13209071234", "US").unwrap().masked(),
            "***1234"
        );
    }

    #[test]
    fn first_call_is_cheap() {
        // No lazy tables: a call costs microseconds from the first one. (The benchmark measures
        // this in a fresh process; this guards against someone adding a lazy static.)
        let start = std::time::Instant::now();
        let _ = normalize_e164("+44 20 7946 0018", "US");
        assert!(start.elapsed() < std::time::Duration::from_millis(5));
    }
}
