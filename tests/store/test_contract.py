"""The storage contract (sidecar/store/base.py), one suite run on every backend: SQLite, and
Google Cloud against the Pub/Sub and Firestore emulators.

Only what the contract promises is checked here, through the protocol's own methods;
what one backend does its own way (WAL, Pub/Sub redelivery, sweeps) stays in its own file.
Each behaviour is driven through claim_event (the push path both backends serve), so nothing
depends on how soon a pull subscription hands a message back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from sidecar.store.base import Attempt, DeliveryStore, Outcome
from tests.store.conftest import FakeClock, make_record

WINDOW = 48 * 3600


@pytest.fixture(params=["sqlite", pytest.param("gcp", marks=pytest.mark.emulator)])
def backend(request, tmp_path, monkeypatch) -> Iterator[tuple[DeliveryStore, FakeClock]]:
    # Real time as the start: Firestore's TTL field and the emulator's clock stay plausible.
    clock = FakeClock(float(int(time.time())))
    if request.param == "sqlite":
        from sidecar.store.sqlite import SqliteStore

        store: DeliveryStore = SqliteStore(tmp_path / "outbox.sqlite", clock=clock)
    else:
        from sidecar.store.gcp import GcpStore
        from tests.conftest_emulators import emulator

        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator("pubsub"))
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator("firestore"))
        gcp = GcpStore(
            project=f"contract-{uuid.uuid4().hex[:12]}",  # fresh per test: no shared state
            topic="outbox",
            subscription="outbox-pull",
            clock=clock,
        )
        gcp.ensure_topology()
        store = gcp
    yield store, clock
    store.close()


def test_enqueue_deduplicates_by_any_key(backend):
    store, clock = backend
    first = store.enqueue([make_record("e1", dedupe_keys=("e1", "shopify:wh-1"))], WINDOW)
    assert [(r.event_id, r.status) for r in first] == [("e1", "accepted")]
    # A webhook retry with a new event id but the same webhook id is the same event.
    again = store.enqueue([make_record("e2", dedupe_keys=("e2", "shopify:wh-1"))], WINDOW)
    assert (again[0].status, again[0].duplicate_of) == ("duplicate", "shopify:wh-1")
    same = store.enqueue([make_record("e1")], WINDOW)
    assert (same[0].status, same[0].duplicate_of) == ("duplicate", "e1")
    assert store.ledger("e1").status == "queued"
    assert store.ledger("e2") is None


def test_duplicates_inside_one_batch(backend):
    store, _ = backend
    results = store.enqueue(
        [
            make_record("a", dedupe_keys=("a", "order:1")),
            make_record("b", dedupe_keys=("b", "order:1")),
        ],
        WINDOW,
    )
    assert [r.status for r in results] == ["accepted", "duplicate"]
    assert results[1].duplicate_of == "order:1"


def test_the_dedupe_window_ends_for_keys_but_never_for_a_stored_event(backend):
    store, clock = backend
    first = make_record("e1", dedupe_keys=("e1", "wh:1"), accepted_at=clock())
    assert store.enqueue([first], 60)[0].status == "accepted"
    again = make_record("e2", dedupe_keys=("e2", "wh:1"), accepted_at=clock())
    assert store.enqueue([again], 60)[0].status == "duplicate"
    clock.advance(61)
    # the key's window has ended: another event with the same webhook key is new
    later = make_record("e2", dedupe_keys=("e2", "wh:1"), accepted_at=clock())
    assert store.enqueue([later], 60)[0].status == "accepted"
    # a stored event is never replaced, whatever its age (docs/delivery.md, "Namespaced ids")
    assert store.enqueue([make_record("e1", accepted_at=clock())], 60)[0].status == "duplicate"


def test_identity_context_expires(backend):
    store, clock = backend
    store.put_context("cart-1", {"client_id": "1.2", "fbp": "fb.1.2.3"}, ttl_s=10)
    assert store.get_context("cart-1") == {"client_id": "1.2", "fbp": "fb.1.2.3"}
    assert store.get_context("cart-2") is None
    clock.advance(11)
    assert store.get_context("cart-1") is None


def test_a_skipped_event_is_in_the_ledger_and_never_delivered(backend):
    store, clock = backend
    store.note_skipped(make_record("s1", destinations=()))
    entry = store.ledger("s1")
    assert entry is not None and entry.status == "skipped" and entry.destinations == {}
    assert store.claim_event("s1", clock(), 30) is None


def test_only_the_failed_destination_is_tried_again(backend):
    store, clock = backend
    store.enqueue([make_record("e1", order_id="1001", accepted_at=clock())], WINDOW)
    now = clock()
    claim = store.claim_event("e1", now, 30)
    assert claim is not None and claim.destinations == ("ga4", "meta")
    assert set(claim.envelope["destinations"]) == {"ga4", "meta"}
    store.record(
        "e1",
        [
            Outcome("ga4", "succeeded", Attempt(now, "success", "", 200)),
            Outcome("meta", "failed", Attempt(now, "failure", "HTTP 503", 503), now + 5),
        ],
        now,
    )
    entry = store.ledger("e1")
    assert entry.status == "queued" and entry.forwarded_at == now
    assert entry.destinations["ga4"].state == "succeeded"
    assert entry.destinations["meta"].state == "failed"
    again = store.claim_event("e1", now + 5, 30)
    assert again is not None and again.destinations == ("meta",)
    assert list(again.envelope["destinations"]) == ["meta"]
    assert again.attempts == {"meta": 1}
    store.record(
        "e1", [Outcome("meta", "succeeded", Attempt(now + 5, "success", "", 200))], now + 5
    )
    assert store.ledger("e1").status == "delivered"
    assert store.claim_event("e1", now + 10, 30) is None
    assert [e.event_id for e in store.ledger_for_order("1001")] == ["e1"]


def test_dead_letters_keep_every_attempt_and_replay(backend):
    store, clock = backend
    store.enqueue([make_record("e1", destinations=("meta",), accepted_at=clock())], WINDOW)
    t = clock()
    store.claim_event("e1", t, 30)
    store.record("e1", [Outcome("meta", "failed", Attempt(t, "failure", "HTTP 500", 500), t)], t)
    store.claim_event("e1", t, 30)
    store.record(
        "e1", [Outcome("meta", "aborted", Attempt(t + 1, "failure", "gave up", 200))], t + 1
    )
    (dl,) = store.dead_letters()
    assert (dl.event_id, dl.destination, dl.event_name) == ("e1", "meta", "purchase")
    assert [a.reason for a in dl.attempts] == ["HTTP 500", "gave up"]
    assert store.dead_letter(dl.id) == dl and store.dead_letter("nope") is None
    assert store.dead_letters(destination="ga4") == []
    assert store.ledger("e1").status == "dead"
    assert [d.id for d in store.replay(now=t + 10)] == [dl.id]
    assert store.dead_letters() == []  # replayed ones are hidden unless asked for
    claim = store.claim_event("e1", t + 10, 30)
    assert claim is not None and claim.attempts == {"meta": 0}
    # the window still counts from the event's own time: replay re-evaluates the rule
    assert claim.window_start == {"meta": t}
