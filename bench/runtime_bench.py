"""Template runtime benchmark: runs/s of a tag template (fresh context per run) and the latency
of one event through ``sgtm dev`` with three tags, each against a baseline measured in the same
run.

    python -m bench runtime_bench            # the generated Meta tag and container
    python bench/runtime_bench.py TAG.tpl    # any tag template (run with empty data)

Baselines: the bare engine running an empty function in a fresh QuickJS context; and one POST
straight to the local destination stand-in (the HTTP round trip without the container).
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
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import quickjs

from runtime.container import ContainerRuntime, Resolver, load_container
from runtime.engine import Sandbox, Template, load_template
from runtime.environment import Environment
from runtime.host import Request, RunState

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "examples" / "shop" / "plan.yaml"
KEY = b"bench-key-0123456789abcdef012345"


class _StandIn(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - stdlib hook name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"events_received":1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST  # noqa: N815

    def log_message(self, *_args: Any) -> None:
        return


def _stand_in() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


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


def _rate(fn: Any, seconds: float) -> tuple[float, int]:
    fn()  # warm-up
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - started), count


def _capture_tag_input(
    out: Path, routes: dict[str, str], tag_type_suffix: str
) -> tuple[Template, dict[str, Any], dict[str, Any]] | None:
    """Run the generated container once and keep the (template, data, event) its Meta tag got."""
    container = load_container(out / "container.json")
    runtime = ContainerRuntime(container, Environment(routes=routes))
    captured: dict[str, Any] = {}
    original = runtime._run_event  # noqa: SLF001 - benchmark instrumentation

    # *rest: whatever else the runtime passes along (its message bus today); the spy only
    # needs the first four, and breaking on a new argument made `make bench` fail silently.
    def spy(event: dict[str, Any], client: str, request: Request, handled: Any, *rest: Any) -> Any:
        resolver = Resolver(runtime, event, request, client)
        for tag in container.tags:
            if tag.type in container.templates and tag_type_suffix in tag.name:
                captured["template"] = container.templates[tag.type]
                captured["data"] = {p.get("key"): resolver.value(p) for p in tag.parameters}
                captured["event"] = event
        return original(event, client, request, handled, *rest)

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
    keyfile = out / "bench-keys.json"
    keyfile.write_text(json.dumps({"keys": {_key_id(out): base64.b64encode(KEY).decode()}}))
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


def _three_tags(out: Path) -> Path:
    """The generated container cut down to the Meta, GA4 and CRM tags (three tags)."""
    doc = json.loads((out / "container.json").read_text("utf-8"))
    cv = doc["containerVersion"]

    def destination(tag: dict[str, Any]) -> str:
        for p in tag.get("parameter") or []:
            if p.get("key") == "destinationName":
                return str(p.get("value"))
        return ""

    keep = [t for t in cv["tag"] if destination(t) in ("meta", "ga4", "crm")]
    cv["tag"] = keep if len(keep) == 3 else cv["tag"][:3]
    path = out / "container-three-tags.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def bench_runs(
    template: Template,
    data: dict[str, Any],
    event: dict[str, Any],
    env: Environment,
    seconds: float,
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
        result = Sandbox(template, state, 10.0).run(json.loads(json.dumps(data)))
        key = result.outcome or ("error: " + (result.error or "")[:80])
        outcomes[key] = outcomes.get(key, 0) + 1

    base_rate, base_n = _rate(baseline, seconds)
    tag_rate, tag_n = _rate(one_run, seconds)
    print(
        f"baseline  bare engine, empty function, fresh context: {base_rate:10.1f} runs/s "
        f"({base_n} runs)"
    )
    print(
        f"template  {template.source}: {tag_rate:10.1f} runs/s ({tag_n} runs, "
        f"{1000.0 / tag_rate:.2f} ms/run)"
    )
    print(f"ratio     template / baseline = {tag_rate / base_rate:.3f}")
    print(f"outcomes  {outcomes}")


def bench_latency(url: str, body_for: Any, stand_in_url: str, requests: int) -> None:
    def post(target: str, body: bytes, headers: dict[str, str]) -> float:
        started = time.perf_counter()
        req = urllib.request.Request(target, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{target} answered {resp.status}")
        return (time.perf_counter() - started) * 1000.0

    base = [post(stand_in_url + "/collect", b"{}", {}) for _ in range(requests)]
    # One checked request first: the figures only count if the three tags really succeed.
    body, headers = body_for()
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        outcome = json.loads(resp.read())["results"][0]["destinations"]
    print(f"outcomes  {outcome}")
    through = []
    for _ in range(requests):
        body, headers = body_for()
        through.append(post(url, body, headers))

    def fmt(xs: list[float]) -> str:
        xs = sorted(xs)
        return (
            f"p50 {statistics.median(xs):7.2f} ms  p95 {xs[int(len(xs) * 0.95) - 1]:7.2f} ms  "
            f"mean {statistics.fmean(xs):7.2f} ms"
        )

    print(f"baseline  POST to the stand-in directly:        {fmt(base)}")
    print(f"sgtm dev  one event, client + three tags:        {fmt(through)}")
    print(
        f"ratio     p50 sgtm dev / p50 baseline = {statistics.median(through) / statistics.median(base):.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    seconds = float(os.environ.get("SGTM_BENCH_SECONDS", "3"))
    requests = int(os.environ.get("SGTM_BENCH_REQUESTS", "200"))
    print(f"runtime bench: {_pin_one_core()}, {seconds:g}s per rate, {requests} requests")
    stand_in = _stand_in()
    stand_in_url = f"http://127.0.0.1:{stand_in.server_address[1]}"
    try:
        if argv:
            template = load_template(argv[0])
            env = Environment()
            bench_runs(template, {}, {"event_name": "purchase"}, env, seconds)
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
        bench_runs(template, data, event, Environment(routes=routes), seconds)

        from runtime.dev import serve

        with serve(_three_tags(out), routes=routes, log=lambda _l: None).start() as server:

            def body_for() -> tuple[bytes, dict[str, str]]:
                body, sig = _signed_body(out, [_sample_event()])
                return body, {"X-Sgtm-Signature": sig, "Content-Type": "application/json"}

            bench_latency(server.url + "/s2s/events", body_for, stand_in_url, requests)
        return 0
    finally:
        stand_in.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
