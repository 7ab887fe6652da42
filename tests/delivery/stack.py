"""Real processes for the fault tests: the sidecar under gunicorn (`sgtm serve`) and the
delivery worker (`sgtm worker`), each in its own session so a test can SIGKILL exactly it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from formats import signing
from tests.conftest import EXAMPLE_PLAN, free_port
from tests.sidecar.conftest import make_env

ORIGIN = "https://shop.acme-home.example"


class Proc:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Proc:
        out = open(self.log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=out, start_new_session=True
        )
        out.close()
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # this process and its gunicorn workers, nothing else
            self.proc.wait(timeout=20)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Stack:
    def __init__(
        self,
        tmp: Path,
        collect_url: str,
        worker_timeout: float = 2.0,
        plan: Path = EXAMPLE_PLAN,
        delivery_kid: str = "dk1",
        outbox: Path | None = None,
    ) -> None:
        self.tmp = tmp
        self.env = dict(os.environ)
        self.secrets = make_env()
        self.secrets["SGTM_DELIVERY_KEYS"] = signing.generate_keyset(delivery_kid)
        self.env.update(self.secrets)
        self.port = free_port()
        self.env.update(
            SGTM_PLAN=str(plan),
            SGTM_OUTBOX=str(outbox or tmp / "outbox.sqlite"),
            SGTM_COLLECT_URL=collect_url,
            SGTM_RATE_LIMITS="off",
            PORT=str(self.port),
            WORKERS="2",
            THREADS="2",
            SGTM_LOG_LEVEL="WARNING",
        )
        self.url = f"http://127.0.0.1:{self.port}"
        cli = [sys.executable, "-m", "sgtm.cli"]
        self.sidecar = Proc(
            [*cli, "serve", str(plan), "--port", str(self.port)],
            self.env,
            tmp / "sidecar.log",
        )
        self.worker = Proc(
            [*cli, "worker", "--timeout", str(worker_timeout), "--settle", "3"],
            self.env,
            tmp / "worker.log",
        )
        self.signing_keys = signing.parse_keyset(self.secrets["WEB_SIGNING_KEYS"], source="t")
        self.token_keys = signing.parse_keyset(self.secrets["WEB_TOKEN_KEYS"], source="t")
        self.delivery_keys = signing.parse_keyset(self.secrets["SGTM_DELIVERY_KEYS"], source="t")

    def start_sidecar(self, timeout: float = 30.0) -> None:
        self.sidecar.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.sidecar.alive():
                raise AssertionError("sidecar exited:\n" + self.logs("sidecar"))
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("sidecar not ready:\n" + self.logs("sidecar"))

    def logs(self, which: str) -> str:
        path = self.tmp / f"{which}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def post(self, body: object, *, browser: bool = False, retry_s: float = 20.0) -> dict:
        """POST to /v1/events like a client that retries until it gets an answer."""
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if browser:
            headers.update(
                Origin=ORIGIN,
                Authorization="Bearer " + signing.issue_token(self.token_keys, ORIGIN, 900),
            )
        else:
            headers[signing.SIGNATURE_HEADER] = signing.sign_request(self.signing_keys, data)
        deadline = time.monotonic() + retry_s
        while True:
            req = urllib.request.Request(self.url + "/v1/events", data=data, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or time.monotonic() > deadline:
                    raise AssertionError(f"{exc.code}: {exc.read()[:500]!r}") from None
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def post_once(self, body: object) -> tuple[int, dict, dict]:
        """One signed POST /v1/events, no retry: (status, answer, headers)."""
        data = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            signing.SIGNATURE_HEADER: signing.sign_request(self.signing_keys, data),
        }
        req = urllib.request.Request(self.url + "/v1/events", data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)

    def context(self, body: dict) -> tuple[int, dict]:
        """POST /v1/context like the checkout snippet (a browser token, the shop's origin)."""
        headers = {
            "Content-Type": "application/json",
            "Origin": ORIGIN,
            "Authorization": "Bearer " + signing.issue_token(self.token_keys, ORIGIN, 900),
        }
        req = urllib.request.Request(
            self.url + "/v1/context", data=json.dumps(body).encode(), headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def get(self, path: str) -> tuple[int, dict]:
        """A GET signed as a server signs it (version 2 covers method and path; /v1/stats
        answers nothing else)."""
        sig = signing.sign_request_v2(self.signing_keys, "GET", path.split("?")[0], b"")
        request = urllib.request.Request(self.url + path, headers={signing.SIGNATURE_HEADER: sig})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def shopify(self, order: dict, topic: str = "orders/paid") -> tuple[int, dict]:
        """POST a Shopify webhook signed with the shop's secret, as Shopify (re)delivers it."""
        import base64
        import hashlib
        import hmac

        body = json.dumps(order).encode()
        secret = self.secrets["SHOPIFY_WEBHOOK_SECRET"].encode()
        mac = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": mac,
            "X-Shopify-Topic": topic,
            "X-Shopify-Webhook-Id": f"wh-{order['id']}",
            "X-Shopify-Shop-Domain": "acme-home.myshopify.com",
        }
        req = urllib.request.Request(self.url + "/v1/webhooks/shopify", data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def stop(self) -> None:
        self.worker.kill(signal.SIGTERM)
        self.sidecar.kill(signal.SIGTERM)


def event(
    event_id: str,
    *,
    ads: bool = True,
    name: str = "purchase",
    client_id: str | None = None,
    ts_ms: int | None = None,
) -> dict:
    return {
        "schema": 1,
        "event_name": name,
        "event_id": event_id,
        "timestamp": ts_ms or int(time.time() * 1000),
        "client_id": client_id or "1234567890.1732860000",
        "session_id": "1732860000",
        "consent": {"analytics": True, "ads": ads, "functional": True},
        "params": {
            "transaction_id": event_id,
            "value": 59.9,
            "currency": "EUR",
            "items": [{"id": "SKU-1", "name": "Mug", "qty": 2, "price": 19.95}],
        },
        "user_data": {"email": "ana@example.com"},
        "context": {
            "page_location": "https://shop.acme-home.example/checkout",
            "user_agent": "Mozilla/5.0 test",
            "ip": "203.0.113.7",
        },
    }
