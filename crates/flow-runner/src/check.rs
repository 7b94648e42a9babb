//! Static checks of any flow against the reference table ([`crate::reference`]): what the runner
//! needs to run it, and what Connect would refuse. The table is data (infra/flow-reference.json);
//! `infra/check_flows.py` applies the same rows to the template's flows, with this bundle's policy
//! on top.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::flow::Flow;
use crate::reference::Reference;

/// One problem found in a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub flow: String,
    pub block: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.block {
            Some(b) => write!(f, "{}: {b}: {}", self.flow, self.message),
            None => write!(f, "{}: {}", self.flow, self.message),
        }
    }
}

/// Check one flow. `lambda_mapped(arn)` tells whether a Lambda ARN is mapped to a function the
/// runner can call.
pub fn check_flow(flow: &Flow, lambda_mapped: &dyn Fn(&str) -> bool) -> Vec<Finding> {
    let r = Reference::get();
    let mut out = Vec::new();
    let mut add = |block: Option<&str>, message: String| {
        out.push(Finding {
            flow: flow.name.clone(),
            block: block.map(str::to_string),
            message,
        })
    };
    match &flow.version {
        Some(v) if *v == r.version => {}
        Some(v) => add(None, format!("Version {v:?}, expected {:?}", r.version)),
        None => add(None, format!("no Version (expected {:?})", r.version)),
    }
    let ids: Vec<&str> = flow.actions.iter().map(|a| a.id.as_str()).collect();
    let mut seen_ids = BTreeSet::new();
    for id in &ids {
        if !seen_ids.insert(*id) {
            add(Some(id), "duplicate Identifier".into());
        }
    }
    if !seen_ids.contains(flow.start.as_str()) {
        add(
            None,
            format!("StartAction {:?} is not an action", flow.start),
        );
    }
    for a in &flow.actions {
        let here = Some(a.id.as_str());
        for (label, target) in a.transitions() {
            if !seen_ids.contains(target.as_str()) {
                add(
                    here,
                    format!("{label} transition to unknown action {target:?}"),
                );
            }
        }
        let Some(row) = r.row(&a.typ) else {
            add(
                here,
                format!(
                    "action type {:?} is not supported: it has no row in the reference table (infra/flow-reference.json)",
                    a.typ
                ),
            );
            continue;
        };
        if let Some(ft) = &flow.flow_type {
            if !row.flow_types.contains(ft) {
                add(
                    here,
                    format!("{} is not allowed in a {ft} flow ({})", a.typ, row.page),
                );
            }
        }
        for (name, value) in &a.params {
            match row.params.get(name) {
                None => add(
                    here,
                    format!("{} has no parameter {name:?} ({})", a.typ, row.page),
                ),
                Some((_, Some(allowed))) => {
                    if let Some(s) = value.as_str() {
                        if !s.contains("$.") && !allowed.iter().any(|x| x == s) {
                            add(
                                here,
                                format!("{} parameter {name} is {s:?}, expected one of {allowed:?} ({})", a.typ, row.page),
                            );
                        }
                    }
                }
                Some(_) => {}
            }
        }
        for (name, (required, _)) in &row.params {
            if *required && !a.params.contains_key(name) {
                add(
                    here,
                    format!("{} needs parameter {name} ({})", a.typ, row.page),
                );
            }
        }
        let allowed = row.allowed_errors(&a.params);
        let declared: BTreeSet<String> = a.errors.iter().map(|(e, _)| e.clone()).collect();
        for e in declared.difference(&allowed) {
            add(
                here,
                format!(
                    "{} declares error {e}, which the reference does not allow here ({})",
                    a.typ, row.page
                ),
            );
        }
        for e in allowed.difference(&declared) {
            add(
                here,
                format!(
                    "{} does not handle error {e}: Connect would stop the flow there ({})",
                    a.typ, row.page
                ),
            );
        }
        let outgoing = a.transitions();
        if row.is_terminal() && !outgoing.is_empty() {
            add(
                here,
                format!("{} must not have transitions ({})", a.typ, row.page),
            );
        }
        if !row.is_terminal() && outgoing.is_empty() {
            add(here, "no transitions: the flow would stop here".into());
        }
        if !a.conditions.is_empty() && !row.conditions {
            add(
                here,
                format!("{} does not support Conditions ({})", a.typ, row.page),
            );
        }
        if a.typ == "InvokeLambdaFunction" {
            let arn = a.param_str("LambdaFunctionARN").unwrap_or_default();
            if !lambda_mapped(&arn) {
                add(
                    here,
                    format!("Lambda {arn:?} is not mapped to one of our functions (--lambda ARN=ocw-phrase|datastore-proxy|agent-answer)"),
                );
            }
        }
        for s in strings_in(&Value::Object(a.params.clone())) {
            for ns in namespaces_in(&s) {
                match r.namespaces.get(&ns) {
                    None => add(
                        here,
                        format!(
                            "reads $.{ns}, which is not a namespace of the flow data ({})",
                            r.page("attributes")
                        ),
                    ),
                    Some(types) => {
                        if let Some(ft) = &flow.flow_type {
                            if !types.contains(ft) {
                                add(
                                    here,
                                    format!(
                                        "reads $.{ns}, which holds no data in a {ft} flow ({})",
                                        r.page("attributes")
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    // reachability
    let mut reach = BTreeSet::new();
    let mut work = vec![flow.start.clone()];
    while let Some(id) = work.pop() {
        if !reach.insert(id.clone()) {
            continue;
        }
        if let Some(a) = flow.action(&id) {
            work.extend(a.transitions().into_iter().map(|(_, t)| t));
        }
    }
    for id in ids {
        if !reach.contains(id) {
            add(Some(id), "unreachable from StartAction".into());
        }
    }
    out
}

pub(crate) fn strings_in(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings_in).collect(),
        Value::Object(o) => o.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}

/// The namespaces (`Attributes`, `External`, …) read by `$.X` references in a string.
pub(crate) fn namespaces_in(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = s;
    while let Some(p) = rest.find("$.") {
        let tail = &rest[p + 2..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
        rest = tail;
    }
    out
}
