"""``ReconcileStore`` on the SQLite outbox (mixed into ``SqliteStore``).

Two tables of its own (created with the others when the store opens, by ``IF NOT EXISTS``
statements, so the outbox schema version is untouched):
``reconcile_duplicates`` (one row per duplicate answered) and ``reconcile_joins`` (how each
accepted order joined a browser context). Both are purged with the events (``purge``).

The conversion scan is one query: events of the reconciled names in the window (index
``events_name_accepted``), their business time, value, currency and transaction id read with
``json_extract`` inside SQLite, the consent outcomes and purposes flattened with ``json_each``,
and every destination's row packed with ``group_concat``, so Python receives one short row per
event instead of one per destination (bench/reconcile_bench.py measures it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from sidecar.store.base import StoreUnavailable
from sidecar.store.reconcile import (
    AttemptFact,
    ConversionRow,
    DeadLetterFact,
    DeliveryFact,
    DuplicateRow,
    EventPath,
    business_time,
    number_or_none,
    prepared_summary,
)

_RECONCILE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS reconcile_duplicates ("
    " event_id TEXT NOT NULL, event_name TEXT NOT NULL, source TEXT NOT NULL,"
    " transaction_id TEXT, at REAL NOT NULL, key TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS reconcile_duplicates_at ON reconcile_duplicates(at)",
    "CREATE TABLE IF NOT EXISTS reconcile_joins ("
    " event_id TEXT PRIMARY KEY, how TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_name_accepted ON events(event_name, accepted_at)",
)

# Field and record separators for the packed per-destination rows (ASCII US and RS: neither
# can appear in a destination name, a state or a reason the sidecar writes).
_US, _RS = "\x1f", "\x1e"

_SCAN = """
SELECT e.event_id, e.event_name, e.source, e.order_id, e.accepted_at,
       json_extract(e.envelope, '$.timestamp'),
       json_extract(e.envelope, '$.params.value'),
       json_extract(e.envelope, '$.params.currency'),
       json_extract(e.envelope, '$.params.transaction_id'),
       (SELECT group_concat(j.key || char(31) || j.value, char(30))
          FROM json_each(e.decision, '$.destinations') j),
       (SELECT group_concat(j.key || char(31) || json_extract(j.value, '$.granted'), char(30))
          FROM json_each(e.decision, '$.purposes') j),
       e.skipped,
       (SELECT group_concat(d.destination || char(31) || d.state || char(31)
                            || COALESCE(d.acked_at, '') || char(31) || d.attempts
                            || char(31) || d.last_reason, char(30))
          FROM deliveries d WHERE d.event_id = e.event_id),
       (SELECT how FROM reconcile_joins r WHERE r.event_id = e.event_id)
  FROM events e
 WHERE e.event_name = ? AND e.accepted_at >= ? AND e.accepted_at < ?
"""


class SqliteReconcile:
    """The reconciliation reads and notes; needs ``_tx``, ``_read`` and ``path`` of SqliteStore."""

    path: str
    _reconcile_ready: bool = False

    def _reconcile_tables(self, db: sqlite3.Connection) -> None:
        """Run by ``SqliteStore._migrate`` in its transaction when the store opens: on a large
        existing outbox the index is built once, at start-up, not under a live sidecar's feet
        by the first `sgtm reconcile`."""
        for statement in _RECONCILE_SCHEMA:
            db.execute(statement)
        self._reconcile_ready = True

    def _reconcile_schema(self) -> None:
        if self._reconcile_ready:
            return
        with self._tx() as db:  # type: ignore[attr-defined]
            self._reconcile_tables(db)

    def _reconcile_read(self) -> sqlite3.Connection:
        self._reconcile_schema()
        return self._read()  # type: ignore[attr-defined]

    def conversions(
        self, since: float, until: float, event_names: Sequence[str]
    ) -> Iterator[ConversionRow]:
        try:
            db = self._reconcile_read()
            for name in event_names:
                cursor = db.execute(_SCAN, (name, since, until))
                while True:
                    rows = cursor.fetchmany(5000)
                    if not rows:
                        break
                    for row in rows:
                        yield _conversion(row)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: reconciliation read failed: {exc}") from exc

    def duplicates(self, since: float, until: float) -> list[DuplicateRow]:
        try:
            rows = (
                self._reconcile_read()
                .execute(
                    "SELECT event_id, event_name, source, transaction_id, at, key"
                    " FROM reconcile_duplicates WHERE at >= ? AND at < ? ORDER BY at",
                    (since, until),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: reconciliation read failed: {exc}") from exc
        return [DuplicateRow(*r) for r in rows]

    def note_duplicates(self, rows: list[DuplicateRow]) -> None:
        self._reconcile_schema()
        try:
            with self._tx() as db:  # type: ignore[attr-defined]
                db.executemany(
                    "INSERT INTO reconcile_duplicates(event_id, event_name, source,"
                    " transaction_id, at, key) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (r.event_id, r.event_name, r.source, r.transaction_id, r.at, r.key)
                        for r in rows
                    ],
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: note_duplicates failed: {exc}") from exc

    def note_join(self, event_id: str, how: str, at: float) -> None:
        self._reconcile_schema()
        try:
            with self._tx() as db:  # type: ignore[attr-defined]
                db.execute(
                    "INSERT OR REPLACE INTO reconcile_joins(event_id, how, at) VALUES (?, ?, ?)",
                    (event_id, how, at),
                )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: note_join failed: {exc}") from exc

    def order_event_ids(self, order_id: str) -> list[str]:
        try:
            rows = (
                self._reconcile_read()
                .execute(
                    "SELECT event_id FROM (SELECT event_id, accepted_at FROM events"
                    " WHERE order_id = ? UNION SELECT event_id, accepted_at FROM events"
                    " WHERE event_name IN ('purchase', 'refund')"
                    " AND json_extract(envelope, '$.params.transaction_id') = ?)"
                    " ORDER BY accepted_at, event_id",
                    (order_id, order_id),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: ledger read failed: {exc}") from exc
        return [r[0] for r in rows]

    def event_path(self, event_id: str) -> EventPath | None:
        try:
            db = self._reconcile_read()
            row = db.execute(
                "SELECT event_id, event_name, source, order_id, accepted_at, forwarded_at,"
                " plan_version, decision, envelope, skipped FROM events WHERE event_id = ?",
                (event_id,),
            ).fetchone()
            if row is None:
                return None
            deliveries = {
                d: DeliveryFact(state, reason, acked, attempts)
                for d, state, reason, acked, attempts in db.execute(
                    "SELECT destination, state, last_reason, acked_at, attempts FROM deliveries"
                    " WHERE event_id = ? ORDER BY destination",
                    (event_id,),
                )
            }
            attempts = tuple(
                AttemptFact(*a)
                for a in db.execute(
                    "SELECT destination, at, outcome, reason, http_status FROM attempts"
                    " WHERE event_id = ? ORDER BY at, rowid",
                    (event_id,),
                )
            )
            letters = tuple(
                DeadLetterFact(str(i), d, at, reason, replayed)
                for i, d, at, reason, replayed in db.execute(
                    "SELECT id, destination, dead_at, reason, replayed_at FROM dead_letters"
                    " WHERE event_id = ? ORDER BY id",
                    (event_id,),
                )
            )
            dups = tuple(
                DuplicateRow(*r)
                for r in db.execute(
                    "SELECT event_id, event_name, source, transaction_id, at, key"
                    " FROM reconcile_duplicates WHERE event_id = ? ORDER BY at",
                    (event_id,),
                )
            )
            join = db.execute(
                "SELECT how FROM reconcile_joins WHERE event_id = ?", (event_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: ledger read failed: {exc}") from exc
        (eid, name, source, order_id, accepted, forwarded, version, decision, envelope, skipped) = (
            row
        )
        env = json.loads(envelope) if envelope else {}
        params = env.get("params") or {}
        return EventPath(
            event_id=eid,
            event_name=name,
            source=source,
            order_id=order_id,
            accepted_at=accepted,
            business_at=business_time(env.get("timestamp"), accepted),
            forwarded_at=forwarded,
            plan_version=version,
            decision=json.loads(decision) if decision else {},
            prepared=prepared_summary(env),
            deliveries=deliveries,
            attempts=attempts,
            dead_letters=letters,
            skipped=bool(skipped),
            join=join[0] if join else None,
            duplicates=dups,
            value=number_or_none(params.get("value")),
            currency=params.get("currency") if isinstance(params.get("currency"), str) else None,
        )

    def _purge_reconcile(self, db: sqlite3.Connection, older_than: float) -> int:
        """Called by ``purge`` in its transaction: these facts live no longer than events."""
        n = db.execute("DELETE FROM reconcile_duplicates WHERE at < ?", (older_than,)).rowcount
        n += db.execute("DELETE FROM reconcile_joins WHERE at < ?", (older_than,)).rowcount
        return n


def _pairs(packed: str | None) -> dict[str, str]:
    if not packed:
        return {}
    return dict(p.split(_US, 1) for p in packed.split(_RS))  # type: ignore[misc]


def _conversion(row: tuple[Any, ...]) -> ConversionRow:
    (
        event_id,
        name,
        source,
        order_id,
        accepted,
        ts,
        value,
        currency,
        txn,
        decided,
        purposes,
        skipped,
        packed,
        join,
    ) = row
    deliveries: dict[str, DeliveryFact] = {}
    if packed:
        for part in packed.split(_RS):
            dest, state, acked, attempts, reason = part.split(_US, 4)
            deliveries[dest] = DeliveryFact(
                state, reason, float(acked) if acked else None, int(attempts)
            )
    return ConversionRow(
        event_id=event_id,
        event_name=name,
        source=source,
        order_id=order_id,
        transaction_id=str(txn) if txn is not None else order_id,
        accepted_at=accepted,
        business_at=business_time(ts, accepted),
        value=number_or_none(value),
        currency=currency if isinstance(currency, str) else None,
        decided=_pairs(decided),
        purposes={k: v == "1" for k, v in _pairs(purposes).items()},
        deliveries=deliveries,
        skipped=bool(skipped),
        join=join,
    )
