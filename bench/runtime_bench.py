"""Template runtime benchmark: runs per CPU-second of a tag template and the CPU per event of
``sgtm dev`` with the generated client and all its tags, each against a baseline measured in the
same run, in alternating rounds (medians quoted; the machine is shared).

    python -m bench runtime_bench            # the generated Meta tag and container
    python bench/runtime_bench.py TAG.tpl    # any tag template (run with empty data)

``SGTM_BENCH_SMOKE=1`` (``python -m bench --smoke``) runs each figure briefly, to show the
benchmark works; ``SGTM_BENCH_SECONDS``/``_REQUESTS``/``_ROUNDS`` set the effort.

Baselines: the bare engine running an empty function in a fresh QuickJS context; and one POST
straight to the local destination stand-in (the HTTP round trip without the container). The
stand-in runs in a process of its own, so CPU figures are this process's: the runtime, its HTTP
client to the destinations, and (for sgtm dev) the benchmark's own HTTP client.
The process is pinned to one core where the OS allows it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import quickjs

from runtime.container import ContainerRuntime, Resolver, load_container
from runtime.engine import Template, load_template, run_template
from runtime.environment import Environment
from runtime.host import Request, RunState

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "examples" / "shop" / "plan.yaml"
KEY = b"bench-key-0123456789abcdef012345"


class _StandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served = 0  # requests answered, to count the outbound calls an event makes

    def do_POST(self) -> None:  # noqa: N802 - stdlib hook name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/__served":
            body = str(type(self).served).encode()
        else:
            type(self).served += 1
            body = b'{"events_received":1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST  # noqa: N815

    def log_message(self, *_args: Any) -> None:
        return


class _StandInProcess:
    """The destination stand-in in a process of its own, so that the CPU time measured here is
    the runtime's (and its HTTP client's), not the stand-in server's."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.runtime_bench", "--stand-in"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"the stand-in did not start: {self.url!r}")

    def served(self) -> int:
        return int(_post(self.url + "/__served", b"", {}))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _serve_stand_in() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


def _generate() -> Path | None:
    try:
        from sgtm.cli import main as sgtm
    except ImportError:
        return None
    out = Path(tempfile.mkdtemp(prefix="sgtm-bench-"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = sgtm(["generate", str(PLAN), "-o", str(out)])
    except SystemExit:
        return None
    return out if code == 0 and (out / "container.json").exists() else None


def _sample_event() -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "schema": 1,
        "event_name": "purchase",
        "event_id": f"ord-{now}-purchase",
        "timestamp": now,
        "client_id": "1234567890.1732860000",
        "consent": {"analytics": True, "ads": True, "functional": True},
        "params": {
            "transaction_id": "1001",
            "value": 59.9,
            "currency": "EUR",
            "items": [{"id": "SKU-1", "name": "Mug", "qty": 2, "price": 19.95}],
        },
        "context": {
            "page_location": "https://shop.example.com/checkout",
            "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0 bench",
        },
        "destinations": {
            "meta": {
                "user_data": {"em": hashlib.sha256(b"ana@example.com").hexdigest()},
                "ip": "203.0.113.7",
                "user_agent": "Mozilla/5.0 bench",
            },
            "ga4": {"user_data": {}, "ip": None, "user_agent": None, "anonymized": True},
            "crm": {"user_data": {}},
        },
    }


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to cpu {cpu}"
    return "not pinned (no sched_setaffinity)"


def _cpu_rate(fn: Any, seconds: float) -> tuple[float, int]:
    """Calls of ``fn`` per CPU-second of this process (threads included), over ``seconds`` of
    CPU: on a shared machine CPU time is what the code costs, wall time is what others cost."""
    fn()  # warm-up
    count, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        fn()
        count += 1
    return count / (time.process_time() - started), count


def _capture_tag_input(
    out: Path, routes: dict[str, str], tag_type_suffix: str
) -> tuple[Template, dict[str, Any], dict[str, Any]] | None:
    """Run the generated container once and keep the (template, data, event) its Meta tag got."""
    container = load_container(out / "container.json")
    runtime = ContainerRuntime(container, Environment(routes=routes))
    captured: dict[str, Any] = {}
    original = runtime._run_event  # noqa: SLF001 - benchmark instrumentation

    def spy(event: dict[str, Any], client: str, request: Request, *rest: Any) -> Any:
        # ``*rest``: whatever else the runtime passes along (the handled request, the message
        # bus, ...), so the benchmark does not break each time that signature grows.
        resolver = Resolver(runtime, event, request, client)
        for tag in container.tags:
            if tag.type in container.templates and tag_type_suffix in tag.name:
                captured["template"] = container.templates[tag.type]
                captured["data"] = {p.get("key"): resolver.value(p) for p in tag.parameters}
                captured["event"] = event
        return original(event, client, request, *rest)

    runtime._run_event = spy  # type: ignore[method-assign]
    runtime.handle(_signed_request(out, [_sample_event()]))
    if "template" not in captured:
        return None
    return captured["template"], captured["data"], captured["event"]


def _key_id(out: Path) -> str:
    doc = json.loads((out / "container.json").read_text("utf-8"))
    for client in doc["containerVersion"].get("client") or []:
        for p in client.get("parameter") or []:
            if p.get("key") == "keyIds":
                for row in p.get("list") or []:
                    for m in row.get("map") or []:
                        if m.get("key") == "keyId":
                            return str(m.get("value"))
    return "k1"


def _signed_body(out: Path, events: list[dict[str, Any]]) -> tuple[bytes, str]:
    body = json.dumps({"schema": 1, "sent_at": int(time.time() * 1000), "events": events}).encode()
    t = str(int(time.time()))
    sig = hmac.new(KEY, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, f"t={t},kid={_key_id(out)},v1={sig}"


def _signed_request(out: Path, events: list[dict[str, Any]]) -> Request:
    body, sig = _signed_body(out, events)
    return Request(
        method="POST",
        path="/s2s/events",
        body=body,
        headers=[("X-Sgtm-Signature", sig), ("Content-Type", "application/json")],
    )


def _credentials(out: Path) -> None:
    from formats.plan.loader import load_plan
    from sgtm.harness.vendors import local_key_file

    keyfile = out / "bench-keys.json"
    delivery = json.dumps({"keys": {_key_id(out): base64.b64encode(KEY).decode()}})
    # plus a throwaway key for each http destination's body signature (docs/destinations.md)
    keyfile.write_text(local_key_file(load_plan(PLAN), delivery))
    os.environ["SGTM_CREDENTIALS"] = str(keyfile)
    os.environ.setdefault("META_ACCESS_TOKEN", "bench-token")
    os.environ.setdefault("GA4_API_SECRET", "bench-secret")
    os.environ.setdefault("CRM_WEBHOOK_TOKEN", "bench-crm")


def _hosts(out: Path) -> set[str]:
    from urllib.parse import urlsplit

    hosts = set()
    for path in (out / "templates").glob("*.tpl"):
        for url in (load_template(path).tpl.permission("send_http") or {}).get("urls") or []:
            host = urlsplit(str(url)).hostname
            if host and "*" not in host:
                hosts.add(host)
    return hosts


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _spread(xs: list[float], fmt: str = "{:.1f}") -> str:
    return "/".join(fmt.format(x) for x in (min(xs), statistics.median(xs), max(xs)))


def bench_runs(
    template: Template,
    data: dict[str, Any],
    event: dict[str, Any],
    env: Environment,
    seconds: float,
    rounds: int,
) -> None:
    def baseline() -> None:
        ctx = quickjs.Context()
        ctx.eval("(function () {})()")

    outcomes: dict[str, int] = {}

    def one_run() -> None:
        state = RunState(
            template_id=template.id,
            permissions=template.permissions,
            kind="TAG",
            env=env,
            event=json.loads(json.dumps(event)),
            request=Request(),
        )
        result = run_template(template, json.loads(json.dumps(data)), state, 10.0)
        key = result.outcome or ("error: " + (result.error or "")[:80])
        outcomes[key] = outcomes.get(key, 0) + 1

    base_rates, tag_rates = [], []
    for _ in range(rounds):  # alternating rounds: a neighbour's burst hits both sides
        base_rates.append(_cpu_rate(baseline, seconds)[0])
        tag_rates.append(_cpu_rate(one_run, seconds)[0])
    base, tag = _median(base_rates), _median(tag_rates)
    print(
        f"baseline  bare engine, empty function, fresh context: {base:10.1f} runs/CPU-s "
        f"(min/median/max {_spread(base_rates)})"
    )
    print(
        f"template  {template.source}: {tag:10.1f} runs/CPU-s "
        f"({1000.0 / tag:.3f} ms CPU/run; min/median/max {_spread(tag_rates)})"
    )
    print(f"ratio     template / baseline = {tag / base:.3f} (median of {rounds} rounds)")
    print(f"outcomes  {outcomes}")


def _post(target: str, body: bytes, headers: dict[str, str]) -> bytes:
    req = urllib.request.Request(target, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{target} answered {resp.status}")
    return answer


def bench_latency(
    url: str, body_for: Any, stand_in: _StandInProcess, requests: int, rounds: int, tags: int
) -> None:
    """CPU per event and wall latency of ``sgtm dev`` (client + tags, all in this process,
    the destination stand-in too) against one POST to the stand-in, in alternating rounds."""

    def measure(target: str, make: Any) -> tuple[float, list[float]]:
        walls = []
        cpu0 = time.process_time()
        for _ in range(requests):
            body, headers = make()
            started = time.perf_counter()
            _post(target, body, headers)
            walls.append((time.perf_counter() - started) * 1000.0)
        return (time.process_time() - cpu0) * 1000.0 / requests, walls

    # One checked request first: the figures only count if every tag really succeeds.
    body, headers = body_for()
    before = stand_in.served()
    outcome = json.loads(_post(url, body, headers))["results"][0]["destinations"]
    outbound = stand_in.served() - before
    print(f"outcomes  {outcome} ({outbound} outbound requests per event)")
    base_cpu, dev_cpu, base_wall, dev_wall = [], [], [], []
    for _ in range(rounds):
        cpu, walls = measure(stand_in.url + "/collect", lambda: (b"{}", {}))
        base_cpu.append(cpu)
        base_wall.extend(walls)
        cpu, walls = measure(url, body_for)
        dev_cpu.append(cpu)
        dev_wall.extend(walls)

    def fmt(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"p50 {statistics.median(xs):7.2f} ms  p95 {xs[max(0, int(len(xs) * 0.95) - 1)]:7.2f} ms"

    b, d = _median(base_cpu), _median(dev_cpu)
    # The event costs one inbound POST (the client side of it is about one baseline; the stand-in
    # serves the outbound ones in its own process).
    net = d - b
    print(
        f"baseline  POST to the stand-in directly: {b:6.3f} ms CPU/request "
        f"(min/median/max {_spread(base_cpu, '{:.3f}')}); wall {fmt(base_wall)}"
    )
    print(
        f"sgtm dev  one event, client + {tags} tags:   {d:6.3f} ms CPU/event "
        f"(min/median/max {_spread(dev_cpu, '{:.3f}')}); wall {fmt(dev_wall)}"
    )
    print(
        f"          without the inbound POST's client side (one baseline): {net:6.3f} ms CPU/event"
    )
    print(f"ratio     CPU sgtm dev / CPU baseline = {d / b:.1f} (median of {rounds} rounds)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--stand-in"]:
        return _serve_stand_in()
    stand_in = _StandInProcess()  # before pinning: it may use the other core
    smoke = os.environ.get("SGTM_BENCH_SMOKE") == "1"
    seconds = float(os.environ.get("SGTM_BENCH_SECONDS", "0.2" if smoke else "2"))
    requests = int(os.environ.get("SGTM_BENCH_REQUESTS", "10" if smoke else "100"))
    rounds = int(os.environ.get("SGTM_BENCH_ROUNDS", "1" if smoke else "3"))
    print(
        f"runtime bench: {_pin_one_core()}, {rounds} round(s), {seconds:g} CPU-s per rate, "
        f"{requests} requests per round{' (smoke: figures are not meaningful)' if smoke else ''}"
    )
    stand_in_url = stand_in.url
    try:
        if argv:
            template = load_template(argv[0])
            env = Environment()
            bench_runs(template, {}, {"event_name": "purchase"}, env, seconds, rounds)
            return 0
        out = _generate()
        if out is None:
            print("sgtm generate is not available: pass a tag template path", file=sys.stderr)
            return 2
        _credentials(out)
        routes = {host: stand_in_url for host in _hosts(out)}
        captured = _capture_tag_input(out, routes, "meta")
        if captured is None:
            print("the generated container has no Meta tag", file=sys.stderr)
            return 2
        template, data, event = captured
        bench_runs(template, data, event, Environment(routes=routes), seconds, rounds)

        from runtime.dev import serve

        tags = len(load_container(out / "container.json").tags)
        with serve(out / "container.json", routes=routes, log=lambda _l: None).start() as server:

            def body_for() -> tuple[bytes, dict[str, str]]:
                body, sig = _signed_body(out, [_sample_event()])
                return body, {"X-Sgtm-Signature": sig, "Content-Type": "application/json"}

            bench_latency(server.url + "/s2s/events", body_for, stand_in, requests, rounds, tags)
        return 0
    finally:
        stand_in.close()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
