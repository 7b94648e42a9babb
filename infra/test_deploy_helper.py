#!/usr/bin/env python3
"""Unit tests of infra/deploy_helper.py (stdlib only; run by .ci/infra-checks.sh):

* check-artifact refuses a bootstrap whose ELF e_machine is not the function's architecture,
  whatever the file is called, and accepts the right one;
* check-params refuses the example placeholders, ARNs of another Region, secret sources
  without the extension layer, and two sources for one secret;
* rollback, number-associate and number-restore against a fake `aws` CLI (moto has no Amazon
  Connect phone numbers): the deploy records the flow a number had, the undo restores it.

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
    opts = {rest[i]: rest[i + 1] for i in range(0, len(rest) - 1, 2) if rest[i].startswith("--")}
    out = None
    if (service, op) == ("connect", "describe-phone-number"):
        n = state["numbers"][opts["--phone-number-id"]]
        out = {"ClaimedPhoneNumberSummary": {"PhoneNumberId": opts["--phone-number-id"],
               "PhoneNumberArn": n["arn"], "Tags": n["tags"]}}
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
        out = {"FunctionVersion": f["alias"]}
    elif (service, op) == ("lambda", "list-versions-by-function"):
        out = {"Versions": [{"Version": "$LATEST"}] + [{"Version": str(v)} for v in state["functions"][opts["--function-name"]]["versions"]]}
    elif (service, op) == ("lambda", "update-alias"):
        state["functions"][opts["--function-name"]]["alias"] = opts["--function-version"]
    else:
        sys.stderr.write(f"fake aws: unexpected call {args}\\n"); sys.exit(2)
    json.dump(state, open(state_path, "w"))
    if out is not None:
        print(json.dumps(out))
''')


class FakeAws(unittest.TestCase):
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
                    "FAKE_AWS_STATE": str(self.state_path), "FAKE_AWS_LOG": str(self.log_path)}
        arn = f"arn:aws:connect:us-east-1:123456789012:phone-number/{{}}"
        self.write_state({
            "numbers": {
                "main": {"arn": arn.format("main"), "flow": "old-inbound-flow", "tags": {}},
                "spare": {"arn": arn.format("spare"), "flow": None, "tags": {}},
            },
            "functions": {
                "f-ocw": {"versions": [1, 2, 3], "alias": "3"},
                "f-ds": {"versions": [1, 2, 3], "alias": "3"},
                "f-new": {"versions": [1], "alias": "1"},
            },
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

    def test_rollback_moves_every_alias_one_version_back(self):
        r = self.helper("rollback", "live", "f-ocw", "f-ds")
        self.assertEqual(r.returncode, 0, r.stderr)
        fns = self.state()["functions"]
        self.assertEqual((fns["f-ocw"]["alias"], fns["f-ds"]["alias"]), ("2", "2"))
        r = self.helper("rollback", "live", "f-ocw", "f-ds", "--to-version", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.state()["functions"]["f-ocw"]["alias"], "1")

    def test_rollback_moves_nothing_when_one_function_cannot_go_back(self):
        r = self.helper("rollback", "live", "f-ocw", "f-new")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no older version", r.stderr)
        self.assertEqual(self.state()["functions"]["f-ocw"]["alias"], "3", "all checked before any move")


if __name__ == "__main__":
    unittest.main()
