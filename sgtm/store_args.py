"""How a command reaches the store the sidecar writes: the `--backend`/`--outbox` flags over the
sidecar's environment, a missing SQLite outbox refused rather than created empty, and the exit
codes of docs/cli.md (1 a missing outbox or bad setting, 3 the store unavailable). One copy for
`sgtm worker`, `dlq`, `quarantine`, `ledger` and `reconcile`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sgtm.output import EXIT_UNREACHABLE
from sidecar.store.base import StoreUnavailable

DEFAULT_OUTBOX = "./sgtm-outbox.sqlite"


class StoreMissing(RuntimeError):
    """The outbox a command reads does not exist: a mistyped path must not become an empty one."""


def add_store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("sqlite", "gcp"), help="default: $SGTM_BACKEND or sqlite")
    p.add_argument("--outbox", help="SQLite outbox path (default: $SGTM_OUTBOX)")


def store_env(args: argparse.Namespace) -> dict[str, str]:
    """The sidecar's environment with the command's flags over it."""
    env = dict(os.environ)
    if getattr(args, "backend", None):
        env["SGTM_BACKEND"] = args.backend
    if getattr(args, "outbox", None):
        env["SGTM_OUTBOX"] = args.outbox
    return env


def missing_outbox(args: argparse.Namespace, env: dict[str, str]) -> str:
    """Why the SQLite outbox cannot be used ('' when it exists): opening a mistyped path would
    create an empty database and show nothing (dlq) or deliver nothing, forever (worker)."""
    if (env.get("SGTM_BACKEND") or "sqlite") != "sqlite":
        return ""
    path = env.get("SGTM_OUTBOX", DEFAULT_OUTBOX)
    if os.path.isfile(path):
        return ""
    flag = "--outbox" if getattr(args, "outbox", None) else "SGTM_OUTBOX"
    return f"{path}: no such outbox ({flag}); `sgtm serve` creates it on first start"


def open_store(args: argparse.Namespace, env: dict[str, str] | None = None) -> Any:
    """The store; raises StoreMissing, ValueError (a bad setting) or StoreUnavailable."""
    from sidecar.store.factory import open_store_from_env

    env = store_env(args) if env is None else env
    missing = missing_outbox(args, env)
    if missing:
        raise StoreMissing(missing)
    return open_store_from_env(env)


def with_store(command: Callable[[argparse.Namespace, Any], int]) -> Callable[..., int]:
    """Run `command(args, store)` and close the store: a missing outbox or a bad setting exits 1,
    an unavailable store exits 3, each with one line on stderr."""

    def run(args: argparse.Namespace) -> int:
        try:
            store = open_store(args)
        except (StoreMissing, ValueError) as exc:  # ValueError: SGTM_BACKEND=gcp without a project
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except StoreUnavailable as exc:
            print(f"error: the store is unavailable: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        try:
            return int(command(args, store))
        except StoreUnavailable as exc:
            print(f"error: the store is unavailable: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()

    run.__doc__ = command.__doc__
    return run


def iso(ts: float | None) -> str | None:
    """A stored unix time as the commands print it (UTC, seconds); None stays None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
