"""Order pulls against stand-ins that answer like the platforms' documented APIs
(docs/reconcile.md cites the pages): shapes, pagination, throttling, errors, partial pulls,
and the backfill through the webhook mappings."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
from werkzeug import Request, Response

from formats.plan.loader import load_plan_text
from sgtm.commands.reconcile import run_reconcile
from sidecar.reconcile.days import ReconcileError, day_range
from sidecar.reconcile.pulls import pull_shopify, pull_stripe, pull_woocommerce
from tests.reconcile import scenario
from tests.reconcile.plans import plan_text

FIXTURES = Path(__file__).resolve().parent.parent / "webhooks" / "fixtures"
ENV = {
    "SHOPIFY_ADMIN_TOKEN": "shpat-test-0001",
    "WOO_KEY": "ck-test-0001",
    "WOO_SECRET": "cs-test-0001",
    "STRIPE_KEY": "sk-test-0001",
}
# 2026-11-30 10:00 in Madrid and the day's bounds in UTC.
CREATED = "2026-11-30T09:00:00Z"


def _plan(server):
    base = server.url_for("").rstrip("/")
    return load_plan_text(
        plan_text(
            "  pulls:\n"
            "    shopify:\n"
            "      shop: recon-test.myshopify.com\n"
            f"      endpoint: {base}\n"
            "      credentials: {access_token: SHOPIFY_ADMIN_TOKEN}\n"
            "    woocommerce:\n"
            f"      url: {base}\n"
            "      per_page: 2\n"
            "      credentials: {consumer_key: WOO_KEY, consumer_secret: WOO_SECRET}\n"
            "    stripe:\n"
            f"      endpoint: {base}\n"
            "      credentials: {api_key: STRIPE_KEY}\n"
        ),
        "recon-test.yaml",
    )


def _window():
    (w,) = day_range(scenario.DAY, None, None, "Europe/Madrid", time.time())
    return w


# -- Shopify: GraphQL orders, cursor pagination, cost-based throttling -----------------------


def _gql_node(order_id: int, amount: str, status: str = "PAID", test: bool = False) -> dict:
    return {
        "cursor": f"cur-{order_id}",
        "node": {
            "legacyResourceId": str(order_id),
            "name": f"#{order_id}",
            "createdAt": CREATED,
            "test": test,
            "displayFinancialStatus": status,
            "currentSubtotalPriceSet": {
                "presentmentMoney": {"amount": amount, "currencyCode": "EUR"}
            },
        },
    }


def _cost(available: float, requested: int = 52) -> dict:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested,
            "throttleStatus": {
                "maximumAvailable": 2000.0,
                "currentlyAvailable": available,
                "restoreRate": 100.0,
            },
        }
    }


class ShopifyStandIn:
    """Two pages; the second query is throttled once (HTTP 200 with a THROTTLED error)."""

    def __init__(self, throttle_first_try: bool = True, fail_page: int | None = None) -> None:
        self.queries: list[dict] = []
        self.throttle = throttle_first_try
        self.fail_page = fail_page

    def __call__(self, request: Request) -> Response:
        assert request.headers["X-Shopify-Access-Token"] == ENV["SHOPIFY_ADMIN_TOKEN"]
        body = json.loads(request.data)
        self.queries.append(body["variables"])
        after = body["variables"]["after"]
        page = 1 if after is None else 2
        if page == self.fail_page:
            return Response(json.dumps({"errors": "Internal error"}), 502)
        if page == 2 and self.throttle:
            self.throttle = False
            doc = {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": _cost(available=2.0),
            }
            return Response(json.dumps(doc), 200, content_type="application/json")
        if page == 1:
            edges = [_gql_node(7001, "89.90"), _gql_node(7002, "15.00", status="PENDING")]
            info = {"hasNextPage": True, "endCursor": "cur-7002"}
            cost = _cost(available=10.0)  # below the next query's cost: wait (52-10)/100 s
        else:
            assert after == "cur-7002"
            edges = [_gql_node(7003, "5.00", test=True)]
            info = {"hasNextPage": False, "endCursor": "cur-7003"}
            cost = _cost(available=1948.0)
        doc = {"data": {"orders": {"edges": edges, "pageInfo": info}}, "extensions": cost}
        return Response(json.dumps(doc), 200, content_type="application/json")


def test_shopify_pages_by_cursor_and_waits_for_the_cost_bucket(httpserver):
    stand_in = ShopifyStandIn()
    httpserver.expect_request(
        "/admin/api/2025-10/graphql.json", method="POST"
    ).respond_with_handler(stand_in)
    slept: list[float] = []
    pull = _plan(httpserver).reconcile.pulls["shopify"]
    w = _window()
    result = pull_shopify(pull, w.start, w.end, ENV, sleep=slept.append)
    assert result.complete and result.pages == 2
    assert [(o.order_id, o.value, o.paid) for o in result.orders] == [
        ("7001", 89.9, True),
        ("7002", 15.0, False),  # pending: not a purchase yet
        ("7003", 5.0, False),  # a test order
    ]
    # waits: (52 - 10) / 100 after page 1, then the THROTTLED answer's (52 - 2) / 100
    assert slept == [pytest.approx(0.42), pytest.approx(0.5)]
    assert stand_in.queries[0]["query"] == (
        "created_at:>='2026-11-29T23:00:00Z' created_at:<'2026-11-30T23:00:00Z'"
    )
    assert stand_in.queries[0]["first"] == 100


def test_shopify_failed_page_makes_a_partial_pull(httpserver):
    httpserver.expect_request("/admin/api/2025-10/graphql.json").respond_with_handler(
        ShopifyStandIn(throttle_first_try=False, fail_page=2)
    )
    pull = _plan(httpserver).reconcile.pulls["shopify"]
    w = _window()
    result = pull_shopify(pull, w.start, w.end, ENV, sleep=lambda s: None)
    assert not result.complete and len(result.orders) == 2
    assert result.missing_pages == [
        "shopify orders page 2 (after cursor cur-7002): HTTP 502 (Internal error)"
    ]


# -- WooCommerce: REST orders, page/per_page, X-WP-TotalPages, 429 Retry-After ---------------


def _woo_order(order_id: int, status: str = "processing") -> dict:
    order = copy.deepcopy(
        json.loads((FIXTURES / "woocommerce" / "processing_coupon_unicode.input.json").read_text())[
            "payload"
        ]
    )
    order.update(id=order_id, status=status, date_created_gmt="2026-11-30T09:00:00")
    return order


def _woo_handler(calls: list[dict], rate_limit_once: bool = True):
    state = {"limited": not rate_limit_once}
    pages = {1: [_woo_order(801), _woo_order(802, "pending")], 2: [_woo_order(803)]}

    def handle(request: Request) -> Response:
        calls.append(dict(request.args))
        assert request.authorization.username == ENV["WOO_KEY"]
        page = int(request.args["page"])
        if page == 2 and not state["limited"]:
            state["limited"] = True
            return Response(
                json.dumps(
                    {
                        "code": "rate_limited",
                        "message": "Too many requests",
                        "data": {"status": 429},
                    }
                ),
                429,
                headers={"Retry-After": "3"},
            )
        headers = {"X-WP-Total": "3", "X-WP-TotalPages": "2"}
        return Response(
            json.dumps(pages[page]), 200, headers=headers, content_type="application/json"
        )

    return handle


def test_woocommerce_pages_and_honours_retry_after(httpserver):
    calls: list[dict] = []
    httpserver.expect_request("/wp-json/wc/v3/orders").respond_with_handler(_woo_handler(calls))
    slept: list[float] = []
    pull = _plan(httpserver).reconcile.pulls["woocommerce"]
    w = _window()
    result = pull_woocommerce(pull, w.start, w.end, ENV, sleep=slept.append)
    assert result.complete and result.pages == 2
    assert [(o.order_id, o.paid) for o in result.orders] == [
        ("801", True),
        ("802", False),
        ("803", True),
    ]
    assert slept == [3.0]  # the 429's Retry-After
    assert [c["page"] for c in calls] == ["1", "2", "2"]
    assert calls[0]["per_page"] == "2"
    assert (calls[0]["after"], calls[0]["before"]) == (
        "2026-11-29T23:00:00Z",
        "2026-11-30T23:00:00Z",
    )


def test_woocommerce_auth_error_names_the_page_and_the_platform_message(httpserver):
    httpserver.expect_request("/wp-json/wc/v3/orders").respond_with_json(
        {
            "code": "woocommerce_rest_cannot_view",
            "message": "Sorry, you cannot list resources.",
            "data": {"status": 401},
        },
        status=401,
    )
    pull = _plan(httpserver).reconcile.pulls["woocommerce"]
    w = _window()
    result = pull_woocommerce(pull, w.start, w.end, ENV, sleep=lambda s: None)
    assert not result.complete
    assert result.missing_pages == [
        "woocommerce orders page 1: HTTP 401 (Sorry, you cannot list resources.) (pages 1 not read)"
    ]


# -- Stripe: checkout sessions list, starting_after, created range, 429 -----------------------


def _session(n: int, paid: bool = True) -> dict:
    s = copy.deepcopy(
        json.loads(
            (FIXTURES / "stripe" / "checkout_completed_payment_link.input.json").read_text()
        )["payload"]["data"]["object"]
    )
    s.update(
        id=f"cs_test_{n}",
        payment_intent=f"pi_test_{n}",
        created=int(_window().start) + 36000,
        payment_status="paid" if paid else "unpaid",
    )
    return s


def test_stripe_lists_with_starting_after_and_retries_429(httpserver):
    calls: list[dict] = []
    state = {"limited": False}

    def handle(request: Request) -> Response:
        calls.append(dict(request.args))
        assert request.headers["Authorization"] == f"Bearer {ENV['STRIPE_KEY']}"
        if not state["limited"]:
            state["limited"] = True
            err = {
                "error": {
                    "message": "Too many requests",
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                }
            }
            return Response(json.dumps(err), 429)
        if "starting_after" not in request.args:
            body = {
                "object": "list",
                "url": "/v1/checkout/sessions",
                "has_more": True,
                "data": [_session(1), _session(2, paid=False)],
            }
        else:
            assert request.args["starting_after"] == "cs_test_2"
            body = {
                "object": "list",
                "url": "/v1/checkout/sessions",
                "has_more": False,
                "data": [_session(3)],
            }
        return Response(json.dumps(body), 200, content_type="application/json")

    httpserver.expect_request("/v1/checkout/sessions").respond_with_handler(handle)
    slept: list[float] = []
    pull = _plan(httpserver).reconcile.pulls["stripe"]
    w = _window()
    result = pull_stripe(pull, w.start, w.end, ENV, sleep=slept.append)
    assert result.complete and result.pages == 2
    assert [(o.order_id, o.value, o.currency, o.paid) for o in result.orders] == [
        ("pi_test_1", 89.9, "EUR", True),
        ("pi_test_2", 89.9, "EUR", False),
        ("pi_test_3", 89.9, "EUR", True),
    ]
    assert slept == [1.0]  # no Retry-After from Stripe: backoff from 1 s
    first = calls[1]
    assert first["created[gte]"] == str(int(w.start)) and first["created[lt]"] == str(int(w.end))
    assert (first["limit"], first["status"]) == ("100", "complete")


def test_stripe_rate_limit_that_never_ends_is_a_partial_pull(httpserver):
    httpserver.expect_request("/v1/checkout/sessions").respond_with_json(
        {"error": {"message": "Too many requests", "code": "rate_limit"}}, status=429
    )
    pull = _plan(httpserver).reconcile.pulls["stripe"]
    w = _window()
    result = pull_stripe(pull, w.start, w.end, ENV, sleep=lambda s: None)
    assert result.missing_pages == ["stripe checkout sessions page 1: HTTP 429 (Too many requests)"]


def test_missing_credentials_name_the_variable(httpserver):
    pull = _plan(httpserver).reconcile.pulls["stripe"]
    with pytest.raises(ReconcileError) as err:
        pull_stripe(pull, 0, 1, {}, sleep=lambda s: None)
    assert str(err.value) == (
        "reconcile.pulls.stripe.credentials.api_key: environment variable STRIPE_KEY is not set "
        "(order pull of stripe)"
    )


# -- the whole loop: missing orders listed, then backfilled through the mappings -------------


def test_pull_lists_missing_orders_and_backfill_ingests_them(httpserver, sqlite_store):
    scenario.build(sqlite_store)
    shopify = ShopifyStandIn(throttle_first_try=False)
    httpserver.expect_request("/admin/api/2025-10/graphql.json").respond_with_handler(shopify)
    rest = copy.deepcopy(
        json.loads((FIXTURES / "shopify" / "paid_basic.input.json").read_text())["payload"]
    )
    rest.update(id=7001, created_at="2026-11-30T10:00:00+01:00")
    httpserver.expect_request("/admin/api/2025-10/orders/7001.json").respond_with_json(
        {"order": rest}
    )
    calls: list[dict] = []
    httpserver.expect_request("/wp-json/wc/v3/orders").respond_with_handler(
        _woo_handler(calls, rate_limit_once=False)
    )
    httpserver.expect_request("/v1/checkout/sessions").respond_with_json(
        {"object": "list", "url": "/v1/checkout/sessions", "has_more": False, "data": [_session(9)]}
    )
    the_plan = _plan(httpserver)
    windows = day_range(scenario.DAY, None, None, "Europe/Madrid", time.time())
    report = run_reconcile(the_plan, sqlite_store, windows, pull=True, env=ENV)
    day = report.as_dict()["days"][0]
    missing = {(m["source"], m["order_id"]) for m in day["missing_orders"]}
    assert missing == {
        ("shopify", "7001"),
        ("woocommerce", "801"),
        ("woocommerce", "803"),
        ("stripe", "pi_test_9"),
    }
    assert all(not m["backfilled"] for m in day["missing_orders"])
    assert day["pulls"]["shopify"] == {
        "orders": 3,
        "pages": 2,
        "complete": True,
        "missing_pages": [],
    }

    report = run_reconcile(the_plan, sqlite_store, windows, pull=True, backfill=True, env=ENV)
    day = report.as_dict()["days"][0]
    assert {(m["source"], m["order_id"], m["backfilled"]) for m in day["missing_orders"]} == {
        ("shopify", "7001", True),
        ("woocommerce", "801", True),
        ("woocommerce", "803", True),
        ("stripe", "pi_test_9", True),
    }
    entry = sqlite_store.ledger("shopify-7001-purchase")
    assert entry.source == "shopify" and entry.order_id == "7001"
    # the same consent rules: no browser context, strict policy: meta (ads) is blocked
    path = sqlite_store.event_path("shopify-7001-purchase")
    assert path.decision["destinations"]["meta"] == "blocked_no_consent"
    # a second backfill finds nothing missing
    report = run_reconcile(the_plan, sqlite_store, windows, pull=True, backfill=True, env=ENV)
    assert report.as_dict()["days"][0]["missing_orders"] == []


def test_a_partial_pull_fails_the_run_and_says_which_pages(httpserver, sqlite_store):
    httpserver.expect_request("/admin/api/2025-10/graphql.json").respond_with_handler(
        ShopifyStandIn(throttle_first_try=False, fail_page=2)
    )
    httpserver.expect_request("/wp-json/wc/v3/orders").respond_with_json([])
    httpserver.expect_request("/v1/checkout/sessions").respond_with_json(
        {"object": "list", "url": "/v1/checkout/sessions", "has_more": False, "data": []}
    )
    windows = day_range(scenario.DAY, None, None, "Europe/Madrid", time.time())
    report = run_reconcile(_plan(httpserver), sqlite_store, windows, pull=True, env=ENV)
    assert report.failures() == [
        "2026-11-30 order pull shopify is partial: shopify orders page 2 (after cursor "
        "cur-7002): HTTP 502 (Internal error)"
    ]
    day = report.as_dict()["days"][0]
    assert day["pulls"]["woocommerce"]["complete"] is True
    # what the pages that were read show is still listed
    assert [m["order_id"] for m in day["missing_orders"]] == ["7001"]
