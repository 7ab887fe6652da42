"""`sgtm push` and `sgtm rollout ...`: the operations commands."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from ops.tagmanager import DEFAULT_QPS, ENDPOINT_ENV


def register(subparsers: Any) -> None:
    _register_push(subparsers)


def _register_push(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "push",
        help="make a Tag Manager workspace match a generated container export",
        description="Create or update the export's templates, folders, built-in variables, "
        "variables, triggers, clients, tags and transformations in a workspace, matched by "
        "name; delete the ones sgtm-companion created that the export no longer has; never "
        "touch anything else. Safe to re-run: a second push of the same export changes nothing.",
    )
    p.add_argument("export", metavar="CONTAINER_JSON", help="the generated container.json")
    p.add_argument("--account", required=True, help="Tag Manager account id")
    p.add_argument(
        "--container", required=True, help="container id (numeric) or public id (GTM-XXXX)"
    )
    p.add_argument(
        "--workspace",
        default="sgtm-companion",
        help="workspace name, created when missing (default: %(default)s)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    p.add_argument(
        "--publish",
        action="store_true",
        help="after pushing, create a version named after the plan version and publish it",
    )
    p.add_argument("--message", help="version name for --publish (default: the plan version)")
    p.add_argument(
        "--qps",
        type=_positive_float,
        default=DEFAULT_QPS,
        help="requests per second to stay under (default: %(default)s, the API's quota)",
    )
    p.add_argument(
        "--key-file",
        help="service-account JSON key (default: Application Default Credentials)",
    )
    p.add_argument(
        "--endpoint",
        help=f"API root URL instead of Google's (testing aid; also ${ENDPOINT_ENV})",
    )
    p.set_defaults(func=run_push)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def run_push(
    args: argparse.Namespace,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    policy: Any = None,
) -> int:
    from ops.export import ExportError, load_export
    from ops.push import Pusher, PushError, PushOptions
    from ops.tagmanager import Api, ApiError, RetryPolicy

    try:
        export = load_export(args.export)
    except ExportError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return 1
    try:
        service = _tagmanager_service(args)
    except _CredentialsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    api = Api(
        service,
        qps=args.qps,
        policy=policy or RetryPolicy(),
        sleep=sleep,
        clock=clock,
        log=print,
    )
    options = PushOptions(
        account=args.account,
        container=args.container,
        workspace=args.workspace,
        dry_run=args.dry_run,
        publish=args.publish,
        message=args.message,
    )
    try:
        result = Pusher(api, export, options).run()
    except (PushError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            f"({api.requests} request(s) made; re-running the same command resumes safely)",
            file=sys.stderr,
        )
        return 1
    summary = (
        f"{'would write' if args.dry_run else 'wrote'} {len(result.changes)} change(s), "
        f"{result.unchanged} unchanged; {result.requests} request(s), {result.retries} retried"
    )
    if result.version:
        summary += f"; published version {result.version.get('containerVersionId')}"
    print(summary)
    return 0


class _CredentialsError(RuntimeError):
    pass


def _tagmanager_service(args: argparse.Namespace) -> Any:
    from google.auth.exceptions import DefaultCredentialsError

    from ops.tagmanager import build_service

    try:
        return build_service(args.endpoint, args.key_file)
    except FileNotFoundError:
        raise _CredentialsError(f"{args.key_file}: key file not found") from None
    except ValueError as exc:  # malformed key file
        raise _CredentialsError(f"{args.key_file}: not a service-account key: {exc}") from None
    except DefaultCredentialsError:
        raise _CredentialsError(
            "no Google credentials found: run `gcloud auth application-default login`, "
            "set GOOGLE_APPLICATION_CREDENTIALS, or pass --key-file"
        ) from None
