"""The Google Cloud backend against the official Pub/Sub and Firestore emulators."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from sidecar.store.base import Attempt, Outcome
from tests.conftest_emulators import emulator
from tests.store.conftest import FakeClock, make_record

pytestmark = pytest.mark.emulator
WINDOW = 48 * 3600


@pytest.fixture
def gcp_env(monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator("pubsub"))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator("firestore"))
    return f"test-{uuid.uuid4().hex[:12]}"  # a fresh project per test: no shared state


@pytest.fixture
def gcp(gcp_env):
    from sidecar.store.gcp import GcpStore

    store = GcpStore(project=gcp_env, topic="outbox", subscription="outbox-pull", retention_days=30)
    store.ensure_topology()
    yield store
    store.close()


def test_enqueue_deduplicates_by_any_key(gcp):
    first = gcp.enqueue([make_record("e1", dedupe_keys=("e1", "shopify:wh-1"))], WINDOW)
    assert first[0].status == "accepted"
    again = gcp.enqueue(
        [make_record("e2", dedupe_keys=("e2", "shopify:wh-1")), make_record("e1/x")], WINDOW
    )
    assert [(r.status, r.duplicate_of) for r in again] == [
        ("duplicate", "shopify:wh-1"),
        ("accepted", None),
    ]
    assert gcp.ledger("e1/x").status == "queued"  # "/" in an id is escaped, not a subpath
    snap = gcp._event_ref("e1").get()
    assert snap.get("published") is True
    # The TTL field comes from the plan's retention (30 days here).
    expire = snap.get("expire_at").timestamp()
    assert abs(expire - (snap.get("accepted_at") + 30 * 86400)) < 1


def test_stale_key_past_the_window_is_reclaimed(gcp_env):
    from sidecar.store.gcp import GcpStore

    clock = FakeClock(time.time())
    store = GcpStore(project=gcp_env, topic="outbox", subscription="outbox-pull", clock=clock)
    store.ensure_topology()
    first = make_record("e1", dedupe_keys=("e1", "wh:1"), accepted_at=clock())
    assert store.enqueue([first], 60)[0].status == "accepted"
    other = make_record("e2", dedupe_keys=("e2", "wh:1"), accepted_at=clock())
    assert store.enqueue([other], 60)[0].status == "duplicate"
    clock.advance(61)
    # The key past its window is reclaimed by another event ...
    assert store.enqueue([make_record("e2", dedupe_keys=("e2", "wh:1"))], 60)[0].status == (
        "accepted"
    )
    # ... but a stored event is never replaced by a later one with its id, whatever its age.
    late = make_record("e1", accepted_at=clock())
    object.__setattr__(late, "envelope", {**late.envelope, "params": {"value": 99999}})
    assert store.enqueue([late], 60)[0].status == "duplicate"
    assert json.loads(store._event_ref("e1").get().get("envelope"))["params"]["value"] == 10.0
    assert store.stored_envelope("e1")["params"]["value"] == 10.0
    assert store.stored_envelope("nope") is None


def test_concurrent_enqueues_accept_each_key_once(gcp):
    accepted: list[str] = []
    lock = threading.Lock()

    def offer(worker: int) -> None:
        for i in range(10):
            rec = make_record(f"w{worker}-{i}", dedupe_keys=(f"w{worker}-{i}", f"order:{i}"))
            for r in gcp.enqueue([rec], WINDOW):
                if r.status == "accepted":
                    with lock:
                        accepted.append(f"order:{i}")

    threads = [threading.Thread(target=offer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(accepted) == sorted(f"order:{i}" for i in range(10))


def test_context_expires(gcp_env):
    from sidecar.store.gcp import GcpStore

    clock = FakeClock(time.time())
    store = GcpStore(project=gcp_env, clock=clock)
    store.put_context("cart-1", {"client_id": "1.2"}, ttl_s=10)
    assert store.get_context("cart-1") == {"client_id": "1.2"}
    clock.advance(11)
    assert store.get_context("cart-1") is None


def test_pull_claim_record_ack_and_retry_alone(gcp):
    gcp.enqueue([make_record("e1", accepted_at=time.time())], WINDOW)
    now = time.time()
    claims = []
    for _ in range(20):  # the emulator may need a moment before the message is pullable
        claims = gcp.claim(now, 10, lease_s=60)
        if claims:
            break
    (claim,) = claims
    assert claim.destinations == ("ga4", "meta")
    gcp.record(
        "e1",
        [
            Outcome("ga4", "succeeded", Attempt(now, "success", "", 200)),
            Outcome("meta", "failed", Attempt(now, "failure", "boom", 200), next_attempt_at=now),
        ],
        now,
    )
    # Not acked (meta pends, due now): Pub/Sub redelivers it, and only meta is claimed.
    again = []
    for _ in range(20):
        again = gcp.claim(time.time(), 10, lease_s=60)
        if again:
            break
    assert [c.destinations for c in again] == [("meta",)]
    entry = gcp.ledger("e1")
    assert entry.destinations["ga4"].state == "succeeded" and entry.forwarded_at == now
    assert gcp.next_due_at() is not None


def test_dead_letters_and_replay(gcp):
    gcp.enqueue([make_record("e1", destinations=("meta",), order_id="1001")], WINDOW)
    t = time.time()
    gcp.claim_event("e1", t, 60)
    gcp.record("e1", [Outcome("meta", "failed", Attempt(t, "failure", "HTTP 503", 503), t)], t)
    gcp.claim_event("e1", t, 60)
    gcp.record("e1", [Outcome("meta", "aborted", Attempt(t, "failure", "gave up", 200))], t + 1)
    (dl,) = gcp.dead_letters()
    assert [a.reason for a in dl.attempts] == ["HTTP 503", "gave up"]
    assert dl.order_id == "1001" and gcp.dead_letter(dl.id) == dl
    assert gcp.dead_letters(destination="ga4") == [] and gcp.dead_letter("nope") is None
    assert gcp.ledger("e1").status == "dead"
    assert [d.id for d in gcp.replay(now=t + 5)] == [dl.id]
    assert gcp.dead_letters() == []
    claim = gcp.claim_event("e1", t + 5, 60)
    # The window still counts from the event's time (make_record's): the worker re-evaluates.
    assert claim.attempts == {"meta": 0} and claim.window_start == {"meta": 1_000_000.0}
    assert [e.event_id for e in gcp.ledger_for_order("1001")] == ["e1"]
    assert gcp.counts() == {"executing": 1}


def test_factory_opens_gcp(gcp_env):
    from sidecar.store.factory import open_store_from_env
    from sidecar.store.gcp import GcpStore

    store = open_store_from_env({"SGTM_BACKEND": "gcp", "GOOGLE_CLOUD_PROJECT": gcp_env})
    assert isinstance(store, GcpStore) and store.topic_path.endswith("/topics/sgtm-events")


def test_sweep_republishes_what_a_crash_left_unpublished(gcp):
    gcp.enqueue([make_record("e1", accepted_at=time.time() - 60)], WINDOW)
    for _ in range(20):  # drain the first publish
        if gcp.claim(time.time(), 10, 60):
            break
    gcp.requeue_executing(time.time())
    ref = gcp._event_ref("e1")
    deliveries = ref.get().get("deliveries")
    for row in deliveries.values():
        row.update({"state": "waiting", "lease_until": None})
    ref.update({"published": False, "deliveries": deliveries})  # as if we died before publish
    assert gcp.sweep(older_than_s=30) == 1
    assert ref.get().get("published") is True
    got = []
    for _ in range(20):
        got = gcp.claim(time.time(), 10, 60)
        if got:
            break
    assert [c.event_id for c in got] == ["e1"]


def test_note_skipped_is_ledger_only(gcp):
    gcp.note_skipped(make_record("s1", destinations=()))
    assert gcp.ledger("s1").status == "skipped"


def test_quarantine_keeps_the_body_and_counts_the_unresolved(gcp):
    from sidecar.store.base import QuarantinedBody

    body = b'{"id": 1, "refund_line_items": [{"quantity": 1}]}'
    item = QuarantinedBody(
        id="",
        source="shopify",
        platform="shopify",
        topic="refunds/create",
        body=body,
        headers={"X-Shopify-Hmac-Sha256": "abc=", "X-Shopify-Topic": "refunds/create"},
        errors=({"pointer": "/refund_line_items/0/subtotal", "message": "missing"},),
        received_at=1_000_000.0,
    )
    first = gcp.quarantine(item)
    second = gcp.quarantine(item)
    assert gcp.quarantine_count() == 2
    kept = gcp.quarantined_one(first)
    assert kept.body == body and kept.headers == item.headers and kept.errors == item.errors
    assert kept.platform == "shopify" and kept.topic == "refunds/create"
    assert kept.error == "/refund_line_items/0/subtotal: missing"
    gcp.quarantine_result(first, "accepted: shopify-1-refund-2 accepted", 1_000_100.0)
    gcp.quarantine_result(second, "still unmappable: /x: y", None)
    assert [i.id for i in gcp.quarantined()] == [second]
    assert {i.id for i in gcp.quarantined(include_replayed=True)} == {first, second}
    assert gcp.quarantine_count() == 1
    assert gcp.quarantined_one(second).last_result == "still unmappable: /x: y"
    assert gcp.quarantined_one("no/such") is None
