"""`sgtm quarantine list|show|replay`: authentic webhook bodies the mapping could not read.

Same environment as the sidecar (SGTM_BACKEND, SGTM_OUTBOX, SGTM_PLAN, the webhook secrets the
plan names); flags override it. See docs/webhooks.md, "Quarantine".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sidecar.store.base import QuarantinedBody


def register(subparsers: argparse._SubParsersAction) -> None:
    q = subparsers.add_parser(
        "quarantine",
        help="list, show and replay webhook bodies that could not be mapped",
        description="A webhook whose signature verifies is always answered 2xx; when its body "
        "cannot be mapped to events it is kept here, byte for byte, with the error. Replay maps "
        "it again with the current code and plan.",
    )
    sub = q.add_subparsers(dest="quarantine_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="quarantined bodies, oldest first")
    _flags(ls)
    ls.add_argument("--all", action="store_true", help="include ones already replayed")
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(func=cmd_list)
    show = sub.add_parser("show", help="one quarantined body: headers, error, body")
    _flags(show)
    show.add_argument("id", help="the ID from `sgtm quarantine list`")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(func=cmd_show)
    replay = sub.add_parser(
        "replay",
        help="re-verify, re-map and queue quarantined bodies with the current code and plan",
    )
    _flags(replay)
    replay.add_argument("ids", nargs="*", metavar="ID", help="only these (default: all)")
    replay.add_argument("--plan", help="tracking plan (default: $SGTM_PLAN)")
    replay.add_argument("--format", choices=("text", "json"), default="text")
    replay.set_defaults(func=cmd_replay)


def _flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("sqlite", "gcp"), help="default: $SGTM_BACKEND or sqlite")
    p.add_argument("--outbox", help="SQLite outbox path (default: $SGTM_OUTBOX)")


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if getattr(args, "backend", None):
        env["SGTM_BACKEND"] = args.backend
    if getattr(args, "outbox", None):
        env["SGTM_OUTBOX"] = args.outbox
    return env


def _open(env: dict[str, str]) -> Any:
    from sidecar.store.factory import open_store_from_env

    return open_store_from_env(env)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_dict(item: QuarantinedBody, with_body: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": item.id,
        "source": item.source,
        "platform": item.platform,
        "topic": item.topic,
        "received_at": _iso(item.received_at),
        "errors": list(item.errors),
        "bytes": len(item.body),
        "replayed_at": _iso(item.replayed_at),
        "last_result": item.last_result,
    }
    if with_body:
        doc["headers"] = dict(item.headers)
        doc["body"] = item.body.decode("utf-8", errors="replace")
    return doc


def cmd_list(args: argparse.Namespace) -> int:
    items = _open(_env(args)).quarantined(include_replayed=args.all)
    if args.format == "json":
        print(json.dumps({"quarantined": [_as_dict(i) for i in items]}, indent=2))
        return 0
    if not items:
        print("nothing quarantined")
        return 0
    print(f"{'ID':>6}  {'RECEIVED':20}  {'SOURCE':12}  {'TOPIC':32}  ERROR")
    for i in items:
        print(f"{i.id:>6}  {_iso(i.received_at):20}  {i.source:12}  {i.topic[:32]:32}  {i.error}")
    print(f"{len(items)} quarantined bod{'y' if len(items) == 1 else 'ies'}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    item = _open(_env(args)).quarantined_one(args.id)
    if item is None:
        print(
            f"error: quarantined body {args.id!r} not found (see `sgtm quarantine list --all`)",
            file=sys.stderr,
        )
        return 1
    doc = _as_dict(item, with_body=True)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
        return 0
    for key in ("id", "source", "platform", "topic", "received_at", "replayed_at", "last_result"):
        print(f"{key + ':':13} {doc[key] if doc[key] not in (None, '') else '-'}")
    print("errors:")
    for e in item.errors:
        print(f"  {e['pointer']}: {e['message']}")
    print("headers:")
    for name, value in sorted(item.headers.items()):
        print(f"  {name}: {value}")
    print(f"body ({len(item.body)} bytes):")
    print(doc["body"])
    return 0


def _progress(done: int, total: int, stream: Any) -> None:
    width = 30
    filled = width * done // total if total else width
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        stream.write("\n")
    stream.flush()


def cmd_replay(args: argparse.Namespace) -> int:
    from formats.plan import PlanError, load_plan
    from sidecar.ingest import Pipeline
    from sidecar.webhooks.replay import ReplayRefused, replay_one

    env = _env(args)
    if args.plan:
        env["SGTM_PLAN"] = args.plan
    if not env.get("SGTM_PLAN"):
        print("error: SGTM_PLAN is not set (or pass --plan)", file=sys.stderr)
        return 1
    try:
        plan = load_plan(env["SGTM_PLAN"])
    except PlanError as exc:
        print(f"error: the tracking plan is invalid:\n{exc.report()}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot read the tracking plan {env['SGTM_PLAN']}: {exc}", file=sys.stderr)
        return 1
    store = _open(env)
    items = store.quarantined()
    if args.ids:
        wanted = set(args.ids)
        items = [i for i in items if i.id in wanted]
        missing = wanted - {i.id for i in items}
        if missing:
            print(
                f"error: not quarantined (or already replayed): {', '.join(sorted(missing))}",
                file=sys.stderr,
            )
            return 1
    pipeline = Pipeline(plan, store)
    results = []
    for n, item in enumerate(items, 1):
        try:
            results.append(replay_one(plan, store, pipeline, item, env, time.time()))
        except ReplayRefused as exc:
            print(f"\nerror: {exc}", file=sys.stderr)
            return 1
        _progress(n, len(items), sys.stderr)
    resolved = sum(1 for r in results if r.resolved)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "replayed": [
                        {
                            "id": r.id,
                            "status": r.status,
                            "message": r.message,
                            "events": list(r.events),
                        }
                        for r in results
                    ],
                    "resolved": resolved,
                    "left": len(results) - resolved,
                },
                indent=2,
            )
        )
    else:
        for r in results:
            print(f"{r.id}: {r.status}: {r.message}")
        print(f"{resolved} of {len(results)} resolved; {len(results) - resolved} still quarantined")
    return 0 if resolved == len(results) else 2
