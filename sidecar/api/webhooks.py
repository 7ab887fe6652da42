"""The order webhooks and the identity context endpoint.

- ``POST /v1/webhooks/shopify``, ``/v1/webhooks/woocommerce``, ``/v1/webhooks/stripe``:
  verify the signature over the raw body first (401 and nothing else on failure; the
  WooCommerce creation ping, unsigned, answers 200), then parse, map, join the browser
  context, run the envelopes through the same ``Pipeline.ingest`` as the Event API, answer.
- ``POST /v1/context``: the browser's ids and consent for a cart/checkout token,
  authenticated like browser events.

Answers are JSON: ``{"status": "accepted"|"duplicate"|"ignored", "events": [...]}``; errors use
the sidecar's error body (400 naming the JSON pointer, 401, 503 with Retry-After).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from formats.plan.model import Source
from sidecar.api import Services, cors, services
from sidecar.errors import AuthError, SidecarError, UnavailableError
from sidecar.ingest import ACCEPTED, DUPLICATE, REJECTED
from sidecar.store.base import StoreUnavailable
from sidecar.verification import webhook_signatures as sig
from sidecar.verification.auth import request_kid
from sidecar.webhooks import identity, shopify, stripe, woocommerce
from sidecar.webhooks.model import Mapped
from sidecar.webhooks.payload import PayloadError, parse_body

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


def _payload() -> Any:
    try:
        return parse_body(request.get_data(cache=True))
    except PayloadError as exc:
        raise _bad_payload(exc) from None


def _bad_payload(exc: PayloadError) -> SidecarError:
    return SidecarError(str(exc), code="invalid_payload", errors=[exc.as_dict()])


def _header(name: str) -> str:
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise SidecarError(
            f"header {name} is missing",
            code="invalid_payload",
            errors=[{"pointer": name, "message": "missing"}],
        )
    return value


@bp.post("/v1/webhooks/shopify")
def post_shopify() -> tuple[Response, int]:
    svc = services()
    source = _source(svc, "shopify")
    body = request.get_data(cache=True)
    check = sig.verify_shopify(_secrets(svc, source), request.headers.get(sig.SHOPIFY_HEADER), body)
    if not check.ok:
        raise _unauthorized("shopify", check)
    topic = _header("X-Shopify-Topic")
    webhook_id = (request.headers.get("X-Shopify-Webhook-Id") or "").strip()[:128] or None
    payload = _payload()
    try:
        mapped = shopify.map_webhook(topic, payload, source.settings, webhook_id=webhook_id)
    except PayloadError as exc:
        raise _bad_payload(exc) from None
    return _process(svc, source, topic, mapped)


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
    topic = _header("X-WC-Webhook-Topic")
    payload = _payload()
    try:
        mapped = woocommerce.map_webhook(topic, payload, source.settings)
    except PayloadError as exc:
        raise _bad_payload(exc) from None
    return _process(svc, source, topic, mapped)


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
    payload = _payload()
    try:
        mapped = stripe.map_event(payload, source.settings)
    except PayloadError as exc:
        raise _bad_payload(exc) from None
    kind = payload.get("type", "") if isinstance(payload, dict) else ""
    return _process(svc, source, str(kind), mapped)


def _seen(store: Any, event_id: str) -> bool:
    """Already accepted, however long ago (the ledger keeps events for the retention period).

    The outbox dedupe window (48 h) is too short for order webhooks: a WooCommerce order
    that is completed a week after it was paid arrives again looking paid.
    """
    ledger = getattr(store, "ledger", None)
    return callable(ledger) and ledger(event_id) is not None


def _process(svc: Services, source: Source, topic: str, mapped: Mapped) -> tuple[Response, int]:
    hooks = state()
    if not mapped.events:
        hooks.counters.add_ignored()
        _log_delivery(source.name, topic, "ignored", mapped.ignored)
        return jsonify({"status": "ignored", "reason": mapped.ignored, "events": []}), 200
    answers: list[dict[str, Any]] = []
    todo = []
    try:
        for event in mapped.events:
            name = event.envelope["event_name"]
            event_id = event.envelope["event_id"]
            if name not in svc.plan.events:
                reason = f"the tracking plan declares no {name} event"
                answers.append({"event_id": event_id, "status": "ignored", "reason": reason})
            elif _seen(svc.store, event_id):
                answers.append({"event_id": event_id, "status": DUPLICATE})
            else:
                todo.append(event)
        if todo:
            order_id = todo[0].order_id
            candidates = [(identity.JOINED_TOKEN, identity.cart_key(t)) for t in mapped.join_tokens]
            candidates.append((identity.JOINED_ORDER, identity.order_key(source.name, order_id)))
            joined = identity.find(svc.store, candidates, mapped.carried)
            purchase = any(e.envelope["event_name"] == "purchase" for e in todo)
            if (
                purchase
                and "refund" in svc.plan.events
                and joined.how in (identity.JOINED_TOKEN, identity.JOINED_ATTRIBUTES)
            ):
                # Kept for the order's refunds, which carry no cart token. Written first, so a
                # retry after a failed enqueue writes it again.
                svc.store.put_context(
                    identity.order_key(source.name, order_id),
                    joined.context,
                    identity.context_ttl(svc.plan),
                )
            fitted = [
                identity.fit_to_plan(identity.enrich(e.envelope, joined, svc.plan), svc.plan)
                for e in todo
            ]
            envelopes = [envelope for envelope, _ in fitted]
            results = svc.pipeline.ingest(
                envelopes,
                source.name,
                dedupe_keys=[e.dedupe_keys for e in todo],
                order_ids=[e.order_id for e in todo],
            )
            for result in results:
                if result.status == ACCEPTED:
                    hooks.counters.add(joined.how)
            errors = [
                {"pointer": f"/events/{r.index}{e.pointer}", "message": e.message}
                for r in results
                if r.status == REJECTED
                for e in r.errors
            ]
            if errors:
                raise SidecarError(
                    f"the mapped event does not fit the tracking plan: {len(errors)} error(s)",
                    code="invalid_event",
                    errors=errors,
                )
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
    except StoreUnavailable:
        raise UnavailableError(
            "the outbox cannot take events right now; retry", headers={"Retry-After": "5"}
        ) from None
    statuses = {a["status"] for a in answers}
    overall = (
        ACCEPTED if ACCEPTED in statuses else DUPLICATE if DUPLICATE in statuses else "ignored"
    )
    _log_delivery(source.name, topic, overall, None)
    return jsonify({"status": overall, "events": answers}), 200


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
    svc.web_auth.authenticate(request.headers, body)
    try:
        document = parse_body(body)
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
    ttl = identity.context_ttl(svc.plan)
    try:
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
        view = limiter.limit(svc.rate_limit_per_ip, key_func=lambda: "ip:" + _remote())(view)
        view = limiter.limit(
            svc.rate_limit_per_key,
            key_func=lambda: request_kid(request.headers) or "anonymous:" + _remote(),
        )(view)
        app.view_functions[endpoint] = view


def _remote() -> str:
    return request.remote_addr or "unknown"
