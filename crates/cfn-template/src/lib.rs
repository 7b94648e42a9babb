//! The one reader of CloudFormation templates in the dev tools: `flow-runner` (the shipped
//! flows, a user's templates, the bundle checks) and the bundle's test kit (the environment
//! `infra/base.yaml` gives each function) read templates here and nowhere else.
//!
//! A template is YAML (JSON is YAML too) with CloudFormation's short-form tags; [`parse`] keeps
//! each tag as its long form, as CloudFormation itself reads it (`!Sub x` → `{"Fn::Sub": x}`,
//! `!Ref x` → `{"Ref": x}`, `!GetAtt a.b` → `{"Fn::GetAtt": ["a", "b"]}`: "Intrinsic function
//! reference", <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html>).
//! Sections keep the document's order (the flows of a template are listed as written).

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("not YAML: {0}")]
    Yaml(String),
    #[error("the template is not a mapping of sections")]
    NotAMapping,
    #[error("section {0} is not a mapping")]
    Section(String),
}

/// A template's sections, each entry as `(logical name, long-form JSON value)` in document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Template {
    pub parameters: Vec<(String, Value)>,
    pub resources: Vec<(String, Value)>,
    pub outputs: Vec<(String, Value)>,
}

/// Reads a template (YAML or JSON).
pub fn parse(text: &str) -> Result<Template, TemplateError> {
    // A byte order mark (Windows editors write one) is not part of the document.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut doc: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    // `<<: *anchor` merge keys, as CloudFormation's YAML reader applies them.
    doc.apply_merge()
        .map_err(|e| TemplateError::Yaml(e.to_string()))?;
    let yaml_serde::Value::Mapping(root) = doc else {
        return Err(TemplateError::NotAMapping);
    };
    let section = |name: &str| -> Result<Vec<(String, Value)>, TemplateError> {
        match root.get(name) {
            None | Some(yaml_serde::Value::Null) => Ok(Vec::new()),
            Some(yaml_serde::Value::Mapping(m)) => {
                Ok(m.iter().map(|(k, v)| (key_text(k), to_json(v))).collect())
            }
            Some(_) => Err(TemplateError::Section(name.to_string())),
        }
    };
    Ok(Template {
        parameters: section("Parameters")?,
        resources: section("Resources")?,
        outputs: section("Outputs")?,
    })
}

/// One entry of `Parameters:`, the fields the tools use (the rest stays in the template).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parameter {
    pub typ: Option<String>,
    /// The `Default` as CloudFormation passes it: always a string (numbers and booleans too).
    pub default: Option<String>,
    pub min_value: Option<f64>,
}

impl Template {
    /// `Parameters:` by name.
    pub fn parameters(&self) -> BTreeMap<String, Parameter> {
        self.parameters
            .iter()
            .map(|(name, p)| {
                let parameter = Parameter {
                    typ: p.get("Type").and_then(scalar_text),
                    default: p.get("Default").and_then(scalar_text),
                    min_value: p
                        .get("MinValue")
                        .and_then(scalar_text)
                        .and_then(|s| s.parse().ok()),
                };
                (name.clone(), parameter)
            })
            .collect()
    }

    /// `{parameter: Default}` of the parameters that have one.
    pub fn parameter_defaults(&self) -> BTreeMap<String, String> {
        self.parameters()
            .into_iter()
            .filter_map(|(name, p)| Some((name, p.default?)))
            .collect()
    }

    /// The resources whose `Type` is one of `types`, in document order.
    pub fn resources_of_type<'a>(
        &'a self,
        types: &'a [&str],
    ) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| {
                r.get("Type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| types.contains(&t))
            })
            .map(|(name, r)| (name.as_str(), r))
    }

    /// The `Value` of output `name`.
    pub fn output_value(&self, name: &str) -> Option<&Value> {
        self.outputs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, o)| o.get("Value"))
    }
}

/// The text of `Fn::Sub` (its string form, or the string of its `[string, variables]` form).
pub fn sub_text(v: &Value) -> Option<&str> {
    match v.get("Fn::Sub")? {
        Value::String(s) => Some(s),
        Value::Array(a) => a.first()?.as_str(),
        _ => None,
    }
}

/// CloudFormation's `Fn::Sub` over text that is JSON: each `${Name}` becomes `resolve(Name)`,
/// escaped as the inside of a JSON string (the placeholders of our templates stand inside JSON
/// strings); `${!Literal}` stays `${Literal}`
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-sub.html>).
pub fn substitute_in_json(
    text: &str,
    mut resolve: impl FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err("unclosed ${".into());
        };
        let key = &after[..end];
        if let Some(literal) = key.strip_prefix('!') {
            out.push_str("${");
            out.push_str(literal);
            out.push('}');
        } else {
            let value = resolve(key)?;
            let quoted = Value::String(value).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A scalar as CloudFormation passes parameter values: text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn key_text(k: &yaml_serde::Value) -> String {
    match to_json(k) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn to_json(v: &yaml_serde::Value) -> Value {
    use yaml_serde::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(&t.value);
            match (name, value) {
                ("Ref", value) => single("Ref", value),
                ("GetAtt", Value::String(s)) => {
                    let parts: Vec<Value> = s
                        .splitn(2, '.')
                        .map(|p| Value::String(p.to_string()))
                        .collect();
                    single("Fn::GetAtt", Value::Array(parts))
                }
                (name, value) => single(&format!("Fn::{name}"), value),
            }
        }
    }
}

fn single(key: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), value);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_form_tags_become_their_long_form() {
        let t = parse(
            "Resources:\n  B:\n    Type: X\n    Properties:\n      A: !Ref P\n      G: !GetAtt R.Arn\n      S: !Sub |\n        {\"a\": \"${P}\"}\n      J: !Join [\",\", [a, b]]\n      L: !Sub [\"${x}\", {x: !Ref P}]\n",
        )
        .unwrap();
        let props = &t.resources[0].1["Properties"];
        assert_eq!(props["A"], json!({"Ref": "P"}));
        assert_eq!(props["G"], json!({"Fn::GetAtt": ["R", "Arn"]}));
        assert_eq!(props["S"], json!({"Fn::Sub": "{\"a\": \"${P}\"}\n"}));
        assert_eq!(props["J"], json!({"Fn::Join": [",", ["a", "b"]]}));
        assert_eq!(sub_text(&props["L"]), Some("${x}"));
        assert_eq!(sub_text(&props["S"]), Some("{\"a\": \"${P}\"}\n"));
    }

    #[test]
    fn parameters_defaults_are_text_and_sections_keep_document_order() {
        let t = parse(
            "Parameters:\n  Zed:\n    Type: Number\n    Default: 5\n    MinValue: 1\n  Alpha:\n    Type: String\n    Default: ''\n  NoDefault:\n    Type: String\nResources:\n  Zeta: {Type: A}\n  Beta: {Type: B}\n  Gamma: {Type: A}\nOutputs:\n  O:\n    Value: !Sub >-\n      {\"K\":\n      \"${Zed}\"}\n",
        )
        .unwrap();
        let p = t.parameters();
        assert_eq!(p["Zed"].default.as_deref(), Some("5"));
        assert_eq!(p["Zed"].min_value, Some(1.0));
        assert_eq!(p["Alpha"].default.as_deref(), Some(""));
        assert_eq!(p["NoDefault"].default, None);
        assert_eq!(t.parameter_defaults().len(), 2);
        let of_a: Vec<&str> = t.resources_of_type(&["A"]).map(|(n, _)| n).collect();
        assert_eq!(of_a, ["Zeta", "Gamma"]);
        // A folded scalar joins its lines with spaces.
        assert_eq!(
            t.output_value("O").and_then(sub_text),
            Some("{\"K\": \"${Zed}\"}")
        );
    }

    #[test]
    fn anchors_merge_keys_and_flow_style_are_read() {
        let t = parse(
            "Resources:\n  A: &base\n    Type: T\n    Properties: {X: 1, Y: [a, b]}\n  B:\n    <<: *base\n    Type: U\n",
        )
        .unwrap();
        assert_eq!(
            t.resources[1].1["Properties"],
            json!({"X": 1, "Y": ["a", "b"]})
        );
        assert_eq!(t.resources[1].1["Type"], "U");
    }

    #[test]
    fn substitution_escapes_values_and_keeps_literals() {
        let got = substitute_in_json("{\"a\": \"${P}\", \"b\": \"${!Keep}\"}", |k| {
            if k == "P" {
                Ok("say \"hi\"".into())
            } else {
                Err(format!("no {k}"))
            }
        });
        assert_eq!(
            got.unwrap(),
            "{\"a\": \"say \\\"hi\\\"\", \"b\": \"${Keep}\"}"
        );
        assert_eq!(
            substitute_in_json("${Q}", |k| Err(format!("no {k}"))).unwrap_err(),
            "no Q"
        );
        assert!(substitute_in_json("${open", |_| Ok(String::new())).is_err());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(parse("a: [1,"), Err(TemplateError::Yaml(_))));
        assert!(matches!(
            parse("- 1\n- 2\n"),
            Err(TemplateError::NotAMapping)
        ));
        assert!(matches!(
            parse("Resources: 3\n"),
            Err(TemplateError::Section(_))
        ));
        assert_eq!(parse("").ok(), None);
    }

    #[test]
    fn the_shipped_templates_read() {
        let infra = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/");
        for file in [
            "template.yaml",
            "base.yaml",
            "operations.yaml",
            "deploy-role.yaml",
        ] {
            let text = std::fs::read_to_string(format!("{infra}{file}")).unwrap();
            let t = parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!t.resources.is_empty(), "{file}");
        }
        let text = std::fs::read_to_string(format!("{infra}template.yaml")).unwrap();
        let t = parse(&text).unwrap();
        assert_eq!(
            t.resources_of_type(&["AWS::Connect::ContactFlow"]).count(),
            5
        );
    }
}
