//! The phrase tables in README.md are the engine's real output: a README edit that drifts from
//! the code (or a code change that forgets the README) fails here.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ocw_phrase::phrase::{parse_seconds, ENGLISH, FRENCH, SPANISH};

fn table_rows<'a>(readme: &'a str, heading: &str) -> Vec<Vec<&'a str>> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    readme[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

fn check(seconds: &str, cap: u64, en: &str, es: &str, fr: &str) {
    let s = parse_seconds(Some(seconds)).expect("a number of seconds in the README");
    assert_eq!(ENGLISH.phrase(s, cap), en, "README: {seconds} s, cap {cap}");
    assert_eq!(SPANISH.phrase(s, cap), es, "README: {seconds} s, cap {cap}");
    assert_eq!(FRENCH.phrase(s, cap), fr, "README: {seconds} s, cap {cap}");
}

#[test]
fn readme_phrase_tables_match_the_engine() {
    let readme = include_str!("../README.md");
    let rows = table_rows(readme, "## Phrases by language");
    assert!(rows.len() >= 6);
    for row in &rows {
        for seconds in row[0].split(',') {
            check(seconds.trim(), 600, row[1], row[2], row[3]);
        }
    }
    let rows = table_rows(readme, "Other caps:");
    assert!(rows.len() >= 6);
    for row in &rows {
        let cap = row[0].parse().expect("a cap in seconds");
        check(row[1], cap, row[2], row[3], row[4]);
    }
}
