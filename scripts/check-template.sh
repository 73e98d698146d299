#!/usr/bin/env bash
# Lints the SAM template offline, with no AWS credentials:
#   1. `sam validate --lint`  (SAM CLI's own check, runs cfn-lint in-process)
#   2. `cfn-lint template.yaml` (pinned <1.54, which still runs the SAM transform and so
#      checks the resources SAM generates: event source mappings, function URLs, roles)
#   3. cfn-lint on the SAM-expanded template as plain CloudFormation: in transform mode
#      cfn-lint does not check the IAM actions of the generated roles (W3037), so a
#      misspelt or non-existent action in a function's Policies would only fail in AWS.
# Exits non-zero when either finds a problem. Installs the tools first if needed.
#
#   scripts/check-template.sh [TEMPLATE]   (default: template.yaml at the repo root)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
template="${1:-$repo_root/template.yaml}"
template="$(cd "$(dirname "$template")" && pwd)/$(basename "$template")"

"$repo_root/scripts/install-tools.sh" >/dev/null
bin="$repo_root/.venv/bin"

# No telemetry, no credential lookups, and never a real AWS endpoint: anything that would
# try to reach AWS goes to a closed loopback port instead.
export SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID=none AWS_SECRET_ACCESS_KEY=none AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:9
unset AWS_PROFILE AWS_SESSION_TOKEN

failed=0

echo "check-template: sam validate --lint ($("$bin/sam" --version))"
# Run from the template's directory so samconfig.toml there is read, but pass the
# template explicitly so a path given on the command line is the one checked.
if ! (cd "$(dirname "$template")" && "$bin/sam" validate --lint --template-file "$template"); then
    echo "check-template: sam validate --lint FAILED" >&2
    failed=1
fi

echo "check-template: cfn-lint ($("$bin/cfn-lint" --version))"
if ! "$bin/cfn-lint" "$template"; then
    echo "check-template: cfn-lint FAILED" >&2
    failed=1
fi

echo "check-template: cfn-lint on the SAM-expanded template"
expanded="$(mktemp --suffix=.json)"
trap 'rm -f "$expanded"' EXIT
# cfn-lint's own SAM transform (the one step 2 used), written out as JSON. Internal API,
# which is fine because cfn-lint is pinned.
if "$bin/python" - "$template" "$expanded" <<'PY'; then
import json
import sys

from cfnlint.decode import decode
from cfnlint.template.transforms._sam import Transform

source, target = sys.argv[1], sys.argv[2]
parsed, errors = decode(source)
if errors:
    sys.exit(f"cannot parse {source}: {errors}")
transform = Transform(source, parsed, "us-east-1")
transform.transform_template()
with open(target, "w") as out:
    json.dump(transform._template, out, indent=1, default=str)
PY
    if ! "$bin/cfn-lint" "$expanded"; then
        echo "check-template: cfn-lint on the expanded template FAILED (paths above name the generated resources, e.g. <Function>Role)" >&2
        failed=1
    fi
else
    echo "check-template: could not expand the SAM template" >&2
    failed=1
fi

if ((failed)); then
    exit 1
fi
echo "check-template: $(basename "$template") passed all checks"
