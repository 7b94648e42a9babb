//! The flat `{string: string}` response Connect reads as `$.External.<key>`.
//!
//! Connect's STRING_MAP validation accepts only a flat object of string values, under 32 KB of UTF-8.
//! Everything a handler returns goes through [`Kvp`], so no handler can return a number, a nested
//! object or an oversized map by accident.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Connect rejects responses of 32 KB or more. We keep a margin for JSON quoting and escapes.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024;
pub(crate) const SIZE_MARGIN: usize = 512;

/// The response map. `BTreeMap` keeps output deterministic (tests, logs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Kvp(BTreeMap<String, String>);

impl Kvp {
    pub fn new() -> Self {
        Self::default()
    }

    /// A response with `status` set.
    pub fn with_status(status: &str) -> Self {
        let mut kvp = Self::new();
        kvp.set("status", status);
        kvp
    }

    /// `status=error`, a stable `error` code and one human line.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        let mut kvp = Self::with_status("error");
        kvp.set("error", code);
        kvp.set("error_message", message.into());
        kvp
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.into(), value.into());
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    pub fn status(&self) -> Option<&str> {
        self.get("status")
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }

    /// Flattens arbitrary JSON into string pairs: `null` → `""`, numbers as written, booleans as
    /// `true`/`false`, nested objects as dotted keys (`organization.id`), arrays as indexed keys
    /// (`items.0`). An empty object or array keeps its key with the compact JSON (`{}`/`[]`), so a
    /// field is never silently lost. A top-level scalar is stored under `value`.
    pub fn flatten(value: &Value) -> Self {
        let mut kvp = Self::new();
        match value {
            Value::Object(_) | Value::Array(_) => flatten_into(&mut kvp.0, None, value),
            scalar => {
                kvp.set("value", crate::event::value_to_string(scalar));
            }
        }
        kvp
    }

    /// [`Kvp::flatten`] of an object, without building a `Value` around it.
    pub fn flatten_map(map: &serde_json::Map<String, Value>) -> Self {
        let mut kvp = Self::new();
        for (k, v) in map {
            flatten_into(&mut kvp.0, Some(k), v);
        }
        kvp
    }

    /// Serialised size in bytes, as Connect measures the response.
    pub fn encoded_len(&self) -> usize {
        serde_json::to_vec(&self.0)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
    }
}

fn flatten_into(out: &mut BTreeMap<String, String>, prefix: Option<&str>, value: &Value) {
    let join = |key: &str| match prefix {
        Some(p) => format!("{p}.{key}"),
        None => key.to_string(),
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten_into(out, Some(&join(k)), v);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten_into(out, Some(&join(&i.to_string())), v);
            }
        }
        other => {
            if let Some(p) = prefix {
                out.insert(p.to_string(), crate::event::value_to_string(other));
            }
        }
    }
}

impl From<BTreeMap<String, String>> for Kvp {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

impl<'a> IntoIterator for &'a Kvp {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flatten_table() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({"a":"x"}), vec![("a", "x")]),
            (json!({"a":null}), vec![("a", "")]),
            (
                json!({"n":42,"f":1.5,"big":12345678901234567i64}),
                vec![("big", "12345678901234567"), ("f", "1.5"), ("n", "42")],
            ),
            (
                json!({"b":true,"c":false}),
                vec![("b", "true"), ("c", "false")],
            ),
            (
                json!({"organization":{"id":"org-1"}}),
                vec![("organization.id", "org-1")],
            ),
            (json!({"a":{"b":{"c":1}}}), vec![("a.b.c", "1")]),
            (json!({"l":["x",2]}), vec![("l.0", "x"), ("l.1", "2")]),
            (json!({"e":{}, "z":[]}), vec![("e", "{}"), ("z", "[]")]),
            (json!("scalar"), vec![("value", "scalar")]),
            (json!({}), vec![]),
        ];
        for (input, want) in cases {
            let got = Kvp::flatten(&input);
            if let Value::Object(map) = &input {
                assert_eq!(Kvp::flatten_map(map), got, "flatten_map {input}");
            }
            let want: BTreeMap<String, String> = want
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got.into_inner(), want, "input {input}");
        }
    }

    #[test]
    fn error_response_shape() {
        let k = Kvp::error("timeout", "Mindful did not answer within 3000 ms");
        assert_eq!(k.status(), Some("error"));
        assert_eq!(k.get("error"), Some("timeout"));
        assert!(k.get("error_message").is_some());
        let json = serde_json::to_value(&k).unwrap();
        assert!(json.as_object().unwrap().values().all(Value::is_string));
    }
}
