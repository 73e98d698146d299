#!/usr/bin/env bash
# The whole test suite, from a fresh clone: ./scripts/test.sh
#
# Installs what it needs (moto, cfn-lint, SAM CLI, openapi-spec-validator into .venv;
# Debian's chromium and chromium-driver for the inbox's browser test), starts moto on a free loopback port for the AWS adapter conformance suites, runs
# formatting and lint checks, every test of the workspace (the end-to-end suite also on
# the stack runner: each stack scenario creates template.yaml in its own moto), the SAM
# template checks and the OpenAPI document's; stops moto on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

log "tools (.venv: moto, cfn-lint, sam; chromium)"
./scripts/install-tools.sh

mkdir -p target
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "moto on 127.0.0.1:${port}"
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:${port}/moto-api/data.json" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then cat target/moto.log; echo "moto failed to start" >&2; exit 1; fi
  sleep 0.5
done
export SMSFLOW_TEST_AWS_ENDPOINT="http://127.0.0.1:${port}"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The stack suites run the workspace's binaries (the eight functions, the CLI and the stack
# runner) as processes, as Lambda and an operator would: build them once, first.
log "binaries (cargo build --bins)"
cargo build --workspace --bins --locked

# The README's run command must reuse this build, not compile its own feature set.
log "run command shares the build (cargo build --bin smsflow)"
run_build=$(cargo build --bin smsflow --locked 2>&1)
printf '%s\n' "$run_build"
if grep -q '^ *Compiling' <<<"$run_build"; then
  echo "the README's run command compiled crates the test build had built: the default" >&2
  echo "members' features differ from the workspace's (see README, 'Two commands')" >&2
  exit 1
fi

log "tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

log "SAM template"
./scripts/check-template.sh

log "OpenAPI document (docs/openapi.yaml)"
.venv/bin/openapi-spec-validator docs/openapi.yaml

log "all checks passed"
