//! Parsing what Mindful answers: the OAuth token response, Datastore records (flattened for the
//! flow through `Kvp::flatten` / `record_response`, as the Datastore body parser is private), and
//! the 32 KB response guard with an amplified map.
//!
//! Invariants: never panics; a parsed token is non-empty and trimmed with a lifetime in
//! (0, 24 h]; flattening yields only string values and keeps every scalar leaf; the guarded
//! response is always under 32 KB and unchanged when it already fitted.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mindful_core::kvp::MAX_RESPONSE_BYTES;
use mindful_core::oauth::parse_token_response;
use mindful_core::Kvp;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(issued) = parse_token_response(data) {
        let token = issued.token;
        let t = token.expose();
        // A token that is accepted can always go into an Authorization header (RFC 6750 b64token).
        assert!(!t.is_empty() && t.len() <= mindful_core::oauth::MAX_TOKEN_LEN);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)));
        if let Some(lifetime) = issued.lifetime {
            assert!(lifetime > Duration::ZERO && lifetime <= Duration::from_secs(86_400));
        }
        // Debug/Display never show the value.
        assert_eq!(format!("{token:?} {token}"), "Secret(***) ***");
    }

    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let flat = Kvp::flatten(&value);
    let json = serde_json::to_value(&flat).expect("serialise");
    assert!(json
        .as_object()
        .expect("object")
        .values()
        .all(Value::is_string));
    if let Value::Object(record) = &value {
        for (k, v) in record {
            if !(v.is_object() || v.is_array()) {
                assert!(flat.get(k).is_some(), "leaf {k:?} lost");
            }
        }
        let out = datastore_proxy::record_response(record);
        assert_eq!(out.status(), Some("ok"));
        assert!(out.get("error").is_none() && out.get("error_message").is_none());
        guard(out);
    }

    // Amplify: the same pairs many times over, well past 32 KB.
    let copies = data.first().map_or(1, |b| usize::from(*b) + 1);
    let mut big = Kvp::with_status("ok");
    big.set("customer_contact_number", "+13209071234");
    for i in 0..copies {
        for (k, v) in flat.iter() {
            big.set(format!("{i}.{k}"), v.repeat(1 + data.len() % 8));
        }
    }
    guard(big);
});

fn guard(kvp: Kvp) {
    let before = kvp.clone();
    let fitted = before.encoded_len() <= MAX_RESPONSE_BYTES - 512;
    let out = mindful_core::answer::within_connect_limit(kvp, &["customer_contact_number"]);
    assert!(
        out.encoded_len() < MAX_RESPONSE_BYTES,
        "{}",
        out.encoded_len()
    );
    if fitted {
        assert_eq!(out, before);
    } else {
        assert_eq!(out.get("error"), Some("response_too_large"));
        if let Some(n) = before
            .get("customer_contact_number")
            .filter(|n| n.len() < 1024)
        {
            assert_eq!(out.get("customer_contact_number"), Some(n));
        }
    }
}
