"""``POST /v1/deliver``: the Pub/Sub push endpoint of the ``gcp`` backend.

Each pushed message names one event id; the event's due destinations are sent to sGTM right
away by the same worker code the pull/SQLite worker runs. The answer tells Pub/Sub what to do:
``204`` acks (everything delivered, dead-lettered or skipped, or the event is unknown), ``503``
nacks so Pub/Sub redelivers after its retry-policy backoff (destinations still pending).

Authentication is required, never optional:

- ``SGTM_PUSH_AUDIENCE`` set: the push subscription's OIDC token (``Authorization: Bearer``)
  must verify against Google's certificates for that audience, and, when
  ``SGTM_PUSH_SERVICE_ACCOUNT`` is set, be issued to that service account;
- else ``SGTM_PUSH_TOKEN`` set: the push URL carries ``?token=<value>`` (compared in constant
  time; the value is a secret in the environment);
- neither: the endpoint answers 403 and says which variable to set.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import threading
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from sidecar.api import services
from sidecar.errors import AuthError, ForbiddenError, SidecarError, UnavailableError

bp = Blueprint("deliver", __name__)
log = logging.getLogger("sidecar.deliver")
_local = threading.local()  # one worker (and kept-alive sGTM connection) per request thread


@bp.post("/v1/deliver")
def deliver():  # type: ignore[no-untyped-def]
    env = services().config.environ
    _authenticate(env)
    event_id = _event_id(request.get_data())
    worker = _worker()
    result = worker.deliver_event(event_id)
    if not result.found:
        log.warning("push for unknown event %s acknowledged", event_id)
        return Response(status=204)
    if result.pending:
        body = {
            "event_id": event_id,
            "pending": list(result.pending),
            "retry_in_s": result.retry_in_s,
        }
        return jsonify(body), 503
    return Response(status=204)


def _authenticate(env: Any) -> None:
    audience = env.get("SGTM_PUSH_AUDIENCE", "")
    if audience:
        _verify_oidc(
            audience, env.get("SGTM_PUSH_SERVICE_ACCOUNT", ""), env.get("SGTM_PUSH_CERTS_URL", "")
        )
        return
    token = env.get("SGTM_PUSH_TOKEN", "")
    if token:
        given = request.args.get("token", "")
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            raise AuthError("/v1/deliver: missing or wrong ?token= (SGTM_PUSH_TOKEN)")
        return
    raise ForbiddenError(
        "/v1/deliver is disabled: set SGTM_PUSH_AUDIENCE (OIDC push authentication) or "
        "SGTM_PUSH_TOKEN (a secret token in the push URL)"
    )


def _verify_oidc(audience: str, service_account: str, certs_url: str) -> None:
    from google.auth import exceptions as gauth_exc
    from google.auth.transport import requests as gauth_requests
    from google.oauth2 import id_token

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("/v1/deliver: missing Authorization: Bearer <OIDC token>")
    kwargs: dict[str, Any] = {"certs_url": certs_url} if certs_url else {}
    try:
        claims = id_token.verify_token(
            token.strip(), gauth_requests.Request(), audience=audience, **kwargs
        )
    except (ValueError, gauth_exc.GoogleAuthError) as exc:
        # The library's message names the failed check (audience, expiry, signature), never
        # the token itself.
        raise AuthError(f"/v1/deliver: OIDC token rejected: {exc}") from None
    if service_account and (
        claims.get("email") != service_account or not claims.get("email_verified")
    ):
        raise AuthError("/v1/deliver: OIDC token was not issued to SGTM_PUSH_SERVICE_ACCOUNT")


def _event_id(raw: bytes) -> str:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(f"body is not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    except RecursionError:
        raise SidecarError("body is nested too deeply to be a Pub/Sub push object") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("message"), dict):
        raise SidecarError('/message: expected the Pub/Sub push object {"message": {...}}')
    data = doc["message"].get("data")
    if not isinstance(data, str):
        raise SidecarError("/message/data: expected a base64 string")
    try:
        payload = json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise SidecarError('/message/data: expected base64 of {"event_id": ...}') from None
    event_id = payload.get("event_id") if isinstance(payload, dict) else None
    if not isinstance(event_id, str) or not event_id:
        raise SidecarError("/message/data: event_id: expected a non-empty string")
    return event_id


def _worker():  # type: ignore[no-untyped-def]
    worker = getattr(_local, "worker", None)
    if worker is not None and getattr(_local, "app", None) is current_app._get_current_object():  # type: ignore[attr-defined]
        return worker
    from sidecar.delivery.runner import DeliveryConfigError, build_worker

    svc = services()
    try:
        worker = build_worker(
            svc.config.environ,
            store=svc.store,
            plan_path=svc.config.plan_path,
            collect_url=svc.config.collect_url or None,
        )
    except DeliveryConfigError as exc:
        raise UnavailableError(f"delivery is not configured: {exc}") from None
    _local.worker = worker
    _local.app = current_app._get_current_object()  # type: ignore[attr-defined]
    return worker
