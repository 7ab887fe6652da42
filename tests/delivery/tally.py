"""The fault suite's figures per scenario: sent, delivered exactly once, lost, duplicated.

"Sent" counts (destination, stored event) pairs the ledger says must arrive (every destination
its consent allows); what arrived is what the sGTM stand-in answered ``success`` for. Events
the sidecar stores under the browser's namespace (``web:<id>``) reach sGTM under the pixel's
id, shared with the order's own event, so arrivals are compared per (destination, wire id):
that id arriving once per stored event that names it is "exactly once"; fewer is lost, more
is duplicated.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sidecar.store.sqlite import SqliteStore

KILL_NOTE = "after SIGKILL"


def measure(
    scenario: str,
    store: SqliteStore,
    ids: list[str],
    delivered: Counter,
    *,
    note: str = "",
) -> dict[str, Any]:
    expected: Counter[tuple[str, str]] = Counter()
    for stored in ids:
        entry = store.ledger(stored)
        if entry is None:  # accepted but not in the ledger: every destination of it is lost
            expected[("?", stored)] += 1
            continue
        row = store._read().execute("SELECT envelope FROM events WHERE event_id = ?", (stored,))
        envelope = row.fetchone()
        wire = stored
        if envelope is not None:
            import json

            wire = json.loads(envelope[0]).get("event_id", stored)
        for dest, status in entry.destinations.items():
            if status.state != "filtered":
                expected[(dest, wire)] += 1
    sent = sum(expected.values())
    lost = sum(max(0, n - delivered[k]) for k, n in expected.items())
    duplicated = sum(max(0, delivered[k] - n) for k, n in expected.items())
    exactly_once = sum(n for k, n in expected.items() if delivered[k] == n)
    return {
        "scenario": scenario,
        "sent": sent,
        "exactly_once": exactly_once,
        "lost": lost,
        "duplicated": duplicated,
        "note": note,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = "| Scenario | Sent | Delivered exactly once | Lost | Duplicated | Note |"
    lines = [head, "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['sent']} | {r['exactly_once']} | {r['lost']} | "
            f"{r['duplicated']} | {r.get('note', '')} |"
        )
    return "\n".join(lines)
