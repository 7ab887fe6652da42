"""WooCommerce order webhooks -> canonical envelopes (protocols.md §5.2).

``order.created`` / ``order.updated`` (and ``order.restored``) carry the whole order, never
what changed. So:

- ``purchase`` when the order's status is one of the source's ``paid_statuses``; that it is
  emitted only once per order is the caller's job (event id dedupe plus the ledger), since a
  later ``order.updated`` (e.g. processing -> completed days after) looks the same;
- one ``refund`` per entry of ``refunds`` (partial refunds keep the order's status).

Amounts are strings in the order's currency. Line ``total`` values are after discounts and
without tax; when the shop enters prices with tax (``prices_include_tax``) the line's tax is
added back, so item prices and ``value`` read as the shop shows them.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from formats.plan.model import SOURCE_DEFAULTS
from sidecar.webhooks import model as m
from sidecar.webhooks.money import is_currency, quantize
from sidecar.webhooks.payload import Node

SOURCE = "woocommerce"
ORDER_TOPICS = ("order.created", "order.updated", "order.restored")
DEFAULT_SETTINGS: dict[str, Any] = SOURCE_DEFAULTS["woocommerce"]


def map_webhook(topic: str, payload: Any, settings: dict[str, Any] | None = None) -> m.Mapped:
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    if topic not in ORDER_TOPICS:
        return m.ignored(f"topic {topic} is not mapped to an event")
    root = Node(payload).obj()
    order_id = root["id"].ident()
    status = root["status"].text().strip()
    currency = root["currency"].text().strip().upper()
    if not is_currency(currency):
        raise root["currency"].fail("expected an ISO 4217 currency code")
    events: list[m.OrderEvent] = []
    reasons: list[str] = []
    if status in settings["paid_statuses"]:
        purchase = _purchase(root, order_id, currency, settings)
        if isinstance(purchase, str):
            reasons.append(purchase)
        else:
            key = f"woocommerce:order:{order_id}:{topic}:{status}"
            events.append(m.OrderEvent(purchase, order_id, (key,)))
    else:
        reasons.append(f"status {status} is not a paid status")
    for refund in root["refunds"].array():
        refund.obj()
        refund_id = refund["id"].ident()
        amount = quantize(abs(refund["total"].amount()), currency)
        envelope = m.envelope(
            event_name="refund",
            event_id=m.event_id(SOURCE, order_id, "refund", refund_id),
            timestamp=m.first_timestamp(
                root["date_modified_gmt"], root["date_created_gmt"], assume_utc=True
            ),
            params={"transaction_id": order_id, **m.money_params(currency, amount)},
        )
        key = f"woocommerce:order:{order_id}:{topic}:{status}:refund:{refund_id}"
        events.append(m.OrderEvent(envelope, order_id, (key,)))
    if not events:
        return m.ignored("; ".join(reasons) or "nothing to map")
    tokens = [m.normalise_token(t) for t in (root["order_key"].opt_text(),) if t]
    carried = m.carried_identity(
        [(meta.obj()["key"].value, meta["value"].value) for meta in root["meta_data"].array()]
    )
    if "token" in carried:
        tokens.append(m.normalise_token(carried.pop("token")))
    return m.Mapped(events=tuple(events), join_tokens=tuple(dict.fromkeys(tokens)), carried=carried)


def _amount(node: Node, currency: str) -> Decimal:
    return quantize(node.amount(), currency) if node.present else Decimal(0)


def _purchase(
    root: Node, order_id: str, currency: str, settings: dict[str, Any]
) -> dict[str, Any] | str:
    total = _amount(root["total"], currency)
    if total == 0 and settings["zero_value_orders"] == "drop":
        return "zero-value order (zero_value_orders: drop)"
    with_tax = root["prices_include_tax"].boolean()
    shipping = _amount(root["shipping_total"], currency)
    shipping_tax = _amount(root["shipping_tax"], currency)
    cart_tax = _amount(root["cart_tax"], currency)
    tax = _amount(root["total_tax"], currency)
    # total = lines + fees + shipping + cart_tax + shipping_tax (WooCommerce's own sum).
    value = total - shipping - shipping_tax - (Decimal(0) if with_tax else cart_tax)
    items = []
    for line in root["line_items"].array(required=True):
        line.obj()
        qty = line["quantity"].integer(minimum=0)
        if qty == 0:
            continue
        paid = _amount(line["total"], currency)
        listed = _amount(line["subtotal"], currency) if line["subtotal"].present else paid
        if with_tax:
            paid += _amount(line["total_tax"], currency)
            listed += _amount(line["subtotal_tax"], currency)
        unit = quantize(paid / qty, currency)
        item_id = (
            line["sku"].opt_text()
            or _nonzero(line["variation_id"])
            or _nonzero(line["product_id"])
            or line["id"].ident()
        )
        items.append(
            m.item(
                item_id,
                _name(line["name"]),
                qty,
                unit,
                discount=quantize((listed - paid) / qty, currency),
            )
        )
    if not items:
        raise root["line_items"].fail("has no line item with a quantity of at least 1")
    items.extend(_fees(root, currency, with_tax))
    params: dict[str, Any] = {"transaction_id": order_id}
    params.update(
        m.money_params(
            currency, value, tax=tax, shipping=shipping + (shipping_tax if with_tax else 0)
        )
    )
    codes = [c.obj()["code"].opt_text() for c in root["coupon_lines"].array()]
    present = [c for c in codes if c]
    if present:
        params["coupon"] = m.clip(",".join(present))
    params["items"] = items
    customer = root["customer_id"].opt_ident()
    customer = customer if customer not in (None, "0") else None  # 0: a guest checkout
    billing = root["billing"]

    def bill(name: str) -> str | None:
        return billing[name].opt_text() if billing.present else None

    return m.envelope(
        event_name="purchase",
        event_id=m.event_id(SOURCE, order_id, "purchase"),
        timestamp=m.first_timestamp(
            root["date_paid_gmt"], root["date_created_gmt"], assume_utc=True
        ),
        params=params,
        user_id=customer,
        user_data={
            "email": bill("email"),
            "phone": bill("phone"),
            "first_name": bill("first_name"),
            "last_name": bill("last_name"),
            "city": bill("city"),
            "region": bill("state"),
            "postal_code": bill("postcode"),
            "country": bill("country"),
            "external_id": customer,
        },
        context={
            "channel": channel(root["created_via"].opt_text()),
            "ip": root["customer_ip_address"].opt_text(),
            "user_agent": root["customer_user_agent"].opt_text(),
        },
    )


def _name(node: Node) -> str | None:
    """WooCommerce sends names HTML-encoded (``Mug &ndash; blue``, ``Salt &amp; Pepper``)."""
    text = node.opt_text()
    return html.unescape(text).strip() or None if text else None


def _fees(root: Node, currency: str, with_tax: bool) -> list[dict[str, Any]]:
    """Fee lines (gift wrapping, payment surcharges) are part of ``total`` and so of the
    value; each becomes an item, so the items add up to the value. A negative fee (a
    discount added as a fee) has no item form: it stays in the value only."""
    out: list[dict[str, Any]] = []
    for fee in root["fee_lines"].array():
        fee.obj()
        amount = _amount(fee["total"], currency)
        if with_tax:
            amount += _amount(fee["total_tax"], currency)
        if amount <= 0:
            continue
        fee_id = fee["id"].opt_ident() or str(len(out) + 1)
        out.append(m.item(f"fee-{fee_id}", _name(fee["name"]) or "fee", 1, amount, category="fee"))
    return out


def channel(created_via: str | None) -> str:
    """Where the order was placed, from WooCommerce's ``created_via``: ``checkout`` (classic)
    and ``store-api`` (block checkout) are the web; ``pos-rest-api`` is Woo's point of sale;
    ``subscription`` a WooCommerce Subscriptions renewal; admin, REST API and unknown values
    are ``other`` (docs/destinations.md)."""
    name = (created_via or "").strip().lower()
    if name in ("checkout", "store-api"):
        return "web"
    if name == "pos-rest-api":
        return "pos"
    if name == "subscription":
        return "subscription"
    return "other"


def _nonzero(node: Node) -> str | None:
    value = node.opt_ident()
    return value if value not in (None, "0") else None
