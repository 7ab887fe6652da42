"""The embedded outbox: dedupe, durability across processes, the delivery-side state machine."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import time

import pytest

from sidecar.store.base import Attempt, Outcome, StoreUnavailable
from sidecar.store.factory import open_store, open_store_from_env
from sidecar.store.sqlite import SqliteStore
from tests.store.conftest import make_record

WINDOW = 48 * 3600


@pytest.fixture
def store(tmp_path, clock):
    s = SqliteStore(tmp_path / "outbox.sqlite", clock=clock)
    yield s
    s.close()


def test_wal_and_synchronous_full(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection: check the store's own connection.
    assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_enqueue_accepts_then_reports_duplicates_by_any_key(store):
    first = store.enqueue([make_record("e1", dedupe_keys=("e1", "shopify:wh-1"))], WINDOW)
    assert [(r.event_id, r.status) for r in first] == [("e1", "accepted")]
    # A webhook retry with a new event id but the same webhook id is the same event.
    again = store.enqueue([make_record("e2", dedupe_keys=("e2", "shopify:wh-1"))], WINDOW)
    assert (again[0].status, again[0].duplicate_of) == ("duplicate", "shopify:wh-1")
    same = store.enqueue([make_record("e1")], WINDOW)
    assert (same[0].status, same[0].duplicate_of) == ("duplicate", "e1")
    assert store.counts() == {"waiting": 2}  # e1's two destinations only


def test_duplicates_inside_one_batch(store):
    results = store.enqueue(
        [
            make_record("a", dedupe_keys=("a", "order:1")),
            make_record("b", dedupe_keys=("b", "order:1")),
        ],
        WINDOW,
    )
    assert [r.status for r in results] == ["accepted", "duplicate"]
    assert results[1].duplicate_of == "order:1"


def test_dedupe_window_expires_for_keys_but_a_stored_event_is_never_replaced(store, clock):
    store.enqueue([make_record("e1", dedupe_keys=("e1", "wh:1"))], 60)
    assert store.enqueue([make_record("e2", dedupe_keys=("e2", "wh:1"))], 60)[0].status == (
        "duplicate"
    )
    clock.advance(61)
    assert store.enqueue([make_record("e2", dedupe_keys=("e2", "wh:1"))], 60)[0].status == (
        "accepted"
    )
    # 49 h later a browser reused the id with value 99999: it must not replace nor re-queue.
    store.claim(clock(), 10, 30)
    store.record(
        "e1", [Outcome("ga4", "succeeded", Attempt(clock(), "success", "ok", 200))], clock()
    )
    clock.advance(49 * 3600)
    late = make_record("e1", accepted_at=clock())
    object.__setattr__(late, "envelope", {**late.envelope, "params": {"value": 99999}})
    assert store.enqueue([late], 60)[0].status == "duplicate"
    row = store._read().execute("SELECT envelope FROM events WHERE event_id = 'e1'").fetchone()
    assert json.loads(row[0])["params"]["value"] == 10.0
    assert store.ledger("e1").destinations["ga4"].state == "succeeded"


def test_enqueue_is_all_or_nothing(store):
    bad = make_record("bad")
    object.__setattr__(bad, "envelope", {"not json": object()})
    with pytest.raises(TypeError):
        store.enqueue([make_record("good"), bad], WINDOW)
    # The good record was rolled back with the bad one: its key is free, nothing is queued.
    assert store.counts() == {}
    assert store.enqueue([make_record("good")], WINDOW)[0].status == "accepted"


def test_context_expires(store, clock):
    store.put_context("cart-1", {"client_id": "1.2", "fbp": "fb.1.2.3"}, ttl_s=10)
    assert store.get_context("cart-1") == {"client_id": "1.2", "fbp": "fb.1.2.3"}
    clock.advance(11)
    assert store.get_context("cart-1") is None
    assert store.get_context("nope") is None


def test_note_skipped_is_in_the_ledger_not_the_queue(store):
    store.note_skipped(make_record("s1", destinations=()))
    entry = store.ledger("s1")
    assert entry is not None and entry.status == "skipped" and entry.destinations == {}
    assert store.claim(now=2e6, limit=10, lease_s=30) == []


def test_unopenable_path_is_store_unavailable(tmp_path):
    from sidecar.store.base import StoreUnavailable

    (tmp_path / "adir").mkdir()
    with pytest.raises(StoreUnavailable, match="adir: cannot open the outbox"):
        SqliteStore(tmp_path / "adir")


# -- several processes ------------------------------------------------------------------------


def _racer(path: str, worker: int, n: int, out) -> None:
    s = SqliteStore(path)
    accepted = []
    for i in range(n):
        # Every worker offers the same orders; each order must be accepted exactly once overall.
        rec = make_record(f"w{worker}-e{i}", dedupe_keys=(f"w{worker}-e{i}", f"order:{i}"))
        for r in s.enqueue([rec], WINDOW):
            if r.status == "accepted":
                accepted.append(i)
    out.put(accepted)


def test_concurrent_processes_accept_each_key_once(tmp_path):
    path = str(tmp_path / "outbox.sqlite")
    SqliteStore(path).close()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(path, w, 60, out)) for w in range(4)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    accepted = sorted(i for batch in got for i in batch)
    assert accepted == list(range(60))


def _writer(path: str, conn) -> None:
    s = SqliteStore(path)
    i = 0
    while True:
        s.enqueue([make_record(f"k{i}")], WINDOW)
        conn.send(f"k{i}")  # reported only after enqueue returned, i.e. after commit
        i += 1


def test_sigkill_mid_write_loses_no_accepted_event(tmp_path):
    path = str(tmp_path / "outbox.sqlite")
    SqliteStore(path).close()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_writer, args=(path, child))
    proc.start()
    acked: list[str] = []
    deadline = time.monotonic() + 5
    while len(acked) < 200 and time.monotonic() < deadline:
        if parent.poll(0.1):
            acked.append(parent.recv())
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=10)
    while parent.poll(0):
        acked.append(parent.recv())
    assert len(acked) >= 50
    s = SqliteStore(path)
    missing = [e for e in acked if s.ledger(e) is None]
    assert missing == []
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- delivery side ----------------------------------------------------------------------------


def _fail(dest: str, at: float, nxt: float, reason: str = "boom") -> Outcome:
    return Outcome(dest, "failed", Attempt(at, "failure", reason, 200), next_attempt_at=nxt)


def test_claim_record_retry_only_failed_destination(store, clock):
    store.enqueue([make_record("e1", order_id="1001")], WINDOW)
    now = clock()
    (claim,) = store.claim(now, 10, lease_s=30)
    assert claim.destinations == ("ga4", "meta")
    assert set(claim.envelope["destinations"]) == {"ga4", "meta"}
    assert store.claim(now, 10, lease_s=30) == []  # leased
    store.record(
        "e1",
        [
            Outcome("ga4", "succeeded", Attempt(now, "success", "", 200)),
            _fail("meta", now, now + 5),
        ],
        now,
    )
    assert store.claim(now + 1, 10, 30) == []
    (again,) = store.claim(now + 5, 10, 30)
    assert again.destinations == ("meta",)
    assert list(again.envelope["destinations"]) == ["meta"]
    assert again.attempts == {"meta": 1}
    entry = store.ledger("e1")
    assert entry.forwarded_at == now
    assert entry.destinations["ga4"].state == "succeeded"
    assert entry.destinations["ga4"].acked_at == now
    assert entry.destinations["meta"].state == "executing"
    assert [e.event_id for e in store.ledger_for_order("1001")] == ["e1"]


def test_executing_at_restart_goes_back_to_retry_when_its_lease_ends(store, clock):
    store.enqueue([make_record("e1")], WINDOW)
    store.claim(clock(), 10, lease_s=30)
    assert store.counts() == {"executing": 2}
    assert store.requeue_executing(clock()) == 2
    assert store.counts() == {"failed": 2}
    # The dead worker's request may still be running in sGTM until its lease ends.
    assert store.claim(clock() + 29, 10, 30) == []
    (claim,) = store.claim(clock() + 30, 10, 30)
    assert claim.attempts == {"ga4": 0, "meta": 0}  # an interrupted try is not an attempt
    assert store.ledger("e1").destinations["ga4"].last_reason.startswith("interrupted")


def test_expired_lease_is_claimable(store, clock):
    store.enqueue([make_record("e1")], WINDOW)
    store.claim(clock(), 10, lease_s=30)
    assert store.claim(clock() + 29, 10, 30) == []
    assert len(store.claim(clock() + 31, 10, 30)) == 1


def test_dead_letter_keeps_every_attempt_and_replays(store, clock):
    store.enqueue([make_record("e1", destinations=("meta",))], WINDOW)
    t = clock()
    store.claim(t, 10, 30)
    store.record("e1", [_fail("meta", t, t, "HTTP 500 from sGTM")], t)
    store.claim(t, 10, 30)
    store.record(
        "e1",
        [Outcome("meta", "aborted", Attempt(t + 1, "failure", "past max attempts (2)", 200))],
        t + 1,
    )
    (dl,) = store.dead_letters()
    assert dl.event_id == "e1" and dl.destination == "meta" and dl.event_name == "purchase"
    assert [a.reason for a in dl.attempts] == ["HTTP 500 from sGTM", "past max attempts (2)"]
    assert store.dead_letter(dl.id) == dl
    assert store.dead_letter("999") is None and store.dead_letter("x") is None
    assert store.ledger("e1").status == "dead"
    assert store.dead_letters(destination="ga4") == []
    assert store.dead_letters(since=t + 2) == []
    replayed = store.replay(now=t + 10)
    assert [r.id for r in replayed] == [dl.id]
    assert store.dead_letters() == []  # replayed ones are hidden unless asked for
    assert store.dead_letters(include_replayed=True)[0].replayed_at == t + 10
    (claim,) = store.claim(t + 10, 10, 30)
    # The window still counts from the event's time: the worker re-evaluates the rule.
    assert claim.window_start == {"meta": t} and claim.attempts == {"meta": 0}


def test_next_due_at(store, clock):
    assert store.next_due_at() is None
    store.enqueue([make_record("e1")], WINDOW)
    assert store.next_due_at() == 1_000_000.0


# -- factory ----------------------------------------------------------------------------------


def test_factory_defaults_to_sqlite(tmp_path):
    s = open_store("sqlite", path=str(tmp_path / "o.sqlite"))
    assert isinstance(s, SqliteStore)
    s2 = open_store_from_env({"SGTM_OUTBOX": str(tmp_path / "env.sqlite")})
    assert isinstance(s2, SqliteStore) and s2.path.endswith("env.sqlite")


def test_factory_rejects_unknown_backend_and_settings(tmp_path):
    with pytest.raises(ValueError, match="unknown backend 'redis'; expected one of sqlite, gcp"):
        open_store("redis")
    with pytest.raises(ValueError, match="unknown setting.*pth"):
        open_store("sqlite", pth="x")
    with pytest.raises(ValueError, match="GOOGLE_CLOUD_PROJECT"):
        open_store_from_env({"SGTM_BACKEND": "gcp"})


def _claimer(path: str, out) -> None:
    s = SqliteStore(path)
    got = []
    while True:
        claims = s.claim(2e9, 7, lease_s=3600)
        if not claims:
            break
        got.extend((c.event_id, d) for c in claims for d in c.destinations)
    out.put(got)


def test_concurrent_claims_never_hand_out_a_destination_twice(tmp_path):
    path = str(tmp_path / "outbox.sqlite")
    s = SqliteStore(path)
    s.enqueue([make_record(f"e{i}") for i in range(150)], WINDOW)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(path, out)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [pair for _ in procs for pair in out.get(timeout=60)]
    for p in procs:
        p.join(timeout=30)
    assert len(got) == len(set(got)) == 300  # every destination claimed exactly once
    assert s.counts() == {"executing": 300}


def test_read_failures_are_store_unavailable_not_raw_errors(store):
    # The webhook join reads contexts and the ledger: a broken outbox must become a 503 (retry),
    # never a 500. Break the tables behind the store's back.
    with sqlite3.connect(store.path) as db:
        db.execute("DROP TABLE contexts")
        db.execute("ALTER TABLE events RENAME TO events_gone")
    with pytest.raises(StoreUnavailable, match="get_context failed"):
        store.get_context("tok")
    with pytest.raises(StoreUnavailable, match="ledger read failed"):
        store.ledger("e1")
    with pytest.raises(StoreUnavailable, match="ledger read failed"):
        store.ledger_for_order("1001")


def test_quarantine_keeps_the_body_and_counts_the_unresolved(tmp_path):
    from sidecar.store.base import QuarantinedBody

    store = SqliteStore(tmp_path / "q.sqlite")
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
    first = store.quarantine(item)
    second = store.quarantine(item)
    assert store.quarantine_count() == 2
    kept = store.quarantined_one(first)
    assert kept.body == body and kept.headers == item.headers and kept.errors == item.errors
    store.quarantine_result(first, "accepted", 1_000_100.0)
    assert [i.id for i in store.quarantined()] == [second]
    assert store.quarantine_count() == 1
    # Purged with the rest after retention_days.
    store.purge(1_000_000.0 + 400 * 86400, 3600, 395 * 86400)
    assert store.quarantined(include_replayed=True) == []
