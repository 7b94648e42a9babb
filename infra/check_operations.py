#!/usr/bin/env python3
"""Checks of the operations stack (infra/operations.yaml) against what the functions emit.

Static (always):
* every alarm: its threshold is a stack parameter with a default, TreatMissingData is set (and
  notBreaching where the metric counts events: no traffic is not an outage), ALARM and OK go to
  the stack's topic, its runbook anchor exists in docs/operations.md with a "First action", and
  every threshold parameter is explained there;
* AWS/Lambda alarms name the deployed functions (FunctionNamePrefix + function, as base.yaml);
  AWS/Connect alarms use ContactFlowErrors / ContactFlowFatalErrors with InstanceId,
  MetricGroup=ContactFlow, ContactFlowName and cover exactly the flows of infra/template.yaml;
* duration thresholds sit between the function's request budget (base.yaml) and the shortest
  wait of the synchronous flow blocks that invoke it (infra/flows/*.json; Connect's block waits
  8 s at most) and the Lambda timeout (CargoLambda.toml);
* metric-math expressions only use ids their alarm defines; the dashboard body is valid JSON
  (with and without the Connect alarms) and its alarm widget lists exactly the stack's alarms;
* the saved queries and the dashboard's log widgets read the three function log groups.

With --emitted FILE (the EMF documents and invocation log lines the real binaries printed,
dumped by crates/journey/tests/emitted_metrics.rs): every MindfulConnect metric an alarm or the
dashboard uses, with its dimension set and dimension values (Function, Status), was emitted, and
every field the queries read is a field of the real log line (or of Lambda's REPORT line or
Connect's flow log). --self-test proves that broken definitions are caught (an alarm on a
metric nobody emits, among others).

With --deployed PARAMS (the moto rehearsal, .ci/infra-checks.sh): the stage's operations stack
(named from the params' Stage, as infra/deploy.sh names it) exists with the parameters of PARAMS, its topic (and email subscription) and its dashboard are
the ones the template resolves to. moto 5.2.5's CloudFormation has no AWS::CloudWatch::Alarm
and no AWS::Logs::QueryDefinition (it skips them with a warning), so the alarms, resolved with
the deployed parameters, are put through the CloudWatch API (PutMetricAlarm) and read back, and
the query definitions are validated against the CloudWatch Logs PutQueryDefinition request
shape (botocore's model; moto has no Logs Insights).

Usage: infra/check_operations.py [--emitted FILE] [--self-test]
       infra/check_operations.py --deployed infra/params/rehearsal.json
Needs PyYAML (installed with cfn-lint by .ci/infra-checks.sh); --deployed needs boto3 (moto's).
"""
from __future__ import annotations

import argparse
import copy
import json
import pathlib
import re
import sys


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cfn_yaml  # noqa: E402
from deploy_helper import lambda_functions  # noqa: E402

INFRA = pathlib.Path(__file__).resolve().parent
ROOT = INFRA.parent
OPERATIONS = INFRA / "operations.yaml"
BASE = INFRA / "base.yaml"
TEMPLATE = INFRA / "template.yaml"
FLOWS = INFRA / "flows"
RUNBOOK = ROOT / "docs" / "operations.md"

FUNCTIONS = tuple(lambda_functions())  # CargoLambda.toml [build] bin
FLOW_FUNCTION_PARAMS = {
    "${OcwPhraseFunctionArn}": "ocw-phrase",
    "${DatastoreProxyFunctionArn}": "datastore-proxy",
    "${AgentAnswerFunctionArn}": "agent-answer",
}
# Lambda duration alarm threshold and request budget (base.yaml) of each function.
DURATION_PARAMS = {
    "ocw-phrase": "OcwPhraseDurationAlarmMs",
    "datastore-proxy": "DatastoreProxyDurationAlarmMs",
    "agent-answer": "AgentAnswerDurationAlarmMs",
}
BUDGET_PARAMS = {"datastore-proxy": "DatastoreRequestBudgetMs", "agent-answer": "AgentAnswerRequestBudgetMs"}
# Amazon Connect waits at most 8 s for the Invoke AWS Lambda function block:
# https://docs.aws.amazon.com/connect/latest/adminguide/invoke-lambda-function-block.html
CONNECT_BLOCK_MAX_MS = 8000
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
LAMBDA_METRICS = {"Errors", "Throttles", "Duration"}
# https://docs.aws.amazon.com/connect/latest/adminguide/monitoring-cloudwatch.html
CONNECT_METRICS = {"ContactFlowErrors", "ContactFlowFatalErrors"}
CONNECT_FLOW_DIMENSIONS = ["InstanceId", "MetricGroup", "ContactFlowName"]
EVENT_COUNT_METRICS = {"Errors", "Throttles", "Invocations", "ContactFlowErrors", "ContactFlowFatalErrors"}
TREAT_MISSING = {"breaching", "notBreaching", "ignore", "missing"}

# Fields of Logs Insights queries that are not the functions' own log fields.
# Lambda REPORT lines (text format: discovered @-fields; JSON format: platform.report records):
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_AnalyzeLogData-discoverable-fields.html
# https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html#platform-report
PLATFORM_FIELDS = {"@timestamp", "@message", "@log", "@logStream", "@type", "@duration",
                   "@initDuration", "@requestId", "type", "record.metrics.initDurationMs",
                   "record.metrics.durationMs"}
# Amazon Connect flow log entries (ContactId, ContactFlowName, ContactFlowModuleType, Results):
# https://docs.aws.amazon.com/connect/latest/adminguide/contact-flow-log-data.html
FLOW_LOG_FIELDS = {"ContactId", "ContactFlowName", "ContactFlowModuleType", "Results"}
QUERY_WORDS = {"fields", "filter", "stats", "sort", "limit", "display", "by", "as", "and", "or",
               "not", "desc", "asc", "count", "avg", "pct", "max", "min", "sum", "bin",
               "coalesce", "ispresent", "like", "in"}
# Metric-math functions used by the alarms.
MATH_WORDS = {"IF", "FILL", "SUM", "AND", "OR"}


# --- template loading and intrinsic functions --------------------------------------------------
def load(path: pathlib.Path) -> dict:
    return cfn_yaml.load(path)


NOVALUE = object()


class Resolver:
    """Evaluates the intrinsic functions operations.yaml uses, for one set of parameters."""

    def __init__(self, template: dict, params: dict, pseudo: dict, refs: dict):
        self.template, self.params, self.pseudo, self.refs = template, params, pseudo, refs
        self.conditions = {}
        for name, expr in template.get("Conditions", {}).items():
            self.conditions[name] = bool(self.value(expr))

    def name(self, key: str):
        for source in (self.params, self.pseudo, self.refs):
            if key in source:
                return source[key]
        raise KeyError(f"unresolvable reference {key}")

    def sub(self, text: str, extra: dict | None = None) -> str:
        def repl(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if extra and key in extra:
                return str(extra[key])
            return str(self.name(key))
        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def value(self, node):
        if isinstance(node, list):
            out = [self.value(v) for v in node]
            return [v for v in out if v is not NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return NOVALUE if arg == "AWS::NoValue" else self.name(arg)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], {k: self.value(v) for k, v in arg[1].items()})
                return self.sub(arg)
            if key == "Fn::If":
                return self.value(arg[1] if self.conditions[arg[0]] else arg[2])
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.value(arg[1]))
            if key == "Fn::Select":
                return self.value(arg[1])[int(self.value(arg[0]))]
            if key == "Fn::Split":
                return str(self.value(arg[1])).split(arg[0])
            if key == "Fn::Equals":
                return str(self.value(arg[0])) == str(self.value(arg[1]))
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Condition":
                return self.conditions[arg]
            if key.startswith("Fn::"):
                raise ValueError(f"{key} is not supported by check_operations.py")
        out = {}
        for k, v in node.items():
            r = self.value(v)
            if r is not NOVALUE:
                out[k] = r
        return out

    def active(self, resource: dict) -> bool:
        cond = resource.get("Condition")
        return cond is None or self.conditions[cond]


def defaults(template: dict) -> dict:
    return {k: str(p["Default"]) for k, p in template["Parameters"].items() if "Default" in p}


SAMPLE_PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
                 "AWS::Partition": "aws", "AWS::StackName": "sample-operations"}
SAMPLE_CONNECT = "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-0000-0000-000000000000"


def sample_resolvers(ops: dict) -> list[Resolver]:
    """The template resolved with its defaults, without and with the Connect alarms."""
    out = []
    for connect in ("", SAMPLE_CONNECT):
        params = defaults(ops)
        params["ConnectInstanceArn"] = connect
        refs = {name: f"sample-{name}" for name in ops["Resources"]}
        out.append(Resolver(ops, params, SAMPLE_PSEUDO, refs))
    return out


# --- what the template uses -----------------------------------------------------------------
def resources(ops: dict, rtype: str) -> dict:
    return {k: r for k, r in ops["Resources"].items() if r["Type"] == rtype}


def alarm_metrics(props: dict) -> list[dict]:
    """[{Namespace, MetricName, Dimensions, Stat, Id?}] of an alarm (single metric or math)."""
    if "Metrics" in props:
        out = []
        for m in props["Metrics"]:
            if "MetricStat" in m:
                stat = m["MetricStat"]
                out.append({**stat["Metric"], "Stat": stat.get("Stat"), "Id": m["Id"]})
        return out
    stat = props.get("Statistic") or props.get("ExtendedStatistic")
    return [{"Namespace": props.get("Namespace"), "MetricName": props.get("MetricName"),
             "Dimensions": props.get("Dimensions", []), "Stat": stat}]


def dashboard_metrics(body: dict) -> list[dict]:
    """Metric widget entries as {Namespace, MetricName, Dimensions}, SEARCH expressions parsed."""
    out = []
    for w in body.get("widgets", []):
        if w.get("type") != "metric":
            continue
        for entry in w["properties"].get("metrics", []):
            items = [e for e in entry if not isinstance(e, dict)]
            opts = [e for e in entry if isinstance(e, dict)]
            for o in opts:
                expr = o.get("expression", "")
                m = re.match(r"""SEARCH\('\{([^}]*)\}\s+MetricName="([^"]+)"\s*',""", expr)
                if expr and not m:
                    out.append({"Namespace": None, "MetricName": expr, "Dimensions": [],
                                "Search": True})
                elif m:
                    ns, *dims = [s.strip() for s in m.group(1).split(",")]
                    out.append({"Namespace": ns, "MetricName": m.group(2),
                                "Dimensions": [{"Name": d, "Value": None} for d in dims],
                                "Search": True})
            if items:
                ns, name, *rest = items
                dims = [{"Name": rest[i], "Value": rest[i + 1]} for i in range(0, len(rest), 2)]
                out.append({"Namespace": ns, "MetricName": name, "Dimensions": dims})
    return out


def dashboard_queries(body: dict) -> list[str]:
    return [w["properties"]["query"] for w in body.get("widgets", []) if w.get("type") == "log"]


def flow_names(template: dict) -> set[str]:
    names = set()
    for r in template["Resources"].values():
        if r["Type"] == "AWS::Connect::ContactFlow":
            sub = r["Properties"]["Name"]["Fn::Sub"]
            names.add(sub.replace("${FlowNamePrefix}", "", 1))
    return names


def lambda_timeout_ms() -> int:
    """The functions' Lambda timeout: `timeout` of [deploy] in CargoLambda.toml (seconds)."""
    import tomllib
    with open(ROOT / "CargoLambda.toml", "rb") as fh:
        return int(tomllib.load(fh)["deploy"]["timeout"]) * 1000


def flow_time_limits() -> dict[str, int]:
    """Shortest InvocationTimeLimitSeconds (ms) of the synchronous flow blocks that invoke each
    function (an ASYNCHRONOUS block does not hold the contact while the function runs)."""
    limits: dict[str, int] = {}

    def walk(node):
        if isinstance(node, dict):
            params = node.get("Parameters") if node.get("Type") == "InvokeLambdaFunction" else None
            if isinstance(params, dict) and params.get("InvocationType", "SYNCHRONOUS") == "SYNCHRONOUS":
                fn = FLOW_FUNCTION_PARAMS.get(params.get("LambdaFunctionARN", ""))
                ms = int(params.get("InvocationTimeLimitSeconds", 8)) * 1000
                if fn:
                    limits[fn] = min(limits.get(fn, ms), ms)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in sorted(FLOWS.glob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return limits


def anchors(markdown: str) -> dict[str, str]:
    """GitHub heading anchors -> the section's text."""
    sections, current = {}, None
    for line in markdown.splitlines():
        m = re.match(r"^#{2,4}\s+(.*)$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            current = slug
            sections[current] = ""
        elif current:
            sections[current] += line + "\n"
    return sections


def query_fields(query: str) -> tuple[set[str], set[str]]:
    """(fields read, aliases defined) of a Logs Insights query."""
    q = re.sub(r"SOURCE\s+'[^']*'\s*\|", "", query)
    q = re.sub(r'"(?:[^"\\]|\\.)*"', '""', q)
    aliases = set(re.findall(r"\bas\s+([A-Za-z_][A-Za-z0-9_]*)", q))
    tokens = set(re.findall(r"(?<![\w.@])(@?[A-Za-z_][A-Za-z0-9_.]*)", q))
    fields = {t for t in tokens if t.lower() not in QUERY_WORDS} - aliases
    return fields, aliases


# --- emitted metrics and log lines -----------------------------------------------------------
class Emitted:
    def __init__(self, path: pathlib.Path):
        self.metrics: set[tuple[str, str, tuple[str, ...]]] = set()
        self.values: dict[str, set[str]] = {}          # dimension name -> values
        self.status_by_function: dict[str, set[str]] = {}
        self.log_fields: set[str] = set()
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            if "_aws" in doc:
                for d in doc["_aws"]["CloudWatchMetrics"]:
                    for m in d["Metrics"]:
                        for dims in d["Dimensions"]:
                            self.metrics.add((d["Namespace"], m["Name"], tuple(sorted(dims))))
                            for k in dims:
                                self.values.setdefault(k, set()).add(doc[k])
                self.status_by_function.setdefault(doc["Function"], set()).add(doc["Status"])
            elif doc.get("message") == "invocation":
                self.log_fields.update(doc.keys())
        if not self.metrics or not self.log_fields:
            raise SystemExit(f"{path}: no EMF documents or no invocation log lines")


# --- the checks ----------------------------------------------------------------------------
def check(ops: dict, base: dict, template: dict, runbook: str, emitted: Emitted | None) -> list[str]:
    problems: list[str] = []
    params = ops["Parameters"]
    alarms = resources(ops, "AWS::CloudWatch::Alarm")
    queries = resources(ops, "AWS::Logs::QueryDefinition")
    sections = anchors(runbook)
    flows = flow_names(template)
    resolvers = sample_resolvers(ops)

    # Shared parameters agree with the stacks they come from.
    for name, other in (("FunctionNamePrefix", base), ("FlowNamePrefix", template)):
        mine, theirs = params.get(name, {}), other["Parameters"].get(name, {})
        if mine.get("Default") != theirs.get("Default"):
            problems.append(f"{name}: default {mine.get('Default')!r} differs from "
                            f"{theirs.get('Default')!r} of the stack it names")

    def mindful(where: str, m: dict, resolved_dims: list[dict]):
        dims = tuple(sorted(d["Name"] for d in resolved_dims))
        if emitted is None:
            return
        key = ("MindfulConnect", m["MetricName"], dims)
        if key not in emitted.metrics:
            problems.append(f"{where}: no function emits MindfulConnect {m['MetricName']} with "
                            f"dimensions {list(dims)}")
            return
        values = {d["Name"]: d["Value"] for d in resolved_dims}
        for name, value in values.items():
            if value is not None and value not in emitted.values.get(name, set()):
                problems.append(f"{where}: {name}={value!r} is never emitted "
                                f"(emitted: {sorted(emitted.values.get(name, set()))})")
        fn, status = values.get("Function"), values.get("Status")
        if fn and status and status not in emitted.status_by_function.get(fn, set()):
            problems.append(f"{where}: {fn} never answers Status={status!r}")

    threshold_params = set()
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        where = f"alarm {name}"
        th = props.get("Threshold")
        if not (isinstance(th, dict) and set(th) == {"Ref"} and th["Ref"] in params):
            problems.append(f"{where}: Threshold must be a stack parameter, not {th!r}")
        elif "Default" not in params[th["Ref"]]:
            problems.append(f"{where}: threshold parameter {th['Ref']} has no default")
        else:
            threshold_params.add(th["Ref"])
        tmd = props.get("TreatMissingData")
        if tmd not in TREAT_MISSING:
            problems.append(f"{where}: TreatMissingData must be set deliberately (got {tmd!r})")
        metrics = alarm_metrics(props)
        if any(m["MetricName"] in EVENT_COUNT_METRICS for m in metrics) and tmd != "notBreaching":
            problems.append(f"{where}: an event count alarm treats missing data as notBreaching "
                            "(a quiet night is not an outage)")
        topic = {"Fn::If": ["CreateTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
        for key in ("AlarmActions", "OKActions"):
            if props.get(key) != [topic]:
                problems.append(f"{where}: {key} must be the stack's alarm topic")
        m = re.search(r"docs/operations\.md#([\w-]+)", str(props.get("AlarmDescription", "")))
        if not m:
            problems.append(f"{where}: AlarmDescription names no runbook (docs/operations.md#...)")
        elif m.group(1) not in sections:
            problems.append(f"{where}: runbook section #{m.group(1)} is missing in docs/operations.md")
        elif "first action" not in sections[m.group(1)].lower():
            problems.append(f"{where}: runbook section #{m.group(1)} names no first action")
        if "Metrics" in props:
            ids = {x["Id"] for x in props["Metrics"]}
            returned = [x for x in props["Metrics"] if x.get("ReturnData", True)]
            if len(returned) != 1:
                problems.append(f"{where}: exactly one metric-math entry must return data")
            for x in props["Metrics"]:
                expr = x.get("Expression")
                if isinstance(expr, dict):
                    expr = expr.get("Fn::Sub", "")
                if expr:
                    used = set(re.findall(r"(?<![\w$])([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()", re.sub(r"\$\{[^}]+\}", "0", expr)))
                    unknown = used - ids - MATH_WORDS
                    if unknown:
                        problems.append(f"{where}: expression uses undefined ids {sorted(unknown)}")
        resolver = resolvers[1]
        for i, m in enumerate(metrics):
            mw = f"{where} metric {m.get('Id', i)}"
            rdims = resolver.value(m.get("Dimensions", []))
            ns = m.get("Namespace")
            if ns == "MindfulConnect":
                for d in m.get("Dimensions", []):
                    if not isinstance(d["Value"], str):
                        problems.append(f"{mw}: dimension {d['Name']} must be a literal (the function's own name)")
                mindful(mw, m, rdims)
            elif ns == "AWS/Lambda":
                if m["MetricName"] not in LAMBDA_METRICS:
                    problems.append(f"{mw}: AWS/Lambda {m['MetricName']} is not a metric this stack expects")
                dims = m.get("Dimensions", [])
                ok = (len(dims) == 1 and dims[0]["Name"] == "FunctionName"
                      and isinstance(dims[0]["Value"], dict)
                      and dims[0]["Value"].get("Fn::Sub") in {"${FunctionNamePrefix}" + f for f in FUNCTIONS})
                if not ok:
                    problems.append(f"{mw}: FunctionName must be ${{FunctionNamePrefix}}<function> "
                                    f"(the deployed names), got {dims!r}")
            elif ns == "AWS/Connect":
                if m["MetricName"] not in CONNECT_METRICS:
                    problems.append(f"{mw}: AWS/Connect {m['MetricName']} is not a flow metric")
                names = [d["Name"] for d in m.get("Dimensions", [])]
                if names != CONNECT_FLOW_DIMENSIONS:
                    problems.append(f"{mw}: dimensions must be {CONNECT_FLOW_DIMENSIONS}, got {names}")
                values = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
                if values.get("MetricGroup") != "ContactFlow":
                    problems.append(f"{mw}: MetricGroup must be ContactFlow")
                if alarm.get("Condition") != "HasConnect":
                    problems.append(f"{where}: AWS/Connect alarms need Condition HasConnect")
            else:
                problems.append(f"{mw}: unexpected namespace {ns!r}")
        connect_flows = set()
        for m in metrics:
            if m.get("Namespace") == "AWS/Connect":
                for d in m["Dimensions"]:
                    if d["Name"] == "ContactFlowName":
                        sub = d["Value"].get("Fn::Sub", "") if isinstance(d["Value"], dict) else ""
                        if not sub.startswith("${FlowNamePrefix}"):
                            problems.append(f"{where}: ContactFlowName must start with ${{FlowNamePrefix}}")
                        connect_flows.add(sub.replace("${FlowNamePrefix}", "", 1))
        if connect_flows and connect_flows != flows:
            problems.append(f"{where}: covers flows {sorted(connect_flows)}, the connect stack has {sorted(flows)}")

    # Thresholds explained in the runbook.
    for p in sorted(threshold_params):
        if p not in runbook:
            problems.append(f"threshold parameter {p} is not explained in docs/operations.md")

    # Duration thresholds: above the request budget, below the flows' block time limit.
    limits = flow_time_limits()
    timeout = lambda_timeout_ms()
    for fn, p in DURATION_PARAMS.items():
        if p not in params:
            problems.append(f"parameter {p} is missing")
            continue
        value = int(params[p]["Default"])
        limit = min(limits.get(fn, CONNECT_BLOCK_MAX_MS), CONNECT_BLOCK_MAX_MS, timeout)
        if not value < limit:
            problems.append(f"{p}={value} ms is not below {fn}'s limit {limit} ms (the shortest "
                            "synchronous flow block wait and the Lambda timeout)")
        budget = BUDGET_PARAMS.get(fn)
        if budget and not value > int(base["Parameters"][budget]["Default"]):
            problems.append(f"{p}={value} ms is not above {fn}'s {budget} "
                            f"({base['Parameters'][budget]['Default']} ms): it would fire on every slow Mindful answer")
        if int(params[p].get("MaxValue", CONNECT_BLOCK_MAX_MS)) > CONNECT_BLOCK_MAX_MS:
            problems.append(f"{p}: MaxValue above Connect's 8 s block limit")

    # Log groups of the queries and of the dashboard.
    function_groups = {"/aws/lambda/${FunctionNamePrefix}" + f for f in FUNCTIONS}
    base_groups = {r["Properties"]["LogGroupName"]["Fn::Sub"] for r in base["Resources"].values()
                   if r["Type"] == "AWS::Logs::LogGroup"}
    if base_groups != function_groups:
        problems.append(f"base.yaml log groups {sorted(base_groups)} are not {sorted(function_groups)}")
    if len(queries) < 4:
        problems.append(f"{len(queries)} saved queries, expected 4")
    all_queries = []
    for name, q in queries.items():
        props = q["Properties"]
        groups = {g.get("Fn::Sub") for g in props["LogGroupNames"] if isinstance(g, dict) and "Fn::Sub" in g}
        if not groups or not groups <= function_groups:
            problems.append(f"query {name}: LogGroupNames must be the functions' log groups")
        all_queries.append((f"query {name}", props["QueryString"]))

    # Dashboard, resolved without and with the Connect alarms.
    for resolver in resolvers:
        for dname, dash in resources(ops, "AWS::CloudWatch::Dashboard").items():
            where = f"dashboard {dname} (ConnectInstanceArn={resolver.params['ConnectInstanceArn']!r})"
            try:
                body = json.loads(resolver.value(dash["Properties"]["DashboardBody"]))
            except (json.JSONDecodeError, TypeError) as e:
                problems.append(f"{where}: DashboardBody is not JSON: {e}")
                continue
            want = {resolver.value(a["Properties"]["AlarmName"]) for a in alarms.values() if resolver.active(a)}
            listed = set()
            for w in body["widgets"]:
                if w.get("type") == "alarm":
                    listed |= {arn.rsplit(":alarm:", 1)[-1] for arn in w["properties"]["alarms"]}
            if listed != want:
                problems.append(f"{where}: alarm widget lists {sorted(listed ^ want)} wrongly")
            prefix = resolver.params["FunctionNamePrefix"]
            for i, m in enumerate(dashboard_metrics(body)):
                mw = f"{where} metric {i} ({m['MetricName']})"
                if m["Namespace"] == "MindfulConnect":
                    mindful(mw, m, m["Dimensions"])
                elif m["Namespace"] == "AWS/Lambda":
                    fn = {d["Name"]: d["Value"] for d in m["Dimensions"]}.get("FunctionName", "")
                    if m["MetricName"] not in LAMBDA_METRICS or fn not in {prefix + f for f in FUNCTIONS}:
                        problems.append(f"{mw}: not a metric of the deployed functions")
                else:
                    problems.append(f"{mw}: unexpected namespace {m['Namespace']!r}")
            for w in body["widgets"]:
                if w.get("type") == "log":
                    sources = set(re.findall(r"SOURCE\s+'([^']*)'", w["properties"]["query"]))
                    if sources != {f"/aws/lambda/{prefix}{f}" for f in FUNCTIONS}:
                        problems.append(f"{where}: log widget {w['properties'].get('title')!r} must read the three function log groups")
            if resolver is resolvers[0]:
                all_queries += [(f"{where} log widget", q) for q in dashboard_queries(body)]

    # Every field a query reads exists in the real log line (or REPORT line / flow log).
    if emitted is not None:
        known = emitted.log_fields | PLATFORM_FIELDS | FLOW_LOG_FIELDS
        for where, q in all_queries:
            fields, _ = query_fields(q)
            unknown = fields - known
            if unknown:
                problems.append(f"{where}: reads fields no log line has: {sorted(unknown)} "
                                f"(the invocation line has {sorted(emitted.log_fields)})")
    return problems


# --- self-test -----------------------------------------------------------------------------
def mutations():
    def alarm(ops, name):
        return ops["Resources"][name]["Properties"]

    def m_metric(ops):
        alarm(ops, "AgentAnswerMindfulFailingAlarm")["MetricName"] = "Errorz"

    def m_dims(ops):
        alarm(ops, "AgentAnswerMindfulSlowAlarm")["Dimensions"].append({"Name": "ErrorCode", "Value": "timeout"})

    def m_status(ops):
        alarm(ops, "ContextLostAlarm")["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"][1]["Value"] = "notfound"

    def m_function(ops):
        alarm(ops, "DatastoreProxyMindfulFailingAlarm")["Dimensions"][0]["Value"] = "datastore_proxy"

    def m_literal(ops):
        alarm(ops, "AgentAnswerMindfulFailingAlarm")["Threshold"] = 5

    def m_missing(ops):
        del alarm(ops, "OcwPhraseLambdaErrorsAlarm")["TreatMissingData"]

    def m_breaching(ops):
        alarm(ops, "OcwPhraseThrottlesAlarm")["TreatMissingData"] = "breaching"

    def m_duration(ops):
        ops["Parameters"]["DatastoreProxyDurationAlarmMs"]["Default"] = 5000

    def m_below_budget(ops):
        ops["Parameters"]["AgentAnswerDurationAlarmMs"]["Default"] = 1500

    def m_query(ops):
        q = ops["Resources"]["FailedInvocationsQuery"]["Properties"]
        q["QueryString"] = q["QueryString"].replace("contact_id", "contactId")

    def m_dashboard(ops):
        body = ops["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Join"][1]
        body[0]["Fn::Sub"] = body[0]["Fn::Sub"].replace('"UpstreamRequests", "Function", "agent-answer"',
                                                        '"UpstreamRequestz", "Function", "agent-answer"', 1)

    def m_search(ops):
        body = ops["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Join"][1]
        body[0]["Fn::Sub"] = body[0]["Fn::Sub"].replace('{MindfulConnect,Function,Status}', '{MindfulConnect,Function,Method}')

    def m_runbook(ops):
        alarm(ops, "ContextLostAlarm")["AlarmDescription"] = "see docs/operations.md#nope"

    def m_lambda_name(ops):
        alarm(ops, "AgentAnswerThrottlesAlarm")["Dimensions"][0]["Value"] = "agent-answer"

    def m_flows(ops):
        metrics = alarm(ops, "ConnectFlowErrorsAlarm")["Metrics"]
        metrics.pop(4)
        metrics[-1]["Expression"] = metrics[-1]["Expression"].replace(" + FILL(customerqueue, 0)", "")

    def m_expression(ops):
        alarm(ops, "ConnectFlowFatalErrorsAlarm")["Metrics"][-1]["Expression"] += " + FILL(otherflow, 0)"

    def m_actions(ops):
        alarm(ops, "DatastoreProxyDurationAlarm")["OKActions"] = []

    def m_widget(ops):
        body = ops["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Join"][1]
        body[0]["Fn::Sub"] = body[0]["Fn::Sub"].replace(
            '"arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${FunctionNamePrefix}ocw-phrase-throttles",\n', "", 1)

    return [
        ("an alarm on a metric nobody emits", m_metric, "no function emits MindfulConnect Errorz"),
        ("an alarm on a dimension set nobody emits", m_dims, "['ErrorCode', 'Function']"),
        ("an alarm on a status no function answers", m_status, "Status='notfound'"),
        ("an alarm on a function that does not exist", m_function, "Function='datastore_proxy'"),
        ("a threshold that is not a parameter", m_literal, "Threshold must be a stack parameter"),
        ("an alarm without TreatMissingData", m_missing, "TreatMissingData must be set"),
        ("an event count alarm breaching on missing data", m_breaching, "a quiet night"),
        ("a duration threshold above the flow block's limit", m_duration, "is not below datastore-proxy's limit"),
        ("a duration threshold below the request budget", m_below_budget, "not above agent-answer's"),
        ("a saved query reading a field the log line lacks", m_query, "['contactId']"),
        ("a dashboard metric nobody emits", m_dashboard, "UpstreamRequestz"),
        ("a dashboard SEARCH on a dimension set nobody emits", m_search, "['Function', 'Method']"),
        ("an alarm whose runbook section is missing", m_runbook, "#nope is missing"),
        ("a Lambda alarm on a name without the prefix", m_lambda_name, "FunctionName must be"),
        ("a Connect alarm missing a shipped flow", m_flows, "the connect stack has"),
        ("a metric-math expression with an undefined id", m_expression, "['otherflow']"),
        ("an alarm that does not notify on OK", m_actions, "OKActions must be"),
        ("an alarm missing from the dashboard's alarm widget", m_widget, "ocw-phrase-throttles"),
    ]


def self_test(ops, base, template, runbook, emitted) -> int:
    clean = check(ops, base, template, runbook, emitted)
    if clean:
        print("self-test: the unmodified template already fails:", *clean, sep="\n  ")
        return 1
    failed = 0
    cases = mutations()
    for what, mutate, expected in cases:
        broken = copy.deepcopy(ops)
        mutate(broken)
        problems = check(broken, base, template, runbook, emitted)
        hits = [p for p in problems if expected in p]
        if hits:
            print(f"self-test ok: {what}: {hits[0]}")
        else:
            print(f"self-test FAILED: {what} was not caught (problems: {problems})")
            failed += 1
    print(f"self-test: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


# --- the rehearsal: what moto deployed -----------------------------------------------------
def check_deployed(ops: dict, params_path: str) -> list[str]:
    import boto3
    import botocore.session
    from botocore.validate import ParamValidator

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import deploy_helper  # the names and derived values deploy.sh gives the stack

    problems: list[str] = []
    effective = deploy_helper.effective_params(params_path)
    stack = deploy_helper.names(effective)["OPERATIONS_STACK"]
    given = {k: v for k, v in effective.items() if k in ops["Parameters"]}
    values = {**defaults(ops), **given}
    cfn, cw, sns = boto3.client("cloudformation"), boto3.client("cloudwatch"), boto3.client("sns")
    lam = boto3.client("lambda")
    desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    if desc["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        problems.append(f"{stack}: {desc['StackStatus']}")
    deployed = {p["ParameterKey"]: p["ParameterValue"] for p in desc.get("Parameters", [])}
    for k, v in given.items():
        if deployed.get(k) != v:
            problems.append(f"{stack}: parameter {k}={deployed.get(k)!r}, the params say {v!r}")
    if problems:  # not the stack the params describe: compare nothing else, change nothing
        return problems
    outputs = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}
    account = boto3.client("sts").get_caller_identity()["Account"]
    pseudo = {"AWS::Region": cfn.meta.region_name, "AWS::AccountId": account,
              "AWS::Partition": "aws", "AWS::StackName": stack}
    refs = {"AlarmTopic": outputs.get("AlarmTopicArn", ""), "Dashboard": outputs.get("DashboardName", "")}
    r = Resolver(ops, values, pseudo, refs)

    # Topic and subscription.
    topic = outputs.get("AlarmTopicArn", "")
    topics = {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    if r.conditions["CreateTopic"] and topic not in topics:
        problems.append(f"{stack}: alarm topic {topic!r} does not exist")
    if r.conditions["CreateTopicWithEmail"]:
        subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if not any(s["Protocol"] == "email" and s["Endpoint"] == values["AlarmEmail"] for s in subs):
            problems.append(f"{stack}: no email subscription for {values['AlarmEmail']}")

    # Dashboard: the body the template resolves to.
    dash = ops["Resources"]["Dashboard"]["Properties"]
    name = r.value(dash["DashboardName"])
    got = json.loads(cw.get_dashboard(DashboardName=name)["DashboardBody"])
    if got != json.loads(r.value(dash["DashboardBody"])):
        problems.append(f"dashboard {name}: deployed body differs from the template's")
    alarm_widget = [w for w in got["widgets"] if w["type"] == "alarm"][0]

    # Alarms: moto's CloudFormation skips them; put them through the API and read them back.
    functions = {f"{values['FunctionNamePrefix']}{f}" for f in FUNCTIONS}
    for fn in functions:
        lam.get_function(FunctionName=fn)  # the deployed functions the alarms watch
    alarms = {k: a for k, a in resources(ops, "AWS::CloudWatch::Alarm").items() if r.active(a)}
    names = [r.value(a["Properties"]["AlarmName"]) for a in alarms.values()]
    already = {a["AlarmName"] for a in cw.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    if already:
        print(f"note: {len(already)} alarms exist already (moto's CloudFormation created them, or an earlier run)")
    for logical, a in alarms.items():
        props = r.value(a["Properties"])
        props["Threshold"] = float(props["Threshold"])
        for k in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if k in props:
                props[k] = int(props[k])
        for m in props.get("Metrics", []):
            if "MetricStat" in m:
                m["MetricStat"]["Period"] = int(m["MetricStat"]["Period"])
        cw.put_metric_alarm(**props)
        back = cw.describe_alarms(AlarmNames=[props["AlarmName"]])["MetricAlarms"]
        if not back:
            problems.append(f"alarm {props['AlarmName']}: not readable after PutMetricAlarm")
            continue
        b = back[0]
        param = a["Properties"]["Threshold"]["Ref"]
        if b["Threshold"] != float(values[param]):
            problems.append(f"alarm {b['AlarmName']}: threshold {b['Threshold']}, parameter {param}={values[param]}")
        for key in ("MetricName", "Namespace", "TreatMissingData", "ComparisonOperator", "AlarmActions", "OKActions"):
            if key in props and b.get(key) != props[key]:
                problems.append(f"alarm {b['AlarmName']}: {key} {b.get(key)!r} != {props[key]!r}")
        if b.get("AlarmActions") != [topic]:
            problems.append(f"alarm {b['AlarmName']}: actions {b.get('AlarmActions')} are not the topic {topic}")
        if "Dimensions" in props and sorted(map(str, b["Dimensions"])) != sorted(map(str, props["Dimensions"])):
            problems.append(f"alarm {b['AlarmName']}: dimensions {b['Dimensions']}")
        for d in props.get("Dimensions", []):
            if d["Name"] == "FunctionName" and d["Value"] not in functions:
                problems.append(f"alarm {b['AlarmName']}: watches {d['Value']}, not a deployed function")
        if "Metrics" in props and len(b.get("Metrics", [])) != len(props["Metrics"]):
            problems.append(f"alarm {b['AlarmName']}: {len(b.get('Metrics', []))} metrics read back")
        arn = f"arn:aws:cloudwatch:{pseudo['AWS::Region']}:{account}:alarm:{b['AlarmName']}"
        if arn not in alarm_widget["properties"]["alarms"]:
            problems.append(f"dashboard {name}: alarm widget lacks {arn}")

    # Saved queries: moto has no Logs Insights; validate the PutQueryDefinition requests.
    model = botocore.session.get_session().get_service_model("logs")
    shape = model.operation_model("PutQueryDefinition").input_shape
    for logical, q in resources(ops, "AWS::Logs::QueryDefinition").items():
        props = r.value(q["Properties"])
        request = {"name": props["Name"], "queryString": props["QueryString"],
                   "logGroupNames": props["LogGroupNames"]}
        report = ParamValidator().validate(request, shape)
        if report.has_errors():
            problems.append(f"query {logical}: {report.generate_report()}")
        for g in props["LogGroupNames"]:
            if g.startswith("/aws/lambda/") and g[len("/aws/lambda/"):] not in functions:
                problems.append(f"query {logical}: {g} is not a deployed function's log group")
    if not problems:
        print(f"{stack}: {len(alarms)} alarms (put through PutMetricAlarm and read back: moto 5.2.5's "
              f"CloudFormation has no AWS::CloudWatch::Alarm), dashboard {name} "
              f"({len(got['widgets'])} widgets), topic {topic}, "
              f"{len(resources(ops, 'AWS::Logs::QueryDefinition'))} query definitions "
              "(request shapes validated: moto has no Logs Insights): ok")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emitted", type=pathlib.Path, help="EMF + log lines dumped by the journey test")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--deployed", metavar="PARAMS")
    args = ap.parse_args()
    ops = load(OPERATIONS)
    if args.deployed:
        problems = check_deployed(ops, args.deployed)
        for p in problems:
            print(f"check_operations: {p}", file=sys.stderr)
        return 1 if problems else 0
    base, template = load(BASE), load(TEMPLATE)
    runbook = RUNBOOK.read_text(encoding="utf-8")
    emitted = Emitted(args.emitted) if args.emitted else None
    if args.self_test:
        if emitted is None:
            ap.error("--self-test needs --emitted (the checks tie alarms to emitted metrics)")
        return self_test(ops, base, template, runbook, emitted)
    problems = check(ops, base, template, runbook, emitted)
    for p in problems:
        print(f"check_operations: {p}", file=sys.stderr)
    if problems:
        return 1
    n_alarms = len(resources(ops, "AWS::CloudWatch::Alarm"))
    tie = (f"tied to {len(emitted.metrics)} emitted metric/dimension sets and the log fields "
           f"{sorted(emitted.log_fields)}") if emitted else "(no --emitted: the tie to emitted metrics was not checked)"
    print(f"check_operations: {n_alarms} alarms, {len(resources(ops, 'AWS::Logs::QueryDefinition'))} "
          f"saved queries, 1 dashboard OK; {tie}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
