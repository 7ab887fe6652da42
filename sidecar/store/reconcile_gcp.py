"""``ReconcileStore`` on Firestore (mixed into ``GcpStore``).

- Conversions: ``events`` where ``event_name ==`` and ``accepted_at`` in a range. That query
  needs the composite index (event_name ASC, accepted_at ASC), declared in
  ``terraform/modules/sidecar/firestore_indexes.tf``; the emulator needs none.
- Duplicates: ``reconcile_duplicates/{auto id}`` with ``at`` and ``expire_at`` (the plan's
  retention, like events), read by a single-field range on ``at``.
- Joins: a ``join`` map on the event document itself (``{"how": ..., "at": ...}``).
"""

from __future__ import annotations

import json
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

DUPLICATES = "reconcile_duplicates"
_FIELDS = [
    "event_id",
    "event_name",
    "source",
    "order_id",
    "accepted_at",
    "envelope",
    "decision",
    "deliveries",
    "skipped",
    "join",
]


class GcpReconcile:
    """The reconciliation reads and notes; needs ``db``, ``_gexc``, ``retention_s`` of GcpStore."""

    def conversions(
        self, since: float, until: float, event_names: Sequence[str]
    ) -> Iterator[ConversionRow]:
        from sidecar.store.firestore_query import _eq, _f

        for name in event_names:
            query = (
                self.db.collection("events")  # type: ignore[attr-defined]
                .where(filter=_eq("event_name", name))
                .where(filter=_f("accepted_at", ">=", since))
                .where(filter=_f("accepted_at", "<", until))
                .select(_FIELDS)
            )
            try:
                for snap in query.stream():
                    yield _conversion(snap.to_dict())
            except self._gexc.GoogleAPICallError as exc:  # type: ignore[attr-defined]
                raise StoreUnavailable(f"Firestore: reconciliation read failed: {exc}") from exc

    def duplicates(self, since: float, until: float) -> list[DuplicateRow]:
        from sidecar.store.firestore_query import _f

        query = (
            self.db.collection(DUPLICATES)  # type: ignore[attr-defined]
            .where(filter=_f("at", ">=", since))
            .where(filter=_f("at", "<", until))
        )
        try:
            rows = [_duplicate(s.to_dict()) for s in query.stream()]
        except self._gexc.GoogleAPICallError as exc:  # type: ignore[attr-defined]
            raise StoreUnavailable(f"Firestore: reconciliation read failed: {exc}") from exc
        return sorted(rows, key=lambda r: r.at)

    def note_duplicates(self, rows: list[DuplicateRow]) -> None:
        from sidecar.store.firestore_query import _ts

        batch = self.db.batch()  # type: ignore[attr-defined]
        for r in rows:
            batch.create(
                self.db.collection(DUPLICATES).document(),  # type: ignore[attr-defined]
                {
                    "event_id": r.event_id,
                    "event_name": r.event_name,
                    "source": r.source,
                    "transaction_id": r.transaction_id,
                    "at": r.at,
                    "key": r.key,
                    "expire_at": _ts(r.at + self.retention_s),  # type: ignore[attr-defined]
                },
            )
        try:
            batch.commit()
        except self._gexc.GoogleAPICallError as exc:  # type: ignore[attr-defined]
            raise StoreUnavailable(f"Firestore: note_duplicates failed: {exc}") from exc

    def note_join(self, event_id: str, how: str, at: float) -> None:
        try:
            self._event_ref(event_id).update({"join": {"how": how, "at": at}})  # type: ignore[attr-defined]
        except self._gexc.NotFound:  # type: ignore[attr-defined]
            return  # nothing stored under that id: no join to remember
        except self._gexc.GoogleAPICallError as exc:  # type: ignore[attr-defined]
            raise StoreUnavailable(f"Firestore: note_join failed: {exc}") from exc

    def order_event_ids(self, order_id: str) -> list[str]:
        from sidecar.store.firestore_query import _eq

        try:
            docs = [
                s.to_dict()
                for s in self.db.collection("events")  # type: ignore[attr-defined]
                .where(filter=_eq("order_id", order_id))
                .select(["event_id", "accepted_at"])
                .stream()
            ]
        except self._gexc.GoogleAPICallError as exc:  # type: ignore[attr-defined]
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc
        docs.sort(key=lambda d: (d["accepted_at"], d["event_id"]))
        return [d["event_id"] for d in docs]

    def event_path(self, event_id: str) -> EventPath | None:
        from sidecar.store.firestore_query import _eq

        try:
            snap = self._event_ref(event_id).get()  # type: ignore[attr-defined]
            if not snap.exists:
                return None
            doc = snap.to_dict()
            letters = [
                (s.id, s.to_dict())
                for s in self.db.collection("dead_letters")  # type: ignore[attr-defined]
                .where(filter=_eq("event_id", event_id))
                .stream()
            ]
            dups = [
                _duplicate(s.to_dict())
                for s in self.db.collection(DUPLICATES)  # type: ignore[attr-defined]
                .where(filter=_eq("event_id", event_id))
                .stream()
            ]
        except self._gexc.GoogleAPICallError as exc:  # type: ignore[attr-defined]
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc
        env = _loads(doc.get("envelope"))
        params = env.get("params") or {}
        accepted = doc["accepted_at"]
        letters.sort(key=lambda x: x[1]["dead_at"])
        return EventPath(
            event_id=doc["event_id"],
            event_name=doc["event_name"],
            source=doc["source"],
            order_id=doc.get("order_id"),
            accepted_at=accepted,
            business_at=business_time(env.get("timestamp"), accepted),
            forwarded_at=doc.get("forwarded_at"),
            plan_version=doc.get("plan_version", ""),
            decision=_loads(doc.get("decision")),
            prepared=prepared_summary(env),
            deliveries=_deliveries(doc.get("deliveries")),
            attempts=tuple(
                AttemptFact(
                    a["destination"], a["at"], a["outcome"], a["reason"], a.get("http_status")
                )
                for a in sorted(doc.get("attempts") or [], key=lambda a: a["at"])
            ),
            dead_letters=tuple(
                DeadLetterFact(i, d["destination"], d["dead_at"], d["reason"], d.get("replayed_at"))
                for i, d in letters
            ),
            skipped=bool(doc.get("skipped")),
            join=(doc.get("join") or {}).get("how"),
            duplicates=tuple(sorted(dups, key=lambda r: r.at)),
            value=number_or_none(params.get("value")),
            currency=params.get("currency") if isinstance(params.get("currency"), str) else None,
        )


def _loads(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _deliveries(rows: Any) -> dict[str, DeliveryFact]:
    return {
        name: DeliveryFact(
            row.get("state", ""),
            row.get("last_reason", ""),
            row.get("acked_at"),
            int(row.get("attempts") or 0),
        )
        for name, row in sorted((rows or {}).items())
    }


def _duplicate(d: dict[str, Any]) -> DuplicateRow:
    return DuplicateRow(
        d["event_id"],
        d["event_name"],
        d["source"],
        d.get("transaction_id"),
        d["at"],
        d.get("key", ""),
    )


def _conversion(doc: dict[str, Any]) -> ConversionRow:
    env = _loads(doc.get("envelope"))
    decision = _loads(doc.get("decision"))
    params = env.get("params") or {}
    accepted = doc["accepted_at"]
    txn = params.get("transaction_id")
    purposes = decision.get("purposes") or {}
    return ConversionRow(
        event_id=doc["event_id"],
        event_name=doc["event_name"],
        source=doc["source"],
        order_id=doc.get("order_id"),
        transaction_id=str(txn) if txn is not None else doc.get("order_id"),
        accepted_at=accepted,
        business_at=business_time(env.get("timestamp"), accepted),
        value=number_or_none(params.get("value")),
        currency=params.get("currency") if isinstance(params.get("currency"), str) else None,
        decided={k: str(v) for k, v in (decision.get("destinations") or {}).items()},
        purposes={k: bool(v.get("granted")) for k, v in purposes.items() if isinstance(v, dict)},
        deliveries=_deliveries(doc.get("deliveries")),
        skipped=bool(doc.get("skipped")),
        join=(doc.get("join") or {}).get("how"),
    )
