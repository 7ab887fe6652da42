"""What becomes of one verified webhook body, apart from HTTP: mapped, joined to the browser's
context, checked, queued through ``Pipeline.ingest``, or quarantined with its precise mapping
errors. The HTTP surface (``sidecar.api.webhooks``) and quarantine replay
(``sidecar.webhooks.replay``) both call ``handle_body``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from formats.plan.model import Plan, Source
from sidecar.ingest import ACCEPTED, DUPLICATE, REJECTED, Pipeline
from sidecar.store.base import QuarantinedBody
from sidecar.store.reconcile import DuplicateRow, record_duplicates, record_join
from sidecar.verification import webhook_signatures as sig
from sidecar.webhooks import identity, shopify, stripe, woocommerce
from sidecar.webhooks.model import Mapped
from sidecar.webhooks.payload import PayloadError, parse_body, repair_surrogates

log = logging.getLogger("sidecar.webhooks")

# What re-verifies a quarantined body later, per platform (never the secret itself).
KEPT_HEADERS: dict[str, tuple[str, ...]] = {
    "shopify": (
        sig.SHOPIFY_HEADER,
        "X-Shopify-Topic",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Shop-Domain",
        "X-Shopify-Event-Id",
        "X-Shopify-Triggered-At",
    ),
    "woocommerce": (
        sig.WOOCOMMERCE_HEADER,
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-ID",
        "X-WC-Webhook-Delivery-ID",
    ),
    "stripe": (sig.STRIPE_HEADER,),
}
TOPIC_HEADERS = {"shopify": "X-Shopify-Topic", "woocommerce": "X-WC-Webhook-Topic"}


@dataclass
class Handled:
    """What became of one verified webhook body."""

    topic: str
    status: str  # accepted, duplicate, ignored; meaningless when ``errors`` is set
    answers: list[dict[str, Any]] = field(default_factory=list)
    errors: tuple[dict[str, str], ...] = ()  # the body cannot (fully) be mapped: quarantine
    reason: str | None = None
    # Where lone surrogates were replaced by U+FFFD: an authentic delivery is never refused
    # for them (docs/sidecar.md "Threat model").
    repaired: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        out["events"] = self.answers
        if self.repaired:
            out["repaired"] = self.repaired[:20]
        return out


def map_body(
    source: Source, headers: dict[str, str], body: bytes, repaired: list[str] | None = None
) -> tuple[str, Mapped]:
    """(topic, mapped) for a verified body; ``PayloadError`` names what cannot be mapped.
    Lone surrogates are replaced by U+FFFD and their pointers appended to ``repaired``."""
    kind = source.kind
    repaired = [] if repaired is None else repaired
    if kind == "stripe":
        payload = repair_surrogates(parse_body(body), "", repaired)
        topic = payload.get("type", "") if isinstance(payload, dict) else ""
        return str(topic), stripe.map_event(payload, source.settings)
    name = TOPIC_HEADERS[kind]
    topic = (headers.get(name) or "").strip()
    if not topic:
        raise PayloadError(name, "header is missing")
    payload = repair_surrogates(parse_body(body), "", repaired)
    if kind == "shopify":
        webhook_id = (headers.get("X-Shopify-Webhook-Id") or "").strip()[:128] or None
        return topic, shopify.map_webhook(topic, payload, source.settings, webhook_id=webhook_id)
    return topic, woocommerce.map_webhook(topic, payload, source.settings)


def handle_body(
    plan: Plan,
    store: Any,
    pipeline: Pipeline,
    source: Source,
    headers: dict[str, str],
    body: bytes,
    counters: identity.JoinCounters,
) -> Handled:
    """Map, join and queue one verified body (the HTTP route and quarantine replay)."""
    topic = _best_topic(source, headers, body)
    repaired: list[str] = []
    try:
        topic, mapped = map_body(source, headers, body, repaired)
    except PayloadError as exc:
        return Handled(topic, "quarantined", errors=(exc.as_dict(),))
    if repaired:
        _log_delivery(
            source.name,
            topic,
            "repaired",
            "lone surrogates replaced by U+FFFD at " + ", ".join(repaired[:20]),
        )
    handled = process(plan, store, pipeline, source, topic, mapped, counters)
    handled.repaired = repaired
    return handled


def _best_topic(source: Source, headers: dict[str, str], body: bytes) -> str:
    """The topic for the quarantine record, also when the body cannot be mapped."""
    name = TOPIC_HEADERS.get(source.kind)
    if name is not None:
        return (headers.get(name) or "").strip()
    try:
        payload = parse_body(body)
    except PayloadError:
        return ""
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind[:200] if isinstance(kind, str) else ""


def _seen(store: Any, event_id: str) -> bool:
    """Already accepted, however long ago (the ledger keeps events for the retention period).

    The outbox dedupe window (48 h) is too short for order webhooks: a WooCommerce order
    that is completed a week after it was paid arrives again looking paid.
    """
    ledger = getattr(store, "ledger", None)
    return callable(ledger) and ledger(event_id) is not None


def process(
    plan: Plan,
    store: Any,
    pipeline: Pipeline,
    source: Source,
    topic: str,
    mapped: Mapped,
    counters: identity.JoinCounters,
) -> Handled:
    for key, order_id in mapped.aliases.items():
        store.put_context(key, {"order_id": order_id}, identity.context_ttl(plan))
    if mapped.via_charge is not None:
        alias = store.get_context(stripe.CHARGE_ALIAS + mapped.via_charge)
        if not alias or not isinstance(alias.get("order_id"), str):
            error = {
                "pointer": "/data/object/payment_intent",
                "message": "the refund names no payment_intent and its charge has not been "
                "seen (subscribe to charge.succeeded); replay it once the charge is known",
            }
            return Handled(topic, "quarantined", errors=(error,))
        mapped = stripe.resolve_charge(mapped, alias["order_id"])
    if not mapped.events:
        counters.add_ignored()
        _log_delivery(source.name, topic, "ignored", mapped.ignored)
        return Handled(topic, "ignored", reason=mapped.ignored)
    answers: list[dict[str, Any]] = []
    todo = []
    for event in mapped.events:
        name = event.envelope["event_name"]
        event_id = event.envelope["event_id"]
        if name not in plan.events:
            reason = f"the tracking plan declares no {name} event"
            answers.append({"event_id": event_id, "status": "ignored", "reason": reason})
        elif _seen(store, event_id):
            answers.append({"event_id": event_id, "status": DUPLICATE})
            record_duplicates(store, [_duplicate_row(event, source.name, time.time())])
        else:
            todo.append(event)
    errors: list[dict[str, str]] = []
    if todo:
        order_id = todo[0].order_id
        candidates = [(identity.JOINED_TOKEN, identity.cart_key(t)) for t in mapped.join_tokens]
        candidates.append((identity.JOINED_ORDER, identity.order_key(source.name, order_id)))
        joined = identity.find(store, candidates, mapped.carried)
        fitted = []
        for e in todo:
            event_joined, latest = identity.apply_latest_consent(
                store, joined, e.envelope["event_name"], e.envelope["timestamp"] / 1000.0
            )
            if latest:
                _log_delivery(source.name, topic, "consent_updated", latest)
            fitted.append(
                identity.fit_to_plan(identity.enrich(e.envelope, event_joined, plan), plan)
            )
        envelopes = [envelope for envelope, _ in fitted]
        # A body that cannot be queued writes nothing: checked first, then the context kept.
        invalid = _pointed([(i, errs) for i, errs in enumerate(pipeline.errors(envelopes)) if errs])
        if invalid:
            return Handled(topic, "quarantined", answers, tuple(invalid))
        purchase = any(e.envelope["event_name"] == "purchase" for e in todo)
        if (
            purchase
            and "refund" in plan.events
            and joined.how in (identity.JOINED_TOKEN, identity.JOINED_ATTRIBUTES)
        ):
            # Kept for the order's refunds, which carry no cart token. Written before the
            # events, so a retry after a failed enqueue writes it again.
            store.put_context(
                identity.order_key(source.name, order_id),
                joined.context,
                identity.context_ttl(plan),
            )
        results = pipeline.ingest(
            envelopes,
            source.name,
            dedupe_keys=[e.dedupe_keys for e in todo],
            order_ids=[e.order_id for e in todo],
        )
        for result in results:
            if result.status == ACCEPTED:
                counters.add(joined.how)
                if result.event_id:
                    record_join(store, result.event_id, joined.how, time.time())
        errors = _pointed([(r.index, r.errors) for r in results if r.status == REJECTED])
        for result, (_, dropped) in zip(results, fitted, strict=True):
            answer: dict[str, Any] = {
                "event_id": result.event_id,
                "status": result.status,
                "destinations": result.destinations,
                "join": joined.how,
            }
            if dropped:
                answer["dropped"] = dropped
                _log_delivery(source.name, topic, "dropped_fields", "; ".join(dropped))
            answers.append(answer)
    statuses = {a["status"] for a in answers}
    overall = (
        ACCEPTED if ACCEPTED in statuses else DUPLICATE if DUPLICATE in statuses else "ignored"
    )
    if not errors:
        _log_delivery(source.name, topic, overall, None)
    return Handled(topic, overall, answers, tuple(errors))


def _pointed(rejected: list[tuple[int, tuple[Any, ...]]]) -> list[dict[str, str]]:
    """Each mapped event's errors by envelope pointer (``/events/<i>/...``)."""
    return [
        {"pointer": f"/events/{index}{e.pointer}", "message": e.message}
        for index, found in rejected
        for e in found
    ]


def _duplicate_row(event: Any, source: str, now: float) -> DuplicateRow:
    txn = event.envelope.get("params", {}).get("transaction_id")
    return DuplicateRow(
        event.envelope["event_id"],
        event.envelope["event_name"],
        source,
        str(txn) if txn is not None else event.order_id,
        now,
        "ledger",
    )


def quarantine_body(
    store: Any,
    source: Source,
    handled: Handled,
    headers: dict[str, str],
    body: bytes,
    now: float,
) -> str:
    """Keep the body; log a ``webhook_quarantined`` record (pointers and types, no values)."""
    item = QuarantinedBody(
        id="",
        source=source.name,
        platform=source.kind,
        topic=handled.topic,
        body=body,
        headers=headers,
        errors=handled.errors,
        received_at=now,
    )
    item_id = store.quarantine(item)
    log.warning(
        "webhook quarantined",
        extra={
            "json_fields": {
                "type": "webhook_quarantined",
                "source": source.name,
                "topic": handled.topic,
                "quarantine_id": item_id,
                "errors": list(handled.errors),
            }
        },
    )
    return item_id


def _log_delivery(source: str, topic: str, status: str, reason: str | None) -> None:
    fields: dict[str, Any] = {"type": "webhook", "source": source, "topic": topic, "status": status}
    if reason:
        fields["reason"] = reason
    log.info("webhook %s", status, extra={"json_fields": fields})
