"""The storage contract of the sidecar: outbox, idempotency, identity context, ledger, dead letters.

The ingest path (Event API and webhooks) only ever calls ``enqueue`` and the context methods;
the delivery worker owns the rest. Backends: SQLite (embedded default) and Google Cloud
(Pub/Sub + Firestore), chosen by configuration (``open_store``).

The one rule every backend keeps: ``enqueue`` returns only after the accepted records are
durable, and it deduplicates atomically with the write, so a crash can never leave an event
claimed-but-not-stored (which would turn the client's retry into a silent drop).
"""

from __future__ import annotations

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
