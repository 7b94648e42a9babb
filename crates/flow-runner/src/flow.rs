//! Flow-language JSON into typed actions. Three inputs: a file exported from the Connect console
//! (or `render.py --export-flows`), a `describe-contact-flow` answer (`{"ContactFlow": {"Content":
//! "<json>", "Type": …}}`), and the flows inside `infra/template.yaml` with the stack parameters
//! resolved. Loading never panics: anything malformed is a [`LoadError`] naming what is wrong.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One block.
#[derive(Clone, Debug)]
pub struct Action {
    pub id: String,
    pub typ: String,
    pub params: Map<String, Value>,
    pub next: Option<String>,
    pub conditions: Vec<Condition>,
    /// (error type, target)
    pub errors: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct Condition {
    pub operator: String,
    pub operands: Vec<String>,
    pub next: String,
}

impl Action {
    pub fn error_target(&self, error: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(e, _)| e == error)
            .map(|(_, t)| t.as_str())
    }

    pub fn param_str(&self, name: &str) -> Option<String> {
        match self.params.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Every transition as (branch label, target): `next`, `condition:<operands>`, error types.
    pub fn transitions(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(n) = &self.next {
            out.push(("next".to_string(), n.clone()));
        }
        for c in &self.conditions {
            out.push((condition_label(c), c.next.clone()));
        }
        for (e, t) in &self.errors {
            out.push((e.clone(), t.clone()));
        }
        out
    }
}

pub fn condition_label(c: &Condition) -> String {
    format!("condition:{} {}", c.operator, c.operands.join(","))
}

/// One flow.
#[derive(Clone, Debug)]
pub struct Flow {
    /// A name to show (the template resource, the console name or the file name).
    pub name: String,
    /// `CONTACT_FLOW`, `CUSTOMER_QUEUE`, `CUSTOMER_WHISPER`, … when known.
    pub flow_type: Option<String>,
    /// The ARN other flows use to name it (`TransferToFlow`, event hooks).
    pub arn: String,
    pub version: Option<String>,
    pub start: String,
    pub actions: Vec<Action>,
    /// Characters of the flow's content as Connect stores it (compact JSON), for Connect's
    /// content size limit.
    pub content_chars: usize,
}

impl Flow {
    pub fn action(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

fn err<T>(msg: impl Into<String>) -> Result<T, LoadError> {
    Err(LoadError(msg.into()))
}

/// A flow-language document (already parsed) into a [`Flow`].
pub fn flow_from_value(
    v: &Value,
    name: &str,
    flow_type: Option<&str>,
    arn: &str,
) -> Result<Flow, LoadError> {
    let obj = match v.as_object() {
        Some(o) => o,
        None => return err(format!("{name}: the flow is not a JSON object")),
    };
    let start = match obj.get("StartAction").and_then(Value::as_str) {
        Some(s) => s.to_string(),
        None => return err(format!("{name}: no StartAction")),
    };
    let raw = match obj.get("Actions").and_then(Value::as_array) {
        Some(a) => a,
        None => return err(format!("{name}: no Actions list")),
    };
    let mut actions = Vec::new();
    for (i, a) in raw.iter().enumerate() {
        let Some(a) = a.as_object() else {
            return err(format!("{name}: action #{i} is not an object"));
        };
        let Some(id) = a.get("Identifier").and_then(Value::as_str) else {
            return err(format!("{name}: action #{i} has no Identifier"));
        };
        let typ = a
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let params = match a.get("Parameters") {
            Some(Value::Object(p)) => p.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => return err(format!("{name}: {id}: Parameters is not an object")),
        };
        let t = match a.get("Transitions") {
            Some(Value::Object(t)) => t.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => return err(format!("{name}: {id}: Transitions is not an object")),
        };
        let next = t
            .get("NextAction")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let mut conditions = Vec::new();
        for c in t
            .get("Conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cond = c.get("Condition").cloned().unwrap_or(Value::Null);
            let operands = cond
                .get("Operands")
                .and_then(Value::as_array)
                .map(|ops| {
                    ops.iter()
                        .map(|o| match o {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            conditions.push(Condition {
                operator: cond
                    .get("Operator")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                operands,
                next: c
                    .get("NextAction")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            });
        }
        let errors = t
            .get("Errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e.get("ErrorType")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    e.get("NextAction")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect();
        actions.push(Action {
            id: id.to_string(),
            typ,
            params,
            next,
            conditions,
            errors,
        });
    }
    Ok(Flow {
        name: name.to_string(),
        flow_type: flow_type.map(str::to_string),
        arn: arn.to_string(),
        version: obj
            .get("Version")
            .and_then(Value::as_str)
            .map(str::to_string),
        start,
        actions,
        content_chars: content_chars(v),
    })
}

/// Characters of a document as compact JSON (what Connect stores), counted by walking it: no
/// copy, and cheap on a very large flow.
fn content_chars(v: &Value) -> usize {
    fn string(s: &str) -> usize {
        let plain = !s.as_bytes().contains(&b'"')
            && !s.as_bytes().contains(&b'\\')
            && !s.bytes().any(|b| b < 0x20);
        if plain {
            s.chars().count() + 2
        } else {
            serde_json::to_string(s).map_or(0, |q| q.chars().count())
        }
    }
    match v {
        Value::Null => 4,
        Value::Bool(b) => 4 + usize::from(!*b),
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => string(s),
        Value::Array(a) => {
            2 + a.len().saturating_sub(1) + a.iter().map(content_chars).sum::<usize>()
        }
        Value::Object(o) => {
            2 + o.len().saturating_sub(1)
                + o.iter()
                    .map(|(k, x)| string(k) + 1 + content_chars(x))
                    .sum::<usize>()
        }
    }
}

/// Text of a file: an exported flow, or a `describe-contact-flow` answer (its `Content` is the
/// flow as a JSON string), or `{"ContactFlows": [...]}`/a list of such answers.
pub fn flows_from_json(text: &str, name: &str) -> Result<Vec<Flow>, LoadError> {
    // A UTF-8 byte order mark (Windows editors write one) is not part of the JSON (RFC 8259 §8.1).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        // A CloudFormation template in YAML.
        Err(_) if text.contains("AWS::Connect::ContactFlow") => {
            return flows_from_cfn_yaml(text, name)
        }
        Err(e) => return err(format!("{name}: not JSON: {e}")),
    };
    let mut out = Vec::new();
    collect(&v, name, &mut out)?;
    let summaries = ["ContactFlowSummaryList", "ContactFlowModulesSummaryList"];
    if out.is_empty() && summaries.iter().any(|k| v.get(k).is_some()) {
        return err(format!(
            "{name}: a list-contact-flows(-modules) answer names flows but holds no Content: describe each one (aws connect describe-contact-flow --contact-flow-id ID) and check those answers"
        ));
    }
    if out.is_empty() {
        return err(format!(
            "{name}: no flow found (expected StartAction/Actions, or a ContactFlow with Content)"
        ));
    }
    Ok(out)
}

/// The flow type a console export names in `Metadata.type` (the designer's spelling), as the
/// API spells it (<https://docs.aws.amazon.com/connect/latest/APIReference/API_ContactFlow.html>).
pub fn type_from_metadata(v: &Value) -> Option<&'static str> {
    let t = v.get("Metadata")?.get("type")?.as_str()?;
    Some(match t {
        "contactFlow" => "CONTACT_FLOW",
        "customerQueue" => "CUSTOMER_QUEUE",
        "customerHold" => "CUSTOMER_HOLD",
        "customerWhisper" => "CUSTOMER_WHISPER",
        "agentHold" => "AGENT_HOLD",
        "agentWhisper" => "AGENT_WHISPER",
        "outboundWhisper" => "OUTBOUND_WHISPER",
        "agentTransfer" => "AGENT_TRANSFER",
        "queueTransfer" => "QUEUE_TRANSFER",
        "campaign" => "CAMPAIGN",
        _ => return None,
    })
}

/// `AWS::Connect::ContactFlow` / `ContactFlowModule` resources of a CloudFormation template:
/// their `Content` as a string, `{"Fn::Sub": string}`, `{"Fn::Sub": [string, {...}]}` or an
/// object. `${...}` placeholders stay as written (inside JSON strings they are text).
fn cfn_resources(
    resources: &Map<String, Value>,
    name: &str,
    out: &mut Vec<Flow>,
) -> Result<(), LoadError> {
    for (id, res) in resources {
        let typ = res.get("Type").and_then(Value::as_str).unwrap_or("");
        if typ != "AWS::Connect::ContactFlow" && typ != "AWS::Connect::ContactFlowModule" {
            continue;
        }
        let props = res.get("Properties");
        let content = props.and_then(|p| p.get("Content"));
        let sub = content.and_then(|c| c.get("Fn::Sub").or_else(|| c.get("!Sub")));
        let text = match (content, sub) {
            (_, Some(Value::String(s))) => s.clone(),
            (_, Some(Value::Array(a))) => match a.first() {
                Some(Value::String(s)) => s.clone(),
                _ => return err(format!("{name}: {id}: Fn::Sub without a string")),
            },
            (Some(Value::String(s)), _) => s.clone(),
            (Some(obj @ Value::Object(_)), None) => obj.to_string(),
            _ => {
                return err(format!(
                    "{name}: {id}: Content is not a string, Fn::Sub or an object"
                ))
            }
        };
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| LoadError(format!("{name}: {id}: Content is not flow JSON: {e}")))?;
        let flow_type = props
            .and_then(|p| p.get("Type"))
            .and_then(Value::as_str)
            .filter(|_| typ == "AWS::Connect::ContactFlow");
        out.push(flow_from_value(&v, id, flow_type, &template_flow_arn(id))?);
    }
    Ok(())
}

/// A CloudFormation template in YAML (short-form tags, anchors, any scalar style: read by
/// [`cfn_template`]): each `AWS::Connect::ContactFlow(Module)` resource, as [`cfn_resources`]
/// reads a JSON template's.
pub fn flows_from_cfn_yaml(text: &str, name: &str) -> Result<Vec<Flow>, LoadError> {
    let template = cfn_template::parse(text).map_err(|e| LoadError(format!("{name}: {e}")))?;
    let resources: Map<String, Value> = template.resources.into_iter().collect();
    let mut out = Vec::new();
    cfn_resources(&resources, name, &mut out)?;
    if out.is_empty() {
        return err(format!(
            "{name}: no AWS::Connect::ContactFlow resource with a Content this reader understands"
        ));
    }
    Ok(out)
}

fn collect(v: &Value, name: &str, out: &mut Vec<Flow>) -> Result<(), LoadError> {
    if let Some(resources) = v.get("Resources").and_then(Value::as_object) {
        return cfn_resources(resources, name, out);
    }
    if v.get("Actions").is_some() && v.get("StartAction").is_some() {
        let n = out.len();
        let arn = format!("arn:local:flow/{name}#{n}");
        out.push(flow_from_value(v, name, type_from_metadata(v), &arn)?);
        return Ok(());
    }
    // `describe-contact-flow(-module)` answers, and their inner objects as most export scripts
    // save them (`{Arn, Id, Name, Type, Content}`; a module has no Type).
    let inner = v
        .get("ContactFlow")
        .or_else(|| v.get("ContactFlowModule"))
        .or_else(|| v.get("Content").is_some().then_some(v));
    if let Some(cf) = inner {
        let content = match cf.get("Content") {
            Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                .map_err(|e| LoadError(format!("{name}: ContactFlow.Content is not JSON: {e}")))?,
            Some(obj @ Value::Object(_)) => obj.clone(),
            _ => return err(format!("{name}: the flow object has no Content")),
        };
        let fname = cf.get("Name").and_then(Value::as_str).unwrap_or(name);
        let arn = cf
            .get("Arn")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:local:flow/{fname}"));
        let flow_type = cf
            .get("Type")
            .and_then(Value::as_str)
            .or_else(|| type_from_metadata(&content));
        out.push(flow_from_value(&content, fname, flow_type, &arn)?);
        return Ok(());
    }
    if let Some(list) = v.get("ContactFlows").and_then(Value::as_array) {
        for f in list {
            collect(f, name, out)?;
        }
        return Ok(());
    }
    if let Some(list) = v.as_array() {
        for f in list {
            collect(f, name, out)?;
        }
    }
    Ok(())
}

/// The stack parameters and flows of `infra/template.yaml`: every `AWS::Connect::ContactFlow`
/// resource with its `Type` and its `Content: !Sub |` text, placeholders resolved from `params`
/// (then the parameters' `Default`s); `${Flow.ContactFlowArn}` becomes the ARN the runner gives
/// that flow, [`template_flow_arn`].
pub fn flows_from_template(
    text: &str,
    params: &BTreeMap<String, String>,
) -> Result<Vec<Flow>, LoadError> {
    let template = cfn_template::parse(text).map_err(|e| LoadError(format!("template: {e}")))?;
    let mut values = template.parameter_defaults();
    values.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
    let flows: Vec<(&str, &Value)> = template
        .resources_of_type(&["AWS::Connect::ContactFlow"])
        .collect();
    if flows.is_empty() {
        return err("template: no AWS::Connect::ContactFlow resource with `Content: !Sub |`");
    }
    let names: Vec<&str> = flows.iter().map(|(name, _)| *name).collect();
    let resolve = |key: &str| -> Result<String, String> {
        if let Some(res) = key.strip_suffix(".ContactFlowArn") {
            return match names.contains(&res) {
                true => Ok(template_flow_arn(res)),
                false => Err(format!("${{{key}}} names no flow of the template")),
            };
        }
        values
            .get(key)
            .cloned()
            .ok_or_else(|| format!("stack parameter {key} has no value and no Default"))
    };
    let mut out = Vec::new();
    for (res, resource) in flows {
        let props = &resource["Properties"];
        let content = props
            .get("Content")
            .and_then(cfn_template::sub_text)
            .ok_or_else(|| LoadError(format!("{res}: Content is not a `!Sub |` string")))?;
        let resolved = cfn_template::substitute_in_json(content, resolve)
            .map_err(|e| LoadError(format!("{res}: {e}")))?;
        let v: Value = serde_json::from_str(&resolved)
            .map_err(|e| LoadError(format!("{res}: Content is not JSON after !Sub: {e}")))?;
        out.push(flow_from_value(
            &v,
            res,
            props["Type"].as_str(),
            &template_flow_arn(res),
        )?);
    }
    Ok(out)
}

/// The ARN the runner gives a template flow resource.
pub fn template_flow_arn(resource: &str) -> String {
    format!("arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/contact-flow/{resource}")
}
