//! The benchmark's events and constants (they came from the old journey, which now plays the
//! test cases of infra/tests on the flow runner and has no events of its own).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub const INSTANCE_ARN: &str =
    "arn:aws:connect:us-east-1:111122223333:instance/0a1b2c3d-4e5f-6789-abcd-ef0123456789";
pub const BILLING_QUEUE_ID: &str = "7b3e1f2a-9c4d-4e8f-a1b2-c3d4e5f60718";
/// The number the caller dials (inbound flow).
pub const INBOUND_DID: &str = "+18005550100";
pub const AGENT_ID: &str = "jdoe";
pub const CUSTOMER_NAME: &str = "Ada Lovelace";
pub const ACCOUNT_NUMBER: &str = "AC-1042";

/// Connect's `ContactFlowEvent` (the shape of `events/*.json`): `Parameters`, contact id,
/// customer and system numbers, working queue `(name, ARN)`, language, contact attributes; built
/// by flow-runner's [`flow_runner::contact_flow_event`], the event the flows' calls send.
pub fn contact_event(
    parameters: Value,
    contact_id: &str,
    customer: &str,
    system: &str,
    queue: Option<(&str, &str)>,
    language: &str,
    attributes: Value,
) -> Value {
    flow_runner::contact_flow_event(
        &flow_runner::EventContact {
            contact_id,
            customer,
            dialled: system,
            instance_arn: INSTANCE_ARN,
            channel: "VOICE",
            language,
            queue: queue.map(|(name, arn)| (arn, name)),
            attributes,
        },
        parameters,
    )
}

/// A random-looking UUID for contact ids (no extra dependency; uniqueness is what matters).
pub fn contact_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (SEQ
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut next = || {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

pub fn queue_arn(id: &str) -> String {
    format!("{INSTANCE_ARN}/queue/{id}")
}

/// A number in `range`, surrounding spaces allowed; `expected` says what was wanted (a clap
/// value parser's error: clap names the flag and the value).
pub fn in_range<T: std::str::FromStr + PartialOrd>(
    v: &str,
    range: &std::ops::RangeInclusive<T>,
    expected: &str,
) -> Result<T, String> {
    v.trim()
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| format!("expected {expected}"))
}
