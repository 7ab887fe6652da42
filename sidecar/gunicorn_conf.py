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


def _proxies() -> int:
    raw = os.environ.get("SGTM_TRUSTED_PROXIES", "") or "0"
    return int(raw) if raw.isdigit() else 0  # a bad value is refused by on_starting's check


wsgi_app = "sidecar.app:create_app()"
# Loopback unless told otherwise: the image sets HOST=0.0.0.0 (Cloud Run's contract).
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8080)}"
# gunicorn's own use of forwarded headers (X-Forwarded-Proto -> wsgi.url_scheme) follows the
# same setting as the app's X-Forwarded-For: none unless proxies are configured. Which entry
# of X-Forwarded-For is the client is counted from the right by the app (ProxyFix).
forwarded_allow_ips = "*" if _proxies() > 0 else ""
workers = _int("WORKERS", 2)
threads = _int("THREADS", 4)
worker_class = "gthread"
timeout = _int("TIMEOUT", 30)
graceful_timeout = _int("GRACEFUL_TIMEOUT", 8)
keepalive = 5
# The app logs structured JSON itself; gunicorn's access log is off unless
# GUNICORN_ACCESSLOG=on, and then written without query string, user agent or client address.
access_on = os.environ.get("GUNICORN_ACCESSLOG", "off").lower() == "on"
accesslog = "-" if access_on else None
access_log_format = "%(m)s %(U)s %(H)s %(s)s %(B)s %(M)s ms"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "warning")
# gunicorn's own lines (boot, worker timeouts, shutdown, debug, access) as Cloud Logging JSON
# on stdout too, through the app's redaction filter (sidecar.logs.GunicornLogHandler).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "json": {
            "class": "sidecar.logs.GunicornLogHandler",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"handlers": ["json"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["json"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {
            "handlers": ["json"] if access_on else [],
            "level": "INFO" if access_on else "CRITICAL",
            "propagate": False,
        },
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
