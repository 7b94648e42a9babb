//! E.164 normalisation (`mindful_core::phone`) on arbitrary strings, every format and a few
//! default countries.
//!
//! Invariants: never panics; a result matches Mindful's ANI pattern `^\+?[1-9]\d{1,14}$` and has
//! at most 15 digits; re-normalising the E.164 output (in any default country) gives it back;
//! digits/national spellings agree with it; masking never shows more than the last 4 digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mindful_core::phone::{
    mask_number, matches_mindful_ani, normalize, normalize_e164, parse_number, NumberFormat,
};

const COUNTRIES: [&str; 8] = ["US", "GB", "DE", "FR", "IT", "AU", "MX", "JP"];
/// Their calling codes, in the same order.
const CALLING_CODES: [u16; 8] = [1, 44, 49, 33, 39, 61, 52, 81];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let input = String::from_utf8_lossy(rest);
    let index = usize::from(selector) % COUNTRIES.len();
    let country = COUNTRIES[index];

    let masked = mask_number(&input);
    assert!(masked.starts_with("***"));
    assert!(masked.chars().filter(char::is_ascii_digit).count() <= 4);

    let parsed = parse_number(&input, country);
    for format in [
        NumberFormat::E164,
        NumberFormat::Digits,
        NumberFormat::National,
    ] {
        let n = normalize(&input, country, format);
        assert_eq!(n.is_ok(), parsed.is_ok(), "{input:?} {format}");
    }
    let Ok(number) = parsed else {
        return;
    };
    let e164 = number.e164();
    assert!(matches_mindful_ani(&e164), "{input:?} -> {e164}");
    assert!(e164.starts_with('+'));
    let digits = number.digits();
    assert!(digits.len() <= 15, "{input:?} -> {e164}");
    assert_eq!(format!("+{digits}"), e164);
    assert!(digits.ends_with(number.national()));
    assert!(digits.starts_with(&number.country_code().to_string()));
    assert_eq!(
        normalize_e164(&input, country).as_deref(),
        Ok(e164.as_str())
    );

    // Idempotent: the E.164 form reads back as itself whatever the default country.
    for c in COUNTRIES {
        assert_eq!(
            normalize_e164(&e164, c).as_deref(),
            Ok(e164.as_str()),
            "{input:?} -> {e164} re-read in {c}"
        );
    }
    // The national spelling read back in its own country is the same number. (Only there: a
    // national number means nothing elsewhere, e.g. Italian "010…" read in Japan starts with
    // Japan's international prefix 010.)
    if CALLING_CODES[index] == number.country_code() {
        let again = parse_number(number.national(), country);
        assert_eq!(again.as_ref(), Ok(&number), "{input:?}: national re-read in {country}");
    }

    let m = number.masked();
    assert!(m.chars().filter(char::is_ascii_digit).count() <= 4);
    assert!(e164.ends_with(m.trim_start_matches('*')));
});
