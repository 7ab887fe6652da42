"""The demo report as text, numbered in the order the loop runs."""

from __future__ import annotations

import sys
from typing import Any


def print_report(report: dict[str, Any]) -> None:
    w = sys.stdout.write
    w(f"sgtm demo: plan {report['plan']}, everything on 127.0.0.1, throwaway secrets\n\n")
    w("1. Sent to the sidecar\n")
    for s in report["sent"]:
        w(f"   {s['via']:30} {s['event_name']:15} {s['event_id']:34} HTTP {s['http']}\n")
        if isinstance(s["answer"], list):
            for r in s["answer"]:
                dests = r.get("destinations") or {}
                shown = ", ".join(f"{d}={v}" for d, v in sorted(dests.items()))
                w(f"   {'':30} -> {r.get('status')}" + (f": {shown}" if shown else "") + "\n")
        elif isinstance(s["answer"], dict) and "error" in s["answer"]:
            w(f"   {'':30} -> {s['answer']['error']}\n")
    w("\n2. Consent decisions (from the outbox's audit record)\n")
    for eid, dec in report["decisions"].items():
        w(f"   {eid}\n      purposes:     {dec['purposes']}\n")
        w(f"      destinations: {dec['destinations']}\n")
    w("\n3. What each destination would have received (captured locally)\n")
    for dest, reqs in report["received"].items():
        w(f"   {dest}: {len(reqs)} request(s)\n")
        for r in reqs:
            w(f"      {r['request']}\n         {r['summary']}\n")
    w("\n4. Delivery ledger\n")
    for eid, e in report["ledger"].items():
        w(f"   {eid} ({e['event_name']}, {e['source']}): {e['status']}\n")
        for d, s in e["destinations"].items():
            extra = f" - {s['reason']}" if s["reason"] else ""
            w(f"      {d:12} {s['state']:10} attempts={s['attempts']}{extra}\n")
    if report["tag_errors"]:
        w(
            "\n   The sGTM tags said why they failed (the sidecar retries those destinations alone\n"
            "   until their retry window ends, then dead-letters them: see `sgtm dlq list`):\n"
        )
        for line in report["tag_errors"]:
            w(f"      {line}\n")
    wk = report["worker"]
    w(
        f"\n{wk['batches']} batch(es): {wk['acknowledged']} acknowledged, {wk['skipped']} skipped "
        f"by consent, {wk['to_retry']} scheduled for retry, {wk['dead_lettered']} dead-lettered; "
        f"{report['seconds']} s\n"
    )
