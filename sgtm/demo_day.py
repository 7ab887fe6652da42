"""The end of `sgtm demo`: one small simulated day, reconciled, with its HTML report.

Yesterday in the shop's time zone: eight Shopify orders through the real ingest path, some
with a browser context and some without, some with ads consent denied; Meta fails once at
noon and recovers on retry; one order's webhook is "lost" and found by the order pull, which
asks a local stand-in of the Shopify Admin API (GraphQL ``orders`` + the REST order) on
127.0.0.1 and backfills it through the webhook mapping. Then the day is reconciled and the
table printed with the path of the report. Its own SQLite outbox, apart from the loop's.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from formats.plan.model import OrderPull, Plan, SecretRef
from sgtm.commands.reconcile import run_reconcile
from sidecar.reconcile.days import day_range
from sidecar.reconcile.html import write_html
from sidecar.reconcile.render import table
from sidecar.reconcile.simulate import Order, deliver, ingest_order
from sidecar.store.sqlite import SqliteStore

NO_ADS = {"analytics": True, "ads": False, "functional": True}
LOST = "9100000000008"
TOKEN_ENV = "SGTM_DEMO_SHOPIFY_ADMIN_TOKEN"  # noqa: S105 - a variable name, not a secret


def _orders(day_start: float) -> list[Order]:
    hour = 3600.0
    return [
        Order("9100000000001", 39.9, day_start + 9 * hour),
        Order("9100000000002", 120.0, day_start + 10 * hour, consent=dict(NO_ADS)),
        Order(
            "9100000000003", 64.5, day_start + 11 * hour, browser=False, joined="none", consent={}
        ),
        Order("9100000000004", 19.95, day_start + 12 * hour),  # Meta fails, then recovers
        Order("9100000000005", 250.0, day_start + 14 * hour, joined="attributes"),
        Order(
            "9100000000006", 12.0, day_start + 16 * hour, browser=False, joined="none", consent={}
        ),
        Order("9100000000007", 89.9, day_start + 19 * hour, consent=dict(NO_ADS)),
        Order(LOST, 45.0, day_start + 21 * hour, browser=False, joined="none", consent={}),
    ]


def _deliver_all(store: SqliteStore, event_id: str, at: float, meta_fails: bool = False) -> None:
    path = store.event_path(event_id)
    if path is None:
        return
    for n, name in enumerate(sorted(path.deliveries)):
        when = at + 20 + 5 * n
        if name == "meta" and meta_fails:
            deliver(store, event_id, name, "failed", when, "HTTP 503 from graph.facebook.com", 503)
            when += 600  # the retry ten minutes later succeeds
        deliver(store, event_id, name, "succeeded", when)


class _ShopifyStandIn(BaseHTTPRequestHandler):
    """Answers like the Admin API: GraphQL ``orders`` (one page) and ``orders/{id}.json``."""

    orders: list[Order] = []

    def log_message(self, *_args: Any) -> None:
        return

    def _send(self, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        edges = [
            {
                "cursor": o.order_id,
                "node": {
                    "legacyResourceId": o.order_id,
                    "name": f"#{o.order_id[-4:]}",
                    "createdAt": datetime.fromtimestamp(o.at, UTC).isoformat(),
                    "test": False,
                    "displayFinancialStatus": "PAID",
                    "currentSubtotalPriceSet": {
                        "presentmentMoney": {"amount": f"{o.value:.2f}", "currencyCode": "EUR"}
                    },
                },
            }
            for o in self.orders
        ]
        cost = {
            "requestedQueryCost": 52,
            "actualQueryCost": 20,
            "throttleStatus": {
                "maximumAvailable": 2000.0,
                "currentlyAvailable": 1980,
                "restoreRate": 100.0,
            },
        }
        self._send(
            {
                "data": {"orders": {"edges": edges, "pageInfo": {"hasNextPage": False}}},
                "extensions": {"cost": cost},
            }
        )

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        order = next(o for o in self.orders if f"/orders/{o.order_id}.json" in self.path)
        self._send({"order": _rest_order(order)})


def _rest_order(o: Order) -> dict[str, Any]:
    """The order as the REST Admin API (and the webhook) shape it."""
    created = datetime.fromtimestamp(o.at, UTC).isoformat()
    amount = f"{o.value:.2f}"

    def money(v: str) -> dict[str, Any]:
        return {
            "shop_money": {"amount": v, "currency_code": "EUR"},
            "presentment_money": {"amount": v, "currency_code": "EUR"},
        }

    return {
        "id": int(o.order_id),
        "name": f"#{o.order_id[-4:]}",
        "created_at": created,
        "processed_at": created,
        "currency": "EUR",
        "presentment_currency": "EUR",
        "financial_status": "paid",
        "test": False,
        "email": "lost.order@example.com",
        "taxes_included": True,
        "subtotal_price": amount,
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "total_price": amount,
        "subtotal_price_set": money(amount),
        "total_tax_set": money("0.00"),
        "total_price_set": money(amount),
        "total_discounts_set": money("0.00"),
        "total_shipping_price_set": money("0.00"),
        "line_items": [
            {
                "id": 1,
                "sku": "LAMP-1",
                "product_id": 12,
                "variant_id": 121,
                "title": "Desk Lamp",
                "quantity": 1,
                "price": amount,
                "price_set": money(amount),
                "total_discount": "0.00",
                "total_discount_set": money("0.00"),
                "discount_allocations": [],
            }
        ],
        "refunds": [],
    }


def run_demo_day(plan: Plan, workdir: Path, now: float | None = None) -> dict[str, Any]:
    """Simulate, pull, backfill, deliver, reconcile; returns the table, report path and JSON."""
    now = time.time() if now is None else now
    zone = ZoneInfo(plan.reconcile.timezone)
    yesterday = (datetime.fromtimestamp(now, zone) - timedelta(days=1)).date()
    windows = day_range(yesterday.isoformat(), None, None, plan.reconcile.timezone, now)
    store = SqliteStore(workdir / "reconcile-demo.sqlite")
    orders = _orders(windows[0].start)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ShopifyStandIn)
    _ShopifyStandIn.orders = orders
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for o in orders:
            event_id = ingest_order(plan, store, o, webhook=o.order_id != LOST)
            if o.order_id != LOST:
                _deliver_all(store, event_id, o.at, meta_fails=o.order_id.endswith("4"))
        pull = OrderPull(
            "shopify",
            "shopify",
            {
                "shop": "acme-home.myshopify.com",
                "endpoint": f"http://127.0.0.1:{server.server_port}",
            },
            {"access_token": SecretRef(TOKEN_ENV, "reconcile.pulls.shopify.credentials")},
        )
        demo_plan = dataclasses.replace(
            plan,
            reconcile=dataclasses.replace(plan.reconcile, pulls={"shopify": pull}, ga4_property=""),
        )
        env = {TOKEN_ENV: "demo-token"}
        found = run_reconcile(demo_plan, store, windows, pull=True, backfill=True, env=env)
        _deliver_all(store, f"shopify-{LOST}-purchase", now - 60)
        report = run_reconcile(demo_plan, store, windows, env=env)
    finally:
        server.shutdown()
        server.server_close()
        store.close()
    for before, after in zip(found.days, report.days, strict=True):
        after.missing_orders = before.missing_orders
        after.pulls = before.pulls
    html_path = workdir / f"reconcile-{yesterday.isoformat()}.html"
    write_html(report, str(html_path))
    return {"table": table(report), "html": str(html_path), "report": report.as_dict()}


def demo_step(plan: Plan, keep: str | None) -> dict[str, Any]:
    """What `sgtm demo` calls last; the report stays (in --keep DIR or a new temp dir)."""
    import tempfile

    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="sgtm-reconcile-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return run_demo_day(plan, workdir)


def print_demo_step(result: dict[str, Any]) -> None:
    print("\nReconciliation of a simulated day (sgtm reconcile):\n")
    print(result["table"])
    print(f"\nreport: {result['html']}")
