//! The Flow language reference as data: `infra/flow-reference.json`, the one home of what the
//! checker ([`crate::check`], [`crate::bundle`]) and the runner know about action types
//! (parameters, their value types and ranges, error types and when they are allowed, flow types,
//! the page of each row) and about the functions' contract. Nothing of it is repeated here.

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
    pub params: BTreeMap<String, ParamSpec>,
    /// Error type → conditions on the parameters (empty: always allowed).
    pub errors: BTreeMap<String, Vec<Value>>,
    /// Error types whose branch may be left out (the reference does not require it).
    pub optional_errors: BTreeSet<String>,
    /// The words saying when an error is allowed ("when StoreInput is False").
    pub error_words: BTreeMap<String, String>,
    pub conditions: bool,
    /// "required", "optional" or "none" (terminal).
    pub next_action: String,
    /// `$.` namespaces the action may read (`None`: any).
    pub namespaces: Option<BTreeSet<String>>,
    /// Parameters of which at most one may be given.
    pub one_of: Vec<String>,
    /// Exactly one of `one_of` must be given.
    pub one_of_required: bool,
}

/// One parameter of an action.
#[derive(Clone, Debug, Default)]
pub struct ParamSpec {
    pub required: bool,
    /// "static" (no `$.`), "jsonpath" (static or one JSONPath), "path" (one JSONPath), "dynamic".
    pub value: String,
    pub allowed: Option<Vec<String>>,
    /// "string" (the default), "object", "array" or "any" (the reference does not say).
    pub typ: String,
    /// A static value must be a whole number in this range.
    pub integer: Option<(Option<i64>, Option<i64>)>,
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
    /// Flow types by group name (`INBOUND`, `QUEUE`, `WHISPER`, …).
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// Flow-language type → block name, for blocks not allowed before a Loop prompts block.
    pub not_before_loop_prompts: BTreeMap<String, String>,
    pub event_hooks: BTreeSet<String>,
    pub compare_operators: BTreeSet<String>,
    pub identifier_forbidden: String,
    pub identifier_reserved: BTreeSet<String>,
    pub max_content_chars: usize,
    /// "A single Flow may have no more than 250 Actions defined" (the flow-language example).
    pub max_actions: usize,
    /// The functions' contract, as the data file gives it.
    pub contract: Value,
}

impl Reference {
    /// The compiled-in reference (parsed once).
    pub fn get() -> &'static Reference {
        static REF: OnceLock<Reference> = OnceLock::new();
        // The file is compiled in and every test parses it; a broken file can only come from a
        // build of this crate, never from a user's input.
        #[allow(clippy::expect_used)]
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
                            let integer = p
                                .get("integer")
                                .map(|r| (r["min"].as_i64(), r["max"].as_i64()));
                            (
                                n.clone(),
                                ParamSpec {
                                    required: p["required"].as_bool().unwrap_or(false),
                                    value: p["value"].as_str().unwrap_or("dynamic").to_string(),
                                    allowed: p.get("allowed").map(strings),
                                    typ: p["type"].as_str().unwrap_or("string").to_string(),
                                    integer,
                                },
                            )
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
            let errs = spec["errors"].as_object();
            let optional_errors = errs
                .into_iter()
                .flatten()
                .filter(|(_, d)| d["optional"].as_bool().unwrap_or(false))
                .map(|(e, _)| e.clone())
                .collect();
            let error_words = errs
                .into_iter()
                .flatten()
                .filter_map(|(e, d)| Some((e.clone(), d["words"].as_str()?.to_string())))
                .collect();
            actions.insert(
                typ.clone(),
                ActionRow {
                    page: spec["page"].as_str().unwrap_or_default().to_string(),
                    flow_types: types(&spec["flow_types"]),
                    params,
                    errors,
                    optional_errors,
                    error_words,
                    namespaces: spec
                        .get("namespaces")
                        .map(|n| strings(n).into_iter().collect()),
                    one_of: spec.get("one_of").map(strings).unwrap_or_default(),
                    one_of_required: spec["one_of_required"].as_bool().unwrap_or(false),
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
        let set = |key: &str| -> BTreeSet<String> { strings(&v[key]).into_iter().collect() };
        Ok(Reference {
            version: v["version"].as_str().unwrap_or_default().to_string(),
            actions,
            namespaces,
            functions,
            all_flow_types: all.clone(),
            pages,
            groups: groups.clone(),
            not_before_loop_prompts: v["not_before_loop_prompts"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, b)| (k.clone(), b.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            event_hooks: set("event_hooks"),
            compare_operators: set("compare_operators"),
            identifier_forbidden: v["identifier_forbidden"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            identifier_reserved: set("identifier_reserved"),
            max_content_chars: v["max_content_chars"].as_u64().unwrap_or(256_000) as usize,
            max_actions: v["max_actions"].as_u64().unwrap_or(250) as usize,
            contract: v["functions_contract"].clone(),
        })
    }

    /// The flow types of a group name (`QUEUE`, `WHISPER`, …).
    pub fn group(&self, name: &str) -> BTreeSet<String> {
        self.groups.get(name).cloned().unwrap_or_default()
    }

    /// The table as Markdown, one row per action type (what `check_flows.py --reference` printed):
    /// `flow-runner reference`.
    pub fn markdown(&self) -> String {
        let types = |ts: &BTreeSet<String>| {
            if *ts == self.all_flow_types {
                "all".to_string()
            } else if ts.is_empty() {
                "modules only".to_string()
            } else {
                ts.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        let mut out = vec![
            "| Action | Parameters | Errors (when allowed) | Flow types | `$.` namespaces | Source |".to_string(),
            "|---|---|---|---|---|---|".to_string(),
        ];
        for (typ, row) in &self.actions {
            let mut params: Vec<String> = row
                .params
                .iter()
                .map(|(n, p)| {
                    let mut bits = vec![p.value.clone()];
                    if p.typ != "string" {
                        bits.push(p.typ.clone());
                    }
                    if p.required {
                        bits.push("required".into());
                    }
                    if let Some(a) = &p.allowed {
                        bits.push(a.join(" / "));
                    }
                    if let Some((lo, hi)) = p.integer {
                        bits.push(format!(
                            "whole number {}–{}",
                            lo.map_or(String::new(), |v| v.to_string()),
                            hi.map_or(String::new(), |v| v.to_string())
                        ));
                    }
                    format!("`{n}` ({})", bits.join(", "))
                })
                .collect();
            if !row.one_of.is_empty() {
                params.push(format!(
                    "{} one of {}",
                    if row.one_of_required {
                        "exactly"
                    } else {
                        "at most"
                    },
                    row.one_of.join(", ")
                ));
            }
            let errors: Vec<String> = row
                .errors
                .keys()
                .map(|e| {
                    let mut t = e.clone();
                    if let Some(w) = row.error_words.get(e) {
                        t.push(' ');
                        t.push_str(w);
                    }
                    if row.optional_errors.contains(e) {
                        t.push_str(" (branch optional)");
                    }
                    t
                })
                .collect();
            let ns = match &row.namespaces {
                None => "any".to_string(),
                Some(n) if n.is_empty() => "none (static)".to_string(),
                Some(n) => n.iter().cloned().collect::<Vec<_>>().join(", "),
            };
            out.push(format!(
                "| {typ} | {} | {} | {} | {ns} | {} |",
                if params.is_empty() {
                    "none".to_string()
                } else {
                    params.join("; ")
                },
                if errors.is_empty() {
                    "none".to_string()
                } else {
                    errors.join("; ")
                },
                types(&row.flow_types),
                row.page
            ));
        }
        out.join("\n")
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
