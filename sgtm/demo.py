"""`sgtm demo`: the whole loop on one machine, with embedded defaults, in seconds.

plan -> `sgtm generate` (temp dir) -> the local sGTM runtime serving the container, its vendor
hosts routed to a local capture server -> the sidecar (in-process HTTP server, SQLite outbox)
-> a signed Shopify order webhook and a few browser events (one without ads consent) -> the
delivery worker -> per destination: what GA4, Meta, Google Ads, the warehouse and the CRM would
have received, with the consent decisions.

Secrets are generated for the run and live only in this process's environment and a temp
directory that is removed at the end; nothing is written to the repository.

``LocalLoop`` is the same loop as a reusable object (the bench and the end-to-end tests).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from formats.plan import PlanError
from formats.plan.model import Plan

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PLAN = REPO / "examples" / "shop" / "plan.yaml"
DELIVERY_KID = "delivery-1"  # the first key id the generated client accepts by default
ORIGIN_FALLBACK = "https://shop.example.com"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole loop locally and show what each destination would receive",
        description="Generate the container from the plan, serve it with the local runtime, "
        "start the sidecar, send a signed Shopify order webhook and browser events, deliver, "
        "and print per destination what it would have received, with consent decisions. "
        "Nothing leaves 127.0.0.1; secrets are throwaway.",
    )
    p.add_argument(
        "--plan", default=str(DEFAULT_PLAN), help="tracking plan (default: the example shop)"
    )
    p.add_argument("--keep", metavar="DIR", help="keep the generated files and outbox in DIR")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


# -- the capture server: plays every vendor endpoint ------------------------------------------


@dataclass
class Captured:
    destination: str
    method: str
    path: str
    body: Any
    at: float = 0.0  # wall-clock time it arrived


class CaptureServer:
    """One local HTTP server; each routed vendor host gets its own path prefix."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []  # answered 200: what the vendor accepted
        self.refused: list[Captured] = []  # answered with a scripted failure
        self.fail: dict[str, int] = {}  # destination -> status to answer (tests, the bench)
        self.delay_s: dict[str, float] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add
            # ~40 ms to every answer on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size) if size else b""
                prefix, _, rest = self.path.lstrip("/").partition("/")
                path = "/" + rest.split("?", 1)[0]
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                if outer.delay_s.get(prefix):
                    time.sleep(outer.delay_s[prefix])
                status = outer.fail.get(prefix, 200)
                seen = Captured(prefix, self.command, path, body, time.time())
                with outer._lock:
                    (outer.requests if status == 200 else outer.refused).append(seen)
                answer = b'{"events_received": 1}' if status == 200 else b'{"error": "test"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_PUT = do_POST  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def for_destination(self, name: str) -> list[Captured]:
        with self._lock:
            return [r for r in self.requests if r.destination == name]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def local_key_file(plan: Plan, delivery_keyset: str) -> str:
    """The sGTM key file of a local run: the delivery keyset plus a throwaway key for every
    http destination's body signing key id (docs/destinations.md)."""
    keys = json.loads(delivery_keyset)
    for dest in plan.destinations.values():
        if dest.settings.get("signing_key_id"):
            secret = base64.b64encode(secrets.token_bytes(32)).decode()
            keys["keys"].setdefault(str(dest.settings["signing_key_id"]), secret)
    return json.dumps(keys)


def vendor_hosts(plan: Plan) -> dict[str, str]:
    """Host each destination's tag calls -> destination name (for --route)."""
    hosts: dict[str, str] = {}
    for name, dest in sorted(plan.destinations.items()):
        if dest.kind == "ga4":
            hosts["region1.google-analytics.com"] = name
            hosts["www.google-analytics.com"] = name
        elif dest.kind == "meta_capi":
            hosts["graph.facebook.com"] = name
        elif dest.kind == "google_ads":
            hosts["googleads.googleapis.com"] = name
        elif dest.kind == "http":
            host = urlsplit(str(dest.settings.get("url", ""))).hostname
            if host:
                hosts[host] = name
    return hosts


# -- the loop ---------------------------------------------------------------------------------


@dataclass
class LocalLoop:
    plan_path: str
    workdir: Path
    batch_size: int | None = None
    synchronous: str = "FULL"
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> LocalLoop:
        from formats.plan.loader import load_plan  # ruamel.yaml: not for `sgtm --help`
        from formats.signing import generate_keyset, parse_keyset
        from generator.render import generate
        from runtime.dev import serve
        from runtime.host import LOCAL_GOOGLE_TOKEN_ENV
        from sidecar.store.sqlite import SqliteStore

        self.plan = load_plan(self.plan_path)
        out = self.workdir / "generated"
        for rel, text in generate(self.plan).items():
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.env = self._throwaway_secrets(generate_keyset)
        key_file = self.workdir / "sgtm-credentials.json"
        key_file.write_text(
            local_key_file(self.plan, self.env[self._delivery_var()]), encoding="utf-8"
        )
        os.chmod(key_file, 0o600)
        # What the tagging server would hold: the key file, the container's credential constants
        # (the runtime fills an empty constant from the variable of the same name) and, for
        # getGoogleAuth, a local access token. Restored when the loop closes.
        runtime_env = {"SGTM_CREDENTIALS": str(key_file), LOCAL_GOOGLE_TOKEN_ENV: "demo-token"}
        for dest in self.plan.destinations.values():
            runtime_env.update({ref.env: self.env[ref.env] for ref in dest.credentials.values()})
        self._saved_env = {k: os.environ.get(k) for k in runtime_env}
        os.environ.update(runtime_env)

        self.capture = CaptureServer()
        routes = {h: f"{self.capture.url}/{d}" for h, d in vendor_hosts(self.plan).items()}
        self.sgtm_log: list[str] = []
        self.sgtm = serve(
            out / "container.json", routes=routes, debug=True, log=self.sgtm_log.append
        ).start()
        self.collect_url = self.sgtm.url + self.plan.delivery.client_path

        self.store = SqliteStore(self.workdir / "outbox.sqlite", synchronous=self.synchronous)
        self._start_sidecar()
        self.signing = parse_keyset(self.env["WEB_SIGNING_KEYS"], source="demo")
        self.tokens = parse_keyset(self.env["WEB_TOKEN_KEYS"], source="demo")
        return self

    def _delivery_var(self) -> str:
        return self.plan.delivery.keys.env if self.plan.delivery.keys else "SGTM_DELIVERY_KEYS"

    def _throwaway_secrets(self, generate_keyset: Any) -> dict[str, str]:
        env: dict[str, str] = {}
        for ref in self.plan.secret_refs():
            name = ref.env
            if "KEYS" in name:  # keysets: token keys, signing keys, the delivery keyset
                env[name] = generate_keyset("k1")
            else:
                env[name] = "demo-" + secrets.token_urlsafe(24)
        env[self._delivery_var()] = generate_keyset(DELIVERY_KID)
        return env

    def _start_sidecar(self) -> None:
        from werkzeug.serving import make_server

        from sidecar.app import create_app
        from sidecar.config import Config

        config = Config(
            plan_path=self.plan_path,
            outbox=str(self.workdir / "outbox.sqlite"),
            collect_url=self.collect_url,
            environ=dict(self.env),
            store=self.store,
            rate_limits=False,
            log_stream=io.StringIO(),  # the demo prints its own summary
            log_level="ERROR",
        )
        self.app = create_app(config)
        self.http = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_quiet_handler()
        )
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def worker(self, **kw: Any) -> Any:
        from sidecar.delivery.runner import build_worker

        env = {**self.env, "SGTM_PLAN": self.plan_path, "SGTM_COLLECT_URL": self.collect_url}
        if self.batch_size:
            kw.setdefault("batch_size", self.batch_size)
        return build_worker(env, store=self.store, **kw)

    # -- what a shop sends ------------------------------------------------------------------

    def origin(self) -> str:
        for source in self.plan.sources.values():
            origins = source.settings.get("allowed_origins") or source.settings.get("origins")
            if source.kind == "web" and origins:
                return str(origins[0])
        return ORIGIN_FALLBACK

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        # self.url is our own http://127.0.0.1 server: no other scheme can reach here.
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def browser(self, path: str, doc: Any) -> tuple[int, Any]:
        from formats.signing import issue_token

        origin = self.origin()
        token = issue_token(self.tokens, origin, 900)
        return self.post(
            path,
            json.dumps(doc).encode(),
            {
                "Content-Type": "application/json",
                "Origin": origin,
                "Authorization": f"Bearer {token}",
                "User-Agent": "Mozilla/5.0 (demo browser)",
            },
        )

    def server(self, doc: Any) -> tuple[int, Any]:
        from formats.signing import SIGNATURE_HEADER, sign_request_v2

        body = json.dumps(doc).encode()
        return self.post(
            "/v1/events",
            body,
            {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_request_v2(self.signing, "POST", "/v1/events", body),
            },
        )

    def shopify(self, order: dict[str, Any], topic: str = "orders/paid") -> tuple[int, Any]:
        body = json.dumps(order).encode()
        secret = next(
            (
                self.env[r.env]
                for s in self.plan.sources.values()
                if s.kind == "shopify"
                for r in s.secrets.values()
            ),
            "",
        )
        mac = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return self.post(
            "/v1/webhooks/shopify",
            body,
            {
                "Content-Type": "application/json",
                "X-Shopify-Hmac-Sha256": mac,
                "X-Shopify-Topic": topic,
                "X-Shopify-Webhook-Id": f"wh-{order['id']}",
                "X-Shopify-Shop-Domain": "acme-home.myshopify.com",
            },
        )

    def deliver(self, worker: Any = None) -> Any:
        """Run the worker until nothing is due now (retries scheduled later are left queued)."""
        worker = worker or self.worker()
        worker.start()
        while worker.run_once():
            pass
        return worker

    def close(self) -> None:
        # Only what start() got to: a plan that does not load leaves nothing running.
        for part, method in (
            ("http", "shutdown"),
            ("sgtm", "close"),
            ("capture", "close"),
            ("store", "close"),
        ):
            if not hasattr(self, part):
                continue
            try:
                getattr(getattr(self, part), method)()
            except Exception:  # noqa: BLE001, S112 - best effort on the way out
                continue
        # The throwaway delivery key never outlives the run, even with --keep.
        (self.workdir / "sgtm-credentials.json").unlink(missing_ok=True)
        for k, v in getattr(self, "_saved_env", {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _quiet_handler() -> type:
    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_request(self, *_args: Any, **_kw: Any) -> None:
            return

    return Quiet


# -- the demo script --------------------------------------------------------------------------


def browser_event(name: str, event_id: str, consent: dict[str, bool], **params: Any) -> dict:
    now_ms = int(time.time() * 1000)
    return {
        "schema": 1,
        "event_name": name,
        "event_id": event_id,
        "timestamp": now_ms,
        "client_id": "1234567890.1732860000",
        "session_id": "1732860000",
        "consent": consent,
        "params": params,
        "context": {
            "page_location": "https://shop.acme-home.example/products/mug",
            "language": "es-ES",
            "fbp": "fb.1.1732860000.123",
        },
    }


def shopify_order(order_id: int, checkout_token: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())

    def money(v: str) -> dict[str, Any]:
        return {
            "shop_money": {"amount": v, "currency_code": "EUR"},
            "presentment_money": {"amount": v, "currency_code": "EUR"},
        }

    return {
        "id": order_id,
        "name": f"#{order_id}",
        "order_number": order_id,
        "checkout_token": checkout_token,
        "cart_token": None,
        "created_at": now,
        "processed_at": now,
        "currency": "EUR",
        "presentment_currency": "EUR",
        "financial_status": "paid",
        "test": False,
        "source_name": "web",
        "email": "ana.garcia@example.com",
        "phone": "+34 612 345 678",
        "browser_ip": "203.0.113.7",
        "customer_locale": "es-ES",
        "client_details": {"browser_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (demo)"},
        "note_attributes": [{"name": "ga_client_id", "value": "1234567890.1732860000"}],
        "taxes_included": True,
        "subtotal_price": "39.90",
        "total_discounts": "0.00",
        "total_tax": "6.92",
        "total_price": "44.80",
        "subtotal_price_set": money("39.90"),
        "total_tax_set": money("6.92"),
        "total_price_set": money("44.80"),
        "total_discounts_set": money("0.00"),
        "total_shipping_price_set": money("4.90"),
        "shipping_lines": [
            {
                "price": "4.90",
                "price_set": money("4.90"),
                "discounted_price": "4.90",
                "discounted_price_set": money("4.90"),
            }
        ],
        "customer": {
            "id": 7001,
            "email": "ana.garcia@example.com",
            "first_name": "Ana",
            "last_name": "García",
        },
        "billing_address": {
            "first_name": "Ana",
            "last_name": "García",
            "city": "Madrid",
            "zip": "28001",
            "country_code": "ES",
            "province_code": "M",
        },
        "line_items": [
            {
                "id": 1,
                "sku": "MUG-1",
                "product_id": 11,
                "variant_id": 111,
                "title": "Stoneware Mug",
                "variant_title": "Blue",
                "vendor": "Acme",
                "quantity": 2,
                "price": "19.95",
                "price_set": money("19.95"),
                "total_discount": "0.00",
                "total_discount_set": money("0.00"),
                "discount_allocations": [],
            }
        ],
        "refunds": [],
    }


def run(args: argparse.Namespace) -> int:
    from sgtm.demo_day import demo_step, print_demo_step

    started = time.monotonic()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sgtm-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    loop = LocalLoop(str(args.plan), workdir)
    try:
        try:
            loop.start()
        except PlanError as exc:
            print(exc.report(), file=sys.stderr)
            return 1
        except Exception as exc:  # noqa: BLE001 - any start-up failure is reported, not raised
            print(
                f"sgtm demo: cannot start the local loop: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 1
        sent = _send(loop)
        worker = loop.deliver()
        report = _report(loop, sent, worker, time.monotonic() - started)
        reconciled = demo_step(loop.plan, args.keep)  # sidecar/reconcile/demo_day.py
        report["reconcile"] = {k: v for k, v in reconciled.items() if k != "table"}
    finally:
        loop.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.format == "json":
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print(report)
        print_demo_step(reconciled)
    return 0 if report["ok"] else 1


def _send(loop: LocalLoop) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    all_in = {"analytics": True, "ads": True, "functional": True}
    no_ads = {"analytics": True, "ads": False, "functional": True}
    item = [
        {"id": "MUG-1", "name": "Stoneware Mug", "category": "Kitchen", "qty": 1, "price": 19.95}
    ]
    events = [
        (
            "browser",
            browser_event(
                "view_item", "demo-view-1", all_in, currency="EUR", value=19.95, items=item
            ),
        ),
        (
            "browser",
            browser_event(
                "add_to_cart",
                "demo-cart-1",
                all_in,
                currency="EUR",
                value=39.9,
                items=[{**item[0], "qty": 2}],
            ),
        ),
        (
            "browser (no ads consent)",
            browser_event(
                "begin_checkout",
                "demo-checkout-1",
                no_ads,
                currency="EUR",
                value=39.9,
                items=[{**item[0], "qty": 2}],
            ),
        ),
    ]
    for how, ev in events:
        status, answer = loop.browser("/v1/events", ev)
        sent.append(
            {
                "via": how,
                "event_id": ev["event_id"],
                "event_name": ev["event_name"],
                "http": status,
                "answer": _brief(answer),
            }
        )
    # The browser leaves its identity and consent for the checkout (the hybrid join) ...
    token = "demo-checkout-" + secrets.token_hex(6)
    status, answer = loop.browser(
        "/v1/context",
        {
            "token": token,
            "client_id": "1234567890.1732860000",
            "fbp": "fb.1.1732860000.123",
            "consent": {"analytics": True, "ads": True, "functional": True},
        },
    )
    sent.append(
        {
            "via": "browser /v1/context",
            "event_id": "-",
            "event_name": "context",
            "http": status,
            "answer": _brief(answer),
        }
    )
    # ... then the shop's backend reports the paid order by webhook, signed by Shopify's secret.
    order = shopify_order(1001, token)
    status, answer = loop.shopify(order)
    sent.append(
        {
            "via": "Shopify webhook orders/paid",
            "event_id": _first_id(answer),
            "event_name": "purchase",
            "http": status,
            "answer": _brief(answer),
        }
    )
    # Shopify retries webhooks: the same delivery again is answered as a duplicate.
    status, answer = loop.shopify(order)
    sent.append(
        {
            "via": "Shopify webhook (retry)",
            "event_id": _first_id(answer),
            "event_name": "purchase",
            "http": status,
            "answer": _brief(answer),
        }
    )
    return sent


def _first_id(answer: Any) -> str:
    if isinstance(answer, dict):
        for r in answer.get("results") or answer.get("events") or []:
            if isinstance(r, dict) and r.get("event_id"):
                return str(r["event_id"])
    return "-"


def _brief(answer: Any) -> Any:
    if isinstance(answer, dict) and ("results" in answer or "events" in answer):
        rows = answer.get("results") or answer.get("events") or []
        return [
            {k: r.get(k) for k in ("event_id", "status", "destinations", "join") if k in r}
            for r in rows
            if isinstance(r, dict)
        ]
    if isinstance(answer, dict) and "error" in answer:
        return {"error": answer["error"].get("message")}
    return answer


def _report(loop: LocalLoop, sent: list[dict[str, Any]], worker: Any, took: float) -> dict:
    store = loop.store
    event_ids = sorted({s["event_id"] for s in sent if s["event_id"] not in ("-", "")})
    ledger = {}
    decisions = {}
    for eid in event_ids:
        entry = store.ledger(eid)
        if entry is None:
            continue
        ledger[eid] = {
            "event_name": entry.event_name,
            "source": entry.source,
            "status": entry.status,
            "destinations": {
                d: {
                    "state": s.state,
                    "attempts": s.attempts,
                    "reason": s.last_reason if s.state != "succeeded" else "",
                }
                for d, s in entry.destinations.items()
            },
            "decided": dict(entry.decided),
        }
        row = (
            store._read()
            .execute("SELECT decision FROM events WHERE event_id = ?", (eid,))
            .fetchone()
        )
        decisions[eid] = _decision_summary(json.loads(row[0]) if row else {})
    received: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in sorted(loop.plan.destinations):
        for req in loop.capture.for_destination(name):
            received[name].append(
                {
                    "request": f"{req.method} {req.path}",
                    "summary": _summarise(loop.plan, name, req.body),
                }
            )
    for table, rows in sorted(loop.sgtm.runtime.env.bigquery.items()):
        owner = next(
            (n for n, d in loop.plan.destinations.items() if d.kind == "bigquery"), "warehouse"
        )
        for row in rows:
            received[owner].append(
                {
                    "request": f"BigQuery.insert {table}",
                    "summary": _summarise(loop.plan, owner, row),
                }
            )
    tag_errors = _tag_messages(loop.sgtm_log)
    accepted = [s for s in sent if s["http"] in (200, 202)]
    ok = len(accepted) == len(sent) and bool(ledger) and any(received.values())
    return {
        "ok": ok,
        "seconds": round(took, 2),
        "plan": f"{loop.plan.name} {loop.plan.version}",
        "sent": sent,
        "decisions": decisions,
        "tag_errors": tag_errors,
        "ledger": ledger,
        "received": {k: received.get(k, []) for k in sorted(loop.plan.destinations)},
        "worker": {
            "batches": worker.stats.batches,
            "acknowledged": worker.stats.succeeded,
            "skipped": worker.stats.filtered,
            "to_retry": worker.stats.failed,
            "dead_lettered": worker.stats.aborted,
        },
    }


def _tag_messages(lines: list[str]) -> list[str]:
    """What the tags logged about events they did not deliver (their logToConsole lines)."""
    out = set()
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            doc = json.loads(line[start:])
        except ValueError:
            continue
        if (
            isinstance(doc, dict)
            and doc.get("Type") == "Message"
            and doc.get("TraceId")
            and not str(doc.get("Message", "")).startswith("skipped")  # consent/scope, not failure
        ):
            out.add(f"{doc.get('Name')}: {doc.get('EventName')}: {doc.get('Message')}")
    return sorted(out)


def _decision_summary(decision: dict[str, Any]) -> dict[str, str]:
    """The audit record in two lines: each purpose's verdict and source, then each destination."""
    purposes = decision.get("purposes") or {}
    dests = decision.get("destinations") or {}
    return {
        "purposes": ", ".join(
            f"{p}={'granted' if v.get('granted') else 'denied'} ({v.get('source', '?')})"
            for p, v in sorted(purposes.items())
            if isinstance(v, dict)
        ),
        "destinations": ", ".join(f"{d}={v}" for d, v in sorted(dests.items())),
    }


def _summarise(plan: Plan, destination: str, body: Any) -> str:
    """One line per request: event names, ids and which identifiers travelled (hashed)."""
    if not isinstance(body, dict):
        return str(body)[:160]
    kind = plan.destinations[destination].kind if destination in plan.destinations else ""
    if kind == "ga4":
        names = [e.get("name") for e in body.get("events", [])]
        params = (body.get("events") or [{}])[0].get("params", {})
        tid = params.get("transaction_id")
        return (
            f"events={names} client_id={body.get('client_id')}"
            + (f" transaction_id={tid} value={params.get('value')}" if tid else "")
            + f" consent={body.get('consent')}"
        )
    if kind == "meta_capi":
        parts = []
        for e in body.get("data", []):
            ud = e.get("user_data") or {}
            parts.append(
                f"{e.get('event_name')} event_id={e.get('event_id')} "
                f"user_data=[{', '.join(sorted(ud))}] (hashed)"
            )
        return "; ".join(parts)
    if kind == "bigquery":
        params = body.get("params")
        if isinstance(params, str):  # the warehouse row stores params as a JSON string
            try:
                params = json.loads(params)
            except ValueError:
                params = {}
        params = params if isinstance(params, dict) else {}
        return (
            f"row event={body.get('event_name')} event_id={body.get('event_id')} "
            f"transaction_id={body.get('transaction_id') or params.get('transaction_id', '-')}"
        )
    if kind == "http":
        ud = body.get("user_data") or {}
        return (
            f"{body.get('event_name')} event_id={body.get('event_id')} "
            f"user_data=[{', '.join(sorted(ud))}]"
        )
    return json.dumps(body, sort_keys=True)[:160]


def _print(report: dict[str, Any]) -> None:
    w = sys.stdout.write
    w(f"sgtm demo: plan {report['plan']}, everything on 127.0.0.1, throwaway secrets\n\n")
    w("1. Sent to the sidecar\n")
    for s in report["sent"]:
        w(f"   {s['via']:30} {s['event_name']:15} {s['event_id']:34} HTTP {s['http']}\n")
        if isinstance(s["answer"], list):
            for r in s["answer"]:
                dests = r.get("destinations") or {}
                shown = ", ".join(f"{d}={v}" for d, v in sorted(dests.items()))
                w(f"   {'':30} -> {r.get('status')}" + (f": {shown}" if shown else "") + "\n")
        elif isinstance(s["answer"], dict) and "error" in s["answer"]:
            w(f"   {'':30} -> {s['answer']['error']}\n")
    w("\n2. Consent decisions (from the outbox's audit record)\n")
    for eid, dec in report["decisions"].items():
        w(f"   {eid}\n      purposes:     {dec['purposes']}\n")
        w(f"      destinations: {dec['destinations']}\n")
    w("\n3. What each destination would have received (captured locally)\n")
    for dest, reqs in report["received"].items():
        w(f"   {dest}: {len(reqs)} request(s)\n")
        for r in reqs:
            w(f"      {r['request']}\n         {r['summary']}\n")
    w("\n4. Delivery ledger\n")
    for eid, e in report["ledger"].items():
        w(f"   {eid} ({e['event_name']}, {e['source']}): {e['status']}\n")
        for d, s in e["destinations"].items():
            extra = f" - {s['reason']}" if s["reason"] else ""
            w(f"      {d:12} {s['state']:10} attempts={s['attempts']}{extra}\n")
    if report["tag_errors"]:
        w(
            "\n   The sGTM tags said why they failed (the sidecar retries those destinations alone\n"
            "   until their retry window ends, then dead-letters them: see `sgtm dlq list`):\n"
        )
        for line in report["tag_errors"]:
            w(f"      {line}\n")
    wk = report["worker"]
    w(
        f"\n{wk['batches']} batch(es): {wk['acknowledged']} acknowledged, {wk['skipped']} skipped "
        f"by consent, {wk['to_retry']} scheduled for retry, {wk['dead_lettered']} dead-lettered; "
        f"{report['seconds']} s\n"
    )
