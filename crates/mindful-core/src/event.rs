//! A tolerant model of the Amazon Connect `ContactFlowEvent`.
//!
//! We own this type instead of using `aws_lambda_events::connect::ConnectEvent` (1.2.1) because that
//! type rejects events Connect really sends: `CustomerEndpoint`/`SystemEndpoint` are required and
//! non-null there (a chat, task or API contact has `null`), and `Attributes`/`Parameters` must be
//! string maps (a number or `null` fails). A deserialisation failure never reaches the handler: the
//! runtime answers with an error, Connect retries up to 3 times and then takes the Error branch, so
//! the flow loses the call's context. Here every nested object is optional, scalar values of any JSON
//! type become strings, and unknown fields are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The whole event as Connect sends it to an "Invoke AWS Lambda function" block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContactFlowEvent {
    /// Always `"ContactFlowEvent"` in practice; not checked (and, like every field, a wrong
    /// type degrades to `None` instead of failing the whole event).
    #[serde(deserialize_with = "lenient_opt_string")]
    pub name: Option<String>,
    pub details: Details,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Details {
    #[serde(deserialize_with = "lenient_string_map")]
    pub parameters: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub contact_data: ContactData,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContactData {
    #[serde(deserialize_with = "lenient_string_map")]
    pub attributes: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub channel: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub contact_id: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub initial_contact_id: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub previous_contact_id: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub initiation_method: Option<String>,
    #[serde(rename = "InstanceARN", deserialize_with = "lenient_opt_string")]
    pub instance_arn: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub language_code: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub aws_region: Option<String>,
    #[serde(deserialize_with = "lenient_object")]
    pub customer_endpoint: Option<Endpoint>,
    #[serde(deserialize_with = "lenient_object")]
    pub system_endpoint: Option<Endpoint>,
    #[serde(deserialize_with = "lenient_object")]
    pub queue: Option<Queue>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Endpoint {
    #[serde(deserialize_with = "lenient_opt_string")]
    pub address: Option<String>,
    #[serde(rename = "Type", deserialize_with = "lenient_opt_string")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Queue {
    #[serde(rename = "ARN", deserialize_with = "lenient_opt_string")]
    pub arn: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    pub name: Option<String>,
}

impl ContactFlowEvent {
    /// Parses an event from any JSON value. Never fails: a value that is not an object (or has the
    /// wrong shape at the top) yields an empty event, so the handler can still answer the flow with
    /// a clear `status=error` instead of a Lambda error.
    pub fn from_value(value: Value) -> Self {
        serde_json::from_value(value).unwrap_or_default()
    }

    /// A flow input parameter, trimmed; `None` when absent or blank.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.details
            .parameters
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn parameters(&self) -> &BTreeMap<String, String> {
        &self.details.parameters
    }

    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.details.contact_data.attributes
    }

    /// The caller's address (E.164 for voice), when Connect gave a non-blank one.
    pub fn customer_address(&self) -> Option<&str> {
        self.details
            .contact_data
            .customer_endpoint
            .as_ref()
            .and_then(|e| e.address.as_deref())
            .map(str::trim)
            .filter(|a| !a.is_empty())
    }

    /// The contact id; blank (`""`, `" "`) means absent (a blank id once made two callers'
    /// Agent Answers duplicates of each other).
    pub fn contact_id(&self) -> Option<&str> {
        self.details
            .contact_data
            .contact_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }

    pub fn language_code(&self) -> Option<&str> {
        self.details
            .contact_data
            .language_code
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
    }
}

/// Renders a scalar JSON value as the string Connect would show; objects/arrays as compact JSON.
pub fn value_to_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn null_as_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + serde::de::DeserializeOwned,
{
    // A wrong shape degrades to the default instead of failing the whole event.
    let value = Value::deserialize(de)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

fn lenient_string_map<'de, D>(de: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Value::deserialize(de)?;
    Ok(match value {
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| {
                let s = value_to_string(&v);
                (k, s)
            })
            .collect(),
        _ => BTreeMap::new(),
    })
}

fn lenient_opt_string<'de, D>(de: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Value::deserialize(de)?;
    Ok(match value {
        Value::Null => None,
        Value::Object(_) | Value::Array(_) => None,
        other => Some(value_to_string(&other)),
    })
}

/// An optional nested object (`CustomerEndpoint`, `Queue`…): `null`, absent, or any value that
/// is not an object of the expected shape → `None`.
fn lenient_object<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(de)?;
    Ok(match value {
        Value::Object(_) => serde_json::from_value(value).ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> ContactFlowEvent {
        ContactFlowEvent::from_value(v)
    }

    #[test]
    fn full_voice_event() {
        let e = parse(
            json!({"Name":"ContactFlowEvent","Details":{"Parameters":{"OCW":"125"},
          "ContactData":{"Attributes":{"a":"b"},"Channel":"VOICE","ContactId":"c-1","InitialContactId":"c-0",
          "InitiationMethod":"INBOUND","InstanceARN":"arn:aws:connect:us-east-1:111122223333:instance/x",
          "LanguageCode":"es-MX","AwsRegion":"us-east-1",
          "CustomerEndpoint":{"Address":"+13209071234","Type":"TELEPHONE_NUMBER"},
          "SystemEndpoint":{"Address":"+18005550100","Type":"TELEPHONE_NUMBER"},
          "Queue":{"ARN":"arn:q","Name":"Billing","OutboundCallerId":{"Address":"+18005550101","Type":"TELEPHONE_NUMBER"}},
          "SegmentAttributes":{"connect:Subtype":{"ValueString":"connect:Telephony"}},"Tags":{},"MediaStreams":null}}}),
        );
        assert_eq!(e.param("OCW"), Some("125"));
        assert_eq!(e.customer_address(), Some("+13209071234"));
        assert_eq!(e.contact_id(), Some("c-1"));
        assert_eq!(e.language_code(), Some("es-MX"));
        assert_eq!(
            e.details
                .contact_data
                .queue
                .as_ref()
                .and_then(|q| q.name.as_deref()),
            Some("Billing")
        );
        assert_eq!(e.details.contact_data.channel.as_deref(), Some("VOICE"));
        assert_eq!(e.attributes().get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn powertools_minimal_event_with_null_endpoint_and_empty_parameters() {
        let e = parse(json!({"Name":"ContactFlowEvent","Details":{"ContactData":{
            "Attributes":{},"Channel":"VOICE","ContactId":"x","CustomerEndpoint":null,
            "InitialContactId":"x","InitiationMethod":"API","InstanceARN":"arn","PreviousContactId":"x",
            "Queue":null,"SystemEndpoint":null},"Parameters":{}}}));
        assert_eq!(e.customer_address(), None);
        assert!(e.parameters().is_empty());
        assert!(e.details.contact_data.queue.is_none());
    }

    #[test]
    fn chat_event_without_endpoints_or_parameters() {
        let e = parse(json!({"Name":"ContactFlowEvent","Details":{"ContactData":{
            "Channel":"CHAT","ContactId":"chat-1","InitiationMethod":"API"}}}));
        assert_eq!(e.customer_address(), None);
        assert_eq!(e.param("method"), None);
        assert_eq!(e.details.contact_data.channel.as_deref(), Some("CHAT"));
    }

    #[test]
    fn non_string_attributes_and_parameters_become_strings() {
        let e = parse(
            json!({"Details":{"Parameters":{"OCW":125,"decimal":24.613,"flag":true,"none":null,
            "nested":{"a":1},"list":[1,2]},
            "ContactData":{"Attributes":{"count":5,"vip":false,"empty":null},
            "CustomerEndpoint":{"Address":13209071234i64,"Type":"TELEPHONE_NUMBER"}}}}),
        );
        assert_eq!(e.param("OCW"), Some("125"));
        assert_eq!(e.param("decimal"), Some("24.613"));
        assert_eq!(e.param("flag"), Some("true"));
        assert_eq!(e.param("none"), None);
        assert_eq!(e.parameters().get("none").map(String::as_str), Some(""));
        assert_eq!(e.param("nested"), Some(r#"{"a":1}"#));
        assert_eq!(e.param("list"), Some("[1,2]"));
        assert_eq!(e.attributes().get("count").map(String::as_str), Some("5"));
        assert_eq!(e.attributes().get("vip").map(String::as_str), Some("false"));
        assert_eq!(e.customer_address(), Some("13209071234"));
    }

    /// Regression (found by `cargo fuzz`, target `connect_event`): a non-string `Name` failed
    /// the whole parse, so the flow's parameters were lost.
    #[test]
    fn a_non_string_name_keeps_the_parameters() {
        for name in [
            json!(123),
            json!({"x": 1}),
            json!([1]),
            json!(true),
            json!(null),
        ] {
            let e = parse(
                json!({"Name": name, "Details": {"Parameters": {"OCW": "125"},
                "ContactData": {"CustomerEndpoint": {"Address": "+13209071234"}}}}),
            );
            assert_eq!(e.param("OCW"), Some("125"), "{name}");
            assert_eq!(e.customer_address(), Some("+13209071234"));
        }
    }

    #[test]
    fn wrong_shapes_degrade_instead_of_failing() {
        for v in [
            json!(null),
            json!("string"),
            json!([1, 2]),
            json!({"Details": null}),
            json!({"Details": {"Parameters": "x", "ContactData": 5}}),
            json!({"Details": {"ContactData": {"CustomerEndpoint": "+1320", "Queue": [1], "Attributes": null}}}),
            json!({"Details": {"ContactData": {"CustomerEndpoint": {"Address": {"x": 1}}}}}),
        ] {
            let e = parse(v);
            assert_eq!(e.customer_address(), None);
            assert!(e.parameters().is_empty());
        }
    }

    #[test]
    fn blank_parameters_and_addresses_are_absent() {
        let e = parse(json!({"Details":{"Parameters":{"OCW":"  "},
            "ContactData":{"CustomerEndpoint":{"Address":"","Type":"TELEPHONE_NUMBER"}}}}));
        assert_eq!(e.param("OCW"), None);
        assert_eq!(e.customer_address(), None);
    }
}
