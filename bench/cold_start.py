#!/usr/bin/env python3
"""Cold start of a Lambda function binary: exec to first event handled.

Plays the Lambda Runtime API on 127.0.0.1 (the interface the binary talks to on AWS), starts
the binary N times, hands each process one event and measures the wall time from exec until
the function posts its response. Prints median, p90, min and max in milliseconds, and the
binary's size.

    python3 bench/cold_start.py target/release/inbound-sms events/apigw-http-twilio-inbound.json

The function gets a complete smsflow environment (table, queues, region, dummy credentials)
but the events used here need no AWS call, so the figure is init + one handler run.
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

RUNS = int(os.environ.get("RUNS", "30"))


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    event = b"{}"
    served = None  # threading.Event set when a response arrives
    response = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            self._next()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the process was stopped after its first event

    def _next(self):
        if self.path.endswith("/invocation/next"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-request")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            self.send_header("Content-Length", str(len(self.event)))
            self.end_headers()
            self.wfile.write(self.event)
        else:
            self.send_response(404)
            self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.send_response(202)
        self.end_headers()
        RuntimeApi.response = (self.path, body)
        RuntimeApi.served.set()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, event_file = sys.argv[1], sys.argv[2]
    with open(event_file, "rb") as f:
        RuntimeApi.event = f.read()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "WARN",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "SMSFLOW_TABLE": "smsflow-bench",
        "SMSFLOW_SEND_QUEUE_URL": "http://127.0.0.1:9/123456789012/send",
        "SMSFLOW_AUTOMATION_QUEUE_URL": "http://127.0.0.1:9/123456789012/automation",
        "SMSFLOW_PUBLIC_BASE_URL": "https://sms.example.com",
        "SMSFLOW_MAIL_FROM": "smsflow@example.com",
    }
    times = []
    for _ in range(RUNS):
        RuntimeApi.served = threading.Event()
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not RuntimeApi.served.wait(timeout=20):
            proc.kill()
            sys.exit(f"{binary} handled no event within 20 s")
        times.append((time.perf_counter() - start) * 1000)
        proc.kill()
        proc.wait()
    server.shutdown()
    path, body = RuntimeApi.response
    times.sort()
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    print(json.dumps({
        "binary": binary,
        "binary_bytes": os.path.getsize(binary),
        "runs": RUNS,
        "cold_start_ms": {
            "median": round(statistics.median(times), 2),
            "p90": round(p90, 2),
            "min": round(times[0], 2),
            "max": round(times[-1], 2),
        },
        "last_response": {"path": path, "body": body.decode("utf-8", "replace")[:300]},
    }, indent=2))


if __name__ == "__main__":
    main()
