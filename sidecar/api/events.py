"""``POST /v1/events``: the first-party Event API (and its CORS preflight).

Checks run cheapest first and nothing is parsed before the caller is authenticated: size
(413), content type (415), credentials (401/403), JSON syntax (400 with the position), batch
bounds, then the ingest pipeline. Rate limits (429) are applied by flask-limiter before all of
them. A single envelope that fails validation answers 400 listing every error; a batch always
answers 200 with one result per event (accepted, duplicate or rejected with its errors).
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint, Response, jsonify, request

from formats.contract import CONTEXT_MAX
from sidecar.api import cors, services
from sidecar.api.origin import browser_origin
from sidecar.api.ratelimit import verified
from sidecar.errors import SidecarError, UnavailableError
from sidecar.ingest import REJECTED
from sidecar.store.base import StoreUnavailable
from sidecar.verification.auth import BROWSER, Caller

bp = Blueprint("events", __name__)


@bp.after_request
def _cors(response: Response) -> Response:
    """Browsers may read every answer (errors too) when their origin is allow-listed."""
    return cors.add_headers(response, "Retry-After, X-Request-Id")


@bp.route("/v1/events", methods=["OPTIONS"], provide_automatic_options=False)
def preflight() -> Response:
    return cors.preflight()


@bp.post("/v1/events")
def post_events() -> tuple[Response, int]:
    svc = services()
    if svc.web_auth is None:
        raise SidecarError(
            "the tracking plan declares no web source, so the Event API is off",
            status=404,
            code="not_found",
        )
    length = request.content_length
    if length is not None and length > svc.max_body_bytes:
        raise SidecarError(
            f"body of {length} bytes; at most {svc.max_body_bytes} are accepted",
            status=413,
            code="too_large",
        )
    if request.mimetype != "application/json":
        raise SidecarError(
            "Content-Type must be application/json",
            status=415,
            code="unsupported_media_type",
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise SidecarError(
            "Content-Type charset must be utf-8", status=415, code="unsupported_media_type"
        )
    body = request.get_data(cache=True)
    if length is None and len(body) >= svc.max_body_bytes:
        # A chunked body is cut at MAX_CONTENT_LENGTH without an error; reaching the limit
        # means it was (or may have been) longer.
        raise SidecarError(
            f"chunked body of {svc.max_body_bytes} bytes or more; at most "
            f"{svc.max_body_bytes - 1} are accepted without Content-Length",
            status=413,
            code="too_large",
        )
    caller = verified(
        svc.web_auth.authenticate(request.headers, body, request.method, request.path)
    )
    document = _parse(body)
    envelopes, single = _envelopes(document, svc.max_batch)
    origin = None
    if caller.kind == BROWSER:
        for envelope in envelopes:
            _add_browser_context(envelope, caller)
        origin = browser_origin(request.headers)
    try:
        results = svc.pipeline.ingest(envelopes, svc.web_auth.source, origin=origin)
        _remember_consent(svc, envelopes, results)
    except StoreUnavailable:
        raise UnavailableError(
            "the outbox cannot take events right now; retry", headers={"Retry-After": "5"}
        ) from None
    payload: dict[str, Any] = {"results": [r.as_dict() for r in results]}
    if single and results[0].status == REJECTED:
        errors = [e.as_dict() for e in results[0].errors]
        omitted = results[0].errors_omitted
        message = f"the event is invalid: {len(errors) + omitted} error(s)"
        if omitted:
            message += f"; the first {len(errors)} are listed, {omitted} more are not"
        raise SidecarError(message, code="invalid_event", errors=errors, errors_omitted=omitted)
    return jsonify(payload), 200


def _remember_consent(svc: Any, envelopes: list[Any], results: list[Any]) -> None:
    """Keep each client's latest consent report (accepted events only) for the order webhooks
    to apply: latest consent wins (docs/webhooks.md)."""
    from sidecar.webhooks import identity

    latest: dict[str, tuple[float, dict[str, bool]]] = {}
    for envelope, result in zip(envelopes, results, strict=True):
        if result.status != "accepted" or not isinstance(envelope, dict):
            continue
        client_id, consent = envelope.get("client_id"), envelope.get("consent")
        ts = envelope.get("timestamp")
        if not isinstance(client_id, str) or not isinstance(consent, dict) or not consent:
            continue
        if not isinstance(ts, int):
            continue
        at = min(ts / 1000.0, svc.pipeline.clock())
        if client_id not in latest or latest[client_id][0] <= at:
            latest[client_id] = (at, consent)
    ttl = identity.context_ttl(svc.plan)
    for client_id, (at, consent) in latest.items():
        identity.remember_consent(svc.store, client_id, consent, at, ttl)


def _parse(body: bytes) -> Any:
    if not body.strip():
        raise SidecarError("empty body; expected a JSON envelope or array", code="malformed_json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SidecarError(
            f"body is not valid UTF-8 at byte {exc.start}", code="malformed_json"
        ) from None
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SidecarError(
            f"malformed JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}",
            code="malformed_json",
        ) from None
    except _NotFinite as exc:
        raise SidecarError(
            f"the number {exc.args[0]} is not finite (NaN, Infinity and numbers beyond "
            "±1.8e308 are refused; every number in an event is bounded by the plan)",
            code="malformed_json",
        ) from None
    except ValueError:
        # Python refuses integers of more than 4300 digits (sys.int_info.default_max_str_digits).
        raise SidecarError(
            "a number in the body has too many digits", code="malformed_json"
        ) from None
    except RecursionError:
        raise SidecarError("JSON nested too deeply", code="malformed_json") from None


class _NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text[:32])
    return value


def _no_constant(text: str) -> float:
    # json.loads would otherwise accept NaN, Infinity and -Infinity, which JSON does not have.
    raise _NotFinite(text)


def _envelopes(document: Any, max_batch: int) -> tuple[list[Any], bool]:
    if isinstance(document, dict):
        return [document], True
    if isinstance(document, list):
        if not document:
            raise SidecarError("empty batch; send at least one envelope", code="empty_batch")
        if len(document) > max_batch:
            raise SidecarError(
                f"batch of {len(document)} events; at most {max_batch} per request",
                status=413,
                code="batch_too_large",
            )
        return document, False
    raise SidecarError(
        "expected a JSON object (one envelope) or an array of envelopes (a batch)",
        code="invalid_body",
    )


def _add_browser_context(envelope: Any, caller: Caller) -> None:
    """A browser cannot be trusted to say its own IP: the connection's address is used. The
    User-Agent header fills in when the event does not carry one."""
    if not isinstance(envelope, dict):
        return
    context = envelope.setdefault("context", {})
    if not isinstance(context, dict):
        return
    if request.remote_addr:
        context["ip"] = request.remote_addr
    else:
        context.pop("ip", None)
    agent = request.headers.get("User-Agent")
    if agent and "user_agent" not in context:
        context["user_agent"] = agent[:CONTEXT_MAX]
