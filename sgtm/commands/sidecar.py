"""`sgtm serve` (the sidecar under gunicorn) and `sgtm token` (a browser token for tests)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import sidecar
from formats import signing
from sgtm.output import add_format, print_json

if TYPE_CHECKING:
    from sidecar.config import Config

GUNICORN_CONF = Path(sidecar.__file__).with_name("gunicorn_conf.py")


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the sidecar (Event API) under gunicorn",
        description="Run the sidecar for PLAN. Secrets come from the environment variables the "
        "plan names; the outbox from SGTM_OUTBOX (default ./sgtm-outbox.sqlite).",
    )
    serve.add_argument("plan", help="path of the tracking plan YAML file")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--workers", type=int, default=None, help="gunicorn workers (WORKERS)")
    serve.add_argument("--threads", type=int, default=None, help="threads per worker (THREADS)")
    serve.set_defaults(func=cmd_serve)

    token = subparsers.add_parser(
        "token",
        help="issue a browser token for the Event API (what the shop's backend does)",
        description="Print a token for Authorization: Bearer, signed with the active key of "
        "the keyset in --key-env (SGTM_ACTIVE_KEY_ID picks another key).",
    )
    token.add_argument("--origin", required=True, help="e.g. https://shop.example.com")
    token.add_argument("--ttl", type=int, default=900, help="lifetime in seconds (default 900)")
    token.add_argument(
        "--key-env", default="WEB_TOKEN_KEYS", help="variable holding the keyset JSON"
    )
    add_format(token)
    token.set_defaults(func=cmd_token)


def cmd_serve(args: argparse.Namespace) -> int:
    # The sidecar's config pulls in Flask: imported by the command, not by `sgtm --help`.
    from sidecar.config import Config, load
    from sidecar.errors import StartupError

    env = dict(os.environ)
    env["SGTM_PLAN"] = str(args.plan)
    env["PORT"] = str(args.port)
    env["HOST"] = args.host
    if args.workers is not None:
        env["WORKERS"] = str(args.workers)
    if args.threads is not None:
        env["THREADS"] = str(args.threads)
    try:
        config = Config.from_env(env)
        load(config)
        if config.backend == "sqlite":
            _preflight_outbox(config)
    except StartupError as exc:
        print(f"sgtm serve: refusing to start: {exc.message}", file=sys.stderr)
        return 1
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    sys.stdout.flush()
    sys.stderr.flush()
    # exec: gunicorn becomes this process, so SIGTERM reaches its arbiter directly.
    os.execve(sys.executable, argv, env)  # noqa: S606
    return 0  # pragma: no cover - execve does not return


def _preflight_outbox(config: Config) -> None:
    """Open the outbox once before gunicorn starts: a missing or read-only data directory, or
    a file SQLite cannot open, is one line and exit 1 here instead of a traceback per worker."""
    from sidecar.errors import StartupError
    from sidecar.store.base import StoreUnavailable
    from sidecar.store.factory import check_data_dir
    from sidecar.store.sqlite import SqliteStore

    check_data_dir(config.outbox)
    try:
        SqliteStore(config.outbox).close()
    except StoreUnavailable as exc:
        raise StartupError(f"cannot open the outbox: {exc}") from None


def cmd_token(args: argparse.Namespace) -> int:
    try:
        keyset = signing.keyset_from_env(args.key_env)
        token = signing.issue_token(keyset, args.origin, args.ttl)
    except (signing.KeysetError, ValueError) as exc:
        print(f"sgtm token: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print_json(
            {"token": token, "origin": args.origin, "kid": keyset.active_kid, "ttl": args.ttl}
        )
    else:
        print(token)
    return 0
