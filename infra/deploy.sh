#!/usr/bin/env bash
# Deploy, roll back or remove one stage of the Mindful callback bundle (docs/deploy.md).
#
#   infra/deploy.sh [deploy] --params FILE [options]
#       0. checks that change nothing: the params (offline), the bootstraps' ELF machine, then
#          read-only calls (pre-flight): same account, secrets/parameter/layer exist, queues and
#          phone numbers of the instance, no stack or function of another stage or instance
#       1. a deploy record (SSM /mindful-connect/<stage>/deploys/<id>) and live -> it
#       2. base stack (infra/base.yaml): execution role, log groups, the functions' environment;
#          operations stack (infra/operations.yaml): alarms, dashboard, saved queries
#       3. per function: upload exactly the checked zip (CodeSha256 verified), publish a version
#          only if code or configuration changed; then alias `live` of the three, in one pass
#       4. connect stack (infra/template.yaml): permissions, integration associations and flows,
#          all on the `live` alias ARNs
#       5. phone numbers -> flows (CloudFormation cannot do this); the flow each number had
#          before the first deploy is recorded on the number (tag mindful:previous-flow-id)
#       6. the record completed: versions, stack templates and parameters, commit, zip hashes
#       7. the test cases infra/tests/*.json published on the instance (Amazon Connect test
#          cases mindful-connect-<stage>-<file>, entering at the main number's flow, the live
#          queues replaced by the params' TestQueueArn so no test contact reaches a live agent);
#          not with --skip-connect or --skip-tests
#   infra/deploy.sh verify --params FILE [--timeout SECONDS]
#       run the stage's published test cases on the instance (at most 5 at once, each until done
#       or SECONDS, 360 by default) and print one line per test with the failed observations;
#       exit 1 when a test did not pass (CI: the staging deploy job fails)
#   infra/deploy.sh rollback --params FILE [--to DEPLOY_ID] [--restore-numbers]
#       back to the deploy before the live one (or DEPLOY_ID): the stacks' recorded templates and
#       parameters and each function's recorded version; --restore-numbers also gives both phone
#       numbers back their recorded pre-bundle flows
#   infra/deploy.sh history --params FILE      the stage's deploy records (* = live)
#   infra/deploy.sh teardown --params FILE --yes
#       restore the phone numbers' recorded flows, delete the connect stack, the three
#       functions (with their versions and aliases), the operations and base stacks, the records
#
# Names come from the params file's "Stage": stacks mindful-connect-<stage>-{base,operations,
# connect}, functions mindful-<stage>-<function>, records /mindful-connect/<stage>/.
# Options:
#   --params FILE         infra/params/<stage>.json (paths may be relative to where you run this)
#   --architecture ARCH   arm64 (default, what the functions run on) or x86_64
#   --artifacts DIR       deploy DIR/<function>/bootstrap.zip instead of building (CI builds them
#                         in another job); alias --lambda-dir, with --skip-build for compatibility
#   --skip-connect        stop after the functions (no Connect stack, no phone numbers, no tests)
#   --skip-tests          do not publish the test cases (no TestQueueArn needed)
#   --timeout SECONDS     verify: how long one test case may run (default 360)
#   --dry-run             the checks and pre-flight, print the plan and the parameters, change nothing
# Needs: bash, aws CLI, python3, git, and for a build cargo + cargo-lambda (>= 1.9.2).
# AWS_DEFAULT_REGION (or AWS_REGION) must be set: every ARN in the params file is checked against
# it. Credentials come from the usual AWS environment (AWS_PROFILE, or OIDC in CI).
set -euo pipefail

CALLER_PWD="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$CALLER_PWD/$1" ;; esac; }
HELPER="python3 $ROOT/infra/deploy_helper.py"
mapfile -t FUNCTIONS < <($HELPER functions)   # CargoLambda.toml [build] bin
ALIAS=live
BUILD_DIR="$ROOT/target/deploy-build"

COMMAND=deploy
case "${1:-}" in deploy|rollback|teardown|history|verify) COMMAND="$1"; shift ;; esac
PARAMS="" ARTIFACTS="" SKIP_CONNECT=0 SKIP_TESTS=0 TIMEOUT="" DRY=0 ARCH=arm64
TO="" RESTORE_NUMBERS=0 YES=0 SKIP_BUILD=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --params) PARAMS="$(abspath "$2")"; shift 2 ;;
    --stack-prefix)
      echo "deploy.sh: --stack-prefix is gone: the stack names come from the params file's \"Stage\"" >&2; exit 2 ;;
    --architecture) ARCH="$2"; shift 2 ;;
    --artifacts|--lambda-dir) ARTIFACTS="$(abspath "$2")"; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --skip-connect) SKIP_CONNECT=1; shift ;;
    --skip-tests) SKIP_TESTS=1; shift ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --to) TO="$2"; shift 2 ;;
    --to-version)
      echo "deploy.sh: --to-version is gone (one number cannot name three functions' versions): rollback --to DEPLOY_ID (deploy.sh history lists them)" >&2; exit 2 ;;
    --restore-numbers) RESTORE_NUMBERS=1; shift ;;
    --yes) YES=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {print}' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$PARAMS" && -f "$PARAMS" ]] || { echo "deploy.sh: --params FILE is required (copy infra/params/example.json)" >&2; exit 2; }
[[ "$ARCH" == arm64 || "$ARCH" == x86_64 ]] || { echo "deploy.sh: --architecture must be arm64 or x86_64" >&2; exit 2; }
if [[ $SKIP_BUILD == 1 && -z "$ARTIFACTS" ]]; then
  echo "deploy.sh: --skip-build needs --artifacts DIR (the folder holding <function>/bootstrap.zip)" >&2; exit 2
fi
# The AWS CLI v1 reads only AWS_DEFAULT_REGION (v2 reads both): set both from either.
REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-}}"
[[ -n "$REGION" ]] || { echo "deploy.sh: set AWS_DEFAULT_REGION (the Region of the Connect instance; every ARN is checked against it)" >&2; exit 2; }
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"
# STAGE INSTANCE_ID BASE_STACK OPERATIONS_STACK CONNECT_STACK RECORDS FUNCTION_PREFIX
STAGE_NAMES="$($HELPER names "$PARAMS")" || exit 2   # the helper says what is wrong with Stage
eval "$STAGE_NAMES"

log() { printf '\n==> %s\n' "$*"; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

stack_status() {
  aws cloudformation describe-stacks --stack-name "$1" --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE
}
stack_output() {  # stack key
  aws cloudformation describe-stacks --stack-name "$1" --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}
param() { $HELPER get "$PARAMS" "$1"; }
NAMES=(); for f in "${FUNCTIONS[@]}"; do NAMES+=("$FUNCTION_PREFIX$f"); done
restore_numbers() {
  local key
  for key in MainPhoneNumberId CallbackReturnPhoneNumberId; do
    local number; number="$(param "$key")"
    if [[ -z "$number" ]]; then echo "$key not set: nothing to restore"; continue; fi
    $HELPER number-restore "$INSTANCE_ID" "$number"
  done
}
delete_stack() {
  [[ "$(stack_status "$1")" == NONE ]] && { echo "$1: not there"; return; }
  aws cloudformation delete-stack --stack-name "$1"
  aws cloudformation wait stack-delete-complete --stack-name "$1"
  echo "deleted $1"
}

# --- history, verify, rollback ---------------------------------------------------------------
if [[ $COMMAND == history ]]; then
  $HELPER history "$PARAMS"; exit 0
fi
if [[ $COMMAND == verify ]]; then
  # docs/deploy.md, "Post-deploy verification".
  log "verify: the test cases of stage $STAGE on instance $INSTANCE_ID (at most 5 at once)"
  exec $HELPER verify "$PARAMS" ${TIMEOUT:+--timeout "$TIMEOUT"}
fi
if [[ $COMMAND == rollback ]]; then
  log "rollback: stage $STAGE (stacks and alias $ALIAS of ${NAMES[*]}) to ${TO:-the deploy before the live one}"
  $HELPER rollback "$PARAMS" ${TO:+--to "$TO"}
  if [[ $RESTORE_NUMBERS == 1 ]]; then
    log "rollback: phone numbers back to their recorded flows"
    restore_numbers
  fi
  exit 0
fi

# --- teardown ------------------------------------------------------------------------------------
if [[ $COMMAND == teardown ]]; then
  if [[ $YES != 1 ]]; then
    echo "deploy.sh teardown deletes, in $REGION: the stacks $CONNECT_STACK, $OPERATIONS_STACK and $BASE_STACK; the functions ${NAMES[*]} (every version); the deploy records under $RECORDS; rerun with --yes" >&2
    exit 2
  fi
  $HELPER check-owner "$PARAMS"
  if [[ "$(stack_status "$CONNECT_STACK")" != NONE ]]; then
    log "teardown: phone numbers back to their recorded flows, then $CONNECT_STACK"
    restore_numbers
    delete_stack "$CONNECT_STACK"
  fi
  log "teardown: functions (every version and alias goes with them)"
  for name in "${NAMES[@]}"; do
    if aws lambda get-function --function-name "$name" >/dev/null 2>&1; then
      aws lambda delete-function --function-name "$name"; echo "deleted $name"
    else
      echo "$name: not there"
    fi
  done
  log "teardown: $OPERATIONS_STACK (alarms, dashboard, saved queries), $BASE_STACK (role, log groups)"
  delete_stack "$OPERATIONS_STACK"
  delete_stack "$BASE_STACK"
  log "teardown: deploy records"
  $HELPER teardown-records "$PARAMS"
  rm -f "$ROOT"/infra/env/*.env
  log "teardown done"
  exit 0
fi

# --- deploy: checks before touching anything -----------------------------------------------------
$HELPER check-params "$PARAMS" infra/base.yaml infra/operations.yaml infra/template.yaml
python3 infra/render.py --check
PUBLISH_TESTS=0 RECORD_COMPLETE=0
if [[ $SKIP_CONNECT == 0 && $SKIP_TESTS == 0 ]]; then
  PUBLISH_TESTS=1
  if [[ -z "$(param TestQueueArn)" ]]; then
    echo "deploy.sh: TestQueueArn is not set: the test cases (infra/tests) are published only with a test queue" \
      "that replaces the live queues, so a test contact never reaches a live agent; set it to a queue no agent" \
      "serves, or deploy with --skip-tests (docs/deploy.md, Post-deploy verification)" >&2
    exit 2
  fi
fi

if [[ $DRY == 0 ]]; then
  # --- artifacts (before any AWS call) ---------------------------------------------------------
  if [[ -z "$ARTIFACTS" ]]; then
    log "cargo lambda build ($ARCH, release, zip) into a clean $BUILD_DIR"
    rm -rf "$BUILD_DIR"
    arch_flag=(--arm64); [[ $ARCH == x86_64 ]] && arch_flag=(--x86-64)
    compiler=()
    [[ "$(uname -m)" == "$([[ $ARCH == arm64 ]] && echo aarch64 || echo x86_64)" && -z "${CARGO_LAMBDA_COMPILER:-}" ]] \
      && compiler=(--compiler cargo)
    # No --bin: CargoLambda.toml's [build] bin names the three functions.
    cargo lambda build --release "${arch_flag[@]}" --output-format zip --lambda-dir "$BUILD_DIR" \
      ${compiler[@]+"${compiler[@]}"}
    ARTIFACTS="$BUILD_DIR"
  fi
  log "check the bootstraps in $ARTIFACTS are $ARCH ELF executables"
  STAGE_DIR="$TMP/stage"
  for bin in "${FUNCTIONS[@]}"; do
    [[ -f "$ARTIFACTS/$bin/bootstrap.zip" ]] || { echo "deploy.sh: $ARTIFACTS/$bin/bootstrap.zip is missing" >&2; exit 1; }
    $HELPER check-artifact "$ARTIFACTS/$bin/bootstrap.zip" "$ARCH" "$STAGE_DIR/$bin"
  done
fi

log "pre-flight (read-only): account, secrets, layer, Connect, owners of the names of stage $STAGE"
$HELPER preflight "$PARAMS" "--architecture=$ARCH" $([[ $SKIP_CONNECT == 1 ]] && echo --skip-connect)

# Create or update a stack and wait for it; a failure prints the failed resources' reasons.
deploy_stack() {  # kind stack template [Key=Value overrides]
  local kind="$1" stack="$2" template="$3"; shift 3
  $HELPER cfn-params "$template" "$PARAMS" "$@" > "$TMP/$stack.params.json"
  if [[ $DRY == 1 ]]; then
    echo "would deploy $stack from $template with:"; python3 -m json.tool "$TMP/$stack.params.json"; return
  fi
  $HELPER record-stack "$TMP/record.json" "$kind" "$stack" "$template" "$TMP/$stack.params.json"
  $HELPER stack-deploy "$stack" "$template" "$TMP/$stack.params.json" "$STAGE" "$INSTANCE_ID"
}

if [[ $DRY == 1 ]]; then
  log "dry run: stage $STAGE, instance $INSTANCE_ID"
  deploy_stack base "$BASE_STACK" infra/base.yaml
  deploy_stack operations "$OPERATIONS_STACK" infra/operations.yaml
  echo "would then build (or take ${ARTIFACTS:-a fresh build}), check each bootstrap is $ARCH, and"
  echo "upload ${NAMES[*]}, publish a version of each that changed and move alias $ALIAS"
  deploy_stack connect "$CONNECT_STACK" infra/template.yaml \
    "OcwPhraseFunctionArn=<ocw-phrase ARN>:$ALIAS" \
    "DatastoreProxyFunctionArn=<datastore-proxy ARN>:$ALIAS" \
    "AgentAnswerFunctionArn=<agent-answer ARN>:$ALIAS"
  echo "and associate MainPhoneNumberId='$(param MainPhoneNumberId)'," \
    "CallbackReturnPhoneNumberId='$(param CallbackReturnPhoneNumberId)'"
  [[ $PUBLISH_TESTS == 1 ]] && echo "and publish the test cases of infra/tests (live queues -> TestQueueArn" \
    "'$(param TestQueueArn)'); run them with: infra/deploy.sh verify --params $PARAMS"
  exit 0
fi

# --- 1. the deploy record ----------------------------------------------------------------------
COMMIT="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
[[ -n "$(git -C "$ROOT" status --porcelain -- infra CargoLambda.toml 2>/dev/null)" ]] && COMMIT="$COMMIT-dirty"
DEPLOY_ID="$($HELPER record-start "$PARAMS" "$TMP/record.json" "$COMMIT" "$ARCH")"
log "1/6 deploy $DEPLOY_ID of stage $STAGE (commit $COMMIT), recorded under $RECORDS/deploys/"
on_failure() {
  if [[ $RECORD_COMPLETE == 1 ]]; then
    echo "deploy.sh: deploy $DEPLOY_ID of stage $STAGE is complete, but publishing the test cases failed" \
      "(rerun the deploy, or deploy with --skip-tests)" >&2
    return
  fi
  echo "deploy.sh: deploy $DEPLOY_ID of stage $STAGE FAILED (its record stays incomplete, never a rollback target)." >&2
  echo "  rerun the same deploy (it converges), or go back to the last complete set: infra/deploy.sh rollback --params $PARAMS" >&2
}
trap 'rc=$?; [[ $rc != 0 ]] && on_failure; rm -rf "$TMP"; exit $rc' EXIT

# --- 2. base and operations stacks -------------------------------------------------------------
log "2/6 base stack $BASE_STACK (role, log groups, configuration)"
deploy_stack base "$BASE_STACK" infra/base.yaml
# infra/operations.yaml, deployed with the base stack; what each alarm means: docs/operations.md.
log "2/6 operations stack $OPERATIONS_STACK (alarms, dashboard, saved queries: docs/operations.md)"
deploy_stack operations "$OPERATIONS_STACK" infra/operations.yaml
aws cloudformation describe-stacks --stack-name "$BASE_STACK" --query 'Stacks[0].Outputs' --output json > "$TMP/base-outputs.json"
$HELPER envfiles "$TMP/base-outputs.json" infra/env
output() { python3 -c 'import json, sys; print({o["OutputKey"]: o["OutputValue"] for o in json.load(open(sys.argv[1]))}.get(sys.argv[2], ""))' "$TMP/base-outputs.json" "$1"; }
ROLE_ARN="$(output LambdaRoleArn)"
LAYER_ARN="$(output ParametersSecretsExtensionLayerArn)"

# --- 3. functions, versions, alias -------------------------------------------------------------
# The AWS CLI, not `cargo lambda deploy`: cargo lambda zips the binary again (the CodeSha256
# would not be the checked zip's) and publishes a version on every call (docs/deploy.md).
log "3/6 functions: the checked zips (role $ROLE_ARN${LAYER_ARN:+, layer $LAYER_ARN}), versions, alias $ALIAS"
: > "$TMP/functions.jsonl"
for i in "${!FUNCTIONS[@]}"; do
  bin="${FUNCTIONS[$i]}" name="${NAMES[$i]}"
  # The extension layer only where a secret is read (its process costs memory and init time).
  layer=""; [[ -n "$LAYER_ARN" ]] && grep -qE '_(SECRET_ARN|PARAMETER)=' "infra/env/$bin.env" && layer="$LAYER_ARN"
  $HELPER function-deploy "$name" "$STAGE_DIR/$bin/bootstrap.zip" "infra/env/$bin.env" "$ROLE_ARN" "$ARCH" \
    "$layer" "$DEPLOY_ID" "$COMMIT" "$STAGE" "$INSTANCE_ID" >> "$TMP/functions.jsonl"
done
$HELPER aliases-move "$ALIAS" "$TMP/functions.jsonl"

if [[ $SKIP_CONNECT == 0 ]]; then
  # --- 4. connect stack ------------------------------------------------------------------------
  alias_arn() { aws lambda get-alias --function-name "$1" --name "$ALIAS" --query AliasArn --output text; }
  log "4/6 connect stack $CONNECT_STACK (permissions, integration associations, flows on alias $ALIAS)"
  deploy_stack connect "$CONNECT_STACK" infra/template.yaml \
    "OcwPhraseFunctionArn=$(alias_arn "${FUNCTION_PREFIX}ocw-phrase")" \
    "DatastoreProxyFunctionArn=$(alias_arn "${FUNCTION_PREFIX}datastore-proxy")" \
    "AgentAnswerFunctionArn=$(alias_arn "${FUNCTION_PREFIX}agent-answer")"

  # --- 5. phone numbers ------------------------------------------------------------------------
  log "5/6 phone numbers"
  associate() {  # params-key flow-output-key
    local number_id flow_id
    number_id="$(param "$1")"
    flow_id="$(stack_output "$CONNECT_STACK" "$2")"
    if [[ -z "$number_id" ]]; then
      echo "$1 not set: associate it yourself (infra/README.md): aws connect associate-phone-number-contact-flow --instance-id $INSTANCE_ID --contact-flow-id $flow_id --phone-number-id <id>"
      return
    fi
    $HELPER number-associate "$INSTANCE_ID" "$number_id" "$flow_id"
  }
  associate MainPhoneNumberId NormalInboundFlowId
  associate CallbackReturnPhoneNumberId CallbackReturnFlowId
else
  log "4-5/6 skipped (--skip-connect: no Connect stack, no phone numbers)"
fi

# --- 6. the record, complete ---------------------------------------------------------------------
log "6/6 record"
$HELPER record-finish "$PARAMS" "$TMP/record.json" "$TMP/functions.jsonl"
RECORD_COMPLETE=1

# --- 7. the test cases (after the record: they are not part of what a rollback restores) -------
if [[ $PUBLISH_TESTS == 1 ]]; then
  log "tests: the test cases of infra/tests on instance $INSTANCE_ID (live queues -> TestQueueArn)"
  $HELPER publish-tests "$PARAMS" "$(stack_output "$CONNECT_STACK" NormalInboundFlowId)" infra/tests
fi
log "done: stage $STAGE runs deploy $DEPLOY_ID; undo with infra/deploy.sh rollback --params $PARAMS"
[[ $PUBLISH_TESTS == 1 ]] && echo "run the test cases on the instance: infra/deploy.sh verify --params $PARAMS"
exit 0
