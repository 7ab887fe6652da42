"""Liveness and readiness for Cloud Run probes.

Each answers on two paths: `/healthz` and `/readyz` (what Cloud Run's probes call on the
container) and `/v1/healthz` and `/v1/readyz` (what the load balancer forwards from
`https://collect.<domain>/v1/...`), so the URL a user checks in production works locally too.

Both are unauthenticated, so they say only ok or not: no outbox path, no plan version, no
exception text (docs/sidecar.md "Threat model"). The reason goes to the log, where the
operator who can read it already may know the paths.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from sidecar.api import services
from sidecar.store.base import StoreUnavailable

bp = Blueprint("health", __name__)
log = logging.getLogger("sidecar.health")


@bp.get("/healthz")
@bp.get("/v1/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Alive: the process answers. Never touches the outbox, so a slow disk cannot kill it."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@bp.get("/v1/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """Ready: the plan is loaded (it is, or the app would not exist) and the outbox takes writes."""
    svc = services()
    checks = {"plan": "ok"}
    try:
        svc.store.ping()
    except StoreUnavailable as exc:
        log.warning(
            "readiness: the outbox is unavailable: %s",
            exc,
            extra={"json_fields": {"type": "readiness", "outbox": "unavailable"}},
        )
        checks["outbox"] = "unavailable"
        return jsonify({"status": "unavailable", "checks": checks}), 503
    checks["outbox"] = "ok"
    return jsonify({"status": "ok", "checks": checks})
