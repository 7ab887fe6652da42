"""The order webhooks and the identity context endpoint.

- ``POST /v1/webhooks/shopify``, ``/v1/webhooks/woocommerce``, ``/v1/webhooks/stripe``:
  verify the signature over the raw body first (401 and nothing else on failure; the
  WooCommerce creation ping, unsigned, answers 200), then parse, map, join the browser
  context, run the envelopes through the same ``Pipeline.ingest`` as the Event API, answer.
- ``POST /v1/context``: the browser's ids and consent for a cart/checkout token,
  authenticated like browser events.

Answers are JSON: ``{"status": "accepted"|"duplicate"|"ignored", "events": [...]}``, or
``202 {"status": "quarantined", "quarantine_id", "errors": [...]}`` when an authentic body
cannot be mapped (it is kept for ``sgtm quarantine replay``; an authentic webhook is never
answered 4xx); errors use the sidecar's error body (401, 503 with Retry-After).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from formats.plan.model import Plan, Source
from sidecar.api import Services, cors, services
from sidecar.api.origin import browser_origin
from sidecar.api.ratelimit import decorators as rate_limits
from sidecar.api.ratelimit import verified
from sidecar.decision.validation import lone_surrogates
from sidecar.errors import AuthError, SidecarError, UnavailableError
from sidecar.ingest import ACCEPTED, DUPLICATE, REJECTED, Pipeline
from sidecar.store.base import QuarantinedBody, StoreUnavailable
from sidecar.store.reconcile import DuplicateRow, record_duplicates, record_join
from sidecar.verification import webhook_signatures as sig
from sidecar.webhooks import identity, shopify, stripe, woocommerce
from sidecar.webhooks.model import Mapped
from sidecar.webhooks.payload import PayloadError, parse_body, repair_surrogates

bp = Blueprint("webhooks", __name__)
log = logging.getLogger("sidecar.webhooks")

_REASONS = {
    "missing": "no signature header",
    "malformed": "the signature header is malformed",
    "no_secret": "no webhook secret is configured for this source",
    "bad_signature": "the signature does not match the body",
    "stale": "the signed timestamp is too old",
    "future": "the signed timestamp is in the future",
}


@dataclass
class WebhookState:
    counters: identity.JoinCounters = field(default_factory=identity.JoinCounters)
    # Stripe's signature tolerance is checked against this clock (tests move it).
    clock: Callable[[], float] = time.time


def state(app: Flask | None = None) -> WebhookState:
    return (app or current_app).extensions["sgtm_webhooks"]


@bp.record_once
def _setup(setup_state: Any) -> None:
    setup_state.app.extensions.setdefault("sgtm_webhooks", WebhookState())


# --- webhooks --------------------------------------------------------------------------------


def _source(svc: Services, kind: str) -> Source:
    source = next((s for s in svc.plan.sources.values() if s.kind == kind), None)
    if source is None:
        raise SidecarError(
            f"the tracking plan declares no {kind} source", status=404, code="not_found"
        )
    return source


def _secrets(svc: Services, source: Source) -> list[str]:
    """The source's secret; during a rotation the variable holds the old and the new one, one
    per line (webhook secrets never contain line breaks)."""
    ref = source.secrets.get("secret")
    raw = svc.config.environ.get(ref.env, "") if ref is not None else ""
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _unauthorized(platform: str, check: sig.WebhookCheck) -> AuthError:
    reason = check.reason or "bad_signature"
    log.warning(
        "webhook signature rejected",
        extra={"json_fields": {"type": "webhook_rejected", "source": platform, "reason": reason}},
    )
    return AuthError(f"{platform} webhook rejected: {_REASONS[reason]}", code="invalid_signature")


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


def _bad_payload(exc: PayloadError) -> SidecarError:
    return SidecarError(str(exc), code="invalid_payload", errors=[exc.as_dict()])


@bp.post("/v1/webhooks/shopify")
def post_shopify() -> tuple[Response, int]:
    svc = services()
    source = _source(svc, "shopify")
    body = request.get_data(cache=True)
    check = sig.verify_shopify(_secrets(svc, source), request.headers.get(sig.SHOPIFY_HEADER), body)
    if not check.ok:
        raise _unauthorized("shopify", check)
    return _verified(svc, source, body)


@bp.post("/v1/webhooks/woocommerce")
def post_woocommerce() -> tuple[Response, int]:
    svc = services()
    source = _source(svc, "woocommerce")
    body = request.get_data(cache=True)
    ping = sig.woocommerce_ping_id(body, request.headers.get("Content-Type"))
    if ping is not None and sig.WOOCOMMERCE_HEADER not in request.headers:
        state().counters.add_ignored()
        return jsonify({"status": "ignored", "reason": f"WooCommerce ping for webhook {ping}"}), 200
    check = sig.verify_woocommerce(
        _secrets(svc, source), request.headers.get(sig.WOOCOMMERCE_HEADER), body
    )
    if not check.ok:
        raise _unauthorized("woocommerce", check)
    return _verified(svc, source, body)


@bp.post("/v1/webhooks/stripe")
def post_stripe() -> tuple[Response, int]:
    svc = services()
    source = _source(svc, "stripe")
    body = request.get_data(cache=True)
    check = sig.verify_stripe(
        _secrets(svc, source),
        request.headers.get(sig.STRIPE_HEADER),
        body,
        now=int(state().clock()),
        tolerance=int(source.settings.get("tolerance_seconds", sig.STRIPE_TOLERANCE_SECONDS)),
    )
    if not check.ok:
        raise _unauthorized("stripe", check)
    return _verified(svc, source, body)


def _verified(svc: Services, source: Source, body: bytes) -> tuple[Response, int]:
    """An authentic body is answered 2xx from here on: mapped and queued, or quarantined.

    A 4xx would make the platform retry the same bytes for hours and then drop the
    subscription (Shopify deletes one that keeps failing); the body would be kept nowhere.
    Only an outbox that cannot write answers 503, so the platform retries later.
    """
    headers = {h: request.headers[h] for h in KEPT_HEADERS[source.kind] if h in request.headers}
    hooks = state()
    try:
        handled = handle_body(
            svc.plan, svc.store, svc.pipeline, source, headers, body, hooks.counters
        )
        if handled.errors:
            item_id = quarantine_body(svc.store, source, handled, headers, body, hooks.clock())
            return (
                jsonify(
                    {
                        "status": "quarantined",
                        "quarantine_id": item_id,
                        "message": "the body is authentic but could not be mapped; it is kept "
                        "for `sgtm quarantine replay`",
                        "errors": list(handled.errors),
                        # What did get through (a refund of the same body, say); the events
                        # that did not are described by ``errors``.
                        "events": [a for a in handled.answers if a["status"] != REJECTED],
                    }
                ),
                202,
            )
    except StoreUnavailable:
        raise UnavailableError(
            "the outbox cannot take events right now; retry", headers={"Retry-After": "5"}
        ) from None
    return jsonify(handled.body()), 200


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


# --- the identity context --------------------------------------------------------------------


@bp.after_request
def _cors(response: Response) -> Response:
    """Only /v1/context is called by browsers; it answers CORS like the Event API."""
    if request.path != "/v1/context":
        return response
    return cors.add_headers(response, "X-Request-Id")


@bp.route("/v1/context", methods=["OPTIONS"], provide_automatic_options=False)
def context_preflight() -> Response:
    return cors.preflight()


@bp.post("/v1/context")
def post_context() -> tuple[Response, int]:
    svc = services()
    if svc.web_auth is None:
        raise SidecarError(
            "the tracking plan declares no web source, so /v1/context is off",
            status=404,
            code="not_found",
        )
    if request.mimetype != "application/json":
        raise SidecarError(
            "Content-Type must be application/json", status=415, code="unsupported_media_type"
        )
    body = request.get_data(cache=True)
    verified(svc.web_auth.authenticate(request.headers, body, request.method, request.path))
    try:
        document = parse_body(body)
        surrogates = lone_surrogates(document)
        if surrogates:
            # A browser's request, not an authentic platform delivery: refused, precisely.
            raise identity.ContextErrors(
                [
                    PayloadError(p, "is not valid Unicode text: it holds a lone surrogate")
                    for p in surrogates[:20]
                ]
            )
        token, context = identity.parse_context(document, svc.plan)
    except PayloadError as exc:
        raise _bad_payload(exc) from None
    except identity.ContextErrors as exc:
        errors = [e.as_dict() for e in exc.errors]
        raise SidecarError(
            f"the context is invalid: {len(errors)} error(s)", code="invalid_context", errors=errors
        ) from None
    agent = request.headers.get("User-Agent")
    if agent and "user_agent" not in context:
        context["user_agent"] = agent[:2048]
    context = identity.consented(context, svc.plan, browser_origin(request.headers))
    ttl = identity.context_ttl(svc.plan)
    now = state().clock()
    context["reported_at"] = now  # latest consent wins: when the browser said this
    try:
        if isinstance(context.get("client_id"), str) and "consent" in context:
            identity.remember_consent(svc.store, context["client_id"], context["consent"], now, ttl)
        svc.store.put_context(identity.cart_key(token), context, ttl)
    except StoreUnavailable:
        raise UnavailableError(
            "the store cannot take the context right now; retry", headers={"Retry-After": "5"}
        ) from None
    return jsonify({"status": "stored", "expires_in": ttl}), 200


@bp.record_once
def _limit_context(setup_state: Any) -> None:
    """``/v1/context`` is reachable by any visitor holding a browser token: it gets the Event
    API's per-IP and per-key limits. Webhooks get none: a busy shop's deliveries come from a
    few platform addresses, and a 429 would only make them retry."""
    app = setup_state.app
    svc: Services = app.extensions["sgtm"]
    endpoint = f"{bp.name}.{post_context.__name__}"
    for limiter in app.extensions.get("limiter", ()):
        view = app.view_functions[endpoint]
        for limit in rate_limits(limiter, svc.rate_limit_per_ip, svc.rate_limit_per_key):
            view = limit(view)
        app.view_functions[endpoint] = view
