"""Liveness and readiness for Cloud Run probes."""

from __future__ import annotations

from flask import Blueprint, jsonify

from sidecar.api import services
from sidecar.store.base import StoreUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Alive: the process answers. Never touches the outbox, so a slow disk cannot kill it."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """Ready means "can accept durably": the plan is loaded (it is, or the app would not exist)
    and the outbox passes every storage check. The answer names the failing check and why,
    never a file path (the endpoint is public)."""
    svc = services()
    checks = {"plan": f"{svc.plan.name} {svc.plan.version}"}
    health = getattr(svc.store, "health_checks", None)
    if callable(health):
        outbox = health()
        checks.update({f"outbox_{k}" if k != "outbox_file" else k: v for k, v in outbox.items()})
        failing = sorted(k for k, v in checks.items() if v != "ok" and k != "plan")
        if failing:
            body = {"status": "unavailable", "failing": failing, "checks": checks}
            return jsonify(body), 503, {"Retry-After": "5"}
        return jsonify({"status": "ok", "checks": checks})
    try:
        svc.store.ping()
    except StoreUnavailable as exc:
        checks["outbox"] = f"unavailable: {exc}"
        return jsonify({"status": "unavailable", "checks": checks}), 503, {"Retry-After": "5"}
    checks["outbox"] = "ok"
    return jsonify({"status": "ok", "checks": checks})
