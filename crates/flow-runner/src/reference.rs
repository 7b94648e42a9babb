//! The Flow language reference as data: `infra/flow-reference.json`, the one home of what the
//! static checker (`infra/check_flows.py`) and this runner know about action types (parameters,
//! error types and when they are allowed, flow types, the page of each row) and about the
//! functions' contract. Nothing of it is repeated here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The data file, compiled in.
pub const REFERENCE_JSON: &str = include_str!("../../../infra/flow-reference.json");

/// One action type of the reference.
#[derive(Clone, Debug)]
pub struct ActionRow {
    pub page: String,
    pub flow_types: BTreeSet<String>,
    /// Parameter name → (required, allowed static values).
    pub params: BTreeMap<String, (bool, Option<Vec<String>>)>,
    /// Error type → conditions on the parameters (empty: always allowed).
    pub errors: BTreeMap<String, Vec<Value>>,
    pub conditions: bool,
    /// "required", "optional" or "none" (terminal).
    pub next_action: String,
}

impl ActionRow {
    /// The error types the reference allows for these parameter values.
    pub fn allowed_errors(&self, params: &Map<String, Value>) -> BTreeSet<String> {
        self.errors
            .iter()
            .filter(|(_, when)| when.iter().all(|c| clause_holds(c, params)))
            .map(|(e, _)| e.clone())
            .collect()
    }

    pub fn is_terminal(&self) -> bool {
        self.next_action == "none"
    }
}

fn clause_holds(clause: &Value, params: &Map<String, Value>) -> bool {
    let name = clause.get("param").and_then(Value::as_str).unwrap_or("");
    let value = params.get(name).or_else(|| clause.get("default"));
    if let Some(want) = clause.get("equals").and_then(Value::as_str) {
        let got = match value {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => return false,
        };
        if got != want {
            return false;
        }
    }
    if let Some(key) = clause.get("has_key").and_then(Value::as_str) {
        if !value
            .and_then(Value::as_object)
            .is_some_and(|o| o.contains_key(key))
        {
            return false;
        }
    }
    true
}

/// One of this bundle's functions as the flows see it.
#[derive(Clone, Debug)]
pub struct FunctionContract {
    pub name: String,
    /// The stack parameter that holds its ARN in `infra/template.yaml`.
    pub arn_param: String,
}

/// The whole reference.
#[derive(Clone, Debug)]
pub struct Reference {
    pub version: String,
    pub actions: BTreeMap<String, ActionRow>,
    /// `$.` namespace → flow types where it holds data.
    pub namespaces: BTreeMap<String, BTreeSet<String>>,
    pub functions: Vec<FunctionContract>,
    pub all_flow_types: BTreeSet<String>,
    pub pages: BTreeMap<String, String>,
}

impl Reference {
    /// The compiled-in reference (parsed once).
    pub fn get() -> &'static Reference {
        static REF: OnceLock<Reference> = OnceLock::new();
        REF.get_or_init(|| {
            Reference::parse(REFERENCE_JSON).expect("infra/flow-reference.json is valid")
        })
    }

    pub fn parse(text: &str) -> Result<Reference, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let groups: BTreeMap<String, BTreeSet<String>> = v["flow_type_groups"]
            .as_object()
            .ok_or("flow_type_groups")?
            .iter()
            .map(|(g, ts)| (g.clone(), strings(ts).into_iter().collect()))
            .collect();
        let all: BTreeSet<String> = groups.values().flatten().cloned().collect();
        let types = |spec: &Value| -> BTreeSet<String> {
            if let Some(except) = spec.get("ALL_EXCEPT") {
                let ex: BTreeSet<String> = strings(except).into_iter().collect();
                return all.difference(&ex).cloned().collect();
            }
            let mut out = BTreeSet::new();
            for name in strings(spec) {
                match name.as_str() {
                    "ALL" => out.extend(all.iter().cloned()),
                    g if groups.contains_key(g) => out.extend(groups[g].iter().cloned()),
                    t => {
                        out.insert(t.to_string());
                    }
                }
            }
            out
        };
        let mut actions = BTreeMap::new();
        for (typ, spec) in v["actions"].as_object().ok_or("actions")? {
            let params = spec["params"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(n, p)| {
                            let required = p["required"].as_bool().unwrap_or(false);
                            let allowed = p.get("allowed").map(strings);
                            (n.clone(), (required, allowed))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let errors = spec["errors"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(e, d)| {
                            (
                                e.clone(),
                                d.get("when")
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            actions.insert(
                typ.clone(),
                ActionRow {
                    page: spec["page"].as_str().unwrap_or_default().to_string(),
                    flow_types: types(&spec["flow_types"]),
                    params,
                    errors,
                    conditions: spec["conditions"].as_bool().unwrap_or(false),
                    next_action: spec["next_action"]
                        .as_str()
                        .unwrap_or("required")
                        .to_string(),
                },
            );
        }
        let namespaces = v["namespaces"]
            .as_object()
            .ok_or("namespaces")?
            .iter()
            .map(|(ns, spec)| (ns.clone(), types(spec)))
            .collect();
        let functions = v["functions_contract"]["functions"]
            .as_object()
            .ok_or("functions_contract")?
            .iter()
            .map(|(name, spec)| FunctionContract {
                name: name.clone(),
                arn_param: spec["arn_param"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        let pages = v["pages"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, p)| (k.clone(), p.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Reference {
            version: v["version"].as_str().unwrap_or_default().to_string(),
            actions,
            namespaces,
            functions,
            all_flow_types: all,
            pages,
        })
    }

    pub fn row(&self, typ: &str) -> Option<&ActionRow> {
        self.actions.get(typ)
    }

    /// The page of a named section (`actions`, `loop_prompts`, `attributes`, `lambda_block`).
    pub fn page(&self, key: &str) -> &str {
        self.pages.get(key).map(String::as_str).unwrap_or("")
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
