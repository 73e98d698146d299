#!/usr/bin/env python3
"""Conversational latency on the deployed shape: a sequence reply -> the next question
accepted by the Twilio stand-in, on template.yaml's stack under the stack runner.

Starts `smsflow-stack up` (helpers of bench/stack_latency.py) with the example account, its
long code raised to 1000 segments/s so pacing does not hide the pipeline, stores
bench/sequence_latency.py's 3-question sequence (keyword GO) with `smsflow sequences apply
--stack` (without its `save_to` custom fields, which the Keap stand-in lacks: the field jobs
are off the reply's path anyway), then walks N runs, C at a time: each run is a person (their
own phone) texting GO to the HTTP API front (a Twilio-signed webhook), then answering each
question once the stand-in accepted it. A reply's time runs from just before its webhook is
posted to the stand-in's `accepted_at` of the next question (same machine, same clock).

A reply's path: HTTP API front -> inbound-sms (record, queue) -> automation queue ->
automation-worker (the run's hand-off: state written, the step's jobs queued) -> automation
queue -> automation-worker (the message's job: consent, admission, slot) -> send queue ->
send-worker -> Twilio stand-in. It crosses the automation queue twice, so the automation
worker's batching window (`--automation-window`, default: as template.yaml says) is paid
twice; the window is set in a copy of the template.

A fresh stack serves every `--runs-per-stack` runs: moto copies the whole table on each
DynamoDB transaction (`moto/dynamodb/models/__init__.py`, `transact_write_items`), so on one
stack every write gets slower as the run adds items, and after a few hundred texts the
webhooks run into inbound-sms's 10 s timeout. Restarting keeps each figure the pipeline's,
not the table's size.

Also counts the automation worker's invocations (its batches deleted from the queue: one per
invocation that finished a job). Loopback only; bounded by N and a 30 s wait per message;
stops each stack by itself.

    python3 bench/stack_sequence_latency.py [--bin-dir target/release] [--runs 100] \
        [--runs-per-stack 25] [--concurrency 1] [--automation-window SECONDS]
"""

import argparse
import json
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from sequence_latency import REPLIES, SEQUENCE
from stack_latency import ACCOUNT_SID, LONG_CODE, ROOT, get, post, start_stack, twilio_signature

WAIT_PER_MESSAGE_S = 30


def stack_config(state: Path) -> Path:
    """The example configuration with the long code at 1000 segments/s."""
    text = (ROOT / "smsflow.example.toml").read_text()
    raised = text.replace('number = "(952) 314-2318"',
                          'number = "(952) 314-2318"\nsegments_per_second = 1000', 1)
    assert raised != text, "smsflow.example.toml no longer names the long code as expected"
    path = state / "smsflow.toml"
    path.write_text(raised)
    return path


def stack_template(state: Path, window: int | None) -> Path | None:
    """template.yaml, or a copy whose automation worker mapping batches for `window` s."""
    if window is None:
        return None
    text = (ROOT / "template.yaml").read_text()
    pattern = r"(AutomationJobs:.*?MaximumBatchingWindowInSeconds: )\d+"
    changed, count = re.subn(pattern, rf"\g<1>{window}", text, count=1, flags=re.S)
    assert count == 1, "template.yaml's AutomationJobs mapping has no batching window"
    path = state / "template.yaml"
    path.write_text(changed)
    return path


def apply_sequence(bin_dir: Path, state: Path, urls: dict) -> None:
    """`smsflow sequences apply --stack`, as the operator does after deploying."""
    body = "\n".join(line for line in SEQUENCE.splitlines() if "save_to:" not in line)
    path = state / "bench.yaml"
    path.write_text(body)
    env = {"AWS_ENDPOINT_URL": urls["moto"], "AWS_ACCESS_KEY_ID": "AKIASTACKOPERATOR000",
           "AWS_SECRET_ACCESS_KEY": "stack-operator-secret", "AWS_REGION": urls["region"],
           "PATH": "/usr/bin:/bin", "RUST_LOG": "warn"}
    result = subprocess.run([str(bin_dir / "smsflow"), "sequences", "apply", str(path),
                             "--stack", urls["stack_name"]], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"sequences apply failed: {result.stderr}")


class Conversations:
    """N people, C at a time, each texting GO and answering every question."""

    def __init__(self, urls: dict, runs: range, concurrency: int):
        api = next(iter(urls["http_apis"].values()))
        self.local_url = api["local"] + "/twilio/inbound"
        self.public_url = api["public"] + "/twilio/inbound"
        self.messages_url = f"{urls['sandbox']}/_sandbox/messages?limit={8 * concurrency + 8}"
        self.runs, self.concurrency = runs, concurrency
        self.lock = threading.Lock()
        self.next_run = runs.start
        self.posted: dict = {}  # (phone, text index) -> epoch ms just before its webhook
        self.failures: list = []
        self.seen: dict = {}  # phone -> SIDs the stand-in accepted for it

    def walk(self) -> float:
        started = time.perf_counter()
        threads = [threading.Thread(target=self.person) for _ in range(self.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started

    def take_run(self) -> int | None:
        with self.lock:
            if self.next_run >= self.runs.stop:
                return None
            self.next_run += 1
            return self.next_run - 1

    def person(self) -> None:
        while (run := self.take_run()) is not None:
            phone = "+1415557%04d" % run
            for index, body in enumerate(["GO"] + REPLIES):
                params = [("AccountSid", ACCOUNT_SID), ("Body", body), ("From", phone),
                          ("MessageSid", "SM%016x%016x" % (run + 1, index + 1)), ("NumMedia", "0"),
                          ("To", LONG_CODE)]
                with self.lock:
                    self.posted[(phone, index)] = time.time() * 1000
                status, _ = post(self.local_url, params,
                                 {"X-Twilio-Signature": twilio_signature(self.public_url, params)})
                if status != 200:
                    self.failures.append((phone, index, f"webhook {status}"))
                    break
                if not self.wait_for(phone, index + 1):
                    self.failures.append((phone, index, "no message"))
                    break

    def wait_for(self, phone: str, count: int) -> bool:
        deadline = time.time() + WAIT_PER_MESSAGE_S
        while time.time() < deadline:
            # Newest first: a short page holds this person's latest message.
            messages = get(self.messages_url)["messages"]
            with self.lock:
                seen = self.seen.setdefault(phone, set())
                seen.update(m["sid"] for m in messages if m["to"] == phone)
                if len(seen) >= count:
                    return True
            time.sleep(0.01)
        return False

    def latencies(self, sandbox: str) -> tuple[list, list]:
        """(keyword -> first question, reply -> next question), in ms: the k-th message
        to a phone answers its k-th text."""
        messages = get(f"{sandbox}/_sandbox/messages?limit=100000")["messages"]
        by_phone: dict = {}
        for message in messages:
            by_phone.setdefault(message["to"], []).append(message)
        starts, replies = [], []
        for phone, sent in by_phone.items():
            sent.sort(key=lambda m: m["accepted_at"])
            for index, message in enumerate(sent):
                t0 = self.posted.get((phone, index))
                if t0 is not None:
                    (starts if index == 0 else replies).append(message["accepted_at"] - t0)
        return starts, replies


def percentiles(values: list) -> dict:
    ordered = sorted(values)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else None
    return {"samples": len(values), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99),
            "max": pick(1.0)}


def automation_invocations(urls: dict) -> int:
    calls = get(urls["sandbox"] + "/_stack/aws-calls")["calls"]
    return sum(1 for c in calls if c["allowed"] and c["function"] == "AutomationWorkerFunction"
               and c["operation"].endswith("DeleteMessageBatch"))


def one_stack(args, bin_dir: Path, runs: range) -> tuple[Conversations, list, list, int]:
    """`runs` walked on a stack of their own: the conversations, their latencies and the
    automation worker's invocations."""
    with tempfile.TemporaryDirectory() as state_dir:
        state = Path(state_dir)
        runner, urls = start_stack(bin_dir, state, stack_config(state),
                                   stack_template(state, args.automation_window))
        try:
            apply_sequence(bin_dir, state, urls)
            conversations = Conversations(urls, runs, args.concurrency)
            conversations.walk()
            starts, replies = conversations.latencies(urls["sandbox"])
            return conversations, starts, replies, automation_invocations(urls)
        finally:
            runner.terminate()
            runner.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "target/release"))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--runs-per-stack", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--automation-window", type=int, default=None,
                        help="the automation worker's MaximumBatchingWindowInSeconds (default: template.yaml's)")
    args = parser.parse_args()
    bin_dir = Path(args.bin_dir).resolve()
    starts, replies, failures, invocations, walking = [], [], [], 0, 0.0
    for first in range(0, args.runs, args.runs_per_stack):
        began = time.perf_counter()
        runs = range(first, min(args.runs, first + args.runs_per_stack))
        conversations, stack_starts, stack_replies, stack_invocations = one_stack(args, bin_dir, runs)
        walking += time.perf_counter() - began
        starts += stack_starts
        replies += stack_replies
        failures += conversations.failures
        invocations += stack_invocations
    print(json.dumps({
        "runs": args.runs, "runs_per_stack": args.runs_per_stack, "concurrency": args.concurrency,
        "automation_window_s": args.automation_window if args.automation_window is not None else "template",
        "failed": len(failures), "failures": failures[:5],
        "wall_s_with_stack_starts": round(walking, 1),
        "keyword_to_first_message_ms": percentiles(starts),
        "reply_to_next_message_ms": percentiles(replies),
        "automation_worker_invocations": invocations,
        "automation_invocations_per_text": round(invocations / max(1, len(starts) + len(replies)), 2),
    }, indent=2))


if __name__ == "__main__":
    main()
