"""The Google Cloud backend: Pub/Sub carries the queue, Firestore holds everything else.

For Cloud Run with many instances, where a local SQLite file is neither shared nor durable.

Firestore layout (``expire_at`` is a Timestamp for Firestore's TTL policy; set the policy on
each collection group, see docs/delivery.md):

- ``idempotency/{sha256(key)}``: one document per dedupe key, claimed with ``create`` (fails
  with AlreadyExists when another request got there first). Keys, the event and its delivery
  rows are written in ONE atomic batch, so a crash cannot leave a key claimed for an event that
  was never stored (which would turn the client's retry into a silent drop).
- ``events/{event id}``: the minimised envelope, consent decision, ledger fields and one map
  entry per destination (state, attempts, next try, window, lease, acknowledgement time) plus
  the attempt history. ``next_due_at`` is the earliest pending try (absent when none), so
  "what is due" is a single-field range query that needs no composite index.
- ``dead_letters/{auto id}``, ``contexts/{sha256(token)}``.

Pub/Sub carries event ids only (never payloads): published after the Firestore commit. If the
publish fails the event is still durable and marked ``published: false``; ``sweep`` republishes
those, and the worker runs it on every idle turn. Deliveries are at-least-once; Firestore's
per-destination states stop an acknowledged destination from being sent again.

Two ways to consume: a pull worker (``claim`` pulls messages and holds their ack ids until
``record``; a message whose event still has pending destinations is not acked but its ack
deadline is moved to the next try, up to Pub/Sub's 600 s maximum) or the push subscription to
``POST /v1/deliver`` (``claim_event`` per pushed message).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sidecar.store import gcp_topology as topology
from sidecar.store.base import (
    NOT_COUNTED,
    Attempt,
    Claim,
    DeadLetter,
    DestinationStatus,
    EnqueueResult,
    LedgerEntry,
    OutboxRecord,
    Outcome,
    QuarantinedBody,
    StoreUnavailable,
    ledger_status,
    narrow,
    not_queued,
)
from sidecar.store.firestore_query import _eq, _f, _ts
from sidecar.store.reconcile_gcp import GcpReconcile

log = logging.getLogger("sidecar.store.gcp")
PENDING = ("waiting", "failed", "executing")
MAX_ACK_EXTENSION_S = topology.MAX_ACK_EXTENSION_S


class GcpStore(GcpReconcile):
    def __init__(
        self,
        project: str,
        topic: str = topology.DEFAULT_TOPIC,
        subscription: str = topology.DEFAULT_SUBSCRIPTION,
        database: str = topology.DEFAULT_DATABASE,
        retention_days: int = 395,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            from google.api_core import exceptions as gexc
            from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]
        except ImportError as exc:  # the [gcp] extra is not installed
            raise StoreUnavailable(
                f"SGTM_BACKEND=gcp needs google-cloud-pubsub and google-cloud-firestore "
                f"(pip install 'sgtm-companion[gcp]'): {exc}"
            ) from exc
        self._gexc = gexc
        self._firestore = firestore
        self.project = project
        self.retention_s = retention_days * 86400
        self._clock = clock
        self.db = firestore.Client(project=project, database=database)
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self.topic_path = self.publisher.topic_path(project, topic)
        self.subscription_path = self.subscriber.subscription_path(project, subscription)
        self._acks: dict[str, str] = {}  # event id -> ack id of the pulled message
        self._lock = threading.Lock()

    # -- set-up (tests, `sgtm demo`; production uses Terraform) ------------------------------

    def ensure_topology(
        self,
        push_endpoint: str | None = None,
        max_delivery_attempts: int = topology.MAX_DELIVERY_ATTEMPTS,
    ) -> None:
        """Create the topic, its dead-letter topic and the subscription when missing.

        The same topology Terraform creates (store/gcp_topology.py): Pub/Sub's own retry
        policy and dead-letter topic are the backstop behind the per-destination policy.
        """
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]
        from google.protobuf import duration_pb2

        dead_topic = topology.dead_letter_topic_for(self.topic_path)
        for path in (self.topic_path, dead_topic):
            try:
                self.publisher.create_topic(name=path)
            except self._gexc.AlreadyExists:
                pass
        request: dict[str, Any] = {
            "name": self.subscription_path,
            "topic": self.topic_path,
            "ack_deadline_seconds": topology.ACK_DEADLINE_S,
            "retry_policy": pubsub_v1.types.RetryPolicy(
                minimum_backoff=duration_pb2.Duration(seconds=topology.MIN_BACKOFF_S),
                maximum_backoff=duration_pb2.Duration(seconds=topology.MAX_BACKOFF_S),
            ),
            "dead_letter_policy": pubsub_v1.types.DeadLetterPolicy(
                dead_letter_topic=dead_topic, max_delivery_attempts=max_delivery_attempts
            ),
        }
        if push_endpoint:
            request["push_config"] = pubsub_v1.types.PushConfig(push_endpoint=push_endpoint)
        try:
            self.subscriber.create_subscription(request=request)
        except self._gexc.AlreadyExists:
            pass

    # -- ingest side ------------------------------------------------------------------------

    def enqueue(self, records: list[OutboxRecord], dedupe_window_s: int) -> list[EnqueueResult]:
        results = []
        for record in records:
            results.append(self._enqueue_one(record, dedupe_window_s))
        accepted = [r.event_id for r in results if r.status == "accepted"]
        self._publish(accepted)
        return results

    def _enqueue_one(self, record: OutboxRecord, window_s: int) -> EnqueueResult:
        keys = _keys_of(record)
        for _ in range(5):
            now = self._clock()
            batch = self.db.batch()
            for key in keys:
                batch.create(
                    self._key_ref(key),
                    {
                        "key": key,
                        "event_id": record.event_id,
                        "seen_at": now,
                        "expire_at": _ts(now + window_s),
                    },
                )
            # create, not set: a stored event is never replaced by a later one with its id.
            batch.create(self._event_ref(record.event_id), self._event_doc(record))
            try:
                batch.commit()
                return EnqueueResult(record.event_id, "accepted")
            except self._gexc.AlreadyExists:
                pass
            except self._gexc.GoogleAPICallError as exc:
                raise StoreUnavailable(f"Firestore: enqueue failed: {exc}") from exc
            # Some key exists. Within the window it is a duplicate; past it (TTL deletion is
            # lazy, up to a day late) it is stale: delete it only if unchanged, then retry.
            horizon = now - window_s
            for key in keys:
                snap = self._key_ref(key).get()
                if not snap.exists:
                    continue
                if snap.get("seen_at") >= horizon:
                    return EnqueueResult(record.event_id, "duplicate", key)
                try:
                    self._key_ref(key).delete(
                        option=self.db.write_option(last_update_time=snap.update_time)
                    )
                except self._gexc.FailedPrecondition:
                    pass  # someone refreshed it meanwhile: the retry will see it
            if self._event_ref(record.event_id).get().exists:
                # The keys are past their window, the event is still in the ledger.
                return EnqueueResult(record.event_id, "duplicate", record.event_id)
        raise StoreUnavailable(f"Firestore: could not claim the dedupe keys of {record.event_id}")

    def _event_doc(self, record: OutboxRecord) -> dict[str, Any]:
        start = _event_time(record)
        deliveries = {
            d: {
                "state": "waiting",
                "attempts": 0,
                "next_attempt_at": record.accepted_at,
                "window_start": record.window_starts.get(d, start),
                "lease_until": None,
                "acked_at": None,
                "last_reason": "",
            }
            for d in record.destinations
        }
        doc: dict[str, Any] = {
            "event_id": record.event_id,
            "event_name": record.event_name,
            "source": record.source,
            "order_id": record.order_id,
            "envelope": json.dumps(record.envelope, sort_keys=True, separators=(",", ":")),
            "decision": json.dumps(record.decision, sort_keys=True, separators=(",", ":")),
            "plan_version": record.plan_version,
            "accepted_at": record.accepted_at,
            "forwarded_at": None,
            "skipped": not record.destinations,
            "deliveries": deliveries,
            "attempts": [],
            "published": False,
            "expire_at": _ts(record.accepted_at + self.retention_s),
        }
        doc.update(_due_fields(deliveries))
        return doc

    def _publish(self, event_ids: list[str]) -> None:
        futures = []
        for event_id in event_ids:
            data = json.dumps({"event_id": event_id}).encode("utf-8")
            futures.append((event_id, self.publisher.publish(self.topic_path, data)))
        for event_id, future in futures:
            try:
                future.result(timeout=30)
            except Exception as exc:  # noqa: BLE001 - any publish failure leaves it to sweep()
                log.warning("publish of event %s failed, sweep() will retry: %s", event_id, exc)
                continue
            self._event_ref(event_id).update({"published": True})

    def sweep(self, older_than_s: float = 30.0) -> int:
        """Publish again events whose publish did not complete (crash or Pub/Sub outage)."""
        horizon = self._clock() - older_than_s
        stale = [
            snap.get("event_id")
            for snap in self.db.collection("events").where(filter=_eq("published", False)).stream()
            if snap.get("accepted_at") <= horizon and not snap.get("skipped")
        ]
        self._publish(stale)
        return len(stale)

    def note_skipped(self, record: OutboxRecord) -> None:
        doc = self._event_doc(record)
        doc.update({"envelope": "{}", "skipped": True, "deliveries": {}, "published": True})
        doc.update(_due_fields({}))
        try:
            self._event_ref(record.event_id).create(doc)
        except self._gexc.AlreadyExists:
            pass
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore: note_skipped failed: {exc}") from exc

    def put_context(self, token: str, context: dict[str, Any], ttl_s: int) -> None:
        try:
            self.db.collection("contexts").document(_sha(token)).set(
                {
                    "context": json.dumps(context, sort_keys=True),
                    "expire_at": _ts(self._clock() + ttl_s),
                }
            )
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore: put_context failed: {exc}") from exc

    def get_context(self, token: str) -> dict[str, Any] | None:
        try:
            snap = self.db.collection("contexts").document(_sha(token)).get()
        except self._gexc.GoogleAPICallError as exc:  # a 503 to retry, never a 500
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc
        # TTL deletion runs up to a day late: expiry is checked here, not left to it.
        if not snap.exists or snap.get("expire_at").timestamp() <= self._clock():
            return None
        return json.loads(snap.get("context"))

    def ping(self) -> None:
        try:
            self.db.collection("idempotency").document("_ping").get(timeout=5)
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc

    # -- quarantine (``quarantine/{auto id}``; the body as bytes, within Firestore's 1 MiB) ---

    def quarantine(self, item: QuarantinedBody) -> str:
        ref = self.db.collection("quarantine").document()
        try:
            ref.create(
                {
                    "source": item.source,
                    "platform": item.platform,
                    "topic": item.topic,
                    "body": item.body,
                    "headers": item.headers,
                    "errors": list(item.errors),
                    "received_at": item.received_at,
                    "replayed_at": None,
                    "last_result": "",
                    "expire_at": _ts(item.received_at + self.retention_s),
                }
            )
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore: quarantine failed: {exc}") from exc
        return ref.id

    def quarantined(
        self, include_replayed: bool = False, limit: int = 1000
    ) -> list[QuarantinedBody]:
        out = []
        try:
            # Filtered here, not in the query, so no composite index is needed.
            for snap in self.db.collection("quarantine").order_by("received_at").stream():
                item = _quarantined(snap.id, snap.to_dict() or {})
                if item.replayed_at is not None and not include_replayed:
                    continue
                out.append(item)
                if len(out) >= limit:
                    break
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc
        return out

    def quarantined_one(self, item_id: str) -> QuarantinedBody | None:
        if not item_id or "/" in item_id:
            return None
        snap = self.db.collection("quarantine").document(item_id).get()
        return _quarantined(snap.id, snap.to_dict() or {}) if snap.exists else None

    def quarantine_result(self, item_id: str, result: str, replayed_at: float | None) -> None:
        update: dict[str, Any] = {"last_result": result}
        if replayed_at is not None:
            update["replayed_at"] = replayed_at
        self.db.collection("quarantine").document(item_id).update(update)

    def quarantine_count(self) -> int:
        try:
            query = self.db.collection("quarantine").where(filter=_eq("replayed_at", None))
            # The library's annotations type ``get`` as unbound; it returns rows of results.
            return int(query.count().get()[0][0].value)  # type: ignore[call-arg,index]
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc

    def close(self) -> None:
        self.db.close()
        self.subscriber.close()

    # -- delivery side ----------------------------------------------------------------------

    def claim(self, now: float, limit: int, lease_s: float) -> list[Claim]:
        try:
            resp = self.subscriber.pull(
                request={"subscription": self.subscription_path, "max_messages": limit},
                timeout=5,
            )
        except self._gexc.DeadlineExceeded:
            return []
        claims = []
        for received in resp.received_messages:
            event_id = _message_event_id(received.message.data)
            if event_id is None:  # not ours: ack so it does not loop forever
                self.subscriber.acknowledge(
                    request={"subscription": self.subscription_path, "ack_ids": [received.ack_id]}
                )
                continue
            with self._lock:
                self._acks[event_id] = received.ack_id
            claim = self.claim_event(event_id, now, lease_s)
            if claim is not None:
                claims.append(claim)
            else:
                self._settle(event_id, now)
        return claims

    def claim_event(self, event_id: str, now: float, lease_s: float) -> Claim | None:
        ref = self._event_ref(event_id)
        fs = self._firestore

        @fs.transactional
        def take(tx: Any) -> Claim | None:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return None
            deliveries = snap.get("deliveries") or {}
            due = sorted(d for d, s in deliveries.items() if _is_due(s, now))
            if not due:
                return None
            for d in due:
                deliveries[d]["state"] = "executing"
                deliveries[d]["lease_until"] = now + lease_s
            tx.update(ref, {"deliveries": deliveries, **_due_fields(deliveries)})
            return Claim(
                event_id=event_id,
                envelope=narrow(json.loads(snap.get("envelope")), tuple(due)),
                destinations=tuple(due),
                attempts={d: deliveries[d]["attempts"] for d in due},
                window_start={d: deliveries[d]["window_start"] for d in due},
            )

        return take(self.db.transaction())

    def record(self, event_id: str, outcomes: list[Outcome], now: float) -> None:
        ref = self._event_ref(event_id)
        fs = self._firestore
        dead: list[tuple[Outcome, list[dict[str, Any]], dict[str, Any]]] = []

        @fs.transactional
        def apply(tx: Any) -> None:
            dead.clear()
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return
            doc = snap.to_dict()
            deliveries = doc["deliveries"]
            history = list(doc.get("attempts") or [])
            sent = False
            for o in outcomes:
                a = o.attempt
                row = deliveries.setdefault(o.destination, {})
                history.append(
                    {
                        "destination": o.destination,
                        "at": a.at,
                        "outcome": a.outcome,
                        "reason": a.reason,
                        "http_status": a.http_status,
                    }
                )
                counted = a.outcome not in NOT_COUNTED
                sent = sent or counted
                row["state"] = o.state
                row["attempts"] = row.get("attempts", 0) + (1 if counted else 0)
                row["lease_until"] = None
                row["last_reason"] = a.reason
                if o.next_attempt_at is not None:
                    row["next_attempt_at"] = o.next_attempt_at
                if o.state == "succeeded":
                    row["acked_at"] = now
                if o.state == "aborted":
                    mine = [h for h in history if h["destination"] == o.destination]
                    dead.append((o, mine, doc))
            update = {"deliveries": deliveries, "attempts": history, **_due_fields(deliveries)}
            if sent and doc.get("forwarded_at") is None:
                update["forwarded_at"] = now
            tx.update(ref, update)
            for o, mine, d in dead:
                tx.create(
                    self.db.collection("dead_letters").document(),
                    {
                        "event_id": event_id,
                        "destination": o.destination,
                        "dead_at": now,
                        "reason": o.attempt.reason,
                        "attempts": mine,
                        "event_name": d.get("event_name", ""),
                        "order_id": d.get("order_id"),
                        "replayed_at": None,
                        "expire_at": _ts(now + self.retention_s),
                    },
                )

        apply(self.db.transaction())
        self._settle(event_id, now)

    def record_many(self, items: list[tuple[str, list[Outcome]]], now: float) -> None:
        # Firestore transactions are per document here; one per event keeps contention low.
        for event_id, outcomes in items:
            self.record(event_id, outcomes, now)

    def _settle(self, event_id: str, now: float) -> None:
        """Ack the pulled message when nothing is pending; else hold it until the next try."""
        with self._lock:
            ack_id = self._acks.get(event_id)
        if ack_id is None:
            return
        snap = self._event_ref(event_id).get()
        due = snap.get("next_due_at") if snap.exists else None
        sub = self.subscription_path
        if due is None:
            self.subscriber.acknowledge(request={"subscription": sub, "ack_ids": [ack_id]})
        else:
            delay = int(min(MAX_ACK_EXTENSION_S, max(0.0, due - now)))
            self.subscriber.modify_ack_deadline(
                request={"subscription": sub, "ack_ids": [ack_id], "ack_deadline_seconds": delay}
            )
        with self._lock:
            self._acks.pop(event_id, None)

    def requeue_executing(self, now: float) -> int:
        # With many instances, one worker's start must not steal another's live batch: an
        # executing destination becomes claimable when its lease runs out (see _is_due).
        return 0

    def next_due_at(self) -> float | None:
        snaps = list(
            self.db.collection("events")
            .where(filter=_f("next_due_at", ">=", 0))
            .order_by("next_due_at")
            .limit(1)
            .stream()
        )
        return snaps[0].get("next_due_at") if snaps else None

    def dead_letters(
        self,
        since: float | None = None,
        destination: str | None = None,
        include_replayed: bool = False,
        limit: int = 1000,
    ) -> list[DeadLetter]:
        query: Any = self.db.collection("dead_letters")
        if since is not None:
            query = query.where(filter=_f("dead_at", ">=", since))
        out = []
        # Further filters run here, not in the query, so no composite index is needed.
        for snap in query.order_by("dead_at").stream():
            letter = _dead_letter(snap.id, snap.to_dict() or {})
            if destination is not None and letter.destination != destination:
                continue
            if not include_replayed and letter.replayed_at is not None:
                continue
            out.append(letter)
            if len(out) >= limit:
                break
        return out

    def dead_letter(self, dead_letter_id: str) -> DeadLetter | None:
        if not dead_letter_id or "/" in dead_letter_id:
            return None
        snap = self.db.collection("dead_letters").document(dead_letter_id).get()
        return _dead_letter(snap.id, snap.to_dict() or {}) if snap.exists else None

    def replay(
        self,
        since: float | None = None,
        destination: str | None = None,
        now: float = 0.0,
        on_each: Callable[[DeadLetter], None] | None = None,
    ) -> list[DeadLetter]:
        now = now or self._clock()
        replayed = []
        for letter in self.dead_letters(since, destination):
            ref = self._event_ref(letter.event_id)
            dl_ref = self.db.collection("dead_letters").document(letter.id)
            fs = self._firestore

            @fs.transactional
            def back(
                tx: Any, ref: Any = ref, dl_ref: Any = dl_ref, letter: DeadLetter = letter
            ) -> bool:
                snap = ref.get(transaction=tx)
                tx.update(dl_ref, {"replayed_at": now})
                if not snap.exists:
                    return False
                deliveries = snap.get("deliveries")
                row = deliveries.get(letter.destination)
                if row is None or row["state"] != "aborted":
                    return False
                row.update(
                    {
                        "state": "waiting",
                        "attempts": 0,
                        "next_attempt_at": now,
                        # window_start kept: the worker re-evaluates the acceptance rule.
                        "last_reason": "replayed from the dead-letter store",
                    }
                )
                tx.update(ref, {"deliveries": deliveries, **_due_fields(deliveries)})
                return True

            if back(self.db.transaction()):
                replayed.append(letter)
            if on_each is not None:
                on_each(letter)
        self._publish(sorted({d.event_id for d in replayed}))
        return replayed

    def ledger(self, event_id: str) -> LedgerEntry | None:
        try:
            snap = self._event_ref(event_id).get()
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc
        return _ledger_entry(snap.to_dict()) if snap.exists else None

    def stored_envelope(self, event_id: str) -> dict[str, Any] | None:
        try:
            snap = self._event_ref(event_id).get()
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc
        return json.loads(snap.get("envelope")) if snap.exists else None

    def ledger_for_order(self, order_id: str) -> list[LedgerEntry]:
        try:
            docs = [
                s.to_dict() or {}
                for s in self.db.collection("events")
                .where(filter=_eq("order_id", order_id))
                .stream()
            ]
        except self._gexc.GoogleAPICallError as exc:
            raise StoreUnavailable(f"Firestore unavailable: {exc}") from exc
        docs.sort(key=lambda d: (d["accepted_at"], d["event_id"]))
        return [_ledger_entry(d) for d in docs]

    def counts(self) -> dict[str, int]:
        # A full scan: fine for health checks of a test project and the bench, not for
        # dashboards (use the ledger export for those).
        out: dict[str, int] = {}
        for snap in self.db.collection("events").select(["deliveries"]).stream():
            for row in (snap.get("deliveries") or {}).values():
                out[row["state"]] = out.get(row["state"], 0) + 1
        return dict(sorted(out.items()))

    # -- references -------------------------------------------------------------------------

    def _key_ref(self, key: str) -> Any:
        return self.db.collection("idempotency").document(_sha(key))

    def _event_ref(self, event_id: str) -> Any:
        return self.db.collection("events").document(doc_id(event_id))


# -- helpers ---------------------------------------------------------------------------------


def doc_id(event_id: str) -> str:
    """A Firestore document id for an event id: '/' is escaped; reserved forms are prefixed."""
    safe = quote(event_id, safe="-_.~:@+=,;!$&'()*")
    if safe in (".", "..") or (safe.startswith("__") and safe.endswith("__")):
        safe = "id:" + safe
    return safe


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _keys_of(record: OutboxRecord) -> tuple[str, ...]:
    keys = list(record.dedupe_keys) or [record.event_id]
    if record.event_id not in keys:
        keys.insert(0, record.event_id)
    return tuple(dict.fromkeys(keys))


def _event_time(record: OutboxRecord) -> float:
    ts = record.envelope.get("timestamp")
    if isinstance(ts, int | float) and not isinstance(ts, bool) and ts > 0:
        return min(ts / 1000.0, record.accepted_at)
    return record.accepted_at


def _is_due(row: dict[str, Any], now: float) -> bool:
    if row["state"] in ("waiting", "failed"):
        return row["next_attempt_at"] <= now
    if row["state"] == "executing":
        return (row.get("lease_until") or 0) < now
    return False


def _due_fields(deliveries: dict[str, Any]) -> dict[str, Any]:
    times = []
    for row in deliveries.values():
        if row["state"] in ("waiting", "failed"):
            times.append(row["next_attempt_at"])
        elif row["state"] == "executing":
            times.append(row.get("lease_until") or 0)
    return {"next_due_at": min(times) if times else None}


def _message_event_id(data: bytes) -> str | None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    event_id = doc.get("event_id") if isinstance(doc, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def _quarantined(item_id: str, d: dict[str, Any]) -> QuarantinedBody:
    return QuarantinedBody(
        id=item_id,
        source=d["source"],
        platform=d["platform"],
        topic=d["topic"],
        body=bytes(d["body"]),
        headers=dict(d.get("headers") or {}),
        errors=tuple(d.get("errors") or ()),
        received_at=d["received_at"],
        replayed_at=d.get("replayed_at"),
        last_result=d.get("last_result") or "",
    )


def _dead_letter(dl_id: str, d: dict[str, Any]) -> DeadLetter:
    return DeadLetter(
        id=dl_id,
        event_id=d["event_id"],
        destination=d["destination"],
        dead_at=d["dead_at"],
        reason=d["reason"],
        attempts=tuple(
            Attempt(a["at"], a["outcome"], a["reason"], a.get("http_status"))
            for a in d.get("attempts", [])
        ),
        event_name=d.get("event_name", ""),
        order_id=d.get("order_id"),
        replayed_at=d.get("replayed_at"),
    )


def _ledger_entry(d: dict[str, Any]) -> LedgerEntry:
    dests = {
        name: DestinationStatus(
            row["state"],
            row["attempts"],
            row.get("last_reason", ""),
            row.get("acked_at"),
            row["next_attempt_at"] if row["state"] == "failed" else None,
        )
        for name, row in sorted((d.get("deliveries") or {}).items())
    }
    return LedgerEntry(
        event_id=d["event_id"],
        event_name=d["event_name"],
        source=d["source"],
        order_id=d.get("order_id"),
        accepted_at=d["accepted_at"],
        forwarded_at=d.get("forwarded_at"),
        destinations=dests,
        status=ledger_status(
            bool(d.get("skipped")) and not dests, [s.state for s in dests.values()]
        ),
        decided=not_queued(_loads(d.get("decision")), dests),
    )


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
