"""The order's channel: where it was placed, read from each platform's own field."""

from __future__ import annotations

import pytest

from formats.plan.model import ORDER_CHANNELS
from sidecar.webhooks import shopify, woocommerce
from sidecar.webhooks.payload import parse_body
from tests.webhooks.mapping_cases import FIXTURES, map_case


@pytest.mark.parametrize(
    ("source_name", "channel"),
    [
        ("web", "web"),
        ("pos", "pos"),
        ("subscription_contract_checkout_one", "subscription"),
        ("subscription_contract", "subscription"),
        ("shopify_draft_order", "other"),
        ("iphone", "other"),
        ("1234567", "other"),  # an app's id: nothing says a browser checkout happened
        (None, "other"),
    ],
)
def test_shopify_source_name(source_name, channel):
    assert shopify.channel(source_name) == channel


@pytest.mark.parametrize(
    ("created_via", "channel"),
    [
        ("checkout", "web"),
        ("store-api", "web"),
        ("pos-rest-api", "pos"),
        ("subscription", "subscription"),
        ("admin", "other"),
        ("rest-api", "other"),
        (None, "other"),
    ],
)
def test_woocommerce_created_via(created_via, channel):
    assert woocommerce.channel(created_via) == channel


def test_every_channel_is_one_the_envelope_schema_knows():
    values = {shopify.channel(n) for n in ("web", "pos", "subscription_contract", "x")}
    values |= {woocommerce.channel(n) for n in ("checkout", "pos-rest-api", "subscription", "x")}
    assert values == set(ORDER_CHANNELS)


@pytest.mark.parametrize(
    ("platform", "name"),
    [
        ("shopify", "paid_basic"),
        ("woocommerce", "processing_coupon_unicode"),
        ("stripe", "checkout_completed_payment_link"),
    ],
)
def test_a_web_checkout_purchase_carries_channel_web(platform, name):
    (event,) = [
        e for e in map_case(platform, name)["events"] if e["envelope"]["event_name"] == "purchase"
    ]
    assert event["envelope"]["context"]["channel"] == "web"


def test_a_pos_order_maps_to_channel_pos():
    case = parse_body((FIXTURES / "shopify" / "paid_basic.input.json").read_bytes())
    case["payload"]["source_name"] = "pos"
    mapped = shopify.map_webhook(case["topic"], case["payload"], case.get("settings"))
    assert mapped.events[0].envelope["context"]["channel"] == "pos"
