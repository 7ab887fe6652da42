"""The webhook endpoints and the identity join, through the real app on a real SQLite outbox.

Every assertion on routing reads what was actually queued per destination in the outbox."""

from __future__ import annotations

import copy
import json

import pytest

from sidecar.verification.webhook_signatures import base64_hmac
from tests.webhooks.conftest import load_fixture, outbox_rows

DAY = 86400


def payload(platform: str, name: str) -> dict:
    return copy.deepcopy(load_fixture(platform, name)["payload"])


def purchases(store) -> list[dict]:
    return [
        r
        for r in outbox_rows(store)
        if r["envelope"].get("event_name") == "purchase"
        or r["decision"].get("event_name") == "purchase"
    ]


def deliveries(store, event_id: str) -> list[str]:
    return next(r["deliveries"] for r in outbox_rows(store) if r["event_id"] == event_id)


# --- signatures: verified before anything, 401 with no side effect ---------------------------


def test_shopify_valid_signature_is_accepted(shop_store):
    shop, store = shop_store
    answer = shop.shopify("orders/paid", payload("shopify", "paid_basic"))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "accepted"
    assert [r["event_id"] for r in outbox_rows(store)] == ["shopify-5678901234567-purchase"]


@pytest.mark.parametrize("platform", ["shopify", "woocommerce", "stripe"])
def test_wrong_secret_is_401_and_nothing_is_stored(shop_store, platform):
    shop, store = shop_store
    if platform == "shopify":
        answer = shop.shopify("orders/paid", payload("shopify", "paid_basic"), secret="other")
    elif platform == "woocommerce":
        answer = shop.woocommerce(
            "order.updated", payload("woocommerce", "processing_coupon_unicode"), secret="other"
        )
    else:
        answer = shop.stripe(payload("stripe", "checkout_completed_payment_link"), secret="other")
    assert answer.status_code == 401
    body = answer.get_json()["error"]
    assert body["code"] == "invalid_signature"
    assert "does not match" in body["message"]
    assert outbox_rows(store) == []


def test_tampered_body_is_401(shop_store):
    shop, store = shop_store
    body = json.dumps(payload("shopify", "paid_basic")).encode()
    signed = shop.client.post(
        "/v1/webhooks/shopify",
        data=body.replace(b'"89.90"', b'"8.99"'),
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Hmac-Sha256": base64_hmac(shop.env["SHOPIFY_WEBHOOK_SECRET"], body),
        },
    )
    assert signed.status_code == 401
    assert outbox_rows(store) == []


def test_missing_signature_header_is_401(shop):
    answer = shop.client.post(
        "/v1/webhooks/woocommerce",
        data=json.dumps(payload("woocommerce", "processing_coupon_unicode")),
        headers={"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated"},
    )
    assert answer.status_code == 401
    assert "no signature header" in answer.get_json()["error"]["message"]


@pytest.mark.parametrize(("offset", "word"), [(-301, "too old"), (301, "in the future")])
def test_stripe_stale_and_future_timestamps_are_401(shop_store, offset, word):
    shop, store = shop_store
    t = int(shop.clock()) + offset
    answer = shop.stripe(payload("stripe", "checkout_completed_payment_link"), t=t)
    assert answer.status_code == 401
    assert word in answer.get_json()["error"]["message"]
    assert outbox_rows(store) == []


def test_stripe_tolerance_comes_from_the_plan(make_shop):
    shop, store = make_shop(
        lambda t: t.replace(
            "    secret: STRIPE_WEBHOOK_SECRET\n",
            "    secret: STRIPE_WEBHOOK_SECRET\n    tolerance_seconds: 60\n",
        )
    )
    late = shop.stripe(
        payload("stripe", "checkout_completed_payment_link"), t=int(shop.clock()) - 61
    )
    assert late.status_code == 401
    ok = shop.stripe(payload("stripe", "checkout_completed_payment_link"), t=int(shop.clock()) - 59)
    assert ok.status_code == 200


def test_reference_vectors_verify_and_then_the_payload_is_checked(make_shop, clock):
    """protocols.md §5.4 vectors: the signature passes; the tiny bodies cannot be mapped, so
    they are quarantined (202), never refused: a refused authentic body is kept nowhere."""
    shop, store = make_shop(
        env={
            "SHOPIFY_WEBHOOK_SECRET": "shpss_test_secret_123",
            "WOOCOMMERCE_WEBHOOK_SECRET": "wc_whsec_example",
            "STRIPE_WEBHOOK_SECRET": "whsec_test_secret",
        }
    )
    body = b'{"id":820982911946154508,"name":"#1001","total_price":"59.00","currency":"EUR"}'
    answer = shop.client.post(
        "/v1/webhooks/shopify",
        data=body,
        headers={
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Hmac-Sha256": "l6QdYOUEtCPzJJlwDSXOjE4I3yBlf08wqmtRCxa4WnE=",
        },
    )
    assert quarantined(answer, store) == [
        {"pointer": "/line_items", "message": "expected an array, but it is missing"}
    ]
    body = b'{"id":727,"status":"processing","currency":"USD","total":"29.35"}'
    answer = shop.client.post(
        "/v1/webhooks/woocommerce",
        data=body,
        headers={
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Signature": "wBa0YL7D+Y3yLlCHSkOEdQbxPaZuEeuoItCv6bqthRA=",
        },
    )
    assert quarantined(answer, store)[0]["pointer"] == "/line_items"
    body = b'{"id":"evt_test_1","object":"event","type":"checkout.session.completed"}'
    header = "t=1700000000,v1=ca796b857b81e24d595a4c37abf88d2fafb533a32ede6ce4cfc9b0e892a35b08"
    post = lambda: shop.client.post(  # noqa: E731
        "/v1/webhooks/stripe", data=body, headers={"Stripe-Signature": header}
    )
    assert post().status_code == 401  # the test clock is months after t
    clock.now = 1_700_000_100
    answer = post()
    assert quarantined(answer, store) == [
        {"pointer": "/data", "message": "expected an object, but it is missing"}
    ]
    items = store.quarantined()
    assert [(i.platform, i.topic) for i in items] == [
        ("shopify", "orders/paid"),
        ("woocommerce", "order.updated"),
        ("stripe", "checkout.session.completed"),
    ]
    assert items[0].body == b'{"id":820982911946154508,"name":"#1001","total_price":"59.00",' + (
        b'"currency":"EUR"}'
    )
    assert items[2].headers == {"Stripe-Signature": header}
    assert outbox_rows(store) == []


def test_woocommerce_creation_ping_is_200_and_ignored(shop_store):
    shop, store = shop_store
    answer = shop.client.post(
        "/v1/webhooks/woocommerce",
        data=b"webhook_id=42",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ignored", "reason": "WooCommerce ping for webhook 42"}
    assert outbox_rows(store) == []


def test_a_form_body_with_a_signature_is_not_a_ping(shop):
    answer = shop.client.post(
        "/v1/webhooks/woocommerce",
        data=b"webhook_id=42",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-WC-Webhook-Signature": "AAAA",
        },
    )
    assert answer.status_code == 401


# --- bad payloads: authentic ones are quarantined with the precise error, never a 4xx/500 ------


def quarantined(answer, store) -> list[dict]:
    """The answer is 202 quarantined, and the store keeps the body with the same errors."""
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "quarantined"
    item = store.quarantined_one(body["quarantine_id"])
    assert item is not None and list(item.errors) == body["errors"]
    return body["errors"]


@pytest.mark.parametrize(
    ("raw", "pointer", "fragment"),
    [
        (b"{not json", "/", "not JSON: line 1 column 2"),
        (b'{"financial_status": "paid"}', "/id", "missing"),
        (b'{"id": "A-1", "currency": 978}', "/currency", "expected a string, but it is a number"),
        (b"[]", "/", "expected an object"),
    ],
)
def test_bad_shopify_payloads_are_quarantined_with_the_precise_error(
    shop_store, raw, pointer, fragment
):
    shop, store = shop_store
    answer = shop.shopify("orders/paid", None, raw=raw)
    errors = quarantined(answer, store)
    assert errors[0]["pointer"] == pointer
    assert fragment in errors[0]["message"]
    assert outbox_rows(store) == []
    item = store.quarantined()[0]
    assert item.body == raw and item.headers["X-Shopify-Topic"] == "orders/paid"
    assert (
        item.headers["X-Shopify-Webhook-Id"] == "wh-1" and "X-Shopify-Hmac-Sha256" in item.headers
    )


def test_an_unsigned_or_wrongly_signed_body_is_not_quarantined(shop_store):
    shop, store = shop_store
    answer = shop.shopify("orders/paid", None, raw=b"{not json", secret="wrong")
    assert answer.status_code == 401
    assert store.quarantined() == []


def test_missing_topic_header_is_quarantined(shop_store):
    shop, store = shop_store
    body = json.dumps(payload("shopify", "paid_basic")).encode()
    answer = shop.client.post(
        "/v1/webhooks/shopify",
        data=body,
        headers={"X-Shopify-Hmac-Sha256": base64_hmac(shop.env["SHOPIFY_WEBHOOK_SECRET"], body)},
    )
    assert quarantined(answer, store) == [
        {"pointer": "X-Shopify-Topic", "message": "header is missing"}
    ]


def test_stripe_wrong_type_is_quarantined_naming_the_field(shop_store):
    shop, store = shop_store
    event = payload("stripe", "checkout_completed_payment_link")
    event["data"]["object"]["total_details"]["amount_tax"] = 1.5
    answer = shop.stripe(event)
    assert quarantined(answer, store)[0]["pointer"] == ("/data/object/total_details/amount_tax")


def test_a_mapped_event_that_breaks_the_plan_is_quarantined_with_the_envelope_pointer(
    shop_store,
):
    shop, store = shop_store
    order = payload("shopify", "paid_basic")
    order["discount_codes"] = [{"code": "X" * 30}] * 5  # 150 characters, clipped to 100: fine
    order["total_price_set"]["presentment_money"]["amount"] = "-5.00"
    order["subtotal_price_set"]["presentment_money"]["amount"] = "-5.00"
    answer = shop.shopify("orders/paid", order)
    errors = quarantined(answer, store)
    assert {"pointer": "/events/0/params/value", "message": errors[0]["message"]} in errors
    assert outbox_rows(store) == []


# --- dedupe: redeliveries, paid-before-created, late status changes ----------------------------


def test_same_shopify_webhook_three_times_is_one_purchase(shop_store):
    shop, store = shop_store
    order = payload("shopify", "paid_basic")
    statuses = [shop.shopify("orders/paid", order).get_json()["status"] for _ in range(3)]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    assert len(purchases(store)) == 1


def test_same_woocommerce_update_three_times_is_one_purchase(shop_store):
    shop, store = shop_store
    order = payload("woocommerce", "processing_coupon_unicode")
    for _ in range(3):
        assert shop.woocommerce("order.updated", order).status_code == 200
    assert [r["event_id"] for r in outbox_rows(store)] == ["woocommerce-727-purchase"]


def test_same_stripe_event_three_times_is_one_purchase(shop_store):
    shop, store = shop_store
    event = payload("stripe", "checkout_completed_payment_link")
    answers = [shop.stripe(event).get_json()["status"] for _ in range(3)]
    assert answers == ["accepted", "duplicate", "duplicate"]
    assert len(purchases(store)) == 1


def test_shopify_paid_before_created_is_one_purchase(make_shop):
    shop, store = make_shop(
        lambda t: t.replace(
            "purchase_topics: [orders/paid]", "purchase_topics: [orders/create, orders/paid]"
        )
    )
    order = payload("shopify", "paid_basic")
    first = shop.shopify("orders/paid", order, webhook_id="wh-paid")
    created = shop.shopify("orders/create", order, webhook_id="wh-create")
    assert first.get_json()["status"] == "accepted"
    assert created.get_json()["status"] == "duplicate"
    assert len(purchases(store)) == 1


def test_woocommerce_updated_before_created_is_one_purchase(shop_store):
    shop, store = shop_store
    order = payload("woocommerce", "processing_coupon_unicode")
    assert shop.woocommerce("order.updated", order).get_json()["status"] == "accepted"
    assert shop.woocommerce("order.created", order).get_json()["status"] == "duplicate"
    assert len(purchases(store)) == 1


def test_woocommerce_completed_after_the_dedupe_window_is_not_a_second_purchase(shop_store):
    shop, store = shop_store
    order = payload("woocommerce", "processing_coupon_unicode")
    assert shop.woocommerce("order.updated", order).get_json()["status"] == "accepted"
    shop.clock.now += 6 * DAY  # shipped a week later; the 48 h dedupe window is long gone
    order["status"] = "completed"
    answer = shop.woocommerce("order.updated", order).get_json()
    assert answer["status"] == "duplicate"
    assert len(purchases(store)) == 1


def test_woocommerce_partial_refund_then_full_refund(shop_store):
    shop, store = shop_store
    shop.woocommerce("order.updated", payload("woocommerce", "processing_coupon_unicode"))
    shop.woocommerce("order.updated", payload("woocommerce", "completed_with_partial_refund"))
    shop.woocommerce("order.updated", payload("woocommerce", "refunded_in_full"))
    rows = {r["event_id"]: r for r in outbox_rows(store)}
    assert sorted(rows) == [
        "woocommerce-727-purchase",
        "woocommerce-727-refund-730",
        "woocommerce-727-refund-731",
    ]
    assert rows["woocommerce-727-refund-731"]["envelope"]["params"]["value"] == 35.25


def test_stripe_unpaid_then_async_success_is_one_purchase(shop_store):
    shop, store = shop_store
    unpaid = shop.stripe(payload("stripe", "checkout_completed_unpaid_ignored")).get_json()
    assert unpaid["status"] == "ignored"
    assert purchases(store) == []
    assert shop.stripe(payload("stripe", "async_payment_succeeded")).get_json()["status"] == (
        "accepted"
    )
    # A paid completion for the same PaymentIntent (another event id) is the same purchase.
    assert (
        shop.stripe(payload("stripe", "checkout_completed_payment_link")).get_json()["status"]
        == "duplicate"
    )
    assert len(purchases(store)) == 1


def test_stripe_refund_seen_twice_through_two_event_types_is_one_refund(shop_store):
    shop, store = shop_store
    shop.stripe(payload("stripe", "refund_created_partial"))
    shop.stripe(payload("stripe", "charge_refunded_listed"))
    ids = sorted(r["event_id"] for r in outbox_rows(store))
    assert ids == [
        "stripe-pi_3PQxYz2eZvKYlo2C0abcdEFG-refund-re_3PQxPartial",
        "stripe-pi_3PQxYz2eZvKYlo2C0abcdEFG-refund-re_3PQxRest",
    ]


# --- plan settings -----------------------------------------------------------------------------


def test_test_orders_are_dropped_by_default_and_answered_with_the_reason(shop_store):
    shop, store = shop_store
    answer = shop.shopify("orders/paid", payload("shopify", "test_order_dropped"))
    assert answer.status_code == 200
    assert answer.get_json()["reason"] == "test order (test_orders: drop)"
    assert outbox_rows(store) == []


def test_zero_value_orders_follow_the_plan(make_shop):
    order = payload("shopify", "zero_value_forwarded")
    shop, store = make_shop()
    assert shop.shopify("orders/paid", order).get_json()["status"] == "accepted"
    shop, store = make_shop(
        lambda t: t.replace(
            "    test_orders: drop\n", "    test_orders: drop\n    zero_value_orders: drop\n", 1
        )
    )
    answer = shop.shopify("orders/paid", order).get_json()
    assert answer == {
        "status": "ignored",
        "reason": "zero-value order (zero_value_orders: drop)",
        "events": [],
    }
    assert outbox_rows(store) == []


def test_refund_without_a_refund_event_in_the_plan_is_ignored_with_the_reason(make_shop):
    def no_refund(text: str) -> str:
        start = text.index("  refund:\n")
        end = text.index("  newsletter_signup:\n")
        text = text[:start] + text[end:]
        return text.replace(", refund,", ",").replace("      refund: order_refunded\n", "")

    shop, store = make_shop(no_refund)
    answer = shop.shopify("refunds/create", payload("shopify", "refund_partial")).get_json()
    assert answer["events"] == [
        {
            "event_id": "shopify-5678901234567-refund-929361463",
            "status": "ignored",
            "reason": "the tracking plan declares no refund event",
        }
    ]
    assert outbox_rows(store) == []


def test_out_of_range_values_are_quarantined_not_500s(shop_store):
    shop, store = shop_store
    event = payload("stripe", "checkout_completed_payment_link")
    event["created"] = 10**15  # milliseconds sent as seconds
    answer = shop.stripe(event)
    assert quarantined(answer, store)[0]["pointer"] == "/events/0/timestamp"
    order = payload("shopify", "paid_basic")
    order["total_price_set"]["presentment_money"]["amount"] = "1e400"
    answer = shop.shopify("orders/paid", order)
    assert quarantined(answer, store) == [
        {
            "pointer": "/total_price_set/presentment_money/amount",
            "message": 'expected a decimal amount like "59.90", but the text is not one',
        }
    ]
    assert outbox_rows(store) == []


def test_outbox_locked_by_another_process_is_503_with_retry_after(tmp_path, clock):
    """A real fault: another connection holds SQLite's write lock past the busy timeout."""
    import io
    import sqlite3

    from sidecar.app import create_app
    from sidecar.config import Config
    from sidecar.store.sqlite import SqliteStore
    from tests.conftest import EXAMPLE_PLAN
    from tests.sidecar.conftest import make_env
    from tests.webhooks.conftest import Shop

    path = tmp_path / "outbox.sqlite"
    store = SqliteStore(path, synchronous="NORMAL", busy_timeout_s=0.2)
    env = make_env()
    app = create_app(
        Config(
            plan_path=str(EXAMPLE_PLAN),
            environ=env,
            store=store,
            log_stream=io.StringIO(),
            rate_limits=False,
        )
    )
    shop = Shop(app.test_client(), env, clock)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        answer = shop.shopify("orders/paid", payload("shopify", "paid_basic"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.get_json()["error"]["code"] == "unavailable"
    # The platform's retry then succeeds.
    assert shop.shopify("orders/paid", payload("shopify", "paid_basic")).status_code == 200
    assert [r["event_id"] for r in outbox_rows(store)] == ["shopify-5678901234567-purchase"]
    store.close()


def test_an_unusable_optional_field_is_left_out_and_reported_not_fatal(shop_store):
    shop, store = shop_store
    order = payload("shopify", "paid_basic")
    order["client_details"]["browser_ip"] = "not-an-ip"
    order["email"] = "a" * 600 + "@example.com"
    answer = shop.shopify("orders/paid", order)
    assert answer.status_code == 200
    event = answer.get_json()["events"][0]
    assert event["status"] == "accepted"
    assert event["dropped"] == [
        "/user_data/email: longer than 512 characters",
        "/context/ip: not an IP address",
    ]
    assert "ip" not in outbox_rows(store)[0]["envelope"]["context"]


def test_items_beyond_the_plans_max_are_cut_and_reported(shop_store):
    shop, store = shop_store
    order = payload("shopify", "paid_basic")
    line = order["line_items"][1]
    order["line_items"] = [dict(line, id=i, sku=f"SOCK-{i}") for i in range(205)]
    answer = shop.shopify("orders/paid", order).get_json()
    assert answer["events"][0]["dropped"] == [
        "/params/items: 205 items; the plan keeps the first 200"
    ]
    items = outbox_rows(store)[0]["envelope"]["params"]["items"]
    assert len(items) == 200 and items[-1]["id"] == "SOCK-199"


def test_during_a_rotation_both_secrets_verify(make_shop):
    shop, store = make_shop(env={"SHOPIFY_WEBHOOK_SECRET": "shpss-old-secret\nshpss-new-secret\n"})
    order = payload("shopify", "paid_basic")
    old = shop.shopify("orders/paid", order, webhook_id="a", secret="shpss-old-secret")
    new = shop.shopify("orders/paid", order, webhook_id="b", secret="shpss-new-secret")
    other = shop.shopify("orders/paid", order, webhook_id="c", secret="shpss-other-secret")
    assert (old.status_code, new.status_code, other.status_code) == (200, 200, 401)
    # The whole variable is not a secret by itself: a body signed with it does not verify.
    joined = shop.shopify(
        "orders/paid", order, webhook_id="d", secret="shpss-old-secret\nshpss-new-secret\n"
    )
    assert joined.status_code == 401
