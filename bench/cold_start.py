#!/usr/bin/env python3
"""Cold start of a Lambda function binary: exec to first event handled.

Plays the Lambda Runtime API on 127.0.0.1 (the interface the binary talks to on AWS), starts
the binary N times, hands each process one event and measures the wall time from exec until
the function posts its response. Prints median, p90, min and max in milliseconds, and the
binary's size.

    python3 bench/cold_start.py target/release/inbound-sms events/apigw-http-twilio-inbound.json

With `--moto`, the function's AWS calls go to a moto server this script starts on
127.0.0.1 (table and queues created, the fixtures' account `acme` stored with the `smsflow`
binary beside the function), so the first event is handled for real: signature checked,
text recorded, processing queued. Without it, AWS endpoints point at a closed port.

    python3 bench/cold_start.py --moto target/release/inbound-sms events/apigw-http-twilio-inbound.json
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


def start_moto(smsflow_binary):
    """Starts moto on a free port with the table, the queues and the account; returns
    (process, endpoint, table, send queue URL, automation queue URL)."""
    import socket
    import tempfile
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    moto_bin = os.path.join(root, ".venv", "bin", "moto_server")
    moto = subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    aws = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    queues = {}
    for name in ("send", "automation"):
        out = subprocess.run([os.path.join(root, ".venv", "bin", "python"), "-c",
                              "import boto3,sys; print(boto3.client('sqs', endpoint_url=sys.argv[1], region_name='us-east-1',"
                              " aws_access_key_id='bench', aws_secret_access_key='bench').create_queue(QueueName=sys.argv[2])['QueueUrl'])",
                              endpoint, f"bench-{name}"], capture_output=True, text=True, check=True)
        queues[name] = out.stdout.strip()
    with open(os.path.join(root, "smsflow.example.toml")) as f:
        config = f.read().replace('auth_token = "sandbox-auth-token"', 'auth_token = "test-auth-token"')
    work = tempfile.mkdtemp(prefix="smsflow-cold-")
    path = os.path.join(work, "smsflow.toml")
    with open(path, "w") as f:
        f.write(config)
    subprocess.run([smsflow_binary, "accounts", "push", "--config", path, "--aws", "--create-table"],
                   env={**os.environ, **aws, "SMSFLOW_TABLE": "smsflow-bench"}, check=True,
                   stdout=subprocess.DEVNULL)
    return moto, endpoint, "smsflow-bench", queues["send"], queues["automation"]


def fresh_twilio_event(template, run):
    """The Twilio webhook event with its own MessageSid, re-signed (fixtures' token), so every
    run records a new text instead of hitting the duplicate path."""
    import base64
    import hashlib
    import hmac
    import urllib.parse
    event = json.loads(json.dumps(template))
    body = event["body"]
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    params = urllib.parse.parse_qsl(body, keep_blank_values=True)
    sid = "SM%032x" % (0xC01D0000 + run + int(time.time() * 1000))
    params = [(k, sid if k in ("MessageSid", "SmsSid", "SmsMessageSid") else v) for k, v in params]
    url = "https://" + event["headers"]["host"] + event["rawPath"]
    data = url + "".join(k + v for k, v in sorted(params))
    signature = base64.b64encode(hmac.new(b"test-auth-token", data.encode(), hashlib.sha1).digest()).decode()
    event["headers"]["x-twilio-signature"] = signature
    event["body"] = base64.b64encode(urllib.parse.urlencode(params).encode()).decode()
    event["isBase64Encoded"] = True
    return json.dumps(event).encode()


def main():
    args = [a for a in sys.argv[1:] if a != "--moto"]
    use_moto = "--moto" in sys.argv[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    binary, event_file = args
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
    moto = None
    if use_moto:
        smsflow = os.path.join(os.path.dirname(binary), "smsflow")
        moto, endpoint, table, send_q, automation_q = start_moto(smsflow)
        env.update({"AWS_ENDPOINT_URL": endpoint, "SMSFLOW_TABLE": table,
                    "SMSFLOW_SEND_QUEUE_URL": send_q, "SMSFLOW_AUTOMATION_QUEUE_URL": automation_q,
                    # Signed for the API Gateway host in the event: rebuild from the request.
                    "SMSFLOW_PUBLIC_BASE_URL": ""})
    template = json.loads(RuntimeApi.event)
    times = []
    for run in range(RUNS):
        if use_moto and "x-twilio-signature" in template.get("headers", {}):
            RuntimeApi.event = fresh_twilio_event(template, run)
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
    if moto:
        moto.terminate()
        moto.wait()
    path, body = RuntimeApi.response
    times.sort()
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    print(json.dumps({
        "binary": binary,
        "binary_bytes": os.path.getsize(binary),
        "runs": RUNS,
        "aws": "moto on loopback" if use_moto else "closed port (no AWS call expected)",
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
