"""The identity join: the browser's ids and consent, stored at checkout, meet the order webhook.

``POST /v1/context`` stores the browser's fields (``parse_context``) under ``cart:<token>`` (the cart/checkout
token, WooCommerce order key or Stripe client_reference_id). A webhook's order looks it up by
its tokens; when none matches, the ids the order carries itself (cart/note attributes,
meta_data, metadata) are used. Once a purchase has joined, its context is also kept under
``order:<source>:<order id>`` so the order's later refunds join the same way. The two key
prefixes keep browser-chosen tokens from ever naming an order's entry.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from formats.contract import CONTEXT_MAX, ID_MAX, PII_MAX
from formats.plan.model import CONTEXT_FIELDS, ITEM_FIELDS, Plan
from sidecar.minimisation.ip import IpError, parse_ip
from sidecar.webhooks.model import normalise_token
from sidecar.webhooks.payload import PayloadError

# A context is only useful until its order is paid; bank transfers and vouchers can take a
# couple of weeks. Kept shorter than the plan's retention when that is longer (minimisation).
CONTEXT_TTL_MAX_S = 30 * 86400
TOKEN = re.compile(r"[\x21-\x7e]{8,256}")
ID_FIELDS = ("client_id", "session_id")
CONTEXT_STRINGS = (
    "fbp",
    "fbc",
    "gclid",
    "gcs",
    "gcd",
    "tcf",
    "page_location",
    "page_referrer",
    "language",
    "user_agent",
    "region",
    "gpc",
)
# Identifiers a context keeps only while their purpose is granted (docs/privacy.md, "The
# snippet"): the GA ids measure (analytics), click ids attribute ads (ads).
PURPOSE_OF_IDS = {
    "client_id": "analytics",
    "session_id": "analytics",
    "fbp": "ads",
    "fbc": "ads",
    "gclid": "ads",
}
# How an order found its browser identity; the join-rate counters use these names.
JOINED_TOKEN = "token"  # noqa: S105 - a label, not a secret
JOINED_ORDER = "order"
JOINED_ATTRIBUTES = "attributes"
NOT_JOINED = "none"
HOWS = (JOINED_TOKEN, JOINED_ORDER, JOINED_ATTRIBUTES, NOT_JOINED)


def context_ttl(plan: Plan) -> int:
    """The plan's privacy.contexts_retention_days (at most 30), within retention_days."""
    days = min(plan.privacy.contexts_retention_days, plan.retention_days)
    return min(days * 86400, CONTEXT_TTL_MAX_S)


def cart_key(token: str) -> str:
    return "cart:" + normalise_token(token)


def order_key(source: str, order_id: str) -> str:
    return f"order:{source}:{order_id}"


# --- latest consent wins -----------------------------------------------------------------------
# The browser reports consent with every event and with its checkout context. The state that
# applies to an order is the latest one reported before it, wherever it came from: a context
# granting ads followed by an event with ads: false must not leave the order queued for ads.
# Kept per client id (the GA client id the context and the events share), with its time.


def consent_key(client_id: str) -> str:
    return "consent:" + client_id


def remember_consent(
    store: Any, client_id: str, consent: dict[str, bool], at: float, ttl_s: int
) -> None:
    """Keep ``consent`` as the client's latest state unless a later one is already kept."""
    if not client_id or not isinstance(consent, dict):
        return
    key = consent_key(client_id[:ID_MAX])
    kept = store.get_context(key)
    if kept and isinstance(kept.get("at"), int | float) and kept["at"] > at:
        return
    store.put_context(key, {"consent": dict(consent), "at": at}, ttl_s)


def apply_latest_consent(
    store: Any, joined: Joined, event_name: str, event_time: float
) -> tuple[Joined, str | None]:
    """The join with the latest consent the browser reported before ``event_time``.

    A purchase takes that state whole when it is newer than the context's. A refund keeps
    what its purchase joined but loses every purpose withdrawn since (before the refund):
    a withdrawal reaches the order's later events, a grant after the purchase does not
    widen what the purchase was allowed."""
    client_id = joined.context.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        return joined, None
    kept = store.get_context(consent_key(client_id[:ID_MAX]))
    if not kept or not isinstance(kept.get("consent"), dict):
        return joined, None
    at = kept.get("at")
    if not isinstance(at, int | float) or at > event_time:
        return joined, None
    latest = {p: v for p, v in kept["consent"].items() if isinstance(v, bool)}
    current = joined.context.get("consent")
    current = dict(current) if isinstance(current, dict) else {}
    if event_name == "refund":
        withdrawn = {p for p, v in latest.items() if v is False and current.get(p) is not False}
        if not withdrawn:
            return joined, None
        current.update(dict.fromkeys(withdrawn, False))
        how = "withdrawn since the purchase: " + ", ".join(sorted(withdrawn))
        return Joined(joined.how, {**joined.context, "consent": current}), how
    reported = joined.context.get("reported_at")
    if isinstance(reported, int | float) and reported >= at:
        return joined, None  # the context itself is the latest report
    if latest == current:
        return joined, None
    return Joined(joined.how, {**joined.context, "consent": latest}), "latest browser report"


def parse_context(document: Any, plan: Plan) -> tuple[str, dict[str, Any]]:
    """Validate a ``POST /v1/context`` body: (token, context) or ``ContextErrors`` listing all."""
    errors: list[PayloadError] = []
    if not isinstance(document, dict):
        raise ContextErrors([PayloadError("/", "expected a JSON object")])
    allowed = {"token", "consent", *ID_FIELDS, *CONTEXT_STRINGS}
    for name in sorted(set(document) - allowed):
        errors.append(PayloadError(f"/{name}", "unknown field"))
    token = document.get("token")
    if not isinstance(token, str) or not TOKEN.fullmatch(token.strip()):
        errors.append(
            PayloadError("/token", "required: the cart/checkout token, 8-256 printable characters")
        )
    context: dict[str, Any] = {}
    for name in (*ID_FIELDS, *CONTEXT_STRINGS):
        value = document.get(name)
        if value is None or value == "":
            continue
        limit = ID_MAX if name in ID_FIELDS else CONTEXT_MAX
        if not isinstance(value, str):
            errors.append(PayloadError(f"/{name}", "expected a string"))
        elif len(value) > limit:
            errors.append(PayloadError(f"/{name}", f"longer than {limit} characters"))
        else:
            context[name] = value
    consent = document.get("consent")
    if consent is not None:
        if not isinstance(consent, dict):
            errors.append(PayloadError("/consent", "expected an object of purpose: true|false"))
        else:
            for purpose, granted in consent.items():
                if purpose not in plan.purposes:
                    errors.append(
                        PayloadError(
                            f"/consent/{purpose}",
                            f"unknown purpose; the plan has {', '.join(plan.purposes)}",
                        )
                    )
                elif not isinstance(granted, bool):
                    errors.append(PayloadError(f"/consent/{purpose}", "expected true or false"))
            if not errors:
                context["consent"] = dict(consent)
    if errors:
        raise ContextErrors(errors)
    return normalise_token(str(token)), context


def consented(context: dict[str, Any], plan: Plan, origin: Any = None) -> dict[str, Any]:
    """The context without the identifiers whose purpose is not granted right now.

    Purposes are decided as for an event (``sidecar.decision.consent``: the posted consent, narrowed by
    the gcs/gcd/tcf signals, GPC and the visitor's region), so a context never keeps an id the
    event pipeline would refuse to use. The user agent stays only when a destination that gets
    it has all its purposes granted; URLs lose PII query parameters.
    """
    from sidecar.decision.consent import effective_purposes
    from sidecar.minimisation.url import minimise_url

    envelope = {"consent": context.get("consent") or {}, "context": context}
    states, _, _ = effective_purposes(envelope, plan, origin)
    granted = {p for p, s in states.items() if s.granted}
    out = {}
    for name, value in context.items():
        purpose = PURPOSE_OF_IDS.get(name)
        if purpose is not None and purpose not in granted:
            continue
        if name == "user_agent" and not any(
            d.user_agent and set(d.purposes) <= granted for d in plan.destinations.values()
        ):
            continue
        if name in ("page_location", "page_referrer"):
            value = minimise_url(value, False, plan.privacy.deny_params, plan.privacy.keep_params)
            if not value:
                continue
        out[name] = value
    return out


class ContextErrors(ValueError):
    def __init__(self, errors: list[PayloadError]) -> None:
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


@dataclass(frozen=True)
class Joined:
    how: str  # one of HOWS
    context: dict[str, Any]


def find(store: Any, keys: Iterable[tuple[str, str]], carried: dict[str, Any]) -> Joined:
    """The first stored context among ``(how, key)`` candidates, filled in from ``carried``."""
    for how, key in keys:
        found = store.get_context(key)
        if found:
            merged = {**_from_carried(carried), **found}
            return Joined(how, merged)
    if carried:
        return Joined(JOINED_ATTRIBUTES, _from_carried(carried))
    return Joined(NOT_JOINED, {})


def _from_carried(carried: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in carried.items() if k != "consent"}
    if "consent" in carried:
        out["consent"] = dict.fromkeys(carried["consent"], True)
    return out


def enrich(envelope: dict[str, Any], joined: Joined, plan: Plan) -> dict[str, Any]:
    """The envelope with the browser's ids, click ids, page and consent from the join.

    Without a context the envelope keeps ``consent: {}``, so the plan's policy for missing
    consent decides (strict: every consent-based purpose denied, ads destinations get nothing).
    """
    out = dict(envelope)
    context = dict(out.get("context", {}))
    found = joined.context
    for name in ID_FIELDS:
        value = found.get(name)
        if isinstance(value, str) and value:
            out[name] = value[:ID_MAX]
    for name in CONTEXT_STRINGS:
        value = found.get(name)
        if not isinstance(value, str) or not value:
            continue
        if name in ("user_agent", "language") and context.get(name):
            continue  # the order's own request is the better witness of these
        context[name] = value[:CONTEXT_MAX]
    if context:
        out["context"] = context
    consent = found.get("consent")
    if isinstance(consent, dict):
        out["consent"] = {
            p: v for p, v in consent.items() if p in plan.purposes and isinstance(v, bool)
        }
    return out


def fit_to_plan(envelope: dict[str, Any], plan: Plan) -> tuple[dict[str, Any], list[str]]:
    """Keep only what the plan declares: the event's params, its item fields, its PII fields.

    What a platform sends beyond the plan is not collected (minimisation), not an error. An
    optional value the envelope schema would refuse (an unparsable IP, an over-long PII value)
    is left out too, and reported: rejecting the whole order over it would make the platform
    retry, then give up on the subscription. Returns the envelope and the pointers left out.
    """
    event = plan.events[envelope["event_name"]]
    out = dict(envelope)
    dropped: list[str] = []
    params = {k: v for k, v in envelope["params"].items() if k in event.params}
    item_fields = set(ITEM_FIELDS) | set(plan.item_fields)
    if "items" in params:
        items = params["items"]
        if len(items) > plan.max_items:
            dropped.append(
                f"/params/items: {len(items)} items; the plan keeps the first {plan.max_items}"
            )
        params["items"] = [{k: v for k, v in item.items() if k in item_fields} for item in items][
            : plan.max_items
        ]
    out["params"] = params
    pii = {}
    for name, value in envelope.get("user_data", {}).items():
        if name not in plan.user_data:
            continue
        if len(value) > PII_MAX:
            dropped.append(f"/user_data/{name}: longer than {PII_MAX} characters")
        else:
            pii[name] = value
    out.pop("user_data", None)
    if pii:
        out["user_data"] = pii
    context = {}
    for name, value in envelope.get("context", {}).items():
        if name not in CONTEXT_FIELDS:
            continue
        if name == "ip" and isinstance(parse_ip(value), IpError):
            dropped.append("/context/ip: not an IP address")
            continue
        context[name] = value[:CONTEXT_MAX]
    out.pop("context", None)
    if context:
        out["context"] = context
    return out, dropped


class JoinCounters:
    """Process-local join counts (like the app's counters): orders per way they joined."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(HOWS, 0)
        self._ignored = 0

    def add(self, how: str) -> None:
        with self._lock:
            self._values[how] += 1

    def add_ignored(self) -> None:
        with self._lock:
            self._ignored += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            values = dict(self._values)
            ignored = self._ignored
        total = sum(values.values())
        joined = total - values[NOT_JOINED]
        return {
            "orders": total,
            "joined": {k: values[k] for k in HOWS if k != NOT_JOINED},
            "not_joined": values[NOT_JOINED],
            "join_rate": round(joined / total, 4) if total else None,
            "ignored_deliveries": ignored,
        }
