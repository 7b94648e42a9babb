#!/usr/bin/env python3
"""Unit tests of infra/deploy_helper.py (stdlib only; run by .ci/infra-checks.sh):

* check-artifact refuses a bootstrap whose ELF e_machine is not the function's architecture,
  whatever the file is called, and accepts the right one;
* check-params refuses the example placeholders, the example's fictional values (555-01xx
  numbers, example.com addresses), ARNs of another Region, secret sources without the extension
  layer, two sources for one secret, malformed phone number ids, a queue of another instance, a
  params file without Stage or with a hand-set FunctionNamePrefix;
* against a fake `aws` CLI: number-associate and number-restore (moto has no Amazon Connect
  phone numbers): the deploy records the flow a number had, the undo restores it; stack-deploy
  prints the failed resources' reasons and replaces a ROLLBACK_COMPLETE stack (moto's
  CloudFormation creates or fails synchronously, so the rehearsal cannot reach that state);
  record-start's `previous` skips an incomplete deploy; publish-tests and verify (moto has no
  Connect test cases): the published Content (no local Metadata, the stage's alias ARNs, the
  test-queue override), create-or-update by name, at most 5 executions at once, pass / fail /
  timeout / missing reported with the exit code. The rollback itself, the deploy records
  and the stages are rehearsed on moto (.ci/infra-checks.sh).

Usage: python3 infra/test_deploy_helper.py [-v]
"""
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import unittest
import zipfile

INFRA = pathlib.Path(__file__).resolve().parent
HELPER = [sys.executable, str(INFRA / "deploy_helper.py")]
sys.path.insert(0, str(INFRA))
from deploy_helper import lambda_functions  # noqa: E402  (CargoLambda.toml [build] bin)
EM_X86_64, EM_AARCH64 = 62, 183


def elf(machine: int, elf_class: int = 2) -> bytes:
    """A minimal ELF header (what the helper reads), as a linker would write it."""
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0, 64, 0, 0, 64, 56, 0, 64, 0, 0)


def make_zip(path: pathlib.Path, payload: bytes, name: str = "bootstrap", mode: int = 0o755) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        z.writestr(info, payload)
    return path


def run(*args, env=None):
    return subprocess.run([*HELPER, *args], capture_output=True, text=True, env=env)


class CheckArtifact(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp())

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_refuses_x86_64_bootstrap_for_arm64_function(self):
        # Named like an arm64 build on purpose: only the ELF header counts.
        z = make_zip(self.tmp / "aarch64" / "ocw-phrase" / "bootstrap.zip", elf(EM_X86_64))
        r = run("check-artifact", str(z), "arm64", str(self.tmp / "stage"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("REFUSED", r.stderr)
        self.assertIn("built for x86_64", r.stderr)
        self.assertFalse((self.tmp / "stage").exists(), "nothing may be staged for upload")

    def test_refuses_arm64_bootstrap_for_x86_64_function(self):
        z = make_zip(self.tmp / "x" / "bootstrap.zip", elf(EM_AARCH64))
        r = run("check-artifact", str(z), "x86_64")
        self.assertEqual(r.returncode, 1)
        self.assertIn("built for arm64", r.stderr)

    def test_refuses_non_elf_32_bit_missing_and_not_executable(self):
        cases = {
            "script": make_zip(self.tmp / "a.zip", b"#!/bin/sh\necho hi\n"),
            "32-bit": make_zip(self.tmp / "b.zip", elf(EM_AARCH64, elf_class=1)),
            "no bootstrap": make_zip(self.tmp / "c.zip", elf(EM_AARCH64), name="ocw-phrase"),
            "mode 644": make_zip(self.tmp / "d.zip", elf(EM_AARCH64), mode=0o644),
        }
        for what, z in cases.items():
            with self.subTest(what):
                r = run("check-artifact", str(z), "arm64")
                self.assertEqual(r.returncode, 1, f"{what}: {r.stdout}")
                self.assertIn("REFUSED", r.stderr)
        bad = self.tmp / "e.zip"
        bad.write_bytes(b"not a zip")
        self.assertEqual(run("check-artifact", str(bad), "arm64").returncode, 1)

    def test_accepts_and_stages_the_exact_bytes(self):
        payload = elf(EM_AARCH64) + b"rest of the binary"
        z = make_zip(self.tmp / "bootstrap.zip", payload)
        r = run("check-artifact", str(z), "arm64", str(self.tmp / "stage"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("bootstrap arm64 ELF", r.stdout)
        self.assertEqual((self.tmp / "stage" / "bootstrap").read_bytes(), payload)
        self.assertEqual((self.tmp / "stage" / "bootstrap.zip").read_bytes(), z.read_bytes())
        self.assertTrue(os.access(self.tmp / "stage" / "bootstrap", os.X_OK))


class CheckParams(unittest.TestCase):
    def check(self, params: dict, region: str = "us-east-1"):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(params, f)
        env = {**os.environ, "AWS_REGION": region}
        env.pop("AWS_DEFAULT_REGION", None)
        try:
            return run("check-params", f.name, *(str(INFRA / t) for t in ("base.yaml", "operations.yaml", "template.yaml")), env=env)
        finally:
            os.unlink(f.name)

    def rehearsal(self) -> dict:
        return json.loads((INFRA / "params" / "rehearsal.json").read_text())

    def test_rehearsal_params_pass(self):
        r = self.check(self.rehearsal())
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_example_placeholders_are_refused(self):
        r = self.check(json.loads((INFRA / "params" / "example.json").read_text()))
        self.assertEqual(r.returncode, 1)
        for needle in ("111122223333", "your-application-client-id", "00000000-0000-0000-0000-000000000000"):
            self.assertIn(needle, r.stderr)

    def test_arn_of_another_region_is_refused(self):
        r = self.check(self.rehearsal(), region="eu-west-1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ConnectInstanceArn: the ARN is in Region us-east-1", r.stderr)
        self.assertIn("AWS_REGION=eu-west-1", r.stderr)

    def test_secret_without_layer_is_refused(self):
        for key in ("MindfulClientSecretArn", "DatastoreTokenParameter"):
            with self.subTest(key):
                params = self.rehearsal()
                params["ParametersSecretsExtensionLayerArn"] = ""
                params.pop("MindfulClientSecretArn" if key != "MindfulClientSecretArn" else "DatastoreTokenParameter")
                r = self.check(params)
                self.assertEqual(r.returncode, 1)
                self.assertIn(f"{key} is set but ParametersSecretsExtensionLayerArn is empty", r.stderr)

    def test_fictional_values_are_refused(self):
        params = self.rehearsal()
        params.update(CallTargetPhoneNumber="+13205550142", AlarmEmail="oncall@example.com",
                      MindfulApiUrl="https://api.example.com")
        r = self.check(params)
        self.assertEqual(r.returncode, 1)
        self.assertIn("+13205550142 is a fictional 555-01xx number", r.stderr)
        self.assertIn("AlarmEmail='oncall@example.com': example.com is an example domain", r.stderr)
        self.assertIn("MindfulApiUrl='https://api.example.com': example.com is an example domain", r.stderr)
        params.update(CallTargetPhoneNumber="+13205551234", AlarmEmail="oncall@myexample.com",
                      MindfulApiUrl="https://api.getmindful.com")
        self.assertEqual(self.check(params).returncode, 0, "555-1234 and myexample.com are not the example's")

    def test_shapes_only_the_account_would_reject_later(self):
        params = self.rehearsal()
        params["MainPhoneNumberId"] = "+13205551234"      # the number, not its id
        params["CallbackDefaultQueueArn"] = params["InboundQueueArn"].replace("4c0f6a2e", "5d1e7b3f")
        params["MindfulClientSecretArn"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mindful"
        r = self.check(params)
        self.assertEqual(r.returncode, 1)
        self.assertIn("MainPhoneNumberId='+13205551234' is not a phone number id", r.stderr)
        self.assertIn("CallbackDefaultQueueArn=", r.stderr)
        self.assertIn("is not a queue of ConnectInstanceArn", r.stderr)
        self.assertIn("has no 6-character suffix", r.stderr)

    def test_stage_is_required_and_names_derive_from_it(self):
        params = self.rehearsal()
        del params["Stage"]
        r = self.check(params)
        self.assertEqual(r.returncode, 1)
        self.assertIn('set "Stage"', r.stderr)
        for bad in ("Prod", "prod-eu", "p", "averyverylongstage"):
            params["Stage"] = bad
            self.assertEqual(self.check(params).returncode, 1, bad)
        params["Stage"] = "prod"
        params["FunctionNamePrefix"] = "mindful-"
        r = self.check(params)
        self.assertEqual(r.returncode, 1)
        self.assertIn("FunctionNamePrefix is derived from Stage (mindful-prod-)", r.stderr)
        del params["FunctionNamePrefix"]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(params, f)
        try:
            out = run("names", f.name).stdout
        finally:
            os.unlink(f.name)
        for line in ("STAGE=prod", "BASE_STACK=mindful-connect-prod-base", "OPERATIONS_STACK=mindful-connect-prod-operations",
                     "CONNECT_STACK=mindful-connect-prod-connect", "FUNCTION_PREFIX=mindful-prod-",
                     "RECORDS=/mindful-connect/prod", "INSTANCE_ID=4c0f6a2e-8d1b-4f3a-9e7c-5b2d1a0f9e8d"):
            self.assertIn(line, out.splitlines())

    def test_two_sources_for_one_secret_are_refused(self):
        params = self.rehearsal()
        params["DatastoreTokenSecretArn"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf"
        r = self.check(params)
        self.assertEqual(r.returncode, 1)
        self.assertIn("DatastoreTokenSecretArn and DatastoreTokenParameter are both set", r.stderr)


# A fake `aws` CLI: answers from a JSON state file and appends every call to a log.
FAKE_AWS = textwrap.dedent('''\
    #!/usr/bin/env python3
    import json, os, sys
    state_path = os.environ["FAKE_AWS_STATE"]
    state = json.load(open(state_path))
    args = [a for a in sys.argv[1:]]
    if "--output" in args:
        i = args.index("--output"); del args[i:i + 2]
    with open(os.environ["FAKE_AWS_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    service, op, rest = args[0], args[1], args[2:]
    opts = {a: (rest[i + 1] if i + 1 < len(rest) and not rest[i + 1].startswith("--") else "")
            for i, a in enumerate(rest) if a.startswith("--")}
    out = None
    if (service, op) == ("connect", "describe-phone-number"):
        n = state["numbers"][opts["--phone-number-id"]]
        out = {"ClaimedPhoneNumberSummary": {"PhoneNumberId": opts["--phone-number-id"],
               "PhoneNumberArn": n["arn"], "Tags": n["tags"], "TargetArn": n.get("target", "")}}
    elif (service, op) == ("connect", "list-flow-associations"):
        out = {"FlowAssociationSummaryList": [
            {"ResourceId": n["arn"], "FlowId": n["flow"], "ResourceType": "VOICE_PHONE_NUMBER"}
            for n in state["numbers"].values() if n["flow"]]}
    elif (service, op) == ("connect", "tag-resource"):
        n = next(n for n in state["numbers"].values() if n["arn"] == opts["--resource-arn"])
        n["tags"].update(json.loads(opts["--tags"]))
    elif (service, op) == ("connect", "untag-resource"):
        n = next(n for n in state["numbers"].values() if n["arn"] == opts["--resource-arn"])
        n["tags"].pop(opts["--tag-keys"], None)
    elif (service, op) == ("connect", "associate-phone-number-contact-flow"):
        state["numbers"][opts["--phone-number-id"]]["flow"] = opts["--contact-flow-id"]
    elif (service, op) == ("connect", "disassociate-phone-number-contact-flow"):
        state["numbers"][opts["--phone-number-id"]]["flow"] = None
    elif (service, op) == ("lambda", "get-alias"):
        f = state["functions"].get(opts["--function-name"])
        if not f or "alias" not in f:
            sys.stderr.write("An error occurred (ResourceNotFoundException) when calling the GetAlias operation\\n")
            sys.exit(254)
        out = {"FunctionVersion": f["alias"],
               "AliasArn": f"arn:aws:lambda:us-east-1:123456789012:function:{opts['--function-name']}:{opts['--name']}"}
    elif (service, op) == ("connect", "list-test-cases"):
        # Two a page, so that the helper must follow NextToken.
        cases = sorted(state["test_cases"].items())
        start = int(opts.get("--next-token") or 0)
        out = {"TestCaseSummaryList": [{"Id": i, "Name": c["Name"], "Status": c["Status"]} for i, c in cases[start:start + 2]]}
        if start + 2 < len(cases):
            out["NextToken"] = str(start + 2)
    elif (service, op) == ("connect", "create-test-case"):
        if any(c["Name"] == opts["--name"] for c in state["test_cases"].values()):
            sys.stderr.write("An error occurred (DuplicateResourceException) when calling the CreateTestCase operation\\n")
            sys.exit(254)
        tid = f"tc-{len(state['test_cases']) + 1}"
        state["test_cases"][tid] = {"Name": opts["--name"], "Content": opts["--content"], "Status": opts["--status"],
                                    "EntryPoint": opts["--entry-point"], "Tags": opts.get("--tags")}
        out = {"TestCaseId": tid}
    elif (service, op) == ("connect", "update-test-case"):
        state["test_cases"][opts["--test-case-id"]].update(
            Name=opts["--name"], Content=opts["--content"], Status=opts["--status"], EntryPoint=opts["--entry-point"])
    elif (service, op) == ("connect", "start-test-case-execution"):
        running = [e for e in state["executions"].values() if not e["done"]]
        if len(running) >= 5:
            sys.stderr.write("An error occurred (ServiceQuotaExceededException) when calling the StartTestCaseExecution operation\\n")
            sys.exit(254)
        eid = f"ex-{len(state['executions']) + 1}"
        state["executions"][eid] = {"test": opts["--test-case-id"], "polls": 0, "done": False}
        state["max_running"] = max(state.get("max_running", 0), len(running) + 1)
        out = {"TestCaseExecutionId": eid, "TestCaseId": opts["--test-case-id"], "Status": "INITIATED"}
    elif (service, op) == ("connect", "get-test-case-execution-summary"):
        e = state["executions"][opts["--test-case-execution-id"]]
        plan = state["plan"].get(state["test_cases"][e["test"]]["Name"], {"status": "PASSED", "polls": 1})
        e["polls"] += 1
        status = plan["status"] if e["polls"] >= plan["polls"] else "IN_PROGRESS"
        e["done"] = status != "IN_PROGRESS"
        out = {"Status": status, "ObservationSummary": {"TotalObservations": 3,
               "ObservationsPassed": 3 if status == "PASSED" else 1, "ObservationsFailed": 0 if status == "PASSED" else 2}}
    elif (service, op) == ("connect", "list-test-case-execution-records"):
        e = state["executions"][opts["--test-case-execution-id"]]
        records = state["plan"].get(state["test_cases"][e["test"]]["Name"], {}).get("records", [])
        out = {"ExecutionRecords": [r for r in records if r["Status"] == opts.get("--status", r["Status"])]}
    elif (service, op) == ("connect", "stop-test-case-execution"):
        state["executions"][opts["--test-case-execution-id"]]["done"] = True
    elif (service, op) == ("lambda", "list-versions-by-function"):
        out = {"Versions": [{"Version": "$LATEST"}] + [{"Version": str(v)} for v in state["functions"][opts["--function-name"]]["versions"]]}
    elif (service, op) == ("lambda", "update-alias"):
        state["functions"][opts["--function-name"]]["alias"] = opts["--function-version"]
    elif (service, op) == ("cloudformation", "describe-stacks") and "--stack-name" not in opts:
        out = {"Stacks": [{"StackName": k, "StackStatus": v["status"], "Tags": v.get("tags", [])}
                          for k, v in state["stacks"].items()]}
    elif (service, op) == ("sts", "get-caller-identity"):
        out = {"Account": state["account"]}
    elif (service, op) == ("secretsmanager", "describe-secret"):
        arn = next((a for a in state["secrets"] if a.startswith(opts["--secret-id"])), None)
        if arn is None:
            sys.stderr.write("An error occurred (ResourceNotFoundException) when calling the DescribeSecret operation\\n")
            sys.exit(254)
        out = {"ARN": arn}
    elif (service, op) == ("ssm", "describe-parameters"):
        name = opts["--parameter-filters"].rpartition("Values=")[2]
        out = {"Parameters": [{"Name": name, "Type": state["parameters"][name]}] if name in state["parameters"] else []}
    elif (service, op) == ("lambda", "get-layer-version"):
        out = {"LayerVersionArn": opts["--layer-name"] + ":" + opts["--version-number"]}
    elif (service, op) == ("lambda", "get-function"):
        sys.stderr.write("An error occurred (ResourceNotFoundException) when calling the GetFunction operation\\n")
        sys.exit(254)
    elif (service, op) == ("connect", "describe-instance"):
        if opts["--instance-id"] not in state["instances"]:
            sys.stderr.write("An error occurred (ResourceNotFoundException) when calling the DescribeInstance operation\\n")
            sys.exit(254)
        out = {"Instance": {"Id": opts["--instance-id"]}}
    elif (service, op) == ("connect", "describe-queue"):
        if opts["--queue-id"] not in state["instances"].get(opts["--instance-id"], []):
            sys.stderr.write("An error occurred (ResourceNotFoundException) when calling the DescribeQueue operation\\n")
            sys.exit(254)
        out = {"Queue": {"QueueId": opts["--queue-id"]}}
    elif (service, op) == ("cloudformation", "describe-stacks"):
        st = state["stacks"].get(opts["--stack-name"])
        if st is None:
            sys.stderr.write(f"An error occurred (ValidationError): Stack with id {opts['--stack-name']} does not exist\\n")
            sys.exit(254)
        if st["status"].endswith("_IN_PROGRESS"):   # settles on the next read
            out = {"Stacks": [{"StackName": opts["--stack-name"], "StackStatus": st["status"], "Tags": []}]}
            st["status"] = st.pop("then")
        else:
            out = {"Stacks": [{"StackName": opts["--stack-name"], "StackStatus": st["status"], "Tags": []}]}
    elif (service, op) == ("cloudformation", "describe-stack-events"):
        out = {"StackEvents": state["stacks"][opts["--stack-name"]]["events"]}
    elif (service, op) == ("cloudformation", "delete-stack"):
        state["stacks"][opts["--stack-name"]] = {"status": "DELETE_IN_PROGRESS", "then": "DELETE_COMPLETE", "events": []}
    elif (service, op) in (("cloudformation", "create-stack"), ("cloudformation", "update-stack")):
        st = state["stacks"].setdefault(opts["--stack-name"], {"events": []})
        outcome = state["outcomes"].pop(0)
        st.update(status=op.split("-")[0].upper() + "_IN_PROGRESS", then=outcome["status"])
        st["events"] = outcome.get("events", []) + st["events"]
    elif (service, op) == ("ssm", "get-parameter"):
        if opts["--name"] not in state["ssm"]:
            sys.stderr.write("An error occurred (ParameterNotFound) when calling the GetParameter operation\\n")
            sys.exit(254)
        out = {"Parameter": {"Name": opts["--name"], "Value": state["ssm"][opts["--name"]]}}
    elif (service, op) == ("ssm", "put-parameter"):
        state["ssm"][opts["--name"]] = opts["--value"]
    else:
        sys.stderr.write(f"fake aws: unexpected call {args}\\n"); sys.exit(2)
    json.dump(state, open(state_path, "w"))
    if out is not None:
        print(json.dumps(out))
''')


class FakeAwsCase(unittest.TestCase):
    """A fake `aws` on PATH, its state and its call log (no tests of its own)."""

    INSTANCE = "4c0f6a2e-8d1b-4f3a-9e7c-5b2d1a0f9e8d"

    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        (self.tmp / "bin").mkdir()
        fake = self.tmp / "bin" / "aws"
        fake.write_text(FAKE_AWS)
        fake.chmod(0o755)
        self.state_path = self.tmp / "state.json"
        self.log_path = self.tmp / "calls.log"
        self.log_path.write_text("")
        self.env = {**os.environ, "PATH": f"{self.tmp / 'bin'}{os.pathsep}{os.environ['PATH']}",
                    "FAKE_AWS_STATE": str(self.state_path), "FAKE_AWS_LOG": str(self.log_path),
                    "DEPLOY_POLL_SECONDS": "0"}
        arn = f"arn:aws:connect:us-east-1:123456789012:phone-number/{{}}"
        self.write_state({
            "numbers": {
                "main": {"arn": arn.format("main"), "flow": "old-inbound-flow", "tags": {}},
                "spare": {"arn": arn.format("spare"), "flow": None, "tags": {}},
            },
            "functions": {},
            "stacks": {},
            "outcomes": [],
            "ssm": {},
            "test_cases": {},
            "executions": {},
            "plan": {},
        })

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def write_state(self, state):
        self.state_path.write_text(json.dumps(state))

    def state(self):
        return json.loads(self.state_path.read_text())

    def calls(self):
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def helper(self, *args):
        r = run(*args, env=self.env)
        return r


class FakeAws(FakeAwsCase):

    def test_deploy_records_the_previous_flow_once_and_undo_restores_it(self):
        r = self.helper("number-associate", self.INSTANCE, "main", "bundle-flow")
        self.assertEqual(r.returncode, 0, r.stderr)
        n = self.state()["numbers"]["main"]
        self.assertEqual(n["flow"], "bundle-flow")
        self.assertEqual(n["tags"], {"mindful:previous-flow-id": "old-inbound-flow"})
        # A second deploy (possibly with a new flow id) must not overwrite the record.
        r = self.helper("number-associate", self.INSTANCE, "main", "bundle-flow-2")
        self.assertEqual(r.returncode, 0, r.stderr)
        n = self.state()["numbers"]["main"]
        self.assertEqual((n["flow"], n["tags"]["mindful:previous-flow-id"]), ("bundle-flow-2", "old-inbound-flow"))
        # Undo: the number gets its old flow back and the record goes.
        r = self.helper("number-restore", self.INSTANCE, "main")
        self.assertEqual(r.returncode, 0, r.stderr)
        n = self.state()["numbers"]["main"]
        self.assertEqual((n["flow"], n["tags"]), ("old-inbound-flow", {}))

    def test_a_number_without_flow_is_disassociated_on_restore(self):
        self.assertEqual(self.helper("number-associate", self.INSTANCE, "spare", "bundle-flow").returncode, 0)
        self.assertEqual(self.state()["numbers"]["spare"]["tags"], {"mindful:previous-flow-id": "none"})
        r = self.helper("number-restore", self.INSTANCE, "spare")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNone(self.state()["numbers"]["spare"]["flow"])
        self.assertIn(["connect", "disassociate-phone-number-contact-flow", "--instance-id", self.INSTANCE,
                       "--phone-number-id", "spare"], self.calls())

    def test_restore_without_record_changes_nothing(self):
        r = self.helper("number-restore", self.INSTANCE, "main")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.state()["numbers"]["main"]["flow"], "old-inbound-flow")
        self.assertFalse([c for c in self.calls() if "associate" in c[1]])

    FAILED_EVENT = {"Timestamp": "2099-01-01T00:00:00+00:00", "LogicalResourceId": "LambdaExecutionRole",
                    "ResourceType": "AWS::IAM::Role", "ResourceStatus": "CREATE_FAILED",
                    "ResourceStatusReason": "Resource handler returned message: \"User is not authorized to "
                                            "perform: iam:CreateRole\""}

    def stack_deploy(self, stack="s-base"):
        params = self.tmp / "p.json"
        params.write_text("[]")
        return self.helper("stack-deploy", stack, str(INFRA / "base.yaml"), str(params), "prod", "inst-1")

    def test_a_failed_stack_prints_the_failed_resources_reasons(self):
        state = self.state()
        state["outcomes"] = [{"status": "ROLLBACK_COMPLETE", "events": [self.FAILED_EVENT]}]
        self.write_state(state)
        r = self.stack_deploy()
        self.assertEqual(r.returncode, 1)
        self.assertIn("stack s-base is ROLLBACK_COMPLETE; failed resources:", r.stderr)
        self.assertIn("LambdaExecutionRole (AWS::IAM::Role) CREATE_FAILED: Resource handler returned message: "
                      "\"User is not authorized to perform: iam:CreateRole\"", r.stderr)
        self.assertNotIn("Waiter", r.stdout + r.stderr)

    def test_a_rollback_complete_stack_is_deleted_and_created_again(self):
        state = self.state()
        state["stacks"]["s-base"] = {"status": "ROLLBACK_COMPLETE", "events": [self.FAILED_EVENT]}
        state["outcomes"] = [{"status": "CREATE_COMPLETE"}]
        self.write_state(state)
        r = self.stack_deploy()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("iam:CreateRole", r.stdout, "the old failure is shown before the stack goes")
        ops = [c[1] for c in self.calls() if c[0] == "cloudformation" and c[1] != "describe-stacks"]
        self.assertEqual(ops, ["describe-stack-events", "delete-stack", "create-stack"])
        self.assertEqual(self.state()["stacks"]["s-base"]["status"], "CREATE_COMPLETE")
        create = next(c for c in self.calls() if c[1] == "create-stack")
        for tag in ("Key=mindful:stage,Value=prod", "Key=mindful:instance,Value=inst-1"):
            self.assertIn(tag, create, "the stack says which stage and instance own it")

    def test_an_update_that_rolls_back_fails_with_reasons_and_no_changes_is_success(self):
        state = self.state()
        state["stacks"]["s-base"] = {"status": "UPDATE_COMPLETE", "events": []}
        state["outcomes"] = [{"status": "UPDATE_ROLLBACK_COMPLETE", "events": [
            {**self.FAILED_EVENT, "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "bad policy"}]}]
        self.write_state(state)
        r = self.stack_deploy()
        self.assertEqual(r.returncode, 1)
        self.assertIn("UPDATE_FAILED: bad policy", r.stderr)

    def test_preflight_asks_connect_what_moto_cannot_answer(self):
        """The pre-flight's Connect calls (the rehearsal runs with --skip-connect: moto has no
        Connect): a queue of another instance and a phone number claimed for another instance
        are refused, with the secret and parameter found and nothing changed."""
        params = json.loads((INFRA / "params" / "rehearsal.json").read_text())
        instance = params["ConnectInstanceArn"]
        iid = instance.rpartition("/")[2]
        params["MainPhoneNumberId"] = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
        params["CallbackReturnPhoneNumberId"] = "2c3d4e5f-6071-4b8c-9d0e-1f2a3b4c5d6e"
        params_path = self.tmp / "params.json"
        params_path.write_text(json.dumps(params))
        state = self.state()
        state.update(account="123456789012", secrets=[params["MindfulClientSecretArn"]],
                     parameters={"/mindful/datastore-token": "SecureString"},
                     instances={iid: [params["InboundQueueArn"].rpartition("/")[2]]})
        arn = "arn:aws:connect:us-east-1:123456789012:phone-number/{}"
        state["numbers"] = {
            params["MainPhoneNumberId"]: {"arn": arn.format(1), "flow": None, "tags": {}, "target": instance},
            params["CallbackReturnPhoneNumberId"]: {"arn": arn.format(2), "flow": None, "tags": {},
                                                    "target": instance.replace("4c0f6a2e", "9a9a9a9a")},
        }
        # A deleted stack of another instance, with this stage's name, owns nothing any more.
        state["stacks"]["mindful-connect-rehearsal-base"] = {
            "status": "DELETE_COMPLETE", "events": [],
            "tags": [{"Key": "mindful:stage", "Value": "rehearsal"}, {"Key": "mindful:instance", "Value": "old"}]}
        self.write_state(state)
        r = self.helper("preflight", str(params_path), "--architecture=arm64")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("CallbackDefaultQueueArn: queue 0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b is not a queue of "
                      f"instance {iid}", r.stderr)
        self.assertIn("CallbackReturnPhoneNumberId: phone number 2c3d4e5f-6071-4b8c-9d0e-1f2a3b4c5d6e is claimed "
                      "for arn:aws:connect:us-east-1:123456789012:instance/9a9a9a9a", r.stderr)
        self.assertNotIn("MainPhoneNumberId", r.stderr)
        self.assertNotIn("belongs to", r.stderr)
        self.assertIn(f"pre-flight: ok secret {params['MindfulClientSecretArn']}", r.stdout)
        self.assertIn("pre-flight: ok parameter /mindful/datastore-token (SecureString)", r.stdout)
        changing = [c for c in self.calls() if not c[1].startswith(("describe", "get", "list"))]
        self.assertEqual(changing, [], "the pre-flight only reads")

    def test_rollback_refuses_and_says_why_when_the_recorded_template_is_not_at_hand(self):
        """Item 2: a rollback restores each stack's recorded template and parameters, or refuses
        before any change, naming the stack, the template's hash and the commit to fetch."""
        params = json.loads((INFRA / "params" / "rehearsal.json").read_text())
        params_path = self.tmp / "params.json"
        params_path.write_text(json.dumps(params))
        root = "/mindful-connect/rehearsal"
        iid = params["ConnectInstanceArn"].rpartition("/")[2]
        older = {"id": "d1", "status": "complete", "previous": "", "stage": "rehearsal", "instance": iid,
                 "commit": "0123456789abcdef0123456789abcdef01234567", "functions": {},
                 "stacks": {"base": {"name": "mindful-connect-rehearsal-base", "template": "infra/base.yaml",
                                     "template_sha256": "f" * 64, "parameters": {"LogLevel": "debug"}}}}
        state = self.state()
        state["ssm"] = {
            f"{root}/deploys/d1": json.dumps(older),
            f"{root}/deploys/d2": json.dumps({**older, "id": "d2", "previous": "d1"}),
            f"{root}/live": "d2",
        }
        self.write_state(state)
        r = self.helper("rollback", str(params_path))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("rollback: REFUSED: stack mindful-connect-rehearsal-base: the template of deploy d1 "
                      "(infra/base.yaml sha256 ffffffffffff…, commit 0123456789ab) is neither in this clone "
                      "nor at that commit: `git fetch origin 0123456789abcdef0123456789abcdef01234567`",
                      r.stderr)
        changing = [c for c in self.calls() if not c[1].startswith(("describe", "get", "list"))]
        self.assertEqual(changing, [], "nothing changes before every check passed")
        self.assertEqual(self.state()["ssm"][f"{root}/live"], "d2")

    def test_record_start_previous_skips_an_incomplete_deploy(self):
        params = json.loads((INFRA / "params" / "rehearsal.json").read_text())
        params_path = self.tmp / "params.json"
        params_path.write_text(json.dumps(params))
        root = "/mindful-connect/rehearsal"
        state = self.state()
        state["ssm"] = {
            f"{root}/deploys/d1": json.dumps({"id": "d1", "status": "complete", "previous": ""}),
            f"{root}/deploys/d2": json.dumps({"id": "d2", "status": "started", "previous": "d1"}),
            f"{root}/live": "d2",
        }
        self.write_state(state)
        r = self.helper("record-start", str(params_path), str(self.tmp / "record.json"), "abc123", "arm64")
        self.assertEqual(r.returncode, 0, r.stderr)
        new_id = r.stdout.strip()
        record = json.loads(self.state()["ssm"][f"{root}/deploys/{new_id}"])
        self.assertEqual((record["previous"], record["status"], record["stage"], record["commit"]),
                         ("d1", "started", "rehearsal", "abc123"))
        self.assertEqual(self.state()["ssm"][f"{root}/live"], new_id, "live names the deploy under way")


# Three small test cases in the Testing language, as infra/tests holds them (flow-runner's local
# ARNs and Metadata): one calls a function, one starts with TestInitiated, one is local only.
LOCAL_ARN = "arn:aws:lambda:us-east-1:111122223333:function:mindful-{}"
LOCAL_QUEUE = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/queue/7b3e1f2a-9c4d-4e8f-a1b2-c3d4e5f60718"
TEST_CASES = {
    "offer": {"Version": "2025-06-21",
              "Metadata": {"name": "offer", "flow-runner": {"oldest_contact_age": "185"}, "mindful-sim": {"calls_back": True}},
              "Observations": [
                  {"Identifier": "Wait phrase", "Event": {"Type": "FlowActionStarted", "Actor": "System", "Properties": {
                      "ActionType": "InvokeLambdaFunction", "ActionParameters": {"LambdaFunctionARN": LOCAL_ARN.format("ocw-phrase")}}},
                   "Transitions": {"NextObservations": ["Queued"]}},
                  {"Identifier": "Queued", "Event": {"Type": "FlowActionStarted", "Actor": "System", "Properties": {
                      "ActionType": "TransferContactToQueue", "ActionParameters": {"QueueId": LOCAL_QUEUE}}},
                   "Actions": [{"Identifier": "end", "Type": "EndTest", "Parameters": {"ActionType": "EndTest"}}]}]},
    "started": {"Version": "2025-06-21", "Metadata": {"name": "started"},
                "Observations": [
                    {"Identifier": "Start", "Event": {"Type": "TestInitiated", "Actor": "System", "Properties": {}},
                     "Actions": [{"Identifier": "note", "Type": "LogData", "Parameters": {"ActionType": "LogData", "Message": "hi"}}]}]},
    "fault": {"Version": "2025-06-21",
              "Metadata": {"name": "fault", "flow-runner": {"inject": [{"flow": "InboundToMindfulFlow", "block": "x", "error": "QueueAtCapacity"}]}},
              "Observations": [{"Identifier": "Start", "Event": {"Type": "TestInitiated", "Actor": "System", "Properties": {}}}]},
}


class TestCases(FakeAwsCase):
    """publish-tests and verify (issue 27, item 3) against the fake aws CLI: moto has no Amazon
    Connect test-case APIs (the rehearsal checks the requests themselves)."""

    def setUp(self):
        super().setUp()
        self.params = json.loads((INFRA / "params" / "rehearsal.json").read_text())
        instance = self.params["ConnectInstanceArn"]
        self.test_queue = instance + "/queue/5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
        self.params["TestQueueArn"] = self.test_queue
        self.params_path = self.tmp / "params.json"
        self.params_path.write_text(json.dumps(self.params))
        self.tests = self.tmp / "tests"
        self.tests.mkdir()
        for name, doc in TEST_CASES.items():
            (self.tests / f"{name}.json").write_text(json.dumps(doc))
        state = self.state()
        for fn in lambda_functions():
            state["functions"][f"mindful-rehearsal-{fn}"] = {"alias": "3", "versions": [1, 2, 3]}
        self.write_state(state)

    def publish(self, tests=None):
        return self.helper("publish-tests", str(self.params_path), "flow-1234", str(tests or self.tests))

    def verify(self, *extra):
        return self.helper("verify", str(self.params_path), "--tests", str(self.tests), *extra)

    def published(self):
        return {c["Name"]: c for c in self.state()["test_cases"].values()}

    def test_published_content_has_no_local_metadata_the_stage_arns_and_the_queue_override(self):
        r = self.publish()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        cases = self.published()
        self.assertEqual(sorted(cases), ["mindful-connect-rehearsal-offer", "mindful-connect-rehearsal-started"])
        self.assertIn("fault.json: local only, not published: injects a Connect-side failure", r.stdout)
        offer = cases["mindful-connect-rehearsal-offer"]
        self.assertEqual(offer["Status"], "PUBLISHED")
        self.assertEqual(json.loads(offer["EntryPoint"]),
                         {"Type": "VOICE_CALL", "VoiceCallEntryPointParameters": {"FlowId": "flow-1234"}})
        self.assertEqual(json.loads(offer["Tags"])["mindful:stage"], "rehearsal")
        content = json.loads(offer["Content"])
        self.assertEqual(content["Metadata"], {"name": "offer"}, "flow-runner and mindful-sim stay local")
        self.assertNotIn("111122223333", offer["Content"])
        observations = {o["Identifier"]: o for o in content["Observations"]}
        self.assertEqual(observations["Wait phrase"]["Event"]["Properties"]["ActionParameters"]["LambdaFunctionARN"],
                         "arn:aws:lambda:us-east-1:123456789012:function:mindful-rehearsal-ocw-phrase:live")
        self.assertEqual(observations["Queued"]["Event"]["Properties"]["ActionParameters"]["QueueId"],
                         self.params["InboundQueueArn"])
        # No TestInitiated observation in the file: one is added in front, leading to the first.
        start = content["Observations"][0]
        self.assertEqual(start["Event"]["Type"], "TestInitiated")
        self.assertEqual(start["Transitions"], {"NextObservations": ["Wait phrase"]})
        overridden = {}
        for a in start["Actions"]:
            self.assertEqual(a["Type"], "OverrideSystemBehavior")
            props = a["Parameters"]["Behavior"]["Properties"]
            self.assertEqual(props["ActionType"], "TransferContactToQueue")
            self.assertEqual(props["Strategy"], {"Type": "SubstituteResource", "SubstituteArn": self.test_queue})
            overridden[props["ActionParameters"]["QueueId"]] = overridden.get(props["ActionParameters"]["QueueId"], 0) + 1
        self.assertEqual(overridden, {self.params["InboundQueueArn"]: 2, self.params["CallbackDefaultQueueArn"]: 2})
        # A file that starts with TestInitiated gets the override first, its own actions after.
        started = json.loads(cases["mindful-connect-rehearsal-started"]["Content"])
        self.assertEqual(len(started["Observations"]), 1)
        self.assertEqual([a["Type"] for a in started["Observations"][0]["Actions"]],
                         ["OverrideSystemBehavior"] * 4 + ["LogData"])

    def test_the_projects_test_cases_publish(self):
        """Every file of infra/tests either publishes (nothing of the local account left) or is
        listed as local only."""
        r = self.publish(INFRA / "tests")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        files = sorted(p.stem for p in (INFRA / "tests").glob("*.json"))
        local = [line for line in r.stdout.splitlines() if "local only, not published" in line]
        self.assertEqual(len(self.published()) + len(local), len(files))
        self.assertIn("mindful-connect-rehearsal-connect-offer-accepted", self.published())
        for case in self.published().values():
            self.assertNotIn("111122223333", case["Content"])
            self.assertNotIn('"flow-runner"', case["Content"])

    def test_publish_is_idempotent(self):
        self.assertEqual(self.publish().returncode, 0)
        ids = {c["Name"]: i for i, c in self.state()["test_cases"].items()}
        self.log_path.write_text("")
        r = self.publish()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual({c["Name"]: i for i, c in self.state()["test_cases"].items()}, ids)
        ops = [c[1] for c in self.calls() if c[0] == "connect"]
        self.assertNotIn("create-test-case", ops)
        self.assertEqual(ops.count("update-test-case"), 2)
        self.assertIn("0 created, 2 updated, 1 local only", r.stdout)

    def test_publish_is_refused_without_a_test_queue_or_with_a_live_one(self):
        for queue, message in (("", "TestQueueArn is not set"),
                               (self.params["InboundQueueArn"], "TestQueueArn is InboundQueueArn")):
            self.params["TestQueueArn"] = queue
            self.params_path.write_text(json.dumps(self.params))
            r = self.publish()
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn(message, r.stderr)
        self.assertEqual([c for c in self.calls() if c[0] == "connect"], [], "nothing is published")

    def test_publish_is_refused_without_the_entry_flow(self):
        r = self.helper("publish-tests", str(self.params_path), "None", str(self.tests))  # no stack output
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no FLOW_ID", r.stderr)
        self.assertEqual([c for c in self.calls() if c[0] == "connect"], [], "nothing is published")

    def test_verify_runs_at_most_five_at_once_and_passes(self):
        for i in range(7):
            doc = dict(TEST_CASES["started"], Metadata={"name": f"t{i}"})
            (self.tests / f"t{i}.json").write_text(json.dumps(doc))
        self.assertEqual(self.publish().returncode, 0)
        state = self.state()
        state["plan"] = {c["Name"]: {"status": "PASSED", "polls": 2} for c in state["test_cases"].values()}
        self.write_state(state)
        r = self.verify()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.state()["max_running"], 5, "5 at once, never more")
        self.assertEqual(len(self.state()["executions"]), 9)
        lines = [line for line in r.stdout.splitlines() if line.startswith("verify: PASSED")]
        self.assertEqual(len(lines), 9)
        self.assertIn("verify: SKIPPED  mindful-connect-rehearsal-fault: local only", r.stdout)
        self.assertIn("9 of 9 test cases passed", r.stdout)

    def test_verify_reports_failures_timeouts_and_missing_tests_and_fails(self):
        self.assertEqual(self.publish().returncode, 0)
        (self.tests / "new.json").write_text(json.dumps(TEST_CASES["started"]))  # not published
        state = self.state()
        state["plan"] = {
            "mindful-connect-rehearsal-offer": {"status": "FAILED", "polls": 1, "records": [
                {"ObservationId": "Queued", "Status": "FAILED", "Record": "{\"reason\": \"not observed\"}"},
                {"ObservationId": "Wait phrase", "Status": "PASSED", "Record": "{}"}]},
            "mindful-connect-rehearsal-started": {"status": "PASSED", "polls": 10 ** 9},
        }
        self.write_state(state)
        r = self.verify("--timeout", "1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("verify: FAILED   mindful-connect-rehearsal-offer: 1/3 observations passed", r.stdout)
        self.assertIn('FAILED Queued: {"reason": "not observed"}', r.stdout)
        self.assertNotIn("FAILED Wait phrase", r.stdout)
        self.assertIn("verify: TIMEOUT  mindful-connect-rehearsal-started: still IN_PROGRESS after 1 s", r.stdout)
        self.assertIn("verify: MISSING  mindful-connect-rehearsal-new: not published", r.stdout)
        self.assertIn("0 of 3 test cases passed", r.stdout)
        stopped = [c for c in self.calls() if c[:2] == ["connect", "stop-test-case-execution"]]
        self.assertEqual(len(stopped), 1, "the timed-out execution is stopped")

    def test_verify_waits_for_slots_others_hold_then_gives_up(self):
        """Executions the helper did not start (the console, another stage) hold the instance's
        5 slots: StartTestCaseExecution is refused, verify retries until its deadline and reports
        the tests as never started."""
        self.assertEqual(self.publish().returncode, 0)
        state = self.state()
        state["executions"] = {f"other-{i}": {"test": "elsewhere", "polls": 0, "done": False} for i in range(5)}
        self.write_state(state)
        r = self.verify("--timeout", "0.5")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("verify: TIMEOUT  mindful-connect-rehearsal-offer: never started", r.stdout)
        self.assertIn("verify: TIMEOUT  mindful-connect-rehearsal-started: never started", r.stdout)
        refused = [c for c in self.calls() if c[:2] == ["connect", "start-test-case-execution"]]
        self.assertGreater(len(refused), 1, "retried")


if __name__ == "__main__":
    unittest.main()
