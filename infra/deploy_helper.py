#!/usr/bin/env python3
"""Small helpers for infra/deploy.sh (stdlib only, so any deploy machine can run them).

  deploy_helper.py check-params PARAMS.json TEMPLATE...
      fail on keys of PARAMS.json that no TEMPLATE declares (typos), on missing required
      parameters (no Default) and on values outside AllowedPattern / AllowedValues; keys
      starting with "_" are comments, DEPLOY_KEYS are read by deploy.sh itself.
  deploy_helper.py cfn-params TEMPLATE PARAMS.json [Key=Value ...]
      print the CloudFormation `--parameters` JSON for the parameters TEMPLATE declares
      (values from PARAMS.json, then the Key=Value overrides).
  deploy_helper.py get PARAMS.json KEY [DEFAULT]
      print one value of PARAMS.json (DEFAULT, or empty, when absent).
  deploy_helper.py functions
      print the Lambda functions of the workspace, one a line: CargoLambda.toml's [build] bin,
      the one place they are declared.
  deploy_helper.py envfiles OUTPUTS.json DIR
      write DIR/<function>.env from the base stack's *Environment outputs (describe-stacks
      Outputs as JSON); empty values are left out (= not configured).
  deploy_helper.py check-artifact ZIP ARCH [DEST_DIR]
      refuse a bootstrap.zip whose `bootstrap` is not a 64-bit little-endian ELF executable of
      ARCH (arm64 | x86_64), read from the ELF header's e_machine, never from file names; with
      DEST_DIR, copy the zip to DEST_DIR/bootstrap.zip and extract DEST_DIR/bootstrap (the exact
      bytes that were checked, for `cargo lambda deploy --binary-path`). Prints the SHA-256s.
  deploy_helper.py publish FUNCTION ALIAS ARCH
      after `cargo lambda deploy`: check the function's Architectures and Handler, publish a
      version of exactly the uploaded code (--code-sha256), point ALIAS at it (created on the
      first deploy). Prints "FUNCTION ALIAS OLD NEW" (OLD "-" on the first deploy).
  deploy_helper.py rollback ALIAS FUNCTION... [--to-version N]
      move ALIAS of every FUNCTION back to the newest published version older than the one it
      points at (or to N); checks all functions before moving any.
  deploy_helper.py number-associate INSTANCE_ID PHONE_NUMBER_ID FLOW_ID
      record the flow the number is associated with now (a tag on the phone number), then
      associate it with FLOW_ID. The record is kept across deploys (only the pre-bundle flow).
  deploy_helper.py number-restore INSTANCE_ID PHONE_NUMBER_ID
      give the number back the flow recorded by number-associate (or no flow, when it had none)
      and drop the record.
  The AWS commands call the `aws` CLI (credentials, region and AWS_ENDPOINT_URL from the usual
  environment).
"""
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

DEPLOY_KEYS = {"MainPhoneNumberId", "CallbackReturnPhoneNumberId"}

# Values of infra/params/example.json that must not reach a deploy (check_values).
PLACEHOLDERS = {
    "111122223333": "the example AWS account 111122223333",
    "your-application-client-id": "the example client id",
    "<": "an unfilled <placeholder>",
}
# An instance/queue id of one repeated hex digit (00000000-0000-..., 11111111-1111-...).
PLACEHOLDER_UUID = re.compile(r"\b([0-9a-f])\1{7}-\1{4}-\1{4}-\1{4}-\1{12}\b")
ARN = re.compile(r"^arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):([0-9]{12})?:")
# Secret sources and the parameter that must name the extension layer when one is set.
SECRET_SOURCES = {
    "MindfulClientSecret": ("MindfulClientSecretArn", "MindfulClientSecretParameter"),
    "DatastoreToken": ("DatastoreTokenSecretArn", "DatastoreTokenParameter"),
}
LAYER_KEY = "ParametersSecretsExtensionLayerArn"
# ELF e_machine values (System V ABI; Linux include/uapi/linux/elf-em.h): EM_X86_64 62,
# EM_AARCH64 183. Lambda's two architectures: https://docs.aws.amazon.com/lambda/latest/dg/foundation-arch.html
ELF_MACHINES = {62: "x86_64", 183: "arm64"}
# The tag on a phone number that records its flow before the bundle took it over.
PREVIOUS_FLOW_TAG = "mindful:previous-flow-id"
NO_FLOW = "none"
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
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    problems += check_values(params, region)
    for p in problems:
        print(f"{params_path}: {p}", file=sys.stderr)
    return 1 if problems else 0


def check_values(params: dict, region: str) -> list:
    """What the templates' patterns cannot see: example placeholders, ARNs of another Region
    than the deploy's, secret sources without the extension layer, two sources for one secret."""
    problems = []
    for k, v in params.items():
        for needle, what in PLACEHOLDERS.items():
            if needle in v:
                problems.append(f"{k}={v!r} still holds {what} from params/example.json: put your own value")
        m = PLACEHOLDER_UUID.search(v)
        if m:
            problems.append(f"{k}={v!r}: {m.group(0)} is an example id from params/example.json: "
                            "put the real instance/queue id")
        m = ARN.match(v)
        if m and m.group(2) and region and m.group(2) != region:
            problems.append(f"{k}: the ARN is in Region {m.group(2)}, but the deploy goes to "
                            f"AWS_REGION={region} (Lambda, Connect and the extension layer must share it)")
    if not region:
        problems.append("AWS_REGION is not set: every ARN is checked against the Region of the deploy")
    for secret, (arn_key, param_key) in SECRET_SOURCES.items():
        arn, name = params.get(arn_key, ""), params.get(param_key, "")
        if arn and name:
            problems.append(f"{arn_key} and {param_key} are both set: give {secret} one source")
        if (arn or name) and not params.get(LAYER_KEY, ""):
            problems.append(f"{arn_key if arn else param_key} is set but {LAYER_KEY} is empty: the "
                            "functions read secrets through the arm64 Parameters and Secrets extension")
    return problems


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


def get(params_path: str, key: str, default: str = "") -> int:
    print(load_params(params_path).get(key, default))
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


def lambda_functions() -> list:
    """[build] bin of CargoLambda.toml (read without tomllib, so Python < 3.11 works too)."""
    path = pathlib.Path(__file__).resolve().parent.parent / "CargoLambda.toml"
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line
        elif section == "[build]" and line.startswith("bin"):
            m = re.fullmatch(r'bin\s*=\s*\[(.*)\]', line)
            if m:
                names = [n.strip().strip('"') for n in m.group(1).split(",") if n.strip()]
                if names:
                    return names
    sys.exit(f"{path}: no `bin = [...]` line in [build]")


def functions() -> int:
    print("\n".join(lambda_functions()))
    return 0


def elf_architecture(data: bytes, what: str) -> str:
    """Lambda architecture of a 64-bit little-endian ELF executable, from its e_machine."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        raise ValueError(f"{what} is not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ValueError(f"{what} is not a 64-bit little-endian ELF (class {data[4]}, data {data[5]})")
    machine = int.from_bytes(data[18:20], "little")
    if machine not in ELF_MACHINES:
        raise ValueError(f"{what} has ELF machine {machine}, neither x86_64 (62) nor aarch64 (183)")
    return ELF_MACHINES[machine]


def check_artifact(zip_path: str, arch: str, dest: str = "") -> int:
    if arch not in ELF_MACHINES.values():
        sys.exit(f"check-artifact: architecture {arch!r} is not one of {sorted(ELF_MACHINES.values())}")
    raw = pathlib.Path(zip_path).read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            names = z.namelist()
            if "bootstrap" not in names:
                raise ValueError(f"{zip_path} has no `bootstrap` at its root (entries: {names})")
            info = z.getinfo("bootstrap")
            bootstrap = z.read(info)
        got = elf_architecture(bootstrap, f"{zip_path}:bootstrap")
    except (zipfile.BadZipFile, ValueError) as e:
        print(f"REFUSED: {e}", file=sys.stderr)
        return 1
    if got != arch:
        print(f"REFUSED: {zip_path}:bootstrap is built for {got}, the function runs on {arch}: "
              f"uploading it would make every invocation fail (build with "
              f"{'--arm64' if arch == 'arm64' else '--x86-64'})", file=sys.stderr)
        return 1
    mode = (info.external_attr >> 16) & 0o777
    if mode and not mode & 0o100:
        print(f"REFUSED: {zip_path}:bootstrap is not executable (mode {oct(mode)})", file=sys.stderr)
        return 1
    if dest:
        out = pathlib.Path(dest)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        (out / "bootstrap.zip").write_bytes(raw)
        (out / "bootstrap").write_bytes(bootstrap)
        (out / "bootstrap").chmod(0o755)
    print(f"{zip_path}: bootstrap {got} ELF, zip sha256 {hashlib.sha256(raw).hexdigest()}, "
          f"bootstrap sha256 {hashlib.sha256(bootstrap).hexdigest()}")
    return 0


def aws(*args: str, ok_errors: tuple = ()) -> dict:
    """Run `aws ARGS --output json`; {} for no output. An error whose text contains one of
    ok_errors returns None instead of failing."""
    proc = subprocess.run(["aws", *args, "--output", "json"], capture_output=True, text=True)
    if proc.returncode != 0:
        if any(e in proc.stderr for e in ok_errors):
            return None
        sys.exit(f"aws {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def publish(function: str, alias: str, arch: str) -> int:
    # PublishVersion fails while an update is in progress (LastUpdateStatus InProgress):
    # https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
    aws("lambda", "wait", "function-updated", "--function-name", function)
    cfg = aws("lambda", "get-function-configuration", "--function-name", function)
    if cfg.get("Architectures") != [arch]:
        sys.exit(f"{function}: Architectures {cfg.get('Architectures')}, expected [{arch!r}]: "
                 f"alias {alias} not moved")
    if cfg.get("Handler") != "bootstrap" or not str(cfg.get("Runtime", "")).startswith("provided."):
        sys.exit(f"{function}: Runtime {cfg.get('Runtime')} / Handler {cfg.get('Handler')}: alias {alias} not moved")
    # https://docs.aws.amazon.com/lambda/latest/api/API_PublishVersion.html: CodeSha256 makes the
    # publish fail if $LATEST changed since we read it; an unchanged function returns its version.
    version = aws("lambda", "publish-version", "--function-name", function,
                  "--code-sha256", cfg["CodeSha256"], "--description",
                  os.environ.get("DEPLOY_DESCRIPTION", "infra/deploy.sh"))["Version"]
    current = aws("lambda", "get-alias", "--function-name", function, "--name", alias,
                  ok_errors=("ResourceNotFoundException",))
    if current is None:
        aws("lambda", "create-alias", "--function-name", function, "--name", alias,
            "--function-version", version, "--description", "Amazon Connect invokes this alias")
        old = "-"
    else:
        old = current["FunctionVersion"]
        if old != version:
            aws("lambda", "update-alias", "--function-name", function, "--name", alias,
                "--function-version", version)
    print(f"{function} {alias} {old} {version}")
    return 0


def versions_of(function: str) -> list:
    out, marker = [], None
    while True:
        args = ["lambda", "list-versions-by-function", "--function-name", function]
        if marker:
            args += ["--marker", marker]
        page = aws(*args)
        out += [int(v["Version"]) for v in page.get("Versions", []) if v["Version"].isdigit()]
        marker = page.get("NextMarker")
        if not marker:
            return sorted(out)


def rollback(alias: str, *rest: str) -> int:
    functions, target = [], None
    it = iter(rest)
    for a in it:
        if a == "--to-version":
            target = next(it, "")
            if not target.isdigit():
                sys.exit("rollback: --to-version needs a version number")
        else:
            functions.append(a)
    if not functions:
        sys.exit("rollback: no functions given")
    plan = []
    for function in functions:
        current = aws("lambda", "get-alias", "--function-name", function, "--name", alias,
                      ok_errors=("ResourceNotFoundException",))
        if current is None:
            sys.exit(f"rollback: {function} has no alias {alias} (never deployed by infra/deploy.sh)")
        now = int(current["FunctionVersion"])
        versions = versions_of(function)
        if target is not None:
            if int(target) not in versions:
                sys.exit(f"rollback: {function} has no version {target} (versions {versions})")
            to = int(target)
        else:
            older = [v for v in versions if v < now]
            if not older:
                sys.exit(f"rollback: {function}:{alias} is at version {now}, there is no older version")
            to = older[-1]
        plan.append((function, now, to))
    for function, now, to in plan:
        aws("lambda", "update-alias", "--function-name", function, "--name", alias,
            "--function-version", str(to))
        print(f"{function}:{alias} {now} -> {to}")
    return 0


def phone_number(phone_number_id: str) -> dict:
    return aws("connect", "describe-phone-number", "--phone-number-id",
               phone_number_id)["ClaimedPhoneNumberSummary"]


def current_flow(instance_id: str, number: dict) -> str:
    """The flow a voice number is associated with (NO_FLOW when none), from ListFlowAssociations
    (https://docs.aws.amazon.com/connect/latest/APIReference/API_ListFlowAssociations.html)."""
    listed = aws("connect", "list-flow-associations", "--instance-id", instance_id,
                 "--resource-type", "VOICE_PHONE_NUMBER")
    ids = {number["PhoneNumberId"], number.get("PhoneNumberArn", "")}
    for a in listed.get("FlowAssociationSummaryList", []):
        if a.get("ResourceId") in ids:
            return a.get("FlowId") or NO_FLOW
    return NO_FLOW


def number_associate(instance_id: str, phone_number_id: str, flow_id: str) -> int:
    number = phone_number(phone_number_id)
    recorded = (number.get("Tags") or {}).get(PREVIOUS_FLOW_TAG)
    now = current_flow(instance_id, number)
    if recorded is None and now != flow_id:
        aws("connect", "tag-resource", "--resource-arn", number["PhoneNumberArn"],
            "--tags", json.dumps({PREVIOUS_FLOW_TAG: now}))
        recorded = now
        print(f"phone number {phone_number_id}: recorded its flow before the bundle: {now}")
    if now != flow_id:
        aws("connect", "associate-phone-number-contact-flow", "--instance-id", instance_id,
            "--phone-number-id", phone_number_id, "--contact-flow-id", flow_id)
    print(f"phone number {phone_number_id} -> flow {flow_id} (restore: {recorded or 'nothing recorded'})")
    return 0


def number_restore(instance_id: str, phone_number_id: str) -> int:
    number = phone_number(phone_number_id)
    recorded = (number.get("Tags") or {}).get(PREVIOUS_FLOW_TAG)
    if recorded is None:
        print(f"phone number {phone_number_id}: no recorded flow ({PREVIOUS_FLOW_TAG} tag): left as it is")
        return 0
    if recorded == NO_FLOW:
        aws("connect", "disassociate-phone-number-contact-flow", "--instance-id", instance_id,
            "--phone-number-id", phone_number_id)
    else:
        aws("connect", "associate-phone-number-contact-flow", "--instance-id", instance_id,
            "--phone-number-id", phone_number_id, "--contact-flow-id", recorded)
    aws("connect", "untag-resource", "--resource-arn", number["PhoneNumberArn"],
        "--tag-keys", PREVIOUS_FLOW_TAG)
    print(f"phone number {phone_number_id} -> {'no flow' if recorded == NO_FLOW else 'flow ' + recorded} (restored)")
    return 0


COMMANDS = {
    "check-params": check_params, "cfn-params": cfn_params, "get": get, "envfiles": envfiles,
    "check-artifact": check_artifact, "functions": functions, "publish": publish, "rollback": rollback,
    "number-associate": number_associate, "number-restore": number_restore,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
