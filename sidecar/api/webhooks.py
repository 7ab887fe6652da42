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

from formats.plan.model import Source
from sidecar.api import Services, cors, services
from sidecar.api.origin import browser_origin
from sidecar.api.ratelimit import decorators as rate_limits
from sidecar.api.ratelimit import verified
from sidecar.decision.validation import lone_surrogates
from sidecar.errors import AuthError, SidecarError, UnavailableError
from sidecar.ingest import REJECTED
from sidecar.store.base import StoreUnavailable
from sidecar.verification import webhook_signatures as sig
from sidecar.webhooks import identity
from sidecar.webhooks.handling import KEPT_HEADERS, handle_body, quarantine_body
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
