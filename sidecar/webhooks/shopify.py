"""Shopify order webhooks -> canonical envelopes (protocols.md §5.1).

- ``orders/paid`` -> ``purchase``; ``orders/create`` -> ``purchase`` only when the order is
  already paid (both only when listed in the source's ``purchase_topics``).
- ``refunds/create`` -> ``refund`` (its transactions, or the refunded lines).
- Every other topic is acknowledged and ignored, with the reason.

Amounts come from the ``*_set.presentment_money`` values, so a multi-currency order is
reported in the currency the buyer paid in, consistently; the plain fields (shop currency)
are used only when both currencies are the same.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from formats.plan.model import SOURCE_DEFAULTS
from sidecar.webhooks import model as m
from sidecar.webhooks.money import is_currency, quantize
from sidecar.webhooks.payload import Node, PayloadError

SOURCE = "shopify"
PAID = ("paid",)
DEFAULT_SETTINGS: dict[str, Any] = SOURCE_DEFAULTS["shopify"]


def map_webhook(
    topic: str,
    payload: Any,
    settings: dict[str, Any] | None = None,
    *,
    webhook_id: str | None = None,
) -> m.Mapped:
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    root = Node(payload).obj()
    if topic in ("orders/paid", "orders/create"):
        if topic not in settings["purchase_topics"]:
            return m.ignored(f"topic {topic} is not in this source's purchase_topics")
        return _purchase(topic, root, settings, webhook_id)
    if topic == "refunds/create":
        return _refund(root, settings, webhook_id)
    return m.ignored(f"topic {topic} is not mapped to an event")


def _currency(node: Node) -> str:
    code = node.text().strip().upper()
    if not is_currency(code):
        raise node.fail("expected an ISO 4217 currency code")
    return code


class _Money:
    """Reads amounts of one order in its presentment currency."""

    def __init__(self, root: Node) -> None:
        self.shop = _currency(root["currency"])
        presentment = root["presentment_currency"]
        self.currency = _currency(presentment) if presentment.present else self.shop

    def of_set(self, node: Node) -> Decimal:
        money = node["presentment_money"].obj()
        code = _currency(money["currency_code"])
        if code != self.currency:
            raise money["currency_code"].fail(
                f"is {code}, but the order's presentment currency is {self.currency}"
            )
        return money["amount"].amount()

    def read(self, root: Node, set_name: str, plain: str | None) -> Decimal | None:
        """``<set_name>.presentment_money``; the plain shop-money field when the currencies match."""
        if root[set_name].present:
            return quantize(self.of_set(root[set_name]), self.currency)
        if plain is None or not root[plain].present:
            return None
        if self.currency != self.shop:
            raise root[set_name].fail(
                f"is missing; the order is paid in {self.currency}, not the shop's {self.shop}, "
                f"so {plain} (shop money) cannot be used"
            )
        return quantize(root[plain].amount(), self.currency)


def _purchase(topic: str, root: Node, settings: dict[str, Any], webhook_id: str | None) -> m.Mapped:
    order_id = root["id"].ident()
    status = root["financial_status"].opt_text()
    if topic == "orders/create" and status not in PAID:
        return m.ignored(f"orders/create with financial_status {status or 'missing'}: not paid yet")
    if root["test"].boolean() and settings["test_orders"] == "drop":
        return m.ignored("test order (test_orders: drop)")
    money = _Money(root)
    total = money.read(root, "total_price_set", "total_price")
    if total is None:
        raise root["total_price_set"].fail("is missing (and so is total_price)")
    if total == 0 and settings["zero_value_orders"] == "drop":
        return m.ignored("zero-value order (zero_value_orders: drop)")
    tax = money.read(root, "total_tax_set", "total_tax")
    tax = quantize(Decimal(0), money.currency) if tax is None else tax
    shipping = money.read(root, "total_shipping_price_set", None)
    if shipping is None:
        shipping = quantize(
            sum((_line_amount(money, line) for line in root["shipping_lines"].array()), Decimal(0)),
            money.currency,
        )
    subtotal = money.read(root, "subtotal_price_set", "subtotal_price")
    if subtotal is None:
        taxes_included = root["taxes_included"].boolean()
        subtotal = total - shipping - (Decimal(0) if taxes_included else tax)
    lines = root["line_items"].array(required=True)
    tip_lines = _tip_lines(money, root, lines)
    items = [_item(money, line) for i, line in enumerate(lines) if i not in tip_lines]
    items = [i for i in items if i is not None]
    if not items:
        raise root["line_items"].fail("has no line item with a quantity of at least 1")
    params: dict[str, Any] = {"transaction_id": order_id}
    params.update(m.money_params(money.currency, subtotal, tax=tax, shipping=shipping))
    codes = [c.obj()["code"].opt_text() for c in root["discount_codes"].array()]
    present = [c for c in codes if c]
    if present:
        params["coupon"] = m.clip(",".join(present))
    params["items"] = items
    customer = root["customer"]
    customer_id = customer["id"].opt_ident() if customer.present else None
    envelope = m.envelope(
        event_name="purchase",
        event_id=m.event_id(SOURCE, order_id, "purchase"),
        timestamp=_paid_time(topic, root),
        params=params,
        user_id=customer_id,
        user_data=_user_data(root, customer_id),
        context=_context(root),
    )
    keys = [f"shopify:order:{order_id}:{topic}"]
    if webhook_id:
        keys.insert(0, f"shopify:webhook:{webhook_id}")
    tokens = [
        m.normalise_token(t)
        for t in (
            root["cart_token"].opt_text(),
            root["checkout_token"].opt_text(),
            root["token"].opt_text(),
        )
        if t
    ]
    carried = m.carried_identity(_note_attributes(root))
    if "token" in carried:
        tokens.append(m.normalise_token(carried.pop("token")))
    return m.Mapped(
        events=(m.OrderEvent(envelope, order_id, tuple(keys)),),
        join_tokens=tuple(dict.fromkeys(tokens)),
        carried=carried,
    )


def _tip_lines(money: _Money, root: Node, lines: list[Node]) -> set[int]:
    """Indexes of the line items that are the order's tip (``total_tip_received``).

    A tip is a line without product or variant; it is not goods, ``subtotal_price`` (the
    value) excludes it, so as an item it made the items no longer add up to the value."""
    tip = root["total_tip_received"].amount() if root["total_tip_received"].present else 0
    if tip <= 0:
        return set()
    found, left = set(), quantize(Decimal(tip), money.currency)
    for i, line in enumerate(lines):
        line.obj()
        if line["product_id"].present or line["variant_id"].present:
            continue
        amount = _line_amount(money, line) * line["quantity"].integer(minimum=0)
        if 0 < amount <= left:
            found.add(i)
            left -= amount
    return found


def _paid_time(topic: str, root: Node) -> int:
    """The purchase's business time: when it was paid. ``orders/paid`` fires when the order
    becomes paid, which updates it, so its ``updated_at`` is the payment time (``processed_at``
    is the order's creation, days earlier for bank transfers and vouchers, and would put a
    late payment outside GA4's 72 h window before it was ever sent). ``orders/create`` of an
    order already paid: it was paid when it was processed."""
    if topic == "orders/paid" and root["updated_at"].present:
        return m.timestamp_ms(root["updated_at"])
    return m.first_timestamp(root["processed_at"], root["created_at"])


def _line_amount(money: _Money, line: Node) -> Decimal:
    if line["price_set"].present:
        return quantize(money.of_set(line["price_set"]), money.currency)
    if money.currency != money.shop:
        raise line["price_set"].fail("is missing on a multi-currency order")
    return quantize(line["price"].amount(), money.currency)


def _item(money: _Money, line: Node) -> dict[str, Any] | None:
    line.obj()
    qty = line["quantity"].integer(minimum=0)
    if qty == 0:  # removed by an order edit
        return None
    unit = _line_amount(money, line)
    allocations = line["discount_allocations"].array()
    if allocations:
        discount = sum((money.of_set(a["amount_set"]) for a in allocations), Decimal(0))
    elif line["total_discount_set"].present:
        discount = money.of_set(line["total_discount_set"])
    elif line["total_discount"].present and money.currency == money.shop:
        discount = line["total_discount"].amount()
    else:
        discount = Decimal(0)
    paid_unit = quantize((unit * qty - discount) / qty, money.currency)
    item_id = (
        line["sku"].opt_text()
        or line["variant_id"].opt_ident()
        or line["product_id"].opt_ident()
        or line["id"].ident()
    )
    return m.item(
        item_id,
        line["title"].opt_text() or line["name"].opt_text(),
        qty,
        paid_unit,
        discount=unit - paid_unit,
        brand=line["vendor"].opt_text(),
        variant=line["variant_title"].opt_text(),
    )


def _note_attributes(root: Node) -> list[tuple[str, Any]]:
    pairs = []
    for attr in root["note_attributes"].array():
        attr.obj()
        pairs.append((attr["name"].value, attr["value"].value))
    return pairs


def _user_data(root: Node, customer_id: str | None) -> dict[str, str | None]:
    customer = root["customer"]
    address = (
        root["billing_address"] if root["billing_address"].present else root["shipping_address"]
    )

    def addr(name: str) -> str | None:
        return address[name].opt_text() if address.present else None

    def cust(name: str) -> str | None:
        return customer[name].opt_text() if customer.present else None

    return {
        "email": root["email"].opt_text() or root["contact_email"].opt_text() or cust("email"),
        "phone": root["phone"].opt_text() or cust("phone") or addr("phone"),
        "first_name": addr("first_name") or cust("first_name"),
        "last_name": addr("last_name") or cust("last_name"),
        "city": addr("city"),
        "region": addr("province_code"),
        "postal_code": addr("zip"),
        "country": addr("country_code"),
        "external_id": customer_id,
    }


def channel(source_name: str | None) -> str:
    """Where the order was placed, from Shopify's ``source_name``: ``web`` (online store
    checkout), ``pos`` (Shopify POS), ``subscription_contract*`` (a subscription app's automatic
    renewal); draft orders, other apps and a missing name are ``other``: nothing says a browser
    checkout happened (docs/destinations.md)."""
    name = (source_name or "").strip().lower()
    if name in ("web", "pos"):
        return name
    if name.startswith("subscription_contract"):
        return "subscription"
    return "other"


def _context(root: Node) -> dict[str, str | None]:
    details = root["client_details"]
    present = details.present
    return {
        "channel": channel(root["source_name"].opt_text()),
        "ip": (details["browser_ip"].opt_text() if present else None)
        or root["browser_ip"].opt_text(),
        "user_agent": details["user_agent"].opt_text() if present else None,
        "language": m.language(details["accept_language"].opt_text() if present else None)
        or root["customer_locale"].opt_text(),
    }


def _refund(root: Node, settings: dict[str, Any], webhook_id: str | None) -> m.Mapped:
    refund_id = root["id"].ident()
    order_id = root["order_id"].ident()
    if settings["test_orders"] == "drop" and _test_refund(root):
        return m.ignored("refund of a test order (test_orders: drop)")
    value, currency = _refund_total(root)
    if value is None or currency is None:
        return m.ignored("refund with no successful refund transaction and no refunded line")
    items = []
    for line in root["refund_line_items"].array():
        line.obj()
        qty = line["quantity"].integer(minimum=0)
        if qty == 0:
            continue
        item = line["line_item"]
        subtotal = _refunded_line(line, item, qty, currency)
        if subtotal is None:
            continue  # the amount comes from the transactions; only this item is left out
        item_id = (
            (
                item["sku"].opt_text()
                or item["variant_id"].opt_ident()
                or item["product_id"].opt_ident()
            )
            if item.present
            else None
        ) or line["line_item_id"].ident()
        items.append(
            m.item(
                item_id,
                item["title"].opt_text() if item.present else None,
                qty,
                quantize(subtotal / qty, currency),
            )
        )
    params: dict[str, Any] = {"transaction_id": order_id}
    params.update(m.money_params(currency, value))
    if items:
        params["items"] = items
    envelope = m.envelope(
        event_name="refund",
        event_id=m.event_id(SOURCE, order_id, "refund", refund_id),
        timestamp=m.first_timestamp(root["processed_at"], root["created_at"]),
        params=params,
    )
    keys = [f"shopify:order:{order_id}:refunds/create:{refund_id}"]
    if webhook_id:
        keys.insert(0, f"shopify:webhook:{webhook_id}")
    return m.Mapped(events=(m.OrderEvent(envelope, order_id, tuple(keys)),))


def _test_refund(root: Node) -> bool:
    """Refunds carry no test flag of their own; their transactions do (test gateways)."""
    flags = [tx.obj()["test"].boolean() for tx in root["transactions"].array()]
    return bool(flags) and all(flags)


def _set_or_plain(node: Node, set_name: str, plain: str, currency: str) -> Decimal:
    if node[set_name].present:
        money = node[set_name]["presentment_money"].obj()
        code = _currency(money["currency_code"])
        if code != currency:
            raise money["currency_code"].fail(f"is {code}, but the refund is in {currency}")
        return money["amount"].amount()
    return node[plain].amount()


def _refunded_line(line: Node, item: Node, qty: int, currency: str) -> Decimal | None:
    """What one refunded line was worth: its ``subtotal``; Shopify's own sample body (the admin's
    test notification) has none, so the line item's unit price (less its discount) times the
    refunded quantity; None when neither is there."""
    if line["subtotal_set"].present or line["subtotal"].present:
        return _set_or_plain(line, "subtotal_set", "subtotal", currency)
    if not item.present or not (item["price_set"].present or item["price"].present):
        return None
    unit = _set_or_plain(item, "price_set", "price", currency)
    ordered = item["quantity"].integer(minimum=1) if item["quantity"].present else qty
    discount = Decimal(0)
    if item["total_discount_set"].present or item["total_discount"].present:
        discount = _set_or_plain(item, "total_discount_set", "total_discount", currency)
    return unit * qty - discount * qty / ordered


def _refund_total(root: Node) -> tuple[Decimal | None, str | None]:
    """Money actually returned: successful refund transactions; else the refunded lines."""
    total = Decimal(0)
    currency: str | None = None
    seen = False
    for tx in root["transactions"].array():
        tx.obj()
        if tx["kind"].opt_text() != "refund" or tx["status"].opt_text() != "success":
            continue
        if tx["amount_set"].present:
            money = tx["amount_set"]["presentment_money"].obj()
            code, amount = _currency(money["currency_code"]), money["amount"].amount()
        else:
            code, amount = _currency(tx["currency"]), tx["amount"].amount()
        if currency is not None and code != currency:
            raise tx["currency"].fail(f"is {code}, but an earlier refund transaction is {currency}")
        currency, total, seen = code, total + amount, True
    if seen and currency is not None:
        return quantize(total, currency), currency
    for line in root["refund_line_items"].array():
        line.obj()
        for set_name in ("subtotal_set", "total_tax_set"):
            if not line[set_name].present:
                continue
            money = line[set_name]["presentment_money"].obj()
            code = _currency(money["currency_code"])
            if currency is not None and code != currency:
                raise money["currency_code"].fail(f"is {code}, but other lines are {currency}")
            currency, total, seen = code, total + money["amount"].amount(), True
    if seen and currency is not None:
        return quantize(total, currency), currency
    return None, None


__all__ = ["PayloadError", "map_webhook"]
