"""Any node of a real payload replaced by any JSON value: the mapping either maps or raises
``PayloadError`` naming a pointer, never anything else (which would be a 500)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from sidecar.webhooks import shopify, stripe, woocommerce
from sidecar.webhooks.payload import PayloadError, parse_body
from tests.webhooks.mapping_cases import FIXTURES

ODD_VALUES: tuple[Any, ...] = (None, "", "x", True, -1, 0, Decimal("1.5"), [], {}, [{}], "9" * 40)
CASES = {
    "shopify": ["paid_multicurrency_discount_unicode", "refund_full_multicurrency"],
    "woocommerce": ["completed_with_partial_refund"],
    "stripe": ["checkout_completed_expanded_jpy_discount", "charge_refunded_listed"],
}


def paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*prefix, i))


def replaced(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return copy.deepcopy(value)
    out = copy.deepcopy(doc)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = copy.deepcopy(value)
    return out


def run(platform: str, case: dict[str, Any], payload: Any) -> None:
    if platform == "shopify":
        shopify.map_webhook(case["topic"], payload, {"purchase_topics": ["orders/paid"]})
    elif platform == "woocommerce":
        woocommerce.map_webhook(case["topic"], payload)
    else:
        stripe.map_event(payload)


@pytest.mark.parametrize(
    ("platform", "name"), [(p, n) for p, names in CASES.items() for n in names]
)
def test_any_node_replaced_by_any_value_maps_or_is_a_payload_error(platform, name):
    case = parse_body((FIXTURES / platform / f"{name}.input.json").read_bytes())
    original = case["payload"]
    tried = 0
    for path in paths(original):
        for value in ODD_VALUES:
            mutated = replaced(original, path, value)
            try:
                run(platform, case, mutated)
            except PayloadError as exc:
                assert exc.pointer.startswith("/"), (path, value, exc)
            tried += 1
    assert tried > 100
