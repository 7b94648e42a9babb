#!/usr/bin/env python3
"""Small helpers for infra/deploy.sh (stdlib only, so any deploy machine can run them).

  deploy_helper.py check-params PARAMS.json TEMPLATE...
      fail on keys of PARAMS.json that no TEMPLATE declares (typos), on missing required
      parameters (no Default) and on values outside AllowedPattern / AllowedValues; keys
      starting with "_" are comments, DEPLOY_KEYS are read by deploy.sh itself.
  deploy_helper.py cfn-params TEMPLATE PARAMS.json [Key=Value ...]
      print the CloudFormation `--parameters` JSON for the parameters TEMPLATE declares
      (values from PARAMS.json, then the Key=Value overrides).
  deploy_helper.py get PARAMS.json KEY
      print one value of PARAMS.json (empty when absent).
  deploy_helper.py envfiles OUTPUTS.json DIR
      write DIR/<function>.env from the base stack's *Environment outputs (describe-stacks
      Outputs as JSON); empty values are left out (= not configured).
"""
import json
import pathlib
import re
import sys

DEPLOY_KEYS = {"MainPhoneNumberId", "CallbackReturnPhoneNumberId"}
ENV_OUTPUTS = {
    "OcwPhraseEnvironment": "ocw-phrase",
    "DatastoreProxyEnvironment": "datastore-proxy",
    "AgentAnswerEnvironment": "agent-answer",
}
ENV_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


def template_constraints(path: str) -> dict:
    """{name: (AllowedPattern or None, AllowedValues or None)} from the `Parameters:` block."""
    constraints, inside, current = {}, False, None
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        if re.match(r"^\S", line):
            inside, current = line.startswith("Parameters:"), None
            continue
        if not inside:
            continue
        m = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if m:
            current = m.group(1)
            constraints[current] = (None, None)
            continue
        if not current:
            continue
        m = re.match(r'^    AllowedPattern:\s*(".*")\s*$', line)
        if m:  # YAML double-quoted; the escapes used (\\) read the same as JSON
            constraints[current] = (json.loads(m.group(1)), constraints[current][1])
        m = re.match(r"^    AllowedValues:\s*\[(.*)\]\s*$", line)
        if m:
            values = [v.strip().strip('"').strip("'") for v in m.group(1).split(",")]
            constraints[current] = (constraints[current][0], values)
    return constraints


def template_parameters(path: str) -> dict:
    """{name: has_default} from the top-level `Parameters:` block (two-space indented keys)."""
    params, inside, current = {}, False, None
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        if re.match(r"^\S", line):
            inside = line.startswith("Parameters:")
            current = None
            continue
        if not inside:
            continue
        m = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if m:
            current = m.group(1)
            params[current] = False
        elif current and re.match(r"^    Default:", line):
            params[current] = True
    if not params:
        sys.exit(f"{path}: no Parameters found")
    return params


def load_params(path: str) -> dict:
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"{path}: {e}")
    if not isinstance(data, dict):
        sys.exit(f"{path}: expected a JSON object of ParameterName: value")
    return {k: ("" if v is None else str(v)) for k, v in data.items() if not k.startswith("_")}


def check_params(params_path: str, *templates: str) -> int:
    params = load_params(params_path)
    declared = {}
    for t in templates:
        declared.update(template_parameters(t))
    constraints = {}
    for t in templates:
        constraints.update(template_constraints(t))
    problems = [f"unknown parameter {k!r} (not in {', '.join(templates)})"
                for k in params if k not in declared and k not in DEPLOY_KEYS]
    for k, v in params.items():
        pattern, allowed = constraints.get(k, (None, None))
        if pattern is not None and not re.fullmatch(pattern, v):
            problems.append(f"{k}={v!r} does not match the template's AllowedPattern {pattern}")
        if allowed is not None and v not in allowed:
            problems.append(f"{k}={v!r} is not one of {allowed}")
    # Function ARNs of the connect stack are filled in by deploy.sh after `cargo lambda deploy`.
    problems += [f"missing required parameter {k!r}" for k, has_default in declared.items()
                 if not has_default and k not in params and not k.endswith("FunctionArn")]
    for p in problems:
        print(f"{params_path}: {p}", file=sys.stderr)
    return 1 if problems else 0


def cfn_params(template: str, params_path: str, *overrides: str) -> int:
    declared = template_parameters(template)
    values = {k: v for k, v in load_params(params_path).items() if k in declared}
    for o in overrides:
        key, sep, value = o.partition("=")
        if not sep or key not in declared:
            sys.exit(f"bad override {o!r} for {template}")
        values[key] = value
    print(json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]))
    return 0


def get(params_path: str, key: str) -> int:
    print(load_params(params_path).get(key, ""))
    return 0


def envfiles(outputs_path: str, directory: str) -> int:
    outputs = json.loads(pathlib.Path(outputs_path).read_text(encoding="utf-8")) or []
    by_key = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for key, function in ENV_OUTPUTS.items():
        if key not in by_key:
            sys.exit(f"stack output {key} is missing")
        try:
            env = json.loads(by_key[key])
        except json.JSONDecodeError as e:
            sys.exit(f"stack output {key} is not a JSON object: {e}")
        lines = []
        for name, value in env.items():
            value = str(value)
            if not ENV_KEY.match(name) or "\n" in value:
                sys.exit(f"stack output {key}: bad variable {name!r}")
            if value != "":
                lines.append(f"{name}={value}")
        path = out / f"{function}.env"
        path.write_text(
            f"# GENERATED by infra/deploy.sh from the base stack's {key} output. Do not edit.\n"
            + "\n".join(lines) + "\n",
            encoding="utf-8",
        )
        print(f"wrote {path} ({len(lines)} variables)")
    return 0


COMMANDS = {"check-params": check_params, "cfn-params": cfn_params, "get": get, "envfiles": envfiles}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
