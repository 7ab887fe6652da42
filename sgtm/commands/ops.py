"""`sgtm push` and `sgtm rollout ...`: the operations commands."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from ops.progress import mode_for
from ops.tagmanager import DEFAULT_QPS, ENDPOINT_ENV
from sgtm.output import EXIT_UNREACHABLE, add_format, print_json


def register(subparsers: Any) -> None:
    _register_push(subparsers)
    _register_rollout(subparsers)


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
    add_format(p)
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
    fmt = getattr(args, "format", "text")
    # Text: the run's account on stdout. JSON: stdout is the one document, so the account of
    # the run (headers, retries) goes to stderr with the progress.
    out = print if fmt == "text" else _stderr
    api = Api(
        service,
        qps=args.qps,
        policy=policy or RetryPolicy(),
        sleep=sleep,
        clock=clock,
        log=out,
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
        result = Pusher(api, export, options, out=out, progress_mode=mode_for(fmt)).run()
    except (PushError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            f"({api.requests} request(s) made; re-running the same command resumes safely)",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE if isinstance(exc, ApiError) and _unreachable(exc.status) else 1
    if fmt == "json":
        print_json(
            {
                "dry_run": args.dry_run,
                "changes": [change.describe() for change in result.changes],
                "unchanged": result.unchanged,
                "written": result.written,
                "requests": result.requests,
                "retries": result.retries,
                "version": (result.version or {}).get("containerVersionId"),
            }
        )
        return 0
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


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _unreachable(status: int | None) -> bool:
    """The API did not answer (network), or answered 5xx until the retries ran out: exit 3."""
    return not status or status >= 500


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


# -- sgtm rollout ------------------------------------------------------------------------------


def _register_rollout(subparsers: Any) -> None:
    from ops.rollout import MAX_ERROR_RATE_INCREASE, MAX_FAILURE_RATE_INCREASE, MIN_REQUESTS

    p = subparsers.add_parser(
        "rollout",
        help="phased rollout: per-destination split from the plan, Cloud Run revision traffic",
        description="Show the plan's per-destination rollout, and move Cloud Run traffic "
        "between the stable revision and a canary.",
    )
    sub = p.add_subparsers(dest="rollout_command", metavar="STEP", required=True)

    def cloud_run_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--project", help="Google Cloud project (default: $GOOGLE_CLOUD_PROJECT)"
        )
        parser.add_argument("--region", help="Cloud Run region (default: europe-west1)")
        parser.add_argument("--key-file", help="service-account JSON key (default: ADC)")
        parser.add_argument(
            "--endpoint",
            help="Cloud Run Admin API root instead of Google's (testing aid; also "
            "$SGTM_CLOUDRUN_ENDPOINT)",
        )
        add_format(parser)

    status = sub.add_parser("status", help="each destination's rollout %% and mode from the plan")
    status.add_argument("plan", metavar="PLAN", help="the tracking plan YAML")
    status.add_argument("--service", help="also show this Cloud Run service's traffic split")
    cloud_run_options(status)
    status.set_defaults(func=run_rollout_status)

    canary = sub.add_parser("canary", help="send N%% of traffic to the newest ready revision")
    canary.add_argument("service", metavar="SERVICE", help="Cloud Run service name or full name")
    canary.add_argument(
        "--percent", type=_percent, required=True, help="share for the canary, 1-99"
    )
    cloud_run_options(canary)
    canary.set_defaults(func=run_rollout_step, step="canary")

    promote = sub.add_parser("promote", help="send 100%% to the canary revision")
    promote.add_argument("service", metavar="SERVICE")
    promote.add_argument(
        "--gate",
        action="store_true",
        help="first compare the canary's and stable's /v1/stats and refuse when worse",
    )
    promote.add_argument("--canary-url", help="base URL of the canary's sidecar (default: tag URL)")
    promote.add_argument("--stable-url", help="base URL of the stable sidecar (default: tag URL)")
    promote.add_argument(
        "--key-env",
        default="WEB_SIGNING_KEYS",
        help="variable holding the sidecar's server keyset, to sign the /v1/stats reads "
        "(default: %(default)s)",
    )
    promote.add_argument(
        "--min-requests",
        type=int,
        default=MIN_REQUESTS,
        help="canary requests needed to judge (default: %(default)s)",
    )
    promote.add_argument(
        "--max-error-increase",
        type=float,
        default=MAX_ERROR_RATE_INCREASE,
        help="allowed 5xx-rate excess over stable, as a fraction (default: %(default)s)",
    )
    promote.add_argument(
        "--max-failure-increase",
        type=float,
        default=MAX_FAILURE_RATE_INCREASE,
        help="allowed delivery-failure-rate excess over stable (default: %(default)s)",
    )
    cloud_run_options(promote)
    promote.set_defaults(func=run_rollout_step, step="promote")

    rollback = sub.add_parser("rollback", help="send 100%% back to the previous revision")
    rollback.add_argument("service", metavar="SERVICE")
    cloud_run_options(rollback)
    rollback.set_defaults(func=run_rollout_step, step="rollback")


def _percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 99:
        raise argparse.ArgumentTypeError(f"must be between 1 and 99, got {value}")
    return value


@contextlib.contextmanager
def _text_to_stderr(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """With --format json the human account goes to stderr and the caller prints the report
    (filled in by the step) as the one document on stdout."""
    report: dict[str, Any] = {}
    if getattr(args, "format", "text") != "json":
        yield report
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield report


def run_rollout_status(args: argparse.Namespace) -> int:
    with _text_to_stderr(args) as report:
        code = _rollout_status(args, report)
    if code == 0 and args.format == "json":
        print_json(report)
    return code


def _rollout_status(args: argparse.Namespace, report: dict[str, Any]) -> int:
    from formats.plan.errors import PlanError
    from formats.plan.loader import load_plan

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    report.update(
        plan=plan.name,
        version=str(plan.version),
        destinations=[
            {"name": name, "mode": d.mode, "rollout": d.rollout}
            for name, d in sorted(plan.destinations.items())
        ],
    )
    print(f"plan {plan.name} {plan.version}: server-side rollout per destination")
    print(f"  {'destination':<16} {'mode':<7} {'rollout':>7}  server sends / browser tag fires")
    for name in sorted(plan.destinations):
        dest = plan.destinations[name]
        if dest.rollout == 0:
            split = "nobody / everybody"
        elif dest.rollout == 100:
            split = "everybody / nobody"
        else:
            split = f"buckets 0-{dest.rollout - 1} / buckets {dest.rollout}-99"
        print(f"  {name:<16} {dest.mode:<7} {dest.rollout:>6}%  {split}")
    if any(d.mode == "shadow" for d in plan.destinations.values()):
        print("  (shadow: the server sends to the destination's test surface, not production)")
    if not args.service:
        return 0
    return _with_cloud_run(args, lambda client, name: _print_traffic(client, name, report))


def _print_traffic(client: Any, name: str, report: dict[str, Any]) -> int:
    from ops.cloudrun import get_service, traffic_of
    from ops.rollout import describe

    traffic = traffic_of(get_service(client, name))
    report["traffic"] = {
        "service": name,
        "latest_ready": traffic.latest_ready,
        "splits": [dataclasses.asdict(s) for s in traffic.splits],
    }
    print(f"Cloud Run {name}: latest ready revision {traffic.latest_ready or '(none)'}")
    for line in describe(traffic.splits):
        print(line)
    return 0


def _with_cloud_run(args: argparse.Namespace, step: Callable[[Any, str], int]) -> int:
    from google.auth.exceptions import DefaultCredentialsError

    from ops.cloudrun import CloudRunError, service_name, services_client

    try:
        name = service_name(args.service, args.project, args.region)
        client = services_client(args.endpoint, args.key_file)
        return step(client, name)
    except CloudRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DefaultCredentialsError:
        print(
            "error: no Google credentials found: run `gcloud auth application-default login`, "
            "set GOOGLE_APPLICATION_CREDENTIALS, or pass --key-file",
            file=sys.stderr,
        )
        return 1
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {args.key_file}: cannot use the key file: {exc}", file=sys.stderr)
        return 1


def run_rollout_step(args: argparse.Namespace) -> int:
    with _text_to_stderr(args) as report:
        code = _with_cloud_run(args, lambda client, name: _rollout_step(args, client, name, report))
    if code == 0 and args.format == "json":
        print_json(report)
    return code


def _rollout_step(args: argparse.Namespace, client: Any, name: str, report: dict[str, Any]) -> int:
    from ops.cloudrun import get_service, set_traffic, traffic_of
    from ops.rollout import (
        CANARY,
        STABLE,
        GateRules,
        canary_split,
        describe,
        fetch_stats,
        judge,
        promote_split,
        rollback_split,
    )

    service = get_service(client, name)
    current = traffic_of(service)
    print(f"{name} now:")
    for line in describe(current.splits):
        print(line)
    if args.step == "canary":
        splits = canary_split(current, args.percent)
    elif args.step == "promote":
        splits = promote_split(current)
        if args.gate:
            canary, stable = current.by_tag(CANARY), current.by_tag(STABLE)
            canary_url = args.canary_url or current.tag_url(CANARY)
            stable_url = args.stable_url or current.tag_url(STABLE)
            from formats.signing import KeysetError, keyset_from_env

            try:
                keyset = keyset_from_env(args.key_env)
            except KeysetError as exc:
                print(
                    f"error: --gate signs its /v1/stats reads with the server keyset: {exc}",
                    file=sys.stderr,
                )
                return 1
            canary_stats = fetch_stats(canary_url, keyset)
            stable_stats = fetch_stats(stable_url, keyset)
            for role, stats in (("canary", canary_stats), ("stable", stable_stats)):
                print(
                    f"gate: {role} {stats.revision}: {stats.requests} requests, "
                    f"5xx {stats.error_rate:.2%}, delivery failures {stats.failure_rate:.2%}"
                )
            for role, stats in (("canary", canary_stats), ("stable", stable_stats)):
                if not stats.delivery_counted and stats.delivery_scope != "unavailable":
                    print(
                        f"gate: {role} reports no delivery figures ({stats.delivery_scope}); "
                        "the delivery-failure check is skipped"
                    )
            rules = GateRules(args.min_requests, args.max_error_increase, args.max_failure_increase)
            reasons = judge(
                canary_stats,
                stable_stats,
                rules,
                expect_canary=canary.revision if canary else "",
                expect_stable=stable.revision if stable else "",
            )
            if reasons:
                for reason in reasons:
                    print(f"error: not promoting: {reason}", file=sys.stderr)
                return 1
            print("gate: canary is healthy enough, promoting")
    else:
        splits = rollback_split(current)
    updated = traffic_of(set_traffic(client, service, splits))
    report.update(
        service=name,
        step=args.step,
        before=[dataclasses.asdict(s) for s in current.splits],
        after=[dataclasses.asdict(s) for s in updated.splits],
    )
    print(f"{name} after {args.step}:")
    for line in describe(updated.splits):
        print(line)
    return 0
