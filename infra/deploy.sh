#!/usr/bin/env bash
# Deploy the Mindful callback bundle, in order:
#   1. base stack (infra/base.yaml): execution role, log groups, the functions' environment
#   2. cargo lambda deploy of ocw-phrase, datastore-proxy, agent-answer with that role and env
#   3. connect stack (infra/template.yaml): Lambda permissions, integration associations, flows
#   4. phone numbers -> flows (CloudFormation cannot do this), when their ids are in the params
#
# Usage: infra/deploy.sh --params infra/params/<stage>.json [options]
#   --stack-prefix NAME   stacks NAME-base and NAME-connect (default: mindful-connect)
#   --skip-build          use the zips already in --lambda-dir (CI builds them in another job)
#   --lambda-dir DIR      where cargo lambda put <bin>/bootstrap.zip (default: target/lambda)
#   --skip-connect        stop after the functions (no Connect stack, no phone numbers)
#   --dry-run             print the plan and the parameters, change nothing
# Needs: bash, aws CLI, python3, cargo + cargo-lambda (>= 1.9.2). Credentials and region come from
# the usual AWS environment (AWS_PROFILE / AWS_REGION, or OIDC in CI). AWS_ENDPOINT_URL, when
# set, is passed to cargo lambda too (the offline rehearsal in .ci/infra-checks.sh uses it).
set -euo pipefail

cd "$(dirname "$0")/.."
HELPER="python3 infra/deploy_helper.py"
FUNCTIONS=(ocw-phrase datastore-proxy agent-answer)

PARAMS="" STACK_PREFIX="mindful-connect" SKIP_BUILD=0 SKIP_CONNECT=0 DRY=0 LAMBDA_DIR="target/lambda"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --params) PARAMS="$2"; shift 2 ;;
    --stack-prefix) STACK_PREFIX="$2"; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --lambda-dir) LAMBDA_DIR="$2"; shift 2 ;;
    --skip-connect) SKIP_CONNECT=1; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$PARAMS" && -f "$PARAMS" ]] || { echo "deploy.sh: --params FILE is required (see infra/params/example.json)" >&2; exit 2; }
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
[[ -n "$REGION" ]] || { echo "deploy.sh: set AWS_REGION" >&2; exit 2; }
export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"
BASE_STACK="${STACK_PREFIX}-base"
CONNECT_STACK="${STACK_PREFIX}-connect"
CL_REMOTE=(--region "$REGION")
[[ -n "${AWS_ENDPOINT_URL:-}" ]] && CL_REMOTE+=(--endpoint-url "$AWS_ENDPOINT_URL")

log() { printf '\n==> %s\n' "$*"; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# --- checks before touching anything ---------------------------------------------------------
$HELPER check-params "$PARAMS" infra/base.yaml infra/operations.yaml infra/template.yaml
python3 infra/render.py --check

# Create or update a stack and wait for it (works the same on AWS and on the moto rehearsal).
deploy_stack() {
  local stack="$1" template="$2"; shift 2
  $HELPER cfn-params "$template" "$PARAMS" "$@" > "$TMP/$stack.params.json"
  if [[ $DRY == 1 ]]; then
    echo "would deploy $stack from $template with:"; python3 -m json.tool "$TMP/$stack.params.json"; return
  fi
  local status
  status="$(aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE)"
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
  echo "$stack: $(aws cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].StackStatus' --output text)"
}

stack_output() {  # stack key
  aws cloudformation describe-stacks --stack-name "$1" --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}

# --- 1. base stack -----------------------------------------------------------------------------
log "1/4 base stack $BASE_STACK (role, log groups, configuration)"
deploy_stack "$BASE_STACK" infra/base.yaml
# --- operations stack (issue 18): alarms, SNS topic, dashboard, saved queries ----------------
# infra/operations.yaml, deployed with the base stack; what each alarm means: docs/operations.md.
OPS_STACK="${STACK_PREFIX}-operations"
log "1/4 operations stack $OPS_STACK (alarms, dashboard, saved queries: docs/operations.md)"
deploy_stack "$OPS_STACK" infra/operations.yaml
# --- end operations stack --------------------------------------------------------------------
if [[ $DRY == 1 ]]; then
  echo "would then: cargo lambda deploy ${FUNCTIONS[*]} with the role and env of $BASE_STACK, then:"
  deploy_stack "$CONNECT_STACK" infra/template.yaml \
    "OcwPhraseFunctionArn=<after cargo lambda deploy>" \
    "DatastoreProxyFunctionArn=<after cargo lambda deploy>" \
    "AgentAnswerFunctionArn=<after cargo lambda deploy>"
  echo "and associate MainPhoneNumberId='$($HELPER get "$PARAMS" MainPhoneNumberId)'," \
    "CallbackReturnPhoneNumberId='$($HELPER get "$PARAMS" CallbackReturnPhoneNumberId)'"
  exit 0
fi
aws cloudformation describe-stacks --stack-name "$BASE_STACK" --query 'Stacks[0].Outputs' --output json > "$TMP/base-outputs.json"
$HELPER envfiles "$TMP/base-outputs.json" infra/env
ROLE_ARN="$(stack_output "$BASE_STACK" LambdaRoleArn)"
LAYER_ARN="$(stack_output "$BASE_STACK" ParametersSecretsExtensionLayerArn)"
[[ "$LAYER_ARN" == "None" ]] && LAYER_ARN=""

# --- 2. functions ------------------------------------------------------------------------------
if [[ $SKIP_BUILD == 0 ]]; then
  log "2/4 cargo lambda build (arm64, release, zip)"
  compiler=()
  [[ "$(uname -m)" == "aarch64" && -z "${CARGO_LAMBDA_COMPILER:-}" ]] && compiler=(--compiler cargo)
  bins=(); for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done
  cargo lambda build --release --arm64 --output-format zip --lambda-dir "$LAMBDA_DIR" \
    ${compiler[@]+"${compiler[@]}"} "${bins[@]}"
fi
log "2/4 cargo lambda deploy (role $ROLE_ARN${LAYER_ARN:+, layer $LAYER_ARN})"
OCW_ARN="" DS_ARN="" AA_ARN=""
for bin in "${FUNCTIONS[@]}"; do
  name_key="$(python3 -c 'import sys; print("".join(p.title() for p in sys.argv[1].split("-")) + "FunctionName")' "$bin")"
  name="$(stack_output "$BASE_STACK" "$name_key")"
  # The extension layer only where a secret is read (its process costs memory and init time).
  layer=(); [[ -n "$LAYER_ARN" ]] && grep -q '_SECRET_ARN=' "infra/env/$bin.env" && layer=(--layer "$LAYER_ARN")
  # memory, timeout and runtime come from CargoLambda.toml ([deploy]).
  cargo lambda deploy "$name" --binary-name "$bin" --lambda-dir "$LAMBDA_DIR" \
    --iam-role "$ROLE_ARN" --env-file "infra/env/$bin.env" ${layer[@]+"${layer[@]}"} \
    --description "Mindful callbacks: $bin" "${CL_REMOTE[@]}"
  arn="$(aws lambda get-function --function-name "$name" --query Configuration.FunctionArn --output text)"
  case "$bin" in
    ocw-phrase) OCW_ARN="$arn" ;;
    datastore-proxy) DS_ARN="$arn" ;;
    agent-answer) AA_ARN="$arn" ;;
  esac
  echo "$bin: $arn"
done

if [[ $SKIP_CONNECT == 1 ]]; then
  log "done (--skip-connect: no Connect stack, no phone numbers)"
  exit 0
fi

# --- 3. connect stack --------------------------------------------------------------------------
log "3/4 connect stack $CONNECT_STACK (permissions, integration associations, flows)"
deploy_stack "$CONNECT_STACK" infra/template.yaml \
  "OcwPhraseFunctionArn=$OCW_ARN" \
  "DatastoreProxyFunctionArn=$DS_ARN" \
  "AgentAnswerFunctionArn=$AA_ARN"

# --- 4. phone numbers --------------------------------------------------------------------------
log "4/4 phone numbers"
INSTANCE_ID="$(stack_output "$CONNECT_STACK" ConnectInstanceId)"
associate() {  # params-key flow-output-key
  local number_id flow_id
  number_id="$($HELPER get "$PARAMS" "$1")"
  flow_id="$(stack_output "$CONNECT_STACK" "$2")"
  if [[ -z "$number_id" ]]; then
    echo "$1 not set: associate it yourself (infra/README.md): aws connect associate-phone-number-contact-flow --instance-id $INSTANCE_ID --contact-flow-id $flow_id --phone-number-id <id>"
    return
  fi
  aws connect associate-phone-number-contact-flow --instance-id "$INSTANCE_ID" \
    --phone-number-id "$number_id" --contact-flow-id "$flow_id"
  echo "phone number $number_id -> flow $flow_id"
}
associate MainPhoneNumberId NormalInboundFlowId
associate CallbackReturnPhoneNumberId CallbackReturnFlowId
log "done"
