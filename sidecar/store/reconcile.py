"""The reconciliation part of the storage contract: what `sgtm reconcile` and `sgtm ledger` read.

Kept apart from ``base.py`` (the ingest and delivery contract) so the two can change
independently. Each backend implements it in its own mixin (``reconcile_sqlite.py``,
``reconcile_gcp.py``) over the data it already keeps, plus two small facts the ingest path
did not record before: duplicates answered (per source, for the dedupe rate and the client vs
server comparison) and how each order joined a browser context (the join rate).

States are read as the store holds them, never narrowed to a closed list here: a state added
by a later version (``quarantined``, ``expired: <rule>``, ``skipped: <reason>``) reaches the
report as it is, and ``reconcile.model.classify`` decides which column it belongs to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("sidecar.store.reconcile")

# How long after its business time an order may still arrive and count for its day: the query
# window on ``accepted_at`` is widened by this much (late webhooks, retried deliveries).
LATE_ARRIVAL_S = 3 * 86400


# Not frozen: these two are built once per stored conversion (a million in the benchmark's
# worst case), and a frozen dataclass's __init__ pays object.__setattr__ per field.
@dataclass(slots=True)
class DeliveryFact:
    """One destination of one stored event, as the store holds it now."""

    state: str
    reason: str = ""
    acked_at: float | None = None
    attempts: int = 0


@dataclass(slots=True)
class ConversionRow:
    """One stored conversion event, reduced to what reconciliation counts."""

    event_id: str
    event_name: str
    source: str
    order_id: str | None
    transaction_id: str | None
    accepted_at: float
    business_at: float  # the event's own time (envelope ``timestamp``), else accepted_at
    value: float | None
    currency: str | None
    decided: dict[str, str]  # destination -> the consent decision's outcome
    purposes: dict[str, bool]  # purpose -> granted
    deliveries: dict[str, DeliveryFact]
    skipped: bool = False
    join: str | None = None  # token | order | attributes | none; None: not recorded


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    """An event answered ``duplicate``: counted, never stored as an event."""

    event_id: str
    event_name: str
    source: str
    transaction_id: str | None
    at: float
    key: str = ""  # the dedupe key that matched


@dataclass(frozen=True)
class AttemptFact:
    destination: str
    at: float
    outcome: str
    reason: str
    http_status: int | None = None


@dataclass(frozen=True)
class DeadLetterFact:
    id: str
    destination: str
    dead_at: float
    reason: str
    replayed_at: float | None = None


@dataclass(frozen=True)
class EventPath:
    """One event's whole recorded path, for `sgtm ledger show`."""

    event_id: str
    event_name: str
    source: str
    order_id: str | None
    accepted_at: float
    business_at: float
    forwarded_at: float | None
    plan_version: str
    decision: dict[str, Any]  # the consent audit as stored (purposes, signals, destinations)
    prepared: dict[str, dict[str, Any]]  # destination -> PII field names, ip, user agent
    deliveries: dict[str, DeliveryFact]
    attempts: tuple[AttemptFact, ...]
    dead_letters: tuple[DeadLetterFact, ...]
    skipped: bool = False
    join: str | None = None
    duplicates: tuple[DuplicateRow, ...] = field(default=())
    value: float | None = None
    currency: str | None = None


class ReconcileStore(Protocol):
    def conversions(
        self, since: float, until: float, event_names: Sequence[str]
    ) -> Iterator[ConversionRow]:
        """Stored events named ``event_names`` accepted in [since, until)."""
        ...

    def duplicates(self, since: float, until: float) -> list[DuplicateRow]:
        """Duplicates answered in [since, until)."""
        ...

    def note_duplicates(self, rows: list[DuplicateRow]) -> None: ...

    def note_join(self, event_id: str, how: str, at: float) -> None: ...

    def event_path(self, event_id: str) -> EventPath | None: ...

    def order_event_ids(self, order_id: str) -> list[str]:
        """Stored event ids of one order (webhooks) or transaction (browser), oldest first."""
        ...


def record_duplicates(store: Any, rows: list[DuplicateRow]) -> None:
    """Count duplicates on stores that keep them; a failure is logged, never raised.

    The client already has its (correct) ``duplicate`` answer; only the dedupe-rate count is
    at stake, so a store hiccup here must not turn into a 503 and a retry storm.
    """
    note = getattr(store, "note_duplicates", None)
    if not rows or not callable(note):
        return
    try:
        note(rows)
    except Exception as exc:  # noqa: BLE001 - any backend error: counted as lost, loudly
        log.warning("could not record %d duplicate(s) for reconciliation: %s", len(rows), exc)


def record_join(store: Any, event_id: str, how: str, at: float) -> None:
    """Remember how an accepted order joined a browser context (the join rate)."""
    note = getattr(store, "note_join", None)
    if not callable(note):
        return
    try:
        note(event_id, how, at)
    except Exception as exc:  # noqa: BLE001 - the order is stored; only the join fact is lost
        log.warning("could not record the join of event %s: %s", event_id, exc)


def business_time(envelope_timestamp: Any, accepted_at: float) -> float:
    """The event's own time in seconds (envelope ``timestamp`` is milliseconds)."""
    if (
        isinstance(envelope_timestamp, int | float)
        and not isinstance(envelope_timestamp, bool)
        and envelope_timestamp > 0
    ):
        return min(envelope_timestamp / 1000.0, accepted_at)
    return accepted_at


def number_or_none(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def prepared_summary(envelope: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What each destination's prepared entry holds, by name only (never the hashed values)."""
    out: dict[str, dict[str, Any]] = {}
    for name, entry in sorted((envelope.get("destinations") or {}).items()):
        if not isinstance(entry, dict):
            continue
        out[name] = {
            "pii_fields": sorted((entry.get("user_data") or {}).keys()),
            "ip": "set" if entry.get("ip") else "none",
            "user_agent": bool(entry.get("user_agent")),
            "anonymized": bool(entry.get("anonymized")),
        }
    return out
