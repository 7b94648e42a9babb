//! Small helpers: timestamps, token generation, validation patterns, secret masking.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub(crate) fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// An unpredictable-enough opaque token (not cryptographic; this is a simulator).
pub(crate) fn new_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut out = String::from("simtok_");
    for salt in [0x9e37_79b9_7f4a_7c15_u64, 0xc2b2_ae3d_27d4_eb4f] {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(nanos);
        h.write_u64(salt);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Agent Answer `data.ani`: `^\+?[1-9]\d{1,14}$`.
pub(crate) fn valid_ani(ani: &str) -> bool {
    let digits = ani.strip_prefix('+').unwrap_or(ani);
    let b = digits.as_bytes();
    (2..=15).contains(&b.len())
        && b.iter().all(u8::is_ascii_digit)
        && b.first().is_some_and(|c| *c != b'0')
}

/// Datastore search key: the number with spaces, dashes, dots and parentheses removed; `None`
/// when the result is not `^\+?\d{3,15}$`.
pub(crate) fn datastore_key(number: &str) -> Option<String> {
    let key: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = key.strip_prefix('+').unwrap_or(&key);
    let ok = (3..=15).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit());
    ok.then_some(key)
}

/// Header value as shown in logs: credentials reduced to their scheme.
pub(crate) fn mask_header(name: &str, value: &str) -> String {
    match name {
        "authorization" | "proxy-authorization" => match value.split_once(' ') {
            Some((scheme, _)) => format!("{scheme} ***"),
            None => "***".to_string(),
        },
        "cookie" | "set-cookie" | "x-api-key" => "***".to_string(),
        _ => value.to_string(),
    }
}

/// Form body as shown in logs: `client_secret` / `password` values masked.
pub(crate) fn mask_form_body(body: &str) -> String {
    body.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if matches!(k, "client_secret" | "password" | "client_assertion") => {
                format!("{k}=***")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn iso8601_known_dates() {
        let at = |s| iso8601(UNIX_EPOCH + Duration::from_millis(s));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_709_164_800_123), "2024-02-29T00:00:00.123Z");
        assert_eq!(at(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
    }

    #[test]
    fn ani_pattern() {
        for ok in ["+13209071234", "13209071234", "12", "+123456789012345"] {
            assert!(valid_ani(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "1",
            "+0123",
            "0123",
            "1234567890123456",
            "+1 320",
            "++1320",
            "abc",
            "(320) 907-1234",
        ] {
            assert!(!valid_ani(bad), "{bad}");
        }
    }

    #[test]
    fn datastore_stripping() {
        assert_eq!(datastore_key("555-555-5555").as_deref(), Some("5555555555"));
        assert_eq!(
            datastore_key("+1 (320) 907.1234").as_deref(),
            Some("+13209071234")
        );
        assert_eq!(
            datastore_key("1 320 907 1234").as_deref(),
            Some("13209071234")
        );
        assert_eq!(datastore_key("12"), None);
        assert_eq!(datastore_key("abc"), None);
        assert_eq!(datastore_key("1234567890123456"), None);
        assert_eq!(datastore_key("+1/320"), None);
        assert_eq!(datastore_key(""), None);
    }

    #[test]
    fn masking() {
        assert_eq!(mask_header("authorization", "Bearer abc"), "Bearer ***");
        assert_eq!(mask_header("authorization", "abc"), "***");
        assert_eq!(mask_header("accept", "x"), "x");
        assert_eq!(
            mask_form_body("grant_type=client_credentials&client_secret=s3"),
            "grant_type=client_credentials&client_secret=***"
        );
        assert_ne!(new_token(), new_token());
    }
}
