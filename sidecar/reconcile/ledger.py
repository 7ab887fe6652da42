"""`sgtm ledger`: one event's whole recorded path, as text or JSON.

Everything shown comes from the store (``ReconcileStore.event_path``): reception, the consent
decision per purpose and destination with the CMP signals read, what each destination's
prepared entry holds (field names only, never values), every delivery attempt with its
answer summary, acknowledgements, dead letters and duplicates answered later. What the store
does not record (the request id, validation details of an accepted event beyond the fields it
stripped) is said to be not recorded, never invented.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sidecar.store.reconcile import EventPath


def path_dict(path: EventPath, hashing: dict[str, str] | None = None) -> dict[str, Any]:
    out = asdict(path)
    decision = path.decision
    out["received"] = {
        "source": path.source,
        "accepted_at": _iso(path.accepted_at),
        "business_time": _iso(path.business_at),
        "request_id": None,  # not recorded by the store (the access log has it)
    }
    out["validation"] = {
        "status": "accepted",
        "pii_dropped": decision.get("pii_dropped", {}),
    }
    if hashing:
        for name, entry in out["prepared"].items():
            entry["hashing"] = hashing.get(name, "")
    out["status"] = _summary(path)
    return out


def _summary(path: EventPath) -> str:
    states = [f.state for f in path.deliveries.values()]
    if path.skipped or not states:
        return "skipped (no destination allowed)"
    if all(s == "succeeded" for s in states):
        return "delivered"
    if any(s in ("waiting", "executing", "failed") for s in states):
        return "in delivery"
    return "partial: " + ", ".join(f"{d} {f.state}" for d, f in path.deliveries.items())


def path_text(path: EventPath, hashing: dict[str, str] | None = None) -> str:
    d = path.decision
    lines = [
        f"event {path.event_id} ({path.event_name}) - {_summary(path)}",
        f"  received   {_iso(path.accepted_at)} from {path.source}"
        + (f", order {path.order_id}" if path.order_id else "")
        + (f", value {path.value} {path.currency}" if path.value is not None else "")
        + "; request id not recorded",
        f"  business   {_iso(path.business_at)}; plan version {path.plan_version}",
    ]
    if path.join is not None:
        lines.append(f"  join       browser context: {path.join}")
    dropped = d.get("pii_dropped") or {}
    lines.append(
        "  validation accepted" + (f"; PII left out: {_fields(dropped)}" if dropped else "")
    )
    purposes = d.get("purposes") or {}
    if purposes:
        lines.append(
            "  consent    "
            + ", ".join(
                f"{p} {'granted' if v.get('granted') else 'denied'} ({v.get('source')})"
                for p, v in sorted(purposes.items())
            )
        )
    signals = d.get("signals") or []
    errors = d.get("signal_errors") or []
    if signals or errors:
        lines.append(
            f"  signals    read {', '.join(signals) or 'none'}"
            + (f"; undecodable: {', '.join(errors)}" if errors else "")
        )
    for dest, outcome in (d.get("destinations") or {}).items():
        prepared = path.prepared.get(dest)
        what = ""
        if prepared is not None:
            fields = ", ".join(prepared["pii_fields"]) or "no PII"
            rule = f" hashed by {hashing[dest]} rules" if hashing and dest in hashing else ""
            what = (
                f"; sent {fields}{rule}, ip {prepared['ip']}, "
                f"user agent {'yes' if prepared['user_agent'] else 'no'}"
                + (", anonymised" if prepared["anonymized"] else "")
            )
        fact = path.deliveries.get(dest)
        state = f" -> {fact.state}" if fact else ""
        acked = f" acknowledged {_iso(fact.acked_at)}" if fact and fact.acked_at else ""
        lines.append(f"  {dest:<12} decision {outcome}{what}{state}{acked}")
    for a in path.attempts:
        status = f" HTTP {a.http_status}" if a.http_status is not None else ""
        lines.append(
            f"    attempt {_iso(a.at)} {a.destination}: {a.outcome}{status}"
            + (f" - {a.reason}" if a.reason else "")
        )
    for letter in path.dead_letters:
        replay = f", replayed {_iso(letter.replayed_at)}" if letter.replayed_at else ""
        lines.append(
            f"    dead letter {letter.id} {letter.destination} at {_iso(letter.dead_at)}: "
            f"{letter.reason}{replay}"
        )
    for dup in path.duplicates:
        lines.append(f"    duplicate from {dup.source} at {_iso(dup.at)} (key {dup.key or '?'})")
    return "\n".join(lines)


def _fields(dropped: dict[str, Any]) -> str:
    return "; ".join(
        f"{dest}: {', '.join(sorted(fields))}" for dest, fields in sorted(dropped.items())
    )


def _iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
