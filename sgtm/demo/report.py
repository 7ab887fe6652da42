"""What happened in a demo run, read back from the outbox (ledger, audit record), the vendor
stand-ins and the sGTM log, as one JSON-ready report."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from formats.plan.model import Plan
from sgtm.harness.loop import LocalLoop


def first_id(answer: Any) -> str:
    if isinstance(answer, dict):
        for r in answer.get("results") or answer.get("events") or []:
            if isinstance(r, dict) and r.get("event_id"):
                return str(r["event_id"])
    return "-"


def brief(answer: Any) -> Any:
    if isinstance(answer, dict) and ("results" in answer or "events" in answer):
        rows = answer.get("results") or answer.get("events") or []
        return [
            {k: r.get(k) for k in ("event_id", "status", "destinations", "join") if k in r}
            for r in rows
            if isinstance(r, dict)
        ]
    if isinstance(answer, dict) and "error" in answer:
        return {"error": answer["error"].get("message")}
    return answer


def build_report(loop: LocalLoop, sent: list[dict[str, Any]], worker: Any, took: float) -> dict:
    store = loop.store
    event_ids = sorted({s["event_id"] for s in sent if s["event_id"] not in ("-", "")})
    ledger = {}
    decisions = {}
    for eid in event_ids:
        entry = store.ledger(eid)
        if entry is None:
            continue
        ledger[eid] = {
            "event_name": entry.event_name,
            "source": entry.source,
            "status": entry.status,
            "destinations": {
                d: {
                    "state": s.state,
                    "attempts": s.attempts,
                    "reason": s.last_reason if s.state != "succeeded" else "",
                }
                for d, s in entry.destinations.items()
            },
            "decided": dict(entry.decided),
        }
        row = (
            store._read()
            .execute("SELECT decision FROM events WHERE event_id = ?", (eid,))
            .fetchone()
        )
        decisions[eid] = _decision_summary(json.loads(row[0]) if row else {})
    received: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in sorted(loop.plan.destinations):
        for req in loop.capture.for_destination(name):
            received[name].append(
                {
                    "request": f"{req.method} {req.path}",
                    "summary": summarise(loop.plan, name, req.body),
                }
            )
    for table, rows in sorted(loop.sgtm.runtime.env.bigquery.items()):
        owner = next(
            (n for n, d in loop.plan.destinations.items() if d.kind == "bigquery"), "warehouse"
        )
        for row in rows:
            received[owner].append(
                {
                    "request": f"BigQuery.insert {table}",
                    "summary": summarise(loop.plan, owner, row),
                }
            )
    tag_errors = _tag_messages(loop.sgtm_log)
    accepted = [s for s in sent if s["http"] in (200, 202)]
    ok = len(accepted) == len(sent) and bool(ledger) and any(received.values())
    return {
        "ok": ok,
        "seconds": round(took, 2),
        "plan": f"{loop.plan.name} {loop.plan.version}",
        "sent": sent,
        "decisions": decisions,
        "tag_errors": tag_errors,
        "ledger": ledger,
        "received": {k: received.get(k, []) for k in sorted(loop.plan.destinations)},
        "worker": {
            "batches": worker.stats.batches,
            "acknowledged": worker.stats.succeeded,
            "skipped": worker.stats.filtered,
            "to_retry": worker.stats.failed,
            "dead_lettered": worker.stats.aborted,
        },
    }


def _tag_messages(lines: list[str]) -> list[str]:
    """What the tags logged about events they did not deliver (their logToConsole lines)."""
    out = set()
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            doc = json.loads(line[start:])
        except ValueError:
            continue
        if (
            isinstance(doc, dict)
            and doc.get("Type") == "Message"
            and doc.get("TraceId")
            and not str(doc.get("Message", "")).startswith("skipped")  # consent/scope, not failure
        ):
            out.add(f"{doc.get('Name')}: {doc.get('EventName')}: {doc.get('Message')}")
    return sorted(out)


def _decision_summary(decision: dict[str, Any]) -> dict[str, str]:
    """The audit record in two lines: each purpose's verdict and source, then each destination."""
    purposes = decision.get("purposes") or {}
    dests = decision.get("destinations") or {}
    return {
        "purposes": ", ".join(
            f"{p}={'granted' if v.get('granted') else 'denied'} ({v.get('source', '?')})"
            for p, v in sorted(purposes.items())
            if isinstance(v, dict)
        ),
        "destinations": ", ".join(f"{d}={v}" for d, v in sorted(dests.items())),
    }


def summarise(plan: Plan, destination: str, body: Any) -> str:
    """One line per request: event names, ids and which identifiers travelled (hashed)."""
    if not isinstance(body, dict):
        return str(body)[:160]
    kind = plan.destinations[destination].kind if destination in plan.destinations else ""
    if kind == "ga4":
        names = [e.get("name") for e in body.get("events", [])]
        params = (body.get("events") or [{}])[0].get("params", {})
        tid = params.get("transaction_id")
        return (
            f"events={names} client_id={body.get('client_id')}"
            + (f" transaction_id={tid} value={params.get('value')}" if tid else "")
            + f" consent={body.get('consent')}"
        )
    if kind == "meta_capi":
        parts = []
        for e in body.get("data", []):
            ud = e.get("user_data") or {}
            parts.append(
                f"{e.get('event_name')} event_id={e.get('event_id')} "
                f"user_data=[{', '.join(sorted(ud))}] (hashed)"
            )
        return "; ".join(parts)
    if kind == "bigquery":
        params = body.get("params")
        if isinstance(params, str):  # the warehouse row stores params as a JSON string
            try:
                params = json.loads(params)
            except ValueError:
                params = {}
        params = params if isinstance(params, dict) else {}
        return (
            f"row event={body.get('event_name')} event_id={body.get('event_id')} "
            f"transaction_id={body.get('transaction_id') or params.get('transaction_id', '-')}"
        )
    if kind == "http":
        ud = body.get("user_data") or {}
        return (
            f"{body.get('event_name')} event_id={body.get('event_id')} "
            f"user_data=[{', '.join(sorted(ud))}]"
        )
    return json.dumps(body, sort_keys=True)[:160]
