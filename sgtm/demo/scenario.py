"""What the demo sends, in order: browser events (one without ads consent), the browser's
checkout context, a signed Shopify `orders/paid` webhook and its retry. Each step appends one row
to the list the report prints."""

from __future__ import annotations

import secrets
from typing import Any

from sgtm.demo.report import brief, first_id
from sgtm.harness.loop import LocalLoop
from sgtm.harness.payloads import browser_event, shopify_order


def send_all(loop: LocalLoop) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    all_in = {"analytics": True, "ads": True, "functional": True}
    no_ads = {"analytics": True, "ads": False, "functional": True}
    item = [
        {"id": "MUG-1", "name": "Stoneware Mug", "category": "Kitchen", "qty": 1, "price": 19.95}
    ]
    events = [
        (
            "browser",
            browser_event(
                "view_item", "demo-view-1", all_in, currency="EUR", value=19.95, items=item
            ),
        ),
        (
            "browser",
            browser_event(
                "add_to_cart",
                "demo-cart-1",
                all_in,
                currency="EUR",
                value=39.9,
                items=[{**item[0], "qty": 2}],
            ),
        ),
        (
            "browser (no ads consent)",
            browser_event(
                "begin_checkout",
                "demo-checkout-1",
                no_ads,
                currency="EUR",
                value=39.9,
                items=[{**item[0], "qty": 2}],
            ),
        ),
    ]
    for how, ev in events:
        status, answer = loop.browser("/v1/events", ev)
        sent.append(
            {
                "via": how,
                "event_id": ev["event_id"],
                "event_name": ev["event_name"],
                "http": status,
                "answer": brief(answer),
            }
        )
    # The browser leaves its identity and consent for the checkout (the hybrid join) ...
    token = "demo-checkout-" + secrets.token_hex(6)
    status, answer = loop.browser(
        "/v1/context",
        {
            "token": token,
            "client_id": "1234567890.1732860000",
            "fbp": "fb.1.1732860000.123",
            "consent": {"analytics": True, "ads": True, "functional": True},
        },
    )
    sent.append(
        {
            "via": "browser /v1/context",
            "event_id": "-",
            "event_name": "context",
            "http": status,
            "answer": brief(answer),
        }
    )
    # ... then the shop's backend reports the paid order by webhook, signed by Shopify's secret.
    order = shopify_order(1001, token)
    status, answer = loop.shopify(order)
    sent.append(
        {
            "via": "Shopify webhook orders/paid",
            "event_id": first_id(answer),
            "event_name": "purchase",
            "http": status,
            "answer": brief(answer),
        }
    )
    # Shopify retries webhooks: the same delivery again is answered as a duplicate.
    status, answer = loop.shopify(order)
    sent.append(
        {
            "via": "Shopify webhook (retry)",
            "event_id": first_id(answer),
            "event_name": "purchase",
            "http": status,
            "answer": brief(answer),
        }
    )
    return sent
