"""The sidecar's Flask app factory.

``create_app()`` reads ``Config.from_env()``; tests pass a ``Config`` (flaskr's test-config
argument). Start-up loads and compiles the plan in-process, resolves the secrets it names and
opens the outbox; any problem raises one ``StartupError`` naming all of them, so the service
never runs half-configured.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from werkzeug.middleware.proxy_fix import ProxyFix

from formats.plan.model import SOURCE_DEFAULTS
from sidecar import logs
from sidecar.api import Services, deliver, events, health, openapi, ratelimit, stats
from sidecar.api import webhooks as webhooks_api
from sidecar.config import Config, load
from sidecar.errors import StartupError, register_error_handlers
from sidecar.ingest import Counters, Pipeline
from sidecar.store import gcp_topology as topology
from sidecar.store.base import StoreUnavailable
from sidecar.store.factory import check_data_dir
from sidecar.verification.auth import load_web_auth, web_source

WEB_DEFAULTS = SOURCE_DEFAULTS["web"]
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

log = logging.getLogger("sidecar.app")


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    loaded = load(config)
    plan = loaded.plan
    logs.configure(
        stream=config.log_stream,
        project_id=config.project_id,
        secrets=loaded.secrets.values(),
        level=config.log_level,
    )
    web_auth = load_web_auth(plan, loaded.secrets, config.signature_versions)
    source = web_source(plan)
    settings = source.settings if source is not None else {}
    max_batch = int(settings.get("max_batch", WEB_DEFAULTS["max_batch"]))
    max_body = int(settings.get("max_body_bytes", WEB_DEFAULTS["max_body_bytes"]))
    store = config.store if config.store is not None else _open_store(config, plan.retention_days)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_body
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies)  # type: ignore[method-assign]
    counters = Counters()
    app.extensions["sgtm"] = Services(
        config=config,
        plan=plan,
        pipeline=Pipeline(plan, store, counters=counters),
        web_auth=web_auth,
        counters=counters,
        store=store,
        max_batch=max_batch,
        max_body_bytes=max_body,
        rate_limit_per_key=str(
            settings.get("rate_limit_per_key", WEB_DEFAULTS["rate_limit_per_key"])
        ),
        rate_limit_per_ip=str(settings.get("rate_limit_per_ip", WEB_DEFAULTS["rate_limit_per_ip"])),
    )

    @app.before_request
    def _start() -> None:
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        counters.add("requests")

    # Registered before the limiter's own after_request, so it runs after it: flask-limiter
    # puts Retry-After (its window's reset, e.g. 50 s) on every answer of a limited endpoint.
    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        _retry_after(response)
        if response.status_code >= 500:
            counters.add("errors_5xx")
        return response

    register_error_handlers(app)
    _limit(app, config, app.extensions["sgtm"])
    for blueprint in (events.bp, health.bp, openapi.bp, stats.bp, deliver.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(webhooks_api.bp)
    # Built last, from the final url_map, so every registered endpoint is listed.
    app.extensions["sgtm_openapi"] = openapi.build_openapi(plan, max_batch, max_body, app)
    log.info(
        "sidecar ready",
        extra={
            "json_fields": {
                "type": "startup",
                "plan": plan.name,
                "plan_version": str(plan.version),
                "backend": config.backend,
                "event_api": web_auth is not None,
            }
        },
    )
    return app


def _open_store(config: Config, retention_days: int):  # type: ignore[no-untyped-def]
    from sidecar.store.factory import open_store

    settings: dict[str, Any] = {"path": config.outbox} if config.backend == "sqlite" else {}
    if config.backend == "gcp":
        env = config.environ
        if not env.get("GOOGLE_CLOUD_PROJECT"):
            raise StartupError("SGTM_BACKEND=gcp needs GOOGLE_CLOUD_PROJECT")
        settings = {
            "project": env["GOOGLE_CLOUD_PROJECT"],
            "topic": env.get("SGTM_PUBSUB_TOPIC", topology.DEFAULT_TOPIC),
            "subscription": env.get("SGTM_PUBSUB_SUBSCRIPTION", topology.DEFAULT_SUBSCRIPTION),
            "database": env.get("SGTM_FIRESTORE_DATABASE", topology.DEFAULT_DATABASE),
            # Firestore's TTL policies delete by expire_at, which the store sets from this.
            "retention_days": retention_days,
        }
    if config.backend == "sqlite":
        check_data_dir(config.outbox)
    try:
        store = open_store(config.backend, **settings)
    except (ValueError, StoreUnavailable, ImportError) as exc:
        raise StartupError(f"cannot open the {config.backend} outbox: {exc}") from None
    min_free = config.environ.get("SGTM_MIN_FREE_MB", "")
    if config.backend == "sqlite" and min_free:
        if not min_free.isdigit():
            raise StartupError(f"SGTM_MIN_FREE_MB={min_free!r} is not a whole number of MiB")
        store.min_free_bytes = int(min_free) * 2**20  # type: ignore[attr-defined]
    return store


def _retry_after(response: Response) -> None:
    """Retry-After only where a retry is what the answer asks for: a 429 (the limiter's value)
    and a 503 (the value the answer chose, the documented 5 s for a busy outbox)."""
    if response.status_code == 429:
        return
    chosen = getattr(g, "retry_after", None)
    if response.status_code == 503 and chosen is not None:
        response.headers["Retry-After"] = chosen
    elif response.status_code != 503:
        response.headers.pop("Retry-After", None)


def _limit(app: Flask, config: Config, svc: Services) -> None:
    """Per-IP, per-key and per-claimed-key limits on the Event API (sidecar/ratelimit.py)."""
    limiter = Limiter(
        key_func=ratelimit.client_ip,
        app=app,
        storage_uri=config.rate_limit_storage,
        headers_enabled=True,
        enabled=config.rate_limits,
    )
    for limit in ratelimit.decorators(limiter, svc.rate_limit_per_ip, svc.rate_limit_per_key):
        limit(events.bp)
