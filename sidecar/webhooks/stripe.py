"""Stripe events -> canonical envelopes (protocols.md §5.3).

- ``checkout.session.completed`` with ``payment_status`` ``paid`` or ``no_payment_required``,
  and ``checkout.session.async_payment_succeeded`` -> ``purchase``. A completed session that
  is still ``unpaid`` (bank debits, vouchers) waits for the async event.
- ``refund.created`` -> ``refund``; ``charge.refunded`` -> one ``refund`` per refund it lists.

The order id is the session's PaymentIntent (``pi_...``), which refunds name too, so a refund
carries the purchase's ``transaction_id``; sessions without one (nothing to pay,
subscriptions) use the session id. Stripe sends no line items in webhooks: when the session was
expanded with ``line_items`` they are used, otherwise the purchase carries one item standing for
the whole checkout (docs/webhooks.md, "What Stripe does not send").
"""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

from formats.plan.model import SOURCE_DEFAULTS
from sidecar.webhooks import model as m
from sidecar.webhooks.money import from_stripe_minor, is_currency, quantize
from sidecar.webhooks.payload import Node

SOURCE = "stripe"
PURCHASE_TYPES = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
REFUND_TYPES = ("refund.created", "charge.refunded")
CHARGE_TYPES = ("charge.succeeded",)
CHARGE_ALIAS = "stripe-charge:"  # store key prefix: charge id -> the order (PaymentIntent) id
DEFAULT_SETTINGS: dict[str, Any] = SOURCE_DEFAULTS["stripe"]
MINOR_LIMIT = 10**14  # 10^12 in units, the same bound as every other amount
_GA_CLIENT_ID = re.compile(r"[0-9]{5,}\.[0-9]{5,}")


def map_event(payload: Any, settings: dict[str, Any] | None = None) -> m.Mapped:
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    root = Node(payload).obj()
    evt_id = root["id"].ident()
    kind = root["type"].text()
    if kind not in PURCHASE_TYPES + REFUND_TYPES + CHARGE_TYPES:
        return m.ignored(f"event type {kind} is not mapped to an event")
    if not root["livemode"].boolean(default=True) and settings["test_orders"] == "drop":
        return m.ignored("test-mode event (test_orders: drop)")
    obj = root["data"].obj()["object"].obj()
    created = root["created"].integer(minimum=0) * 1000
    key = f"stripe:event:{evt_id}"
    if kind in PURCHASE_TYPES:
        return _purchase(obj, created, key, settings)
    if kind in CHARGE_TYPES:
        charge, intent = obj["id"].ident(), obj["payment_intent"].opt_ident()
        if intent is None:
            return m.ignored("charge.succeeded without a payment_intent: nothing to remember")
        return m.Mapped(
            ignored=f"charge.succeeded: its refunds will be matched to {intent}",
            aliases={CHARGE_ALIAS + charge: intent},
        )
    if kind == "refund.created":
        return _refunds([obj], obj["payment_intent"], obj["currency"], key)
    refunds = obj["refunds"]
    if not refunds.present or not refunds.obj()["data"].present:
        return m.ignored(
            "charge.refunded without its refunds list (API versions since 2022-11-15 omit it); "
            "subscribe to refund.created instead"
        )
    mapped = _refunds(refunds["data"].array(), obj["payment_intent"], obj["currency"], key)
    intent = obj["payment_intent"].opt_ident()
    if intent is not None:  # remember the charge for later refund.created without one
        mapped = replace(mapped, aliases={CHARGE_ALIAS + obj["id"].ident(): intent})
    return mapped


def _currency(node: Node) -> str:
    code = node.text().strip().upper()
    if not is_currency(code):
        raise node.fail("expected an ISO 4217 currency code")
    return code


def _minor(node: Node, currency: str) -> Decimal:
    if not node.present:
        return Decimal(0)
    return from_stripe_minor(node.integer(minimum=0, maximum=MINOR_LIMIT), currency)


def _purchase(obj: Node, created: int, key: str, settings: dict[str, Any]) -> m.Mapped:
    session_id = obj["id"].ident()
    status = obj["payment_status"].text()
    if status not in ("paid", "no_payment_required"):
        return m.ignored(
            f"payment_status {status}: the purchase comes with "
            "checkout.session.async_payment_succeeded"
        )
    currency = _currency(obj["currency"])
    total = _minor(obj["amount_total"], currency)
    if total == 0 and settings["zero_value_orders"] == "drop":
        return m.ignored("zero-value order (zero_value_orders: drop)")
    order_id = obj["payment_intent"].opt_ident() or session_id
    details = obj["total_details"]
    discount = _minor(details["amount_discount"], currency) if details.present else Decimal(0)
    tax = _minor(details["amount_tax"], currency) if details.present else Decimal(0)
    shipping = _minor(details["amount_shipping"], currency) if details.present else Decimal(0)
    # amount_subtotal: the items before discounts, taxes and shipping (with tax when prices
    # are tax-inclusive), i.e. the same "goods after discounts" value as the other platforms.
    value = _minor(obj["amount_subtotal"], currency) - discount
    items = _items(obj, currency, value)
    params: dict[str, Any] = {"transaction_id": order_id}
    params.update(m.money_params(currency, value, tax=tax, shipping=shipping))
    params["items"] = items
    customer = obj["customer_details"]

    def cust(name: str) -> str | None:
        return customer[name].opt_text() if customer.present else None

    address = customer["address"] if customer.present else Node(None)

    def addr(name: str) -> str | None:
        return address[name].opt_text() if address.present else None

    customer_id = obj["customer"].opt_ident()
    envelope = m.envelope(
        event_name="purchase",
        event_id=m.event_id(SOURCE, order_id, "purchase"),
        timestamp=created,
        params=params,
        user_id=customer_id,
        user_data={
            "email": cust("email") or obj["customer_email"].opt_text(),
            "phone": cust("phone"),
            # Stripe has one free-text name field; which word is the given name depends on
            # the culture ("山田 花子" starts with the family name), so no guess is made.
            "city": addr("city"),
            "region": addr("state"),
            "postal_code": addr("postal_code"),
            "country": addr("country"),
            "external_id": customer_id,
        },
        # A Checkout Session (hosted, embedded or a payment link) is paid on a web page.
        context={"channel": "web"},
    )
    tokens: list[str] = []
    reference = obj["client_reference_id"].opt_text()
    pairs: list[tuple[str, Any]] = []
    if reference:
        if _GA_CLIENT_ID.fullmatch(reference):
            pairs.append(("client_id", reference))
        else:
            tokens.append(m.normalise_token(reference))
    metadata = obj["metadata"]
    if metadata.present:
        pairs.extend(metadata.obj().value.items())
    carried = m.carried_identity(pairs)
    if "token" in carried:
        tokens.append(m.normalise_token(carried.pop("token")))
    return m.Mapped(
        events=(m.OrderEvent(envelope, order_id, (key,)),),
        join_tokens=tuple(dict.fromkeys(tokens)),
        carried=carried,
    )


def _items(obj: Node, currency: str, value: Decimal) -> list[dict[str, Any]]:
    lines = obj["line_items"]
    if lines.present and lines.obj()["data"].present:
        out = []
        for line in lines["data"].array():
            line.obj()
            qty = line["quantity"].integer(minimum=0)
            if qty == 0:
                continue
            paid = _minor(line["amount_subtotal"], currency) - _minor(
                line["amount_discount"], currency
            )
            price = line["price"]
            product = price["product"] if price.present else Node(None)
            if isinstance(product.value, dict):
                product = product["id"]
            item_id = product.opt_ident() or (price["id"].opt_ident() if price.present else None)
            out.append(
                m.item(
                    item_id or line["id"].ident(),
                    line["description"].opt_text(),
                    qty,
                    quantize(paid / qty, currency),
                    discount=quantize(_minor(line["amount_discount"], currency) / qty, currency),
                )
            )
        if out:
            return out
    # No line items in the payload: one item for the whole checkout, named after the Payment
    # Link when there is one, so reports can still group sales by link.
    link = obj["payment_link"].opt_ident()
    return [m.item(link or "stripe-checkout", None, 1, value)]


def _refunds(refunds: list[Node], intent: Node, currency_node: Node, key: str) -> m.Mapped:
    events = []
    via_charge: str | None = None
    for refund in refunds:
        refund.obj()
        status = refund["status"].opt_text()
        if status in ("failed", "canceled"):
            continue
        refund_id = refund["id"].ident()
        currency = _currency(refund["currency"] if refund["currency"].present else currency_node)
        order_id = refund["payment_intent"].opt_ident() or intent.opt_ident()
        if order_id is None:
            # Refunds of some payment methods name only the charge: the order id is looked
            # up through the charge (resolve_charge) before the event is queued.
            charge = refund["charge"].ident()
            via_charge = charge
            order_id = charge
        amount = _minor(refund["amount"], currency)
        envelope = m.envelope(
            event_name="refund",
            event_id=m.event_id(SOURCE, order_id, "refund", refund_id),
            timestamp=refund["created"].integer(minimum=0) * 1000,
            params={"transaction_id": order_id, **m.money_params(currency, amount)},
        )
        events.append(m.OrderEvent(envelope, order_id, (f"{key}:{refund_id}",)))
    if not events:
        return m.ignored("no successful refund in the event")
    return m.Mapped(events=tuple(events), via_charge=via_charge)


def resolve_charge(mapped: m.Mapped, order_id: str) -> m.Mapped:
    """The refunds of ``mapped`` re-keyed from their charge to the purchase's order id."""
    charge = mapped.via_charge
    events = []
    for event in mapped.events:
        if event.order_id != charge:
            events.append(event)
            continue
        envelope = dict(event.envelope)
        envelope["event_id"] = envelope["event_id"].replace(
            f"{SOURCE}-{charge}-", f"{SOURCE}-{order_id}-", 1
        )
        envelope["params"] = {**envelope["params"], "transaction_id": order_id}
        events.append(m.OrderEvent(envelope, order_id, event.dedupe_keys))
    return replace(mapped, events=tuple(events), via_charge=None)
