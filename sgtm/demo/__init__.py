"""`sgtm demo`: the whole loop on one machine, with embedded defaults, in seconds.

plan -> `sgtm generate` (temp dir) -> the local sGTM runtime serving the container, its vendor
hosts routed to a local capture server -> the sidecar (in-process HTTP server, SQLite outbox)
-> a signed Shopify order webhook and a few browser events (one without ads consent) -> the
delivery worker -> per destination: what GA4, Meta, Google Ads, the warehouse and the CRM would
have received, with the consent decisions.

Secrets are generated for the run and live only in this process's environment and a temp
directory that is removed at the end; nothing is written to the repository. The steps live in
their own modules: `scenario` (what is sent), `report` (what happened, from the outbox and the
stand-ins), `text` (how it is printed); the loop itself is `sgtm.harness.loop.LocalLoop`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from formats.plan import PlanError
from sgtm.demo.report import build_report
from sgtm.demo.scenario import send_all
from sgtm.demo.text import print_report
from sgtm.harness.loop import DEFAULT_PLAN, LocalLoop


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole loop locally and show what each destination would receive",
        description="Generate the container from the plan, serve it with the local runtime, "
        "start the sidecar, send a signed Shopify order webhook and browser events, deliver, "
        "and print per destination what it would have received, with consent decisions. "
        "Nothing leaves 127.0.0.1; secrets are throwaway.",
    )
    p.add_argument(
        "--plan", default=str(DEFAULT_PLAN), help="tracking plan (default: the example shop)"
    )
    p.add_argument("--keep", metavar="DIR", help="keep the generated files and outbox in DIR")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sgtm.demo_day import demo_step, print_demo_step

    started = time.monotonic()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sgtm-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    loop = LocalLoop(str(args.plan), workdir)
    try:
        try:
            loop.start()
        except PlanError as exc:
            print(exc.report(), file=sys.stderr)
            return 1
        except Exception as exc:  # noqa: BLE001 - any start-up failure is reported, not raised
            print(
                f"sgtm demo: cannot start the local loop: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 1
        sent = send_all(loop)
        worker = loop.deliver()
        report = build_report(loop, sent, worker, time.monotonic() - started)
        reconciled = demo_step(loop.plan, args.keep)  # sidecar/reconcile/demo_day.py
        report["reconcile"] = {k: v for k, v in reconciled.items() if k != "table"}
    finally:
        loop.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.format == "json":
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print_report(report)
        print_demo_step(reconciled)
    return 0 if report["ok"] else 1
