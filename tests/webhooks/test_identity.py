"""The identity join: context present, absent, expired; consent from the context vs the plan's
policy, asserted on what the outbox actually queued per destination."""

from __future__ import annotations

import copy

import pytest

from formats import signing
from tests.webhooks.conftest import ORIGIN, load_fixture, outbox_rows

DAY = 86400
SHOPIFY_ORDER = "shopify-5678901234567-purchase"
CHECKOUT_TOKEN = "7df6264faff82e3bdf73d0ba225dd00e"  # paid_basic's checkout_token
ALL_GRANTED = {"analytics": True, "ads": True, "functional": True}


def payload(platform: str, name: str) -> dict:
    return copy.deepcopy(load_fixture(platform, name)["payload"])


def row(store, event_id: str) -> dict:
    return next(r for r in outbox_rows(store) if r["event_id"] == event_id)


def browser_context(**overrides) -> dict:
    body = {
        "token": CHECKOUT_TOKEN,
        "client_id": "555000111.1718190000",
        "session_id": "1718190000",
        "fbp": "fb.1.1718190000000.42",
        "fbc": "fb.1.1718190000001.IwAR-context",
        "gclid": "Cj0KCQjw-context",
        "consent": ALL_GRANTED,
        "gcs": "G111",
        "page_location": "https://shop.acme-home.example/checkouts/cn/abc",
    }
    body.update(overrides)
    return body


def test_context_present_joins_ids_and_consent(shop_store):
    shop, store = shop_store
    stored = shop.context(browser_context())
    assert stored.status_code == 200, stored.get_json()
    assert stored.get_json() == {"status": "stored", "expires_in": 30 * DAY}
    answer = shop.shopify("orders/paid", payload("shopify", "paid_basic")).get_json()
    assert answer["events"][0]["join"] == "token"
    queued = row(store, SHOPIFY_ORDER)
    assert queued["deliveries"] == ["crm", "ga4", "google_ads", "meta", "warehouse"]
    env = queued["envelope"]
    assert (env["client_id"], env["session_id"]) == ("555000111.1718190000", "1718190000")
    # The stored context wins over the order's note attributes; the order's own UA stays.
    assert env["context"]["fbp"] == "fb.1.1718190000000.42"
    assert env["context"]["page_location"].endswith("/checkouts/cn/abc")
    assert env["destinations"]["meta"]["user_agent"] == "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
    assert env["consent"] == ALL_GRANTED
    # Raw PII never reaches the outbox: Meta gets hashes only.
    assert "jane" not in str(env).lower()
    assert len(env["destinations"]["meta"]["user_data"]["em"]) == 64


def test_cart_token_with_key_suffix_matches_the_orders_cart_token(shop_store):
    shop, store = shop_store
    order = payload("shopify", "paid_multicurrency_discount_unicode")
    shop.context(browser_context(token="c1-8a6f0e4c9b3d2e1f0a9b8c7d6e5f4a3b?key=9f8e7d"))
    answer = shop.shopify("orders/paid", order).get_json()
    assert answer["events"][0]["join"] == "token"
    assert row(store, "shopify-820982911946154508-purchase")["deliveries"][:2] == ["crm", "ga4"]


def test_context_absent_strict_policy_gives_ads_nothing(shop_store):
    shop, store = shop_store
    order = payload("shopify", "paid_basic")
    order["note_attributes"] = []
    answer = shop.shopify("orders/paid", order).get_json()
    assert answer["events"][0]["join"] == "none"
    queued = row(store, SHOPIFY_ORDER)
    # strict + analytics_without_consent: anonymize -> only the analytics destinations,
    # anonymised; Meta, Google Ads and the CRM get nothing.
    assert queued["deliveries"] == ["ga4", "warehouse"]
    assert queued["decision"]["destinations"] == {
        "ga4": "anonymized",
        "meta": "blocked_no_consent",
        "google_ads": "blocked_no_consent",
        "warehouse": "anonymized",
        "crm": "blocked_no_consent",
    }
    env = queued["envelope"]
    assert "client_id" not in env and "user_id" not in env
    assert env["params"]["value"] == 89.9  # the order itself still counts


def test_context_absent_by_basis_policy_lets_legitimate_interest_through(make_shop):
    shop, store = make_shop(lambda t: t.replace("missing: strict", "missing: by_basis"))
    order = payload("shopify", "paid_basic")
    order["note_attributes"] = []
    shop.shopify("orders/paid", order)
    assert row(store, SHOPIFY_ORDER)["deliveries"] == ["crm", "ga4", "warehouse"]


def test_context_expired_falls_back_to_policy(shop_store):
    shop, store = shop_store
    shop.context(browser_context())
    shop.clock.now += 30 * DAY + 1
    order = payload("shopify", "paid_basic")
    order["note_attributes"] = []
    answer = shop.shopify("orders/paid", order).get_json()
    assert answer["events"][0]["join"] == "none"
    assert row(store, SHOPIFY_ORDER)["deliveries"] == ["ga4", "warehouse"]


def test_context_just_before_expiry_still_joins(shop_store):
    shop, store = shop_store
    shop.context(browser_context())
    shop.clock.now += 30 * DAY - 1
    answer = shop.shopify("orders/paid", payload("shopify", "paid_basic")).get_json()
    assert answer["events"][0]["join"] == "token"


def test_context_consent_denying_ads_keeps_ads_destinations_out(shop_store):
    shop, store = shop_store
    shop.context(browser_context(consent={"analytics": True, "ads": False, "functional": True}))
    shop.shopify("orders/paid", payload("shopify", "paid_basic"))
    queued = row(store, SHOPIFY_ORDER)
    assert queued["deliveries"] == ["crm", "ga4", "warehouse"]
    # Meta's click ids leave with Meta.
    assert "fbp" not in queued["envelope"]["context"]


def test_cmp_signal_in_the_context_overrules_a_claimed_grant(shop_store):
    shop, store = shop_store
    shop.context(browser_context(gcs="G101"))  # ad_storage denied by the CMP
    shop.shopify("orders/paid", payload("shopify", "paid_basic"))
    queued = row(store, SHOPIFY_ORDER)
    assert queued["deliveries"] == ["crm", "ga4", "warehouse"]
    assert queued["decision"]["purposes"]["ads"] == {"granted": False, "source": "gcs"}


def test_order_attributes_are_the_fallback(shop_store):
    shop, store = shop_store
    answer = shop.woocommerce(
        "order.updated", payload("woocommerce", "processing_coupon_unicode")
    ).get_json()
    assert answer["events"][0]["join"] == "attributes"
    queued = row(store, "woocommerce-727-purchase")
    # meta_data says analytics and functional were granted, ads not.
    assert queued["deliveries"] == ["crm", "ga4", "warehouse"]
    assert queued["envelope"]["client_id"] == "987654321.1718200000"  # from the _ga cookie value


def test_woocommerce_order_key_joins_the_browser_context(shop_store):
    shop, store = shop_store
    shop.context(browser_context(token="wc_order_58d2d042d1d", client_id="777.888"))
    answer = shop.woocommerce(
        "order.updated", payload("woocommerce", "processing_coupon_unicode")
    ).get_json()
    assert answer["events"][0]["join"] == "token"
    queued = row(store, "woocommerce-727-purchase")
    assert queued["envelope"]["client_id"] == "777.888"
    assert queued["deliveries"] == ["crm", "ga4", "google_ads", "meta", "warehouse"]


def test_stripe_client_reference_id_joins_the_browser_context(shop_store):
    shop, store = shop_store
    shop.context(browser_context(token="cart_7df6264faff82e3bdf73d0ba225dd00e"))
    answer = shop.stripe(payload("stripe", "checkout_completed_payment_link")).get_json()
    assert answer["events"][0]["join"] == "token"
    env = row(store, "stripe-pi_3PQxYz2eZvKYlo2C0abcdEFG-purchase")["envelope"]
    assert env["session_id"] == "1718190000"


def test_refunds_join_the_context_their_purchase_joined(shop_store):
    shop, store = shop_store
    shop.context(browser_context())
    shop.shopify("orders/paid", payload("shopify", "paid_basic"), webhook_id="wh-a")
    answer = shop.shopify(
        "refunds/create", payload("shopify", "refund_partial"), webhook_id="wh-b"
    ).get_json()
    assert answer["events"][0]["join"] == "order"
    refund = row(store, "shopify-5678901234567-refund-929361463")
    assert refund["envelope"]["client_id"] == "555000111.1718190000"
    assert refund["deliveries"] == ["crm", "ga4", "warehouse"]  # Meta/Ads map no refund


def test_refund_without_any_context_follows_the_policy(shop_store):
    shop, store = shop_store
    answer = shop.shopify("refunds/create", payload("shopify", "refund_partial")).get_json()
    assert answer["events"][0]["join"] == "none"
    assert row(store, "shopify-5678901234567-refund-929361463")["deliveries"] == [
        "ga4",
        "warehouse",
    ]


def test_join_rate_is_exposed_in_stats(shop_store):
    shop, store = shop_store
    shop.context(browser_context())
    shop.shopify("orders/paid", payload("shopify", "paid_basic"))  # token
    shop.shopify("orders/paid", payload("shopify", "paid_basic"))  # duplicate: not counted
    woo = payload("woocommerce", "processing_coupon_unicode")
    shop.woocommerce("order.updated", woo)  # attributes
    bare = payload("shopify", "paid_jpy_tax_on_top")
    bare["checkout_token"] = bare["token"] = None
    shop.shopify("orders/paid", bare, webhook_id="wh-jpy")  # none
    shop.shopify("orders/paid", payload("shopify", "test_order_dropped"))  # ignored
    stats = shop.client.get(
        "/v1/stats",
        headers={
            signing.SIGNATURE_HEADER: signing.sign_request_v2(
                signing.parse_keyset(shop.env["WEB_SIGNING_KEYS"], source="t"),
                "GET",
                "/v1/stats",
                b"",
            )
        },
    ).get_json()
    assert stats["webhooks"] == {
        "orders": 3,
        "joined": {"token": 1, "order": 0, "attributes": 1},
        "not_joined": 1,
        "join_rate": 0.6667,
        "ignored_deliveries": 1,
    }
    assert stats["accepted"] == 3  # the app's own counters are untouched


# --- POST /v1/context ---------------------------------------------------------------------------


def test_context_requires_browser_credentials_and_stores_nothing_without(shop_store):
    shop, store = shop_store
    answer = shop.client.post("/v1/context", json=browser_context(), headers={"Origin": ORIGIN})
    assert answer.status_code == 401
    assert store.get_context("cart:" + CHECKOUT_TOKEN) is None


def test_context_from_an_unlisted_origin_is_403(shop):
    answer = shop.context(browser_context(), origin="https://evil.example")
    assert answer.status_code == 403


def test_context_preflight_allows_the_shop_origin(shop):
    answer = shop.client.options(
        "/v1/context",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in answer.headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"client_id": "1.2"},
            [
                {
                    "pointer": "/token",
                    "message": "required: the cart/checkout token, 8-256 printable characters",
                }
            ],
        ),
        (
            browser_context(consent={"ads": "yes", "marketing": True}),
            [
                {"pointer": "/consent/ads", "message": "expected true or false"},
                {
                    "pointer": "/consent/marketing",
                    "message": "unknown purpose; the plan has ads, analytics, functional",
                },
            ],
        ),
        (
            browser_context(email="jane@example.com", fbp=12),
            [
                {"pointer": "/email", "message": "unknown field"},
                {"pointer": "/fbp", "message": "expected a string"},
            ],
        ),
        (
            browser_context(gclid="x" * 3000),
            [{"pointer": "/gclid", "message": "longer than 2048 characters"}],
        ),
    ],
)
def test_bad_contexts_are_400_naming_every_field(shop_store, body, errors):
    shop, store = shop_store
    answer = shop.context(body)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["errors"] == errors
    assert store.get_context("cart:" + CHECKOUT_TOKEN) is None


def test_context_body_must_be_json(shop):
    answer = shop.client.post("/v1/context", data="token=abc", headers={"Origin": ORIGIN})
    assert answer.status_code == 415


def test_a_browser_cannot_write_an_orders_context(shop_store):
    """Browser tokens and order entries live under different key prefixes."""
    shop, store = shop_store
    shop.context(browser_context(token="order:shopify:5678901234567", consent=ALL_GRANTED))
    answer = shop.shopify("refunds/create", payload("shopify", "refund_partial")).get_json()
    assert answer["events"][0]["join"] == "none"


def test_no_raw_pii_in_the_logs(shop):
    shop.context(browser_context())
    shop.shopify("orders/paid", payload("shopify", "paid_basic"))
    shop.woocommerce("order.updated", payload("woocommerce", "processing_coupon_unicode"))
    logged = shop.log.getvalue()
    assert "webhook" in logged
    for value in ("jane.doe@example.com", "+4915123456789", "Muñoz", "Jose.Munoz", "203.0.113.42"):
        assert value not in logged


def test_context_posts_are_rate_limited_like_browser_events(tmp_path, clock):
    import io

    from sidecar.app import create_app
    from sidecar.config import Config
    from sidecar.store.sqlite import SqliteStore
    from tests.conftest import EXAMPLE_PLAN
    from tests.sidecar.conftest import make_env
    from tests.webhooks.conftest import Shop

    plan = tmp_path / "plan.yaml"
    plan.write_text(
        EXAMPLE_PLAN.read_text(encoding="utf-8").replace(
            "    max_batch: 100\n", "    max_batch: 100\n    rate_limit_per_ip: 2/minute\n"
        ),
        encoding="utf-8",
    )
    store = SqliteStore(tmp_path / "outbox.sqlite", synchronous="NORMAL")
    env = make_env()
    app = create_app(
        Config(plan_path=str(plan), environ=env, store=store, log_stream=io.StringIO())
    )
    shop = Shop(app.test_client(), env, clock)
    codes = [shop.context(browser_context()).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    order = payload("shopify", "paid_basic")
    for i in range(3):  # webhooks are not limited
        assert shop.shopify("orders/paid", order, webhook_id=f"w{i}").status_code == 200
    store.close()


# --- latest consent wins ---------------------------------------------------------------------


def browser_event(shop, event_id: str, at_s: float, consent: dict) -> None:
    """What the shop's pages send to the Event API: here only the consent matters."""
    import json as _json

    from formats import signing

    body = {
        "schema": 1,
        "event_name": "view_item",
        "event_id": event_id,
        "timestamp": int(at_s * 1000),
        "client_id": "555000111.1718190000",
        "consent": consent,
        "params": {"currency": "EUR", "value": 10, "items": [{"id": "SKU-1", "price": 10}]},
    }
    answer = shop.client.post(
        "/v1/events",
        data=_json.dumps(body),
        headers={
            "Content-Type": "application/json",
            "Origin": ORIGIN,
            "Authorization": "Bearer " + signing.issue_token(shop.token_keys, ORIGIN, 900),
        },
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["results"][0]["status"] == "accepted", answer.get_json()


def test_an_event_withdrawing_ads_after_the_context_grant_reaches_the_order(shop_store, clock):
    """The context granted ads, then the browser reported ads: false before paying: the order
    used to stay queued for Google Ads and Meta on the context's stale grant."""
    shop, store = shop_store
    clock.now = 1_718_193_000.0  # the checkout context, 13 minutes before the order
    assert shop.context(browser_context()).status_code == 200
    browser_event(shop, "later-1", 1_718_193_500.0, {**ALL_GRANTED, "ads": False})
    clock.now = 1_718_193_807.0
    shop.shopify("orders/paid", payload("shopify", "paid_basic"))
    queued = row(store, SHOPIFY_ORDER)
    assert queued["envelope"]["consent"] == {**ALL_GRANTED, "ads": False}
    assert "google_ads" not in queued["deliveries"] and "meta" not in queued["deliveries"]
    assert {"ga4", "warehouse", "crm"} <= set(queued["deliveries"])


def test_a_report_after_the_order_does_not_change_the_purchase(shop_store, clock):
    shop, store = shop_store
    clock.now = 1_718_193_000.0
    shop.context(browser_context())
    browser_event(shop, "after-1", 1_718_199_000.0, {**ALL_GRANTED, "ads": False})
    clock.now = 1_718_193_807.0
    shop.shopify("orders/paid", payload("shopify", "paid_basic"))
    assert "google_ads" in row(store, SHOPIFY_ORDER)["deliveries"]


def test_a_refund_applies_a_withdrawal_made_after_the_purchase(shop_store, clock):
    """A refund used the purchase-time snapshot and ignored a later full withdrawal."""
    shop, store = shop_store
    clock.now = 1_718_193_000.0
    shop.context(browser_context())
    clock.now = 1_718_193_807.0
    shop.shopify("orders/paid", payload("shopify", "paid_basic"), webhook_id="wh-a")
    none = {"analytics": False, "ads": False, "functional": False}
    browser_event(shop, "withdraw-1", 1_718_800_000.0, none)  # before the refund (06-20)
    shop.shopify("refunds/create", payload("shopify", "refund_partial"), webhook_id="wh-b")
    refund = row(store, "shopify-5678901234567-refund-929361463")
    assert refund["envelope"]["consent"] == none
    assert "crm" not in refund["deliveries"]  # consented before, withdrawn since
    # The purchase, delivered on the consent it had, is not touched.
    assert "crm" in row(store, SHOPIFY_ORDER)["deliveries"]
