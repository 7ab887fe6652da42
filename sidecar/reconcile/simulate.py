"""Write a small simulated day into a store through the real ingest path (tests, the demo).

Orders go through ``Pipeline.ingest`` (schema, consent re-check, minimisation, dedupe) exactly
as webhooks and the Event API send them; delivery outcomes are recorded with the store's own
``record`` as the worker would. Nothing here bypasses a rule: it only chooses the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from formats.plan.model import Plan
from sidecar.ingest import Pipeline
from sidecar.store.base import Attempt, Outcome
from sidecar.store.reconcile import record_join

FULL = {"analytics": True, "ads": True, "functional": True}


@dataclass
class Order:
    order_id: str
    value: float
    at: float  # business time (unix seconds)
    source: str = "shopify"
    consent: dict[str, bool] = field(default_factory=lambda: dict(FULL))
    browser: bool = True  # the browser also reported the purchase
    joined: str = "token"  # how the webhook found a browser context (or "none")
    currency: str = "EUR"


def purchase_envelope(order: Order, event_id: str, client: bool) -> dict[str, Any]:
    env: dict[str, Any] = {
        "schema": 1,
        "event_name": "purchase",
        "event_id": event_id,
        "timestamp": int(order.at * 1000),
        "consent": dict(order.consent),
        "params": {
            "transaction_id": order.order_id,
            "value": order.value,
            "currency": order.currency,
            "items": [{"id": "SKU-1", "name": "Mug", "qty": 1, "price": order.value}],
        },
        "user_data": {"email": f"buyer{order.order_id}@example.com"},
        "context": {"user_agent": "Mozilla/5.0 (simulated)", "ip": "203.0.113.7"},
    }
    if order.joined != "none" or client:
        env["client_id"] = f"{order.order_id}.1732860000"
    return env


def ingest_order(plan: Plan, store: Any, order: Order, webhook: bool = True) -> str:
    """The order webhook (5 s after the sale) and the browser's own report of the purchase (8 s
    after, same event id, so answered ``duplicate`` and counted as such); returns the id the
    outbox stores the event under.
    ``webhook=False`` is an order whose webhook never arrived."""
    event_id = f"{order.source}-{order.order_id}-purchase"
    if webhook:
        results = Pipeline(plan, store, clock=lambda: order.at + 5).ingest(
            [purchase_envelope(order, event_id, client=False)],
            order.source,
            dedupe_keys=[(f"{order.source}:order:{order.order_id}:paid",)],
            order_ids=[order.order_id],
        )
        if results[0].status == "accepted":
            record_join(store, event_id, order.joined, order.at + 5)
    if order.browser:
        browser = Pipeline(plan, store, clock=lambda: order.at + 8)
        browser.ingest([purchase_envelope(order, event_id, client=True)], "web")
        if not webhook:
            # Stored in the browser's own id namespace (docs/delivery.md, "Namespaced ids").
            return browser.storage_id(event_id, "web")
    return event_id


def deliver(
    store: Any,
    event_id: str,
    destination: str,
    state: str,
    at: float,
    reason: str = "",
    http_status: int | None = 200,
) -> None:
    """Record one attempt's outcome for one destination, as the worker does."""
    outcome = {"succeeded": "success", "failed": "failure", "aborted": "rejected"}.get(state, state)
    store.claim_event(event_id, at, 30.0)
    store.record(
        event_id,
        [
            Outcome(
                destination,
                state,
                Attempt(at, outcome, reason or outcome, http_status),
                next_attempt_at=at + 60 if state == "failed" else None,
            )
        ],
        at,
    )
