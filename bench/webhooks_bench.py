"""Order webhook benchmark: latency of a Shopify ``orders/paid`` webhook (verify, map, identity
join, consent, hashing, durable dedupe, answer) against one signed ``POST /v1/events`` purchase
envelope on the same sidecar, measured in the same run.

    python -m bench webhooks_bench
    python bench/webhooks_bench.py --requests 400 --concurrency 4

One sidecar under gunicorn (``sidecar.gunicorn_conf``, 2 workers x 4 threads, SQLite WAL
synchronous=FULL) on 127.0.0.1. Every webhook is a different order; half of them find a
browser context posted beforehand (``/v1/context``), half fall back to the plan's policy. The
baseline posts an envelope of the same order through the Event API. The load client shares the
machine's cores with the server, so absolute figures are a floor; the ratio carries over, and
the p99 is compared with Shopify's 5-second delivery budget.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sgtm.harness import free_port

REPO = Path(__file__).resolve().parent.parent
ORDER = REPO / "tests" / "webhooks" / "fixtures" / "shopify" / "paid_basic.input.json"
ORIGIN = "https://shop.acme-home.example"
SHOPIFY_BUDGET_MS = 5000.0


def _order(i: int) -> dict[str, Any]:
    order = copy.deepcopy(json.loads(ORDER.read_text(encoding="utf-8"))["payload"])
    order["id"] = 7_000_000_000_000 + i
    order["checkout_token"] = f"bench-checkout-{i:08d}"
    order["token"] = f"bench-order-{i:08d}"
    return order


def _envelope(i: int) -> dict[str, Any]:
    return {
        "schema": 1,
        "event_name": "purchase",
        "event_id": f"bench-events-{i}",
        "timestamp": 1718193807000,
        "client_id": f"{i}.1718190000",
        "session_id": "1718190000",
        "consent": {"analytics": True, "ads": True, "functional": True},
        "params": {
            "transaction_id": str(i),
            "currency": "EUR",
            "value": 89.9,
            "tax": 15.14,
            "shipping": 4.9,
            "items": [
                {"id": "LS-NAT-M", "name": "Linen Shirt", "qty": 1, "price": 59.9},
                {"id": "SOCK-2", "name": "Socks", "qty": 2, "price": 15.0},
            ],
        },
        "user_data": {"email": "jane.doe@example.com", "phone": "+4915123456789"},
        "context": {"ip": "203.0.113.42", "user_agent": "Mozilla/5.0 bench"},
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Sidecar:
    """The sidecar under its own gunicorn settings, 2 workers x 4 threads, on 127.0.0.1."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.port = free_port()
        env = {**env, "PORT": str(self.port), "HOST": "127.0.0.1", "WORKERS": "2", "THREADS": "4"}
        self.log = (tmp / "sidecar.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:sidecar.gunicorn_conf"],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the sidecar exited with {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    time.sleep(1.0)  # one worker answered; give the other its boot time
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the sidecar did not come up")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _drive(port: int, requests: list[tuple[str, bytes, dict[str, str]]], concurrency: int):  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    queue = list(reversed(requests))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if not queue:
                    break
                path, body, headers = queue.pop()
            start = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    failures.append(response.status)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, failures, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="webhooks_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    args = parser.parse_args(argv or [])

    sys.path.insert(0, str(REPO))
    from formats import signing
    from sidecar.verification.webhook_signatures import base64_hmac

    secret = "bench-shopify-secret"
    env = {
        **os.environ,
        "SGTM_PLAN": str(REPO / "examples" / "shop" / "plan.yaml"),
        "WEB_TOKEN_KEYS": signing.generate_keyset("tk1"),
        "WEB_SIGNING_KEYS": signing.generate_keyset("sk1"),
        "SGTM_DELIVERY_KEYS": signing.generate_keyset("dk1"),
        "SHOPIFY_WEBHOOK_SECRET": secret,
        "WOOCOMMERCE_WEBHOOK_SECRET": "bench-woo-secret",
        "STRIPE_WEBHOOK_SECRET": "bench-stripe-secret",
        "GA4_API_SECRET": "bench-ga4-secret",
        "META_ACCESS_TOKEN": "bench-meta-token",
        "CRM_WEBHOOK_TOKEN": "bench-crm-token",
        "SGTM_RATE_LIMITS": "off",
        "PYTHONPATH": str(REPO),
    }
    signing_keys = signing.parse_keyset(env["WEB_SIGNING_KEYS"], source="bench")
    token_keys = signing.parse_keyset(env["WEB_TOKEN_KEYS"], source="bench")
    n = args.requests
    rows: dict[str, tuple[list[float], list[int], float]] = {}
    with tempfile.TemporaryDirectory(prefix="webhooks-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        env["SGTM_OUTBOX"] = str(tmp / "outbox.sqlite")
        server = _Sidecar(env, tmp)
        try:
            bearer = signing.issue_token(token_keys, ORIGIN, 3600)
            contexts = []
            for i in range(0, 2 * n, 2):  # every other order has a browser context
                body = json.dumps(
                    {
                        "token": f"bench-checkout-{i:08d}",
                        "client_id": f"{i}.1718190000",
                        "session_id": "1718190000",
                        "consent": {"analytics": True, "ads": True, "functional": True},
                    }
                ).encode()
                contexts.append(
                    (
                        "/v1/context",
                        body,
                        {
                            "Content-Type": "application/json",
                            "Origin": ORIGIN,
                            "Authorization": f"Bearer {bearer}",
                        },
                    )
                )
            _drive(server.port, contexts, args.concurrency)

            def hooks(offset: int) -> list[tuple[str, bytes, dict[str, str]]]:
                out = []
                for i in range(offset, offset + n):
                    body = json.dumps(_order(i)).encode()
                    headers = {
                        "Content-Type": "application/json",
                        "X-Shopify-Topic": "orders/paid",
                        "X-Shopify-Webhook-Id": f"bench-{i}",
                        "X-Shopify-Hmac-Sha256": base64_hmac(secret, body),
                    }
                    out.append(("/v1/webhooks/shopify", body, headers))
                return out

            def events(offset: int) -> list[tuple[str, bytes, dict[str, str]]]:
                out = []
                for i in range(offset, offset + n):
                    body = json.dumps(_envelope(i)).encode()
                    headers = {
                        "Content-Type": "application/json",
                        signing.SIGNATURE_HEADER: signing.sign_request(signing_keys, body),
                    }
                    out.append(("/v1/events", body, headers))
                return out

            _drive(server.port, hooks(10 * n)[:50], args.concurrency)  # warm-up, both paths
            _drive(server.port, events(10 * n)[:50], args.concurrency)
            rows["event_api"] = _drive(server.port, events(0), args.concurrency)
            rows["webhook"] = _drive(server.port, hooks(0), args.concurrency)
        finally:
            server.stop()

    print(
        f"sidecar under gunicorn on 127.0.0.1, {os.cpu_count()} cores shared with the client; "
        f"{n} requests per scenario, {args.concurrency} client threads; SQLite synchronous=FULL"
    )
    print(
        f"{'scenario':<10} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}"
    )
    stats = {}
    for name, (lat, failures, elapsed) in rows.items():
        stats[name] = {
            "rps": len(lat) / elapsed,
            "p50": _percentile(lat, 0.50) * 1000,
            "p95": _percentile(lat, 0.95) * 1000,
            "p99": _percentile(lat, 0.99) * 1000,
            "max": max(lat) * 1000,
        }
        s = stats[name]
        print(
            f"{name:<10} {s['rps']:>8.0f} {s['p50']:>8.2f} {s['p95']:>8.2f} {s['p99']:>8.2f} "
            f"{s['max']:>8.2f} {len(failures):>6}"
        )
    web, base = stats["webhook"], stats["event_api"]
    print(
        f"ratio webhook/event_api: p50 = {web['p50'] / base['p50']:.2f}x, "
        f"p99 = {web['p99'] / base['p99']:.2f}x, req/s = {web['rps'] / base['rps']:.2f}"
    )
    print(
        f"webhook p99 = {web['p99']:.1f} ms = {web['p99'] / SHOPIFY_BUDGET_MS:.2%} of Shopify's "
        "5 s budget"
    )
    failed = sum(len(f) for _, f, _ in rows.values())
    if failed:
        print(f"{failed} request(s) did not answer 200; see the server log")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
