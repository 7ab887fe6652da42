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

    def close(self) -> None: ...


class StoreUnavailable(RuntimeError):
    """The backend cannot take writes now; the caller answers 503 and the client retries."""


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
        """Send dead letters again: their destinations become ``waiting`` with a fresh window.
        ``on_each`` is called with every dead letter once it is handled (progress)."""
        ...

    def ledger(self, event_id: str) -> LedgerEntry | None: ...

    def ledger_for_order(self, order_id: str) -> list[LedgerEntry]: ...

    def counts(self) -> dict[str, int]:
        """Destinations per delivery state (for health and the bench)."""
        ...
