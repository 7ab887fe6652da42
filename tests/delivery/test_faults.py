"""Fault tests with real processes: the sidecar under gunicorn, the delivery worker as its own
process, and a contract-exact sGTM client stand-in (see conftest.FakeSgtm). The stand-in plays
what the local runtime cannot be made to do on cue: sGTM itself answering 429 with Retry-After,
answering too slowly, vanishing mid-batch. test_e2e_runtime.py runs the generated container.

Every test ends with the same four checks (``assert_delivered``): every accepted event reached
every destination its consent allows; denied destinations got nothing; no destination saw an
event id again after the ledger recorded its acknowledgement; nothing accepted was lost.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
from pytest_httpserver import HTTPServer

from sidecar.store.sqlite import SqliteStore
from tests.conftest import free_port
from tests.delivery.conftest import FakeSgtm
from tests.delivery.stack import Stack, event
from tests.delivery.tally import KILL_NOTE, measure

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


def report(tally, stack: Stack, scenario: str, ids: list[str], note: str = "") -> dict:
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    try:
        row = tally(measure(scenario, store, ids, stack.fake.delivered, note=note))
    finally:
        store.close()
    assert row["lost"] == 0, row
    return row


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


def test_sgtm_down_for_a_while_then_back(stack, sgtm_server, tally):
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
    assert report(tally, stack, "sGTM down, then back", ids)["duplicated"] == 0
    # The breaker kept attempts low while sGTM was down (no hammering, no burned budget).
    assert max(s.attempts for s in store.ledger("down-0").destinations.values()) <= 5


def test_destination_500_429_slow_and_partial(stack, tally):
    fake = stack.fake
    # meta fails its first two tries of every event (a 500 from Meta behind the tag);
    fake.script["meta"] = lambda _e, n: "failure" if n <= 2 else "success"
    # then sGTM itself answers 429 with Retry-After once, and once too slowly.
    fake.http_status.append((429, {"Retry-After": "1"}))
    fake.delay_s.extend([0.0, 3.0])  # the 2nd batch answers after the worker's 2 s timeout
    stack.worker.start()
    ids = accepted_ids(stack.post([event(f"mix-{i}") for i in range(10)]))
    assert_delivered(stack, ids)
    row = report(tally, stack, "destination 500, sGTM 429, slow sGTM, partial answers", ids)
    assert row["duplicated"] == 0
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    for eid in ids:  # partial failure: the others were sent once, meta three times or more
        assert fake.seen[("ga4", eid)] >= 1 and fake.seen[("meta", eid)] >= 3
    reasons = [r[0] for r in store._read().execute("SELECT reason FROM attempts")]
    assert any("HTTP 429" in r for r in reasons)
    # The batch answered after the 2 s timeout was waited for and recorded, not resent.
    assert "the late answer was recorded" in (stack.tmp / "worker.log").read_text()


def test_worker_sigkilled_mid_batch_and_restarted(stack, tally):
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
    row = report(tally, stack, "worker SIGKILL mid-batch, restarted", ids, KILL_NOTE)
    # Only the batch in flight at the kill can arrive twice (every destination of the example
    # plan deduplicates: GA4, Meta and Google Ads on the platform, the warehouse and the CRM
    # on the event_id they receive, their idempotency key).
    in_flight = fake.batches[0]["events"]
    assert row["duplicated"] <= sum(len(e["destinations"]) for e in in_flight)


def test_sidecar_restarted_while_events_arrive(stack, tally):
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
    assert report(tally, stack, "sidecar SIGKILL while events arrive", ids)["duplicated"] == 0


def test_same_events_from_browser_and_server_and_denied_ads(stack, tally):
    stack.worker.start()
    first = stack.post([event("dup-1"), event("noads-1", ads=False)], browser=True)
    assert [r["status"] for r in first["results"]] == ["accepted", "accepted"]
    again = stack.post([event("dup-1"), event("noads-1", ads=False)])
    assert [r["status"] for r in again["results"]] == ["duplicate", "duplicate"]
    assert_delivered(stack, ["dup-1", "noads-1"], denied_ads={"noads-1"})
    assert all(n == 1 for n in stack.fake.seen.values())
    row = report(tally, stack, "same events from browser and server", ["dup-1", "noads-1"])
    assert row["duplicated"] == 0


def test_same_order_from_webhook_twice_and_from_the_browser(stack, tally):
    from sgtm.harness.payloads import shopify_order

    stack.worker.start()
    order = shopify_order(2002, "checkout-token-2002")
    status, first = stack.shopify(order)
    assert status == 200 and first["events"][0]["status"] == "accepted", first
    event_id = first["events"][0]["event_id"]
    status, again = stack.shopify(order)  # Shopify retries the same delivery
    assert status == 200 and again["events"][0]["status"] == "duplicate"
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    wait_all_final(store, [event_id])
    reached = set(store.ledger(event_id).destinations)
    assert reached == {"ga4", "warehouse"}  # no consent context: ads and the CRM were blocked
    # Late join: the browser then reports the same purchase, with consent and identifiers.
    # It used to be a plain duplicate, and Meta, Google Ads and the CRM never got the order.
    browser = stack.post(event(event_id), browser=True)
    assert browser["results"][0]["status"] == "accepted"
    copy_id = "web:" + event_id
    ids = [event_id, copy_id]
    wait_all_final(store, ids)
    copy = store.ledger(copy_id)
    assert set(copy.destinations) == {"meta", "google_ads", "crm"}  # only what was blocked
    row = store._read().execute(
        "SELECT envelope, decision FROM events WHERE event_id = ?", (copy_id,)
    )
    envelope, decision = (json.loads(v) for v in row.fetchone())
    assert envelope["params"]["value"] == 39.9  # the order's money, not the browser's 59.9
    assert decision["late_join"] == {
        "order_event": event_id,
        "added": ["crm", "google_ads", "meta"],
    }
    store.close()
    # Every destination got the order exactly once, from one event or the other.
    assert all(n == 1 for (d, e), n in stack.fake.delivered.items() if e == event_id)
    assert {d for d, e in stack.fake.delivered if e == event_id} == reached | set(copy.destinations)
    again = stack.post(event(event_id), browser=True)  # and once more: nothing left to add
    assert again["results"][0]["status"] == "duplicate"
    row = report(tally, stack, "order webhook twice, then browser (late join)", ids)
    assert row["duplicated"] == 0


def test_browser_ids_cannot_suppress_or_overwrite_an_order(stack, tally):
    """A browser posting the next order's event id first must not make the real webhook a
    'duplicate'; posting it again later must not replace or re-queue the stored order."""
    from sgtm.harness.payloads import shopify_order

    stack.worker.start()
    forged = event("shopify-3003-purchase")
    forged["params"]["value"] = 99999
    first = stack.post(forged, browser=True)
    assert first["results"][0] == {**first["results"][0], "status": "accepted"}
    assert first["results"][0]["event_id"] == "shopify-3003-purchase"  # the client's own id
    status, hook = stack.shopify(shopify_order(3003, "checkout-token-3003"))
    assert status == 200 and hook["events"][0]["status"] == "accepted", hook
    again = stack.post(forged, browser=True)
    assert again["results"][0]["status"] == "duplicate"
    ids = ["shopify-3003-purchase", "web:shopify-3003-purchase"]
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    wait_all_final(store, ids)
    order, copy = store.ledger(ids[0]), store.ledger(ids[1])
    assert order.source == "shopify" and copy.source == "web"
    row = store._read().execute("SELECT envelope FROM events WHERE event_id = ?", (ids[0],))
    assert json.loads(row.fetchone()[0])["params"]["value"] == 39.9  # the order's, not 99999
    # The browser's copy goes only where the platform deduplicates it with the order (same
    # event_id / transaction_id); the warehouse and the CRM take the order from its webhook.
    assert set(copy.destinations) <= {"ga4", "meta", "google_ads"}
    assert "warehouse" in order.destinations  # (no consent context: CRM and ads are denied)
    assert stack.fake.delivered[("warehouse", "shopify-3003-purchase")] == 1
    store.close()
    row = report(tally, stack, "browser claims an order's event id", ids)
    assert row["duplicated"] == 0


def test_order_paid_four_days_after_creation_still_reaches_ga4(stack, tally):
    """The event time used to be the order's creation: GA4's 72 h window had passed before the
    paid webhook arrived, and the purchase was dead-lettered without being sent."""
    from sgtm.harness.payloads import shopify_order

    stack.worker.start()
    order = shopify_order(4004, "checkout-token-4004")
    created = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 4 * 86400))
    order["created_at"] = order["processed_at"] = created
    order["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    status, hook = stack.shopify(order)
    assert status == 200 and hook["events"][0]["status"] == "accepted", hook
    ids = ["shopify-4004-purchase"]
    assert_delivered(stack, ids)
    store = SqliteStore(stack.env["SGTM_OUTBOX"])
    entry = store.ledger(ids[0])
    assert entry.destinations["ga4"].state == "succeeded"
    assert stack.fake.delivered[("ga4", ids[0])] == 1
    store.close()
    assert report(tally, stack, "order paid 4 days after creation", ids)["duplicated"] == 0


def test_authentic_unmappable_webhook_is_quarantined_durably_and_replayed(stack, tally):
    """Real processes: an authentic body the mapping cannot read is answered 202 (never a 4xx
    that Shopify would retry and then drop the subscription over), survives a SIGKILL of the
    sidecar, is counted in /v1/stats and replayed by `sgtm quarantine replay`."""
    import subprocess
    import sys

    from sgtm.harness.payloads import shopify_order

    order = shopify_order(5005, "checkout-token-5005")
    order["line_items"][0]["quantity"] = "1"  # a string: the mapping cannot read it
    status, answer = stack.shopify(order)
    assert status == 202 and answer["status"] == "quarantined", answer
    assert answer["errors"][0]["pointer"] == "/line_items/0/quantity"
    stack.sidecar.kill(signal.SIGKILL)
    stack.start_sidecar()
    assert stack.get("/v1/stats")[1]["quarantined"] == 1
    cli = [sys.executable, "-m", "sgtm.cli", "quarantine"]
    listed = subprocess.run(
        [*cli, "list", "--format", "json"], env=stack.env, capture_output=True, text=True
    )
    (item,) = json.loads(listed.stdout)["quarantined"]
    assert item["topic"] == "orders/paid" and item["errors"] == answer["errors"]
    # The fix of the day: the shop's app now sends an integer (here: the stored body is
    # replayed as is, so the plan is the same and the body still fails; it stays).
    again = subprocess.run([*cli, "replay"], env=stack.env, capture_output=True, text=True)
    assert again.returncode == 1 and "still_unmappable" in again.stdout
    assert stack.get("/v1/stats")[1]["quarantined"] == 1
    # The same order sent correctly is accepted and delivered once.
    order["line_items"][0]["quantity"] = 1
    stack.worker.start()
    status, fixed = stack.shopify(order)
    assert status == 200 and fixed["events"][0]["status"] == "accepted"
    ids = ["shopify-5005-purchase"]
    assert_delivered(stack, ids)
    row = report(tally, stack, "authentic unmappable webhook quarantined, then fixed", ids)
    assert row["duplicated"] == 0


def test_a_rate_limited_vendor_does_not_delay_the_others(tmp_path, sgtm_server, tally):
    """The plan holds Meta to 5 events/s: the worker's token bucket defers Meta alone; GA4,
    the warehouse, Google Ads and the CRM of the same events are delivered at once."""
    from tests.conftest import EXAMPLE_PLAN

    text = EXAMPLE_PLAN.read_text(encoding="utf-8")
    meta = "    pixel_events: [view_item, add_to_cart, begin_checkout, purchase]\n    rollout: 50\n"
    assert meta in text
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        text.replace(
            meta,
            "    pixel_events: [view_item, add_to_cart, begin_checkout, purchase]\n"
            "    max_rate_per_s: 5\n    rollout: 100\n",
        ),
        encoding="utf-8",
    )
    s = Stack(tmp_path, sgtm_server.url_for("/s2s/events"), plan=plan)
    fake = FakeSgtm(s.delivery_keys, time.time)
    sgtm_server.expect_request("/s2s/events", method="POST").respond_with_handler(fake.handler)
    s.fake = fake
    s.start_sidecar()
    try:
        ids = accepted_ids(s.post([event(f"rate-{i}") for i in range(40)]))
        s.worker.start()
        assert_delivered(s, ids)
        times: dict[str, list[float]] = {}
        for dest, _eid, at in fake.receipts:
            times.setdefault(dest, []).append(at)
        start = min(min(t) for t in times.values())
        others = max(max(t) for d, t in times.items() if d != "meta") - start
        meta_span = max(times["meta"]) - start
        # 40 Meta events at 5/s (a burst of 5) take ~7 s; the others did not wait for them.
        assert meta_span >= 5.0, meta_span
        assert others < meta_span / 2, (others, meta_span)
        store = SqliteStore(s.env["SGTM_OUTBOX"])
        reasons = [r[0] for r in store._read().execute("SELECT reason FROM attempts")]
        assert any(r.startswith("throttled") for r in reasons)
        assert all(store.ledger(i).destinations["meta"].attempts == 1 for i in ids)
        store.close()
        row = report(
            tally,
            s,
            "Meta held to 5 events/s, others not delayed",
            ids,
            f"others done in {others:.1f} s, Meta in {meta_span:.1f} s",
        )
        assert row["duplicated"] == 0
    finally:
        s.stop()


def test_latest_consent_wins_between_context_and_events(stack, tally):
    """Real processes: the checkout context grants ads, then a page event reports ads: false;
    the order that follows must not go to Meta nor Google Ads."""
    from sgtm.harness.payloads import shopify_order

    stack.worker.start()
    client_id = "1234567890.1732860000"  # the demo order's and the events' client id
    status, _ = stack.context(
        {
            "token": "checkout-token-6006",
            "client_id": client_id,
            "consent": {"analytics": True, "ads": True, "functional": True},
        }
    )
    assert status == 200
    withdrawn = event("page-6006", name="view_item", ads=False, client_id=client_id)
    time.sleep(0.05)
    withdrawn["timestamp"] = int(time.time() * 1000)  # after the context, before the order
    withdrawn["params"] = {"currency": "EUR", "value": 10, "items": [{"id": "SKU-1", "price": 10}]}
    assert stack.post(withdrawn, browser=True)["results"][0]["status"] == "accepted"
    time.sleep(1.1)  # the order's times are whole seconds
    status, hook = stack.shopify(shopify_order(6006, "checkout-token-6006"))
    assert status == 200 and hook["events"][0]["join"] == "token", hook
    ids = ["shopify-6006-purchase"]
    assert_delivered(stack, ids, denied_ads=set(ids))
    row = report(tally, stack, "context grants ads, later event withdraws, then order", ids)
    assert row["duplicated"] == 0
