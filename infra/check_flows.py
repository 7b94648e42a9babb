#!/usr/bin/env python3
"""Static checks of the contact flows embedded in infra/template.yaml.

cfn-lint validates the CloudFormation resources but not the flow-language `Content`, and Amazon
Connect only validates it at deploy time. This checker runs offline and checks, for every
AWS::Connect::ContactFlow of the template:

* structure: valid JSON, `Version` 2019-10-30, `StartAction`, unique `Identifier`s, known
  action `Type`s allowed in the flow's type, every transition target exists, every action is
  reachable, non-terminal actions have a way out;
* error handling: the error types each block can raise are handled; every error branch of a
  Lambda call keeps the contact (reaches a queue / transfer / end-of-whisper on its default
  path before any disconnect); a whisper flow always ends with EndFlowExecution;
  TransferContactToQueue is only reached with a working queue set;
* the functions' contract (SPEC.md): every `LambdaFunctionARN` is one of the template's
  function ARN parameters; invocations pass only parameter names the function knows, never a
  secret as a literal; block time limits fit the functions' budgets; every `$.External.x` read
  is an output of the Lambda function called last on every path to the read;
* placeholders `${...}` resolve to template parameters or to other flows of the template;
* the optional enhancements (README "Optional enhancements"):
  - second-chance offers: a CUSTOMER_QUEUE flow uses only blocks allowed there, never hangs up
    on a queued caller (every failure goes back to its Loop prompts or ends the queue flow),
    interrupts its Loop prompts at a set interval, passes ocw-phrase both `offers_made` (a
    contact attribute) and `max_offers`, and stores `$.External.offers_made` back into that
    attribute before it offers; a callback is only offered when `$.External.offer_callback` is
    true, and the Call Target transfer only follows a POST answered `status=ok`; the flow that
    sets the CustomerQueue hook reads the `SecondChanceOffers` switch;
  - consolidated return-call destinations: every datastore POST stores the same Data Keys,
    `queue_arn` = `$.Queue.ARN` and `routing_attribute` = the contact attribute named by
    `ReturnRoutingAttribute`; the return flow sets the working queue from `$.External.queue_arn`,
    restores `routing_attribute` into that attribute, and reaches `CallbackDefaultQueueArn` when
    the record is missing, expired or unreadable.

Usage: infra/check_flows.py [--template infra/template.yaml] [--base infra/base.yaml]
       infra/check_flows.py --self-test   # prove that broken flows are caught
Needs PyYAML (installed with cfn-lint by .ci/infra-checks.sh).
"""
from __future__ import annotations

import argparse
import copy
import json
import pathlib
import re
import sys
from collections import deque

import yaml

INFRA = pathlib.Path(__file__).resolve().parent

# --- The functions' contract (SPEC.md) ------------------------------------------------------
FUNCTION_PARAMS = {
    "OcwPhraseFunctionArn": "ocw-phrase",
    "DatastoreProxyFunctionArn": "datastore-proxy",
    "AgentAnswerFunctionArn": "agent-answer",
}
COMMON_OUTPUTS = {"status", "error", "error_message"}
OCW_OUTPUTS = COMMON_OUTPUTS | {"OCW", "OCW_seconds", "offer_callback", "OCW_language"}
# offers_made comes back (the count after the decision) when the flow counts offers.
OCW_COUNTING_INPUTS = {"offers_made", "max_offers"}
OCW_KNOWN_INPUTS = {"OCW", "agents_available", "language", "cap_seconds", "offer_threshold_seconds"} \
    | OCW_COUNTING_INPUTS
DS_RESERVED = {"method", "token", "customer_contact_number"}
# error responses also carry http_status when Mindful answered (README "Output")
DS_POST_OUTPUTS = COMMON_OUTPUTS | {"customer_contact_number", "time_to_expire", "http_status"}
# A GET returns every field of the stored record, flattened; the Data Keys come on top.
DS_GET_RECORD_FIELDS = {
    "customer_contact_number", "ani", "ecbt", "time_to_expire", "organization.id",
    "data_set_template_id", "data_set_template_name",
}
AA_INPUTS = {"Token_URL", "Client_ID", "Secret_Num", "API_URL", "Queue_ID", "Agent_ID", "Temp_Tel"}
AA_OUTPUTS = COMMON_OUTPUTS | {"http_status", "deduplicated"}
# Parameters that carry secrets: a flow may bind them to an attribute, never to a literal.
SECRET_INPUTS = {"datastore-proxy": {"token"}, "agent-answer": {"Secret_Num"}}
# Base-stack parameter holding each function's default REQUEST_BUDGET_MS.
BUDGET_PARAMS = {
    "datastore-proxy": "DatastoreRequestBudgetMs",
    "agent-answer": "AgentAnswerRequestBudgetMs",
}
BUDGET_MARGIN_MS = 500  # cold start + Connect overhead on top of the function's own budget

# --- Flow language reference -------------------------------------------------------------------
# The rules below come from Amazon Connect's Flow language reference (one page per action type)
# and the flow block pages of the Administrator Guide; each row names its page. What this bundle
# adds on top of the reference (its own policy) is checked separately and says so in its message.
VERSION = "2019-10-30"
FLOW_LANGUAGE = "https://docs.aws.amazon.com/connect/latest/APIReference/"
ADMIN_GUIDE = "https://docs.aws.amazon.com/connect/latest/adminguide/"
ACTIONS_PAGE = FLOW_LANGUAGE + "flow-language-actions.html"
LOOP_PROMPTS_PAGE = ADMIN_GUIDE + "loop-prompts.html"
ATTRIBUTES_PAGE = ADMIN_GUIDE + "connect-attrib-list.html"

# CloudFormation AWS::Connect::ContactFlow Type values, grouped as the reference names them.
INBOUND = frozenset({"CONTACT_FLOW"})                      # "contact flows" / "inbound flows"
TRANSFER = frozenset({"AGENT_TRANSFER", "QUEUE_TRANSFER"})  # "transfer flows"
QUEUE = frozenset({"CUSTOMER_QUEUE"})                       # "customer queue flows"
HOLD = frozenset({"CUSTOMER_HOLD", "AGENT_HOLD"})           # "hold flows"
WHISPER_TYPES = frozenset({"CUSTOMER_WHISPER", "AGENT_WHISPER", "OUTBOUND_WHISPER"})  # "whisper flows"
ALL_FLOWS = INBOUND | TRANSFER | QUEUE | HOLD | WHISPER_TYPES

# `$.` namespaces a flow may read, and the flow types where they hold data (ATTRIBUTES_PAGE:
# agent attributes "are available only in" whisper, hold and transfer-to-agent flows;
# "Initiation method doesn't work in Agent whisper flows or Customer whisper flows").
# $.External, $.Metrics and $.LambdaInvocation also need an earlier block on every path
# (InvokeLambdaFunction SYNCHRONOUS, GetMetricData, InvokeLambdaFunction ASYNCHRONOUS): checked
# by data flow in check_flow.
NAMESPACES = {
    "Attributes": ALL_FLOWS, "Channel": ALL_FLOWS, "ContactId": ALL_FLOWS,
    "CustomerEndpoint": ALL_FLOWS, "SystemEndpoint": ALL_FLOWS, "InitialContactId": ALL_FLOWS,
    "PreviousContactId": ALL_FLOWS, "LanguageCode": ALL_FLOWS, "Queue": ALL_FLOWS,
    "External": ALL_FLOWS, "Metrics": ALL_FLOWS, "LambdaInvocation": ALL_FLOWS,
    "StoredCustomerInput": ALL_FLOWS,
    "Agent": WHISPER_TYPES | HOLD | {"AGENT_TRANSFER"},
    "InitiationMethod": ALL_FLOWS - {"AGENT_WHISPER", "CUSTOMER_WHISPER"},
}
ANY_NS = frozenset(NAMESPACES)
NO_NS = frozenset()
NAMESPACE_RE = re.compile(r"\$\.([A-Za-z]+)")
# "a single valid JSONPath identifier" (placeholders ${...} are filled in by CloudFormation first)
JSONPATH_RE = re.compile(r"^\$\.[A-Za-z0-9_.${}-]+$")


class P:
    """One parameter of an action: required or not; how it may be given ("static": no `$.`;
    "jsonpath": static or a single JSONPath; "path": a single JSONPath; "dynamic": anything);
    the static values it may take."""

    def __init__(self, required=False, value="dynamic", allowed=None):
        self.required, self.value, self.allowed = required, value, allowed


def _param_is(name, value, default=None):
    return lambda params: str(params.get(name, default)) == value


class Row:
    """One action type of the reference. errors: error type -> (when it is allowed, as a test on
    the action's Parameters, or None for always; the words for the message)."""

    def __init__(self, page, flow_types, params, errors, *, conditions=False, next_action="required",
                 namespaces=ANY_NS, one_of=()):
        self.page, self.flow_types, self.params, self.errors = page, frozenset(flow_types), params, errors
        self.conditions, self.next_action, self.namespaces, self.one_of = conditions, next_action, namespaces, one_of

    def allowed_errors(self, params) -> set[str]:
        return {e for e, (when, _) in self.errors.items() if when is None or when(params)}


ALWAYS = (None, "")
ACTIONS = {
    "UpdateFlowLoggingBehavior": Row(
        FLOW_LANGUAGE + "flow-control-actions-updateflowloggingbehavior.html", ALL_FLOWS,
        {"FlowLoggingBehavior": P(True, "static", {"Enabled", "Disabled"})}, {}, namespaces=NO_NS),
    "UpdateContactAttributes": Row(
        FLOW_LANGUAGE + "contact-actions-updatecontactattributes.html", ALL_FLOWS,
        {"Attributes": P(True), "TargetContact": P(False, "static", {"Current", "Related"})},
        {"NoMatchingError": ALWAYS}),
    "UpdateContactTargetQueue": Row(
        FLOW_LANGUAGE + "contact-actions-updatecontacttargetqueue.html", INBOUND | TRANSFER,
        {"QueueId": P(False, "jsonpath"), "AgentId": P(False, "jsonpath")},
        {"NoMatchingError": ALWAYS}, one_of=("QueueId", "AgentId")),
    "UpdateContactRoutingBehavior": Row(
        FLOW_LANGUAGE + "contact-actions-updatecontactroutingbehavior.html", INBOUND,
        {"QueuePriority": P(False, "static"), "QueueTimeAdjustmentSeconds": P(False, "static")}, {},
        namespaces=NO_NS, one_of=("QueuePriority", "QueueTimeAdjustmentSeconds")),
    "UpdateContactEventHooks": Row(
        FLOW_LANGUAGE + "contact-actions-updatecontacteventhooks.html", ALL_FLOWS,
        {"EventHooks": P(True)}, {"NoMatchingError": ALWAYS}),
    "Compare": Row(
        FLOW_LANGUAGE + "flow-control-actions-compare.html", ALL_FLOWS,
        {"ComparisonValue": P(True, "path")}, {"NoMatchingCondition": ALWAYS}, conditions=True),
    "GetMetricData": Row(
        FLOW_LANGUAGE + "flow-control-actions-getmetricdata.html", ALL_FLOWS,
        {"QueueId": P(), "AgentId": P(), "QueueChannel": P(False, "dynamic", {"Voice", "Chat"})},
        {"NoMatchingError": ALWAYS}),
    "TransferToFlow": Row(
        FLOW_LANGUAGE + "flow-control-actions-transfertoflow.html", INBOUND | TRANSFER,
        {"ContactFlowId": P(True, "jsonpath")}, {"NoMatchingError": ALWAYS}),
    "EndFlowExecution": Row(
        FLOW_LANGUAGE + "flow-control-actions-endflowexecution.html", WHISPER_TYPES | QUEUE,
        {}, {}, next_action="none", namespaces=NO_NS),
    "TransferContactToQueue": Row(
        FLOW_LANGUAGE + "contact-actions-transfercontacttoqueue.html", INBOUND | TRANSFER,
        {}, {"QueueAtCapacity": ALWAYS, "NoMatchingError": ALWAYS}, namespaces=NO_NS),
    "DequeueContactAndTransferToQueue": Row(
        FLOW_LANGUAGE + "contact-actions-dequeuecontactandtransfertoqueue.html", QUEUE,
        {"QueueId": P(False, "jsonpath"), "AgentId": P(False, "jsonpath")},
        {"QueueAtCapacity": ALWAYS, "NoMatchingError": ALWAYS}, one_of=("QueueId", "AgentId")),
    "InvokeLambdaFunction": Row(
        FLOW_LANGUAGE + "interactions-invokelambdafunction.html", ALL_FLOWS,
        {"LambdaFunctionARN": P(True), "InvocationTimeLimitSeconds": P(True, "static"),
         "InvocationType": P(False, "static", {"SYNCHRONOUS", "ASYNCHRONOUS"}),
         "LambdaInvocationAttributes": P(), "ResponseValidation": P(False, "static")},
        {"NoMatchingError": ALWAYS}),
    "MessageParticipant": Row(
        ADMIN_GUIDE + "participant-actions-messageparticipant.html", INBOUND | TRANSFER | WHISPER_TYPES | QUEUE,
        {"Text": P(), "SSML": P(), "PromptId": P(False, "jsonpath"), "Media": P()},
        {"NoMatchingError": ALWAYS}, one_of=("Text", "SSML", "PromptId", "Media")),
    "MessageParticipantIteratively": Row(
        ADMIN_GUIDE + "participant-actions-messageparticipantiteratively.html", QUEUE | HOLD,
        {"Messages": P(True), "InterruptFrequencySeconds": P(False, "static")},
        {"NoMatchingError": ALWAYS}, conditions=True, next_action="optional"),
    "GetParticipantInput": Row(
        FLOW_LANGUAGE + "participant-actions-getparticipantinput.html", INBOUND | TRANSFER | QUEUE,
        {"Text": P(), "SSML": P(), "PromptId": P(False, "jsonpath"), "Media": P(),
         "InputTimeLimitSeconds": P(True, "static"), "StoreInput": P(True, "static", {"True", "False"}),
         "InputValidation": P(False, "static"), "InputEncryption": P(), "DTMFConfiguration": P(False, "static")},
        {"NoMatchingCondition": (_param_is("StoreInput", "False"), "when StoreInput is False"),
         "InputTimeLimitExceeded": (_param_is("StoreInput", "False"), "when StoreInput is False"),
         "InvalidPhoneNumber": (lambda p: str(p.get("StoreInput")) == "True"
                                and "PhoneNumberValidation" in (p.get("InputValidation") or {}),
                                "when StoreInput is True with PhoneNumberValidation"),
         "NoMatchingError": ALWAYS},
        conditions=True, one_of=("Text", "SSML", "PromptId", "Media")),
    "TransferParticipantToThirdParty": Row(
        ADMIN_GUIDE + "participant-actions-transferparticipanttothirdparty.html", INBOUND | TRANSFER | QUEUE,
        {"ThirdPartyPhoneNumber": P(True), "ThirdPartyConnectionTimeLimitSeconds": P(False, "jsonpath"),
         "ContinueFlowExecution": P(False, "static", {"True", "False"}),
         "ThirdPartyDTMFDigits": P(False, "jsonpath"), "CallerId": P()},
        {"CallFailed": (_param_is("ContinueFlowExecution", "True", "True"), "when ContinueFlowExecution is True"),
         "ConnectionTimeLimitExceeded": (_param_is("ContinueFlowExecution", "True", "True"),
                                         "when ContinueFlowExecution is True"),
         "NoMatchingError": ALWAYS}),
    "DisconnectParticipant": Row(
        FLOW_LANGUAGE + "participant-actions-disconnectparticipant.html", INBOUND | TRANSFER | QUEUE,
        {}, {}, next_action="none", namespaces=NO_NS),
}
# Blocks the Loop prompts page does not allow before a Loop prompts block (flow-language type ->
# block name): Get customer input, Loop, Play prompt, Start/Stop media streaming, Store customer
# input, Transfer to phone number, Transfer to queue (in a customer queue flow that block is
# DequeueContactAndTransferToQueue).
NOT_BEFORE_LOOP_PROMPTS = {
    "GetParticipantInput": "Get customer input / Store customer input",
    "ConnectParticipantWithLexBot": "Get customer input",
    "Loop": "Loop", "MessageParticipant": "Play prompt",
    "UpdateContactMediaStreamingBehavior": "Start/Stop media streaming",
    "TransferParticipantToThirdParty": "Transfer to phone number",
    "TransferContactToQueue": "Transfer to queue", "DequeueContactAndTransferToQueue": "Transfer to queue",
}
# Loop prompts page: "Always use an interruption period that's greater than 20 seconds".
MIN_INTERRUPT_EXCLUSIVE = 20
# UpdateContactEventHooks page: the valid event hooks.
EVENT_HOOKS = {"AgentHold", "AgentWhisper", "CustomerHold", "CustomerQueue", "CustomerRemaining",
               "CustomerWhisper", "DefaultAgentUI", "DisconnectAgentUI", "PauseContact", "ResumeContact"}
# Invoke AWS Lambda function block page: synchronous up to 8 s (the flow-language page: "no larger
# than 8"); the block page allows up to 60 s for asynchronous, the flow-language page does not,
# so the checker holds both modes to 8.
LAMBDA_BLOCK_PAGE = ADMIN_GUIDE + "invoke-lambda-function-block.html"
MAX_LAMBDA_LIMIT = 8
# ACTIONS_PAGE: an Identifier is at most 50 characters, without these characters or names.
IDENTIFIER_FORBIDDEN = set("%:(\\/)=$,;[]{}")
IDENTIFIER_RESERVED = {"__proto__", "constructor", "__defineGetter__", "__defineSetter__", "toString",
                       "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString", "valueOf"}

# --- This bundle's policy on top of the reference --------------------------------------------
# Which flow type each event hook must name.
HOOK_FLOW_TYPES = {"CustomerWhisper": {"CUSTOMER_WHISPER"}, "CustomerQueue": {"CUSTOMER_QUEUE"}}
# Stack parameters of the optional enhancements the flows must honour (when the template has them).
SECOND_CHANCE_SWITCH = "SecondChanceOffers"
ROUTING_ATTRIBUTE_PARAM = "ReturnRoutingAttribute"
DEFAULT_QUEUE_PARAM = "CallbackDefaultQueueArn"
CALL_TARGET_PARAM = "CallTargetPhoneNumber"
ATTRIBUTE_RE = re.compile(r"^\$\.Attributes\.([A-Za-z0-9_]+|\$\{[A-Za-z0-9]+\})$")
# Actions that keep the contact alive and routed (a Lambda failure must lead to one of these).
KEEPS_CONTACT = {
    "TransferContactToQueue", "TransferParticipantToThirdParty", "TransferToFlow", "EndFlowExecution",
}
EXTERNAL_RE = re.compile(r"\$\.External\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")
PLACEHOLDER_RE = re.compile(r"\$\{([^}!][^}]*)\}")
E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")


# --- Template loading -------------------------------------------------------------------------
class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags (!Sub, !Ref, ...) as plain values."""


def _cfn_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"!" + tag_suffix: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: pathlib.Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


# --- Helpers ----------------------------------------------------------------------------------
def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def edges(action: dict):
    """(target, kind) for every transition; kind is 'next', 'condition' or the error type."""
    t = action.get("Transitions") or {}
    if t.get("NextAction"):
        yield t["NextAction"], "next"
    for c in t.get("Conditions") or []:
        yield c.get("NextAction"), "condition"
    for e in t.get("Errors") or []:
        yield e.get("NextAction"), e.get("ErrorType") or "?"


def default_next(action: dict):
    """Where the contact goes when nothing matches: NextAction, else the NoMatchingCondition branch."""
    t = action.get("Transitions") or {}
    if t.get("NextAction"):
        return t["NextAction"]
    for e in t.get("Errors") or []:
        if e.get("ErrorType") in ("NoMatchingCondition", "NoMatchingError"):
            return e.get("NextAction")
    return None


def is_terminal(action: dict) -> bool:
    """A block after which the flow runs no further action (DisconnectParticipant,
    EndFlowExecution)."""
    row = ACTIONS.get(action.get("Type"))
    return bool(row) and row.next_action == "none"


def propagate(actions: dict, start: str, initial, transfer):
    """Forward dataflow to a fixpoint. State = frozenset of facts; transfer(action, kind, state,
    target) gives the facts that flow along one transition."""
    states = {ident: frozenset() for ident in actions}
    states[start] = frozenset(initial)
    work = deque([start])
    while work:
        ident = work.popleft()
        action = actions[ident]
        for target, kind in edges(action):
            if target not in actions:
                continue
            out = transfer(action, kind, states[ident], target)
            merged = states[target] | out
            if merged != states[target]:
                states[target] = merged
                work.append(target)
    return states


class Checker:
    def __init__(self, template: dict, base: dict | None):
        self.template = template
        self.errors: list[str] = []
        self.params = set((template.get("Parameters") or {}).keys())
        self.resources = template.get("Resources") or {}
        self.flow_types = {
            name: (res.get("Properties") or {}).get("Type")
            for name, res in self.resources.items()
            if res.get("Type") == "AWS::Connect::ContactFlow"
        }
        self.budgets = {}
        base_params = (base or {}).get("Parameters") or {}
        for fn, pname in BUDGET_PARAMS.items():
            default = (base_params.get(pname) or {}).get("Default")
            if default is not None:
                self.budgets[fn] = int(default)
        self.flows: dict[str, dict] = {}

    def err(self, where: str, msg: str):
        self.errors.append(f"{where}: {msg}")

    # -- entry point
    def run(self) -> list[str]:
        for pname in FUNCTION_PARAMS:
            if pname not in self.params:
                self.err("template", f"missing function ARN parameter {pname}")
        if not self.flow_types:
            self.err("template", "no AWS::Connect::ContactFlow resource")
        for name in self.flow_types:
            content = (self.resources[name].get("Properties") or {}).get("Content")
            if isinstance(content, dict) and "!Sub" in content:
                content = content["!Sub"]
            if not isinstance(content, str):
                self.err(name, "Content must be a string (or !Sub string) of flow-language JSON")
                continue
            try:
                self.flows[name] = json.loads(content)
            except json.JSONDecodeError as e:
                self.err(name, f"Content is not valid JSON: {e}")
        data_keys = self.posted_data_keys()
        for name, flow in self.flows.items():
            self.check_flow(name, self.flow_types[name], flow, data_keys)
        self.check_return_destinations()
        self.check_second_chance_wiring()
        return self.errors

    def actions_of(self, name: str) -> dict:
        flow = self.flows.get(name)
        raw = flow.get("Actions") if isinstance(flow, dict) else None
        return {a["Identifier"]: a for a in raw or [] if isinstance(a, dict) and a.get("Identifier")}

    # -- consolidated return-call destinations
    def check_return_destinations(self):
        posts = []  # (where, keys)
        for name in self.flows:
            for ident, action in self.actions_of(name).items():
                fn, attrs = self.lambda_call(action)
                if fn != "datastore-proxy":
                    continue
                where = f"{name} ({self.flow_types[name]}) {ident}"
                method = str(attrs.get("method", "")).upper()
                if method == "POST":
                    posts.append((where, frozenset(set(attrs) - DS_RESERVED)))
                    if attrs.get("queue_arn") != "$.Queue.ARN":
                        self.err(where, "datastore POST must store queue_arn = $.Queue.ARN "
                                        "(the return flow routes the callback by it)")
                    if ROUTING_ATTRIBUTE_PARAM in self.params:
                        want = f"$.Attributes.${{{ROUTING_ATTRIBUTE_PARAM}}}"
                        if attrs.get("routing_attribute") != want:
                            self.err(where, f"datastore POST must store routing_attribute = {want} "
                                            f"(the attribute named by {ROUTING_ATTRIBUTE_PARAM})")
                elif method == "GET":
                    self.check_return_flow(name, ident)
        if len({keys for _, keys in posts}) > 1:
            listing = "; ".join(f"{w}: {sorted(k)}" for w, k in posts)
            self.err("template", "datastore POSTs store different Data Keys (one Data Set Template "
                                 f"serves every offer): {listing}")

    def check_return_flow(self, name: str, get_ident: str):
        where = f"{name} ({self.flow_types[name]})"
        actions = self.actions_of(name)
        from_record = [i for i, a in actions.items() if a.get("Type") == "UpdateContactTargetQueue"
                       and (a.get("Parameters") or {}).get("QueueId") == "$.External.queue_arn"]
        if not from_record:
            self.err(where, "the return flow does not set the working queue from $.External.queue_arn")
        if ROUTING_ATTRIBUTE_PARAM in self.params:
            key = f"${{{ROUTING_ATTRIBUTE_PARAM}}}"
            if not any(a.get("Type") == "UpdateContactAttributes"
                       and ((a.get("Parameters") or {}).get("Attributes") or {}).get(key) == "$.External.routing_attribute"
                       for a in actions.values()):
                self.err(where, f"the return flow does not restore $.External.routing_attribute into the "
                                f"attribute named by {ROUTING_ATTRIBUTE_PARAM} ({key})")
        # Missing/expired record (not_found), upstream error, Lambda error, bad queue ARN:
        # each must reach the documented default queue before the transfer.
        starts = [(f"error branch of {get_ident}", t) for t, k in edges(actions[get_ident]) if k not in ("next", "condition")]
        nxt = actions.get((actions[get_ident].get("Transitions") or {}).get("NextAction"))
        if nxt and nxt.get("Type") == "Compare" and (nxt.get("Parameters") or {}).get("ComparisonValue") == "$.External.status":
            starts.append((f"status other than ok at {nxt['Identifier']}", default_next(nxt)))
        for ident in from_record:
            starts += [(f"error branch of {ident}", t) for t, k in edges(actions[ident]) if k not in ("next", "condition")]
        default_ref = f"${{{DEFAULT_QUEUE_PARAM}}}"
        for label, target in starts:
            path, cur = [], target
            while cur in actions and cur not in path and len(path) < 50:
                path.append(cur)
                a = actions[cur]
                if a.get("Type") == "UpdateContactTargetQueue" and (a.get("Parameters") or {}).get("QueueId") == default_ref:
                    break
                if a.get("Type") in KEEPS_CONTACT or a.get("Type") == "TransferContactToQueue" or is_terminal(a):
                    cur = None
                    break
                cur = default_next(a)
            else:
                cur = None
            if cur is None or cur not in actions:
                self.err(where, f"{label} does not reach the default queue {default_ref} "
                                f"(record missing, expired or unreadable): {' -> '.join(path) or target}")

    # -- second-chance offers
    def check_second_chance_wiring(self):
        queue_flows = [n for n, t in self.flow_types.items() if t == "CUSTOMER_QUEUE" and n in self.flows]
        counted = set()
        for n in queue_flows:
            for a in self.actions_of(n).values():
                fn, attrs = self.lambda_call(a)
                m = ATTRIBUTE_RE.match(str(attrs.get("offers_made", ""))) if fn == "ocw-phrase" else None
                if m:
                    counted.add(m.group(1))
        setters = {}
        for n in self.flows:
            for ident, a in self.actions_of(n).items():
                hooks = (a.get("Parameters") or {}).get("EventHooks") or {}
                if a.get("Type") == "UpdateContactEventHooks" and isinstance(hooks, dict) and "CustomerQueue" in hooks:
                    m = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.ContactFlowArn\}", str(hooks["CustomerQueue"]))
                    if m:
                        setters.setdefault(m.group(1), []).append((n, ident))
        for q in queue_flows:
            if q not in setters:
                self.err(q, "no flow sets this customer queue flow (UpdateContactEventHooks CustomerQueue)")
        switch = f"${{{SECOND_CHANCE_SWITCH}}}"
        for q, places in setters.items():
            for n, ident in places:
                where = f"{n} ({self.flow_types[n]}) {ident}"
                if SECOND_CHANCE_SWITCH in self.params and not any(switch in s for s in strings_in(self.flows[n])):
                    self.err(where, f"sets the customer queue flow but the flow never reads {switch}: "
                                    "the feature could not be switched off")
                actions = self.actions_of(n)
                offers = any(a.get("Type") == "GetParticipantInput" for a in actions.values())
                for attr in counted:
                    sets_it = any(a.get("Type") == "UpdateContactAttributes"
                                  and attr in ((a.get("Parameters") or {}).get("Attributes") or {})
                                  for a in actions.values())
                    if offers and not sets_it:
                        self.err(where, f"offers a callback but never counts it in the {attr} attribute: "
                                        "the customer queue flow would make max_offers more offers")

    def posted_data_keys(self) -> set[str]:
        """Data keys any flow POSTs to the Datastore: a later GET can return them."""
        keys = set()
        for flow in self.flows.values():
            for action in flow.get("Actions") or []:
                if not isinstance(action, dict):
                    continue
                fn, attrs = self.lambda_call(action)
                if fn == "datastore-proxy" and str(attrs.get("method", "")).upper() == "POST":
                    keys |= set(attrs) - DS_RESERVED
        return keys

    def lambda_call(self, action: dict):
        if action.get("Type") != "InvokeLambdaFunction":
            return None, {}
        p = action.get("Parameters") or {}
        m = re.fullmatch(r"\$\{([A-Za-z0-9]+)\}", str(p.get("LambdaFunctionARN", "")))
        fn = FUNCTION_PARAMS.get(m.group(1)) if m else None
        attrs = p.get("LambdaInvocationAttributes") or {}
        return fn, attrs if isinstance(attrs, dict) else {}

    def outputs_of(self, action: dict, data_keys: set[str]) -> set[str]:
        fn, attrs = self.lambda_call(action)
        if fn == "ocw-phrase":
            counted = {"offers_made"} if set(attrs) & OCW_COUNTING_INPUTS else set()
            return OCW_OUTPUTS | set(attrs) | counted  # every input parameter is echoed back
        if fn == "datastore-proxy":
            if str(attrs.get("method", "")).upper() == "GET":
                return COMMON_OUTPUTS | {"http_status"} | DS_GET_RECORD_FIELDS | data_keys
            return DS_POST_OUTPUTS
        if fn == "agent-answer":
            return AA_OUTPUTS
        return set()

    # -- one flow
    def check_flow(self, name: str, flow_type: str, flow: dict, data_keys: set[str]):
        where = f"{name} ({flow_type})"
        if not isinstance(flow, dict):
            self.err(where, "flow is not a JSON object")
            return
        if flow.get("Version") != VERSION:
            self.err(where, f'Version must be "{VERSION}"')
        raw = flow.get("Actions")
        if not isinstance(raw, list) or not raw:
            self.err(where, "Actions must be a non-empty list")
            return
        actions: dict[str, dict] = {}
        for i, action in enumerate(raw):
            if not isinstance(action, dict) or not action.get("Identifier"):
                self.err(where, f"action #{i} has no Identifier")
                continue
            ident = action["Identifier"]
            if ident in actions:
                self.err(where, f"duplicate Identifier {ident!r}")
            actions[ident] = action
            for key in ("Type", "Parameters", "Transitions"):
                if key not in action:
                    self.err(f"{where} {ident}", f"missing {key}")
            if not isinstance(action.get("Parameters", {}), dict) or not isinstance(action.get("Transitions", {}), dict):
                self.err(f"{where} {ident}", "Parameters and Transitions must be objects")
                actions[ident] = {**action, "Parameters": {}, "Transitions": {}}
        start = flow.get("StartAction")
        if start not in actions:
            self.err(where, f"StartAction {start!r} is not an action")
            return

        for ident, action in actions.items():
            self.check_action(where, flow_type, ident, action, actions)

        # reachability
        seen, work = {start}, deque([start])
        while work:
            for target, _ in edges(actions[work.popleft()]):
                if target in actions and target not in seen:
                    seen.add(target)
                    work.append(target)
        for ident in actions:
            if ident not in seen:
                self.err(f"{where} {ident}", "unreachable from StartAction")

        # Policy (operations): every flow turns on Connect flow logs first, so an operator can
        # follow a contact's branches in CloudWatch.
        first = actions[start]
        if first.get("Type") != "UpdateFlowLoggingBehavior" \
                or (first.get("Parameters") or {}).get("FlowLoggingBehavior") != "Enabled":
            self.err(where, "policy: the flow must start with UpdateFlowLoggingBehavior Enabled (flow logs)")

        # Designer layout (generated by render.py): every block has its own position.
        meta = flow.get("Metadata")
        positions = (meta or {}).get("ActionMetadata") if isinstance(meta, dict) else None
        if not isinstance(positions, dict) or not isinstance(meta.get("entryPointPosition"), dict):
            self.err(where, "no Metadata.entryPointPosition / Metadata.ActionMetadata (run infra/render.py)")
        else:
            placed = {}
            for ident in actions:
                pos = (positions.get(ident) or {}).get("position") or {}
                xy = (pos.get("x"), pos.get("y"))
                if not all(isinstance(v, (int, float)) for v in xy):
                    self.err(f"{where} {ident}", "no Metadata.ActionMetadata position")
                elif xy in placed:
                    self.err(f"{where} {ident}", f"Metadata.ActionMetadata position {xy} is also {placed[xy]}'s")
                else:
                    placed[xy] = ident
            for ident in set(positions) - set(actions):
                self.err(where, f"Metadata.ActionMetadata names {ident!r}, which is not an action")

        # Loop prompts (LOOP_PROMPTS_PAGE): none of NOT_BEFORE_LOOP_PROMPTS may lead to it.
        preds = {i: set() for i in actions}
        for i, a in actions.items():
            for target, _ in edges(a):
                if target in preds:
                    preds[target].add(i)
        for loop in (i for i in seen if actions[i].get("Type") == "MessageParticipantIteratively"):
            before, work = set(), deque([loop])
            while work:
                for p in preds[work.popleft()]:
                    if p not in before:
                        before.add(p)
                        work.append(p)
            for p in sorted(before):
                block = NOT_BEFORE_LOOP_PROMPTS.get(actions[p].get("Type"))
                if block:
                    self.err(f"{where} {p}", f"{actions[p]['Type']} ({block}) leads back to the Loop prompts "
                                             f"block {loop}, and {block} is not allowed before the Loop prompts block "
                                             f"(end the flow with EndFlowExecution instead; {LOOP_PROMPTS_PAGE})")

        # $.Metrics and $.LambdaInvocation need GetMetricData / an ASYNCHRONOUS Lambda call before
        # the read on every path (ATTRIBUTES_PAGE: queue attributes "are returned when you use a
        # Get queue metrics block"; LAMBDA_BLOCK_PAGE: $.LambdaInvocation.InvocationId).
        for ns, producer in (("Metrics", lambda a: a.get("Type") == "GetMetricData"),
                             ("LambdaInvocation", lambda a: a.get("Type") == "InvokeLambdaFunction"
                              and (a.get("Parameters") or {}).get("InvocationType") == "ASYNCHRONOUS")):
            def produced(action, kind, state, _target, producer=producer):
                return frozenset({True}) if producer(action) and kind == "next" else state

            have = propagate(actions, start, {False}, produced)
            for ident in seen:
                reads = {n for s in strings_in(actions[ident].get("Parameters") or {}) for n in NAMESPACE_RE.findall(s)}
                if ns in reads and False in have[ident]:
                    self.err(f"{where} {ident}", f"reads $.{ns} on a path without the block that fills it")

        # $.External reads: the last Lambda call on every path must produce the key.
        def last_call(action, kind, state, _target):
            if action.get("Type") == "InvokeLambdaFunction":
                if (action.get("Parameters") or {}).get("InvocationType") == "ASYNCHRONOUS":
                    return frozenset({(action["Identifier"], "async")})
                ok = kind in ("next", "condition")
                return frozenset({(action["Identifier"], ok)})
            return state

        calls = propagate(actions, start, {None}, last_call)
        for ident in seen:
            reads = set()
            for s in strings_in(actions[ident].get("Parameters") or {}):
                reads |= set(EXTERNAL_RE.findall(s))
            for key in sorted(reads):
                for fact in calls[ident]:
                    if fact is None:
                        self.err(f"{where} {ident}", f"reads $.External.{key} before any Lambda call on some path")
                        continue
                    caller, ok = fact
                    if ok == "async":
                        self.err(f"{where} {ident}", f"reads $.External.{key} after {caller}, an ASYNCHRONOUS call: "
                                                     f"Connect does not wait for its answer ({LAMBDA_BLOCK_PAGE})")
                    elif not ok:
                        self.err(f"{where} {ident}", f"reads $.External.{key} on the error branch of {caller}")
                    elif key not in self.outputs_of(actions[caller], data_keys):
                        fn, _ = self.lambda_call(actions[caller])
                        self.err(f"{where} {ident}", f"reads $.External.{key}, which {fn or '?'} (called by {caller}) does not return")

        # Offers: a callback is offered (GetParticipantInput) only after $.External.offer_callback
        # compared Equals true; a counting flow stores $.External.offers_made first.
        ocw_calls = {i: self.lambda_call(actions[i])[1] for i in seen if self.lambda_call(actions[i])[0] == "ocw-phrase"}
        if ocw_calls:
            def gate(action, kind, state, target):
                if self.lambda_call(action)[0] == "ocw-phrase":
                    return frozenset({"ungated"})
                p = action.get("Parameters") or {}
                if action.get("Type") == "Compare" and p.get("ComparisonValue") == "$.External.offer_callback":
                    conds = (action.get("Transitions") or {}).get("Conditions") or []
                    yes = any(c.get("NextAction") == target and c.get("Condition", {}).get("Operator") == "Equals"
                              and c.get("Condition", {}).get("Operands") == ["true"] for c in conds)
                    return frozenset({"gated" if kind == "condition" and yes else "ungated"})
                return state

            gates = propagate(actions, start, {"ungated"}, gate)
            counted = {m.group(1) for a in ocw_calls.values()
                       if (m := ATTRIBUTE_RE.match(str(a.get("offers_made", ""))))}

            def count(action, kind, state, _target):
                if self.lambda_call(action)[0] == "ocw-phrase" and set(self.lambda_call(action)[1]) & OCW_COUNTING_INPUTS:
                    return frozenset({"unstored"})
                attrs = (action.get("Parameters") or {}).get("Attributes") or {}
                if action.get("Type") == "UpdateContactAttributes" and kind == "next" \
                        and any(attrs.get(c) == "$.External.offers_made" for c in counted):
                    return frozenset({"stored"})
                return state

            counts = propagate(actions, start, {"stored"}, count)
            for ident in seen:
                if actions[ident].get("Type") != "GetParticipantInput":
                    continue
                if "ungated" in gates[ident]:
                    self.err(f"{where} {ident}", "offers a callback on a path that does not check "
                                                 "$.External.offer_callback Equals true")
                if "unstored" in counts[ident]:
                    self.err(f"{where} {ident}", "offers a callback before storing $.External.offers_made into "
                                                 f"{', '.join(sorted(counted)) or 'the counted attribute'} (the cap would not hold)")

        # The Call Target transfer only follows a datastore POST answered status=ok.
        target_ref = f"${{{CALL_TARGET_PARAM}}}"

        def saved(action, kind, state, target):
            if action.get("Type") == "InvokeLambdaFunction":
                return frozenset({"unsaved"})
            p = action.get("Parameters") or {}
            if action.get("Type") == "Compare" and p.get("ComparisonValue") == "$.External.status":
                conds = (action.get("Transitions") or {}).get("Conditions") or []
                ok = any(c.get("NextAction") == target and c.get("Condition", {}).get("Operands") == ["ok"] for c in conds)
                posted = all(f is not None and f[1] and self.lambda_call(actions[f[0]])[0] == "datastore-proxy"
                             and str(self.lambda_call(actions[f[0]])[1].get("method", "")).upper() == "POST"
                             for f in calls[action["Identifier"]])
                return frozenset({"saved" if kind == "condition" and ok and posted else "unsaved"})
            return state

        saves = propagate(actions, start, {"unsaved"}, saved)
        for ident in seen:
            a = actions[ident]
            if a.get("Type") == "TransferParticipantToThirdParty" \
                    and (a.get("Parameters") or {}).get("ThirdPartyPhoneNumber") == target_ref and "unsaved" in saves[ident]:
                self.err(f"{where} {ident}", "transfers to the Call Target on a path where the caller's context "
                                             "was not stored (datastore-proxy POST answered status=ok)")

        if flow_type == "CUSTOMER_QUEUE" and not any(actions[i].get("Type") == "MessageParticipantIteratively" for i in seen):
            self.err(where, "a customer queue flow needs a Loop prompts block (MessageParticipantIteratively) "
                            "to hold the caller between checks")

        # TransferContactToQueue needs a working queue on every path (inbound flows).
        if flow_type == "CONTACT_FLOW":
            def queue_set(action, kind, state, _target):
                if action.get("Type") == "UpdateContactTargetQueue" and kind == "next":
                    return frozenset({True})
                return state

            queues = propagate(actions, start, {False}, queue_set)
            for ident in seen:
                if actions[ident].get("Type") == "TransferContactToQueue" and False in queues[ident]:
                    self.err(f"{where} {ident}", "TransferContactToQueue reachable without a working queue set")

        # Whisper flows must always end with EndFlowExecution (never hold or drop the agent leg).
        if flow_type in WHISPER_TYPES:
            for ident in seen:
                a = actions[ident]
                if is_terminal(a) and a.get("Type") != "EndFlowExecution":
                    self.err(f"{where} {ident}", "a whisper flow must end with EndFlowExecution")

    def check_action(self, where, flow_type, ident, action, actions):
        here = f"{where} {ident}"
        typ = action.get("Type")
        params = action.get("Parameters") or {}
        transitions = action.get("Transitions") or {}
        # Identifier (flow-language "Actions" page)
        if len(ident) > 50 or set(ident) & IDENTIFIER_FORBIDDEN or ident in IDENTIFIER_RESERVED:
            self.err(here, f"Identifier {ident!r} is over 50 characters, uses one of "
                           f"{''.join(sorted(IDENTIFIER_FORBIDDEN))} or a reserved name ({ACTIONS_PAGE})")
        row = ACTIONS.get(typ)
        if row is None:
            self.err(here, f"unknown action Type {typ!r} (not in the checker's table of the Flow language "
                           "reference: add its row, with its page, before using it)")
            return
        if flow_type not in row.flow_types:
            self.err(here, f"{typ} is not allowed in a {flow_type} flow ({row.page})")
        # parameters
        for name, value in params.items():
            spec = row.params.get(name)
            if spec is None:
                self.err(here, f"{typ} has no parameter {name!r} ({row.page})")
                continue
            texts = list(strings_in(value))
            if spec.value == "static" and any("$." in s for s in texts):
                self.err(here, f"{typ} parameter {name} must be static (no $. reference) ({row.page})")
            elif spec.value in ("jsonpath", "path") and isinstance(value, str) and "$." in value \
                    and not JSONPATH_RE.match(value):
                self.err(here, f"{typ} parameter {name} must be static or a single JSONPath ({row.page})")
            if spec.value == "path" and not (isinstance(value, str) and JSONPATH_RE.match(value)):
                self.err(here, f"{typ} parameter {name} must be a single JSONPath identifier ({row.page})")
            if spec.allowed and isinstance(value, str) and "$." not in value and value not in spec.allowed:
                self.err(here, f"{typ} parameter {name} is {value!r}, expected one of {sorted(spec.allowed)} "
                               f"({row.page})")
            for ns in sorted({n for s in texts for n in NAMESPACE_RE.findall(s)}):
                if ns not in NAMESPACES:
                    self.err(here, f"reads $.{ns}, which is not a namespace of the flow data ({ATTRIBUTES_PAGE})")
                elif ns not in row.namespaces:
                    self.err(here, f"{typ} cannot read $.{ns} ({row.page})")
                elif flow_type not in NAMESPACES[ns]:
                    self.err(here, f"reads $.{ns}, which holds no data in a {flow_type} flow ({ATTRIBUTES_PAGE})")
        for name, spec in row.params.items():
            if spec.required and name not in params:
                self.err(here, f"{typ} needs parameter {name} ({row.page})")
        if row.one_of and sum(k in params for k in row.one_of) != 1:
            self.err(here, f"{typ} takes exactly one of {', '.join(row.one_of)} ({row.page})")
        # transitions
        outgoing = list(edges(action))
        for target, kind in outgoing:
            if target not in actions:
                self.err(here, f"{kind} transition to unknown action {target!r}")
        if row.next_action == "none":
            if outgoing:
                self.err(here, f"{typ} must not have transitions: it is always the last action ({row.page})")
        elif not outgoing:
            self.err(here, "non-terminal action without transitions (the flow would stop here)")
        elif row.next_action == "required" and not transitions.get("NextAction"):
            self.err(here, f"{typ} has no NextAction ({ACTIONS_PAGE}; {row.page})")
        elif default_next(action) is None:
            self.err(here, "no NextAction and no NoMatchingCondition/NoMatchingError branch")
        conds = transitions.get("Conditions") or []
        if conds and not row.conditions:
            self.err(here, f"{typ} does not support Conditions ({row.page})")
        if conds and typ == "GetParticipantInput" and str(params.get("StoreInput")) != "False":
            self.err(here, f"GetParticipantInput supports Conditions only when StoreInput is False ({row.page})")
        for c in conds:
            cond = c.get("Condition") or {}
            if typ == "MessageParticipantIteratively" and (cond.get("Operator") != "Equals"
                                                         or cond.get("Operands") != ["MessagesInterrupted"]):
                self.err(here, f"MessageParticipantIteratively supports only Equals MessagesInterrupted ({row.page})")
            if typ == "GetParticipantInput" and (cond.get("Operator") != "Equals" or len(cond.get("Operands") or []) != 1
                                                 or not re.fullmatch(r"[0-9*#]", str((cond.get("Operands") or [""])[0]))):
                self.err(here, f"GetParticipantInput conditions are Equals one static key 0-9, * or # ({row.page})")
        # errors: only those the reference allows for these parameter values, and every one of them
        # handled (an unhandled error would stop the flow)
        allowed = row.allowed_errors(params)
        declared = [e.get("ErrorType") for e in transitions.get("Errors") or []]
        for error in declared:
            if error in allowed:
                continue
            when = row.errors.get(error, (None, ""))[1]
            self.err(here, f"{typ} declares error {error}, which the reference allows "
                           f"{when or 'never for this action'} ({row.page})")
        for missing in sorted(allowed - set(declared)):
            self.err(here, f"{typ} does not handle error {missing} ({row.page})")
        if len(declared) != len(set(declared)):
            self.err(here, f"{typ} declares an error type twice")
        # placeholders
        for s in strings_in(params):
            for ph in PLACEHOLDER_RE.findall(s):
                if ph in self.params or ph.startswith("AWS::"):
                    continue
                res, _, attr = ph.partition(".")
                if res in self.flow_types and attr == "ContactFlowArn":
                    continue
                self.err(here, f"placeholder ${{{ph}}} is not a template parameter or a flow's ContactFlowArn")
        # per type
        if typ == "InvokeLambdaFunction":
            self.check_lambda(here, ident, action, actions, flow_type)
        elif typ == "TransferToFlow":
            self.check_flow_ref(here, params.get("ContactFlowId"), {"CONTACT_FLOW"})
        elif typ == "UpdateContactEventHooks":
            hooks = params.get("EventHooks") or {}
            if len(hooks) != 1:
                self.err(here, f"EventHooks must have exactly one entry ({row.page})")
            for hook in hooks:
                if hook not in EVENT_HOOKS:
                    self.err(here, f"{hook!r} is not an event hook ({row.page})")
            for hook, types in HOOK_FLOW_TYPES.items():
                if hook in hooks:
                    self.check_flow_ref(here, hooks[hook], types)
        elif typ == "MessageParticipantIteratively":
            self.check_interrupt(here, params, transitions, flow_type)
        elif typ == "TransferParticipantToThirdParty":
            number = str(params.get("ThirdPartyPhoneNumber", ""))
            if not (number.startswith("$.") or PLACEHOLDER_RE.fullmatch(number) or E164_RE.match(number)):
                self.err(here, f"ThirdPartyPhoneNumber {number!r} is not E.164, a parameter or an attribute")
            limit = str(params.get("ThirdPartyConnectionTimeLimitSeconds", "0"))
            if "$." not in limit and not (limit.isdigit() and 0 <= int(limit) <= 600):
                self.err(here, f"ThirdPartyConnectionTimeLimitSeconds {limit!r} must be 0 to 600 ({row.page})")
        elif typ == "UpdateContactRoutingBehavior":
            prio = params.get("QueuePriority")
            if prio is not None and not (str(prio).isdigit() and int(prio) > 0):
                self.err(here, f"QueuePriority must be a positive integer ({row.page})")
        elif typ == "GetParticipantInput":
            limit = str(params.get("InputTimeLimitSeconds", ""))
            if not (limit.isdigit() and int(limit) > 0):
                self.err(here, f"InputTimeLimitSeconds {limit!r} must be an integer larger than zero ({row.page})")
        if flow_type in QUEUE and typ == "DisconnectParticipant":
            # Connect allows it there; this bundle's customer queue flow must not use it.
            self.err(here, "policy: the second-chance customer queue flow must never hang up on a queued "
                           "caller (end the queue flow with EndFlowExecution instead)")

    def check_interrupt(self, here, params, transitions, flow_type):
        """Loop prompts' interruption (LOOP_PROMPTS_PAGE): an interval greater than 20 seconds,
        given as a number or a stack parameter whose MinValue is above 20; in a customer queue
        flow (this bundle's policy) it is required and must lead somewhere."""
        freq = str(params.get("InterruptFrequencySeconds", ""))
        m = PLACEHOLDER_RE.fullmatch(freq)
        if freq.isdigit():
            if int(freq) <= MIN_INTERRUPT_EXCLUSIVE:
                self.err(here, f"InterruptFrequencySeconds {freq} must be greater than {MIN_INTERRUPT_EXCLUSIVE} "
                               f"(an agent has 20 s to accept a routed contact; {LOOP_PROMPTS_PAGE})")
        elif m and m.group(1) in self.params:
            spec = (self.template.get("Parameters") or {}).get(m.group(1)) or {}
            low = spec.get("MinValue")
            if spec.get("Type") != "Number" or low is None or float(low) <= MIN_INTERRUPT_EXCLUSIVE:
                self.err(here, f"InterruptFrequencySeconds comes from stack parameter {m.group(1)}, which must be "
                               f"a Number with MinValue greater than {MIN_INTERRUPT_EXCLUSIVE} (it allows {low}; "
                               f"{LOOP_PROMPTS_PAGE})")
        elif freq or flow_type in QUEUE:
            self.err(here, f"InterruptFrequencySeconds {freq!r} must be a positive integer or a stack "
                           "parameter: without it the queue flow never checks again")
        if flow_type in QUEUE:
            conds = transitions.get("Conditions") or []
            if not any(c.get("Condition", {}).get("Operands") == ["MessagesInterrupted"] for c in conds):
                self.err(here, "no MessagesInterrupted condition: the interval never leads anywhere")

    def check_flow_ref(self, here, value, allowed_types):
        m = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.ContactFlowArn\}", str(value or ""))
        if not m or m.group(1) not in self.flow_types:
            self.err(here, f"flow reference {value!r} must be ${{<ContactFlow resource>.ContactFlowArn}}")
        elif self.flow_types[m.group(1)] not in allowed_types:
            self.err(here, f"{m.group(1)} is a {self.flow_types[m.group(1)]} flow, expected {sorted(allowed_types)}")

    def check_lambda(self, here, ident, action, actions, flow_type):
        params = action.get("Parameters") or {}
        arn = str(params.get("LambdaFunctionARN", ""))
        fn, attrs = self.lambda_call(action)
        if fn is None:
            self.err(here, f"LambdaFunctionARN {arn!r} must be one of " + ", ".join(f"${{{p}}}" for p in FUNCTION_PARAMS))
            return
        mode = params.get("InvocationType", "SYNCHRONOUS")
        if mode == "ASYNCHRONOUS" and fn != "agent-answer":
            # The flow branches on ocw-phrase's and datastore-proxy's answers, which an
            # asynchronous call does not put in $.External (LAMBDA_BLOCK_PAGE).
            self.err(here, f"policy: only agent-answer may be invoked ASYNCHRONOUS (the flow needs {fn}'s answer)")
        if (params.get("ResponseValidation") or {}).get("ResponseType") != "STRING_MAP":
            self.err(here, "ResponseValidation.ResponseType must be STRING_MAP (the functions return flat string maps)")
        limit = str(params.get("InvocationTimeLimitSeconds", ""))
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LAMBDA_LIMIT:
            self.err(here, f"InvocationTimeLimitSeconds {limit!r} must be an integer string from 1 to "
                           f"{MAX_LAMBDA_LIMIT} ({ACTIONS['InvokeLambdaFunction'].page}; {LAMBDA_BLOCK_PAGE})")
        elif fn in self.budgets and int(limit) * 1000 < self.budgets[fn] + BUDGET_MARGIN_MS:
            self.err(here, f"InvocationTimeLimitSeconds {limit} leaves no room for {fn}'s REQUEST_BUDGET_MS "
                           f"{self.budgets[fn]} (+{BUDGET_MARGIN_MS} ms)")
        if not isinstance(params.get("LambdaInvocationAttributes", {}), dict):
            self.err(here, "LambdaInvocationAttributes must be an object")
        for k, v in attrs.items():
            if not isinstance(v, str):
                self.err(here, f"parameter {k} must be a string (Connect passes strings)")
        # parameter names per function
        if fn == "ocw-phrase":
            if "OCW" not in attrs:
                self.err(here, "ocw-phrase needs the OCW parameter")
            counting = set(attrs) & OCW_COUNTING_INPUTS
            if flow_type == "CUSTOMER_QUEUE" and counting != OCW_COUNTING_INPUTS:
                self.err(here, "ocw-phrase in a customer queue flow needs offers_made and max_offers "
                               "(otherwise the caller is offered a callback at every interval)")
            elif counting and counting != OCW_COUNTING_INPUTS:
                self.err(here, "pass ocw-phrase offers_made and max_offers together")
            if "offers_made" in attrs and not ATTRIBUTE_RE.match(str(attrs["offers_made"])):
                self.err(here, "offers_made must be a contact attribute ($.Attributes.x) the flow stores "
                               "$.External.offers_made back into")
            if "max_offers" in attrs:
                mo = str(attrs["max_offers"])
                m = PLACEHOLDER_RE.fullmatch(mo)
                if not mo.isdigit() and not (m and m.group(1) in self.params):
                    self.err(here, f"max_offers {mo!r} must be a whole number or a stack parameter")
        elif fn == "datastore-proxy":
            method = str(attrs.get("method", ""))
            if method.upper() not in ("POST", "GET"):
                self.err(here, f"datastore-proxy method must be POST or GET, got {method!r}")
            elif method.upper() == "GET":
                extra = set(attrs) - DS_RESERVED
                if extra:
                    self.err(here, f"datastore-proxy GET ignores parameters {sorted(extra)}")
            else:
                keys = set(attrs) - DS_RESERVED
                if not keys:
                    self.err(here, "datastore-proxy POST without any data key")
        elif fn == "agent-answer":
            unknown = set(attrs) - AA_INPUTS
            if unknown:
                self.err(here, f"agent-answer does not know parameters {sorted(unknown)} (knows {sorted(AA_INPUTS)})")
        for secret in SECRET_INPUTS.get(fn, set()) & set(attrs):
            if not str(attrs[secret]).startswith("$."):
                self.err(here, f"{fn} parameter {secret} is a literal secret in the flow: configure it as a secret ARN instead")
        # a failed call must not drop the contact
        for target, kind in edges(action):
            if kind in ("next", "condition"):
                continue
            self.check_keeps_contact(here, kind, target, actions, flow_type)

    def check_keeps_contact(self, here, kind, target, actions, flow_type):
        keeps = KEEPS_CONTACT
        path, ident = [], target
        while ident in actions and ident not in path and len(path) < 50:
            path.append(ident)
            a = actions[ident]
            if a.get("Type") in keeps:
                return
            if is_terminal(a):
                break
            ident = default_next(a)
        self.err(here, f"{kind} branch does not reach a queue/transfer{' /end' if flow_type in WHISPER_TYPES else ''} "
                       f"before ending: {' -> '.join(path) or target}")


def check(template_path: pathlib.Path, base_path: pathlib.Path | None):
    template = load_template(template_path)
    base = load_template(base_path) if base_path and base_path.exists() else None
    checker = Checker(template, base)
    return checker, checker.run()


# --- Self-test: every mutation of the real flows must be reported ------------------------------
def self_test(template_path: pathlib.Path, base_path: pathlib.Path) -> int:
    template = load_template(template_path)
    base = load_template(base_path)
    clean = Checker(copy.deepcopy(template), base).run()
    if clean:
        print("self-test: the committed flows do not pass:", *clean, sep="\n  ")
        return 1

    def flow_of(tpl, name):
        props = tpl["Resources"][name]["Properties"]
        return json.loads(props["Content"]["!Sub"]), props

    def action(flow, ident):
        return next(a for a in flow["Actions"] if a["Identifier"] == ident)

    def mutate(name, fn):
        def run():
            tpl = copy.deepcopy(template)
            flow, props = flow_of(tpl, name)
            fn(flow)
            props["Content"]["!Sub"] = json.dumps(flow)
            return Checker(tpl, base).run()
        return run

    def mutate_template(fn):
        def run():
            tpl = copy.deepcopy(template)
            fn(tpl)
            return Checker(tpl, base).run()
        return run

    def resource(tpl, name):
        return tpl["Resources"][name]["Properties"]

    cases = {  # label: (expected message fragment, mutation[, fragment that must NOT be reported])
        "unknown NextAction": ("unknown action 'nowhere'", mutate("InboundToMindfulFlow", lambda f: action(f, "get-queue-metrics")["Transitions"].update(NextAction="nowhere"))),
        "duplicate identifier": ("duplicate Identifier", mutate("CallbackReturnFlow", lambda f: f["Actions"].append(copy.deepcopy(f["Actions"][0])))),
        "unreachable action": ("unreachable", mutate("NormalInboundFlow", lambda f: f["Actions"].append({"Identifier": "orphan", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}}))),
        "bad StartAction": ("StartAction", mutate("NormalInboundFlow", lambda f: f.update(StartAction="missing"))),
        "bad Version": ("Version", mutate("NormalInboundFlow", lambda f: f.update(Version="2020-01-01"))),
        "foreign Lambda ARN": ("LambdaFunctionARN", mutate("InboundToMindfulFlow", lambda f: action(f, "get-wait-phrase")["Parameters"].update(LambdaFunctionARN="arn:aws:lambda:us-east-1:111122223333:function:other"))),
        "ocw-phrase without OCW": ("needs the OCW", mutate("InboundToMindfulFlow", lambda f: action(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"].pop("OCW"))),
        "unknown agent-answer parameter": ("does not know parameters", mutate("CustomerWhisperFlow", lambda f: action(f, "report-agent-answer")["Parameters"]["LambdaInvocationAttributes"].update(AgentId="$.Agent.UserName"))),
        "literal secret": ("literal secret", mutate("CustomerWhisperFlow", lambda f: action(f, "report-agent-answer")["Parameters"]["LambdaInvocationAttributes"].update(Secret_Num="hunter2"))),
        "bad datastore method": ("method must be POST or GET", mutate("CallbackReturnFlow", lambda f: action(f, "load-caller-context")["Parameters"]["LambdaInvocationAttributes"].update(method="DELETE"))),
        "datastore GET with data keys": ("GET ignores", mutate("CallbackReturnFlow", lambda f: action(f, "load-caller-context")["Parameters"]["LambdaInvocationAttributes"].update(customer_name="x"))),
        "External key the function never returns": ("does not return", mutate("InboundToMindfulFlow", lambda f: action(f, "check-offer-callback")["Parameters"].update(ComparisonValue="$.External.offerCallback"))),
        "External key not POSTed by any flow": ("does not return", mutate("CallbackReturnFlow", lambda f: action(f, "set-original-queue")["Parameters"].update(QueueId="$.External.queueArn"))),
        "External read on an error branch": ("error branch of", mutate("CallbackReturnFlow", lambda f: action(f, "load-caller-context")["Transitions"]["Errors"][0].update(NextAction="check-context-found"))),
        "External read before any call": ("before any Lambda call", mutate("NormalInboundFlow", lambda f: action(f, "check-voice")["Parameters"].update(ComparisonValue="$.External.status"))),
        "Lambda error branch disconnects": ("does not reach a queue", mutate("InboundToMindfulFlow", lambda f: action(f, "save-caller-context")["Transitions"]["Errors"][0].update(NextAction="sorry-message"))),
        "Lambda error not handled": ("does not handle error NoMatchingError", mutate("InboundToMindfulFlow", lambda f: action(f, "get-wait-phrase")["Transitions"].update(Errors=[]))),
        "timeout above 8 s": ("from 1 to 8", mutate("InboundToMindfulFlow", lambda f: action(f, "save-caller-context")["Parameters"].update(InvocationTimeLimitSeconds="9"))),
        "timeout below the budget": ("leaves no room", mutate("CallbackReturnFlow", lambda f: action(f, "load-caller-context")["Parameters"].update(InvocationTimeLimitSeconds="3"))),
        "JSON response type": ("STRING_MAP", mutate("CustomerWhisperFlow", lambda f: action(f, "report-agent-answer")["Parameters"].update(ResponseValidation={"ResponseType": "JSON"}))),
        "whisper disconnects": ("must end with EndFlowExecution", mutate("CustomerWhisperFlow", lambda f: action(f, "end-whisper").update(Type="DisconnectParticipant"))),
        "queue without working queue": ("without a working queue", mutate("NormalInboundFlow", lambda f: action(f, "set-working-queue")["Transitions"]["Errors"][0].update(NextAction="transfer-to-queue"))),
        "input timeout not handled": ("InputTimeLimitExceeded", mutate("InboundToMindfulFlow", lambda f: action(f, "offer-callback")["Transitions"].update(Errors=[e for e in action(f, "offer-callback")["Transitions"]["Errors"] if e["ErrorType"] != "InputTimeLimitExceeded"]))),
        "dead end": ("without transitions", mutate("NormalInboundFlow", lambda f: action(f, "enable-flow-logs").update(Transitions={}))),
        "unknown placeholder": ("placeholder ${CallTarget}", mutate("InboundToMindfulFlow", lambda f: action(f, "transfer-to-mindful")["Parameters"].update(ThirdPartyPhoneNumber="${CallTarget}"))),
        "whisper hook to a contact flow": ("expected ['CUSTOMER_WHISPER']", mutate("CallbackReturnFlow", lambda f: action(f, "set-agent-answer-whisper")["Parameters"].update(EventHooks={"CustomerWhisper": "${NormalInboundFlow.ContactFlowArn}"}))),
        "queue block in a whisper": ("not allowed in a CUSTOMER_WHISPER", mutate("CustomerWhisperFlow", lambda f: action(f, "end-whisper").update(Type="TransferContactToQueue"))),
        "unknown action type": ("unknown action Type", mutate("NormalInboundFlow", lambda f: action(f, "enable-flow-logs").update(Type="SetLogging"))),
        # second-chance offers (customer queue flow)
        "queue flow does not count offers": ("needs offers_made and max_offers", mutate("SecondChanceQueueFlow", lambda f: action(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"].pop("max_offers"))),
        "queue flow offers before storing the count": ("before storing $.External.offers_made", mutate("SecondChanceQueueFlow", lambda f: action(f, "count-offer")["Parameters"].update(Attributes={"offers_seen": "$.External.offers_made"}))),
        "queue flow counts into a literal": ("must be a contact attribute", mutate("SecondChanceQueueFlow", lambda f: action(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"].update(offers_made="1"))),
        "queue flow with a literal cap": ("must be a whole number or a stack parameter", mutate("SecondChanceQueueFlow", lambda f: action(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"].update(max_offers="two"))),
        "queue flow hangs up": ("never hang up", mutate("SecondChanceQueueFlow", lambda f: action(f, "end-queue-flow").update(Type="DisconnectParticipant"))),
        "queue flow transfers to queue": ("not allowed in a CUSTOMER_QUEUE", mutate("SecondChanceQueueFlow", lambda f: action(f, "end-queue-flow").update(Type="TransferContactToQueue", Transitions={"NextAction": "hold-loop", "Errors": [{"NextAction": "hold-loop", "ErrorType": "QueueAtCapacity"}, {"NextAction": "hold-loop", "ErrorType": "NoMatchingError"}]}))),
        "queue flow transfers to a flow": ("TransferToFlow is not allowed in a CUSTOMER_QUEUE", mutate("SecondChanceQueueFlow", lambda f: action(f, "transfer-to-mindful").update(Type="TransferToFlow", Parameters={"ContactFlowId": "${InboundToMindfulFlow.ContactFlowArn}"}, Transitions={"Errors": [{"NextAction": "hold-loop", "ErrorType": "NoMatchingError"}]}))),
        "loop prompts without interval": ("InterruptFrequencySeconds", mutate("SecondChanceQueueFlow", lambda f: action(f, "hold-loop")["Parameters"].pop("InterruptFrequencySeconds"))),
        "loop prompts never interrupted": ("no MessagesInterrupted", mutate("SecondChanceQueueFlow", lambda f: action(f, "hold-loop")["Transitions"]["Conditions"][0]["Condition"].update(Operands=["Timeout"]))),
        "offer not gated by offer_callback": ("does not check $.External.offer_callback", mutate("SecondChanceQueueFlow", lambda f: action(f, "check-offer-callback")["Transitions"]["Conditions"][0]["Condition"].update(Operands=["false"]))),
        "Call Target before the context is stored": ("was not stored", mutate("SecondChanceQueueFlow", lambda f: action(f, "check-context-saved")["Transitions"]["Conditions"][0]["Condition"].update(Operands=["error"]))),
        "queue hook to a contact flow": ("expected ['CUSTOMER_QUEUE']", mutate("InboundToMindfulFlow", lambda f: action(f, "set-second-chance-queue-flow")["Parameters"].update(EventHooks={"CustomerQueue": "${NormalInboundFlow.ContactFlowArn}"}))),
        "second chance cannot be switched off": ("never reads ${SecondChanceOffers}", mutate("InboundToMindfulFlow", lambda f: action(f, "mark-second-chance")["Parameters"].update(Attributes={"mindful_second_chance": "true"}))),
        "first offer not counted": ("never counts it in the callback_offers", mutate("InboundToMindfulFlow", lambda f: action(f, "count-first-offer")["Parameters"].update(Attributes={"offers": "1"}))),
        "offers_made without max_offers": ("together", mutate("InboundToMindfulFlow", lambda f: action(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"].update(offers_made="$.Attributes.callback_offers"))),
        "offers_made read from a call that does not count": ("does not return", mutate("InboundToMindfulFlow", lambda f: action(f, "count-first-offer")["Parameters"].update(Attributes={"callback_offers": "$.External.offers_made"}))),
        # consolidated return-call destinations
        "POST without the routing attribute": ("routing_attribute = $.Attributes.${ReturnRoutingAttribute}", mutate("InboundToMindfulFlow", lambda f: action(f, "save-caller-context")["Parameters"]["LambdaInvocationAttributes"].pop("routing_attribute"))),
        "POST without the queue ARN": ("queue_arn = $.Queue.ARN", mutate("SecondChanceQueueFlow", lambda f: action(f, "save-caller-context")["Parameters"]["LambdaInvocationAttributes"].update(queue_arn="${InboundQueueArn}"))),
        "POSTs store different keys": ("different Data Keys", mutate("SecondChanceQueueFlow", lambda f: action(f, "save-caller-context")["Parameters"]["LambdaInvocationAttributes"].update(offer_round="$.Attributes.callback_offers"))),
        "return flow does not restore the routing attribute": ("does not restore $.External.routing_attribute", mutate("CallbackReturnFlow", lambda f: action(f, "restore-routing-attribute")["Parameters"].update(Attributes={"skill": "$.External.routing_attribute"}))),
        "return flow routes by name": ("from $.External.queue_arn", mutate("CallbackReturnFlow", lambda f: action(f, "set-original-queue")["Parameters"].update(QueueId="$.External.queue_name"))),
        # issue 15 findings, against the Flow language reference
        "1: transfer with ContinueFlowExecution False declares CallFailed": ("declares error CallFailed, which the reference allows when ContinueFlowExecution is True", mutate("InboundToMindfulFlow", lambda f: action(f, "transfer-to-mindful")["Transitions"]["Errors"].append({"NextAction": "queue-caller", "ErrorType": "CallFailed"}))),
        "1: transfer with ContinueFlowExecution False declares ConnectionTimeLimitExceeded": ("declares error ConnectionTimeLimitExceeded", mutate("SecondChanceQueueFlow", lambda f: action(f, "transfer-to-mindful")["Transitions"]["Errors"].append({"NextAction": "end-queue-flow", "ErrorType": "ConnectionTimeLimitExceeded"}))),
        "1: resuming transfer without its CallFailed branch": ("does not handle error CallFailed", mutate("InboundToMindfulFlow", lambda f: action(f, "transfer-to-mindful")["Parameters"].update(ContinueFlowExecution="True"))),
        "2: transfer without NextAction": ("TransferParticipantToThirdParty has no NextAction", mutate("InboundToMindfulFlow", lambda f: action(f, "transfer-to-mindful")["Transitions"].pop("NextAction"))),
        "3: Get customer input leads back to Loop prompts": ("GetParticipantInput (Get customer input / Store customer input) leads back to the Loop prompts block hold-loop", mutate("SecondChanceQueueFlow", lambda f: action(f, "offer-callback")["Transitions"].update(NextAction="hold-loop"))),
        "3: transfer error leads back to Loop prompts": ("TransferParticipantToThirdParty (Transfer to phone number) leads back to the Loop prompts", mutate("SecondChanceQueueFlow", lambda f: action(f, "transfer-to-mindful")["Transitions"]["Errors"][0].update(NextAction="hold-loop"))),
        "4: interval parameter allows 20 s": ("MinValue greater than 20", mutate_template(lambda tpl: tpl["Parameters"]["SecondChanceIntervalSeconds"].update(MinValue=20))),
        "4: literal interruption period of 20 s": ("must be greater than 20", mutate("SecondChanceQueueFlow", lambda f: action(f, "hold-loop")["Parameters"].update(InterruptFrequencySeconds="20"))),
        "7: DisconnectParticipant is allowed in a customer queue flow (policy only)": ("policy: the second-chance customer queue flow must never hang up", mutate("SecondChanceQueueFlow", lambda f: action(f, "end-queue-flow").update(Type="DisconnectParticipant")), "DisconnectParticipant is not allowed in a CUSTOMER_QUEUE"),
        "7: EndFlowExecution in a hold flow": ("EndFlowExecution is not allowed in a CUSTOMER_HOLD flow", mutate_template(lambda tpl: resource(tpl, "SecondChanceQueueFlow").update(Type="CUSTOMER_HOLD"))),
        # the rest of the reference table and the policy around it
        "error the action never raises": ("UpdateFlowLoggingBehavior declares error NoMatchingError, which the reference allows never", mutate("NormalInboundFlow", lambda f: action(f, "enable-flow-logs")["Transitions"].update(Errors=[{"NextAction": "set-working-queue", "ErrorType": "NoMatchingError"}]))),
        "unknown parameter": ("GetMetricData has no parameter 'Channel'", mutate("InboundToMindfulFlow", lambda f: action(f, "get-queue-metrics")["Parameters"].update(Channel="Voice"))),
        "dynamic value where the reference wants a static one": ("FlowLoggingBehavior must be static", mutate("CallbackReturnFlow", lambda f: action(f, "enable-flow-logs")["Parameters"].update(FlowLoggingBehavior="$.Attributes.logging"))),
        "Set working queue in a customer queue flow": ("UpdateContactTargetQueue is not allowed in a CUSTOMER_QUEUE flow", mutate("SecondChanceQueueFlow", lambda f: action(f, "count-offer").update(Type="UpdateContactTargetQueue", Parameters={"QueueId": "${InboundQueueArn}"}))),
        "$.Agent in an inbound flow": ("reads $.Agent, which holds no data in a CONTACT_FLOW flow", mutate("InboundToMindfulFlow", lambda f: action(f, "save-caller-context")["Parameters"]["LambdaInvocationAttributes"].update(agent="$.Agent.UserName"))),
        "$.Metrics without Get queue metrics": ("reads $.Metrics on a path without the block that fills it", mutate("SecondChanceQueueFlow", lambda f: action(f, "get-queue-metrics")["Transitions"]["Errors"][0].update(NextAction="get-wait-phrase"))),
        "$.External after an asynchronous call": ("an ASYNCHRONOUS call", mutate("InboundToMindfulFlow", lambda f: action(f, "get-wait-phrase")["Parameters"].update(InvocationType="ASYNCHRONOUS"))),
        "flow without flow logs": ("must start with UpdateFlowLoggingBehavior Enabled", mutate("CustomerWhisperFlow", lambda f: f.update(StartAction="report-agent-answer"))),
        "two blocks at one spot": ("is also", mutate("CustomerWhisperFlow", lambda f: f["Metadata"]["ActionMetadata"]["end-whisper"].update(position=dict(f["Metadata"]["ActionMetadata"]["report-agent-answer"]["position"])))),
        "flow without designer layout": ("no Metadata.entryPointPosition", mutate("NormalInboundFlow", lambda f: f.pop("Metadata"))),
        "missing record skips the default queue": ("does not reach the default queue", mutate("CallbackReturnFlow", lambda f: action(f, "check-context-found")["Transitions"].update(NextAction="set-agent-answer-whisper", Errors=[{"NextAction": "set-agent-answer-whisper", "ErrorType": "NoMatchingCondition"}]))),
    }
    failed = 0
    for label, (expected, run, *absent) in cases.items():
        errors = run()
        hit = next((e for e in errors if expected in e), None)
        wrong = next((e for e in errors for a in absent if a in e), None)
        ok = hit is not None and wrong is None
        failed += not ok
        detail = f" -> {hit}" if ok else (f" (also reported: {wrong})" if wrong else f" (got {errors})")
        print(f"self-test {'caught' if ok else 'MISSED'}: {label}{detail}")
    print(f"self-test: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", type=pathlib.Path, default=INFRA / "template.yaml")
    ap.add_argument("--base", type=pathlib.Path, default=INFRA / "base.yaml")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test(args.template, args.base)
    checker, errors = check(args.template, args.base)
    for e in errors:
        print(f"check_flows: {e}", file=sys.stderr)
    n_actions = sum(len(f.get("Actions") or []) for f in checker.flows.values() if isinstance(f, dict))
    if errors:
        print(f"check_flows: {len(errors)} problem(s) in {len(checker.flows)} flows", file=sys.stderr)
        return 1
    print(f"check_flows: {len(checker.flows)} flows, {n_actions} actions OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
