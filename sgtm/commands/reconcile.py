"""`sgtm reconcile` and `sgtm ledger show|order`.

Both read the store the sidecar writes (SGTM_BACKEND, SGTM_OUTBOX / GOOGLE_CLOUD_PROJECT, or
--backend/--outbox) and the plan (--plan or SGTM_PLAN). Every failure is one line on stderr and
exit 1; exit 1 also when a destination is outside its band or over its SLA.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from formats.plan.errors import PlanError
from formats.plan.model import Plan
from sgtm.store_args import StoreMissing, add_store_flags, open_store, store_env
from sidecar.reconcile.days import ReconcileError, day_range
from sidecar.store.base import StoreUnavailable
from sidecar.store.reconcile import LATE_ARRIVAL_S


def register(subparsers: argparse._SubParsersAction) -> None:
    rec = subparsers.add_parser(
        "reconcile",
        help="did every order become a conversion at every destination? (per day)",
        description="Count, per day in the shop's time zone and per destination, the orders "
        "seen and what became of them (acknowledged, consent-blocked, skipped, pending, "
        "retrying, dead-lettered, quarantined, expired), coverage against the plan's band, "
        "client vs server purchases, dedupe and consent-drop rates, and latency against the "
        "plan's SLA. Exit 1 when a destination is outside its band or over its SLA.",
    )
    _common(rec)
    rec.add_argument("--from", dest="start", metavar="DATE", help="first day, YYYY-MM-DD")
    rec.add_argument("--to", dest="end", metavar="DATE", help="last day (default: --from)")
    rec.add_argument("--days", type=int, help="the N days ending yesterday (default 1)")
    rec.add_argument(
        "--html",
        metavar="FILE",
        help="also write the self-contained HTML report ({day} in FILE: the last day reconciled)",
    )
    rec.add_argument(
        "--json", metavar="FILE", help="also write the JSON report to FILE ({day} too)"
    )
    rec.add_argument(
        "--log-json",
        action="store_true",
        help="one structured log line per destination and day on stderr (Cloud Logging reads "
        "them as jsonPayload; the band alert counts type=reconcile_band, band_status=out)",
    )
    rec.add_argument(
        "--pull",
        action="store_true",
        help="ask each order platform of reconcile.pulls for its orders of those days and "
        "list the ones no webhook delivered",
    )
    rec.add_argument(
        "--backfill",
        action="store_true",
        help="with --pull: turn missing orders into events through the webhook mappings",
    )
    rec.set_defaults(func=cmd_reconcile)

    ledger = subparsers.add_parser(
        "ledger",
        help="one event's whole path: reception, consent, hashing, attempts, acknowledgements",
        description="Print what the store recorded about one event or one order.",
    )
    sub = ledger.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND", required=True)
    show = sub.add_parser("show", help="one event by its event_id")
    _common(show)
    show.add_argument("event_id")
    show.set_defaults(func=cmd_ledger_show)
    order = sub.add_parser("order", help="every event of one order (or transaction id)")
    _common(order)
    order.add_argument("order_id")
    order.add_argument("--source", help="only events from this plan source")
    order.set_defaults(func=cmd_ledger_order)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", help="tracking plan (default: $SGTM_PLAN)")
    add_store_flags(p)
    p.add_argument("--format", choices=("text", "json"), default="text")


def _fail(command: str, message: str) -> int:
    # One line, always: backend errors (Firestore's missing-index answer) can span several.
    print(f"sgtm {command}: {' '.join(message.split())}", file=sys.stderr)
    return 1


def load_plan_arg(args: argparse.Namespace, required: bool = True) -> Plan | None:
    from formats.plan.loader import load_plan

    path = args.plan or os.environ.get("SGTM_PLAN")
    if not path:
        if required:
            raise ReconcileError("no plan: pass --plan PLAN or set SGTM_PLAN")
        return None
    try:
        return load_plan(path)
    except PlanError as exc:
        raise ReconcileError(str(exc)) from None


def open_store_arg(args: argparse.Namespace) -> Any:
    try:
        return open_store(args)
    except (StoreMissing, ValueError, StoreUnavailable) as exc:
        raise ReconcileError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - e.g. google.auth DefaultCredentialsError
        backend = store_env(args).get("SGTM_BACKEND") or "sqlite"
        raise ReconcileError(f"cannot open the {backend} store: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def cmd_reconcile(args: argparse.Namespace) -> int:
    try:
        return _reconcile(args)
    except ReconcileError as exc:
        return _fail("reconcile", str(exc))
    except StoreUnavailable as exc:
        return _fail("reconcile", f"store unavailable: {exc}")


def run_reconcile(
    plan: Plan,
    store: Any,
    windows: list[Any],
    *,
    pull: bool = False,
    backfill: bool = False,
    env: dict[str, str] | None = None,
) -> Any:
    """The report for ``windows``: store scan, then order pulls and GA4 when configured."""
    from sidecar.reconcile.compute import compute

    since, until = windows[0].start, windows[-1].end
    rows = store.conversions(since, until + LATE_ARRIVAL_S, plan.reconcile.events)
    dups = store.duplicates(since, until)
    report = compute(plan, windows, rows, dups)
    env = dict(os.environ) if env is None else env
    if pull or backfill:
        from sidecar.reconcile.missing import find_missing

        find_missing(plan, store, report, windows, env, backfill=backfill)
    if plan.reconcile.ga4_property:
        from sidecar.reconcile.ga4 import attach_ga4

        attach_ga4(plan, report, windows, env)
    return report


def _reconcile(args: argparse.Namespace) -> int:
    from sidecar.reconcile.render import table

    plan = load_plan_arg(args)
    assert plan is not None
    if args.backfill and not args.pull:
        raise ReconcileError("--backfill needs --pull (it backfills the orders a pull finds)")
    windows = day_range(args.start, args.end, args.days, plan.reconcile.timezone, time.time())
    store = open_store_arg(args)
    try:
        report = run_reconcile(plan, store, windows, pull=args.pull, backfill=args.backfill)
    finally:
        store.close()
    last = windows[-1].day.isoformat()
    html_path = args.html.replace("{day}", last) if args.html else None
    if html_path:
        from sidecar.reconcile.html import write_html

        try:
            write_html(report, html_path)
        except OSError as exc:
            raise ReconcileError(f"--html {html_path}: {exc.strerror}") from None
    if args.json:
        json_path = args.json.replace("{day}", last)
        try:
            Path(json_path).write_text(
                json.dumps(report.as_dict(), indent=2, sort_keys=True, default=str),
                encoding="utf-8",
            )
        except OSError as exc:
            raise ReconcileError(f"--json {json_path}: {exc.strerror}") from None
    if args.log_json:
        for line in log_lines(report):
            print(json.dumps(line, sort_keys=True), file=sys.stderr)
    if args.format == "json":
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True, default=str))
    else:
        print(table(report))
        if html_path:
            print(f"\nreport: {Path(html_path).resolve()}")
    return 1 if report.failures() else 0


def log_lines(report: Any) -> list[dict[str, Any]]:
    """One record per destination and day, for the log-based metric and its alert."""
    out = []
    for day in report.days:
        for name, d in day.destinations.items():
            bad = d.band_status == "out" or d.sla_status == "over"
            out.append(
                {
                    "severity": "ERROR" if bad else "INFO",
                    "message": f"reconcile {day.day} {name}: band {d.band_status}, SLA {d.sla_status}",
                    "type": "reconcile_band",
                    "plan": report.plan,
                    "day": day.day.isoformat(),
                    "destination": name,
                    "coverage": None if d.coverage is None else round(d.coverage, 4),
                    "band_status": d.band_status,
                    "sla_status": d.sla_status,
                    "eligible": d.eligible.count,
                    "acknowledged": d.columns["acknowledged"].count,
                }
            )
    return out


def _hashing(plan: Plan | None) -> dict[str, str] | None:
    if plan is None:
        return None
    return {d.name: d.hashing for d in plan.destinations.values()}


def cmd_ledger_show(args: argparse.Namespace) -> int:
    from sidecar.reconcile.ledger import path_dict, path_text

    try:
        plan = load_plan_arg(args, required=False)
        store = open_store_arg(args)
        try:
            path = store.event_path(args.event_id)
        finally:
            store.close()
    except ReconcileError as exc:
        return _fail("ledger show", str(exc))
    except StoreUnavailable as exc:
        return _fail("ledger show", f"store unavailable: {exc}")
    if path is None:
        return _fail("ledger show", f"no event {args.event_id!r} in the store")
    if args.format == "json":
        print(json.dumps(path_dict(path, _hashing(plan)), indent=2, sort_keys=True, default=str))
    else:
        print(path_text(path, _hashing(plan)))
    return 0


def cmd_ledger_order(args: argparse.Namespace) -> int:
    from sidecar.reconcile.ledger import path_dict, path_text

    try:
        plan = load_plan_arg(args, required=False)
        store = open_store_arg(args)
        try:
            paths = [store.event_path(i) for i in store.order_event_ids(args.order_id)]
        finally:
            store.close()
    except ReconcileError as exc:
        return _fail("ledger order", str(exc))
    except StoreUnavailable as exc:
        return _fail("ledger order", f"store unavailable: {exc}")
    found = [p for p in paths if p is not None and (not args.source or p.source == args.source)]
    if not found:
        where = f" from source {args.source!r}" if args.source else ""
        return _fail("ledger order", f"no event of order {args.order_id!r}{where} in the store")
    if args.format == "json":
        body = [path_dict(p, _hashing(plan)) for p in found]
        print(json.dumps(body, indent=2, sort_keys=True, default=str))
    else:
        print("\n\n".join(path_text(p, _hashing(plan)) for p in found))
    return 0
