#!/usr/bin/env python3
"""Inbound webhook latency on the local server under load.

Starts `smsflow serve` (the binary given) on a free loopback port with the example account
and a fresh data directory, posts N Twilio-signed inbound texts (each with its own
MessageSid) from C concurrent clients, and reports throughput and latency percentiles of the
webhook answer. Then waits until the queued processing (contact, forward e-mail, goals) has
caught up and reports how long that took. Everything stays on 127.0.0.1 and stops by itself.

    python3 bench/webhook_load.py target/release/smsflow [N=2000] [C=16]
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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sign(url, params):
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    c = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    port = free_port()
    work = tempfile.mkdtemp(prefix="smsflow-bench-")
    with open(os.path.join(root, "smsflow.example.toml")) as f:
        config = f.read()
    config = config.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{port}"')
    config = config.replace('public_base_url = "http://127.0.0.1:8080"', f'public_base_url = "http://127.0.0.1:{port}"')
    path = os.path.join(work, "smsflow.toml")
    with open(path, "w") as f:
        f.write(config)
    server = subprocess.Popen([binary, "serve", "--config", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              env={**os.environ, "RUST_LOG": "warn"})
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/twilio/inbound"
        requests = []
        for i in range(n):
            params = [
                ("AccountSid", "AC00000000000000000000000000000001"),
                ("MessageSid", "SM%032x" % (i + 1)),
                ("From", "+1415555%04d" % (i % 5000 + 1000)),
                ("To", "+19523142318"),
                ("Body", f"Load test message {i}"),
                ("NumMedia", "0"),
            ]
            requests.append((urllib.parse.urlencode(params), sign(url, params)))
        latencies, errors, lock = [], [], threading.Lock()
        next_index = [0]

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while True:
                with lock:
                    if next_index[0] >= n:
                        break
                    body, signature = requests[next_index[0]]
                    next_index[0] += 1
                start = time.perf_counter()
                conn.request("POST", "/twilio/inbound", body=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
                response = conn.getresponse()
                response.read()
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(elapsed)
                    if response.status != 200:
                        errors.append(response.status)
            conn.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(c)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        latencies.sort()

        def pct(p):
            return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 2)

        # Queued processing: every text forwards one e-mail.
        drain_start = time.perf_counter()
        emails = 0
        while time.perf_counter() - drain_start < 300:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", f"/_sandbox/emails?limit=1000")
            emails_page = json.loads(conn.getresponse().read())
            conn.close()
            emails = len(emails_page["emails"])
            if emails >= min(n, 1000):
                break
            time.sleep(0.5)
        drain = time.perf_counter() - drain_start
        print(json.dumps({
            "requests": n, "concurrency": c, "errors": len(errors),
            "throughput_rps": round(n / wall, 1),
            "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": round(latencies[-1], 2)},
            "processing_caught_up_s_after_load": round(drain, 1),
            "emails_seen": emails,
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
