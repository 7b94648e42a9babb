//! Our normaliser must give the same E.164 as libphonenumber (the `phonenumber` crate, a
//! dev-dependency only) for every number libphonenumber considers valid.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mindful_core::phone::normalize_e164;
use phonenumber::{country::Id, Mode};

fn libphonenumber_e164(region: Id, input: &str) -> Option<String> {
    let n = phonenumber::parse(Some(region), input).ok()?;
    phonenumber::is_valid(&n).then(|| n.format().mode(Mode::E164).to_string())
}

/// (region, spellings of numbers) — national with and without trunk prefix, with `+`, with the
/// `(0)` convention and with the international call prefix of the region.
const CORPUS: &[(&str, Id, &[&str])] = &[
    (
        "US",
        Id::US,
        &[
            "(201) 555-0123",
            "201.555.0123",
            "1 201 555 0123",
            "+1 201-555-0123",
            "+12015550123",
            "12015550123",
            "011 44 121 234 5678",
            "(320) 907-1234",
            "+1 (212) 736-5000",
        ],
    ),
    (
        "CA",
        Id::CA,
        &[
            "(506) 234-5678",
            "1-506-234-5678",
            "+1 416 555 0199",
            "(604) 555-0123",
        ],
    ),
    (
        "GB",
        Id::GB,
        &[
            "0121 234 5678",
            "+44 121 234 5678",
            "+44 (0)121 234 5678",
            "07400 123456",
            "+447400123456",
            "020 7946 0018",
            "00 1 201 555 0123",
        ],
    ),
    (
        "DE",
        Id::DE,
        &[
            "030 123456",
            "+49 30 123456",
            "0151 23456789",
            "+49 (0)151 23456789",
            "089 1234567",
            "00 44 7400 123456",
        ],
    ),
    (
        "FR",
        Id::FR,
        &[
            "01 23 45 67 89",
            "+33 1 23 45 67 89",
            "06 12 34 56 78",
            "+33 (0)6 12 34 56 78",
            "00 49 30 123456",
        ],
    ),
    (
        "ES",
        Id::ES,
        &[
            "810 12 34 56",
            "+34 810 12 34 56",
            "612 34 56 78",
            "+34612345678",
            "91 234 56 78",
        ],
    ),
    (
        "MX",
        Id::MX,
        &[
            "200 123 4567",
            "+52 200 123 4567",
            "55 1234 5678",
            "+52 55 1234 5678",
            "222 123 4567",
        ],
    ),
    (
        "AU",
        Id::AU,
        &[
            "02 1234 5678",
            "+61 2 1234 5678",
            "0412 345 678",
            "+61 412 345 678",
            "(03) 9123 4567",
            "0011 44 121 234 5678",
        ],
    ),
    (
        "IN",
        Id::IN,
        &[
            "074104 10123",
            "+91 74104 10123",
            "081234 56789",
            "+91 81234 56789",
            "98765 43210",
        ],
    ),
    (
        "BR",
        Id::BR,
        &[
            "(11) 2345-6789",
            "+55 11 2345-6789",
            "(11) 96123-4567",
            "+55 11 96123 4567",
            "011 96123-4567",
        ],
    ),
    (
        "IT",
        Id::IT,
        &[
            "06 1234 5678",
            "+39 06 1234 5678",
            "312 345 6789",
            "+39 312 345 6789",
        ],
    ),
    (
        "NL",
        Id::NL,
        &["010 123 4567", "+31 10 123 4567", "06 12345678"],
    ),
    (
        "IE",
        Id::IE,
        &["01 234 5678", "+353 1 234 5678", "085 012 3456"],
    ),
    (
        "JP",
        Id::JP,
        &["03-1234-5678", "+81 3 1234 5678", "090-1234-5678"],
    ),
];

#[test]
fn agrees_with_libphonenumber_on_valid_numbers() {
    let mut compared = 0;
    let mut skipped = Vec::new();
    for (region, id, inputs) in CORPUS {
        let mut valid_here = 0;
        for input in *inputs {
            match libphonenumber_e164(*id, input) {
                Some(theirs) => {
                    let ours = normalize_e164(input, region);
                    assert_eq!(ours.as_deref(), Ok(theirs.as_str()), "{region} {input:?}");
                    compared += 1;
                    valid_here += 1;
                }
                None => skipped.push(format!("{region} {input}")),
            }
        }
        assert!(
            valid_here >= 2,
            "corpus for {region} has too few numbers libphonenumber accepts"
        );
    }
    eprintln!("compared {compared}, libphonenumber rejected {skipped:?}");
    assert!(
        compared >= 60,
        "compared only {compared}; skipped {skipped:?}"
    );
}

#[test]
fn numbers_libphonenumber_cannot_parse_are_rejected_too() {
    for input in [
        "",
        "abc",
        ".;phone-context=",
        "+dwPAA;phone-context=AA",
        "  2 22#:",
        "+0 123",
        "+999 1234 5678",
    ] {
        let theirs = libphonenumber_e164(Id::US, input);
        assert!(theirs.is_none(), "{input:?} → {theirs:?}");
        assert!(normalize_e164(input, "US").is_err(), "{input:?}");
    }
}
