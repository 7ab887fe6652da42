"""`sgtm worker` (the delivery process) and `sgtm dlq list|show|replay` (the dead-letter store).

Both read the same environment as the sidecar (SGTM_BACKEND, SGTM_OUTBOX, SGTM_PLAN,
SGTM_COLLECT_URL, the delivery keyset variable the plan names); flags override it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from ops.progress import Progress, mode_for
from sgtm.output import add_format, print_json
from sgtm.store_args import add_store_flags, iso, missing_outbox, store_env, with_store
from sidecar.store.base import DeadLetter

_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: argparse._SubParsersAction) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run the delivery worker: outbox -> signed batches -> sGTM",
        description="Deliver queued events to the sGTM client until stopped (SIGTERM/SIGINT). "
        "One worker per SQLite outbox; events left mid-batch by a killed worker are retried.",
    )
    add_store_flags(worker)
    worker.add_argument("--plan", help="tracking plan (default: $SGTM_PLAN)")
    worker.add_argument("--collect-url", help="sGTM client URL (default: $SGTM_COLLECT_URL)")
    worker.add_argument(
        "--until-idle",
        action="store_true",
        help="exit 0 once nothing is pending (scripts, the demo)",
    )
    worker.add_argument("--max-seconds", type=float, help="stop after this long")
    worker.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for sGTM's answer (default 10)"
    )
    worker.add_argument(
        "--settle",
        type=float,
        help="seconds sGTM may keep running a request the worker stopped waiting for; retries "
        "of such batches (and of a killed worker's batch) wait this long (default timeout + 5)",
    )
    add_format(worker)
    worker.set_defaults(func=cmd_worker)

    dlq = subparsers.add_parser(
        "dlq",
        help="list, show and replay dead-lettered deliveries",
        description="Dead letters are destinations of events that ran out of attempts or of "
        "their retry window; each keeps every attempt's reason.",
    )
    sub = dlq.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="list dead letters, oldest first")
    add_store_flags(ls)
    _filters(ls)
    ls.add_argument("--all", action="store_true", help="include ones already replayed")
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(func=cmd_list)
    show = sub.add_parser("show", help="one dead letter with every attempt")
    add_store_flags(show)
    show.add_argument("id", help="the dead letter's ID (from `sgtm dlq list`)")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(func=cmd_show)
    replay = sub.add_parser(
        "replay",
        help="queue dead letters again with fresh attempts (the acceptance window is re-evaluated)",
        description="Destinations go back to the outbox; the running worker delivers them. "
        "Destinations that succeeded since are not sent again.",
    )
    add_store_flags(replay)
    _filters(replay)
    add_format(replay)
    replay.set_defaults(func=cmd_replay)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--since",
        type=parse_since,
        metavar="T",
        help="only those dead since T: ISO 8601 (2026-11-29T10:00Z), unix seconds, "
        "or an age such as 30m, 6h, 2d",
    )
    p.add_argument("--destination", metavar="D", help="only this destination (plan name)")


def parse_since(text: str, now: float | None = None) -> float:
    now = time.time() if now is None else now
    value = text.strip()
    m = _RELATIVE.fullmatch(value)
    if m:
        return now - int(m.group(1)) * _UNITS[m.group(2)]
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since {text!r}: expected ISO 8601 (2026-11-29T10:00Z), unix seconds or an age "
            "such as 30m, 6h, 2d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _iso(ts: float | None) -> str:
    return iso(ts) or "-"


def _as_dict(d: DeadLetter) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_id": d.event_id,
        "event_name": d.event_name,
        "order_id": d.order_id,
        "destination": d.destination,
        "dead_at": _iso(d.dead_at),
        "reason": d.reason,
        "replayed_at": _iso(d.replayed_at) if d.replayed_at else None,
        "attempts": [
            {
                "at": _iso(a.at),
                "outcome": a.outcome,
                "reason": a.reason,
                "http_status": a.http_status,
            }
            for a in d.attempts
        ],
    }


@with_store
def cmd_list(args: argparse.Namespace, store: Any) -> int:
    letters = store.dead_letters(
        since=args.since, destination=args.destination, include_replayed=args.all
    )
    if args.format == "json":
        print(json.dumps({"dead_letters": [_as_dict(d) for d in letters]}, indent=2))
        return 0
    if not letters:
        print("no dead letters")
        return 0
    print(f"{'ID':>6}  {'DEAD AT':20}  {'DESTINATION':12}  {'EVENT':28}  TRIES  REASON")
    for d in letters:
        event = f"{d.event_name}:{d.event_id}"
        print(
            f"{d.id:>6}  {_iso(d.dead_at):20}  {d.destination:12}  {event[:28]:28}  "
            f"{len(d.attempts):>5}  {d.reason}"
        )
    print(f"{len(letters)} dead letter(s)")
    return 0


@with_store
def cmd_show(args: argparse.Namespace, store: Any) -> int:
    letter = store.dead_letter(args.id)
    if letter is None:
        print(
            f"error: dead letter {args.id!r} not found (see `sgtm dlq list --all`)", file=sys.stderr
        )
        return 1
    doc = _as_dict(letter)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
        return 0
    for key in (
        "id",
        "event_id",
        "event_name",
        "order_id",
        "destination",
        "dead_at",
        "replayed_at",
        "reason",
    ):
        print(f"{key + ':':13} {doc[key] if doc[key] is not None else '-'}")
    print(f"attempts ({len(letter.attempts)}):")
    for i, a in enumerate(doc["attempts"], 1):
        status = a["http_status"] if a["http_status"] is not None else "-"
        print(f"  {i:>3}. {a['at']}  {a['outcome']:18}  HTTP {status}  {a['reason']}")
    return 0


@with_store
def cmd_replay(args: argparse.Namespace, store: Any) -> int:
    # The gcp store replays one Firestore transaction per dead letter: minutes for thousands.
    total = len(store.dead_letters(since=args.since, destination=args.destination, limit=10**9))
    with Progress(total, "replay", mode=mode_for(args.format), unit="letter") as progress:
        replayed = store.replay(
            since=args.since,
            destination=args.destination,
            now=time.time(),
            on_each=lambda d: progress.step(f"{d.id}: {d.event_id} -> {d.destination}"),
        )
    if args.format == "json":
        print_json(
            {
                "replayed": [
                    {"id": d.id, "event_id": d.event_id, "destination": d.destination}
                    for d in replayed
                ]
            }
        )
        return 0
    for d in replayed:
        print(f"replayed {d.id}: {d.event_id} -> {d.destination}")
    print(f"{len(replayed)} dead letter(s) queued again; the delivery worker will send them")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from sidecar.delivery.lock import WorkerLock, WorkerLockHeld
    from sidecar.delivery.runner import DeliveryConfigError, build_worker

    env = store_env(args)
    missing = missing_outbox(args, env)
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    try:
        worker = build_worker(
            env,
            plan_path=args.plan,
            collect_url=args.collect_url,
            timeout_s=args.timeout,
            settle_s=args.settle,
        )
    except DeliveryConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from sidecar import logs

    level = env.get("SGTM_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        print(
            f"error: SGTM_LOG_LEVEL={level!r}; expected DEBUG, INFO, WARNING or ERROR",
            file=sys.stderr,
        )
        return 1

    # The sidecar's structured, redacting log handler: dead-letter reasons quote sGTM's answers,
    # and the values of the plan's secrets must never reach a log line.
    plan = worker.plan  # type: ignore[attr-defined]  # build_worker attaches it for log redaction
    secrets = [env[r.env] for r in plan.secret_refs() if env.get(r.env)]
    logs.configure(
        stream=sys.stderr,
        project_id=env.get("GOOGLE_CLOUD_PROJECT") or None,
        secrets=secrets,
        level=level,
    )
    lock = None
    if env.get("SGTM_BACKEND", "sqlite") == "sqlite":
        lock = WorkerLock(worker.store.path)  # type: ignore[attr-defined]  # SqliteStore.path
        try:
            lock.acquire()
        except WorkerLockHeld as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        worker.start()
        print(
            f"delivery worker {os.getpid()} -> {worker.transport.url}", file=sys.stderr, flush=True
        )
        stats = worker.run(stop=stop, until_idle=args.until_idle, max_seconds=args.max_seconds)
    finally:
        worker.transport.close()
        if lock is not None:
            lock.release()
    if args.format == "json":
        print_json(
            {
                "acknowledged": stats.succeeded,
                "skipped_by_consent": stats.filtered,
                "to_retry": stats.failed,
                "dead_lettered": stats.aborted,
                "batches": stats.batches,
            }
        )
        return 0
    print(
        f"delivered: {stats.succeeded} acknowledged, {stats.filtered} skipped by consent, "
        f"{stats.failed} to retry, {stats.aborted} dead-lettered in {stats.batches} batch(es)",
        file=sys.stderr,
    )
    return 0
