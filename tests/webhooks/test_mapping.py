"""The pure mappings: every fixture pair, exact money, and precise errors for bad payloads."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from sidecar.webhooks import shopify, stripe, woocommerce
from sidecar.webhooks.money import from_stripe_minor, json_number, quantize
from sidecar.webhooks.payload import PayloadError, parse_body
from tests.webhooks.mapping_cases import FIXTURES, cases, dumps, map_case

CASES = cases()


def test_every_platform_has_fixtures():
    assert {p for p, _ in CASES} == {"shopify", "woocommerce", "stripe"}
    for platform, name in CASES:
        assert (FIXTURES / platform / f"{name}.expected.json").exists(), (platform, name)


@pytest.mark.parametrize(("platform", "name"), CASES, ids=[f"{p}/{n}" for p, n in CASES])
def test_fixture_maps_to_its_expected_envelopes(platform, name):
    expected = (FIXTURES / platform / f"{name}.expected.json").read_text(encoding="utf-8")
    # Compared as text: the amounts must be the exact decimals, not merely close floats.
    assert dumps(map_case(platform, name)) == expected


def _fixture(platform: str, name: str):
    return parse_body((FIXTURES / platform / f"{name}.input.json").read_bytes())


def test_no_float_drift_on_point_one_plus_point_two():
    case = _fixture("shopify", "paid_no_float_drift")
    # The fixture is one where adding the line prices as floats drifts (0.30000000000000004).
    prices = [float(line["price"]) for line in case["payload"]["line_items"]]
    assert json.dumps(sum(prices)) != json.dumps(float(case["payload"]["total_price"]))
    params = shopify.map_webhook("orders/paid", case["payload"]).events[0].envelope["params"]
    assert json.dumps(params["value"]) == "0.3"
    assert Decimal(str(params["items"][0]["price"])) + Decimal(
        str(params["items"][1]["price"])
    ) == Decimal(str(params["value"]))


def test_presentment_currency_is_used_for_every_amount():
    case = _fixture("shopify", "paid_multicurrency_discount_unicode")
    params = shopify.map_webhook("orders/paid", case["payload"]).events[0].envelope["params"]
    # Shop money is EUR 64.26 / 5.49 / 6.73; the buyer paid CHF.
    assert (params["currency"], params["value"], params["tax"], params["shipping"]) == (
        "CHF",
        62.1,
        5.3,
        6.5,
    )
    assert params["items"][0]["price"] * 3 == pytest.approx(params["value"])


def test_multicurrency_order_without_presentment_sets_is_an_error_naming_the_field():
    case = _fixture("shopify", "paid_multicurrency_discount_unicode")
    del case["payload"]["total_price_set"]
    with pytest.raises(PayloadError) as err:
        shopify.map_webhook("orders/paid", case["payload"])
    assert err.value.pointer == "/total_price_set"
    assert "CHF" in err.value.message and "EUR" in err.value.message


def test_presentment_currency_mismatch_in_a_set_is_named():
    case = _fixture("shopify", "paid_multicurrency_discount_unicode")
    case["payload"]["total_tax_set"]["presentment_money"]["currency_code"] = "EUR"
    with pytest.raises(PayloadError) as err:
        shopify.map_webhook("orders/paid", case["payload"])
    assert err.value.pointer == "/total_tax_set/presentment_money/currency_code"


@pytest.mark.parametrize(
    ("mutate", "pointer", "fragment"),
    [
        (lambda p: p.pop("id"), "/id", "missing"),
        (lambda p: p.update(id=True), "/id", "boolean"),
        (
            lambda p: p["line_items"][1]["price_set"]["presentment_money"].update(amount="15,00"),
            "/line_items/1/price_set/presentment_money/amount",
            "not one",
        ),
        (lambda p: p["line_items"][1].update(quantity="2"), "/line_items/1/quantity", "string"),
        (lambda p: p.update(line_items={}), "/line_items", "an object"),
        (lambda p: p.update(currency="euro"), "/currency", "ISO 4217"),
        (lambda p: p.update(processed_at="yesterday"), "/processed_at", "ISO 8601"),
        (
            lambda p: p["total_price_set"]["presentment_money"].update(amount=[1]),
            "/total_price_set/presentment_money/amount",
            "an array",
        ),
    ],
)
def test_shopify_bad_payloads_name_the_field(mutate, pointer, fragment):
    case = _fixture("shopify", "paid_basic")
    mutate(case["payload"])
    with pytest.raises(PayloadError) as err:
        shopify.map_webhook("orders/paid", case["payload"])
    assert err.value.pointer == pointer
    assert fragment in err.value.message


def test_error_messages_never_repeat_the_value():
    case = _fixture("shopify", "paid_basic")
    case["payload"]["total_price_set"]["presentment_money"]["amount"] = "jane.doe@example.com"
    with pytest.raises(PayloadError) as err:
        shopify.map_webhook("orders/paid", case["payload"])
    assert "jane" not in str(err.value)


def test_woocommerce_bad_payloads_name_the_field():
    case = _fixture("woocommerce", "processing_coupon_unicode")
    case["payload"]["refunds"] = [{"id": 9, "total": None}]
    with pytest.raises(PayloadError) as err:
        woocommerce.map_webhook("order.updated", case["payload"])
    assert err.value.pointer == "/refunds/0/total"
    case = _fixture("woocommerce", "processing_coupon_unicode")
    case["payload"]["status"] = 3
    with pytest.raises(PayloadError) as err:
        woocommerce.map_webhook("order.updated", case["payload"])
    assert (err.value.pointer, err.value.message) == (
        "/status",
        "expected a string, but it is a number",
    )


def test_stripe_bad_payloads_name_the_field():
    case = _fixture("stripe", "checkout_completed_payment_link")
    case["payload"]["data"]["object"]["amount_total"] = "94.80"
    with pytest.raises(PayloadError) as err:
        stripe.map_event(case["payload"])
    assert err.value.pointer == "/data/object/amount_total"
    with pytest.raises(PayloadError) as err:
        stripe.map_event({"id": "evt_1", "type": "checkout.session.completed", "created": 1})
    assert err.value.pointer == "/data"
    with pytest.raises(PayloadError) as err:
        stripe.map_event([1, 2])
    assert err.value.pointer == "/"


def test_not_json_is_a_payload_error_with_the_position():
    with pytest.raises(PayloadError) as err:
        parse_body(b'{"id": 1,')
    assert err.value.pointer == "/" and "line 1" in err.value.message
    with pytest.raises(PayloadError):
        parse_body(b"\xff\xfe")
    with pytest.raises(PayloadError):
        parse_body(b"  ")


def test_orders_create_counts_only_when_paid_and_subscribed():
    paid = _fixture("shopify", "paid_basic")["payload"]
    both = {"purchase_topics": ["orders/create", "orders/paid"]}
    assert shopify.map_webhook("orders/create", paid, both).events
    assert shopify.map_webhook("orders/create", paid).ignored
    assert shopify.map_webhook("orders/updated", paid, both).ignored == (
        "topic orders/updated is not mapped to an event"
    )


def test_woocommerce_purchase_needs_a_configured_paid_status():
    order = _fixture("woocommerce", "processing_coupon_unicode")["payload"]
    only_completed = {"paid_statuses": ["completed"]}
    assert woocommerce.map_webhook("order.updated", order, only_completed).ignored == (
        "status processing is not a paid status"
    )
    assert woocommerce.map_webhook("order.deleted", order).ignored


def test_event_ids_follow_the_documented_formula():
    shop = _fixture("shopify", "refund_partial")["payload"]
    woo = _fixture("woocommerce", "completed_with_partial_refund")["payload"]
    ids = [e.envelope["event_id"] for e in shopify.map_webhook("refunds/create", shop).events]
    ids += [e.envelope["event_id"] for e in woocommerce.map_webhook("order.updated", woo).events]
    assert ids == [
        "shopify-5678901234567-refund-929361463",
        "woocommerce-727-purchase",
        "woocommerce-727-refund-730",
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (9480, "EUR", "94.80"),
        (3740, "JPY", "3740"),
        (12345, "KWD", "12.345"),
        (10000, "ISK", "100"),  # Stripe sends ISK in hundredths, ISO has no minor unit
        (1, "USD", "0.01"),
    ],
)
def test_stripe_minor_units(amount, currency, expected):
    assert from_stripe_minor(amount, currency) == Decimal(expected)
    assert str(from_stripe_minor(amount, currency)) == expected


def test_quantize_rounds_half_up_and_json_numbers_are_exact():
    assert quantize(Decimal("20.005"), "EUR") == Decimal("20.01")
    assert quantize(Decimal("6.6666"), "EUR") == Decimal("6.67")
    assert json_number(Decimal("3740")) == 3740 and isinstance(json_number(Decimal("3740")), int)
    assert json.dumps(json_number(Decimal("94.80"))) == "94.8"


@pytest.mark.parametrize(
    ("platform", "name"),
    [("shopify", "paid_with_tip"), ("woocommerce", "processing_fee_and_entities")],
)
def test_items_add_up_to_the_value(platform, name):
    """A Shopify tip is not goods (the value excludes it, so it is no item); a WooCommerce fee
    is in the value, so it is an item. Either way the items add up to the value."""
    (event,) = map_case(platform, name)["events"]
    params = event["envelope"]["params"]
    total = sum(Decimal(str(i["price"])) * i["qty"] for i in params["items"])
    assert total == Decimal(str(params["value"]))
    assert all("Tip" != i.get("name") for i in params["items"])


def test_woocommerce_names_are_html_decoded():
    (event,) = map_case("woocommerce", "processing_fee_and_entities")["events"]
    names = [i.get("name", "") for i in event["envelope"]["params"]["items"]]
    assert "Vaso – 6 uds & posavasos" in names
    assert not any("&ndash;" in n or "&amp;" in n for n in names)
