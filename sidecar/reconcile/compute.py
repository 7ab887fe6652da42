"""Count one range of days: orders per source, outcomes per destination, the derived rates.

Pure functions over ``ConversionRow``/``DuplicateRow`` from any backend, so SQLite and
Firestore give the same report for the same data (tests/reconcile checks both).

Columns per destination and day (docs/reconcile.md):

- ``acknowledged``: the destination answered success (state ``succeeded``);
- ``consent_blocked``: the consent decision blocked it (no delivery), or sGTM skipped it for
  consent (``filtered``);
- ``anonymised``: sent without identifiers (a subset of the others, counted apart);
- ``skipped``: ruled out by the plan (``not_in_rollout``, ``skipped: <reason>``), per reason;
- ``pending`` (``waiting``, ``executing``), ``retrying`` (``failed``), ``dead_lettered``
  (``aborted``), ``quarantined``, ``expired`` (per rule);
- anything else a newer store writes lands in ``other`` under its own name, never dropped.

eligible = everything but consent_blocked and skipped; coverage = acknowledged / eligible.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from formats.plan.model import Plan
from sidecar.reconcile.days import DayWindow, local_day
from sidecar.store.reconcile import ConversionRow, DuplicateRow

COLUMNS = (
    "acknowledged",
    "consent_blocked",
    "anonymised",
    "skipped",
    "pending",
    "retrying",
    "dead_lettered",
    "quarantined",
    "expired",
    "other",
)
NOT_ELIGIBLE = ("consent_blocked", "skipped")
JOINED = ("token", "order", "attributes")
_STATE_COLUMN = {
    "succeeded": "acknowledged",
    "filtered": "consent_blocked",
    "waiting": "pending",
    "executing": "pending",
    "failed": "retrying",
    "aborted": "dead_lettered",
}


def classify_state(state: str) -> tuple[str, str]:
    """(column, detail) for a delivery state as the store holds it."""
    column = _STATE_COLUMN.get(state)
    if column is not None:
        return column, ""
    head, _, rest = state.partition(":")
    head = head.strip()
    if head.startswith("quarantine"):
        return "quarantined", rest.strip()
    if head == "expired":
        return "expired", rest.strip() or "retry window"
    if head == "skipped":
        return "skipped", rest.strip() or "unspecified"
    return "other", state


def classify_decision(outcome: str) -> tuple[str, str] | None:
    """The column of a consent outcome that produced no delivery row (None: it did)."""
    if outcome in ("queued", "anonymized"):
        return None
    if outcome.startswith("blocked"):
        return "consent_blocked", outcome
    head, _, rest = outcome.partition(":")
    return "skipped", (rest.strip() if head.strip() == "skipped" and rest else outcome)


@dataclass
class Tally:
    count: int = 0
    revenue: float = 0.0

    def add(self, value: float | None) -> None:
        self.count += 1
        if value is not None:
            self.revenue += value

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "revenue": round(self.revenue, 2)}


@dataclass
class DestinationDay:
    destination: str
    columns: dict[str, Tally] = field(default_factory=lambda: {c: Tally() for c in COLUMNS})
    reasons: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    latencies: list[float] = field(default_factory=list)
    band: dict[str, float] = field(default_factory=dict)
    sla_minutes: int | None = None

    def add(self, column: str, detail: str, value: float | None) -> None:
        self.columns[column].add(value)
        if detail:
            bucket = self.reasons[column]
            bucket[detail] = bucket.get(detail, 0) + 1

    @property
    def eligible(self) -> Tally:
        out = Tally()
        for name, t in self.columns.items():
            if name not in NOT_ELIGIBLE and name != "anonymised":
                out.count += t.count
                out.revenue += t.revenue
        return out

    @property
    def coverage(self) -> float | None:
        eligible = self.eligible.count
        return self.columns["acknowledged"].count / eligible if eligible else None

    @property
    def revenue_coverage(self) -> float | None:
        eligible = self.eligible.revenue
        return self.columns["acknowledged"].revenue / eligible if eligible else None

    @property
    def band_status(self) -> str:
        cov = self.coverage
        if cov is None:
            return "n/a"
        off = abs(1.0 - cov) * 100
        if off <= self.band["target_pct"] + 1e-9:
            return "ok"
        if off <= self.band["tolerance_pct"] + 1e-9:
            return "warn"
        return "out"

    def latency(self) -> dict[str, float | None]:
        return percentiles(self.latencies)

    @property
    def sla_status(self) -> str:
        p95 = self.latency()["p95"]
        if self.sla_minutes is None or p95 is None:
            return "n/a"
        return "over" if p95 > self.sla_minutes * 60 else "ok"

    def as_dict(self) -> dict[str, Any]:
        cov, rcov = self.coverage, self.revenue_coverage
        return {
            "destination": self.destination,
            **{c: t.as_dict() for c, t in self.columns.items()},
            "reasons": {c: dict(sorted(r.items())) for c, r in sorted(self.reasons.items()) if r},
            "eligible": self.eligible.as_dict(),
            "coverage": None if cov is None else round(cov, 4),
            "revenue_coverage": None if rcov is None else round(rcov, 4),
            "band": dict(self.band),
            "band_status": self.band_status,
            "latency_s": {
                k: (None if v is None else round(v, 1)) for k, v in self.latency().items()
            },
            "sla_minutes": self.sla_minutes,
            "sla_status": self.sla_status,
        }


@dataclass
class SourceDay:
    source: str
    kind: str
    orders: Tally = field(default_factory=Tally)
    other_currency: int = 0  # orders in another currency than the plan's (not summed)
    duplicates: int = 0

    @property
    def dedupe_rate(self) -> float | None:
        seen = self.orders.count + self.duplicates
        return self.duplicates / seen if seen else None

    def as_dict(self) -> dict[str, Any]:
        rate = self.dedupe_rate
        return {
            "source": self.source,
            "kind": self.kind,
            "orders": self.orders.as_dict(),
            "other_currency": self.other_currency,
            "duplicates": self.duplicates,
            "dedupe_rate": None if rate is None else round(rate, 4),
        }


@dataclass
class DayReport:
    day: date
    sources: dict[str, SourceDay] = field(default_factory=dict)
    destinations: dict[str, DestinationDay] = field(default_factory=dict)
    client_ids: set[str] = field(default_factory=set)
    server_ids: set[str] = field(default_factory=set)
    joined: int = 0
    not_joined: int = 0
    purposes: dict[str, list[int]] = field(default_factory=dict)  # purpose -> [denied, total]
    missing_orders: list[dict[str, Any]] = field(default_factory=list)
    failed_orders: list[dict[str, Any]] = field(default_factory=list)
    pulls: dict[str, dict[str, Any]] = field(default_factory=dict)
    ga4: dict[str, Any] | None = None

    def client_server(self) -> dict[str, Any]:
        both = self.client_ids & self.server_ids
        server = len(self.server_ids)
        known = self.joined + self.not_joined
        return {
            "client_purchases": len(self.client_ids),
            "server_orders": server,
            "matched": len(both),
            "server_only": len(self.server_ids - self.client_ids),
            "client_only": len(self.client_ids - self.server_ids),
            "client_share": round(len(both) / server, 4) if server else None,
            "joined": self.joined,
            "not_joined": self.not_joined,
            "join_rate": round(self.joined / known, 4) if known else None,
        }

    def consent_drop(self) -> dict[str, Any]:
        return {
            p: {"denied": d, "events": n, "rate": round(d / n, 4) if n else None}
            for p, (d, n) in sorted(self.purposes.items())
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "orders": {s: v.as_dict() for s, v in self.sources.items()},
            "destinations": {d: v.as_dict() for d, v in self.destinations.items()},
            "client_vs_server": self.client_server(),
            "consent_drop": self.consent_drop(),
            "missing_orders": list(self.missing_orders),
            "failed_orders": list(self.failed_orders),
            "pulls": dict(self.pulls),
            "ga4": self.ga4,
        }


@dataclass
class Report:
    plan: str
    timezone: str
    currency: str
    events: tuple[str, ...]
    days: list[DayReport]

    def failures(self) -> list[str]:
        """One line per destination-day outside its band or over its SLA (exit 1)."""
        out = []
        for day in self.days:
            for name, pull in day.pulls.items():
                if not pull.get("complete", True):
                    missing = "; ".join(pull.get("missing_pages", []))
                    out.append(f"{day.day} order pull {name} is partial: {missing}")
            for name, d in day.destinations.items():
                if d.band_status == "out":
                    cov = d.coverage or 0.0
                    out.append(
                        f"{day.day} {name}: coverage {cov:.1%} is outside "
                        f"±{d.band['tolerance_pct']:g} %"
                    )
                if d.sla_status == "over":
                    p95 = d.latency()["p95"] or 0.0
                    out.append(
                        f"{day.day} {name}: latency p95 {p95 / 60:.1f} min is over the "
                        f"{d.sla_minutes} min SLA"
                    )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "timezone": self.timezone,
            "currency": self.currency,
            "events": list(self.events),
            "days": [d.as_dict() for d in self.days],
            "failures": self.failures(),
            "status": "fail" if self.failures() else "pass",
        }


def percentiles(values: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50, p95 and max (no interpolation: every figure is a real latency)."""
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {"p50": rank(0.50), "p95": rank(0.95), "max": ordered[-1]}


def reconcile_destinations(plan: Plan) -> list[str]:
    names: list[str] = []
    for event in plan.reconcile.events:
        for d in plan.destinations_for(event):
            if d.name not in names:
                names.append(d.name)
    return names


def compute(
    plan: Plan,
    windows: list[DayWindow],
    rows: Iterable[ConversionRow],
    duplicates: Iterable[DuplicateRow],
) -> Report:
    zone = ZoneInfo(plan.reconcile.timezone)
    kinds = {s.name: s.kind for s in plan.sources.values()}
    days = {w.day: DayReport(w.day) for w in windows}
    dest_names = reconcile_destinations(plan)
    for report in days.values():
        for name in dest_names:
            report.destinations[name] = _destination_day(plan, name)
        for name, source in plan.sources.items():
            report.sources[name] = SourceDay(name, source.kind)
    first, last = windows[0].start, windows[-1].end
    events = set(plan.reconcile.events)
    currency = plan.currency
    for row in rows:
        if not first <= row.business_at < last or row.event_name not in events:
            continue
        found = days.get(local_day(row.business_at, zone))
        if found is None:
            continue
        _count(found, row, kinds, currency, plan)
    for dup in duplicates:
        if dup.event_name not in events or not first <= dup.at < last:
            continue
        day_report = days.get(local_day(dup.at, zone))
        if day_report is None:
            continue
        source_day = day_report.sources.get(dup.source) or day_report.sources.setdefault(
            dup.source, SourceDay(dup.source, kinds.get(dup.source, dup.source))
        )
        source_day.duplicates += 1
        if dup.event_name == "purchase" and dup.transaction_id:
            ids = day_report.client_ids if source_day.kind == "web" else day_report.server_ids
            ids.add(dup.transaction_id)
    return Report(
        plan.name, plan.reconcile.timezone, currency, plan.reconcile.events, list(days.values())
    )


def _destination_day(plan: Plan, name: str) -> DestinationDay:
    band = plan.reconcile.band_for(name)
    return DestinationDay(
        name,
        band={"target_pct": band.target_pct, "tolerance_pct": band.tolerance_pct},
        sla_minutes=plan.reconcile.sla_for(name),
    )


def _count(
    report: DayReport, row: ConversionRow, kinds: dict[str, str], currency: str, plan: Plan
) -> None:
    kind = kinds.get(row.source, row.source)
    source = report.sources.get(row.source) or report.sources.setdefault(
        row.source, SourceDay(row.source, kind)
    )
    same_currency = row.currency in (None, currency)
    value = row.value if same_currency else None
    source.orders.add(value)
    if not same_currency:
        source.other_currency += 1
    if row.event_name == "purchase" and row.transaction_id:
        (report.client_ids if kind == "web" else report.server_ids).add(row.transaction_id)
    if kind != "web" and row.join is not None:
        if row.join in JOINED:
            report.joined += 1
        else:
            report.not_joined += 1
    for purpose, granted in row.purposes.items():
        tally = report.purposes.setdefault(purpose, [0, 0])
        tally[1] += 1
        if not granted:
            tally[0] += 1
    failed: list[str] = []
    for name, outcome in row.decided.items():
        dest = report.destinations.get(name)
        if dest is None:
            dest = report.destinations[name] = _destination_day(plan, name)
        ruled_out = classify_decision(outcome)
        if ruled_out is not None and name not in row.deliveries:
            dest.add(ruled_out[0], ruled_out[1], value)
        elif outcome == "anonymized":
            dest.add("anonymised", "", value)
    for name, fact in row.deliveries.items():
        dest = report.destinations.get(name)
        if dest is None:
            dest = report.destinations[name] = _destination_day(plan, name)
        column, detail = classify_state(fact.state)
        dest.add(column, detail, value)
        if column == "acknowledged" and fact.acked_at is not None:
            dest.latencies.append(max(0.0, fact.acked_at - row.business_at))
        elif column not in ("consent_blocked", "skipped", "pending"):
            failed.append(f"{name}: {fact.state}")
    if failed and len(report.failed_orders) < 500:
        report.failed_orders.append(
            {
                "event_id": row.event_id,
                "order_id": row.transaction_id,
                "source": row.source,
                "value": row.value,
                "currency": row.currency,
                "destinations": failed,
            }
        )
