"""The ingest pipeline: verified -> validated -> decided -> queued.

``Pipeline.ingest`` is what every entry point calls with envelopes it has already
authenticated: the Event API with what browsers and servers post, the order webhooks with the
envelopes they map from Shopify, WooCommerce and Stripe. It knows nothing of HTTP.

Per envelope: strip undeclared members and validate against the plan's schema (rejected, with
every error, when invalid); re-check consent per destination; build the minimised event; then
one ``Store.enqueue`` call for the whole batch writes the accepted ones durably and
deduplicates them atomically. Events with no allowed destination are acknowledged and recorded
with ``note_skipped``, never queued. Each decision is logged as a ``consent_decision`` entry and
stored with its outbox row. ``StoreUnavailable`` propagates: nothing was acknowledged, the
caller answers 503 and the client retries.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from formats.contract import EVENT_ID_PATTERN, envelope_schema
from formats.plan.model import Plan
from sidecar import logs
from sidecar.decision.consent import Decision, decide
from sidecar.decision.validation import EnvelopeValidator, FieldError, Validated
from sidecar.minimisation.event import minimise
from sidecar.minimisation.ip import IpError, parse_ip
from sidecar.store.base import OutboxRecord, Store

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"
EVENT_ID = re.compile(EVENT_ID_PATTERN)


@dataclass(frozen=True)
class EventResult:
    index: int
    event_id: str | None
    status: str  # ACCEPTED, DUPLICATE or REJECTED
    errors: tuple[FieldError, ...] = ()
    destinations: dict[str, str] = field(default_factory=dict)
    stripped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "status": self.status,
            "errors": [e.as_dict() for e in self.errors],
            "destinations": dict(self.destinations),
            "stripped": self.stripped,
        }


class Counters:
    """Process-local counters for ``GET /v1/stats``; each gunicorn worker has its own."""

    NAMES = ("requests", "errors_5xx", "accepted", "duplicates", "rejected", "skipped")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(self.NAMES, 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._values[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)


@dataclass
class _Work:
    index: int
    validated: Validated
    claimed_id: str | None
    decision: Decision | None = None
    record: OutboxRecord | None = None
    status: str = REJECTED


class Pipeline:
    def __init__(
        self,
        plan: Plan,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        counters: Counters | None = None,
    ) -> None:
        self.plan = plan
        self.store = store
        self.clock = clock
        self.counters = counters or Counters()
        self.validator = EnvelopeValidator(envelope_schema(plan))
        self.dedupe_window_s = plan.dedupe_window_hours * 3600
        self._write_lock = threading.Lock()
        path = getattr(store, "path", None)
        self._lock_path = f"{path}.ingest-lock" if isinstance(path, str) else None

    def ingest(
        self,
        envelopes: Sequence[Any],
        source: str,
        *,
        dedupe_keys: Sequence[Sequence[str]] | None = None,
        order_ids: Sequence[str | None] | None = None,
    ) -> list[EventResult]:
        """Run envelopes already authenticated as coming from ``source`` through the pipeline.

        ``dedupe_keys[i]`` adds keys that identify envelope i besides its event id (a webhook's
        delivery id, order id + topic); ``order_ids[i]`` links it to an order for the ledger.
        Results come back one per envelope, in order.
        """
        if source not in self.plan.sources:
            raise ValueError(
                f"unknown source {source!r}; the plan declares {', '.join(self.plan.sources)}"
            )
        now = self.clock()
        work = [_Work(i, self._validate(env), _claimed_id(env)) for i, env in enumerate(envelopes)]
        queued: list[_Work] = []
        skipped: list[_Work] = []
        for item in work:
            envelope = item.validated.envelope
            if envelope is None:
                continue
            item.decision = decide(envelope, self.plan, source, now)
            shaped = minimise(envelope, item.decision, self.plan)
            audit = item.decision.audit()
            if shaped.pii_dropped:
                audit["pii_dropped"] = shaped.pii_dropped
            extra_keys = tuple(dedupe_keys[item.index]) if dedupe_keys else ()
            item.record = OutboxRecord(
                event_id=envelope["event_id"],
                event_name=envelope["event_name"],
                source=source,
                envelope=shaped.item,
                destinations=tuple(shaped.item["destinations"]),
                decision=audit,
                plan_version=str(self.plan.version),
                accepted_at=now,
                order_id=order_ids[item.index] if order_ids else None,
                dedupe_keys=(envelope["event_id"], *extra_keys),
            )
            (queued if item.record.destinations else skipped).append(item)
        # One writer at a time: threads (a lock) and gunicorn workers (a lock file beside a
        # file-based outbox) queue here instead of in SQLite's busy handler, whose sleeps (up
        # to 100 ms each) set the tail latency under load: p99 fell from ~170 ms to ~60 ms
        # (bench/sidecar_bench.py). The store's own transaction stays the guarantee.
        with self._write_lock, _file_lock(self._lock_path):
            if queued:
                records = [w.record for w in queued]
                outcomes = self.store.enqueue(records, self.dedupe_window_s)  # type: ignore[arg-type]
                for item, outcome in zip(queued, outcomes, strict=True):
                    item.status = ACCEPTED if outcome.status == "accepted" else DUPLICATE
            for item in skipped:
                self.store.note_skipped(item.record)  # type: ignore[arg-type]
                item.status = ACCEPTED
        return [self._finish(item) for item in work]

    def _validate(self, envelope: Any) -> Validated:
        checked = self.validator.check(envelope)
        if not checked.ok or checked.envelope is None:
            return checked
        ip = checked.envelope.get("context", {}).get("ip")
        if ip:
            parsed = parse_ip(ip)
            if isinstance(parsed, IpError):
                # The message never repeats the address: it is personal data.
                error = FieldError("/context/ip", parsed.message)
                return Validated(None, checked.stripped, (error,))
        return checked

    def _finish(self, item: _Work) -> EventResult:
        validated = item.validated
        stripped = len(validated.stripped)
        if item.decision is None or item.record is None:
            self.counters.add("rejected")
            return EventResult(
                item.index, item.claimed_id, REJECTED, validated.errors, {}, stripped
            )
        if item.status == DUPLICATE:
            self.counters.add("duplicates")
        else:
            self.counters.add("accepted")
            if not item.record.destinations:
                self.counters.add("skipped")
        audit = dict(item.record.decision)
        audit["status"] = item.status
        audit["stripped"] = stripped
        logs.audit(audit)
        return EventResult(
            item.index,
            item.record.event_id,
            item.status,
            (),
            dict(item.decision.outcomes),
            stripped,
        )


@contextlib.contextmanager
def _file_lock(path: str | None) -> Iterator[None]:
    """An exclusive flock on ``path``; without one (no path, read-only directory) the store's
    own locking still serialises writers, only less politely."""
    handle = None
    if path is not None:
        try:
            handle = open(path, "a")  # closed in the finally below
        except OSError:
            handle = None
    if handle is None:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # closing releases the lock


def _claimed_id(envelope: Any) -> str | None:
    """The event id of a rejected envelope, echoed only when it is a well-formed id."""
    if isinstance(envelope, dict):
        value = envelope.get("event_id")
        if isinstance(value, str) and EVENT_ID.fullmatch(value):
            return value
    return None
