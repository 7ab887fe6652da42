"""gunicorn settings for the sidecar, from the environment (Cloud Run sets ``PORT``).

Run: ``gunicorn -c sidecar/gunicorn_conf.py`` (the Dockerfile and ``sgtm serve`` do). The app
factory is named here, so the command line needs nothing else. SIGTERM (Cloud Run's stop
signal) is gunicorn's graceful shutdown: workers stop accepting, finish in-flight requests for
up to ``graceful_timeout`` seconds (Cloud Run allows 10 s), then exit. An event is only
acknowledged after the outbox commit, so a request cut short is retried by its sender.
"""

from __future__ import annotations

import os
import sys


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        sys.stderr.write(f"sgtm sidecar: {name}={raw!r} is not an integer\n")
        raise SystemExit(1) from None
    if value < 1:
        sys.stderr.write(f"sgtm sidecar: {name}={raw!r} must be at least 1\n")
        raise SystemExit(1)
    return value


wsgi_app = "sidecar.app:create_app()"
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{_int('PORT', 8080)}"
workers = _int("WORKERS", 2)
threads = _int("THREADS", 4)
worker_class = "gthread"
timeout = _int("TIMEOUT", 30)
graceful_timeout = _int("GRACEFUL_TIMEOUT", 8)
keepalive = 5
# The app logs structured JSON itself; gunicorn's access log would add unredacted URLs.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "warning")
# gunicorn's own lines (boot, worker timeouts, shutdown) as Cloud Logging JSON on stdout too.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "json": {
            "class": "google.cloud.logging_v2.handlers.StructuredLogHandler",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"handlers": ["json"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["json"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}
# No gunicornc control socket: nothing uses it, and it would be written under $HOME (not
# writable for the image's user; shared between servers started side by side in tests).
control_socket_disable = True
# Workers build their own app (and their own SQLite connections) after the fork.
preload_app = False


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    """Refuse to start with one clear message instead of workers failing to boot one by one."""
    from sidecar.config import Config, load
    from sidecar.errors import StartupError

    try:
        load(Config.from_env())
    except StartupError as exc:
        sys.stderr.write(f"sgtm sidecar: refusing to start: {exc.message}\n")
        sys.stderr.flush()
        os._exit(1)


def worker_exit(server, worker) -> None:  # type: ignore[no-untyped-def]
    """Close the outbox cleanly when a worker stops (SIGTERM, max requests, reload)."""
    app = getattr(worker, "wsgi", None)
    services = getattr(app, "extensions", {}).get("sgtm") if app is not None else None
    if services is not None and hasattr(services.store, "close"):
        services.store.close()
