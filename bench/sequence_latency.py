#!/usr/bin/env python3
"""Sequence step latency on the local server: from a reply's webhook to the next message
handed to the (sandbox) carrier.

Stores the example account and a 3-question sequence (keyword GO, a note kept, the long
code raised to 1000 segments/s so pacing does not hide the pipeline) in a fresh data
directory with the given `smsflow` binary, starts `smsflow serve` on a free loopback port,
then walks N runs, C at a time: each run is a person (their own phone) texting GO, then
answering each question once the carrier has accepted it. For every text it notes the
wall-clock time just before posting the Twilio-signed webhook and compares it with the
carrier's `accepted_at` of the message that answers it (same machine, same clock, ms).

A reply's path: webhook (record + queue) -> automation worker (contact from cache, the
run's hand-off: state written, effect jobs queued) -> automation worker (the message's
job: consent, admission, slot, send job) -> send worker -> carrier. Everything stays on
127.0.0.1 and stops by itself.

    python3 bench/sequence_latency.py target/release/smsflow [N=100] [C=4]
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

TOKEN = "sandbox-auth-token"
OUR_NUMBER = "+19523142318"

SEQUENCE = """
account: acme
name: bench
start: keyword
keywords: [GO]
sender: "+19523142318"
collect_email_first: false
note: true
steps:
  - name: q1
    message: "Question 1, ~Contact.FirstName~: how many?"
    save_to: Contact._Q1
    next:
      conditions:
        - greater_than: 5
          tag: Many
          goto: q2
      fallback: q2
  - name: q2
    message: Question 2?
    save_to: Contact._Q2
    next: q3
  - name: q3
    message: Question 3?
    next: done
  - name: done
    message: Thanks, that was all.
    await_reply: false
"""
REPLIES = ["7", "blue", "yes"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sign(url, params):
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


def run_cli(binary, *args):
    result = subprocess.run([binary, *args], capture_output=True, text=True,
                            env={**os.environ, "RUST_LOG": "warn"})
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {result.stderr}")


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    c = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    port = free_port()
    work = tempfile.mkdtemp(prefix="smsflow-bench-")
    with open(os.path.join(root, "smsflow.example.toml")) as f:
        config = f.read()
    config = config.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{port}"')
    config = config.replace('public_base_url = "http://127.0.0.1:8080"', f'public_base_url = "http://127.0.0.1:{port}"')
    config = config.replace('number = "(952) 314-2318"', 'number = "(952) 314-2318"\nsegments_per_second = 1000')
    config_path = os.path.join(work, "smsflow.toml")
    with open(config_path, "w") as f:
        f.write(config)
    sequence_path = os.path.join(work, "bench.yaml")
    with open(sequence_path, "w") as f:
        f.write(SEQUENCE)
    run_cli(binary, "accounts", "push", "--config", config_path)
    run_cli(binary, "sequences", "apply", sequence_path, "--config", config_path)

    server = subprocess.Popen([binary, "serve", "--config", config_path], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    url = f"http://127.0.0.1:{port}/twilio/inbound"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

        lock = threading.Lock()
        next_run = [0]
        posted = {}  # (phone, message index) -> epoch ms just before the webhook
        failures = []

        sent_so_far = {}  # phone -> SIDs of the messages the carrier accepted for it

        def sent_total(conn, phone):
            # Newest first: a short page holds this person's latest message.
            conn.request("GET", f"/_sandbox/messages?limit={8 * c + 8}")
            messages = json.loads(conn.getresponse().read())["messages"]
            seen = sent_so_far.setdefault(phone, set())
            seen.update(m["sid"] for m in messages if m["to"] == phone)
            return len(seen)

        def wait_for(conn, phone, count, deadline):
            while time.time() < deadline:
                if sent_total(conn, phone) >= count:
                    return True
                time.sleep(0.01)
            return False

        def post(conn, phone, sid, body):
            params = [("AccountSid", "AC00000000000000000000000000000001"), ("Body", body), ("From", phone),
                      ("MessageSid", sid), ("NumMedia", "0"), ("To", OUR_NUMBER)]
            conn.request("POST", "/twilio/inbound", body=urllib.parse.urlencode(params), headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(url, params)})
            response = conn.getresponse()
            response.read()
            return response.status

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while True:
                with lock:
                    if next_run[0] >= n:
                        break
                    run = next_run[0]
                    next_run[0] += 1
                phone = "+1415556%04d" % run
                texts = ["GO"] + REPLIES
                for index, body in enumerate(texts):
                    sid = "SM%016x%016x" % (run + 1, index + 1)
                    with lock:
                        posted[(phone, index)] = time.time() * 1000
                    if post(conn, phone, sid, body) != 200:
                        failures.append((phone, index, "webhook"))
                        break
                    if not wait_for(conn, phone, index + 1, time.time() + 30):
                        failures.append((phone, index, "no message"))
                        break
            conn.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(c)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started

        # Every message the carrier accepted, matched to the text it answers (by phone and
        # order: the k-th message to a phone answers its k-th text).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/_sandbox/messages?limit=10000")
        messages = json.loads(conn.getresponse().read())["messages"]
        conn.close()
        by_phone = {}
        for m in messages:
            by_phone.setdefault(m["to"], []).append(m)
        start_latency, reply_latency = [], []
        for phone, sent in by_phone.items():
            sent.sort(key=lambda m: m["accepted_at"])
            for index, message in enumerate(sent):
                t0 = posted.get((phone, index))
                if t0 is None:
                    continue
                (start_latency if index == 0 else reply_latency).append(message["accepted_at"] - t0)

        def pct(values, p):
            values = sorted(values)
            return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 1) if values else None

        def summary(values):
            return {"samples": len(values), "p50": pct(values, 50), "p90": pct(values, 90),
                    "p99": pct(values, 99), "max": pct(values, 100)}

        print(json.dumps({
            "runs": n, "concurrency": c, "failures": failures[:5], "failed": len(failures),
            "wall_s": round(wall, 1),
            "keyword_to_first_message_ms": summary(start_latency),
            "reply_to_next_message_ms": summary(reply_latency),
        }, indent=2))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
