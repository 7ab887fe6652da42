"""What ingest now records for reconciliation: duplicates answered and the webhook join,
through the real app (tests/webhooks fixtures), read back through the reconciliation API."""

from __future__ import annotations

import copy

from formats.plan.loader import load_plan
from tests.conftest import EXAMPLE_PLAN
from tests.webhooks.conftest import clock, load_fixture, make_shop, shop_store  # noqa: F401, F811


def _order() -> dict:
    return copy.deepcopy(load_fixture("shopify", "paid_basic")["payload"])


def test_webhook_join_and_duplicates_are_recorded(shop_store):  # noqa: F811
    shop, store = shop_store
    first = shop.shopify("orders/paid", _order(), webhook_id="wh-1")
    assert first.status_code == 200 and first.get_json()["status"] == "accepted"
    (event,) = first.get_json()["events"]
    # the same order delivered again (new webhook id): answered duplicate from the ledger
    again = shop.shopify("orders/paid", _order(), webhook_id="wh-2")
    assert again.get_json()["status"] == "duplicate"
    path = store.event_path(event["event_id"])
    assert path.join == event["join"]  # as answered to Shopify: "attributes" or "none"
    (dup,) = path.duplicates
    assert (dup.source, dup.transaction_id, dup.key) == ("shopify", path.order_id, "ledger")
    assert [d.event_id for d in store.duplicates(0, 2e9)] == [event["event_id"]]


def test_event_api_duplicate_is_recorded_with_its_transaction(sqlite_store):
    from sidecar.ingest import Pipeline

    store, plan = sqlite_store, load_plan(EXAMPLE_PLAN)
    envelope = {
        "schema": 1,
        "event_name": "purchase",
        "event_id": "web-t-1",
        "timestamp": 1_718_193_000_000,
        "consent": {"analytics": True},
        "params": {
            "transaction_id": "T-1",
            "value": 5.0,
            "currency": "EUR",
            "items": [{"id": "A", "qty": 1, "price": 5.0}],
        },
    }
    pipe = Pipeline(plan, store, clock=lambda: 1_718_193_100.0)
    assert [r.status for r in pipe.ingest([envelope, dict(envelope)], "web")] == [
        "accepted",
        "duplicate",
    ]
    (dup,) = store.duplicates(0, 2e9)
    assert (dup.event_id, dup.source, dup.transaction_id, dup.key) == (
        "web-t-1",
        "web",
        "T-1",
        "web-t-1",
    )
