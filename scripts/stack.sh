#!/usr/bin/env bash
# Runs template.yaml's stack on this machine, as it would run on AWS (README "Run the
# deployed shape locally"):
#
#   scripts/stack.sh up [--config FILE] [--port-base N] [--parameter KEY=VALUE ...]
#       builds the functions, starts the stack in the background, prints its URLs
#   scripts/stack.sh down
#       stops it (functions, fronts, pollers, stand-ins, moto)
#   scripts/stack.sh logs [FUNCTION]
#       follows the runner's log, or one function's (e.g. send-worker)
#
# State, logs and stack.json (the URLs as JSON) live in target/stack/.
set -euo pipefail
cd "$(dirname "$0")/.."

state=target/stack
pid_file="$state/runner.pid"

running() { [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

up() {
    if running; then
        echo "stack.sh: already running (pid $(cat "$pid_file")); scripts/stack.sh down first" >&2
        exit 1
    fi
    ./scripts/install-tools.sh >/dev/null
    echo "stack.sh: building the functions, the CLI and the runner (cargo build --bins)"
    cargo build --workspace --bins --locked --quiet
    mkdir -p "$state"
    rm -f "$state/stack.json"
    nohup target/debug/smsflow-stack up --state-dir "$state" "$@" >"$state/stack.json.tmp" 2>"$state/runner.log" &
    echo $! >"$pid_file"
    for _ in $(seq 1 240); do
        if ! running; then
            cat "$state/runner.log" >&2
            echo "stack.sh: the runner stopped (log above: $state/runner.log)" >&2
            exit 1
        fi
        if [[ -s "$state/stack.json.tmp" ]] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$state/stack.json.tmp" 2>/dev/null; then
            mv "$state/stack.json.tmp" "$state/stack.json"
            python3 - "$state/stack.json" <<'PY'
import json, sys
urls = json.load(open(sys.argv[1]))
print(f"stack.sh: stack {urls['stack_name']} is up (moto {urls['moto']})")
for name, api in urls["http_apis"].items():
    print(f"  Twilio inbound webhook  {api['local']}/twilio/inbound   (stands for {api['public']})")
    print(f"  Twilio status callback  {api['local']}/twilio/status")
    print(f"  Instasent reports       {api['local']}/instasent/callback/<account>/<secret>")
for name, url in urls["function_urls"].items():
    print(f"  {name:<22} {url['local']}/   (stands for {url['public']})")
for key in ("sandbox", "twilio", "instasent", "keap"):
    if key in urls:
        print(f"  {key:<22} {urls[key]}")
print("  logs: target/stack/logs/   stop: scripts/stack.sh down")
PY
            return 0
        fi
        sleep 0.5
    done
    echo "stack.sh: the stack did not come up within 120 s (see $state/runner.log)" >&2
    exit 1
}

down() {
    if ! running; then
        echo "stack.sh: not running"
        rm -f "$pid_file"
        return 0
    fi
    local pid
    pid="$(cat "$pid_file")"
    kill -TERM "$pid"
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pid_file"
    echo "stack.sh: stopped"
}

logs() {
    if [[ $# -gt 0 ]]; then
        tail -F "$state/logs/$1.log"
    else
        tail -F "$state/runner.log"
    fi
}

command="${1:-}"
shift || true
case "$command" in
    up) up "$@" ;;
    down) down ;;
    logs) logs "$@" ;;
    *)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
