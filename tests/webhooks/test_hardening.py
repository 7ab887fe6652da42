"""Webhook findings of the adversarial review (issue 13): a webhook that cannot be queued writes
nothing but its quarantine record, and an authentic webhook holding a lone surrogate is neither
a 500 nor a 4xx."""

from __future__ import annotations

import json

from formats import signing
from tests.webhooks.conftest import ORIGIN
from tests.webhooks.test_identity import CHECKOUT_TOKEN, SHOPIFY_ORDER, browser_context, payload

ORDER_KEY = "order:shopify:5678901234567"


def test_an_unqueueable_webhook_writes_no_order_context(shop_store):
    shop, store = shop_store
    assert shop.context(browser_context()).status_code == 200
    order = payload("shopify", "paid_basic")
    assert order["checkout_token"] == CHECKOUT_TOKEN
    order["total_price_set"]["presentment_money"]["amount"] = "-5.00"
    order["subtotal_price_set"]["presentment_money"]["amount"] = "-5.00"
    answer = shop.shopify("orders/paid", order)
    # authentic, so never a 4xx: kept in the quarantine, and nothing else written
    assert answer.status_code == 202 and answer.get_json()["status"] == "quarantined"
    assert store.get_context(ORDER_KEY) is None


def test_an_accepted_webhook_still_keeps_the_order_context_for_refunds(shop_store):
    shop, store = shop_store
    shop.context(browser_context())
    answer = shop.shopify("orders/paid", payload("shopify", "paid_basic"))
    assert answer.status_code == 200, answer.get_json()
    assert store.get_context(ORDER_KEY) is not None


def test_lone_surrogate_in_an_authentic_shopify_order_is_accepted_repaired(shop_store):
    shop, store = shop_store
    # Consent from the browser's context, so that Meta and Google hash the name.
    shop.context(browser_context())
    raw = json.dumps(payload("shopify", "paid_basic")).encode()
    assert raw.count(b'"first_name": "Jane"') >= 1
    raw = raw.replace(b'"first_name": "Jane"', b'"first_name": "Ja\\ud800ne"')
    answer = shop.shopify("orders/paid", None, raw=raw)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "accepted"
    assert "/customer/first_name" in body["repaired"]
    assert any(r["event_id"] == SHOPIFY_ORDER for r in store_rows(store))


def store_rows(store):
    from tests.webhooks.conftest import outbox_rows

    return outbox_rows(store)


def test_lone_surrogate_in_a_browser_context_is_a_precise_400(shop_store):
    shop, store = shop_store
    body = json.dumps(browser_context()).replace('"555000111.1718190000"', '"55\\udc00"')
    r = shop.client.post(
        "/v1/context",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Origin": ORIGIN,
            "Authorization": "Bearer " + signing.issue_token(shop.token_keys, ORIGIN, 900),
        },
    )
    assert r.status_code == 400
    assert r.get_json()["error"]["errors"][0]["pointer"] == "/client_id"


def test_nan_and_endless_digits_in_a_webhook_are_quarantined_not_500(shop_store):
    shop, store = shop_store
    raw = json.dumps(payload("shopify", "paid_basic")).encode()
    nan = raw.replace(b'"id": 5678901234567', b'"id": NaN', 1)
    answer = shop.shopify("orders/paid", None, raw=nan)
    assert answer.status_code == 202 and answer.get_json()["status"] == "quarantined"
    long = raw.replace(b'"id": 5678901234567', b'"id": ' + b"9" * 5000, 1)
    answer = shop.shopify("orders/paid", None, raw=long)
    assert answer.status_code == 202
    assert "too many digits" in json.dumps(answer.get_json()["errors"])
