"""Fault tests with real processes: the sidecar under gunicorn, the delivery worker as its own
process, and a contract-exact sGTM client stand-in (see conftest.FakeSgtm). The stand-in plays
what the local runtime cannot be made to do on cue: sGTM itself answering 429 with Retry-After,
answering too slowly, vanishing mid-batch. test_e2e_runtime.py runs the generated container.

Every test ends with the same four checks (``assert_delivered``): every accepted event reached
every destination its consent allows; denied destinations got nothing; no destination saw an
event id again after the ledger recorded its acknowledgement; nothing accepted was lost.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from pytest_httpserver import HTTPServer

from sidecar.store.sqlite import SqliteStore
from tests.conftest import free_port
from tests.delivery.conftest import FakeSgtm
from tests.delivery.stack import Stack, event

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
ADS = {"meta", "google_ads"}


@pytest.fixture
def sgtm_server():
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def stack(tmp_path, sgtm_server):
    s = Stack(tmp_path, sgtm_server.url_for("/s2s/events"))
    fake = FakeSgtm(s.delivery_keys, time.time)
    sgtm_server.expect_request("/s2s/events", method="POST").respond_with_handler(fake.handler)
    s.fake = fake
    s.start_sidecar()
    yield s
    s.stop()


def accepted_ids(answer: dict) -> list[str]:
    return [r["event_id"] for r in answer["results"] if r["status"] == "accepted"]


def wait_all_final(store: SqliteStore, ids: list[str], timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = [store.ledger(i) for i in ids]
        if all(e is not None and e.status in ("delivered", "dead", "partial") for e in entries):
            return
        time.sleep(0.2)
    pending = {i: store.ledger(i).destinations for i in ids if store.ledger(i).status == "queued"}
    raise AssertionError(f"not delivered within {timeout} s: {pending}")


def assert_delivered(stack: Stack, ids: list[str], denied_ads: set[str] = frozenset()) -> None:
    fake = stack.fake
    check_invariants(stack, ids, fake.receipts, set(fake.seen), denied_ads)


def check_invariants(
    stack: Stack,
    ids: list[str],
    acked_receipts: list[tuple[str, str, float]],
    seen: set[tuple[str, str]],
    denied_ads: set[str] = frozenset(),
) -> None:
    """``acked_receipts``: (destination, event id, arrival time) of every request the
    destination answered with success; ``seen``: every (destination, event id) it was sent."""
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    wait_all_final(store, ids)
    ledger_ids = {row[0] for row in store._read().execute("SELECT event_id FROM events")}
    assert set(ids) <= ledger_ids  # nothing accepted was lost
    got = {(d, e) for d, e, _ in acked_receipts}
    for eid in ids:
        entry = store.ledger(eid)
        assert entry.status == "delivered", (eid, entry)
        for dest, status in entry.destinations.items():
            assert status.state == "succeeded"
            assert (dest, eid) in got, f"{dest} never received {eid}"
            late = [
                t for d, e, t in acked_receipts if (d, e) == (dest, eid) and t > status.acked_at
            ]
            assert late == [], f"{dest} saw {eid} again after its acknowledgement"
        sent_to = {d for d, e in seen if e == eid}
        assert sent_to <= set(entry.destinations)  # nothing beyond what consent allowed
        if eid in denied_ads:
            assert not (sent_to & ADS) and not (set(entry.destinations) & ADS)
    store.close()


def test_sgtm_down_for_a_while_then_back(stack, sgtm_server):
    sgtm_server.stop()  # sGTM unreachable: connection refused
    stack.worker.start()
    ids = accepted_ids(stack.post([event(f"down-{i}") for i in range(20)]))
    assert len(ids) == 20
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not store.ledger("down-0").destinations["ga4"].attempts:
        time.sleep(0.1)  # the worker process starts, tries, fails, opens its breaker
    time.sleep(1.0)
    assert store.counts().get("succeeded", 0) == 0
    reason = store.ledger("down-0").destinations["ga4"].last_reason
    assert reason.startswith("sGTM unreachable")
    sgtm_server.start()  # back, same port
    assert_delivered(stack, ids)
    # The breaker kept attempts low while sGTM was down (no hammering, no burned budget).
    assert max(s.attempts for s in store.ledger("down-0").destinations.values()) <= 5


def test_destination_500_429_slow_and_partial(stack):
    fake = stack.fake
    # meta fails its first two tries of every event (a 500 from Meta behind the tag);
    fake.script["meta"] = lambda _e, n: "failure" if n <= 2 else "success"
    # then sGTM itself answers 429 with Retry-After once, and once too slowly.
    fake.http_status.append((429, {"Retry-After": "1"}))
    fake.delay_s.extend([0.0, 3.0])  # the 2nd batch answers after the worker's 2 s timeout
    stack.worker.start()
    ids = accepted_ids(stack.post([event(f"mix-{i}") for i in range(10)]))
    assert_delivered(stack, ids)
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    for eid in ids:  # partial failure: the others were sent once, meta three times or more
        assert fake.seen[("ga4", eid)] >= 1 and fake.seen[("meta", eid)] >= 3
    reasons = [r[0] for r in store._read().execute("SELECT reason FROM attempts")]
    assert any("HTTP 429" in r for r in reasons)
    assert any("within 2 s" in r for r in reasons)


def test_worker_sigkilled_mid_batch_and_restarted(stack):
    fake = stack.fake
    fake.delay_s.extend([0.8] * 5)
    ids = accepted_ids(stack.post([event(f"kill-{i}") for i in range(40)]))
    stack.worker.start()
    deadline = time.monotonic() + 20
    while fake.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.in_flight > 0
    time.sleep(0.2)
    stack.worker.kill(signal.SIGKILL)  # mid-batch: sGTM is still answering
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    assert store.counts().get("executing", 0) > 0
    stack.worker.start()  # the restarted worker requeues what was executing
    assert_delivered(stack, ids)
    assert "requeued" in stack.logs("worker")


def test_sidecar_restarted_while_events_arrive(stack):
    stack.worker.start()
    ids: list[str] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            for i in range(30):
                answer = stack.post(event(f"rs-{i}"))
                # "duplicate" is right when the sidecar committed the event but was killed
                # before its answer got out: the client's retry finds it already stored.
                ids.extend(
                    r["event_id"]
                    for r in answer["results"]
                    if r["status"] in ("accepted", "duplicate")
                )
                time.sleep(0.02)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    t = threading.Thread(target=client)
    t.start()
    time.sleep(0.3)
    stack.sidecar.kill(signal.SIGKILL)
    stack.start_sidecar()
    t.join(timeout=60)
    assert not errors, errors
    assert len(ids) == 30  # every event was eventually accepted (the client retried)
    assert_delivered(stack, ids)


def test_same_events_from_browser_and_server_and_denied_ads(stack):
    stack.worker.start()
    first = stack.post([event("dup-1"), event("noads-1", ads=False)], browser=True)
    assert [r["status"] for r in first["results"]] == ["accepted", "accepted"]
    again = stack.post([event("dup-1"), event("noads-1", ads=False)])
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert_delivered(stack, ["dup-1", "noads-1"], denied_ads={"noads-1"})
    assert all(n == 1 for n in stack.fake.seen.values())


def test_same_order_from_webhook_twice_and_from_the_browser(stack):
    from sgtm.demo import shopify_order

    stack.worker.start()
    order = shopify_order(2002, "checkout-token-2002")
    status, first = stack.shopify(order)
    assert status == 200 and first["events"][0]["status"] == "accepted", first
    event_id = first["events"][0]["event_id"]
    status, again = stack.shopify(order)  # Shopify retries the same delivery
    assert status == 200 and again["events"][0]["status"] == "duplicate"
    # The browser reports the same purchase under the same event id.
    browser = stack.post(event(event_id), browser=True)
    assert browser["results"][0]["status"] == "duplicate"
    assert_delivered(stack, [event_id])
    assert all(n == 1 for (d, e), n in stack.fake.seen.items() if e == event_id)
