#!/usr/bin/env python3
"""The team inbox in a real browser (Debian's headless Chromium over WebDriver), on the
local server and on the deployed shape (the stack runner: the inbox function on its function
URL, its role enforced).

For each shape, with Mary signed in through the e-mailed link:

- inbound webhook -> alert in the page: a text from one of Mary's contacts posted as
  Twilio's signed webhook (`/_sandbox/inbound`), until the page's alert for it appears (a
  MutationObserver in the page records the time; same machine clock). Texts are spaced a
  random 0.5-3.5 s apart, so they fall anywhere in the page's 3 s poll cycle. Measured beside the
  same text's forward e-mail (webhook -> the outbox's / SES's `sent_at`), the channel the
  inbox adds to;
- the inbox page with 20 conversations: the bytes of its HTML, style sheet and script, and
  its first contentful paint (Chromium's paint timing) over repeated loads.

    python3 bench/inbox_alert.py [--bin-dir target/debug] [--runs 30] [--shape local|stack|both]

Needs /usr/bin/chromium and /usr/bin/chromedriver (scripts/install-tools.sh) and the
binaries built (`cargo build --workspace --bins`).
"""

import argparse
import json
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from stack_latency import start_stack

ROOT = Path(__file__).resolve().parent.parent
MARY = "mary@acme.example"
LONG_CODE = "+19523142318"
CONVERSATIONS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method: str, url: str, body=None, form=None, headers=None) -> tuple[int, dict, bytes]:
    data, headers = None, dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get_json(url: str) -> dict:
    return json.loads(call("GET", url)[2])


class WebDriver:
    """The few WebDriver commands the benchmark needs, over ChromeDriver's HTTP API."""

    def __init__(self):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="bench-chromium-")
        self.driver = subprocess.Popen(
            ["/usr/bin/chromedriver", f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        args = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=900,760",
            f"--user-data-dir={self.profile}",
        ]
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": args}}}
        for _ in range(100):
            try:
                answer = self.command("POST", "/session", {"capabilities": capabilities})
                self.session = answer["sessionId"]
                return
            except (urllib.error.URLError, ConnectionError, KeyError):
                time.sleep(0.1)
        raise RuntimeError("chromedriver did not start")

    def command(self, method: str, path: str, body=None):
        status, _, raw = call(method, self.base + path, body=body if body is not None else (
            {} if method == "POST" else None))
        answer = json.loads(raw)["value"]
        if status != 200:
            raise RuntimeError(f"WebDriver {path}: {answer}")
        return answer

    def goto(self, url: str):
        self.command("POST", f"/session/{self.session}/url", {"url": url})

    def run(self, script: str, *args):
        return self.command("POST", f"/session/{self.session}/execute/sync",
                            {"script": script, "args": list(args)})

    def add_cookie(self, name: str, value: str):
        cookie = {"name": name, "value": value, "path": "/", "secure": True, "httpOnly": True}
        self.command("POST", f"/session/{self.session}/cookie", {"cookie": cookie})

    def quit(self):
        try:
            self.command("DELETE", f"/session/{self.session}")
        finally:
            self.driver.terminate()
            self.driver.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


class Shape:
    """A running deployment: where its inbox, sandbox and webhooks are."""

    def __init__(self, name, inbox, inbox_public, sandbox, process, workdir):
        self.name, self.inbox, self.inbox_public = name, inbox, inbox_public
        self.sandbox, self.process, self.workdir = sandbox, process, workdir

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def local_shape(bin_dir: Path, workdir: Path) -> Shape:
    port = free_port()
    config = (ROOT / "smsflow.example.toml").read_text()
    config = config.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    config = config.replace('data_dir = ".smsflow"', f'data_dir = "{workdir}/data"')
    (workdir / "smsflow.toml").write_text(config)
    process = subprocess.Popen([str(bin_dir / "smsflow"), "serve", "--config",
                                str(workdir / "smsflow.toml")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if call("GET", base + "/healthz")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    return Shape("local", base, base, base, process, workdir)


def stack_shape(bin_dir: Path, workdir: Path) -> Shape:
    runner, urls = start_stack(bin_dir, workdir)
    inbox = urls["function_urls"]["InboxFunction"]
    return Shape("stack", inbox["local"].rstrip("/"), inbox["public"].rstrip("/"),
                 urls["sandbox"], runner, workdir)


def contacts_and_texts(shape: Shape):
    """20 of Mary's contacts, each of whom has texted once."""
    for i in range(CONVERSATIONS):
        phone = f"+1415555{2700 + i:04d}"
        call("POST", f"{shape.sandbox}/_sandbox/crm/acme/contacts",
             body={"first_name": f"Contact {i}", "last_name": "Bench", "phone": phone,
                   "owner_id": "1"})
        text(shape, phone, f"Hello from contact {i}")
    wait_for(lambda: len(emails(shape, "Hello from contact")) >= CONVERSATIONS, 120)


def text(shape: Shape, phone: str, body: str):
    status, _, answer = call("POST", f"{shape.sandbox}/_sandbox/inbound",
                             body={"from": phone, "to": LONG_CODE, "body": body})
    assert status == 200, answer


def emails(shape: Shape, containing: str) -> list:
    listing = get_json(f"{shape.sandbox}/_sandbox/emails?limit=1000")["emails"]
    return [e for e in listing if containing in (e.get("text") or "")]


def wait_for(check, seconds: float):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError("waited too long")


def sign_in(shape: Shape, browser: WebDriver):
    status, _, _ = call("POST", f"{shape.inbox}/inbox/acme/sign-in", form={"email": MARY})
    assert status == 200, status
    links = [e for e in get_json(f"{shape.sandbox}/_sandbox/emails?limit=1000")["emails"]
             if e.get("to") == [MARY] and "Sign in" in (e.get("subject") or "")]
    token = re.search(r"/link\?token=(\S+)", links[-1]["text"]).group(1)
    status, headers, _ = call("POST", f"{shape.inbox}/inbox/acme/link", form={"token": token})
    assert status == 303, status
    cookie = next(v for k, v in headers.items() if k.lower() == "set-cookie")
    name, value = cookie.split(";")[0].split("=", 1)
    browser.goto(f"{shape.inbox}/inbox/_assets/inbox.css")
    browser.add_cookie(name, value)


def page_weight(shape: Shape) -> dict:
    _, _, css = call("GET", f"{shape.inbox}/inbox/_assets/inbox.css")
    _, _, js = call("GET", f"{shape.inbox}/inbox/_assets/inbox.js")
    return {"css": len(css), "js": len(js)}


def first_paints(shape: Shape, browser: WebDriver, loads: int) -> tuple[list, int]:
    paints, html = [], 0
    for _ in range(loads):
        browser.goto(f"{shape.inbox}/inbox/acme")
        # The paint entry is recorded a moment after the page loads.
        for _ in range(100):
            entry = browser.run(
                "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                "const n = performance.getEntriesByType('navigation')[0];"
                "return [p ? p.startTime : null, n.decodedBodySize,"
                " document.querySelectorAll('ul.conversations li').length];")
            if entry[0] is not None:
                break
            time.sleep(0.02)
        assert entry[2] == CONVERSATIONS, entry
        paints.append(entry[0])
        html = entry[1]
    return paints, html


def alert_latencies(shape: Shape, browser: WebDriver, runs: int) -> tuple[list, list]:
    browser.goto(f"{shape.inbox}/inbox/acme")
    browser.run(
        "window.seen = {}; new MutationObserver(() => {"
        " for (const a of document.querySelectorAll('#alerts .alert'))"
        "  if (!(a.textContent in window.seen)) window.seen[a.textContent] = Date.now(); })"
        ".observe(document.getElementById('alerts'), {childList: true});")
    alerts, forwards = [], []
    phone = "+14155552700"
    for i in range(runs):
        body = f"Bench alert {i} at {time.time():.3f}"
        started = time.time() * 1000
        text(shape, phone, body)
        wanted = f"New text from Contact 0 Bench: {body}"
        deadline = time.time() + 60
        while time.time() < deadline:
            at = browser.run("return window.seen[arguments[0]] || null;", wanted)
            if at:
                alerts.append(at - started)
                break
            time.sleep(0.02)
        else:
            raise TimeoutError(f"no alert for {body}")
        wait_for(lambda: emails(shape, body), 30)
        forwards.append(emails(shape, body)[0]["sent_at"] - started)
        # Texts arrive at any moment of the page's 3 s poll cycle, not in step with it.
        time.sleep(random.uniform(0.5, 3.5))
    return alerts, forwards


def percentile(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(label: str, values: list) -> str:
    return (f"{label}: p50 {percentile(values, 50):,.0f} ms, p90 {percentile(values, 90):,.0f} ms,"
            f" p99 {percentile(values, 99):,.0f} ms (n={len(values)})")


def measure(shape: Shape, runs: int):
    contacts_and_texts(shape)
    browser = WebDriver()
    try:
        sign_in(shape, browser)
        paints, html = first_paints(shape, browser, 20)
        weight = page_weight(shape)
        alerts, forwards = alert_latencies(shape, browser, runs)
    finally:
        browser.quit()
    print(f"[{shape.name}] inbox page with {CONVERSATIONS} conversations: HTML {html:,} B,"
          f" CSS {weight['css']:,} B, JS {weight['js']:,} B,"
          f" total {html + weight['css'] + weight['js']:,} B (uncompressed)")
    print(f"[{shape.name}] " + summary("first contentful paint", paints))
    print(f"[{shape.name}] " + summary("inbound webhook -> alert in the page", alerts))
    print(f"[{shape.name}] " + summary("inbound webhook -> forward e-mail sent (same texts)",
                                       forwards))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default="target/debug")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--shape", choices=["local", "stack", "both"], default="both")
    args = parser.parse_args()
    bin_dir = (ROOT / args.bin_dir).resolve()
    shapes = ["local", "stack"] if args.shape == "both" else [args.shape]
    for name in shapes:
        with tempfile.TemporaryDirectory(prefix=f"bench-inbox-{name}-") as workdir:
            start = local_shape if name == "local" else stack_shape
            shape = start(bin_dir, Path(workdir))
            try:
                measure(shape, args.runs)
            finally:
                shape.stop()


if __name__ == "__main__":
    main()
