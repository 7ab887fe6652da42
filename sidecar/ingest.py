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
from sidecar.decision.consent import Decision, RequestOrigin, decide
from sidecar.decision.validation import MAX_LISTED, EnvelopeValidator, FieldError, Validated
from sidecar.delivery.policy import counts_from
from sidecar.minimisation.event import minimise
from sidecar.minimisation.ip import IpError, parse_ip
from sidecar.store.base import OutboxRecord, Store, StoreUnavailable
from sidecar.store.reconcile import DuplicateRow, record_duplicates

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"
EVENT_ID = re.compile(EVENT_ID_PATTERN)
# Bounded work and answers per request (docs/sidecar.md "Threat model"): past this many
# explained errors, further invalid events get one error instead of an explanation (valid ones
# are still accepted: the fast validator is cheap); past LISTED_PER_REQUEST listed errors, each
# further rejected event lists only its first.
ERROR_BUDGET = 1000
LISTED_PER_REQUEST = 100
BROWSER_NAMESPACE = "web:"
FUTURE_SKEW_S = 300
# Destinations whose platform deduplicates the browser's and the server's copy of an event by
# its event_id (Meta), transaction_id (GA4 purchases) or order id (Google Ads conversions).
PLATFORM_DEDUPE_KINDS = frozenset({"ga4", "meta_capi", "google_ads"})


@dataclass(frozen=True)
class EventResult:
    index: int
    event_id: str | None
    status: str  # ACCEPTED, DUPLICATE or REJECTED
    errors: tuple[FieldError, ...] = ()
    destinations: dict[str, str] = field(default_factory=dict)
    stripped: int = 0
    errors_omitted: int = 0  # found but not listed

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "event_id": self.event_id,
            "status": self.status,
            "errors": [e.as_dict() for e in self.errors],
            "destinations": dict(self.destinations),
            "stripped": self.stripped,
        }
        if self.errors_omitted:
            out["errors_omitted"] = self.errors_omitted
        return out


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
        # Webhook event ids are "<source>-<order id>-...": a browser-supplied id under one of
        # these prefixes is stored in the browser's own namespace (``web:<id>``) so it can
        # never equal, suppress or overwrite the order's event (docs/delivery.md, "Ids").
        self._order_prefixes = tuple(
            f"{name}-" for name, s in plan.sources.items() if s.kind != "web"
        )
        self._browser_sources = frozenset(
            name for name, s in plan.sources.items() if s.kind == "web"
        )
        path = getattr(store, "path", None)
        self._lock_path = f"{path}.ingest-lock" if isinstance(path, str) else None

    def ingest(
        self,
        envelopes: Sequence[Any],
        source: str,
        *,
        dedupe_keys: Sequence[Sequence[str]] | None = None,
        order_ids: Sequence[str | None] | None = None,
        origin: RequestOrigin | None = None,
    ) -> list[EventResult]:
        """Run envelopes already authenticated as coming from ``source`` through the pipeline.

        ``dedupe_keys[i]`` adds keys that identify envelope i besides its event id (a webhook's
        delivery id, order id + topic); ``order_ids[i]`` links it to an order for the ledger;
        ``origin`` is what the request's trusted headers say about the visitor (region, GPC).
        Results come back one per envelope, in order.
        """
        if source not in self.plan.sources:
            raise ValueError(
                f"unknown source {source!r}; the plan declares {', '.join(self.plan.sources)}"
            )
        now = self.clock()
        work: list[_Work] = []
        explained = listed = 0
        for i, env in enumerate(envelopes):
            allowance = max(1, min(MAX_LISTED, LISTED_PER_REQUEST - listed))
            checked = self._validate(env, explain=explained < ERROR_BUDGET, listed=allowance)
            explained += len(checked.errors) + checked.omitted
            listed += len(checked.errors)
            work.append(_Work(i, checked, _claimed_id(env)))
        queued: list[_Work] = []
        late: list[_Work] = []
        skipped: list[_Work] = []
        for item in work:
            envelope = item.validated.envelope
            if envelope is None:
                continue
            clamped = _clamp_future(envelope, now)
            item.decision = decide(envelope, self.plan, source, now, origin)
            shaped = minimise(envelope, item.decision, self.plan)
            audit = item.decision.audit()
            if shaped.pii_dropped:
                audit["pii_dropped"] = shaped.pii_dropped
            if clamped:
                audit["timestamp"] = clamped
            extra_keys = tuple(dedupe_keys[item.index]) if dedupe_keys else ()
            stored_id = self.storage_id(envelope["event_id"], source)
            if stored_id != envelope["event_id"]:
                _browser_copy_of_order(self.store, self.plan, shaped.item, audit)
            item.record = OutboxRecord(
                event_id=stored_id,
                event_name=envelope["event_name"],
                source=source,
                envelope=shaped.item,
                destinations=tuple(shaped.item["destinations"]),
                decision=audit,
                plan_version=str(self.plan.version),
                accepted_at=now,
                order_id=order_ids[item.index] if order_ids else None,
                dedupe_keys=(stored_id, *extra_keys),
                window_starts=self._window_starts(shaped.item, shaped.item["destinations"], now),
            )
            if audit.get("late_join") == "nothing to add":
                item.status = DUPLICATE  # a browser copy of an order, with nothing to add
                late.append(item)
            else:
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
                record_duplicates(self.store, _duplicates(queued, outcomes, now))
            # A browser's copy of an order with nothing to add is the browser reporting the
            # order again: a duplicate for the reconciliation's dedupe and client counts.
            record_duplicates(self.store, _duplicates(late, [None] * len(late), now))
            for item in skipped:
                self.store.note_skipped(item.record)  # type: ignore[arg-type]
                item.status = ACCEPTED
        return [self._finish(item) for item in work]

    def errors(self, envelopes: Sequence[Any]) -> list[tuple[FieldError, ...]]:
        """What ``ingest`` would reject each envelope for, without writing anything: callers
        that write state of their own first (the webhooks' order context) check with it."""
        return [self._validate(envelope).errors for envelope in envelopes]

    def _window_starts(
        self, envelope: dict[str, Any], destinations: dict[str, Any], now: float
    ) -> dict[str, float]:
        """Each destination's retry window counts from what its acceptance rule counts from:
        the business time (paid time, refund time: the envelope's timestamp) for platforms
        that check the event's own time, the receipt time for the others."""
        business = min(envelope["timestamp"] / 1000.0, now)
        return {
            d: business if counts_from(self.plan.destinations[d].kind) == "business_time" else now
            for d in destinations
            if d in self.plan.destinations
        }

    def storage_id(self, event_id: str, source: str) -> str:
        """The sidecar's own dedupe identity for an event; the envelope (what platforms see,
        and what the pixel deduplicates with) keeps ``event_id`` unchanged."""
        if source in self._browser_sources and event_id.startswith(self._order_prefixes):
            return BROWSER_NAMESPACE + event_id
        return event_id

    def _validate(self, envelope: Any, explain: bool = True, listed: int = MAX_LISTED) -> Validated:
        checked = self.validator.check(envelope, explain=explain, listed=listed)
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
                item.index,
                item.claimed_id,
                REJECTED,
                validated.errors,
                {},
                stripped,
                validated.omitted,
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
            item.validated.envelope["event_id"] if item.validated.envelope else None,
            item.status,
            (),
            dict(item.decision.outcomes),
            stripped,
        )


@contextlib.contextmanager
def _file_lock(path: str | None) -> Iterator[None]:
    """An exclusive flock on ``path``; without one (no path, read-only directory) the store's
    own locking still serialises writers, only less politely. A directory that is gone is
    the outbox gone: that fails closed (503), it is not a reason to write without a lock."""
    handle = None
    if path is not None:
        try:
            handle = open(path, "a")  # closed in the finally below
        except FileNotFoundError:
            raise StoreUnavailable(
                "the outbox directory is gone; nothing is accepted until it is restored"
            ) from None
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


def _clamp_future(envelope: dict[str, Any], now: float) -> str | None:
    """A timestamp ahead of the receipt time by more than clock skew (a shop's wrong time
    zone, a +2 days bug) is set to the receipt time: platforms refuse future events (GA4
    drops them, Meta answers an error), so forwarding it unchanged would lose it."""
    ts = envelope.get("timestamp")
    if isinstance(ts, int) and ts > (now + FUTURE_SKEW_S) * 1000:
        ahead = ts / 1000.0 - now
        envelope["timestamp"] = int(now * 1000)
        return f"{ahead:.0f} s in the future: set to the receipt time"
    return None


def _browser_copy_of_order(
    store: Store, plan: Plan, item: dict[str, Any], audit: dict[str, Any]
) -> None:
    """Narrow a browser's copy of an order (``web:<order event id>``) to what it may add.

    - The order is not in the ledger yet: the copy goes only where the platform deduplicates
      it against the order's own event (same event_id / transaction_id); the warehouse and
      the CRM take the order from its webhook alone.
    - The order is there (webhook first, browser second): **late join**. The copy goes to the
      destinations the order's event could not reach, blocked for want of consent or skipped
      by sGTM for it, with the browser's consent and identifiers and the order's own params
      and time (the webhook is the authority on money). Destinations the order already has,
      acknowledged or still pending, are never sent it again. Nothing left: a duplicate.
    """
    order_id = item["event_id"]
    ledger = getattr(store, "ledger", None)
    order = ledger(order_id) if callable(ledger) else None
    allowed = item["destinations"]
    if order is None:
        kept = {
            d: v for d, v in allowed.items() if plan.destinations[d].kind in PLATFORM_DEDUPE_KINDS
        }
        left_out = sorted(set(allowed) - set(kept))
        item["destinations"] = kept
        if left_out:
            audit["browser_order_copy"] = {d: "from_webhook_only" for d in left_out}
        return
    reached = {d for d, s in order.destinations.items() if s.state != "filtered"}
    added = {d: v for d, v in allowed.items() if d not in reached}
    if not added:
        audit["late_join"] = "nothing to add"
        return
    stored = getattr(store, "stored_envelope", None)
    envelope = stored(order_id) if callable(stored) else None
    if envelope:
        item["params"] = envelope.get("params", item["params"])
        item["timestamp"] = envelope.get("timestamp", item["timestamp"])
    item["destinations"] = added
    audit["late_join"] = {"order_event": order_id, "added": sorted(added)}


def _claimed_id(envelope: Any) -> str | None:
    """The event id of a rejected envelope, echoed only when it is a well-formed id."""
    if isinstance(envelope, dict):
        value = envelope.get("event_id")
        if isinstance(value, str) and EVENT_ID.fullmatch(value):
            return value
    return None


def _duplicates(queued: list[_Work], outcomes: list[Any], now: float) -> list[DuplicateRow]:
    """The duplicates of one enqueue, for the reconciliation's dedupe rate."""
    out = []
    for item, outcome in zip(queued, outcomes, strict=True):
        if item.record is None or (outcome is not None and outcome.status == "accepted"):
            continue
        record = item.record
        txn = record.envelope.get("params", {}).get("transaction_id")
        out.append(
            DuplicateRow(
                # the id the sender used: a browser's copy of an order is the order's duplicate
                record.envelope.get("event_id", record.event_id),
                record.event_name,
                record.source,
                str(txn) if txn is not None else record.order_id,
                now,
                (outcome.duplicate_of if outcome is not None else None)
                or record.event_id.removeprefix(BROWSER_NAMESPACE),
            )
        )
    return out
