"""The storage contract of the sidecar: outbox, idempotency, identity context, ledger, dead letters.

The ingest path (Event API and webhooks) only ever calls ``enqueue`` and the context methods;
the delivery worker owns the rest. Backends: SQLite (embedded default) and Google Cloud
(Pub/Sub + Firestore), chosen by configuration (``open_store``).

The one rule every backend keeps: ``enqueue`` returns only after the accepted records are
durable, and it deduplicates atomically with the write, so a crash can never leave an event
claimed-but-not-stored (which would turn the client's retry into a silent drop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboxRecord:
    event_id: str
    event_name: str
    source: str  # "web", "shopify", "woocommerce", "stripe"
    # The minimised event as it will be forwarded to sGTM (docs/architecture.md, one item of
    # the batch's "events"), with its "destinations" map of allowed destinations and their
    # prepared (hashed) PII. Raw PII is never stored.
    envelope: dict[str, Any]
    destinations: tuple[str, ...]
    decision: dict[str, Any]  # the consent audit record for this event
    plan_version: str
    accepted_at: float  # unix seconds
    order_id: str | None = None
    # Every key that identifies this event for deduplication (the event id first; webhooks add
    # their own, e.g. the Shopify webhook id or order id + topic). A record is a duplicate when
    # any key was seen within the dedupe window.
    dedupe_keys: tuple[str, ...] = field(default=())
    # Per destination: the unix time its retry window counts from, i.e. what that
    # destination's acceptance rule counts from (the event's business time for platforms that
    # check event time, the receipt time otherwise). Missing: the business time.
    window_starts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EnqueueResult:
    event_id: str
    status: str  # "accepted" or "duplicate"
    duplicate_of: str | None = None  # the key that matched, for duplicates


class Store(Protocol):
    def enqueue(self, records: list[OutboxRecord], dedupe_window_s: int) -> list[EnqueueResult]:
        """Durably store new records, deduplicated atomically; one result per record, in order."""
        ...

    def note_skipped(self, record: OutboxRecord) -> None:
        """Record an accepted event that has no allowed destination (ledger only, not queued)."""
        ...

    def put_context(self, token: str, context: dict[str, Any], ttl_s: int) -> None:
        """Store the browser identity context for a cart/checkout token (hybrid join)."""
        ...

    def get_context(self, token: str) -> dict[str, Any] | None:
        """The context stored for a token, or None when absent or expired."""
        ...

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the store cannot accept writes (readiness)."""
        ...

    def quarantine(self, item: QuarantinedBody) -> str:
        """Durably keep a verified body that could not be mapped; returns its id."""
        ...

    def quarantined(
        self, include_replayed: bool = False, limit: int = 1000
    ) -> list[QuarantinedBody]:
        """Quarantined bodies, oldest first (only the unresolved ones unless asked)."""
        ...

    def quarantined_one(self, item_id: str) -> QuarantinedBody | None: ...

    def quarantine_result(self, item_id: str, result: str, replayed_at: float | None) -> None:
        """Record what a replay said; ``replayed_at`` set means it is resolved."""
        ...

    def quarantine_count(self) -> int:
        """Unresolved quarantined bodies (``/v1/stats``, the alert)."""
        ...

    def close(self) -> None: ...


class StoreUnavailable(RuntimeError):
    """The backend cannot take writes now; the caller answers 503 and the client retries."""


@dataclass(frozen=True)
class QuarantinedBody:
    """A verified webhook body the mapping could not turn into events, kept for replay.

    The body is kept byte for byte with the headers that re-verify it (the signature, topic,
    delivery id), so ``sgtm quarantine replay`` can check it again and re-map it with the code
    and plan of the day. It holds personal data: it lives in the store next to the outbox and
    is purged with it after ``retention_days``; it never reaches a log.
    """

    id: str
    source: str  # the plan's source name
    platform: str  # "shopify", "woocommerce", "stripe"
    topic: str
    body: bytes
    headers: dict[str, str]
    errors: tuple[dict[str, str], ...]  # {"pointer", "message"}, the precise mapping errors
    received_at: float
    replayed_at: float | None = None  # set once a replay mapped it (accepted/duplicate/ignored)
    last_result: str = ""  # what the last replay said

    @property
    def error(self) -> str:
        return "; ".join(f"{e['pointer']}: {e['message']}" for e in self.errors)


# --- The delivery side (added with the delivery worker; the ingest side above is unchanged) ---

# The closed set of per-destination delivery states (after rudder-server's jobsdb): "waiting",
# "executing" and "failed" are not final; "succeeded", "aborted" (dead-lettered) and "filtered"
# (the sGTM client skipped it, e.g. no consent) are. A destination "executing" when its worker
# died goes back to "failed" so it is retried: delivery is at-least-once, the event id being
# every destination's dedupe key.
PENDING_STATES = ("waiting", "executing", "failed")
FINAL_STATES = ("succeeded", "aborted", "filtered")
DELIVERY_STATES = PENDING_STATES + FINAL_STATES
# An attempt outcome recorded without anything being sent (the event was already past its
# retry window when its turn came): it does not count towards the attempt cap.
NOT_SENT = "expired"
# A destination held back by its rate limit (sidecar/delivery/throttle.py): nothing was sent
# either, so it does not count towards the attempt cap.
THROTTLED = "throttled"
NOT_COUNTED = (NOT_SENT, THROTTLED)


@dataclass(frozen=True)
class Attempt:
    """One try of one destination; a dead letter carries all of them."""

    at: float
    outcome: str  # "success", "failure", "skipped_no_consent", "rejected", ...
    reason: str
    http_status: int | None = None


@dataclass(frozen=True)
class Claim:
    """An event taken for delivery, with only the destinations still to deliver."""

    event_id: str
    envelope: dict[str, Any]  # the batch item, "destinations" narrowed to ``destinations``
    destinations: tuple[str, ...]
    attempts: dict[str, int]  # attempts made so far, per destination
    window_start: dict[str, float]  # unix seconds each destination's retry window counts from


@dataclass(frozen=True)
class Outcome:
    """What became of one destination of one claimed event after one attempt."""

    destination: str
    state: str  # one of DELIVERY_STATES except "waiting"/"executing"
    attempt: Attempt
    next_attempt_at: float | None = None  # for "failed"


@dataclass(frozen=True)
class DeadLetter:
    id: str
    event_id: str
    destination: str
    dead_at: float
    reason: str
    attempts: tuple[Attempt, ...]
    event_name: str = ""
    order_id: str | None = None
    replayed_at: float | None = None


@dataclass(frozen=True)
class DestinationStatus:
    state: str
    attempts: int
    last_reason: str = ""
    acked_at: float | None = None
    next_attempt_at: float | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """Per event: what reconciliation reads."""

    event_id: str
    event_name: str
    source: str
    order_id: str | None
    accepted_at: float
    forwarded_at: float | None  # first time any destination was sent
    destinations: dict[str, DestinationStatus]
    status: str  # "queued", "delivered", "partial", "dead", "skipped"
    # Destinations decided at ingest and never queued, with the decision's outcome
    # ("blocked_no_consent", "skipped: no_client_id", ...): why nothing was sent to them.
    decided: dict[str, str] = field(default_factory=dict)


class DeliveryStore(Store, Protocol):
    """What the delivery worker, the DLQ commands and reconciliation need from a backend."""

    def claim(self, now: float, limit: int, lease_s: float) -> list[Claim]:
        """Take up to ``limit`` events with destinations due, marking those ``executing``."""
        ...

    def claim_event(self, event_id: str, now: float, lease_s: float) -> Claim | None:
        """Take one event's due destinations (the push path); None when none is due."""
        ...

    def record(self, event_id: str, outcomes: list[Outcome], now: float) -> None:
        """Apply one attempt's outcomes; "aborted" ones also become dead letters."""
        ...

    def record_many(self, items: list[tuple[str, list[Outcome]]], now: float) -> None:
        """``record`` for every event of one batch's answer (one transaction where possible)."""
        ...

    def requeue_executing(self, now: float) -> int:
        """At worker start: destinations left ``executing`` go back to ``failed``, due when
        their lease ends (the dead worker's request may still be running in sGTM until then)."""
        ...

    def next_due_at(self) -> float | None:
        """When the earliest pending destination is due (None when nothing is pending)."""
        ...

    def dead_letters(
        self,
        since: float | None = None,
        destination: str | None = None,
        include_replayed: bool = False,
        limit: int = 1000,
    ) -> list[DeadLetter]: ...

    def dead_letter(self, dead_letter_id: str) -> DeadLetter | None: ...

    def replay(
        self,
        since: float | None = None,
        destination: str | None = None,
        now: float = 0.0,
        on_each: Callable[[DeadLetter], None] | None = None,
    ) -> list[DeadLetter]:
        """Send dead letters again: their destinations become ``waiting`` with fresh attempts;
        the window keeps counting from what the destination's acceptance rule counts from, so
        the worker re-evaluates it (an event the platform would refuse expires again).
        ``on_each`` is called with every dead letter once it is handled (progress)."""
        ...

    def ledger(self, event_id: str) -> LedgerEntry | None: ...

    def ledger_for_order(self, order_id: str) -> list[LedgerEntry]: ...

    def counts(self) -> dict[str, int]:
        """Destinations per delivery state (for health and the bench)."""
        ...


# Helpers every backend shares (so no backend imports another).


def narrow(envelope: dict[str, Any], destinations: tuple[str, ...]) -> dict[str, Any]:
    """The batch item for this attempt: only the destinations still to deliver are named."""
    item = dict(envelope)
    allowed = envelope.get("destinations") or {}
    item["destinations"] = {d: allowed.get(d, {}) for d in destinations}
    return item


def not_queued(decision: Any, queued: Any) -> dict[str, str]:
    """The ingest decision's outcome for every destination that was never queued."""
    outcomes = decision.get("destinations") if isinstance(decision, dict) else None
    if not isinstance(outcomes, dict):
        return {}
    done = set(queued)
    return {d: str(o) for d, o in sorted(outcomes.items()) if d not in done and o != "queued"}


def ledger_status(skipped: bool, states: list[str]) -> str:
    if skipped or not states:
        return "skipped"
    if any(s in ("waiting", "executing", "failed") for s in states):
        return "queued"
    if all(s in ("succeeded", "filtered") for s in states):
        return "delivered"
    if all(s == "aborted" for s in states):
        return "dead"
    return "partial"
