"""Choose the storage backend from configuration (``SGTM_BACKEND``, docs/architecture.md)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from sidecar.errors import StartupError
from sidecar.store import gcp_topology as topology
from sidecar.store.base import Store

BACKENDS = ("sqlite", "gcp")


def open_store(backend: str = "sqlite", **settings: Any) -> Store:
    """Open a backend: ``sqlite`` (``path``, ``synchronous``) or ``gcp`` (``project``,
    ``topic``, ``subscription``, ``database``, ``retention_days``).

    Unknown backends and settings are errors naming what was expected, never silently ignored.
    """
    if backend == "sqlite":
        from sidecar.store.sqlite import SqliteStore

        allowed = {"path", "synchronous", "busy_timeout_s", "clock"}
        _check(backend, settings, allowed)
        return SqliteStore(**settings)
    if backend == "gcp":
        from sidecar.store.gcp import GcpStore

        allowed = {"project", "topic", "subscription", "database", "retention_days", "clock"}
        _check(backend, settings, allowed)
        return GcpStore(**settings)
    raise ValueError(
        f"SGTM_BACKEND: unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}"
    )


def open_store_from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> Store:
    """The backend the environment names (SGTM_BACKEND, SGTM_OUTBOX, GOOGLE_CLOUD_PROJECT, ...)."""
    env = os.environ if env is None else env
    backend = env.get("SGTM_BACKEND", "sqlite") or "sqlite"
    settings: dict[str, Any] = {}
    if backend == "sqlite":
        settings["path"] = env.get("SGTM_OUTBOX", "./sgtm-outbox.sqlite")
    elif backend == "gcp":
        missing = [v for v in ("GOOGLE_CLOUD_PROJECT",) if not env.get(v)]
        if missing:
            raise ValueError(f"SGTM_BACKEND=gcp needs {', '.join(missing)} in the environment")
        settings = {
            "project": env["GOOGLE_CLOUD_PROJECT"],
            "topic": env.get("SGTM_PUBSUB_TOPIC", topology.DEFAULT_TOPIC),
            "subscription": env.get("SGTM_PUBSUB_SUBSCRIPTION", topology.DEFAULT_SUBSCRIPTION),
            "database": env.get("SGTM_FIRESTORE_DATABASE", topology.DEFAULT_DATABASE),
        }
    settings.update(overrides)
    return open_store(backend, **settings)


def _check(backend: str, settings: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ValueError(
            f"open_store({backend!r}): unknown setting(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(allowed))}"
        )


def check_data_dir(outbox: str) -> None:
    """The outbox's directory must exist and be writable: one clear line, not a traceback
    from deep inside SQLite (and never a silently created empty outbox elsewhere)."""
    directory = os.path.dirname(os.path.abspath(outbox)) or "."
    if not os.path.isdir(directory):
        raise StartupError(
            f"SGTM_OUTBOX={outbox}: the data directory {directory} does not exist "
            "(create it, or mount the volume)"
        )
    try:
        # A real write, not os.access: root passes os.access on a read-only mount.
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".sgtm-write-probe-"):
            pass
    except OSError as exc:
        raise StartupError(
            f"SGTM_OUTBOX={outbox}: the data directory {directory} is not writable "
            f"({exc.strerror}); SQLite needs to write the outbox and its -wal and -shm files"
        ) from None
    if os.path.exists(outbox) and not os.access(outbox, os.R_OK | os.W_OK):
        raise StartupError(f"SGTM_OUTBOX={outbox}: the outbox file is not writable by this user")
