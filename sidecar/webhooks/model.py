"""What a webhook mapping produces, and the helpers the three platform mappings share.

A mapping is a pure function: payload (already verified and parsed) -> ``Mapped``. It knows
nothing of HTTP, the store or the clock; the identity join and the plan's consent decision
happen afterwards (``sidecar.api.webhooks``).

Event ids (docs/webhooks.md), the formula the shop's browser pixel uses too:

- ``<source>-<order id>-purchase``
- ``<source>-<order id>-refund-<refund id>``
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sidecar.webhooks.money import json_number, quantize
from sidecar.webhooks.payload import Node

NAME_MAX = 100  # item name/id and coupon: the plan compiler's item schema bounds
ID_MAX = 100


@dataclass(frozen=True)
class OrderEvent:
    envelope: dict[str, Any]  # canonical envelope v1; consent {} until the join fills it
    order_id: str
    dedupe_keys: tuple[str, ...]


@dataclass(frozen=True)
class Mapped:
    events: tuple[OrderEvent, ...] = ()
    # Tokens to look the browser's context up by, most specific first (cart/checkout token,
    # order key, client_reference_id ...), each already normalised.
    join_tokens: tuple[str, ...] = ()
    # Identity the order carries itself (Shopify note attributes, WooCommerce meta_data,
    # Stripe metadata): the fallback when no stored context matches.
    carried: dict[str, Any] = field(default_factory=dict)
    # Why nothing was mapped; set exactly when ``events`` is empty.
    ignored: str | None = None
    # Lookups to remember for later deliveries (store key -> order id): a Stripe charge's
    # PaymentIntent, so a refund that names only the charge finds its purchase.
    aliases: dict[str, str] = field(default_factory=dict)
    # The events name this charge instead of their order (a refund without payment_intent):
    # the caller resolves it through the aliases before queueing.
    via_charge: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": [
                {"envelope": e.envelope, "order_id": e.order_id, "dedupe_keys": list(e.dedupe_keys)}
                for e in self.events
            ],
            "join_tokens": list(self.join_tokens),
            "carried": self.carried,
            "ignored": self.ignored,
            **({"aliases": self.aliases} if self.aliases else {}),
            **({"via_charge": self.via_charge} if self.via_charge else {}),
        }


def ignored(reason: str) -> Mapped:
    return Mapped(ignored=reason)


def event_id(source: str, order_id: str, event_name: str, refund_id: str | None = None) -> str:
    """The documented, deterministic event id (see the module docstring)."""
    base = f"{source}-{order_id}-{event_name}"
    return f"{base}-{refund_id}" if refund_id is not None else base


def clip(text: str | None, limit: int = NAME_MAX) -> str | None:
    return text[:limit] if text else None


def timestamp_ms(node: Node, *, assume_utc: bool = False) -> int:
    """ISO 8601 text (Shopify: with offset; WooCommerce ``*_gmt``: without) -> epoch ms."""
    text = node.text()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise node.fail("expected an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        if not assume_utc:
            raise node.fail("expected an ISO 8601 date-time with a UTC offset")
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def first_timestamp(*nodes: Node, assume_utc: bool = False) -> int:
    for node in nodes:
        if node.present:
            return timestamp_ms(node, assume_utc=assume_utc)
    raise nodes[0].fail("expected an ISO 8601 date-time, but it is missing")


def item(
    item_id: str,
    name: str | None,
    qty: int,
    unit_price: Decimal,
    *,
    discount: Decimal | None = None,
    brand: str | None = None,
    variant: str | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    """One envelope item; optional fields only when the payload has them."""
    out: dict[str, Any] = {"id": item_id[:ID_MAX]}
    if name:
        out["name"] = name[:NAME_MAX]
    if category:
        out["category"] = category[:NAME_MAX]
    out["qty"] = qty
    out["price"] = json_number(unit_price)
    if brand:
        out["brand"] = brand[:NAME_MAX]
    if variant:
        out["variant"] = variant[:NAME_MAX]
    if discount is not None and discount > 0:
        out["discount"] = json_number(discount)
    return out


def money_params(
    currency: str,
    value: Decimal,
    *,
    tax: Decimal | None = None,
    shipping: Decimal | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"currency": currency, "value": json_number(quantize(value, currency))}
    if tax is not None:
        params["tax"] = json_number(quantize(tax, currency))
    if shipping is not None:
        params["shipping"] = json_number(quantize(shipping, currency))
    return params


def envelope(
    *,
    event_name: str,
    event_id: str,
    timestamp: int,
    params: dict[str, Any],
    user_id: str | None = None,
    user_data: dict[str, str | None] | None = None,
    context: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema": 1,
        "event_name": event_name,
        "event_id": event_id,
        "timestamp": timestamp,
    }
    if user_id:
        out["user_id"] = user_id
    out["consent"] = {}
    out["params"] = params
    pii = {k: v for k, v in (user_data or {}).items() if v}
    if pii:
        out["user_data"] = pii
    ctx = {k: v for k, v in (context or {}).items() if v}
    if ctx:
        out["context"] = ctx
    return out


def language(accept_language: str | None) -> str | None:
    """The first tag of an Accept-Language header ("de-DE,de;q=0.9" -> "de-DE")."""
    if not accept_language:
        return None
    first = accept_language.split(",")[0].split(";")[0].strip()
    return first or None


# --- identity carried by the order (the join's fallback) -----------------------------------

# Attribute names shops use for the browser ids, after normalisation (lower case, leading
# underscores and an "sgtm_" prefix removed): "_sgtm_client_id", "ga_client_id", "_fbp" ...
_CARRIED_NAMES: dict[str, str] = {
    "client_id": "client_id",
    "ga_client_id": "client_id",
    "ga": "client_id",  # the _ga cookie itself
    "session_id": "session_id",
    "ga_session_id": "session_id",
    "fbp": "fbp",
    "fbc": "fbc",
    "gclid": "gclid",
    "gcs": "gcs",
    "consent": "consent",
    "token": "token",
    "context": "token",
}
_GA_COOKIE = re.compile(r"GA\d\.\d+\.(\d+\.\d+)")
CARRIED_MAX = 512


def _normal_name(name: str) -> str:
    key = name.strip().lower().lstrip("_")
    if key.startswith("sgtm_"):
        key = key[5:]
    return key


def ga_client_id(value: str) -> str:
    """``GA1.1.1827526090.1689745728`` (the _ga cookie) -> ``1827526090.1689745728``."""
    match = _GA_COOKIE.fullmatch(value.strip())
    return match.group(1) if match else value.strip()


def carried_identity(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The identity fields among an order's name/value attributes; unknown names are ignored
    (they are the shop's own), values that are not short strings too."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        target = _CARRIED_NAMES.get(_normal_name(name)) if isinstance(name, str) else None
        if target is None or not isinstance(value, str) or not value.strip():
            continue
        text = value.strip()[:CARRIED_MAX]
        if target == "client_id":
            text = ga_client_id(text)
        if target == "consent":
            # A comma-separated list of the granted purposes; every other purpose is denied.
            out[target] = sorted({p.strip() for p in text.split(",") if p.strip()})
            continue
        out.setdefault(target, text)
    return out


def normalise_token(token: str) -> str:
    """Shopify cart tokens may carry ``?key=...``; the order's ``cart_token`` does not."""
    return token.strip().split("?", 1)[0]
