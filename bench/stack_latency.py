#!/usr/bin/env python3
"""The deployed shape, end to end: template.yaml's stack on the stack runner (moto, each
function a process under the Lambda Runtime API emulator, its role enforced).

Starts `smsflow-stack up` with the example configuration, then measures, one at a time so
each figure is one path's own latency:

- inbound text -> forwarded e-mail: a signed Twilio webhook posted to the HTTP API front,
  until the automation worker's SES SendEmail call for it (the runner's AWS call log);
- CRM POST -> Twilio accept: a send request posted to campaign-send's function URL, until
  the Twilio stand-in accepted the message (its accept time); sent from the toll-free number
  (3 segments/s) and spaced so pacing never holds a message; with how much of it the path's
  AWS calls took (the runner's call log: arrival to moto's answer) and, of that, how long its
  DynamoDB calls waited for their turn behind other functions' calls;
- reply e-mail -> Twilio accept: a teammate's answer to a forward, delivered to the runner's
  SES receiving (the template's receipt rule: the message stored in S3, then inbound-email
  invoked with SES's event), until the Twilio stand-in accepted the SMS; spaced a second
  apart so the long code's pacing never holds one;
- the webhook's own answer time;
- each function's cold start (init, first event), from the runner's records; sequence-start's
  first event is a start of a sequence the account lacks (account and key checked, refused).

    python3 bench/stack_latency.py [--bin-dir target/release] [--runs 100]
"""

import argparse
import base64
import hashlib
import hmac
import json
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTH_TOKEN = "sandbox-auth-token"  # smsflow.example.toml's acme
ACCOUNT_SID = "AC00000000000000000000000000000001"
SEND_KEY = "local-dev-key-change-me-0123456789"
LONG_CODE = "+19523142318"
TOLL_FREE = "+18885550100"


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def post(url: str, form: list, headers: dict | None = None) -> tuple[int, bytes]:
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def twilio_signature(url: str, params: list) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 of the URL and the sorted fields."""
    payload = url + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def start_stack(bin_dir: Path, state: Path, config: Path | None = None,
                template: Path | None = None) -> tuple[subprocess.Popen, dict]:
    """`smsflow-stack up` on free ports; `config` and `template` default to the runner's
    (smsflow.example.toml, template.yaml)."""
    args = [str(bin_dir / "smsflow-stack"), "up", "--root", str(ROOT), "--bin-dir", str(bin_dir),
            "--state-dir", str(state), "--port-base", "0", "--stack-name", "bench"]
    if config is not None:
        args += ["--config", str(config)]
    if template is not None:
        args += ["--template", str(template)]
    runner = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(state / "runner.log", "w"),
                              text=True)
    text = ""
    assert runner.stdout is not None
    for line in runner.stdout:
        text += line
        try:
            return runner, json.loads(text)
        except json.JSONDecodeError:
            continue
    raise SystemExit(f"the runner stopped; see {state / 'runner.log'}")


def calls(urls: dict, operation: str) -> list:
    return [c for c in get(urls["sandbox"] + "/_stack/aws-calls")["calls"]
            if c["operation"] == operation and c["allowed"]]


def wait_until(condition, within: float = 30.0):
    deadline = time.time() + within
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.005)
    raise SystemExit(f"timed out after {within:.0f} s waiting for {condition.__name__}")


def inbound_to_email(urls: dict, runs: int) -> tuple[list, list, str]:
    """Each text's latency to its forward, the webhook's answer times, and the first
    forward's reply address (read while moto's state, which the sandbox dumps, is small)."""
    api = next(iter(urls["http_apis"].values()))
    public_url = api["public"] + "/twilio/inbound"
    latencies, answers = [], []
    for i in range(runs):
        params = [("AccountSid", ACCOUNT_SID), ("MessageSid", f"SM{i:032x}"),
                  ("From", f"+1415555{i:04d}"), ("To", LONG_CODE), ("Body", f"Bench text {i}")]
        sent_before = len(calls(urls, "SESv2.SendEmail"))
        t0 = time.time()
        status, body = post(api["local"] + "/twilio/inbound", params,
                            {"X-Twilio-Signature": twilio_signature(public_url, params)})
        answers.append((time.time() - t0) * 1000)
        assert status == 200, (status, body)
        mails = wait_until(lambda: (m := calls(urls, "SESv2.SendEmail"))[sent_before:] and m)
        latencies.append(mails[sent_before]["at_ms"] - t0 * 1000)
        if i == 0:
            first_forward = get(urls["sandbox"] + "/_sandbox/emails?limit=1")["emails"][0]
    return latencies, answers, first_forward["reply_to"]


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def reply_to_accept(urls: dict, runs: int, reply_to: str) -> list:
    """Each reply e-mail's time from delivery to the Twilio stand-in's accept, answering the
    first bench text's forward (`reply_to`)."""
    sandbox = urls["sandbox"]
    contact = "+14155550000"  # the first bench text's sender
    latencies = []
    for i in range(runs):
        body = f"Bench reply {i}"
        t0 = time.time()
        status, outcome = post_json(sandbox + "/_sandbox/email", {
            "from": "mary@acme.example", "to": reply_to, "text": body,
            "message_id": f"<bench-reply-{i}@acme.example>"})
        assert status == 200 and outcome["outcome"] == "sent", (status, outcome)
        accepted = wait_until(lambda: [m for m in get(sandbox + "/_sandbox/messages?limit=5")["messages"]
                                       if m["to"] == contact and m["body"] == body], within=120.0)
        latencies.append(accepted[0]["accepted_at"] - t0 * 1000)
        time.sleep(1.0)  # the long code's next slot (1 segment/s)
    return latencies


def aws_time_on_path(calls_made: list, functions: set, until_ms: float) -> tuple[float, float]:
    """The time a path's AWS calls took (arrival at the runner to moto's answer) and, of that,
    how long its DynamoDB calls waited for their turn (the runner sends them one at a time);
    queue polls are left out (a long poll waits by design)."""
    on_path = [c for c in calls_made if c["function"] in functions and c["at_ms"] <= until_ms
               and c["operation"] != "SQS.ReceiveMessage" and c.get("took_ms") is not None]
    return (sum(c["took_ms"] for c in on_path), sum(c.get("turn_wait_ms") or 0 for c in on_path))


def crm_to_accept(urls: dict, runs: int) -> tuple[list, list, list]:
    """Each send's latency, its AWS calls' time, and of that the DynamoDB turn waits."""
    send_url = urls["function_urls"]["CampaignSendFunction"]["local"] + "/crm/acme/send?key=" + SEND_KEY
    latencies, aws, turns = [], [], []
    for i in range(runs):
        phone = f"+1415556{i:04d}"
        before = len(get(urls["sandbox"] + "/_stack/aws-calls")["calls"])
        t0 = time.time()
        status, body = post(send_url, [("phone", phone), ("message", f"Bench {i}"),
                                       ("type", "transactional"), ("from", TOLL_FREE)])
        assert status == 202, (status, body)
        accepted = wait_until(lambda: [m for m in get(urls["sandbox"] + "/_sandbox/messages?limit=5")["messages"]
                                       if m["to"] == phone])
        latencies.append(accepted[0]["accepted_at"] - t0 * 1000)
        time.sleep(0.4)  # the toll-free number's next slot: no pacing wait in the figure
        took, waited = aws_time_on_path(get(urls["sandbox"] + "/_stack/aws-calls")["calls"][before:],
                                        {"CampaignSendFunction", "SendWorkerFunction"},
                                        accepted[0]["accepted_at"])
        aws.append(took)
        turns.append(waited)
    return latencies, aws, turns


def summary(name: str, values: list) -> str:
    ordered = sorted(values)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return (f"| {name} | {len(values)} | {statistics.median(values):.1f} | {p(0.9):.1f} | "
            f"{p(0.99):.1f} | {ordered[0]:.1f} | {ordered[-1]:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "target/release"))
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        state = Path(state_dir)
        began = time.time()
        runner, urls = start_stack(Path(args.bin_dir).resolve(), state)
        up_seconds = time.time() - began
        try:
            # sequence-start's cold start first, on a small table (its event is the same
            # refused start whenever it runs).
            start_url = urls["function_urls"]["SequenceStartFunction"]["local"]
            status, body = post(f"{start_url}/crm/acme/sequences/none/start?key={SEND_KEY}",
                                [("contactId", "1")])
            assert 400 <= status < 500, (status, body)  # refused after the account lookup
            email, answers, reply_address = inbound_to_email(urls, args.runs)
            accept, accept_aws, accept_turns = crm_to_accept(urls, args.runs)
            replies = reply_to_accept(urls, args.runs, reply_address)
            starts = get(urls["sandbox"] + "/_stack/cold-starts")["cold_starts"]
        finally:
            runner.terminate()
            runner.wait(timeout=30)
    print(f"stack up (moto, template created, functions ready, accounts pushed): {up_seconds:.1f} s")
    print()
    print("| path | runs | p50 ms | p90 ms | p99 ms | min ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    print(summary("inbound text -> forwarded e-mail (SES SendEmail)", email))
    print(summary("inbound webhook answer (HTTP API front -> inbound-sms)", answers))
    print(summary("CRM POST -> Twilio accept", accept))
    print(summary("  of which its AWS calls (runner to moto and back)", accept_aws))
    print(summary("  of which DynamoDB calls waiting their turn", accept_turns))
    print(summary("reply e-mail -> Twilio accept (SES receiving -> inbound-email)", replies))
    print()
    print("| function | instances started | init ms (first instance) | first event ms | cold = init + first event |")
    print("|---|---|---|---|---|")
    by_function: dict = {}
    for start in starts:
        by_function.setdefault(start["function"], []).append(start)
    for function, records in sorted(by_function.items()):
        first = min(records, key=lambda r: r["instance"])
        print(f"| {function} | {len(records)} | {first['init_ms']:.1f} | {first['first_event_ms']:.1f} | "
              f"{first['init_ms'] + first['first_event_ms']:.1f} |")


if __name__ == "__main__":
    main()
