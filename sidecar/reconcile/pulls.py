"""Ask each order platform for the orders of a time range (docs/reconcile.md, "Order pulls").

- Shopify: Admin GraphQL ``orders`` query, cursor pagination (``pageInfo.endCursor``), filtered
  with ``created_at:>=... created_at:<...``; cost-based throttling: each answer's
  ``extensions.cost.throttleStatus`` says what is left of the bucket and how fast it refills,
  and a query waits until its requested cost is available; a ``THROTTLED`` error waits the
  same way and is retried. Backfill reads the order again through the REST Admin API
  (``orders/{id}.json``), whose shape is the webhook's, so the webhook mapping applies as is.
- WooCommerce: REST ``GET /wp-json/wc/v3/orders`` with ``after``/``before``, ``page`` and
  ``per_page`` (at most 100); ``X-WP-TotalPages`` says how many pages there are. Basic auth
  with the consumer key and secret (HTTPS). The order objects are the webhook's shape.
- Stripe: ``GET /v1/checkout/sessions`` with ``created[gte]``/``created[lt]``, ``limit=100``,
  ``status=complete`` and ``starting_after`` = the last id while ``has_more``.

Every platform: ``429`` waits ``Retry-After`` seconds (or 1, 2, 4 ... s without it) and tries
again, up to ``MAX_TRIES``; any other failure of a page ends the pull there and the result says
which pages are missing (a partial pull is never reported as complete).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from formats.plan.model import OrderPull
from sidecar.reconcile.days import ReconcileError

MAX_TRIES = 5
TIMEOUT_S = 30.0
SHOPIFY_API_VERSION = "2025-10"
SHOPIFY_PAGE = 100
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class PulledOrder:
    source: str
    order_id: str  # the id our event ids use (Shopify numeric id, Woo id, Stripe payment_intent)
    value: float | None
    currency: str | None
    created_at: float
    paid: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class PullResult:
    source: str
    orders: list[PulledOrder] = field(default_factory=list)
    pages: int = 0
    complete: bool = True
    missing_pages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": len(self.orders),
            "pages": self.pages,
            "complete": self.complete,
            "missing_pages": list(self.missing_pages),
        }


class PageError(Exception):
    """One page could not be read (after the documented retries)."""


def secret(pull: OrderPull, role: str, env: dict[str, str]) -> str:
    ref = pull.credentials.get(role)
    if ref is None:
        raise ReconcileError(f"reconcile.pulls.{pull.source}.credentials.{role} is not set")
    value = env.get(ref.env, "")
    if not value:
        raise ReconcileError(
            f"{ref.where}: environment variable {ref.env} is not set (order pull of {pull.source})"
        )
    return value


def http_json(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    sleep: Sleep,
    what: str,
) -> tuple[Any, dict[str, str]]:
    """One request with the 429 retry; returns (JSON body, headers) or raises PageError."""
    delay = 1.0
    for attempt in range(1, MAX_TRIES + 1):
        req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310
                raw = resp.read()
                hdrs = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as exc:
            if exc.code == 429 and attempt < MAX_TRIES:
                sleep(_retry_after(exc.headers.get("Retry-After"), delay))
                delay *= 2
                continue
            raise PageError(f"{what}: HTTP {exc.code}{_error_detail(exc)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PageError(f"{what}: {reason}") from None
        try:
            return json.loads(raw), hdrs
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise PageError(f"{what}: the answer is not JSON") from None
    raise PageError(f"{what}: still rate limited (HTTP 429) after {MAX_TRIES} tries")


def _retry_after(header: str | None, fallback: float) -> float:
    if header:
        try:
            return min(60.0, max(0.0, float(header)))
        except ValueError:
            pass
    return fallback


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return ""
    # Stripe {"error": {"message"}}, WooCommerce {"code", "message"}, Shopify {"errors": ...}
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return f" ({err['message'][:200]})"
        if isinstance(body.get("message"), str):
            return f" ({body['message'][:200]})"
        if isinstance(body.get("errors"), str):
            return f" ({body['errors'][:200]})"
    return ""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _ts(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


# -- Shopify ---------------------------------------------------------------------------------

SHOPIFY_QUERY = """
query Orders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT) {
    edges {
      node {
        legacyResourceId
        name
        createdAt
        test
        displayFinancialStatus
        currentSubtotalPriceSet { presentmentMoney { amount currencyCode } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""".strip()
PAID = ("PAID", "PARTIALLY_REFUNDED", "REFUNDED")


def shopify_base(pull: OrderPull) -> str:
    return str(pull.settings.get("endpoint") or f"https://{pull.settings['shop']}").rstrip("/")


def pull_shopify(
    pull: OrderPull, since: float, until: float, env: dict[str, str], sleep: Sleep = time.sleep
) -> PullResult:
    token = secret(pull, "access_token", env)
    version = pull.settings.get("api_version", SHOPIFY_API_VERSION)
    url = f"{shopify_base(pull)}/admin/api/{version}/graphql.json"
    headers = {"X-Shopify-Access-Token": token, "Content-Type": "application/json"}
    search = f"created_at:>='{_iso(since)}' created_at:<'{_iso(until)}'"
    result = PullResult(pull.source)
    cursor: str | None = None
    wait_for: float = 0.0  # what the last answer said we must wait before the next query
    throttled = 0
    while True:
        page = result.pages + 1
        what = f"shopify orders page {page}" + (f" (after cursor {cursor})" if cursor else "")
        if wait_for > 0:
            sleep(wait_for)
        body = json.dumps(
            {
                "query": SHOPIFY_QUERY,
                "variables": {"first": SHOPIFY_PAGE, "after": cursor, "query": search},
            }
        ).encode()
        try:
            doc, _ = http_json("POST", url, headers, body, sleep, what)
            data, wait_for = _shopify_page(doc, what)
        except _Throttled as exc:
            throttled += 1
            if throttled >= MAX_TRIES:
                return _partial(result, f"{what}: still throttled after {MAX_TRIES} tries")
            wait_for = exc.wait_s
            continue
        except PageError as exc:
            return _partial(result, str(exc))
        throttled = 0
        result.pages += 1
        for edge in data["edges"]:
            node = edge.get("node") or {}
            money = ((node.get("currentSubtotalPriceSet") or {}).get("presentmentMoney")) or {}
            result.orders.append(
                PulledOrder(
                    pull.source,
                    str(node.get("legacyResourceId")),
                    _float(money.get("amount")),
                    money.get("currencyCode"),
                    _ts(node.get("createdAt")),
                    node.get("displayFinancialStatus") in PAID and not node.get("test"),
                    node,
                )
            )
        info = data["pageInfo"]
        if not info.get("hasNextPage"):
            return result
        cursor = info.get("endCursor")


class _Throttled(Exception):
    def __init__(self, wait_s: float) -> None:
        super().__init__(f"throttled, wait {wait_s:.1f} s")
        self.wait_s = wait_s


def _shopify_page(doc: Any, what: str) -> tuple[dict[str, Any], float]:
    """The ``orders`` connection and how long to wait before the next query (cost bucket)."""
    if not isinstance(doc, dict):
        raise PageError(f"{what}: the answer is not a JSON object")
    cost = ((doc.get("extensions") or {}).get("cost")) or {}
    status = cost.get("throttleStatus") or {}
    available = _float(status.get("currentlyAvailable"))
    rate = _float(status.get("restoreRate")) or 50.0
    requested = _float(cost.get("requestedQueryCost")) or 0.0
    errors = doc.get("errors")
    if errors:
        codes = [((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)]
        if "THROTTLED" in codes:
            missing = requested - (available or 0.0)
            raise _Throttled(missing / rate if missing > 0 else 1.0)
        message = errors[0].get("message") if isinstance(errors[0], dict) else str(errors[0])
        raise PageError(f"{what}: GraphQL error: {str(message)[:200]}")
    orders = ((doc.get("data") or {}).get("orders")) or None
    if not isinstance(orders, dict) or "edges" not in orders or "pageInfo" not in orders:
        raise PageError(f"{what}: no data.orders.edges/pageInfo in the answer")
    wait = 0.0
    if available is not None and requested and available < requested:
        wait = (requested - available) / rate
    return orders, wait


def shopify_rest_order(
    pull: OrderPull, order_id: str, env: dict[str, str], sleep: Sleep = time.sleep
) -> dict[str, Any]:
    """The order in the webhook's (REST) shape, for the backfill mapping."""
    token = secret(pull, "access_token", env)
    version = pull.settings.get("api_version", SHOPIFY_API_VERSION)
    url = f"{shopify_base(pull)}/admin/api/{version}/orders/{urllib.parse.quote(order_id)}.json"
    doc, _ = http_json(
        "GET", url, {"X-Shopify-Access-Token": token}, None, sleep, f"shopify order {order_id}"
    )
    order = doc.get("order") if isinstance(doc, dict) else None
    if not isinstance(order, dict):
        raise PageError(f"shopify order {order_id}: no 'order' in the answer")
    return order


# -- WooCommerce -----------------------------------------------------------------------------

WOO_PAID = ("processing", "completed")


def pull_woocommerce(
    pull: OrderPull,
    since: float,
    until: float,
    env: dict[str, str],
    sleep: Sleep = time.sleep,
    paid_statuses: tuple[str, ...] = WOO_PAID,
) -> PullResult:
    key = secret(pull, "consumer_key", env)
    sec = secret(pull, "consumer_secret", env)
    auth = base64.b64encode(f"{key}:{sec}".encode()).decode()
    base = str(pull.settings["url"]).rstrip("/") + "/wp-json/wc/v3/orders"
    per_page = int(pull.settings.get("per_page", 100))
    result = PullResult(pull.source)
    total_pages: int | None = None
    page = 1
    while True:
        query = urllib.parse.urlencode(
            {
                "after": _iso(since),
                "before": _iso(until),
                "page": page,
                "per_page": per_page,
                "orderby": "date",
                "order": "asc",
            }
        )
        what = f"woocommerce orders page {page}" + (f" of {total_pages}" if total_pages else "")
        try:
            doc, hdrs = http_json(
                "GET", f"{base}?{query}", {"Authorization": f"Basic {auth}"}, None, sleep, what
            )
            if not isinstance(doc, list):
                raise PageError(f"{what}: expected a JSON array of orders")
        except PageError as exc:
            rest = f" to {total_pages}" if total_pages and total_pages > page else ""
            return _partial(result, f"{exc} (pages {page}{rest} not read)")
        result.pages += 1
        if hdrs.get("x-wp-totalpages", "").isdigit():
            total_pages = int(hdrs["x-wp-totalpages"])
        for order in doc:
            if not isinstance(order, dict):
                continue
            result.orders.append(
                PulledOrder(
                    pull.source,
                    str(order.get("id")),
                    _float(order.get("total")),
                    order.get("currency"),
                    _ts(order.get("date_created_gmt", "") + "Z")
                    if order.get("date_created_gmt")
                    else _ts(order.get("date_created")),
                    order.get("status") in paid_statuses,
                    order,
                )
            )
        last = total_pages if total_pages is not None else (page if len(doc) < per_page else None)
        if last is not None and page >= last:
            return result
        if not doc:
            return result
        page += 1


# -- Stripe ----------------------------------------------------------------------------------


def pull_stripe(
    pull: OrderPull, since: float, until: float, env: dict[str, str], sleep: Sleep = time.sleep
) -> PullResult:
    key = secret(pull, "api_key", env)
    base = str(pull.settings.get("endpoint") or "https://api.stripe.com").rstrip("/")
    result = PullResult(pull.source)
    after: str | None = None
    while True:
        params = {
            "limit": 100,
            "status": "complete",
            "created[gte]": int(since),
            "created[lt]": int(until),
        }
        if after:
            params["starting_after"] = after
        what = f"stripe checkout sessions page {result.pages + 1}" + (
            f" (starting_after {after})" if after else ""
        )
        url = f"{base}/v1/checkout/sessions?{urllib.parse.urlencode(params)}"
        try:
            doc, _ = http_json("GET", url, {"Authorization": f"Bearer {key}"}, None, sleep, what)
            if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
                raise PageError(f"{what}: expected a list object with data")
        except PageError as exc:
            return _partial(result, str(exc))
        result.pages += 1
        for s in doc["data"]:
            if not isinstance(s, dict):
                continue
            amount = _float(s.get("amount_subtotal"))
            discount = _float((s.get("total_details") or {}).get("amount_discount")) or 0.0
            currency = str(s.get("currency") or "").upper() or None
            value = None
            if amount is not None and currency:
                from sidecar.webhooks.money import from_stripe_minor

                value = float(from_stripe_minor(int(amount - discount), currency))
            result.orders.append(
                PulledOrder(
                    pull.source,
                    str(s.get("payment_intent") or s.get("id")),
                    value,
                    currency,
                    float(s.get("created") or 0),
                    s.get("payment_status") in ("paid", "no_payment_required"),
                    s,
                )
            )
        if not doc.get("has_more") or not doc["data"]:
            return result
        after = str(doc["data"][-1].get("id"))


def _partial(result: PullResult, missing: str) -> PullResult:
    result.complete = False
    result.missing_pages.append(missing)
    return result


PULLERS = {"shopify": pull_shopify, "woocommerce": pull_woocommerce, "stripe": pull_stripe}
