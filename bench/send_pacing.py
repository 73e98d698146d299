#!/usr/bin/env python3
"""Send pacing, fairness between accounts, and admission exactness on the local server.

Starts `smsflow serve` (the binary given) on a free loopback port with a fresh data
directory and three accounts:

- acme: its long code configured at RATE segments/s; N transactional send requests (one
  segment each) are posted from 8 clients, as a CRM campaign would, then
- bravo: one send request right after acme's backlog is queued; its wait is measured;
- charlie: limit 50, sending from Twilio's magic "queue full" number (+15005550008), so its
  admitted sends never finish during the test; 200 concurrent requests measure admission.

Reports the achieved segments/s over acme's backlog (from the sandbox carrier's accept
times), the most sends in any 1-second window, bravo's wait from request to carrier, and how
many of charlie's 200 requests were admitted. Everything stays on 127.0.0.1 and stops by
itself.

    python3 bench/send_pacing.py target/release/smsflow [N=2000] [RATE=20]
"""

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

ACME_KEY = "local-dev-key-change-me-0123456789"
BRAVO_KEY = "bravo-key-0123456789abcdef"
CHARLIE_KEY = "charlie-key-0123456789abcdef"

EXTRA_ACCOUNTS = """
[[accounts]]
id = "bravo"
name = "Bravo Dental"
default_country = "US"
goal_integration = "smsflow"
send_key = "{bravo}"

[accounts.twilio]
account_sid = "AC00000000000000000000000000000002"
auth_token = "bravo-auth-token"

[[accounts.numbers]]
number = "+16125550111"
kind = "long_code"
backup_email = "front@bravo.example"

[accounts.crm]
kind = "sandbox"

[[accounts]]
id = "charlie"
name = "Charlie Cafe"
default_country = "US"
goal_integration = "smsflow"
send_key = "{charlie}"
queue_limit = 50

[accounts.twilio]
account_sid = "AC00000000000000000000000000000003"
auth_token = "charlie-auth-token"

[[accounts.numbers]]
number = "+15005550008"
kind = "long_code"
backup_email = "front@charlie.example"
segments_per_second = 1000

[accounts.crm]
kind = "sandbox"
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post_all(port, requests, clients):
    """POSTs (path, form) pairs from `clients` threads; returns the status codes."""
    statuses, lock, next_index = [], threading.Lock(), [0]

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if next_index[0] >= len(requests):
                    break
                path, form = requests[next_index[0]]
                next_index[0] += 1
            conn.request("POST", path, body=urllib.parse.urlencode(form),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def carrier_messages(port, limit):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/_sandbox/messages?limit={limit}")
    page = json.loads(conn.getresponse().read())
    conn.close()
    return page["messages"]


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    port = free_port()
    work = tempfile.mkdtemp(prefix="smsflow-bench-")
    with open(os.path.join(root, "smsflow.example.toml")) as f:
        config = f.read()
    config = config.replace('listen = "127.0.0.1:8080"', f'listen = "127.0.0.1:{port}"')
    config = config.replace('public_base_url = "http://127.0.0.1:8080"', f'public_base_url = "http://127.0.0.1:{port}"')
    config = config.replace('queue_limit = 500', f'queue_limit = {n + 100}')
    config = config.replace('number = "(952) 314-2318"', f'number = "(952) 314-2318"\nsegments_per_second = {rate}')
    config += EXTRA_ACCOUNTS.format(bravo=BRAVO_KEY, charlie=CHARLIE_KEY)
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

        # acme's backlog, then bravo's single message.
        backlog = [(f"/crm/acme/send?key={ACME_KEY}",
                    [("phone", "+1415%07d" % (5550000 + i)), ("message", f"Reminder {i}"), ("type", "transactional")])
                   for i in range(n)]
        started = time.time()
        statuses = post_all(port, backlog, 8)
        queued_s = time.time() - started
        bravo_requested = time.time()
        bravo_status = post_all(port, [(f"/crm/bravo/send?key={BRAVO_KEY}",
                                        [("phone", "+16125550199"), ("message", "Your cleaning is at 9"),
                                         ("type", "transactional")])], 1)

        # Admission: 200 concurrent requests at charlie's limit of 50.
        admission = post_all(port, [(f"/crm/charlie/send?key={CHARLIE_KEY}",
                                     [("phone", "+1612%07d" % (5550000 + i)), ("message", f"Offer {i}"),
                                      ("type", "transactional")]) for i in range(200)], 200)

        deadline = time.time() + n / rate + 120
        while time.time() < deadline:
            messages = carrier_messages(port, n + 10)
            acme = [m for m in messages if m["from"] == "+19523142318"]
            if len(acme) >= n:
                break
            time.sleep(1)
        acme_times = sorted(m["accepted_at"] for m in acme)
        bravo = [m["accepted_at"] for m in messages if m["from"] == "+16125550111"]
        span = (acme_times[-1] - acme_times[0]) / 1000 if len(acme_times) > 1 else 0
        # Most sends in any window [t, t + 1 s).
        most, j = 0, 0
        for i, t in enumerate(acme_times):
            while acme_times[j] <= t - 1000:
                j += 1
            most = max(most, i - j + 1)
        print(json.dumps({
            "backlog": n,
            "configured_segments_per_second": rate,
            "backlog_queued_in_s": round(queued_s, 1),
            "request_statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "sent": len(acme_times),
            "achieved_segments_per_second": round((len(acme_times) - 1) / span, 3) if span else None,
            "max_sends_in_any_1s_window": most,
            "bravo_status": bravo_status,
            "bravo_wait_ms": (bravo[0] - int(bravo_requested * 1000)) if bravo else None,
            "admission_at_limit_50_of_200_concurrent": {
                "admitted_202": admission.count(202), "refused_429": admission.count(429),
                "other": len(admission) - admission.count(202) - admission.count(429)},
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
