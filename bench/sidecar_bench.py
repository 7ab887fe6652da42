"""Sidecar Event API benchmark: events/s, p50/p99 and CPU per accepted event, against a bare
Flask JSON endpoint on the same gunicorn settings, measured in the same run.

    python -m bench sidecar_bench
    python bench/sidecar_bench.py --duration 10 --concurrency 8

Both servers run under gunicorn (gthread, same workers/threads/keep-alive, access log off) on
127.0.0.1. The baseline endpoint parses the JSON body and answers a small JSON object; the
sidecar does the whole ingest path for real: signature check, validation, consent re-check,
PII hashing, audit log line, and a durable SQLite commit (synchronous=FULL, one per request)
before answering. Each scenario posts the same bytes (signed the same way) to both.

The "invalid" scenario (issue 13) posts ~0.99 MB batches of 100 events that each break the
plan in 750 places to the sidecar alone, and a valid batch of 100 in the same run as its
baseline: the ratio of their latencies (and the answer's size) shows that the work and the
answer per request are bounded, whatever the body holds.

The load client is Python threads with keep-alive connections on the same machine, so client
and servers share the cores: figures are a floor, and the ratio is what carries over. CPU time
is the servers' own (arbiter + workers, from /proc), divided by the events they accepted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sgtm.harness import free_port

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "examples" / "shop" / "plan.yaml"
WORKERS = 2
THREADS = 4
KEEPALIVE = 5


def bare_app():  # type: ignore[no-untyped-def]
    """The baseline: what any Flask JSON endpoint costs on this gunicorn."""
    from flask import Flask, jsonify, request

    app = Flask("bare")

    @app.post("/v1/events")
    def collect():  # type: ignore[no-untyped-def]
        data = request.get_json()
        return jsonify({"ok": True, "n": len(data) if isinstance(data, list) else 1})

    return app


def _wait(port: int, proc: subprocess.Popen, path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status in (200, 405):
                # one answer proves one worker; give the others the same boot time
                time.sleep(1.0)
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not come up")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its direct children (gunicorn arbiter + workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(x) for x in children.read_text().split()]
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (after the comm field)
    return total / tick


class Server:
    def __init__(
        self, kind: str, env: dict[str, str], tmp: Path, workers: int, threads: int
    ) -> None:
        self.kind = kind
        self.port = free_port()
        common = {**env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        if kind == "sidecar":
            argv = [sys.executable, "-m", "gunicorn", "-c", "python:sidecar.gunicorn_conf"]
            common.update(WORKERS=str(workers), THREADS=str(threads))
        else:
            argv = [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "-k",
                "gthread",
                "--threads",
                str(threads),
                "--keep-alive",
                str(KEEPALIVE),
                "-b",
                f"127.0.0.1:{self.port}",
                "bench.sidecar_bench:bare_app()",
            ]
        self.log = (tmp / f"{kind}.log").open("wb")
        self.proc = subprocess.Popen(argv, cwd=REPO, env=common, stdout=self.log, stderr=self.log)
        _wait(self.port, self.proc, "/healthz" if kind == "sidecar" else "/v1/events")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _envelope(event_id: str, i: int) -> dict[str, Any]:
    return {
        "schema": 1,
        "event_name": "purchase",
        "event_id": event_id,
        "timestamp": int(time.time() * 1000),
        "client_id": f"{100000 + i}.1732860000",
        "session_id": "1732860000",
        "consent": {"analytics": True, "ads": True, "functional": True},
        "params": {
            "transaction_id": event_id,
            "value": 59.9,
            "currency": "EUR",
            "items": [{"id": "SKU-1", "name": "Mug", "qty": 2, "price": 19.95}],
        },
        "user_data": {"email": f"bench{i}@example.com", "phone": "+34 612 345 678"},
        "context": {
            "page_location": "https://shop.acme-home.example/checkout",
            "user_agent": "Mozilla/5.0 bench",
            "ip": "203.0.113.7",
        },
    }


def _run(port: int, batch: int, duration: float, concurrency: int, keyset, tag: str):  # type: ignore[no-untyped-def]
    from formats import signing

    latencies: list[float] = []
    accepted = 0
    failures = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker(n: int) -> None:
        nonlocal accepted, failures
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        ok = bad = seq = 0
        while time.monotonic() < stop_at:
            seq += 1
            events = [_envelope(f"{tag}-{n}-{seq}-{j}", seq * 31 + j) for j in range(batch)]
            body = json.dumps(events[0] if batch == 1 else events).encode()
            headers = {
                "Content-Type": "application/json",
                signing.SIGNATURE_HEADER: signing.sign_request(keyset, body),
            }
            start = time.perf_counter()
            conn.request("POST", "/v1/events", body, headers)
            response = conn.getresponse()
            payload = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200:
                bad += 1
                continue
            results = json.loads(payload).get("results")
            ok += sum(1 for r in results if r["status"] == "accepted") if results else batch
        conn.close()
        with lock:
            latencies.extend(mine)
            accepted += ok
            failures += bad

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return latencies, accepted, failures, elapsed


def _invalid_batch(tag: str) -> list[dict[str, Any]]:
    """100 events, each with 150 items of 5 wrong types: ~0.99 MB, 75,000 errors in all."""
    bad_item = {"id": 1, "name": 2, "category": 3, "qty": "x", "price": "y"}
    events = []
    for j in range(100):
        event = _envelope(f"{tag}-{j}", j)
        event["params"]["items"] = [bad_item] * 150
        events.append(event)
    return events


def _run_bodies(port: int, make, duration: float, concurrency: int, keyset):  # type: ignore[no-untyped-def]
    """Post the batches ``make(tag)`` returns; latencies, answers' bytes, non-200s, elapsed."""
    from formats import signing

    latencies: list[float] = []
    sizes: list[int] = []
    failures = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker(n: int) -> None:
        nonlocal failures
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        got: list[int] = []
        bad = seq = 0
        while time.monotonic() < stop_at:
            seq += 1
            body = json.dumps(make(f"{n}-{seq}-{time.monotonic_ns()}")).encode()
            headers = {
                "Content-Type": "application/json",
                signing.SIGNATURE_HEADER: signing.sign_request(keyset, body),
            }
            start = time.perf_counter()
            conn.request("POST", "/v1/events", body, headers)
            response = conn.getresponse()
            payload = response.read()
            mine.append(time.perf_counter() - start)
            got.append(len(payload))
            bad += response.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            sizes.extend(got)
            failures += bad

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, sizes, failures, time.perf_counter() - began


def _invalid_scenario(server: Server, duration: float, concurrency: int, keyset) -> list[str]:  # type: ignore[no-untyped-def]
    valid = lambda tag: [_envelope(f"v-{tag}-{j}", j) for j in range(100)]  # noqa: E731
    lines = []
    figures = {}
    for name, make in (("valid100", valid), ("invalid100", _invalid_batch)):
        _run_bodies(server.port, make, 1.0, concurrency, keyset)  # warm-up
        cpu0 = _cpu_seconds(server.proc.pid)
        lat, sizes, failures, elapsed = _run_bodies(
            server.port, make, duration, concurrency, keyset
        )
        cpu = _cpu_seconds(server.proc.pid) - cpu0
        figures[name] = (lat, sizes, failures, elapsed, cpu)
        lines.append(
            f"{name:<10} sidecar  {len(lat) / elapsed:>8.1f} req/s  p50 "
            f"{_percentile(lat, 0.5) * 1000:>8.1f} ms  p99 {_percentile(lat, 0.99) * 1000:>8.1f} ms"
            f"  cpu {cpu * 1000 / max(1, len(lat)):>8.1f} ms/req  answer "
            f"{statistics.fmean(sizes) / 1000:>7.1f} kB  non-200 {failures}"
        )
    v, i = figures["valid100"], figures["invalid100"]
    lines.append(
        f"ratio invalid100/valid100: p50 = {_percentile(i[0], 0.5) / _percentile(v[0], 0.5):.2f}x, "
        f"p99 = {_percentile(i[0], 0.99) / _percentile(v[0], 0.99):.2f}x, "
        f"cpu per request = {(i[4] / len(i[0])) / (v[4] / len(v[0])):.2f}x, "
        f"answer size = {statistics.fmean(i[1]) / statistics.fmean(v[1]):.2f}x"
    )
    return lines


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sidecar_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn workers (both)")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads per worker (both)")
    args = parser.parse_args(argv or [])

    sys.path.insert(0, str(REPO))
    from formats import signing

    env = {**os.environ}
    env.update(
        {
            "SGTM_PLAN": str(PLAN),
            "WEB_TOKEN_KEYS": signing.generate_keyset("tk1"),
            "WEB_SIGNING_KEYS": signing.generate_keyset("sk1"),
            "SGTM_DELIVERY_KEYS": signing.generate_keyset("dk1"),
            "SHOPIFY_WEBHOOK_SECRET": "bench-shopify-secret",
            "WOOCOMMERCE_WEBHOOK_SECRET": "bench-woo-secret",
            "STRIPE_WEBHOOK_SECRET": "bench-stripe-secret",
            "GA4_API_SECRET": "bench-ga4-secret",
            "META_ACCESS_TOKEN": "bench-meta-token",
            "CRM_WEBHOOK_TOKEN": "bench-crm-token",
            "SGTM_RATE_LIMITS": "off",
            "PYTHONPATH": str(REPO),
        }
    )
    keyset = signing.parse_keyset(env["WEB_SIGNING_KEYS"], source="bench")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sidecar-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        env["SGTM_OUTBOX"] = str(tmp / "outbox.sqlite")
        servers = {
            kind: Server(kind, env, tmp, args.workers, args.threads) for kind in ("bare", "sidecar")
        }
        try:
            invalid_lines = _invalid_scenario(
                servers["sidecar"], args.duration, args.concurrency, keyset
            )
            for batch in (1, 20):
                for kind, server in servers.items():
                    tag = f"{kind}-w{batch}"
                    _run(server.port, batch, 1.0, args.concurrency, keyset, tag)  # warm-up
                    cpu0 = _cpu_seconds(server.proc.pid)
                    lat, accepted, failures, elapsed = _run(
                        server.port, batch, args.duration, args.concurrency, keyset, tag + "m"
                    )
                    cpu = _cpu_seconds(server.proc.pid) - cpu0
                    rows.append(
                        {
                            "scenario": "single" if batch == 1 else f"batch{batch}",
                            "server": kind,
                            "requests_s": len(lat) / elapsed,
                            "events_s": accepted / elapsed,
                            "p50_ms": _percentile(lat, 0.50) * 1000,
                            "p99_ms": _percentile(lat, 0.99) * 1000,
                            "cpu_ms_event": cpu * 1000 / accepted if accepted else float("nan"),
                            "failures": failures,
                            "mean_ms": statistics.fmean(lat) * 1000,
                        }
                    )
        finally:
            for server in servers.values():
                server.stop()

    print(
        f"gunicorn gthread -w {args.workers} --threads {args.threads} on 127.0.0.1, {os.cpu_count()} cores "
        f"shared with the client; {args.concurrency} client threads, {args.duration:g} s per run; "
        "sidecar outbox SQLite WAL synchronous=FULL"
    )
    header = f"{'scenario':<9} {'server':<8} {'req/s':>8} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/ev':>10} {'errors':>6}"
    print(header)
    for r in rows:
        print(
            f"{r['scenario']:<9} {r['server']:<8} {r['requests_s']:>8.0f} {r['events_s']:>9.0f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['cpu_ms_event']:>10.3f} {r['failures']:>6}"
        )
    for scenario in ("single", "batch20"):
        bare = next(r for r in rows if r["scenario"] == scenario and r["server"] == "bare")
        side = next(r for r in rows if r["scenario"] == scenario and r["server"] == "sidecar")
        print(
            f"ratio {scenario}: sidecar/bare events/s = {side['events_s'] / bare['events_s']:.3f}, "
            f"p99 = {side['p99_ms'] / bare['p99_ms']:.2f}x, "
            f"cpu per event = {side['cpu_ms_event'] / bare['cpu_ms_event']:.1f}x"
        )
    for line in invalid_lines:
        print(line)
    failed = sum(r["failures"] for r in rows)
    if failed:
        print(f"{failed} request(s) did not answer 200; see the server logs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
