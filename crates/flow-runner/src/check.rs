//! Static checks of any flow against the Flow language reference ([`crate::reference`], the data
//! file `infra/flow-reference.json`): what Connect would refuse, what would break the contact,
//! what looks wrong, and what the runner cannot execute. Every finding names the reference page
//! its rule comes from. This bundle's own policy on top of it lives in [`crate::bundle`].
//!
//! The check is linear in the size of the flow: actions are indexed once, and every graph rule
//! (reachability, what precedes a Loop prompts block, which namespaces are filled on every path)
//! is one breadth-first walk.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde_json::Value;

use crate::flow::{Action, Flow};
use crate::reference::{ActionRow, ParamSpec, Reference};

/// How bad a finding is. The exit status of `flow-runner check` follows errors only (and
/// warnings with `--strict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The runner cannot execute this block, or a Lambda ARN is not mapped to a function.
    Note,
    /// Suspicious: an unreachable block, an unhandled error branch, a value that holds no data.
    Warning,
    /// Connect would refuse the flow, or the contact would fail.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found in a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub flow: String,
    pub block: Option<String>,
    pub message: String,
    /// The reference page (or, for this bundle's policy, the repository document) the rule
    /// comes from.
    pub page: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: ", self.severity, self.flow)?;
        if let Some(b) = &self.block {
            write!(f, "{b}: ")?;
        }
        f.write_str(&self.message)?;
        if !self.page.is_empty() {
            write!(f, " [{}]", self.page)?;
        }
        Ok(())
    }
}

/// Counts of findings by severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

impl Tally {
    pub fn of(findings: &[Finding]) -> Tally {
        let mut t = Tally::default();
        for f in findings {
            match f.severity {
                Severity::Error => t.errors += 1,
                Severity::Warning => t.warnings += 1,
                Severity::Note => t.notes += 1,
            }
        }
        t
    }
}

/// Collects findings for one flow.
pub(crate) struct Sink<'a> {
    flow: &'a str,
    pub(crate) out: Vec<Finding>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(flow: &'a str) -> Self {
        Sink {
            flow,
            out: Vec::new(),
        }
    }

    pub(crate) fn add(
        &mut self,
        severity: Severity,
        block: Option<&str>,
        message: String,
        page: &str,
    ) {
        self.out.push(Finding {
            severity,
            flow: self.flow.to_string(),
            block: block.map(str::to_string),
            message,
            page: page.to_string(),
        });
    }
}

/// A CloudFormation `!Sub` placeholder (`${Name}`): filled in before Connect sees the flow, so
/// its value is checked by the bundle's rules, not here.
pub(crate) fn is_placeholder(s: &str) -> bool {
    s.starts_with("${") && s.ends_with('}') && !s[2..].contains("${")
}

/// "a single valid JSONPath identifier" (placeholders are filled in by CloudFormation first).
pub(crate) fn is_jsonpath(s: &str) -> bool {
    s.strip_prefix("$.").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.${}-".contains(c))
    })
}

/// Every transition of an action: (target, kind) with kind `next`, `condition` or the error type.
pub(crate) fn edges(a: &Action) -> impl Iterator<Item = (&str, &str)> {
    a.next
        .iter()
        .map(|t| (t.as_str(), "next"))
        .chain(a.conditions.iter().map(|c| (c.next.as_str(), "condition")))
        .chain(a.errors.iter().map(|(e, t)| (t.as_str(), e.as_str())))
}

/// The index of each Identifier (the first one, when duplicated).
pub(crate) fn index(flow: &Flow) -> HashMap<&str, usize> {
    let mut ix = HashMap::with_capacity(flow.actions.len());
    for (i, a) in flow.actions.iter().enumerate() {
        ix.entry(a.id.as_str()).or_insert(i);
    }
    ix
}

/// Breadth-first walk from `start` over the transitions `follow` keeps; the visited set.
pub(crate) fn walk(
    flow: &Flow,
    ix: &HashMap<&str, usize>,
    start: usize,
    follow: &dyn Fn(&Action, &str) -> bool,
) -> Vec<bool> {
    let mut seen = vec![false; flow.actions.len()];
    let mut work = VecDeque::from([start]);
    seen[start] = true;
    while let Some(i) = work.pop_front() {
        let a = &flow.actions[i];
        for (t, kind) in edges(a) {
            if !follow(a, kind) {
                continue;
            }
            if let Some(&j) = ix.get(t) {
                if !seen[j] {
                    seen[j] = true;
                    work.push_back(j);
                }
            }
        }
    }
    seen
}

/// Check one flow. `lambda_mapped(arn)` tells whether a Lambda ARN is mapped to a function the
/// runner can call (a `note` otherwise).
pub fn check_flow(flow: &Flow, lambda_mapped: &dyn Fn(&str) -> bool) -> Vec<Finding> {
    let r = Reference::get();
    let mut s = Sink::new(&flow.name);
    let actions_page = r.page("actions");
    match &flow.version {
        Some(v) if *v == r.version => {}
        Some(v) => s.add(
            Severity::Error,
            None,
            format!("Version {v:?}, expected {:?}", r.version),
            actions_page,
        ),
        None => s.add(
            Severity::Error,
            None,
            format!("no Version (expected {:?})", r.version),
            actions_page,
        ),
    }
    if flow.content_chars > r.max_content_chars {
        s.add(
            Severity::Error,
            None,
            format!(
                "the flow content is {} characters, over Connect's limit of {}",
                flow.content_chars, r.max_content_chars
            ),
            r.page("flow_content"),
        );
    }
    if flow.actions.len() > r.max_actions {
        s.add(
            Severity::Error,
            None,
            format!(
                "the flow has {} actions, over Connect's limit of {}",
                flow.actions.len(),
                r.max_actions
            ),
            r.page("flow_example"),
        );
    }
    let ix = index(flow);
    let mut seen_ids = std::collections::HashSet::with_capacity(flow.actions.len());
    for a in &flow.actions {
        if !seen_ids.insert(a.id.as_str()) {
            s.add(
                Severity::Error,
                Some(&a.id),
                "duplicate Identifier".into(),
                actions_page,
            );
        }
        check_identifier(&mut s, r, &a.id);
    }
    let start = ix.get(flow.start.as_str()).copied();
    if start.is_none() {
        s.add(
            Severity::Error,
            None,
            format!("StartAction {:?} is not an action", flow.start),
            actions_page,
        );
    }
    for a in &flow.actions {
        check_action(&mut s, r, flow, a, &ix, lambda_mapped);
    }
    let Some(start) = start else {
        return s.out;
    };
    let reach = walk(flow, &ix, start, &|_, _| true);
    for (i, a) in flow.actions.iter().enumerate() {
        if !reach[i] && ix.get(a.id.as_str()) == Some(&i) {
            s.add(
                Severity::Warning,
                Some(&a.id),
                "unreachable from StartAction".into(),
                actions_page,
            );
        }
    }
    check_loop_prompts(&mut s, r, flow, &ix, &reach);
    check_filled_namespaces(&mut s, r, flow, &ix, start);
    s.out
}

fn check_identifier(s: &mut Sink, r: &Reference, id: &str) {
    if !id.is_empty()
        && id.len() <= 50
        && !id.chars().any(|c| r.identifier_forbidden.contains(c))
        && !r.identifier_reserved.contains(id)
    {
        return;
    }
    let bad: String = id
        .chars()
        .filter(|c| r.identifier_forbidden.contains(*c))
        .collect::<BTreeSet<char>>()
        .into_iter()
        .collect();
    let why = if id.is_empty() {
        "is empty".to_string()
    } else if id.chars().count() > 50 {
        format!("is {} characters, over 50 characters", id.chars().count())
    } else if !bad.is_empty() {
        format!(
            "uses {bad}, and none of {} is allowed",
            r.identifier_forbidden
        )
    } else if r.identifier_reserved.contains(id) {
        "is a reserved name".to_string()
    } else {
        return;
    };
    s.add(
        Severity::Error,
        Some(id),
        format!("Identifier {id:?} {why}"),
        r.page("actions"),
    );
}

fn strings_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings_of(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings_of(x, out)),
        _ => {}
    }
}

fn str_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| str_refs(x, out)),
        Value::Object(o) => o.values().for_each(|x| str_refs(x, out)),
        _ => {}
    }
}

pub(crate) fn strings_in(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    strings_of(v, &mut out);
    out
}

fn check_action(
    s: &mut Sink,
    r: &Reference,
    flow: &Flow,
    a: &Action,
    ix: &HashMap<&str, usize>,
    lambda_mapped: &dyn Fn(&str) -> bool,
) {
    let here = Some(a.id.as_str());
    let mut declared = BTreeSet::new();
    for (t, kind) in edges(a) {
        if !ix.contains_key(t) {
            s.add(
                Severity::Error,
                here,
                format!("{kind} transition to unknown action {t:?}"),
                r.page("transitions"),
            );
        }
    }
    for (e, _) in &a.errors {
        if !declared.insert(e.as_str()) {
            s.add(
                Severity::Error,
                here,
                format!("{} declares error {e} twice", a.typ),
                r.page("transitions"),
            );
        }
    }
    if a.typ.is_empty() {
        s.add(
            Severity::Error,
            here,
            "the action has no Type".into(),
            r.page("actions"),
        );
        return;
    }
    let Some(row) = r.row(&a.typ) else {
        s.add(
            Severity::Note,
            here,
            format!(
                "action type {} has no row in the reference table (infra/flow-reference.json): not checked, and `run` stops here",
                a.typ
            ),
            r.page("actions"),
        );
        return;
    };
    let page = row.page.as_str();
    if let Some(ft) = &flow.flow_type {
        if !row.flow_types.contains(ft) {
            s.add(
                Severity::Error,
                here,
                format!("{} is not allowed in a {ft} flow", a.typ),
                page,
            );
        }
    }
    for (name, value) in &a.params {
        match row.params.get(name) {
            None => s.add(
                Severity::Warning,
                here,
                format!("{} has no parameter {name:?} in the reference table", a.typ),
                page,
            ),
            Some(spec) => check_param(s, r, flow, a, row, name, spec, value),
        }
    }
    for (name, spec) in &row.params {
        if spec.required && !a.params.contains_key(name) {
            s.add(
                Severity::Error,
                here,
                format!("{} needs parameter {name}", a.typ),
                page,
            );
        }
    }
    let given = row
        .one_of
        .iter()
        .filter(|k| a.params.contains_key(*k))
        .count();
    if given > 1 || (row.one_of_required && given == 0) {
        s.add(
            Severity::Error,
            here,
            format!(
                "{} takes {} one of {} (it has {given})",
                a.typ,
                if row.one_of_required {
                    "exactly"
                } else {
                    "at most"
                },
                row.one_of.join(", ")
            ),
            page,
        );
    }
    // Errors: only those the reference allows for these parameter values; every required one
    // handled (an unhandled error ends the contact there).
    let allowed = row.allowed_errors(&a.params);
    for e in &declared {
        if !allowed.contains(*e) {
            let when = row
                .error_words
                .get(*e)
                .filter(|_| row.errors.contains_key(*e))
                .map(String::as_str)
                .unwrap_or("never for this action");
            s.add(
                Severity::Error,
                here,
                format!(
                    "{} declares error {e}, which the reference allows {when}",
                    a.typ
                ),
                page,
            );
        }
    }
    for e in allowed.iter().filter(|e| !declared.contains(e.as_str())) {
        if !row.optional_errors.contains(e) {
            s.add(
                Severity::Warning,
                here,
                format!(
                    "{} does not handle error {e}: the contact would end there if it happens",
                    a.typ
                ),
                page,
            );
        }
    }
    // Transitions.
    let has_edges = a.next.is_some() || !a.conditions.is_empty() || !a.errors.is_empty();
    if row.is_terminal() {
        if has_edges {
            s.add(
                Severity::Error,
                here,
                format!(
                    "{} must not have transitions: it is always the last action",
                    a.typ
                ),
                page,
            );
        }
    } else if !has_edges && row.next_action == "optional" {
        // Loop prompts without an interruption loops until the contact leaves the queue.
    } else if !has_edges {
        s.add(
            Severity::Error,
            here,
            "non-terminal action without transitions (the contact would stop here)".into(),
            page,
        );
    } else if row.next_action == "required" && a.next.is_none() {
        s.add(
            Severity::Error,
            here,
            format!("{} has no NextAction", a.typ),
            page,
        );
    } else if a.next.is_none()
        // Loop and Check hours of operation have a condition for each of their two results.
        && !matches!(a.typ.as_str(), "Loop" | "CheckHoursOfOperation")
        && a.error_target("NoMatchingCondition").is_none()
        && a.error_target("NoMatchingError").is_none()
    {
        s.add(
            Severity::Warning,
            here,
            "no NextAction and no NoMatchingCondition/NoMatchingError branch".into(),
            page,
        );
    }
    check_conditions(s, r, a, row);
    match a.typ.as_str() {
        "InvokeLambdaFunction" => {
            let arn = a.param_str("LambdaFunctionARN").unwrap_or_default();
            if !arn.is_empty() && !lambda_mapped(&arn) {
                s.add(
                    Severity::Note,
                    here,
                    format!("Lambda {arn:?} is not mapped to one of our functions (--lambda ARN=ocw-phrase|datastore-proxy|agent-answer): `run` takes its error branch"),
                    page,
                );
            }
        }
        "UpdateContactEventHooks" => {
            if let Some(Value::Object(hooks)) = a.params.get("EventHooks") {
                if hooks.len() != 1 {
                    s.add(
                        Severity::Error,
                        here,
                        format!(
                            "EventHooks must have exactly one entry (it has {})",
                            hooks.len()
                        ),
                        page,
                    );
                }
                for k in hooks.keys() {
                    if !r.event_hooks.contains(k) {
                        s.add(
                            Severity::Error,
                            here,
                            format!(
                                "{k:?} is not an event hook (one of {})",
                                join(&r.event_hooks)
                            ),
                            page,
                        );
                    }
                }
            }
        }
        "UpdateContactAttributes" => {
            if let Some(Value::Object(attrs)) = a.params.get("Attributes") {
                for (k, v) in attrs {
                    if !v.is_string() {
                        s.add(
                            Severity::Error,
                            here,
                            format!("attribute {k} is set to {v}, not a string (wrong value type)"),
                            r.page("set_contact_attributes"),
                        );
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Object(attrs)) = a.params.get("LambdaInvocationAttributes") {
        for (k, v) in attrs {
            if !v.is_string() {
                s.add(
                    Severity::Error,
                    here,
                    format!("parameter {k} is {v}, not a string (Connect passes strings; wrong value type)"),
                    page,
                );
            }
        }
    }
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[allow(clippy::too_many_arguments)]
fn check_param(
    s: &mut Sink,
    r: &Reference,
    flow: &Flow,
    a: &Action,
    row: &ActionRow,
    name: &str,
    spec: &ParamSpec,
    value: &Value,
) {
    let here = Some(a.id.as_str());
    let page = row.page.as_str();
    let typ_ok = match spec.typ.as_str() {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "any" => true,
        _ => value.is_string(),
    };
    if !typ_ok {
        let want = match spec.typ.as_str() {
            "object" => "an object",
            "array" => "a list",
            _ => "a string",
        };
        s.add(
            Severity::Error,
            here,
            format!(
                "{} parameter {name} must be {want}, not {} (wrong value type)",
                a.typ,
                kind_of(value)
            ),
            page,
        );
        return;
    }
    let mut texts: Vec<&str> = Vec::new();
    str_refs(value, &mut texts);
    let dynamic = texts.iter().any(|t| t.contains("$."));
    match spec.value.as_str() {
        "static" if dynamic => s.add(
            Severity::Error,
            here,
            format!(
                "{} parameter {name} must be static (no $. reference)",
                a.typ
            ),
            page,
        ),
        "jsonpath" | "path" => {
            if let Some(v) = value.as_str() {
                let path_ok = is_jsonpath(v);
                if spec.value == "path" && !path_ok {
                    s.add(
                        Severity::Error,
                        here,
                        format!(
                            "{} parameter {name} must be a single JSONPath identifier",
                            a.typ
                        ),
                        page,
                    );
                } else if v.contains("$.") && !path_ok {
                    s.add(
                        Severity::Error,
                        here,
                        format!(
                            "{} parameter {name} must be static or a single JSONPath",
                            a.typ
                        ),
                        page,
                    );
                }
            }
        }
        _ => {}
    }
    if let (Some(allowed), Some(v)) = (&spec.allowed, value.as_str()) {
        if !v.contains("$.") && !is_placeholder(v) && !allowed.iter().any(|x| x == v) {
            s.add(
                Severity::Error,
                here,
                format!(
                    "{} parameter {name} is {v:?}, expected one of {}",
                    a.typ,
                    allowed.join(", ")
                ),
                page,
            );
        }
    }
    if let (Some((min, max)), Some(v)) = (spec.integer, value.as_str()) {
        if !v.contains("$.") && !is_placeholder(v) {
            let n = v.trim().parse::<i64>().ok();
            let fits = n.is_some_and(|n| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m));
            if !fits {
                let range = match (min, max) {
                    (Some(lo), Some(hi)) => format!("from {lo} to {hi}"),
                    (Some(lo), None) => format!("of at least {lo}"),
                    (None, Some(hi)) => format!("of at most {hi}"),
                    (None, None) => String::new(),
                };
                s.add(
                    Severity::Error,
                    here,
                    format!(
                        "{} parameter {name} is {v:?}: it must be a whole number {range}",
                        a.typ
                    ),
                    page,
                );
            }
        }
    }
    let read: BTreeSet<String> = if dynamic {
        texts.iter().flat_map(|t| namespaces_in(t)).collect()
    } else {
        BTreeSet::new()
    };
    for ns in read {
        match r.namespaces.get(&ns) {
            None => s.add(
                Severity::Warning,
                here,
                format!("reads $.{ns}, which is not a namespace of the flow data"),
                r.page("attributes"),
            ),
            Some(types) => {
                if row
                    .namespaces
                    .as_ref()
                    .is_some_and(|allowed| !allowed.contains(&ns))
                {
                    s.add(
                        Severity::Warning,
                        here,
                        format!("{} cannot read $.{ns}", a.typ),
                        page,
                    );
                } else if let Some(ft) = &flow.flow_type {
                    if !types.contains(ft) {
                        s.add(
                            Severity::Warning,
                            here,
                            format!("reads $.{ns}, which holds no data in a {ft} flow"),
                            r.page("attributes"),
                        );
                    }
                }
            }
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check_conditions(s: &mut Sink, r: &Reference, a: &Action, row: &ActionRow) {
    if a.conditions.is_empty() {
        return;
    }
    let here = Some(a.id.as_str());
    let page = row.page.as_str();
    if !row.conditions {
        s.add(
            Severity::Error,
            here,
            format!("{} does not support Conditions", a.typ),
            page,
        );
        return;
    }
    match a.typ.as_str() {
        "Compare" => {
            for c in &a.conditions {
                if !r.compare_operators.contains(&c.operator) {
                    s.add(
                        Severity::Error,
                        here,
                        format!(
                            "Compare operator {:?} is not one of {}",
                            c.operator,
                            join(&r.compare_operators)
                        ),
                        r.page("compare"),
                    );
                }
                if c.operands.is_empty() {
                    s.add(
                        Severity::Error,
                        here,
                        "a Compare condition without Operands".into(),
                        r.page("compare"),
                    );
                }
            }
        }
        "MessageParticipantIteratively" => {
            for c in &a.conditions {
                if c.operator != "Equals" || c.operands != ["MessagesInterrupted"] {
                    s.add(
                        Severity::Error,
                        here,
                        "MessageParticipantIteratively supports only Equals MessagesInterrupted"
                            .into(),
                        page,
                    );
                }
            }
        }
        "CheckMetricData" => {
            let agents = a
                .param_str("MetricType")
                .is_some_and(|m| m.starts_with("NumberOfAgents"));
            for c in &a.conditions {
                let ok = if agents {
                    c.operator == "NumberGreaterThan" && c.operands == ["0"]
                } else {
                    r.compare_operators.contains(&c.operator)
                };
                if !ok {
                    s.add(
                        Severity::Error,
                        here,
                        format!(
                            "CheckMetricData condition {} {:?}: {}",
                            c.operator,
                            c.operands,
                            if agents {
                                "for a NumberOfAgents* metric the only condition is NumberGreaterThan 0"
                            } else {
                                "not an operator Connect has"
                            }
                        ),
                        page,
                    );
                }
            }
        }
        "Loop" | "CheckHoursOfOperation" => {
            let want: [&str; 2] = if a.typ == "Loop" {
                ["ContinueLooping", "DoneLooping"]
            } else {
                ["True", "False"]
            };
            let ok = a.conditions.len() == 2
                && want.iter().all(|w| {
                    a.conditions
                        .iter()
                        .any(|c| c.operator == "Equals" && c.operands == [*w])
                });
            if !ok {
                s.add(
                    Severity::Error,
                    here,
                    format!(
                        "{} needs exactly a condition Equals {} and one Equals {}",
                        a.typ, want[0], want[1]
                    ),
                    page,
                );
            }
        }
        "GetParticipantInput" => {
            if a.param_str("StoreInput").as_deref() != Some("False") {
                s.add(
                    Severity::Error,
                    here,
                    "GetParticipantInput supports Conditions only when StoreInput is False".into(),
                    page,
                );
            }
            for c in &a.conditions {
                let key_ok = c.operands.len() == 1
                    && c.operands[0].chars().count() == 1
                    && c.operands[0]
                        .chars()
                        .all(|ch| ch.is_ascii_digit() || ch == '*' || ch == '#');
                if c.operator != "Equals" || !key_ok {
                    s.add(
                        Severity::Error,
                        here,
                        format!(
                            "GetParticipantInput conditions are Equals one key 0-9, * or # (got {} {:?})",
                            c.operator, c.operands
                        ),
                        page,
                    );
                }
            }
        }
        _ => {}
    }
}

/// Loop prompts page: none of the blocks it lists may come before a Loop prompts block (it may
/// not lead to it, directly or through other blocks). One backward walk from every reachable
/// Loop prompts block at once.
fn check_loop_prompts(
    s: &mut Sink,
    r: &Reference,
    flow: &Flow,
    ix: &HashMap<&str, usize>,
    reach: &[bool],
) {
    let n = flow.actions.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, a) in flow.actions.iter().enumerate() {
        for (t, _) in edges(a) {
            if let Some(&j) = ix.get(t) {
                preds[j].push(i);
            }
        }
    }
    let mut origin: Vec<Option<usize>> = vec![None; n];
    let mut work = VecDeque::new();
    for (i, a) in flow.actions.iter().enumerate() {
        if reach[i] && a.typ == "MessageParticipantIteratively" {
            work.push_back((i, i));
        }
    }
    while let Some((i, loop_ix)) = work.pop_front() {
        for &p in &preds[i] {
            if origin[p].is_none() {
                origin[p] = Some(loop_ix);
                work.push_back((p, loop_ix));
            }
        }
    }
    for (i, a) in flow.actions.iter().enumerate() {
        let (Some(l), Some(block)) = (origin[i], r.not_before_loop_prompts.get(&a.typ)) else {
            continue;
        };
        s.add(
            Severity::Error,
            Some(&a.id),
            format!(
                "{} ({block}) leads back to the Loop prompts block {}, and {block} is not allowed before the Loop prompts block (end the flow with EndFlowExecution instead)",
                a.typ, flow.actions[l].id
            ),
            r.page("loop_prompts"),
        );
    }
}

/// `$.Metrics`, `$.LambdaInvocation` and `$.External` hold data only after the block that fills
/// them (Get queue metrics; an asynchronous Lambda call; any Lambda call) on every path to the
/// read: one walk each over the paths that avoid the filling block.
fn check_filled_namespaces(
    s: &mut Sink,
    r: &Reference,
    flow: &Flow,
    ix: &HashMap<&str, usize>,
    start: usize,
) {
    type Fills = fn(&Action, &str) -> bool;
    let rules: [(&str, Fills, &str); 3] = [
        (
            "Metrics",
            |a, kind| a.typ == "GetMetricData" && kind == "next",
            "attributes",
        ),
        (
            "LambdaInvocation",
            |a, kind| {
                a.typ == "InvokeLambdaFunction"
                    && a.param_str("InvocationType").as_deref() == Some("ASYNCHRONOUS")
                    && kind == "next"
            },
            "lambda_block",
        ),
        (
            "External",
            |a, _| a.typ == "InvokeLambdaFunction",
            "lambda_block",
        ),
    ];
    for (ns, fills, page) in rules {
        let reads: Vec<usize> = flow
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a.params
                    .values()
                    .any(|v| any_string(v, &|t| reads_namespace(t, ns)))
            })
            .map(|(i, _)| i)
            .collect();
        if reads.is_empty() {
            continue;
        }
        let unfilled = walk(flow, ix, start, &|a, kind| !fills(a, kind));
        for i in reads {
            if unfilled[i] {
                s.add(
                    Severity::Warning,
                    Some(&flow.actions[i].id),
                    format!("reads $.{ns} on a path without the block that fills it"),
                    r.page(page),
                );
            }
        }
    }
}

/// Whether any string inside a value satisfies `f` (no copy).
fn any_string(v: &Value, f: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().any(|x| any_string(x, f)),
        Value::Object(o) => o.values().any(|x| any_string(x, f)),
        _ => false,
    }
}

/// Whether a string reads `$.<ns>` (the whole namespace name, not a prefix of another).
fn reads_namespace(s: &str, ns: &str) -> bool {
    let needle = format!("$.{ns}");
    s.match_indices(&needle).any(|(i, _)| {
        !s[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
    })
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
