"""Liveness and readiness for Cloud Run probes.

Each answers on two paths: `/healthz` and `/readyz` (what Cloud Run's probes call on the
container) and `/v1/healthz` and `/v1/readyz` (what the load balancer forwards from
`https://collect.<domain>/v1/...`), so the URL a user checks in production works locally too.

Both are unauthenticated, so they name no outbox path, plan version or exception text
(docs/sidecar.md "Threat model"): readiness names the failing storage check and its kind of
failure only; the full reason goes to the log.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from sidecar.api import services
from sidecar.store.base import StoreUnavailable

bp = Blueprint("health", __name__)
log = logging.getLogger("sidecar.health")
RETRY_AFTER = {"Retry-After": "5"}


@bp.get("/healthz")
@bp.get("/v1/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Alive: the process answers. Never touches the outbox, so a slow disk cannot kill it."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@bp.get("/v1/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """Ready means "can accept durably": the plan is loaded (it is, or the app would not exist)
    and the outbox passes every storage check."""
    svc = services()
    checks = {"plan": "ok"}
    health = getattr(svc.store, "health_checks", None)
    if callable(health):
        outbox = health()
        checks.update({f"outbox_{k}" if k != "outbox_file" else k: v for k, v in outbox.items()})
        failing = sorted(k for k, v in checks.items() if v != "ok")
        if failing:
            log.warning(
                "readiness: outbox checks failing: %s",
                ", ".join(f"{k}: {checks[k]}" for k in failing),
                extra={"json_fields": {"type": "readiness", "failing": failing}},
            )
            body = {"status": "unavailable", "failing": failing, "checks": checks}
            return jsonify(body), 503, RETRY_AFTER
        return jsonify({"status": "ok", "checks": checks})
    try:
        svc.store.ping()
    except StoreUnavailable as exc:
        log.warning(
            "readiness: the outbox is unavailable: %s",
            exc,
            extra={"json_fields": {"type": "readiness", "outbox": "unavailable"}},
        )
        checks["outbox"] = "unavailable"
        return jsonify({"status": "unavailable", "checks": checks}), 503, RETRY_AFTER
    checks["outbox"] = "ok"
    return jsonify({"status": "ok", "checks": checks})
