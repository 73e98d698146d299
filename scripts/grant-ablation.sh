#!/usr/bin/env bash
# Shows which end-to-end scenario needs a grant: removes one IAM action from one function's
# policy in a copy of template.yaml, then runs the stack-shape scenarios on that copy. The
# scenarios that used the grant fail with the AccessDenied AWS would give.
#
#   scripts/grant-ablation.sh FUNCTION ACTION [SCENARIO-FILTER]
#   scripts/grant-ablation.sh SendWorkerFunction dynamodb:BatchGetItem
#   scripts/grant-ablation.sh StatusCallbackFunction dynamodb:DeleteItem invalid_number
#
# FUNCTION is the template's logical id; SCENARIO-FILTER narrows the scenarios by name.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 2 ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
function_id="$1"
action="$2"
filter="${3:-}"

./scripts/install-tools.sh >/dev/null
ablated="$(mktemp --suffix=.yaml)"
trap 'rm -f "$ablated"' EXIT

.venv/bin/python - template.yaml "$ablated" "$function_id" "$action" <<'PY'
import sys

from samtranslator.yaml_helper import yaml_parse
import yaml

source, target, function_id, action = sys.argv[1:]
template = yaml_parse(open(source).read())
resource = template["Resources"].get(function_id)
if resource is None or resource["Type"] != "AWS::Serverless::Function":
    sys.exit(f"grant-ablation: {function_id} is not a function of {source}")
removed = 0
for policy in resource["Properties"].get("Policies", []):
    for statement in policy.get("Statement", []):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        kept = [a for a in actions if a != action]
        removed += len(actions) - len(kept)
        statement["Action"] = kept
    policy["Statement"] = [s for s in policy.get("Statement", []) if s["Action"]]
if not removed:
    sys.exit(f"grant-ablation: {function_id} is not granted {action}")
yaml.safe_dump(template, open(target, "w"), sort_keys=False)
print(f"grant-ablation: {function_id} without {action}")
PY

cargo build --workspace --bins --locked --quiet
SMSFLOW_STACK_TEMPLATE="$ablated" cargo nextest run -p smsflow-tests --test integration \
    --no-fail-fast -E "test(/^end_to_end::${filter}.*::stack$/)" 2>&1 |
    grep -E '^\s+(PASS|FAIL) |AccessDenied' | sort -u
