//! Measures the first phone-number normalisation in a fresh process, ours against the
//! `phonenumber` crate (libphonenumber metadata), which is why the core uses its own code.
//!
//! `cargo run --release -p mindful-core --example first_parse`

use std::time::Instant;

fn main() {
    let input = "(320) 907-1234";
    let which = std::env::args().nth(1).unwrap_or_else(|| "both".into());
    if which == "ours" || which == "both" {
        let t = Instant::now();
        let ours = mindful_core::normalize_e164(input, "US");
        let first = t.elapsed();
        let t = Instant::now();
        let _ = mindful_core::normalize_e164("+44 20 7946 0018", "US");
        let second = t.elapsed();
        println!(
            "ours:        first call {:>10.3} ms, next {:>8.4} ms -> {:?}",
            first.as_secs_f64() * 1e3,
            second.as_secs_f64() * 1e3,
            ours
        );
    }
    if which == "phonenumber" || which == "both" {
        let t = Instant::now();
        let n = phonenumber::parse(Some(phonenumber::country::Id::US), input)
            .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
        let first = t.elapsed();
        let t = Instant::now();
        let _ = phonenumber::parse(Some(phonenumber::country::Id::US), "+44 20 7946 0018");
        let second = t.elapsed();
        println!(
            "phonenumber: first call {:>10.3} ms, next {:>8.4} ms -> {:?}",
            first.as_secs_f64() * 1e3,
            second.as_secs_f64() * 1e3,
            n
        );
    }
}
