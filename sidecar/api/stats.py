"""``GET /v1/stats``: the figures ``sgtm rollout --gate`` reads.

Request and event counters are process-local: each gunicorn worker counts what it served since
it started, so a gate should compare error ratios, not absolute totals. Delivery figures come
from the store (shared by every worker) when the backend can count them. The ``webhooks`` block
is the webhook blueprint's join counters (``app.extensions["sgtm_webhooks"]``), process-local
too, present whenever that blueprint is registered.

The counters are internals (revision, traffic, failures), so the endpoint needs a server's
request signature, version 2 only: a version 1 signature of an empty body would say nothing
about which endpoint it was made for.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from formats.signing import SIGNATURE_HEADER
from sidecar.api import services
from sidecar.errors import AuthError, SidecarError
from sidecar.store.base import StoreUnavailable

bp = Blueprint("stats", __name__)


@bp.get("/v1/stats")
def stats():  # type: ignore[no-untyped-def]
    svc = services()
    if svc.web_auth is None:
        raise SidecarError(
            "the tracking plan declares no web source, so there is no server key to sign "
            "/v1/stats requests with",
            status=404,
            code="not_found",
        )
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature is None:
        raise AuthError(f"/v1/stats needs a server's request signature ({SIGNATURE_HEADER}, v2)")
    svc.web_auth.server(signature, request.get_data(), request.method, request.path, ("v2",))
    counts = svc.counters.snapshot()
    body: dict[str, Any] = {
        "revision": os.environ.get("K_REVISION", svc.config.revision),
        "requests": counts["requests"],
        "errors_5xx": counts["errors_5xx"],
        "accepted": counts["accepted"],
        "duplicates": counts["duplicates"],
        "rejected": counts["rejected"],
        "skipped": counts["skipped"],
        "delivery_failures": 0,
        "delivered": 0,
        "scope": {"counters": "process", "delivery": "store"},
    }
    counter = getattr(svc.store, "counts", None)
    if callable(counter):
        try:
            states = counter()
        except StoreUnavailable:
            body["scope"]["delivery"] = "unavailable"
        else:
            body["delivered"] = int(states.get("succeeded", 0))
            body["delivery_failures"] = int(states.get("failed", 0)) + int(states.get("aborted", 0))
    else:
        body["scope"]["delivery"] = "not counted by this backend"
    # Authentic webhook bodies the mapping could not read, waiting for `sgtm quarantine
    # replay` (store-wide, like the delivery figures); the alert in terraform/ watches the log.
    quarantined = getattr(svc.store, "quarantine_count", None)
    if callable(quarantined):
        try:
            body["quarantined"] = quarantined()
        except StoreUnavailable:
            body["quarantined"] = None
    hooks = current_app.extensions.get("sgtm_webhooks")
    if hooks is not None:
        body["webhooks"] = hooks.counters.snapshot()
    return jsonify(body)
