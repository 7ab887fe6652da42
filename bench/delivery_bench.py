"""Delivery benchmark: end-to-end events/s and the backlog drain after an sGTM outage.

    python -m bench delivery_bench
    python bench/delivery_bench.py --events 2000 --backlog 120000 --runtime-backlog 2000

1. End to end: signed ``POST /v1/events`` (the sidecar under gunicorn, SQLite outbox,
   synchronous=FULL) -> the delivery worker process -> the local sGTM runtime serving the
   container generated from the example plan (``python -m runtime.dev``) -> a capture server
   playing GA4, Meta and the CRM. The clock runs from the first POST to the last captured GA4
   request. Baseline, same run: the same events posted as signed batches straight to the
   runtime's client (no sidecar, no outbox, no worker), i.e. what the tagging server alone
   sustains here. The ratio says what durability costs end to end.

2. Backlog drain: a 10-minute sGTM outage at 200 events/s leaves 120,000 events queued. They
   are enqueued (as the ingest path does, in batches), then one worker drains them into a
   contract-exact sGTM stand-in in its own process (signature checked, every destination
   acknowledged), so the figure is the sidecar side's capacity. The baseline is the arrival
   rate (200 events/s): drain / arrival says how fast a backlog clears while traffic goes on
   (recovery time = backlog / (drain - arrival)). The same drain into the real runtime is
   measured on ``--runtime-backlog`` events, because the sandboxed tags, not the sidecar,
   bound that rate; the report says so.

Client, servers and worker share this machine's cores: figures are a floor.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sgtm.harness import free_port

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "examples" / "shop" / "plan.yaml"
ARRIVAL_RATE = 200.0
OUTAGE_S = 600


def _envelope(i: int, run: str) -> dict[str, Any]:
    return {
        "schema": 1,
        "event_name": "view_item",
        "event_id": f"{run}-{i}",
        "timestamp": int(time.time() * 1000),
        "client_id": f"{1000000 + i}.1732860000",
        "session_id": "1732860000",
        "consent": {"analytics": True, "ads": True, "functional": True},
        "params": {
            "currency": "EUR",
            "value": 19.95,
            "items": [{"id": f"SKU-{i % 50}", "name": "Mug", "qty": 1, "price": 19.95}],
        },
        "user_data": {"email": f"user{i}@example.com"},
        "context": {
            "page_location": "https://shop.acme-home.example/p/mug",
            "user_agent": "Mozilla/5.0 bench",
            "ip": "203.0.113.7",
        },
    }


# -- a capture server (GA4, Meta, CRM) in this process -----------------------------------------


class Capture:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last: float = 0.0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add
            # ~40 ms to every answer on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *_a: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                dest = self.path.lstrip("/").split("/", 1)[0]
                with outer._lock:
                    outer.counts[dest] = outer.counts.get(dest, 0) + 1
                    outer.last = time.monotonic()
                body = b'{"events_received": 1}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, dest: str) -> int:
        with self._lock:
            return self.counts.get(dest, 0)


# -- the contract stand-in for sGTM (its own process) ------------------------------------------


def _stand_in(port: int, keyset_json: str, ready: Any) -> None:
    sys.path.insert(0, str(REPO))
    from formats.signing import parse_keyset, verify_request

    keyset = parse_keyset(keyset_json, source="bench")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # see Capture

        def log_message(self, *_a: Any) -> None:
            return

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not verify_request(keyset, self.headers.get("X-Sgtm-Signature"), body).ok:
                answer, status = b'{"error": "signature"}', 401
            else:
                events = json.loads(body)["events"]
                answer = json.dumps(
                    {
                        "results": [
                            {
                                "event_id": e["event_id"],
                                "destinations": {d: "success" for d in e["destinations"]},
                            }
                            for e in events
                        ],
                        "errors": [],
                    }
                ).encode()
                status = 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    httpd.serve_forever()


# -- helpers ----------------------------------------------------------------------------------


def _wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("GET", parts.path or "/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _post_all(port: int, path: str, batches: list[bytes], sign: Any, threads: int) -> int:
    """POST every batch (keep-alive, ``threads`` clients); the number of non-2xx answers."""
    queue = list(reversed(batches))
    lock = threading.Lock()
    failures = [0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            headers = {"Content-Type": "application/json", **sign(body)}
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 300:
                with lock:
                    failures[0] += 1

    ts = [threading.Thread(target=client) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return failures[0]


def _kill(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# -- 1. end to end ----------------------------------------------------------------------------


def end_to_end(tmp: Path, n_events: int, per_request: int, threads: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from formats.plan import load_plan
    from formats.signing import (
        SIGNATURE_HEADER,
        generate_keyset,
        parse_keyset,
        sign_request,
    )
    from generator.render import generate
    from sgtm.harness.vendors import vendor_hosts

    plan = load_plan(PLAN)
    out = tmp / "generated"
    for rel, text in generate(plan).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    capture = Capture()
    env = dict(os.environ, PYTHONPATH=str(REPO), SGTM_RATE_LIMITS="off", SGTM_LOG_LEVEL="ERROR")
    for ref in plan.secret_refs():
        env[ref.env] = generate_keyset("k1") if "KEYS" in ref.env else "bench-secret-value"
    env["SGTM_DELIVERY_KEYS"] = generate_keyset("delivery-1")
    (tmp / "keys.json").write_text(env["SGTM_DELIVERY_KEYS"])
    env["SGTM_CREDENTIALS"] = str(tmp / "keys.json")
    routes = [f"--route={h}={capture.url}/{d}" for h, d in vendor_hosts(plan).items()]
    rt_port = free_port()
    side_port = free_port()
    py = sys.executable
    procs: list[subprocess.Popen] = []
    result: dict[str, Any] = {}
    try:
        rt = subprocess.Popen(
            [py, "-m", "runtime.dev", str(out / "container.json"), "--port", str(rt_port), *routes],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(rt)
        _wait_http(f"http://127.0.0.1:{rt_port}/", rt)
        delivery = parse_keyset(env["SGTM_DELIVERY_KEYS"], source="bench")
        signing_keys = parse_keyset(env["WEB_SIGNING_KEYS"], source="bench")

        # Baseline: the runtime alone, fed sGTM batches of the plan's batch size directly.
        base_n = max(200, n_events // 2)
        items = []
        for i in range(base_n):
            e = _envelope(i, "base")
            e.pop("user_data")
            e.pop("schema")
            e["destinations"] = {
                "ga4": {"user_data": {}, "ip": None, "user_agent": None},
                "meta": {
                    "user_data": {"em": hashlib.sha256(b"x").hexdigest()},
                    "ip": "203.0.113.7",
                    "user_agent": "UA",
                },
                "warehouse": {"user_data": {}, "ip": None, "user_agent": None},
            }
            items.append(e)
        size = plan.delivery.batch_size
        bodies = [
            json.dumps(
                {"schema": 1, "sent_at": int(time.time() * 1000), "events": items[k : k + size]}
            ).encode()
            for k in range(0, base_n, size)
        ]
        t0 = time.monotonic()
        fails = _post_all(
            rt_port,
            plan.delivery.client_path,
            bodies,
            lambda b: {SIGNATURE_HEADER: sign_request(delivery, b)},
            1,
        )
        base_s = time.monotonic() - t0
        result["baseline_runtime_events_s"] = base_n / base_s
        result["baseline_failures"] = fails

        # The whole path.
        env.update(
            SGTM_PLAN=str(PLAN),
            SGTM_OUTBOX=str(tmp / "e2e.sqlite"),
            SGTM_COLLECT_URL=f"http://127.0.0.1:{rt_port}{plan.delivery.client_path}",
            PORT=str(side_port),
            WORKERS="2",
            THREADS="4",
        )
        side = subprocess.Popen(
            [py, "-m", "sgtm.cli", "serve", str(PLAN), "--port", str(side_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(side)
        _wait_http(f"http://127.0.0.1:{side_port}/readyz", side)
        worker = subprocess.Popen(
            [py, "-m", "sgtm.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(worker)
        time.sleep(2.0)  # let the worker import and start polling
        ga4_before = capture.count("ga4")
        evs = [_envelope(i, "e2e") for i in range(n_events)]
        bodies = [
            json.dumps(evs[k : k + per_request]).encode() for k in range(0, n_events, per_request)
        ]
        t0 = time.monotonic()
        fails = _post_all(
            side_port,
            "/v1/events",
            bodies,
            lambda b: {SIGNATURE_HEADER: sign_request(signing_keys, b)},
            threads,
        )
        ingest_s = time.monotonic() - t0
        deadline = time.monotonic() + max(120, n_events / 20)
        while capture.count("ga4") - ga4_before < n_events and time.monotonic() < deadline:
            time.sleep(0.05)
        got = capture.count("ga4") - ga4_before
        total_s = capture.last - t0
        result.update(
            e2e_events=n_events,
            e2e_delivered_ga4=got,
            e2e_failures=fails,
            ingest_events_s=n_events / ingest_s,
            e2e_events_s=got / total_s,
            e2e_seconds=total_s,
        )
        # Per destination for the record (Meta is at 50% rollout in the example plan).
        result["captured"] = dict(sorted(capture.counts.items()))
    finally:
        for p in reversed(procs):
            _kill(p)
        capture.httpd.shutdown()
    return result


# -- 2. backlog drain -------------------------------------------------------------------------


def fill_backlog(path: Path, n: int, synchronous: str) -> tuple[Any, float]:
    sys.path.insert(0, str(REPO))
    from sidecar.store.base import OutboxRecord
    from sidecar.store.sqlite import SqliteStore

    store = SqliteStore(path, synchronous=synchronous)
    now = time.time()
    t0 = time.monotonic()
    chunk = 500
    for k in range(0, n, chunk):
        records = []
        for i in range(k, min(n, k + chunk)):
            env = _envelope(i, "bl")
            env.pop("user_data")
            env.pop("schema")
            dests = ("ga4", "meta", "warehouse") if i % 2 else ("ga4", "warehouse")
            env["destinations"] = {
                d: {"user_data": {}, "ip": None, "user_agent": None} for d in dests
            }
            records.append(
                OutboxRecord(
                    event_id=env["event_id"],
                    event_name="view_item",
                    source="web",
                    envelope=env,
                    destinations=dests,
                    decision={"bench": True},
                    plan_version="1.0.0",
                    accepted_at=now,
                    dedupe_keys=(env["event_id"],),
                )
            )
        store.enqueue(records, 48 * 3600)
    return store, time.monotonic() - t0


def drain(
    store: Any, collect_url: str, keyset_json: str, batch_size: int, timeout_s: float = 30.0
) -> tuple[float, Any]:
    from formats.plan import load_plan
    from formats.signing import parse_keyset
    from sidecar.delivery.policy import RetryPolicy
    from sidecar.delivery.transport import HttpTransport
    from sidecar.delivery.worker import Worker

    worker = Worker(
        store,
        parse_keyset(keyset_json, source="bench"),
        RetryPolicy.from_plan(load_plan(PLAN)),
        HttpTransport(collect_url, timeout_s=timeout_s),
        batch_size=batch_size,
        rng=random.Random(1),
    )
    worker.start()
    t0 = time.monotonic()
    stats = worker.run(until_idle=True)
    worker.transport.close()
    return time.monotonic() - t0, stats


def backlog(tmp: Path, n: int, batch_size: int, synchronous: str) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from formats.signing import generate_keyset

    keyset_json = generate_keyset("delivery-1")
    store, fill_s = fill_backlog(tmp / "backlog.sqlite", n, synchronous)
    port = free_port()
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    server = ctx.Process(target=_stand_in, args=(port, keyset_json, ready), daemon=True)
    server.start()
    ready.wait(30)
    try:
        seconds, stats = drain(
            store, f"http://127.0.0.1:{port}/s2s/events", keyset_json, batch_size
        )
    finally:
        server.terminate()
        server.join(10)
    counts = store.counts()
    store.close()
    rate = n / seconds
    return {
        "backlog_events": n,
        "fill_events_s": n / fill_s,
        "drain_seconds": seconds,
        "drain_events_s": rate,
        "drain_destinations_s": stats.succeeded / seconds,
        "batches": stats.batches,
        "left": {k: v for k, v in counts.items() if k != "succeeded"},
        "drain_vs_arrival": rate / ARRIVAL_RATE,
        "recovery_s_while_arriving": n / (rate - ARRIVAL_RATE) if rate > ARRIVAL_RATE else None,
    }


def runtime_backlog(tmp: Path, n: int, batch_size: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from formats.plan import load_plan
    from formats.signing import generate_keyset
    from generator.render import generate
    from sgtm.harness.vendors import vendor_hosts

    plan = load_plan(PLAN)
    out = tmp / "generated-rb"
    for rel, text in generate(plan).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    keyset_json = generate_keyset("delivery-1")
    (tmp / "rb-keys.json").write_text(keyset_json)
    capture = Capture()
    env = dict(os.environ, PYTHONPATH=str(REPO), SGTM_CREDENTIALS=str(tmp / "rb-keys.json"))
    port = free_port()
    routes = [f"--route={h}={capture.url}/{d}" for h, d in vendor_hosts(plan).items()]
    rt = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.dev",
            str(out / "container.json"),
            "--port",
            str(port),
            *routes,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/", rt)
        store, _ = fill_backlog(tmp / "rbacklog.sqlite", n, "FULL")
        seconds, stats = drain(
            store, f"http://127.0.0.1:{port}/s2s/events", keyset_json, batch_size
        )
        store.close()
    finally:
        _kill(rt)
        capture.httpd.shutdown()
    rate = n / seconds
    return {
        "runtime_backlog_events": n,
        "runtime_drain_events_s": rate,
        "runtime_drain_acknowledged": stats.succeeded,
        "runtime_120k_minutes": ARRIVAL_RATE * OUTAGE_S / rate / 60,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="delivery_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600, help="end-to-end events")
    parser.add_argument("--per-request", type=int, default=20, help="events per POST /v1/events")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument(
        "--backlog",
        type=int,
        default=int(ARRIVAL_RATE * OUTAGE_S),
        help="queued events to drain (default: 10 min at 200/s = 120000)",
    )
    parser.add_argument(
        "--runtime-backlog",
        type=int,
        default=600,
        help="events drained through the real runtime (slow: sandboxed tags)",
    )
    parser.add_argument("--batch-size", type=int, default=20, help="worker batch size")
    parser.add_argument("--synchronous", default="FULL", choices=("FULL", "NORMAL"))
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory(prefix="delivery-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        if not args.skip_e2e:
            e2e = end_to_end(tmp, args.events, args.per_request, args.threads)
            print(
                f"end to end ({args.events} view_item events, {args.per_request} per POST, "
                f"{args.threads} clients; sidecar gunicorn 2x4, 1 worker process, local runtime)"
            )
            print(
                f"  sidecar ingest          {e2e['ingest_events_s']:9.0f} events/s "
                f"({e2e['e2e_failures']} failed requests)"
            )
            print(
                f"  /v1/events -> GA4 seen  {e2e['e2e_events_s']:9.0f} events/s "
                f"({e2e['e2e_delivered_ga4']}/{args.events} in {e2e['e2e_seconds']:.1f} s)"
            )
            print(
                f"  baseline: runtime alone {e2e['baseline_runtime_events_s']:9.0f} events/s "
                f"(signed batches straight to the client)"
            )
            print(
                f"  ratio end-to-end / runtime alone: "
                f"{e2e['e2e_events_s'] / e2e['baseline_runtime_events_s']:.2f}"
            )
            print(f"  captured requests: {e2e['captured']}")
        bl = backlog(tmp, args.backlog, args.batch_size, args.synchronous)
        full = int(ARRIVAL_RATE * OUTAGE_S)
        scale = (
            f"= {OUTAGE_S // 60} min at {ARRIVAL_RATE:.0f}/s"
            if bl["backlog_events"] == full
            else f"SCALED DOWN from {full} (--backlog)"
        )
        print(
            f"backlog drain ({bl['backlog_events']} events queued {scale}; SQLite "
            f"synchronous={args.synchronous}; batch {args.batch_size}; contract stand-in for "
            "sGTM in its own process)"
        )
        print(f"  enqueue (as ingest)     {bl['fill_events_s']:9.0f} events/s")
        print(
            f"  drain                   {bl['drain_events_s']:9.0f} events/s, "
            f"{bl['drain_destinations_s']:.0f} destinations/s, {bl['drain_seconds']:.1f} s, "
            f"{bl['batches']} batches; left pending: {bl['left'] or 'none'}"
        )
        rec = bl["recovery_s_while_arriving"]
        print(
            f"  baseline: arrival rate  {ARRIVAL_RATE:9.0f} events/s; ratio drain / arrival: "
            f"{bl['drain_vs_arrival']:.1f}; backlog cleared in "
            + (f"{rec:.0f} s while traffic continues" if rec else "never (drain <= arrival)")
        )
        if args.runtime_backlog:
            rb = runtime_backlog(tmp, args.runtime_backlog, args.batch_size)
            print(
                f"  through the real local runtime ({rb['runtime_backlog_events']} events): "
                f"{rb['runtime_drain_events_s']:.0f} events/s -> 120,000 would take "
                f"{rb['runtime_120k_minutes']:.1f} min; the sandboxed tags bound it, not the "
                "sidecar"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
