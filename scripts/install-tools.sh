#!/usr/bin/env bash
# Installs the Python-packaged tools smsflow's tests and template checks need into
# a venv at the repository root (.venv), so nothing depends on what a machine happens
# to have installed by hand; and Debian's Chromium and ChromeDriver, which the team
# inbox's browser test drives (apt, once).
#
#   scripts/install-tools.sh              moto server, cfn-lint, AWS SAM CLI,
#                                         openapi-spec-validator, chromium
#   scripts/install-tools.sh --sam-build  ... plus cargo-lambda and zig (for `sam build`)
#
# Idempotent: a stamp file keyed by the pins makes a second run a fast no-op.
# Afterwards put the tools on PATH with:  export PATH="$PWD/.venv/bin:$PATH"
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"

# One venv is enough: aws-sam-cli 1.170.0 accepts cfn-lint >=1.52,<1.59, and 1.53.x is
# the newest cfn-lint that still runs the SAM transform (1.54+ validates AWS::Serverless
# resources against a schema instead and misses real errors, e.g. a misspelt
# FunctionResponseTypes or MaximumConcurrency 1).
moto_pin='moto[server]==5.2.1'
moto_fallback='moto[server]>=5.2,<6'
# openapi-spec-validator checks docs/openapi.yaml against the OpenAPI 3.1 specification.
base_pins=("cfn-lint==1.53.3" "aws-sam-cli==1.170.0" "openapi-spec-validator==0.9.0")
# cargo-lambda's wheel depends on an unpinned ziglang; zig 0.16's `ar` breaks C crates
# (ring, aws-lc-sys), so pin the last good one.
sam_build_pins=("cargo-lambda==1.9.2" "ziglang==0.15.2")

with_sam_build=false
for arg in "$@"; do
    case "$arg" in
        --sam-build) with_sam_build=true ;;
        -h | --help)
            sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "install-tools: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

base_set=("$moto_pin" "${base_pins[@]}")
full_set=("${base_set[@]}" "${sam_build_pins[@]}")
if $with_sam_build; then
    pins=("${full_set[@]}")
else
    pins=("${base_set[@]}")
fi

# One stamp per pin set, keyed by the pins and the interpreter (a different python3 or
# a changed pin means reinstall). A --sam-build install also satisfies the base set.
python_version="$(python3 -c 'import sys; print(sys.version.split()[0])')"
stamp_for() {
    local key
    key="$(printf '%s\n' "python=$python_version" "$@" | sha256sum | cut -c1-16)"
    echo "$venv/.smsflow-tools-$key"
}
stamp="$(stamp_for "${pins[@]}")"

report() {
    echo "install-tools: tools in $venv:"
    "$venv/bin/python" -m pip list --format=freeze 2>/dev/null |
        grep -i -E '^(moto|cfn-lint|aws-sam-cli|aws-sam-translator|cargo-lambda|ziglang)==' |
        sed 's/^/  /'
}

tools_present() {
    local tool
    for tool in moto_server sam cfn-lint; do
        [[ -x "$venv/bin/$tool" ]] || return 1
    done
    if $with_sam_build; then
        [[ -x "$venv/bin/cargo-lambda" ]] || return 1
    fi
}

# The inbox's browser test runs the OS's Chromium: nothing is downloaded at test time.
browser_present() {
    [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]
}
if ! browser_present; then
    echo "install-tools: installing Debian's chromium and chromium-driver"
    as_root=()
    [[ $(id -u) -eq 0 ]] || as_root=(sudo)
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends chromium chromium-driver >/dev/null ||
        { "${as_root[@]}" apt-get update -q >/dev/null &&
            "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                --no-install-recommends chromium chromium-driver >/dev/null; }
    browser_present || { echo "install-tools: chromium did not install" >&2; exit 1; }
fi

if [[ -f "$stamp" ]] && tools_present; then
    echo "install-tools: already installed (stamp $(basename "$stamp"))"
    exit 0
fi

started=$SECONDS
if [[ ! -x "$venv/bin/python" ]]; then
    echo "install-tools: creating $venv (python $python_version)"
    python3 -m venv "$venv"
fi

pip_install() {
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$@"
}

# All pins go to pip in one call so its resolver sees every constraint together (moto's
# server extra also wants cfn-lint; only one version can win).
echo "install-tools: installing ${pins[*]}"
if ! pip_install "${pins[@]}"; then
    echo "install-tools: '$moto_pin' could not be installed; trying '$moto_fallback'" >&2
    pins[0]="$moto_fallback"
    pip_install "${pins[@]}"
fi

# A wider resolution must not have moved the one pin that matters for template checks.
cfn_lint_version="$("$venv/bin/cfn-lint" --version | awk '{print $NF}')"
case "$cfn_lint_version" in
    1.5[0-3].*) ;;
    *)
        echo "install-tools: cfn-lint $cfn_lint_version was installed, expected <1.54" >&2
        exit 1
        ;;
esac

installed="$(report)"
rm -f "$venv"/.smsflow-tools-*
echo "$installed" >"$(stamp_for "${base_set[@]}")"
if $with_sam_build; then
    echo "$installed" >"$(stamp_for "${full_set[@]}")"
fi
echo "$installed"
echo "install-tools: done in $((SECONDS - started)) s"
