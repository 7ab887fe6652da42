"""Liveness and readiness for Cloud Run probes.

Each answers on two paths: `/healthz` and `/readyz` (what Cloud Run's probes call on the
container) and `/v1/healthz` and `/v1/readyz` (what the load balancer forwards from
`https://collect.<domain>/v1/...`), so the URL a user checks in production works locally too.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from sidecar.api import services
from sidecar.store.base import StoreUnavailable

bp = Blueprint("health", __name__)


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
    checks = {"plan": f"{svc.plan.name} {svc.plan.version}"}
    try:
        svc.store.ping()
    except StoreUnavailable as exc:
        checks["outbox"] = f"unavailable: {exc}"
        return jsonify({"status": "unavailable", "checks": checks}), 503
    checks["outbox"] = "ok"
    return jsonify({"status": "ok", "checks": checks})
