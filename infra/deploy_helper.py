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
  deploy_helper.py names PARAMS.json
      shell assignments of the stage's names (STAGE, INSTANCE_ID, BASE_STACK, OPERATIONS_STACK,
      CONNECT_STACK, RECORDS, FUNCTION_PREFIX), all derived from the params' Stage.
  deploy_helper.py check-artifact ZIP ARCH [DEST_DIR]
      refuse a bootstrap.zip whose `bootstrap` is not a 64-bit little-endian ELF executable of
      ARCH (arm64 | x86_64), read from the ELF header's e_machine, never from file names; with
      DEST_DIR, copy the zip to DEST_DIR/bootstrap.zip and extract DEST_DIR/bootstrap (the exact
      bytes that were checked). Prints the SHA-256s.
  deploy_helper.py preflight PARAMS.json [--architecture=ARCH] [--skip-connect]
      read-only calls before any change: same account, secrets / SSM parameters / layer exist,
      Connect instance, queues and phone numbers, nothing of another stage or instance (tags).
  deploy_helper.py check-owner PARAMS.json
      only the last of those (teardown).
  deploy_helper.py stack-deploy STACK TEMPLATE PARAMS_JSON STAGE INSTANCE_ID
      create or update STACK and wait; on failure print the failed resources' reasons; replace
      a ROLLBACK_COMPLETE stack.
  deploy_helper.py function-deploy NAME ZIP ENV_FILE ROLE ARCH LAYER DEPLOY_ID COMMIT STAGE INSTANCE_ID
      upload ZIP verbatim (CodeSha256 verified) with its configuration, publish a version only
      when something changed; prints a JSON line (function, version, previous, hashes).
  deploy_helper.py aliases-move ALIAS RESULTS.jsonl
      point ALIAS of every function of RESULTS at its version, in one pass.
  deploy_helper.py record-start PARAMS.json RECORD.json COMMIT ARCH | record-stack RECORD.json KIND
          STACK TEMPLATE PARAMS_JSON | record-finish PARAMS.json RECORD.json RESULTS.jsonl
      the deploy record in SSM (/mindful-connect/<stage>/deploys/<id>, and .../live).
  deploy_helper.py history PARAMS.json
      list the stage's records.
  deploy_helper.py rollback PARAMS.json [--to DEPLOY_ID]
      back to the record before the live one (or DEPLOY_ID): stacks and aliases, all checked
      before any change.
  deploy_helper.py teardown-records PARAMS.json
      delete the stage's records.
  deploy_helper.py publish-tests PARAMS.json FLOW_ID [TESTS_DIR]
      create or update the Connect test cases mindful-connect-<stage>-<file> from TESTS_DIR
      (infra/tests) on the instance, entering at FLOW_ID: local-only Metadata dropped, local
      function ARNs -> the stage's alias `live` ARNs, the live queues -> TestQueueArn (refused
      without one); tests that need a local-only set-up are listed and left out.
  deploy_helper.py verify PARAMS.json [--timeout SECONDS] [--tests DIR]
      run those test cases, at most 5 at once, each until done or SECONDS (360); one line per
      test with the failed records; exit 1 when any did not pass.
  The AWS commands call the `aws` CLI (credentials, region and AWS_ENDPOINT_URL from the usual
  environment).
"""
import base64
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

# Keys of the params file that deploy.sh reads itself (no template declares them).
DEPLOY_KEYS = {"Stage", "MainPhoneNumberId", "CallbackReturnPhoneNumberId", "TestQueueArn"}
PHONE_NUMBER_KEYS = ("MainPhoneNumberId", "CallbackReturnPhoneNumberId")

# --- names (issue 23, item 3): the stage is part of every name -------------------------------------
# Stacks <APP>-<stage>-{base,operations,connect}; functions mindful-<stage>-<function> (base.yaml's
# FunctionNamePrefix, derived here, never set by hand); the role is named by CloudFormation after
# its stack; deploy records live under /<APP>/<stage>/ in SSM Parameter Store. Lower-case letters
# and digits only: with a hyphen, stage "prod" would be a prefix of stage "prod-eu"'s names.
APP = "mindful-connect"
STAGE = re.compile(r"^[a-z][a-z0-9]{1,11}$")
TAG_APP = ("app", "mindful-connect-callbacks")
TAG_STAGE = "mindful:stage"
TAG_INSTANCE = "mindful:instance"
STACK_KINDS = ("base", "operations", "connect")
STACK_TEMPLATES = {"base": "infra/base.yaml", "operations": "infra/operations.yaml", "connect": "infra/template.yaml"}

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
    # No SSM alternative in the stack for this optional token (the function reads one: set
    # SCHEDULER_TOKEN_PARAMETER by hand if you need it).
    "SchedulerToken": ("SchedulerTokenSecretArn", ""),
}
LAYER_KEY = "ParametersSecretsExtensionLayerArn"
# ELF e_machine values (System V ABI; Linux include/uapi/linux/elf-em.h): EM_X86_64 62,
# EM_AARCH64 183. Lambda's two architectures: https://docs.aws.amazon.com/lambda/latest/dg/foundation-arch.html
ELF_MACHINES = {62: "x86_64", 183: "arm64"}
# The tag on a phone number that records its flow before the bundle took it over.
PREVIOUS_FLOW_TAG = "mindful:previous-flow-id"
NO_FLOW = "none"
ENV_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


def template_parameter_fields(path: str) -> dict:
    """{name: {field: raw value text}} of the top-level `Parameters:` block (two-space indented
    names, four-space indented fields): the one stdlib reader of a template's parameters, since
    this file must run without PyYAML. The checks' full loader is infra/cfn_yaml.py."""
    fields, inside, current = {}, False, None
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        if re.match(r"^\S", line):
            inside, current = line.startswith("Parameters:"), None
            continue
        if not inside:
            continue
        m = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if m:
            current = m.group(1)
            fields[current] = {}
            continue
        m = re.match(r"^    ([A-Za-z]+):\s*(.*?)\s*$", line)
        if current and m:
            fields[current][m.group(1)] = m.group(2)
    return fields


def template_constraints(path: str) -> dict:
    """{name: (AllowedPattern or None, AllowedValues or None)} from the `Parameters:` block."""
    constraints = {}
    for name, f in template_parameter_fields(path).items():
        pattern = f.get("AllowedPattern", "")
        # YAML double-quoted; the escapes used (\\) read the same as JSON
        pattern = json.loads(pattern) if pattern.startswith('"') else None
        values = f.get("AllowedValues", "")
        if values.startswith("[") and values.endswith("]"):
            values = [v.strip().strip('"').strip("'") for v in values[1:-1].split(",")]
        else:
            values = None
        constraints[name] = (pattern, values)
    return constraints


def template_parameters(path: str) -> dict:
    """{name: has_default} from the top-level `Parameters:` block."""
    params = {name: "Default" in f for name, f in template_parameter_fields(path).items()}
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


def effective_params(path: str) -> dict:
    """The params file as the stacks get it: the names derived from Stage filled in."""
    params = load_params(path)
    stage = params.get("Stage", "")
    if not STAGE.fullmatch(stage):
        sys.exit(f"{path}: Stage={stage!r}: set \"Stage\" (2-12 lower-case letters or digits, starting "
                 "with a letter, e.g. \"staging\"): it is part of every stack, function, role and "
                 "deploy-record name, so two stages never touch each other")
    if "FunctionNamePrefix" in params:
        sys.exit(f"{path}: FunctionNamePrefix is derived from Stage (mindful-{stage}-): remove the key")
    params["FunctionNamePrefix"] = f"mindful-{stage}-"
    # Flow names are unique per Connect instance: two stages on one instance need their own.
    flows = params.setdefault("FlowNamePrefix", f"Mindful {stage} - ")
    if stage not in flows:
        sys.exit(f"{path}: FlowNamePrefix={flows!r} must contain the stage {stage!r} (or leave it out: "
                 f"'Mindful {stage} - ')")
    return params


def instance_id_of(params: dict) -> str:
    return params.get("ConnectInstanceArn", "").rpartition("instance/")[2].split("/")[0]


def names(params: dict) -> dict:
    stage = params["Stage"]
    out = {f"{kind.upper()}_STACK": f"{APP}-{stage}-{kind}" for kind in STACK_KINDS}
    out.update(STAGE=stage, INSTANCE_ID=instance_id_of(params), RECORDS=f"/{APP}/{stage}",
               FUNCTION_PREFIX=params["FunctionNamePrefix"])
    return out


def names_command(params_path: str) -> int:
    """Shell assignments for deploy.sh (eval)."""
    import shlex
    for key, value in names(effective_params(params_path)).items():
        print(f"{key}={shlex.quote(value)}")
    return 0


def check_params(params_path: str, *templates: str) -> int:
    params = effective_params(params_path)
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
    problems += check_fictional(params)
    problems += check_shapes(params)
    for secret, (arn_key, param_key) in SECRET_SOURCES.items():
        arn, name = params.get(arn_key, ""), params.get(param_key, "") if param_key else ""
        if arn and name:
            problems.append(f"{arn_key} and {param_key} are both set: give {secret} one source")
        if (arn or name) and not params.get(LAYER_KEY, ""):
            problems.append(f"{arn_key if arn else param_key} is set but {LAYER_KEY} is empty: the "
                            "functions read secrets through the arm64 Parameters and Secrets extension")
    return problems


# Values that look real but reach nobody: the 555-0100..555-0199 numbers reserved for fiction in
# the North American Numbering Plan, and the example domains of RFC 2606 (example.com/.net/.org
# and the .example TLD). params/example.json uses them; a deploy with them would send callers
# to a number that does not exist and alarms to nobody.
FICTIONAL_NUMBER = re.compile(r"\+1[0-9]{3}55501[0-9]{2}\b")
FICTIONAL_DOMAIN = re.compile(r"(?:^|[@/.])(example\.(?:com|net|org)|[a-z0-9-]+\.example)(?:$|[/:?#,\s])",
                              re.IGNORECASE)
# Amazon Connect ids (instance, queue, phone number) are UUIDs.
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SECRET_SUFFIX = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$")


def check_fictional(params: dict) -> list:
    problems = []
    for k, v in params.items():
        m = FICTIONAL_NUMBER.search(v)
        if m:
            problems.append(f"{k}={v!r}: {m.group(0)} is a fictional 555-01xx number (the example's): "
                            "put the real number")
        m = FICTIONAL_DOMAIN.search(v)
        if m:
            problems.append(f"{k}={v!r}: {m.group(1)} is an example domain (RFC 2606) that reaches nobody: "
                            "put a real address")
    return problems


def check_shapes(params: dict) -> list:
    """Offline shape checks that need no AWS call: phone number ids, queues of the instance,
    secret ARNs with their 6-character suffix."""
    problems = []
    for key in PHONE_NUMBER_KEYS:
        v = params.get(key, "")
        if v and not UUID.fullmatch(v):
            problems.append(f"{key}={v!r} is not a phone number id (a UUID, from `aws connect "
                            "list-phone-numbers-v2 --target-arn <instance ARN>`; not the number itself)")
    instance = params.get("ConnectInstanceArn", "")
    for key in ("InboundQueueArn", "CallbackDefaultQueueArn", "TestQueueArn"):
        v = params.get(key, "")
        if v and instance and not v.startswith(instance + "/queue/"):
            problems.append(f"{key}={v!r} is not a queue of ConnectInstanceArn {instance!r}")
    test_queue = params.get("TestQueueArn", "")
    for key in ("InboundQueueArn", "CallbackDefaultQueueArn"):
        if test_queue and test_queue == params.get(key):
            problems.append(f"TestQueueArn is {key}: the post-deploy test contacts would reach live agents")
    for key in ("MindfulClientSecretArn", "DatastoreTokenSecretArn", "SchedulerTokenSecretArn"):
        v = params.get(key, "")
        if v and not SECRET_SUFFIX.fullmatch(v):
            problems.append(f"{key}={v!r} has no 6-character suffix (…-AbCdEf): the role's policy names "
                            "the exact ARN and would not match it; use the full ARN (aws secretsmanager "
                            "describe-secret --secret-id NAME --query ARN)")
    return problems


def cfn_params(template: str, params_path: str, *overrides: str) -> int:
    declared = template_parameters(template)
    values = {k: v for k, v in effective_params(params_path).items() if k in declared}
    for o in overrides:
        key, sep, value = o.partition("=")
        if not sep or key not in declared:
            sys.exit(f"bad override {o!r} for {template}")
        values[key] = value
    print(json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]))
    return 0


def get(params_path: str, key: str, default: str = "") -> int:
    print(effective_params(params_path).get(key, default))
    return 0


def env_output(function: str) -> str:
    """The base stack output holding a function's environment: `<Function>Environment`, the
    name in CamelCase (ocw-phrase -> OcwPhraseEnvironment), as base.yaml names them and
    bundle_testkit::stack::environment_output computes them."""
    return "".join(word[:1].upper() + word[1:] for word in function.split("-")) + "Environment"


def envfiles(outputs_path: str, directory: str) -> int:
    outputs = json.loads(pathlib.Path(outputs_path).read_text(encoding="utf-8")) or []
    by_key = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for function in lambda_functions():
        key = env_output(function)
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


def _cli_in_process():
    """awscli's driver when the `aws` on PATH is the AWS CLI v1 of this very Python (its script
    sits beside sys.executable): the same program run without a new interpreter, which saves
    about a second per call. Any other `aws` (CLI v2, a wrapper) runs as a process."""
    if os.environ.get("DEPLOY_AWS_SUBPROCESS") == "1":
        return None
    found = shutil.which("aws")
    if not found or os.path.dirname(os.path.abspath(found)) != os.path.dirname(os.path.abspath(sys.executable)):
        return None
    try:
        from awscli.clidriver import create_clidriver
    except ImportError:
        return None
    return create_clidriver


def _run_aws(args: list) -> tuple:
    driver = _cli_in_process()
    if driver is None:
        proc = subprocess.run(["aws", *args], capture_output=True, text=True)
        return proc.returncode, proc.stdout, proc.stderr
    import contextlib
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = driver().main(list(args))
    return rc, out.getvalue(), err.getvalue()


def aws(*args: str, ok_errors: tuple = ()) -> dict:
    """Run `aws ARGS --output json`; {} for no output. An error whose text contains one of
    ok_errors returns None instead of failing."""
    rc, stdout, stderr = _run_aws([*args, "--output", "json"])
    if rc != 0:
        if any(e in stderr for e in ok_errors):
            return None
        sys.exit(f"aws {' '.join(args)} failed:\n{stderr.strip()}")
    return json.loads(stdout) if stdout.strip() else {}


# --- ownership (issue 23, item 3): a deploy touches only what its stage and instance own -----------
def tags_of_stack(stack: str):
    """None when the stack does not exist (or is deleted), else its tags."""
    got = aws("cloudformation", "describe-stacks", "--stack-name", stack, ok_errors=("does not exist",))
    if not got or not got.get("Stacks"):
        return None
    st = got["Stacks"][0]
    return {t["Key"]: t["Value"] for t in st.get("Tags", [])}, st["StackStatus"]


def function_info(name: str):
    """(tags, architectures) of a function, None when it does not exist."""
    got = aws("lambda", "get-function", "--function-name", name, ok_errors=("ResourceNotFoundException",))
    return None if got is None else (got.get("Tags") or {}, got["Configuration"].get("Architectures"))


def owner_problems(params: dict, arch: str = "") -> list:
    """Stacks, functions and the live record with our names that another stage or instance owns;
    with ARCH, functions of another architecture (Lambda cannot change it in place)."""
    n = names(params)
    want = {TAG_STAGE: n["STAGE"], TAG_INSTANCE: n["INSTANCE_ID"]}
    problems = []

    def compare(what, tags):
        got = {k: tags.get(k) for k in want}
        if got != want:
            owner = ", ".join(f"{k}={v}" for k, v in got.items()) if any(got.values()) else "no mindful:* tags"
            problems.append(f"{what} belongs to {owner}, this deploy is stage {n['STAGE']} on instance "
                            f"{n['INSTANCE_ID']}: refused (another stage's or instance's resource, or one "
                            "made outside deploy.sh; fix the params' Stage/ConnectInstanceArn, or delete it)")

    # A deleted stack (DescribeStacks may list one, with its old tags) owns nothing any more.
    stacks = {st["StackName"]: st for st in aws("cloudformation", "describe-stacks").get("Stacks", [])
              if st.get("StackStatus") != "DELETE_COMPLETE"}
    for kind in STACK_KINDS:
        st = stacks.get(n[f"{kind.upper()}_STACK"])
        if st is not None:
            compare(f"stack {st['StackName']}", {t["Key"]: t["Value"] for t in st.get("Tags", [])})
    for fn in lambda_functions():
        info = function_info(n["FUNCTION_PREFIX"] + fn)
        if info is not None:
            compare(f"function {n['FUNCTION_PREFIX'] + fn}", info[0])
            if arch and info[1] != [arch]:
                problems.append(f"function {n['FUNCTION_PREFIX'] + fn} runs on {info[1]}, the artifacts are "
                                f"{arch}: refused (Lambda cannot change it; teardown first)")
    live = record_get(n["RECORDS"], live_id(n["RECORDS"]))
    if live and live.get("instance") != n["INSTANCE_ID"]:
        problems.append(f"the deploy records under {n['RECORDS']} are of instance {live.get('instance')}, "
                        f"this deploy is of {n['INSTANCE_ID']}: refused")
    return problems


def check_owner(params_path: str) -> int:
    problems = owner_problems(effective_params(params_path))
    for p in problems:
        print(f"REFUSED: {p}", file=sys.stderr)
    return 1 if problems else 0


# --- pre-flight (issue 23, item 5): what only the account can answer, read-only ------------------
def preflight(params_path: str, *flags: str) -> int:
    """Read-only calls before any change: same account, the secrets and the layer exist, and with
    Connect, the queues and phone numbers belong to the instance. Prints what it checked."""
    params = effective_params(params_path)
    skip_connect = "--skip-connect" in flags
    arch = next((f.split("=", 1)[1] for f in flags if f.startswith("--architecture=")), "")
    problems, checked = [], []
    account = aws("sts", "get-caller-identity")["Account"]
    checked.append(f"account {account}")
    for k, v in params.items():
        m = ARN.match(v)
        # The extension layer is published by AWS from its own account; everything else is ours.
        if m and m.group(3) and m.group(3) != account and k != LAYER_KEY:
            problems.append(f"{k}: the ARN is in account {m.group(3)}, the credentials are of account {account}")
    for key in ("MindfulClientSecretArn", "DatastoreTokenSecretArn", "SchedulerTokenSecretArn"):
        arn = params.get(key, "")
        if not arn:
            continue
        got = aws("secretsmanager", "describe-secret", "--secret-id", arn,
                  ok_errors=("ResourceNotFoundException",))
        if got is None:
            problems.append(f"{key}: secret {arn} does not exist (create it first: docs/deploy.md, step 3)")
        elif got.get("ARN") != arn:
            problems.append(f"{key}: {arn} names secret {got.get('ARN')}: use that full ARN "
                            "(the role may read exactly the ARN given)")
        else:
            checked.append(f"secret {arn}")
    for key in ("MindfulClientSecretParameter", "DatastoreTokenParameter"):
        name = params.get(key, "")
        if not name:
            continue
        got = aws("ssm", "describe-parameters", "--parameter-filters",
                  f"Key=Name,Option=Equals,Values={name}").get("Parameters", [])
        if not got:
            problems.append(f"{key}: SSM parameter {name} does not exist (create it: docs/deploy.md, step 3)")
        elif got[0].get("Type") != "SecureString":
            problems.append(f"{key}: SSM parameter {name} is a {got[0].get('Type')}, not a SecureString "
                            "(the secret would be stored unencrypted)")
        else:
            checked.append(f"parameter {name} (SecureString)")
    layer = params.get(LAYER_KEY, "")
    if layer:
        # GetLayerVersion with the layer's ARN (moto 5.2.5 has no GetLayerVersionByArn).
        layer_arn, _, number = layer.rpartition(":")
        if aws("lambda", "get-layer-version", "--layer-name", layer_arn, "--version-number", number,
               ok_errors=("ResourceNotFoundException", "AccessDenied")) is None:
            problems.append(f"{LAYER_KEY}: layer version {layer} not found (or not readable)")
        else:
            checked.append(f"layer {layer}")
    if skip_connect:
        checked.append("Connect (instance, queues, phone numbers): skipped with --skip-connect")
    else:
        instance = params.get("ConnectInstanceArn", "")
        iid = instance_id_of(params)
        if aws("connect", "describe-instance", "--instance-id", iid, ok_errors=("ResourceNotFoundException",)) is None:
            problems.append(f"ConnectInstanceArn: instance {instance} not found")
        for key in ("InboundQueueArn", "CallbackDefaultQueueArn", "TestQueueArn"):
            queue_id = params.get(key, "").rpartition("/queue/")[2]
            if queue_id and aws("connect", "describe-queue", "--instance-id", iid, "--queue-id", queue_id,
                                ok_errors=("ResourceNotFoundException",)) is None:
                problems.append(f"{key}: queue {queue_id} is not a queue of instance {iid}")
        for key in ("MainPhoneNumberId", "CallbackReturnPhoneNumberId"):
            number_id = params.get(key, "")
            if not number_id:
                continue
            got = aws("connect", "describe-phone-number", "--phone-number-id", number_id,
                      ok_errors=("ResourceNotFoundException",))
            target = (got or {}).get("ClaimedPhoneNumberSummary", {}).get("TargetArn")
            if target != instance:
                problems.append(f"{key}: phone number {number_id} is "
                                f"{'not claimed' if got is None else 'claimed for ' + str(target)}, "
                                f"not for {instance}")
        checked.append("Connect instance, queues and phone numbers")
    problems += owner_problems(params, arch)
    for c in checked:
        print(f"pre-flight: ok {c}")
    for p in problems:
        print(f"REFUSED (pre-flight): {p}", file=sys.stderr)
    return 1 if problems else 0


# --- stacks (issue 23, item 7): failures you can act on, ROLLBACK_COMPLETE handled ---------------
STACK_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
STACK_FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED",
                "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"}


def stack_failures(stack: str, since: str = "") -> list:
    """The failed resources of a stack's latest operation, with CloudFormation's reasons."""
    events = aws("cloudformation", "describe-stack-events", "--stack-name", stack,
                 ok_errors=("does not exist",)) or {}
    out = []
    for e in events.get("StackEvents", []):
        if since and str(e.get("Timestamp", "")) < since:
            break  # newest first
        if str(e.get("ResourceStatus", "")).endswith("FAILED"):
            out.append(f"{e.get('LogicalResourceId')} ({e.get('ResourceType')}) {e.get('ResourceStatus')}: "
                       f"{e.get('ResourceStatusReason') or 'no reason given'}")
    return out


def stack_wait(stack: str, since: str, poll: float) -> str:
    import time
    while True:
        got = aws("cloudformation", "describe-stacks", "--stack-name", stack, ok_errors=("does not exist",))
        status = got["Stacks"][0]["StackStatus"] if got and got.get("Stacks") else "DELETE_COMPLETE"
        if not status.endswith("_IN_PROGRESS"):
            return status
        time.sleep(poll)


def stack_fail(stack: str, status: str, since: str) -> int:
    print(f"deploy: stack {stack} is {status}; failed resources:", file=sys.stderr)
    for line in stack_failures(stack, since) or ["(no failed resource events: aws cloudformation "
                                                 f"describe-stack-events --stack-name {stack})"]:
        print(f"  {line}", file=sys.stderr)
    return 1


def stack_deploy(stack: str, template: str, params_json: str, stage: str, instance: str) -> int:
    """Create or update STACK and wait; a stack left in ROLLBACK_COMPLETE by a failed first
    create (CloudFormation allows only deleting it) is deleted and created again."""
    import datetime
    poll = float(os.environ.get("DEPLOY_POLL_SECONDS", "5"))
    since = datetime.datetime.now(datetime.timezone.utc).isoformat()
    tags = [f"Key={TAG_APP[0]},Value={TAG_APP[1]}", f"Key={TAG_STAGE},Value={stage}",
            f"Key={TAG_INSTANCE},Value={instance}"]
    body = ["--template-body", f"file://{template}", "--parameters", f"file://{params_json}",
            "--capabilities", "CAPABILITY_IAM", "--tags", *tags]
    found = tags_of_stack(stack)
    status = found[1] if found else "NONE"
    if status.endswith("_IN_PROGRESS"):
        print(f"{stack}: {status}, waiting for it to settle")
        status = stack_wait(stack, since, poll)
    if status in ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"):
        print(f"{stack}: {status} (a create that failed; CloudFormation only allows deleting it): "
              "the failed resources were:")
        for line in stack_failures(stack):
            print(f"  {line}")
        print(f"{stack}: deleting it, then creating it again")
        aws("cloudformation", "delete-stack", "--stack-name", stack)
        if stack_wait(stack, since, poll) != "DELETE_COMPLETE":
            return stack_fail(stack, "not deleted", since)
        status = "DELETE_COMPLETE"
    if status in ("NONE", "DELETE_COMPLETE"):
        aws("cloudformation", "create-stack", "--stack-name", stack, *body)
    elif status in STACK_DONE:
        out = aws("cloudformation", "update-stack", "--stack-name", stack, *body,
                  ok_errors=("No updates are to be performed",))
        if out is None:
            print(f"{stack}: no changes")
            return 0
    else:  # UPDATE_ROLLBACK_FAILED and the like need a person
        return stack_fail(stack, status + " (fix it, e.g. aws cloudformation continue-update-rollback, "
                          "then rerun)", "")
    status = stack_wait(stack, since, poll)
    if status not in STACK_DONE or status == "UPDATE_ROLLBACK_COMPLETE":
        return stack_fail(stack, status, since)
    print(f"{stack}: {status}")
    return 0


# --- functions (issue 23, item 4): exactly the checked zip, a version only when something changed --
VERSION_MARK = "mindful-connect deploy"


def cargo_lambda_deploy_settings() -> dict:
    """[deploy] timeout, memory, runtime of CargoLambda.toml (the one place they are set)."""
    path = pathlib.Path(__file__).resolve().parent.parent / "CargoLambda.toml"
    section, out = None, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line
        elif section == "[deploy]" and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip().strip('"')
    missing = {"timeout", "memory", "runtime"} - out.keys()
    if missing:
        sys.exit(f"{path}: [deploy] lacks {sorted(missing)}")
    return {"Runtime": out["runtime"], "MemorySize": int(out["memory"]), "Timeout": int(out["timeout"])}


def env_file(path: str) -> dict:
    out = {}
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def zip_sha256(raw: bytes) -> tuple:
    """(base64, hex) SHA-256 of the zip: Lambda's CodeSha256 is the base64 one of the zip uploaded."""
    digest = hashlib.sha256(raw)
    return base64.b64encode(digest.digest()).decode(), digest.hexdigest()


def config_differences(cfg: dict, want: dict) -> list:
    got = {
        "Runtime": cfg.get("Runtime"), "Handler": cfg.get("Handler"), "MemorySize": cfg.get("MemorySize"),
        "Timeout": cfg.get("Timeout"), "Role": cfg.get("Role"), "Architectures": cfg.get("Architectures"),
        "Environment": (cfg.get("Environment") or {}).get("Variables", {}) or {},
        "Layers": [entry["Arn"] for entry in cfg.get("Layers", []) or []], "CodeSha256": cfg.get("CodeSha256"),
    }
    return [f"{k}: {got[k]!r} -> {want[k]!r}" for k in want if got[k] != want[k]]


def all_versions(function: str):
    """Every version of FUNCTION with its configuration ($LATEST included); None when the
    function does not exist."""
    out, marker = [], None
    while True:
        args = ["lambda", "list-versions-by-function", "--function-name", function]
        if marker:
            args += ["--marker", marker]
        page = aws(*args, ok_errors=("ResourceNotFoundException",))
        if page is None:
            return None
        out += page.get("Versions", [])
        marker = page.get("NextMarker")
        if not marker:
            return out


def function_deploy(name: str, zip_path: str, env_path: str, role: str, arch: str, layer: str,
                    deploy_id: str, commit: str, stage: str, instance: str) -> int:
    """Upload exactly ZIP (update-function-code --zip-file: the bytes are the checked artifact's,
    Lambda's CodeSha256 is verified against them), with the configuration of CargoLambda.toml,
    the env file and the layer; publish a version only when code or configuration differ from
    every version a deploy published (an unchanged function keeps its version). Prints one JSON
    line: {function, version, published, code_sha256, zip_sha256}."""
    raw = pathlib.Path(zip_path).read_bytes()
    b64, hexsha = zip_sha256(raw)
    want = {**cargo_lambda_deploy_settings(), "Handler": "bootstrap", "Role": role, "Architectures": [arch],
            "Environment": env_file(env_path), "Layers": [layer] if layer else [], "CodeSha256": b64}
    config = {"FunctionName": name, "Role": role, "Handler": "bootstrap", "Runtime": want["Runtime"],
              "MemorySize": want["MemorySize"], "Timeout": want["Timeout"],
              "Environment": {"Variables": want["Environment"]}, "Layers": want["Layers"],
              "Description": f"Mindful callbacks ({stage})"}
    tmp = pathlib.Path(tempfile.mkdtemp())
    try:
        result = _function_deploy(name, zip_path, want, config, tmp, b64, hexsha, arch, deploy_id, commit,
                                  stage, instance)
    finally:
        shutil.rmtree(tmp)
    print(json.dumps(result))
    return 0


def _function_deploy(name, zip_path, want, config, tmp, b64, hexsha, arch, deploy_id, commit, stage, instance):
    # Every `aws` call costs a CLI start (about a second on a busy machine): each answer is used
    # as far as it goes (ListVersionsByFunction carries $LATEST; the update calls return the
    # configuration; Lambda reports LastUpdateStatus, polled only while InProgress).
    def cli_json(doc):
        path = tmp / f"{len(list(tmp.iterdir()))}.json"
        path.write_text(json.dumps(doc))
        return f"file://{path}"

    def settled(cfg):
        import time
        while cfg.get("State") == "Pending" or cfg.get("LastUpdateStatus") == "InProgress":
            time.sleep(float(os.environ.get("DEPLOY_POLL_SECONDS", "5")) / 5)
            cfg = aws("lambda", "get-function-configuration", "--function-name", name)
        if cfg.get("LastUpdateStatus") == "Failed" or cfg.get("State") == "Failed":
            sys.exit(f"{name}: update failed: {cfg.get('LastUpdateStatusReason') or cfg.get('StateReason')}")
        return cfg

    result = {"function": name, "code_sha256": b64, "zip_sha256": hexsha}
    versions = all_versions(name)
    latest = next((v for v in versions or [] if v["Version"] == "$LATEST"), None)
    if latest is None:
        latest = settled(aws("lambda", "create-function", "--cli-input-json", cli_json(
            {**config, "Architectures": [arch], "PackageType": "Zip",
             "Tags": {TAG_APP[0]: TAG_APP[1], TAG_STAGE: stage, TAG_INSTANCE: instance}}),
            "--zip-file", f"fileb://{zip_path}"))
        result["previous"] = ""
    else:
        live = aws("lambda", "get-alias", "--function-name", name, "--name", "live",
                   ok_errors=("ResourceNotFoundException",))
        result["previous"] = live["FunctionVersion"] if live else ""
        # Reuse: the version `live` points at, else the newest one a deploy published, when it is
        # exactly this code and configuration. Versions published outside deploy.sh (no mark in
        # their description) are never reused, so they never enter a record.
        ours = [v for v in versions if v["Version"].isdigit()
                and str(v.get("Description", "")).startswith(VERSION_MARK)]
        ours.sort(key=lambda v: (v["Version"] == result["previous"], int(v["Version"])), reverse=True)
        for v in ours:
            if not config_differences(v, want):
                print(f"{name}: unchanged, keeps version {v['Version']}", file=sys.stderr)
                return {**result, "version": v["Version"], "published": False}
        if latest.get("Architectures") != [arch]:
            sys.exit(f"REFUSED: {name} runs on {latest.get('Architectures')}, the artifacts are {arch} "
                     "(a function's architecture is changed by teardown and a new deploy)")
        if latest.get("CodeSha256") != b64:
            latest = settled(aws("lambda", "update-function-code", "--function-name", name,
                                 "--zip-file", f"fileb://{zip_path}"))
        if [d for d in config_differences(latest, want) if not d.startswith("CodeSha256")]:
            latest = settled(aws("lambda", "update-function-configuration", "--cli-input-json", cli_json(config)))
    if latest.get("CodeSha256") != b64:
        sys.exit(f"{name}: Lambda holds code {latest.get('CodeSha256')}, the checked zip is {b64}: not published")
    diff = config_differences(latest, want)
    if diff:
        sys.exit(f"{name}: $LATEST differs from what was asked ({'; '.join(diff)}): not published")
    # PublishVersion's CodeSha256 makes it fail if $LATEST changed since we read it.
    version = aws("lambda", "publish-version", "--function-name", name, "--code-sha256", b64, "--description",
                  f"{VERSION_MARK} {deploy_id} commit {commit} zip sha256 {hexsha}")
    diff = config_differences(version, want)
    if diff:
        sys.exit(f"{name}: published version {version['Version']} differs from what was asked "
                 f"({'; '.join(diff)})")
    print(f"{name}: published version {version['Version']} (CodeSha256 {b64} = the checked zip)", file=sys.stderr)
    return {**result, "version": version["Version"], "published": True}


def aliases_move(alias: str, results_path: str) -> int:
    """Point ALIAS of every function at its version of RESULTS (JSON lines of function-deploy,
    which verified each version's code and configuration): one pass, after all were published,
    so a set moves as a whole."""
    results = [json.loads(line) for line in pathlib.Path(results_path).read_text().splitlines() if line.strip()]
    for r in results:
        set_alias(r["function"], alias, r["previous"], r["version"])
    return 0


def set_alias(name: str, alias: str, old: str, version: str) -> None:
    if not old:
        aws("lambda", "create-alias", "--function-name", name, "--name", alias,
            "--function-version", version, "--description", "Amazon Connect invokes this alias")
    elif old != version:
        aws("lambda", "update-alias", "--function-name", name, "--name", alias, "--function-version", version)
    print(f"{name}:{alias} {old or '-'} -> {version}")


def move_aliases(alias: str, plan: dict) -> int:
    """Rollback: PLAN {function: (version, code_sha256)}, each version checked beforehand."""
    for name, (version, _) in plan.items():
        current = aws("lambda", "get-alias", "--function-name", name, "--name", alias,
                      ok_errors=("ResourceNotFoundException",))
        set_alias(name, alias, current["FunctionVersion"] if current else "", version)
    return 0


# --- deploy records (issue 23, item 1) -----------------------------------------------------------
# One SSM parameter per deploy, /mindful-connect/<stage>/deploys/<id> (JSON), and
# /mindful-connect/<stage>/live naming the deploy the stage runs. Why SSM Parameter Store: it
# exists before the first stack (no bucket to create first or to empty at teardown), moto
# supports it, the deploy role's access is one path, every change is versioned and in CloudTrail.
# A record is at most 8 KB (advanced tier; Intelligent-Tiering picks it only when needed).
RECORD_LIMIT = 8192


def live_id(root: str) -> str:
    got = aws("ssm", "get-parameter", "--name", f"{root}/live", ok_errors=("ParameterNotFound",))
    return got["Parameter"]["Value"] if got else ""


def record_get(root: str, deploy_id: str):
    if not deploy_id:
        return None
    got = aws("ssm", "get-parameter", "--name", f"{root}/deploys/{deploy_id}", ok_errors=("ParameterNotFound",))
    return json.loads(got["Parameter"]["Value"]) if got else None


def record_put(root: str, record: dict, overwrite: bool) -> None:
    value = json.dumps(record, separators=(",", ":"), sort_keys=True)
    if len(value.encode()) > RECORD_LIMIT:
        sys.exit(f"deploy record {record['id']} is {len(value.encode())} bytes, more than SSM's {RECORD_LIMIT}")
    aws("ssm", "put-parameter", "--name", f"{root}/deploys/{record['id']}", "--type", "String",
        "--tier", "Intelligent-Tiering", "--value", value, *(["--overwrite"] if overwrite else []),
        "--description", f"infra/deploy.sh record of deploy {record['id']} ({record['status']})")


def set_live(root: str, deploy_id: str) -> None:
    aws("ssm", "put-parameter", "--name", f"{root}/live", "--type", "String", "--value", deploy_id,
        "--overwrite", "--description", "the deploy record this stage runs (infra/deploy.sh)")


def record_start(params_path: str, record_path: str, commit: str, arch: str) -> int:
    """Before the first change: a record `started`, and live -> it. Its `previous` is the last
    complete record live before it (a failed deploy is skipped), which is where rollback goes."""
    import datetime
    import secrets
    params = effective_params(params_path)
    n = names(params)
    now = datetime.datetime.now(datetime.timezone.utc)
    current = record_get(n["RECORDS"], live_id(n["RECORDS"]))
    previous = ""
    if current:
        previous = current["id"] if current["status"] == "complete" else current.get("previous", "")
    record = {"id": f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}", "stage": n["STAGE"],
              "instance": n["INSTANCE_ID"], "status": "started", "previous": previous, "commit": commit,
              "architecture": arch, "started": now.isoformat(timespec="seconds"), "stacks": {}, "functions": {},
              "deploy_keys": {k: params[k] for k in sorted(DEPLOY_KEYS) if params.get(k)}}
    record_put(n["RECORDS"], record, overwrite=False)
    set_live(n["RECORDS"], record["id"])
    pathlib.Path(record_path).write_text(json.dumps(record))
    print(record["id"])
    return 0


def record_stack(record_path: str, kind: str, stack: str, template: str, params_json: str) -> int:
    record = json.loads(pathlib.Path(record_path).read_text())
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in json.loads(pathlib.Path(params_json).read_text())}
    record["stacks"][kind] = {"name": stack, "template": template,
                              "template_sha256": hashlib.sha256(pathlib.Path(template).read_bytes()).hexdigest(),
                              "parameters": parameters}
    pathlib.Path(record_path).write_text(json.dumps(record))
    return 0


def record_finish(params_path: str, record_path: str, results_path: str) -> int:
    import datetime
    n = names(effective_params(params_path))
    record = json.loads(pathlib.Path(record_path).read_text())
    for line in pathlib.Path(results_path).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            fn = r["function"][len(n["FUNCTION_PREFIX"]):]
            record["functions"][fn] = {"name": r["function"], "version": r["version"],
                                       "code_sha256": r["code_sha256"], "zip_sha256": r["zip_sha256"]}
    record["status"] = "complete"
    record["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record_put(n["RECORDS"], record, overwrite=True)
    set_live(n["RECORDS"], record["id"])
    print(f"deploy {record['id']} recorded at {n['RECORDS']}/deploys/{record['id']}: "
          + ", ".join(f"{fn} v{f['version']}" for fn, f in record["functions"].items()))
    return 0


def all_records(root: str) -> list:
    out, token = [], None
    while True:
        args = ["ssm", "get-parameters-by-path", "--path", f"{root}/deploys"]
        if token:
            args += ["--next-token", token]
        page = aws(*args)
        out += [json.loads(p["Value"]) for p in page.get("Parameters", [])]
        token = page.get("NextToken")
        if not token:
            return sorted(out, key=lambda r: r["id"])


def history(params_path: str) -> int:
    n = names(effective_params(params_path))
    live = live_id(n["RECORDS"])
    for r in all_records(n["RECORDS"]):
        versions = " ".join(f"{fn}=v{f['version']}" for fn, f in r.get("functions", {}).items())
        print(f"{'*' if r['id'] == live else ' '} {r['id']} {r['status']:8} commit {r['commit'][:12]} "
              f"previous {r.get('previous') or '-'} {versions}")
    print(f"(* = live; roll back to one with: infra/deploy.sh rollback --params {params_path} --to ID)")
    return 0


# --- rollback (issue 23, items 1 and 2): to a recorded set, stacks and functions together --------
def template_at(record_stack_entry: dict, commit: str, tmp: pathlib.Path):
    """The template a record's stack was deployed with: the file in this clone when its SHA-256 is
    the recorded one, else the file at the record's commit (git show). None when neither is."""
    root = pathlib.Path(__file__).resolve().parent.parent
    want = record_stack_entry["template_sha256"]
    path = root / record_stack_entry["template"]
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == want:
        return str(path)
    proc = subprocess.run(["git", "-C", str(root), "show", f"{commit}:{record_stack_entry['template']}"],
                          capture_output=True)
    if proc.returncode == 0 and hashlib.sha256(proc.stdout).hexdigest() == want:
        out = tmp / f"{record_stack_entry['name']}.template"
        out.write_bytes(proc.stdout)
        return str(out)
    return None


def rollback(params_path: str, *rest: str) -> int:
    """Move the stage back to a recorded deploy: the previous complete one of the live record
    (or --to ID): each stack's recorded template and parameters, and alias live of each function
    to its recorded version. Everything is checked before anything changes."""
    if "--to-version" in rest:
        sys.exit("rollback: --to-version is gone (one number cannot name three functions' versions): "
                 "use --to DEPLOY_ID (infra/deploy.sh history lists them)")
    target_id = rest[rest.index("--to") + 1] if "--to" in rest and rest.index("--to") + 1 < len(rest) else ""
    params = effective_params(params_path)
    n = names(params)
    root = n["RECORDS"]
    current = record_get(root, live_id(root))
    if current is None:
        sys.exit(f"rollback: no deploy record under {root} (nothing deployed by this deploy.sh for stage {n['STAGE']})")
    if not target_id:
        target_id = current.get("previous", "")
        if not target_id:
            sys.exit(f"rollback: live deploy {current['id']} has no earlier complete deploy to go back to "
                     "(infra/deploy.sh history)")
    target = record_get(root, target_id)
    problems = []
    if target is None:
        sys.exit(f"rollback: no deploy {target_id} under {root}/deploys (infra/deploy.sh history)")
    if target["status"] != "complete":
        problems.append(f"deploy {target_id} is {target['status']}, not complete: it is not a consistent set")
    if target.get("instance") != n["INSTANCE_ID"] or target.get("stage") != n["STAGE"]:
        problems.append(f"deploy {target_id} is of stage {target.get('stage')} on instance "
                        f"{target.get('instance')}, the params are {n['STAGE']} on {n['INSTANCE_ID']}")
    problems += owner_problems(params)
    tmp = pathlib.Path(tempfile.mkdtemp())
    try:
        templates = {}
        for kind, entry in target.get("stacks", {}).items():
            path = template_at(entry, target["commit"], tmp)
            if path is None:
                problems.append(f"stack {entry['name']}: the template of deploy {target_id} "
                                f"({entry['template']} sha256 {entry['template_sha256'][:12]}…, commit "
                                f"{target['commit'][:12]}) is neither in this clone nor at that commit: "
                                f"`git fetch origin {target['commit']}` and rerun, or deploy that commit")
            templates[kind] = path
        plan = {}
        for fn, f in target.get("functions", {}).items():
            got = aws("lambda", "get-function-configuration", "--function-name", f["name"], "--qualifier",
                      f["version"], ok_errors=("ResourceNotFoundException",))
            if got is None or got.get("CodeSha256") != f["code_sha256"]:
                problems.append(f"{f['name']} version {f['version']} of deploy {target_id} "
                                f"{'is gone' if got is None else 'holds other code'}")
            plan[f["name"]] = (f["version"], f["code_sha256"])
        for kind in current.get("stacks", {}):
            if kind not in target.get("stacks", {}):
                print(f"rollback: note: deploy {target_id} has no {kind} stack (deployed with --skip-connect?): "
                      f"{current['stacks'][kind]['name']} is left as it is")
        if problems:
            for p in problems:
                print(f"rollback: REFUSED: {p}", file=sys.stderr)
            return 1
        print(f"rollback: stage {n['STAGE']} from deploy {current['id']} ({current['status']}) to {target_id} "
              f"(commit {target['commit'][:12]})")
        # Order: the base stack first (role and environment outputs), then the functions' aliases,
        # then operations and connect. Between the base stack and the aliases (seconds) the old
        # role serves the new versions: docs/deploy.md, "Rollback".
        order = [k for k in ("base",) if k in target["stacks"]]
        for kind in order:
            rc = restore_stack(target["stacks"][kind], templates[kind], n, tmp)
            if rc:
                return rc
        move_aliases("live", plan)
        for kind in ("operations", "connect"):
            if kind in target["stacks"]:
                rc = restore_stack(target["stacks"][kind], templates[kind], n, tmp)
                if rc:
                    return rc
        set_live(root, target_id)
        print(f"rollback: stage {n['STAGE']} is at deploy {target_id}")
        return 0
    finally:
        shutil.rmtree(tmp)


def restore_stack(entry: dict, template: str, n: dict, tmp: pathlib.Path) -> int:
    params_json = tmp / f"{entry['name']}.params.json"
    params_json.write_text(json.dumps([{"ParameterKey": k, "ParameterValue": v}
                                       for k, v in entry["parameters"].items()]))
    print(f"rollback: {entry['name']} to its recorded template and parameters")
    return stack_deploy(entry["name"], template, str(params_json), n["STAGE"], n["INSTANCE_ID"])


def teardown_records(params_path: str) -> int:
    n = names(effective_params(params_path))
    names_ = [f"{n['RECORDS']}/deploys/{r['id']}" for r in all_records(n["RECORDS"])]
    if live_id(n["RECORDS"]):
        names_.append(f"{n['RECORDS']}/live")
    for i in range(0, len(names_), 10):  # DeleteParameters takes at most 10 names
        aws("ssm", "delete-parameters", "--names", *names_[i:i + 10])
    print(f"deleted {len(names_)} deploy record parameters under {n['RECORDS']}")
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


# --- test cases on the instance (issue 27, item 3) -------------------------------------------------
# infra/tests/*.json are Amazon Connect Testing-language test cases (Version 2025-06-21,
# https://docs.aws.amazon.com/connect/latest/APIReference/testing-language.html), run locally by
# `flow-runner test` and published here to the stage's instance, where Connect runs them as real
# contacts. The APIs (AWS CLI v2 `aws connect ...`):
#   CreateTestCase  https://docs.aws.amazon.com/connect/latest/APIReference/API_CreateTestCase.html
#   UpdateTestCase  https://docs.aws.amazon.com/connect/latest/APIReference/API_UpdateTestCase.html
#   ListTestCases   https://docs.aws.amazon.com/connect/latest/APIReference/API_ListTestCases.html
#   StartTestCaseExecution  https://docs.aws.amazon.com/connect/latest/APIReference/API_StartTestCaseExecution.html
#   GetTestCaseExecutionSummary  https://docs.aws.amazon.com/connect/latest/APIReference/API_GetTestCaseExecutionSummary.html
#   ListTestCaseExecutionRecords https://docs.aws.amazon.com/connect/latest/APIReference/API_ListTestCaseExecutionRecords.html
# (CloudFormation has AWS::Connect::TestCase too; the helper publishes them so that a test case
# whose content the service refuses names its file, and so that `verify` finds them by name.)
TESTS_DIR = "infra/tests"
# Metadata keys only flow-runner reads (crates/flow-runner/README.md, "Local set-up in Metadata").
LOCAL_METADATA = ("flow-runner", "mindful-sim")
# The local runner's function ARNs: arn:aws:lambda:<region>:<account>:function:mindful-<function>.
LOCAL_FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:mindful-([a-z0-9-]+)$")
# The local runner's stand-ins for the stage's values (crates/flow-runner/src/testcase.rs, `stack`;
# host.rs INSTANCE_ARN): {local value: params key}, replaced wherever a test case holds them.
LOCAL_INSTANCE_ARN = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000"
LOCAL_VALUES = {
    "+13205550100": "CallTargetPhoneNumber",
    LOCAL_INSTANCE_ARN + "/queue/7b3e1f2a-9c4d-4e8f-a1b2-c3d4e5f60718": "InboundQueueArn",
    LOCAL_INSTANCE_ARN + "/queue/1d6c9e0a-3b2f-4c1d-8e7f-5a4b3c2d1e0f": "CallbackDefaultQueueArn",
}
TEST_QUEUE_KEY = "TestQueueArn"
# The queues a contact of the bundle's flows can be transferred to (infra/template.yaml).
LIVE_QUEUE_KEYS = ("InboundQueueArn", "CallbackDefaultQueueArn")
# At most 5 executions at once, each at most 5 minutes
# (https://docs.aws.amazon.com/connect/latest/adminguide/testing-simulation-execute-test-cases.html).
MAX_CONCURRENT_EXECUTIONS = 5
EXECUTION_TIMEOUT_SECONDS = 360  # Connect's 5 minutes, plus the time to start and report
EXECUTION_DONE = {"PASSED", "FAILED", "STOPPED"}


def template_defaults(path: str) -> dict:
    """{name: Default} of a template's top-level Parameters (the scalar defaults, unquoted)."""
    root = pathlib.Path(__file__).resolve().parent.parent
    defaults, inside, current = {}, False, None
    for line in (root / path).read_text(encoding="utf-8").splitlines():
        if re.match(r"^\S", line):
            inside, current = line.startswith("Parameters:"), None
            continue
        m = re.match(r"^  ([A-Za-z0-9]+):\s*$", line) if inside else None
        if m:
            current = m.group(1)
        m = re.match(r"^    Default:\s*(.*?)\s*$", line) if inside and current else None
        if m:
            defaults[current] = m.group(1).strip('"').strip("'")
    return defaults


def test_case_name(stage: str, path: pathlib.Path) -> str:
    """mindful-connect-<stage>-<file stem>: the stage is part of the name (two stages may share an
    instance), so publish and verify find the test cases of this stage only."""
    return f"{APP}-{stage}-{path.stem}"


def local_only_reasons(doc: dict, params: dict) -> list:
    """Why a test case cannot run on the deployed stage: it needs a Connect-side failure the
    instance cannot be made to produce (flow-runner `inject`), stack parameters other than the
    stage's (`stack`), or a Mindful fault (mindful-sim `faults`, `widget_status`)."""
    meta = doc.get("Metadata") or {}
    local, sim = meta.get("flow-runner") or {}, meta.get("mindful-sim") or {}
    reasons = []
    if local.get("inject"):
        reasons.append("injects a Connect-side failure (flow-runner inject)")
    defaults = template_defaults(STACK_TEMPLATES["connect"])
    for key, want in sorted((local.get("stack") or {}).items()):
        have = params.get(key, defaults.get(key, ""))
        if str(have) != str(want):
            reasons.append(f"needs stack parameter {key}={want} (the stage has {have!r})")
    if sim.get("faults"):
        reasons.append("needs a Mindful fault (mindful-sim faults)")
    if sim.get("widget_status"):
        reasons.append("needs a Mindful status answer (mindful-sim widget_status)")
    if local.get("channel", "VOICE") != "VOICE":
        # CreateTestCase's EntryPoint documents the type VOICE_CALL only (boto3 / CLI reference).
        reasons.append(f"channel {local['channel']}: the test-case entry point is a voice call")
    return reasons


def queue_overrides(params: dict) -> list:
    """OverrideSystemBehavior actions that substitute the test queue for each live queue, so a test
    contact that reaches a transfer to queue waits in the test queue, never for a live agent.
    Shape as in the documentation's example (Behavior FlowAction, Strategy SubstituteResource:
    https://docs.aws.amazon.com/connect/latest/APIReference/testing-language-example.html);
    overrides apply to a Lambda function, a queue, a Lex bot or hours of operation, once each,
    first in first out (https://docs.aws.amazon.com/connect/latest/adminguide/testing-simulation-action-override.html).
    The example shows the shape for CheckHoursOfOperation; the same shape for
    TransferContactToQueue with its QueueId is our reading of those pages (the first verify on
    staging confirms it: Connect validates a PUBLISHED test case's content). Single use: a
    contact queued more often than the two overrides per queue would reach the live queue, which
    is why TestQueueArn must be a queue no agent serves (deploy.sh refuses a live one)."""
    test_queue = params.get(TEST_QUEUE_KEY, "")
    live_queues = list(dict.fromkeys(params[k] for k in LIVE_QUEUE_KEYS if params.get(k)))
    actions = []
    for i, live in enumerate(live_queues, 1):
        for n in (1, 2):
            actions.append({
                "Identifier": f"mindful-test-queue-{i}-{n}",
                "Type": "OverrideSystemBehavior",
                "Parameters": {
                    "ActionType": "OverrideSystemBehavior",
                    "Behavior": {"Type": "FlowAction", "Properties": {
                        "ActionType": "TransferContactToQueue",
                        "ActionParameters": {"QueueId": live},
                        "Strategy": {"Type": "SubstituteResource", "SubstituteArn": test_queue}}},
                },
            })
    return actions


def instance_content(doc: dict, params: dict, alias_arns: dict) -> dict:
    """The Content to publish for one local test case: the local-only Metadata keys dropped, the
    local function ARNs replaced by the stage's alias ARNs (alias_arns: {function: ARN}), the
    local Mindful Call Target by the stage's, and the queue override added to the observation of
    the TestInitiated event (before the flow runs; overrides apply from the observed event on). Raises ValueError when a local function ARN
    names no deployed function. Without a TestInitiated observation one is added in front."""
    def substitute(value):
        if isinstance(value, dict):
            return {k: substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v) for v in value]
        if isinstance(value, str):
            m = LOCAL_FUNCTION_ARN.match(value)
            if m:
                if m.group(1) not in alias_arns:
                    raise ValueError(f"{value}: no deployed function {m.group(1)} (functions: {sorted(alias_arns)})")
                return alias_arns[m.group(1)]
            if value in LOCAL_VALUES:
                if not params.get(LOCAL_VALUES[value]):
                    raise ValueError(f"{value} is the local {LOCAL_VALUES[value]}, which the params do not set")
                return params[LOCAL_VALUES[value]]
            if value.startswith(LOCAL_INSTANCE_ARN + "/") and params.get("ConnectInstanceArn"):
                return params["ConnectInstanceArn"] + value[len(LOCAL_INSTANCE_ARN):]
        return value

    out = substitute(json.loads(json.dumps(doc)))
    meta = {k: v for k, v in (out.get("Metadata") or {}).items() if k not in LOCAL_METADATA}
    if meta:
        out["Metadata"] = meta
    else:
        out.pop("Metadata", None)
    observations = out.get("Observations") or []
    start = [o for o in observations if (o.get("Event") or {}).get("Type") == "TestInitiated"]
    if start:
        start[0]["Actions"] = queue_overrides(params) + list(start[0].get("Actions") or [])
    else:
        # An observation of the test's start, as the documentation's example begins
        # (https://docs.aws.amazon.com/connect/latest/APIReference/testing-language-example.html),
        # leading to the test's first observation.
        first = {"Identifier": "Mindful test queue", "Event": {
                     "Identifier": "mindful-test-start", "Type": "TestInitiated", "Actor": "System", "Properties": {}},
                 "Usage": {"Type": "EXACTLY"}, "Actions": queue_overrides(params)}
        if observations:
            first["Transitions"] = {"NextObservations": [observations[0]["Identifier"]]}
        out["Observations"] = [first] + observations
    left = re.findall(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:111122223333:[^\"]*", json.dumps(out))
    if left:
        raise ValueError(f"still holds the local account's ARNs after substitution: {sorted(set(left))}")
    return out


def test_queue_problems(params: dict) -> list:
    """The test queue must be named, a queue of the instance, and none of the live queues."""
    test_queue = params.get(TEST_QUEUE_KEY, "")
    instance = params.get("ConnectInstanceArn", "")
    if not test_queue:
        return [f"{TEST_QUEUE_KEY} is not set: the test cases are not published without a test queue "
                "(a queue no agent serves) that replaces the live queues, so a test contact never "
                "reaches a live agent (docs/deploy.md, Post-deploy verification)"]
    problems = []
    if instance and not test_queue.startswith(instance + "/queue/"):
        problems.append(f"{TEST_QUEUE_KEY}={test_queue!r} is not a queue of ConnectInstanceArn {instance!r}")
    for key in LIVE_QUEUE_KEYS:
        if test_queue == params.get(key):
            problems.append(f"{TEST_QUEUE_KEY} is {key}: the test contacts would reach live agents")
    return problems


def list_test_cases(instance_id: str) -> dict:
    """{name: summary} of the instance's test cases (ListTestCases, paginated)."""
    out, token = {}, None
    while True:
        args = ["connect", "list-test-cases", "--instance-id", instance_id]
        if token:
            args += ["--next-token", token]
        page = aws(*args)
        for s in page.get("TestCaseSummaryList", []):
            out[s["Name"]] = s
        token = page.get("NextToken")
        if not token:
            return out


def test_files(tests_dir: str) -> list:
    files = sorted(pathlib.Path(tests_dir).glob("*.json"))
    if not files:
        sys.exit(f"no test cases (*.json) in {tests_dir}")
    return files


def publishable(params: dict, tests_dir: str):
    """[(path, doc, skip reasons)] of the test files, in name order."""
    out = []
    for path in test_files(tests_dir):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            sys.exit(f"{path}: {e}")
        out.append((path, doc, local_only_reasons(doc, params)))
    return out


def entry_point(flow_id: str) -> dict:
    """A voice call into FLOW_ID, the flow the main number is associated with (EntryPoint of
    CreateTestCase: Type VOICE_CALL, VoiceCallEntryPointParameters)."""
    return {"Type": "VOICE_CALL", "VoiceCallEntryPointParameters": {"FlowId": flow_id}}


def publish_tests(params_path: str, flow_id: str, tests_dir: str = TESTS_DIR) -> int:
    """Create or update the stage's test cases on its instance (status PUBLISHED: Connect validates
    the content and the test case can run). Idempotent: a test case of the same name is updated."""
    params = effective_params(params_path)
    n = names(params)
    problems = test_queue_problems(params)
    if not flow_id or flow_id == "None":
        problems.append("no FLOW_ID (the connect stack's NormalInboundFlowId output) for the test cases to enter")
    if problems:
        for p in problems:
            print(f"publish-tests: REFUSED: {p}", file=sys.stderr)
        return 1
    alias_arns = {}
    for fn in lambda_functions():
        got = aws("lambda", "get-alias", "--function-name", f"{n['FUNCTION_PREFIX']}{fn}", "--name", "live")
        alias_arns[fn] = got["AliasArn"]
    existing = list_test_cases(n["INSTANCE_ID"])
    created = updated = skipped = 0
    for path, doc, reasons in publishable(params, tests_dir):
        name = test_case_name(n["STAGE"], path)
        if reasons:
            print(f"publish-tests: {path.name}: local only, not published: {'; '.join(reasons)}")
            skipped += 1
            continue
        try:
            content = instance_content(doc, params, alias_arns)
        except ValueError as e:
            print(f"publish-tests: {path}: {e}", file=sys.stderr)
            return 1
        common = ["--instance-id", n["INSTANCE_ID"], "--name", name,
                  "--content", json.dumps(content, separators=(",", ":")),
                  "--entry-point", json.dumps(entry_point(flow_id), separators=(",", ":")),
                  "--status", "PUBLISHED",
                  "--description", str((doc.get("Metadata") or {}).get("name", path.stem))[:250]]
        if name in existing:
            aws("connect", "update-test-case", "--test-case-id", existing[name]["Id"], *common)
            updated += 1
            print(f"publish-tests: {name}: updated")
        else:
            aws("connect", "create-test-case", *common, "--tags",
                json.dumps({TAG_APP[0]: TAG_APP[1], TAG_STAGE: n["STAGE"], TAG_INSTANCE: n["INSTANCE_ID"]}))
            created += 1
            print(f"publish-tests: {name}: created")
    print(f"publish-tests: {created} created, {updated} updated, {skipped} local only "
          f"(queue override: {', '.join(LIVE_QUEUE_KEYS)} -> {params[TEST_QUEUE_KEY]})")
    return 0


def failing_records(instance_id: str, test_id: str, execution_id: str) -> list:
    """The FAILED records of an execution (ListTestCaseExecutionRecords, status filter)."""
    out, token = [], None
    while True:
        args = ["connect", "list-test-case-execution-records", "--instance-id", instance_id,
                "--test-case-id", test_id, "--test-case-execution-id", execution_id, "--status", "FAILED"]
        if token:
            args += ["--next-token", token]
        page = aws(*args)
        out += page.get("ExecutionRecords", [])
        token = page.get("NextToken")
        if not token:
            return out


def verify(params_path: str, *rest: str) -> int:
    """Run the stage's published test cases (the files of TESTS_DIR that are not local only), at
    most MAX_CONCURRENT_EXECUTIONS at once, each until it is done or --timeout seconds passed;
    one line per test; 1 when any failed, was stopped, timed out or is not published."""
    import time
    opts = {"--timeout": str(EXECUTION_TIMEOUT_SECONDS), "--tests": TESTS_DIR}
    for i in range(0, len(rest), 2):
        if rest[i] not in opts or i + 1 >= len(rest):
            sys.exit(f"verify: unknown or incomplete option {rest[i]!r} (--timeout SECONDS, --tests DIR)")
        opts[rest[i]] = rest[i + 1]
    timeout = float(opts["--timeout"])
    poll = float(os.environ.get("DEPLOY_POLL_SECONDS", "10"))
    params = effective_params(params_path)
    n = names(params)
    instance = n["INSTANCE_ID"]
    existing = list_test_cases(instance)
    pending, results = [], []
    for path, _doc, reasons in publishable(params, opts["--tests"]):
        name = test_case_name(n["STAGE"], path)
        if reasons:
            results.append((name, "SKIPPED", "local only: " + "; ".join(reasons)))
        elif name not in existing:
            results.append((name, "MISSING", "not published on the instance (infra/deploy.sh deploy publishes it)"))
        else:
            pending.append((name, existing[name]["Id"]))
    running = {}  # name -> (test id, execution id, started)
    # Enough for every batch of 5 to run its full time, and one more.
    deadline = time.monotonic() + timeout * (len(pending) // MAX_CONCURRENT_EXECUTIONS + 2)
    while pending or running:
        while pending and len(running) < MAX_CONCURRENT_EXECUTIONS:
            name, test_id = pending[0]
            got = aws("connect", "start-test-case-execution", "--instance-id", instance, "--test-case-id", test_id,
                      ok_errors=("ServiceQuotaExceededException",))
            if got is None:
                # Executions of someone else (the console, another stage's verify) hold slots of
                # the instance: try again at the next poll, until the deadline.
                if time.monotonic() > deadline:
                    for left, _ in pending:
                        results.append((left, "TIMEOUT", "never started: the instance's executions stayed at "
                                        "their limit (ServiceQuotaExceededException)"))
                    pending = []
                break
            pending.pop(0)
            running[name] = (test_id, got["TestCaseExecutionId"], time.monotonic())
        for name, (test_id, execution_id, started) in list(running.items()):
            summary = aws("connect", "get-test-case-execution-summary", "--instance-id", instance,
                          "--test-case-id", test_id, "--test-case-execution-id", execution_id)
            status = summary.get("Status", "")
            if status in EXECUTION_DONE:
                counts = summary.get("ObservationSummary") or {}
                detail = (f"{counts.get('ObservationsPassed', '?')}/{counts.get('TotalObservations', '?')} "
                          f"observations passed, execution {execution_id}")
                if status != "PASSED":
                    failed = failing_records(instance, test_id, execution_id)
                    detail += "".join(f"\n    FAILED {r.get('ObservationId', '?')}: {r.get('Record', '')}" for r in failed)
                results.append((name, status, detail))
                del running[name]
            elif time.monotonic() - started > timeout:
                # Stopped, so that it no longer counts against Connect's 5 concurrent executions
                # (StopTestCaseExecution: https://docs.aws.amazon.com/connect/latest/APIReference/API_StopTestCaseExecution.html).
                aws("connect", "stop-test-case-execution", "--instance-id", instance, "--test-case-id", test_id,
                    "--test-case-execution-id", execution_id, ok_errors=("ResourceNotFound", "InvalidRequest"))
                results.append((name, "TIMEOUT", f"still {status or 'unknown'} after {timeout:g} s, execution {execution_id}"))
                del running[name]
        if running or pending:
            time.sleep(poll)
    bad = 0
    for name, status, detail in sorted(results):
        print(f"verify: {status:8} {name}: {detail}")
        bad += status not in ("PASSED", "SKIPPED")
    ran = sum(1 for _, s, _ in results if s != "SKIPPED")
    print(f"verify: {ran - bad} of {ran} test cases passed on instance {instance} "
          f"({len(results) - ran} local only)")
    return 1 if bad else 0


COMMANDS = {
    "check-params": check_params, "cfn-params": cfn_params, "get": get, "names": names_command,
    "envfiles": envfiles, "check-artifact": check_artifact, "functions": functions,
    "preflight": preflight, "check-owner": check_owner, "stack-deploy": stack_deploy,
    "function-deploy": function_deploy, "aliases-move": aliases_move,
    "record-start": record_start, "record-stack": record_stack, "record-finish": record_finish,
    "history": history, "rollback": rollback, "teardown-records": teardown_records,
    "number-associate": number_associate, "number-restore": number_restore,
    "publish-tests": publish_tests, "verify": verify,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
