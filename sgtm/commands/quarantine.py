"""`sgtm quarantine list|show|replay`: authentic webhook bodies the mapping could not read.

Same environment as the sidecar (SGTM_BACKEND, SGTM_OUTBOX, SGTM_PLAN, the webhook secrets the
plan names); flags override it. See docs/webhooks.md, "Quarantine".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ops.progress import Progress, mode_for
from sgtm.store_args import add_store_flags, iso, store_env, with_store
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
    add_store_flags(ls)
    ls.add_argument("--all", action="store_true", help="include ones already replayed")
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(func=cmd_list)
    show = sub.add_parser("show", help="one quarantined body: headers, error, body")
    add_store_flags(show)
    show.add_argument("id", help="the ID from `sgtm quarantine list`")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(func=cmd_show)
    replay = sub.add_parser(
        "replay",
        help="re-verify, re-map and queue quarantined bodies with the current code and plan",
    )
    add_store_flags(replay)
    replay.add_argument("ids", nargs="*", metavar="ID", help="only these (default: all)")
    replay.add_argument("--plan", help="tracking plan (default: $SGTM_PLAN)")
    replay.add_argument("--format", choices=("text", "json"), default="text")
    replay.set_defaults(func=cmd_replay)


def _as_dict(item: QuarantinedBody, with_body: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": item.id,
        "source": item.source,
        "platform": item.platform,
        "topic": item.topic,
        "received_at": iso(item.received_at),
        "errors": list(item.errors),
        "bytes": len(item.body),
        "replayed_at": iso(item.replayed_at),
        "last_result": item.last_result,
    }
    if with_body:
        doc["headers"] = dict(item.headers)
        doc["body"] = item.body.decode("utf-8", errors="replace")
    return doc


@with_store
def cmd_list(args: argparse.Namespace, store: Any) -> int:
    items = store.quarantined(include_replayed=args.all)
    if args.format == "json":
        print(json.dumps({"quarantined": [_as_dict(i) for i in items]}, indent=2))
        return 0
    if not items:
        print("nothing quarantined")
        return 0
    print(f"{'ID':>6}  {'RECEIVED':20}  {'SOURCE':12}  {'TOPIC':32}  ERROR")
    for i in items:
        print(f"{i.id:>6}  {iso(i.received_at):20}  {i.source:12}  {i.topic[:32]:32}  {i.error}")
    print(f"{len(items)} quarantined bod{'y' if len(items) == 1 else 'ies'}")
    return 0


@with_store
def cmd_show(args: argparse.Namespace, store: Any) -> int:
    item = store.quarantined_one(args.id)
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


@with_store
def cmd_replay(args: argparse.Namespace, store: Any) -> int:
    from formats.plan import PlanError, load_plan
    from sidecar.ingest import Pipeline
    from sidecar.webhooks.replay import ReplayRefused, replay_one

    env = store_env(args)
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
    with Progress(len(items), "replay", mode=mode_for(args.format), unit="body") as progress:
        for item in items:
            try:
                result = replay_one(plan, store, pipeline, item, env, time.time())
            except ReplayRefused as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            results.append(result)
            progress.step(f"{item.id}: {result.status}")
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
    # Bodies still unmappable are a failed check (1); 2 is kept for a wrong command line.
    return 0 if resolved == len(results) else 1
