#!/usr/bin/env bash
# Deploy, roll back or remove the Mindful callback bundle.
#
#   infra/deploy.sh [deploy] --params FILE [options]
#       1. build the three functions into a clean folder (or take --artifacts DIR), and refuse any
#          bootstrap whose ELF machine is not the functions' architecture (before touching AWS)
#       2. base stack (infra/base.yaml): execution role, log groups, the functions' environment;
#          operations stack (infra/operations.yaml): alarms, dashboard, saved queries
#       3. cargo lambda deploy of exactly the checked bootstraps, then per function: publish a
#          version and point the alias `live` at it (Connect invokes the alias, never $LATEST)
#       4. connect stack (infra/template.yaml): permissions, integration associations and flows,
#          all on the `live` alias ARNs
#       5. phone numbers -> flows (CloudFormation cannot do this); the flow each number had
#          before the first deploy is recorded on the number (tag mindful:previous-flow-id)
#   infra/deploy.sh rollback --params FILE [--to-version N] [--restore-numbers]
#       move `live` of the three functions back to the previous published version (or N);
#       --restore-numbers also gives both phone numbers back their recorded pre-bundle flows
#   infra/deploy.sh teardown --params FILE --yes
#       restore the phone numbers' recorded flows, delete the connect stack, the three
#       functions (with their versions and aliases), the operations stack and the base stack
#
# Options:
#   --params FILE         infra/params/<stage>.json (paths may be relative to where you run this)
#   --stack-prefix NAME   stacks NAME-base and NAME-connect (default: mindful-connect)
#   --architecture ARCH   arm64 (default, what the functions run on) or x86_64
#   --artifacts DIR       deploy DIR/<function>/bootstrap.zip instead of building (CI builds them
#                         in another job); alias --lambda-dir, with --skip-build for compatibility
#   --skip-connect        stop after the functions (no Connect stack, no phone numbers)
#   --dry-run             check the parameters, print the plan and the parameters, change nothing
# Needs: bash, aws CLI, python3, cargo + cargo-lambda (>= 1.9.2). AWS_REGION (or
# AWS_DEFAULT_REGION) must be set: every ARN in the params file is checked against it.
# Credentials come from the usual AWS environment (AWS_PROFILE, or OIDC in CI). AWS_ENDPOINT_URL,
# when set, is passed to cargo lambda too (the offline rehearsal in .ci/infra-checks.sh uses it).
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
case "${1:-}" in deploy|rollback|teardown) COMMAND="$1"; shift ;; esac
PARAMS="" STACK_PREFIX="mindful-connect" ARTIFACTS="" SKIP_CONNECT=0 DRY=0 ARCH=arm64
TO_VERSION="" RESTORE_NUMBERS=0 YES=0 SKIP_BUILD=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --params) PARAMS="$(abspath "$2")"; shift 2 ;;
    --stack-prefix) STACK_PREFIX="$2"; shift 2 ;;
    --architecture) ARCH="$2"; shift 2 ;;
    --artifacts|--lambda-dir) ARTIFACTS="$(abspath "$2")"; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --skip-connect) SKIP_CONNECT=1; shift ;;
    --dry-run) DRY=1; shift ;;
    --to-version) TO_VERSION="$2"; shift 2 ;;
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
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
[[ -n "$REGION" ]] || { echo "deploy.sh: set AWS_REGION (the Region of the Connect instance; every ARN is checked against it)" >&2; exit 2; }
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"
BASE_STACK="${STACK_PREFIX}-base"
CONNECT_STACK="${STACK_PREFIX}-connect"
CL_REMOTE=(--region "$REGION")
[[ -n "${AWS_ENDPOINT_URL:-}" ]] && CL_REMOTE+=(--endpoint-url "$AWS_ENDPOINT_URL")

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
function_names() {  # the deployed names: <FunctionNamePrefix><function>
  local prefix; prefix="$($HELPER get "$PARAMS" FunctionNamePrefix mindful-)"  # base.yaml's default
  for f in "${FUNCTIONS[@]}"; do echo "$prefix$f"; done
}
instance_id() { param ConnectInstanceArn | awk -F/ '{print $2}'; }
restore_numbers() {
  local id key
  id="$(instance_id)"
  for key in MainPhoneNumberId CallbackReturnPhoneNumberId; do
    local number; number="$(param "$key")"
    if [[ -z "$number" ]]; then echo "$key not set: nothing to restore"; continue; fi
    $HELPER number-restore "$id" "$number"
  done
}

# --- rollback ------------------------------------------------------------------------------------
if [[ $COMMAND == rollback ]]; then
  mapfile -t names < <(function_names)
  log "rollback: alias $ALIAS of ${names[*]}"
  $HELPER rollback "$ALIAS" "${names[@]}" ${TO_VERSION:+--to-version "$TO_VERSION"}
  if [[ $RESTORE_NUMBERS == 1 ]]; then
    log "rollback: phone numbers back to their recorded flows"
    restore_numbers
  fi
  exit 0
fi

# --- teardown ------------------------------------------------------------------------------------
if [[ $COMMAND == teardown ]]; then
  mapfile -t names < <(function_names)
  if [[ $YES != 1 ]]; then
    echo "deploy.sh teardown deletes $CONNECT_STACK, ${names[*]} and $BASE_STACK in $REGION; rerun with --yes" >&2
    exit 2
  fi
  if [[ "$(stack_status "$CONNECT_STACK")" != NONE ]]; then
    log "teardown: phone numbers back to their recorded flows, then $CONNECT_STACK"
    restore_numbers
    aws cloudformation delete-stack --stack-name "$CONNECT_STACK"
    aws cloudformation wait stack-delete-complete --stack-name "$CONNECT_STACK"
  fi
  log "teardown: functions (every version and alias goes with them)"
  for name in "${names[@]}"; do
    if aws lambda get-function --function-name "$name" >/dev/null 2>&1; then
      aws lambda delete-function --function-name "$name"; echo "deleted $name"
    else
      echo "$name: not there"
    fi
  done
  if [[ "$(stack_status "${STACK_PREFIX}-operations")" != NONE ]]; then
    log "teardown: ${STACK_PREFIX}-operations (alarms, dashboard, saved queries)"
    aws cloudformation delete-stack --stack-name "${STACK_PREFIX}-operations"
    aws cloudformation wait stack-delete-complete --stack-name "${STACK_PREFIX}-operations"
  fi
  if [[ "$(stack_status "$BASE_STACK")" != NONE ]]; then
    log "teardown: $BASE_STACK (role, log groups)"
    aws cloudformation delete-stack --stack-name "$BASE_STACK"
    aws cloudformation wait stack-delete-complete --stack-name "$BASE_STACK"
  fi
  rm -f "$ROOT"/infra/env/*.env
  log "teardown done"
  exit 0
fi

# --- deploy: checks before touching anything -----------------------------------------------------
$HELPER check-params "$PARAMS" infra/base.yaml infra/operations.yaml infra/template.yaml
python3 infra/render.py --check

# Create or update a stack and wait for it (works the same on AWS and on the moto rehearsal).
deploy_stack() {
  local stack="$1" template="$2"; shift 2
  $HELPER cfn-params "$template" "$PARAMS" "$@" > "$TMP/$stack.params.json"
  if [[ $DRY == 1 ]]; then
    echo "would deploy $stack from $template with:"; python3 -m json.tool "$TMP/$stack.params.json"; return
  fi
  local status; status="$(stack_status "$stack")"
  case "$status" in
    NONE)
      aws cloudformation create-stack --stack-name "$stack" --template-body "file://$template" \
        --parameters "file://$TMP/$stack.params.json" --capabilities CAPABILITY_IAM \
        --tags Key=app,Value=mindful-connect-callbacks >/dev/null
      aws cloudformation wait stack-create-complete --stack-name "$stack" ;;
    ROLLBACK_COMPLETE|REVIEW_IN_PROGRESS)
      echo "deploy.sh: stack $stack is $status; delete it (aws cloudformation delete-stack --stack-name $stack) and rerun" >&2
      exit 1 ;;
    *)
      local out
      if ! out="$(aws cloudformation update-stack --stack-name "$stack" --template-body "file://$template" \
          --parameters "file://$TMP/$stack.params.json" --capabilities CAPABILITY_IAM \
          --tags Key=app,Value=mindful-connect-callbacks 2>&1)"; then
        if grep -q "No updates are to be performed" <<<"$out"; then echo "$stack: no changes"; return; fi
        echo "$out" >&2; exit 1
      fi
      aws cloudformation wait stack-update-complete --stack-name "$stack" ;;
  esac
  echo "$stack: $(stack_status "$stack")"
}

OPS_STACK="${STACK_PREFIX}-operations"
if [[ $DRY == 1 ]]; then
  log "dry run: base stack $BASE_STACK"
  deploy_stack "$BASE_STACK" infra/base.yaml
  deploy_stack "$OPS_STACK" infra/operations.yaml
  echo "would then build (or take ${ARTIFACTS:-a fresh build}), check each bootstrap is $ARCH, and"
  echo "cargo lambda deploy $(function_names | tr '\n' ' ')then publish a version each and move alias $ALIAS"
  deploy_stack "$CONNECT_STACK" infra/template.yaml \
    "OcwPhraseFunctionArn=<ocw-phrase ARN>:$ALIAS" \
    "DatastoreProxyFunctionArn=<datastore-proxy ARN>:$ALIAS" \
    "AgentAnswerFunctionArn=<agent-answer ARN>:$ALIAS"
  echo "and associate MainPhoneNumberId='$(param MainPhoneNumberId)'," \
    "CallbackReturnPhoneNumberId='$(param CallbackReturnPhoneNumberId)'"
  exit 0
fi

# --- 1. artifacts ------------------------------------------------------------------------------
if [[ -z "$ARTIFACTS" ]]; then
  log "1/5 cargo lambda build ($ARCH, release, zip) into a clean $BUILD_DIR"
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
log "1/5 check the bootstraps in $ARTIFACTS are $ARCH ELF executables"
STAGE="$TMP/stage"
for bin in "${FUNCTIONS[@]}"; do
  [[ -f "$ARTIFACTS/$bin/bootstrap.zip" ]] || { echo "deploy.sh: $ARTIFACTS/$bin/bootstrap.zip is missing" >&2; exit 1; }
  $HELPER check-artifact "$ARTIFACTS/$bin/bootstrap.zip" "$ARCH" "$STAGE/$bin"
done
mapfile -t NAMES < <(function_names)
for name in "${NAMES[@]}"; do  # an existing function keeps its architecture
  existing="$(aws lambda get-function-configuration --function-name "$name" --query 'Architectures[0]' --output text 2>/dev/null || true)"
  if [[ -n "$existing" && "$existing" != "$ARCH" ]]; then
    echo "deploy.sh: REFUSED: $name runs on $existing, the artifacts are $ARCH" >&2; exit 1
  fi
done

# --- 2. base stack -----------------------------------------------------------------------------
log "2/5 base stack $BASE_STACK (role, log groups, configuration)"
deploy_stack "$BASE_STACK" infra/base.yaml
# --- operations stack (issue 18): alarms, SNS topic, dashboard, saved queries ----------------
# infra/operations.yaml, deployed with the base stack; what each alarm means: docs/operations.md.
log "2/5 operations stack $OPS_STACK (alarms, dashboard, saved queries: docs/operations.md)"
deploy_stack "$OPS_STACK" infra/operations.yaml
# --- end operations stack --------------------------------------------------------------------
aws cloudformation describe-stacks --stack-name "$BASE_STACK" --query 'Stacks[0].Outputs' --output json > "$TMP/base-outputs.json"
$HELPER envfiles "$TMP/base-outputs.json" infra/env
ROLE_ARN="$(stack_output "$BASE_STACK" LambdaRoleArn)"
LAYER_ARN="$(stack_output "$BASE_STACK" ParametersSecretsExtensionLayerArn)"
[[ "$LAYER_ARN" == "None" ]] && LAYER_ARN=""

# --- 3. functions, versions, alias -------------------------------------------------------------
log "3/5 cargo lambda deploy (role $ROLE_ARN${LAYER_ARN:+, layer $LAYER_ARN}), versions, alias $ALIAS"
export DEPLOY_DESCRIPTION="infra/deploy.sh $(git rev-parse --short HEAD 2>/dev/null || echo unknown) $(date -u +%Y-%m-%dT%H:%M:%SZ)"
declare -A ALIAS_ARN
for i in "${!FUNCTIONS[@]}"; do
  bin="${FUNCTIONS[$i]}" name="${NAMES[$i]}"
  # The extension layer only where a secret is read (its process costs memory and init time).
  layer=(); [[ -n "$LAYER_ARN" ]] && grep -qE '_(SECRET_ARN|PARAMETER)=' "infra/env/$bin.env" && layer=(--layer "$LAYER_ARN")
  # Exactly the checked bootstrap (--binary-path), never whatever lies in target/lambda.
  # memory, timeout and runtime come from CargoLambda.toml ([deploy]).
  cargo lambda deploy "$name" --binary-path "$STAGE/$bin/bootstrap" \
    --iam-role "$ROLE_ARN" --env-file "infra/env/$bin.env" ${layer[@]+"${layer[@]}"} \
    --description "Mindful callbacks: $bin" "${CL_REMOTE[@]}"
  $HELPER publish "$name" "$ALIAS" "$ARCH"
  ALIAS_ARN[$bin]="$(aws lambda get-alias --function-name "$name" --name "$ALIAS" --query AliasArn --output text)"
  echo "$bin: ${ALIAS_ARN[$bin]}"
done

if [[ $SKIP_CONNECT == 1 ]]; then
  log "done (--skip-connect: no Connect stack, no phone numbers)"
  exit 0
fi

# --- 4. connect stack --------------------------------------------------------------------------
log "4/5 connect stack $CONNECT_STACK (permissions, integration associations, flows on alias $ALIAS)"
deploy_stack "$CONNECT_STACK" infra/template.yaml \
  "OcwPhraseFunctionArn=${ALIAS_ARN[ocw-phrase]}" \
  "DatastoreProxyFunctionArn=${ALIAS_ARN[datastore-proxy]}" \
  "AgentAnswerFunctionArn=${ALIAS_ARN[agent-answer]}"

# --- 5. phone numbers --------------------------------------------------------------------------
log "5/5 phone numbers"
INSTANCE_ID="$(stack_output "$CONNECT_STACK" ConnectInstanceId)"
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
log "done: undo with infra/deploy.sh rollback --params $PARAMS${STACK_PREFIX:+ --stack-prefix $STACK_PREFIX}"
