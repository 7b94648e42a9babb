#!/usr/bin/env python3
"""Assert, through the AWS API, what the deploy rehearsal (.ci/infra-checks.sh) deployed.

Runs against the moto server the rehearsal started (AWS_ENDPOINT_URL on 127.0.0.1). The
expected environment is computed here from the params file and base.yaml's defaults with its
own table of the functions' variable names (mindful_core::config::vars), independently of the stack's *Environment outputs, so a
typo in the template's mapping fails the rehearsal.

Usage: infra/rehearsal_check.py PARAMS.json ARCH [VERSIONS [ZIPS_DIR]]
         VERSIONS: the version `live` of each function must point at, e.g.
         ocw-phrase=2,datastore-proxy=1,agent-answer=1 (or one number for all three);
         ZIPS_DIR: each live version's CodeSha256 must be the base64 SHA-256 of
         ZIPS_DIR/<function>/bootstrap.zip, and its description must name that zip's hex SHA-256.
         The base and operations stacks must hold exactly the params' values (a rollback restores
         them with the functions).
       infra/rehearsal_check.py --gone PARAMS.json
         (after teardown: no functions, no stacks, no log groups, no deploy records left)
The names (stacks, functions) come from the params' Stage, as deploy.sh derives them.
"""
import ast
import base64
import hashlib
import json
import os
import pathlib
import sys
from urllib.parse import urlparse

import boto3


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cfn_yaml  # noqa: E402
import deploy_helper  # noqa: E402


INFRA = pathlib.Path(__file__).resolve().parent
EXPECTED_MEMORY = 256
EXPECTED_TIMEOUT = 5

# Configuration variable (mindful_core::config::vars) <- base stack parameter, per function.
ENV_MAP = {
    "ocw-phrase": {
        "OCW_CAP_SECONDS": "OcwCapSeconds",
        "OCW_OFFER_THRESHOLD_SECONDS": "OcwOfferThresholdSeconds",
    },
    "datastore-proxy": {
        "DEFAULT_COUNTRY": "DefaultCountry",
        "DATASTORE_URL": "DatastoreUrl",
        "DATASTORE_NUMBER_FORMAT": "DatastoreNumberFormat",
        "DATASTORE_TOKEN_SECRET_ARN": "DatastoreTokenSecretArn",
        "DATASTORE_TOKEN_SECRET_KEY": "DatastoreTokenSecretJsonKey",
        "DATASTORE_TOKEN_PARAMETER": "DatastoreTokenParameter",
        "DATASTORE_INCLUDE_ATTRIBUTES": "DatastoreIncludeAttributes",
        "SCHEDULER_URL": "SchedulerUrl",
        "SCHEDULER_TOKEN_SECRET_ARN": "SchedulerTokenSecretArn",
        "SCHEDULER_TOKEN_SECRET_KEY": "SchedulerTokenSecretJsonKey",
        "REQUEST_BUDGET_MS": "DatastoreRequestBudgetMs",
        "MINDFUL_ALLOWED_HOSTS": "MindfulAllowedHosts",
        "SECRETS_CACHE_TTL_SECONDS": "SecretsCacheTtlSeconds",
        "SECRETS_MANAGER_TTL": "SecretsCacheTtlSeconds",
        "SSM_PARAMETER_STORE_TTL": "SecretsCacheTtlSeconds",
    },
    "agent-answer": {
        "DEFAULT_COUNTRY": "DefaultCountry",
        "MINDFUL_TOKEN_URL": "MindfulTokenUrl",
        "MINDFUL_API_URL": "MindfulApiUrl",
        "MINDFUL_CLIENT_ID": "MindfulClientId",
        "MINDFUL_CLIENT_SECRET_ARN": "MindfulClientSecretArn",
        "MINDFUL_CLIENT_SECRET_KEY": "MindfulClientSecretJsonKey",
        "MINDFUL_CLIENT_SECRET_PARAMETER": "MindfulClientSecretParameter",
        "REQUEST_BUDGET_MS": "AgentAnswerRequestBudgetMs",
        "MINDFUL_ALLOWED_HOSTS": "MindfulAllowedHosts",
        "SECRETS_CACHE_TTL_SECONDS": "SecretsCacheTtlSeconds",
        "SECRETS_MANAGER_TTL": "SecretsCacheTtlSeconds",
        "SSM_PARAMETER_STORE_TTL": "SecretsCacheTtlSeconds",
    },
}


ALIAS = "live"
SECRET_ARNS = ("MindfulClientSecretArn", "DatastoreTokenSecretArn", "SchedulerTokenSecretArn")
SECRET_PARAMETERS = ("MindfulClientSecretParameter", "DatastoreTokenParameter")


def main(params_path: str, arch: str, versions: str = "", zips: str = "") -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    host = urlparse(endpoint).hostname
    if host not in ("127.0.0.1", "localhost"):
        sys.exit(f"refusing to run against {endpoint!r}: the rehearsal talks to a local moto server only")
    params = deploy_helper.effective_params(params_path)
    names = deploy_helper.names(params)
    defaults = {k: str(v.get("Default", "")) for k, v in cfn_yaml.load(INFRA / "base.yaml")["Parameters"].items()}
    want_versions = {}
    if versions:
        if "=" in versions:
            want_versions = dict(item.split("=", 1) for item in versions.split(","))
        else:
            want_versions = {fn: versions for fn in ENV_MAP}

    def p(name):
        return params.get(name, defaults[name])

    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    lam = session.client("lambda", endpoint_url=endpoint)
    iam = session.client("iam", endpoint_url=endpoint)
    logs = session.client("logs", endpoint_url=endpoint)

    base = cfn.describe_stacks(StackName=names["BASE_STACK"])["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in base.get("Outputs", [])}
    role_arn = outputs["LambdaRoleArn"]
    problems = []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what}: got {got!r}, expected {want!r}")

    # The stacks hold the params' values (after a rollback: the recorded ones), and say whose they are.
    for kind, template in (("BASE", "base.yaml"), ("OPERATIONS", "operations.yaml")):
        desc = cfn.describe_stacks(StackName=names[f"{kind}_STACK"])["Stacks"][0]
        declared = deploy_helper.template_parameters(str(INFRA / template))
        deployed = {q["ParameterKey"]: q["ParameterValue"] for q in desc.get("Parameters", [])}
        for key, value in params.items():
            if key in declared:
                expect(f"{names[kind + '_STACK']} parameter {key}", deployed.get(key), value)
        tags = {t["Key"]: t["Value"] for t in desc.get("Tags", [])}
        expect(f"{names[kind + '_STACK']} tags", {k: tags.get(k) for k in (deploy_helper.TAG_STAGE, deploy_helper.TAG_INSTANCE)},
               {deploy_helper.TAG_STAGE: names["STAGE"], deploy_helper.TAG_INSTANCE: names["INSTANCE_ID"]})

    any_secret = any(p(k) for k in SECRET_ARNS + SECRET_PARAMETERS)
    layer = p("ParametersSecretsExtensionLayerArn") if any_secret else ""
    for function, mapping in ENV_MAP.items():
        name = p("FunctionNamePrefix") + function
        # What Connect runs: the version behind the alias (after a rollback, not $LATEST).
        try:
            cfg = lam.get_function_configuration(FunctionName=name, Qualifier=ALIAS)
        except lam.exceptions.ResourceNotFoundException:
            problems.append(f"{name}: no alias {ALIAS}")
            continue
        expect(f"{name} Runtime", cfg.get("Runtime"), "provided.al2023")
        expect(f"{name} Handler", cfg.get("Handler"), "bootstrap")
        expect(f"{name} MemorySize", cfg.get("MemorySize"), EXPECTED_MEMORY)
        expect(f"{name} Timeout", cfg.get("Timeout"), EXPECTED_TIMEOUT)
        expect(f"{name} Role", cfg.get("Role"), role_arn)
        expect(f"{name} Architectures", cfg.get("Architectures"), [arch])
        want_env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "RUST_LOG": p("LogLevel")}
        want_env.update({var: p(param) for var, param in mapping.items() if p(param) != ""})
        reads_secret = any(var.endswith(("_SECRET_ARN", "_PARAMETER")) for var in want_env)
        expect(f"{name} Layers", [entry["Arn"] for entry in cfg.get("Layers", [])],
               [layer] if layer and reads_secret else [])
        got_env = (cfg.get("Environment") or {}).get("Variables", {})
        expect(f"{name} Environment", dict(sorted(got_env.items())), dict(sorted(want_env.items())))
        leaked = [k for k in got_env if k in ("MINDFUL_CLIENT_SECRET", "DATASTORE_TOKEN")]
        if leaked:
            problems.append(f"{name}: plain secret variables {leaked} in the environment")
        groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
        expect(f"{name} log group retention", [g.get("retentionInDays") for g in groups], [int(p("LogRetentionDays"))])
        # Connect invokes the alias: it must exist and point at a published version of this
        # architecture (never $LATEST), the one given when the caller knows it.
        try:
            live = lam.get_alias(FunctionName=name, Name=ALIAS)
        except lam.exceptions.ResourceNotFoundException:
            live = None
            problems.append(f"{name}: no alias {ALIAS}")
        if live:
            version = live["FunctionVersion"]
            if not version.isdigit():
                problems.append(f"{name}:{ALIAS} points at {version}, not a published version")
            elif function in want_versions:
                expect(f"{name}:{ALIAS} version", version, want_versions[function])
            if version.isdigit():
                vcfg = lam.get_function_configuration(FunctionName=name, Qualifier=version)
                expect(f"{name}:{version} Architectures", vcfg.get("Architectures"), [arch])
                if zips:
                    raw = (pathlib.Path(zips) / function / "bootstrap.zip").read_bytes()
                    b64 = base64.b64encode(hashlib.sha256(raw).digest()).decode()
                    expect(f"{name}:{version} CodeSha256 (= the checked zip's)", vcfg.get("CodeSha256"), b64)
                    desc = vcfg.get("Description", "")
                    if hashlib.sha256(raw).hexdigest() not in desc or " commit " not in desc:
                        problems.append(f"{name}:{version} description {desc!r} names neither the zip's "
                                        "SHA-256 nor the commit")
        tags = lam.get_function(FunctionName=name).get("Tags", {})
        expect(f"{name} tags", {k: tags.get(k) for k in (deploy_helper.TAG_STAGE, deploy_helper.TAG_INSTANCE)},
               {deploy_helper.TAG_STAGE: names["STAGE"], deploy_helper.TAG_INSTANCE: names["INSTANCE_ID"]})
        print(f"rehearsal: {name}:{ALIAS} -> {live and live['FunctionVersion']}")
        print(f"rehearsal: {name}: {cfg['Runtime']} {cfg['Handler']} {cfg['MemorySize']} MB {cfg['Timeout']} s "
              f"{cfg['Architectures'][0]}, {len(got_env)} env vars, layers {len(cfg.get('Layers', []))}")

    # Least privilege: GetSecretValue only on the configured secrets, logs only on own groups.
    role_name = role_arn.rsplit("/", 1)[-1]
    statements = []
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        if isinstance(doc, str):  # moto returns CloudFormation-made policies as a Python repr
            try:
                doc = json.loads(doc)
            except json.JSONDecodeError:
                doc = ast.literal_eval(doc)
        listed = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        # moto keeps an AWS::NoValue list element as None; CloudFormation drops it.
        statements += [st for st in listed if st is not None]
    if iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        problems.append("role has managed policies attached (expected inline least-privilege policies only)")
    for st in statements:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        resources = [r for r in resources if r is not None]  # moto keeps AWS::NoValue as None
        if any("*" == r for r in resources):
            problems.append(f"statement {actions} on Resource '*'")
        if "logs:PutLogEvents" in actions:
            want = sorted(f"arn:aws:logs:{session.region_name}:123456789012:log-group:/aws/lambda/"
                          f"{p('FunctionNamePrefix')}{fn}:*" for fn in ENV_MAP)
            expect("log statement resources", sorted(resources), want)
            expect("log statement actions", sorted(actions), ["logs:CreateLogStream", "logs:PutLogEvents"])
        if "secretsmanager:GetSecretValue" in actions:
            want = sorted(p(k) for k in SECRET_ARNS if p(k))
            expect("GetSecretValue resources", sorted(resources), want)
        if "ssm:GetParameter" in actions:
            want = sorted(f"arn:aws:ssm:{session.region_name}:123456789012:parameter{p(k)}"
                          for k in SECRET_PARAMETERS if p(k))
            expect("ssm:GetParameter resources", sorted(resources), want)
            expect("ssm actions", actions, ["ssm:GetParameter"])
    for action, keys in (("secretsmanager:GetSecretValue", SECRET_ARNS), ("ssm:GetParameter", SECRET_PARAMETERS)):
        found = [st for st in statements if action in str(st["Action"])]
        expect(f"{action} statements", len(found), 1 if any(p(k) for k in keys) else 0)

    for problem in problems:
        print(f"rehearsal: FAIL {problem}", file=sys.stderr)
    if problems:
        return 1
    print("rehearsal: 3 functions, role and log groups as expected")
    return 0


def gone(params_path: str) -> int:
    """After `deploy.sh teardown`: nothing of the stage is left."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if urlparse(endpoint).hostname not in ("127.0.0.1", "localhost"):
        sys.exit(f"refusing to run against {endpoint!r}")
    names = deploy_helper.names(deploy_helper.effective_params(params_path))
    prefix = names["FUNCTION_PREFIX"]
    stack_prefix = names["BASE_STACK"][: -len("base")]
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    lam = session.client("lambda", endpoint_url=endpoint)
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    logs = session.client("logs", endpoint_url=endpoint)
    problems = []
    left = [f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(prefix)]
    if left:
        problems.append(f"functions left: {left}")
    stacks = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]
              if s["StackName"].startswith(stack_prefix) and s["StackStatus"] != "DELETE_COMPLETE"]
    if stacks:
        problems.append(f"stacks left: {stacks}")
    groups = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{prefix}")["logGroups"]]
    if groups:
        problems.append(f"log groups left: {groups}")
    ssm = session.client("ssm", endpoint_url=endpoint)
    records = [q["Name"] for q in ssm.get_parameters_by_path(Path=names["RECORDS"], Recursive=True)["Parameters"]]
    if records:
        problems.append(f"deploy records left: {records}")
    for problem in problems:
        print(f"rehearsal: FAIL {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"rehearsal: teardown left no function, stack or log group of {prefix!r} / {stack_prefix!r}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--gone":
        sys.exit(gone(sys.argv[2]))
    if len(sys.argv) not in (3, 4, 5):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
