"""The delivery worker against a contract-exact sGTM client stand-in (pytest-httpserver)."""

from __future__ import annotations

import re

from werkzeug.wrappers import Response

from tests.conftest import free_port
from tests.store.conftest import make_record

WINDOW = 48 * 3600


def _enqueue(outbox, clock, *ids, dests=("ga4", "meta")):
    outbox.enqueue([make_record(i, destinations=dests, accepted_at=clock()) for i in ids], WINDOW)


def test_signed_batch_delivers_every_destination_once(outbox, sgtm, make_worker, fake_clock):
    _enqueue(outbox, fake_clock, "e1", "e2", "e3")
    stats = make_worker().run(until_idle=True)
    assert sgtm.rejected_signatures == 0
    assert len(sgtm.batches) == 1 and sgtm.batches[0]["schema"] == 1
    assert set(sgtm.delivered.values()) == {1}
    assert set(sgtm.delivered) == {(d, e) for d in ("ga4", "meta") for e in ("e1", "e2", "e3")}
    assert stats.succeeded == 6
    entry = outbox.ledger("e1")
    assert entry.status == "delivered" and entry.forwarded_at == fake_clock()
    assert all(s.acked_at == fake_clock() and s.attempts == 1 for s in entry.destinations.values())


def test_failed_destination_is_retried_alone(outbox, sgtm, make_worker, fake_clock):
    sgtm.script["meta"] = lambda _e, n: "failure" if n <= 2 else "success"
    _enqueue(outbox, fake_clock, "e1")
    start = fake_clock()
    make_worker().run(until_idle=True)
    assert sgtm.seen[("ga4", "e1")] == 1  # never re-sent after its acknowledgement
    assert sgtm.seen[("meta", "e1")] == 3
    assert [sorted(b["events"][0]["destinations"]) for b in sgtm.batches] == [
        ["ga4", "meta"],
        ["meta"],
        ["meta"],
    ]
    entry = outbox.ledger("e1")
    assert entry.destinations["meta"].attempts == 3 and entry.status == "delivered"
    # Backoff with jitter: 1st retry after 0.5-1 s, 2nd after 1-2 s.
    assert 1.5 <= fake_clock() - start <= 3.0 + 1.0


def test_retry_after_is_honoured_and_pauses_the_breaker(outbox, sgtm, make_worker, fake_clock):
    sgtm.http_status.append((429, {"Retry-After": "30"}))
    _enqueue(outbox, fake_clock, "e1")
    start = fake_clock()
    worker = make_worker()
    worker.run_once()
    assert worker.breaker.state == "open"
    assert outbox.next_due_at() >= start + 30
    worker.run(until_idle=True)
    assert fake_clock() - start >= 30
    assert sgtm.delivered[("meta", "e1")] == 1
    attempts = outbox.ledger("e1").destinations["meta"].attempts
    assert attempts == 2


def test_sgtm_down_opens_the_breaker_then_drains(outbox, sgtm, httpserver, make_worker, fake_clock):
    dead_url = f"http://127.0.0.1:{free_port()}/s2s/events"  # nothing listens: refused
    _enqueue(outbox, fake_clock, *[f"e{i}" for i in range(5)])
    down = make_worker(url=dead_url, batch_size=1)
    for _ in range(3):
        down.run_once()
    assert down.breaker.state == "open"
    assert down.run_once() == 0  # open: nothing claimed, no attempt burned
    assert outbox.counts() == {"failed": 6, "waiting": 4}
    reason = outbox.ledger("e0").destinations["ga4"].last_reason
    assert reason.startswith("sGTM unreachable: cannot reach 127.0.0.1")
    # sGTM is back: a fresh worker (same store) delivers everything, each pair once.
    make_worker().run(until_idle=True)
    assert len(sgtm.delivered) == 10 and set(sgtm.delivered.values()) == {1}
    entry = outbox.ledger("e0")
    assert entry.destinations["ga4"].attempts == 2


def test_max_attempts_dead_letters_with_every_reason(outbox, sgtm, make_worker, fake_clock):
    sgtm.script["meta"] = lambda _e, _n: "failure"
    _enqueue(outbox, fake_clock, "e1")
    make_worker().run(until_idle=True)
    (dl,) = outbox.dead_letters()
    assert dl.destination == "meta" and len(dl.attempts) == 5  # meta: max_attempts 5
    assert all(a.outcome == "failure" for a in dl.attempts)
    assert "gave up after 5 attempts" in dl.reason
    entry = outbox.ledger("e1")
    assert entry.status == "partial"
    assert entry.destinations["ga4"].state == "succeeded"
    assert entry.destinations["meta"].state == "aborted"


def test_retry_window_from_the_plan(outbox, sgtm, make_worker, fake_clock, policy):
    from dataclasses import replace

    from sidecar.delivery.policy import Limits

    sgtm.script["ga4"] = lambda _e, _n: "failure"
    tight = replace(policy, max_s=3600, limits={"ga4": Limits(3 * 3600, 100)})
    _enqueue(outbox, fake_clock, "e1", dests=("ga4",))
    worker = make_worker()
    worker.policy = tight
    worker.run(until_idle=True)
    (dl,) = outbox.dead_letters()
    assert "outside its 3 h retry window" in dl.reason
    assert fake_clock() - outbox.ledger("e1").accepted_at < 3 * 3600


def test_event_already_past_its_window_is_not_sent(outbox, sgtm, make_worker, fake_clock):
    old = fake_clock() - 80 * 3600  # GA4 accepts 72 h
    outbox.enqueue([make_record("old", accepted_at=old)], WINDOW)
    make_worker().run(until_idle=True)
    assert ("ga4", "old") not in sgtm.seen and sgtm.delivered[("meta", "old")] == 1
    (dl,) = outbox.dead_letters()
    assert dl.destination == "ga4" and dl.attempts[0].outcome == "expired"
    assert dl.reason.startswith("expired: ") and "72 h" in dl.reason


def test_consent_skip_is_final_and_client_rejection_dead_letters(
    outbox, sgtm, make_worker, fake_clock
):
    sgtm.script["meta"] = lambda _e, _n: "skipped_no_consent"
    sgtm.bad_events.add("bad")
    _enqueue(outbox, fake_clock, "ok", "bad")
    make_worker().run(until_idle=True)
    assert outbox.ledger("ok").destinations["meta"].state == "filtered"
    assert outbox.ledger("ok").status == "delivered"
    letters = outbox.dead_letters()
    assert {(d.event_id, d.destination) for d in letters} == {("bad", "ga4"), ("bad", "meta")}
    assert re.fullmatch(
        r"sGTM client rejected the event: events\[\d\]\.params\.value: expected a number",
        letters[0].reason,
    )


def test_bad_batch_is_split_so_good_events_go_through(
    outbox, httpserver, make_worker, fake_clock, keyset
):
    import json

    from werkzeug import Response

    got = []

    def handler(request):
        events = json.loads(request.get_data())["events"]
        if any(e["event_id"] == "poison" for e in events):
            return Response("not a batch", 400)
        got.extend(e["event_id"] for e in events)
        return Response(
            json.dumps(
                {
                    "results": [
                        {
                            "event_id": e["event_id"],
                            "destinations": {d: "success" for d in e["destinations"]},
                        }
                        for e in events
                    ]
                }
            ),
            200,
        )

    httpserver.expect_request("/split").respond_with_handler(handler)
    _enqueue(outbox, fake_clock, "a", "poison", "b")
    make_worker(url=httpserver.url_for("/split")).run(until_idle=True)
    assert sorted(got) == ["a", "b"]
    letters = outbox.dead_letters()
    assert {d.event_id for d in letters} == {"poison"}
    assert "HTTP 400: not a batch" in letters[0].reason


def test_wrong_key_is_a_401_retried_with_a_clear_reason(outbox, sgtm, make_worker, fake_clock):
    from formats.signing import generate_keyset, parse_keyset

    _enqueue(outbox, fake_clock, "e1")
    worker = make_worker()
    worker.keyset = parse_keyset(generate_keyset("other"), source="test")
    worker.run_once()
    assert sgtm.rejected_signatures == 1
    status = outbox.ledger("e1").destinations["ga4"]
    assert status.state == "failed" and "does not match" in status.last_reason


def test_malformed_answer_is_a_failure_naming_the_pointer(
    outbox, httpserver, make_worker, fake_clock
):
    httpserver.expect_request("/odd").respond_with_json({"results": [{"event_id": "e1"}]})
    _enqueue(outbox, fake_clock, "e1")
    make_worker(url=httpserver.url_for("/odd")).run_once()
    status = outbox.ledger("e1").destinations["ga4"]
    assert status.state == "failed"
    assert "/results/0/destinations: expected an object" in status.last_reason


def test_slow_sgtm_times_out_and_is_retried(outbox, httpserver, make_worker, fake_clock):
    import time as _time

    from werkzeug import Response

    def slow(_request):
        _time.sleep(0.6)
        return Response("{}", 200)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    _enqueue(outbox, fake_clock, "e1")
    make_worker(url=httpserver.url_for("/slow"), timeout_s=0.2, settle_s=0.1).run_once()
    status = outbox.ledger("e1").destinations["ga4"]
    # No answer within the timeout plus the settle grace: a failure, retried after settling.
    assert status.state == "failed" and "within 0.3 s" in status.last_reason


def test_a_late_answer_within_the_settle_time_is_recorded_not_resent(
    outbox, sgtm, httpserver, make_worker, fake_clock
):
    """A slow sGTM (answer after the timeout) used to make every destination receive the
    same batch again: the worker gave up, and sGTM had processed it anyway."""
    import time as _time

    def slow(request):
        _time.sleep(0.5)
        return sgtm.handler(request)

    httpserver.expect_request("/slow-ok").respond_with_handler(slow)
    _enqueue(outbox, fake_clock, "e1")
    make_worker(url=httpserver.url_for("/slow-ok"), timeout_s=0.2, settle_s=2.0).run_once()
    entry = outbox.ledger("e1")
    assert entry.status == "delivered"
    assert all(n == 1 for n in sgtm.delivered.values()) and sgtm.delivered


def test_start_requeues_what_a_killed_worker_left_executing(outbox, sgtm, make_worker, fake_clock):
    _enqueue(outbox, fake_clock, "e1")
    outbox.claim(fake_clock(), 10, lease_s=3600)  # a worker took it, then was SIGKILLed
    worker = make_worker()
    assert worker.run_once() == 0  # still leased
    assert worker.start() == 2
    worker.run(until_idle=True)
    assert sgtm.delivered[("ga4", "e1")] == 1 and sgtm.delivered[("meta", "e1")] == 1


def test_deliver_event_reports_what_is_still_pending(outbox, sgtm, make_worker, fake_clock):
    sgtm.script["meta"] = lambda _e, n: "failure" if n == 1 else "success"
    _enqueue(outbox, fake_clock, "e1")
    worker = make_worker()
    first = worker.deliver_event("e1")
    assert first.found and first.pending == ("meta",) and 0 < first.retry_in_s <= 1.0
    assert worker.deliver_event("e1").pending == ("meta",)  # not due yet: nothing sent
    assert sgtm.seen[("meta", "e1")] == 1
    fake_clock.advance(1.0)
    assert worker.deliver_event("e1").pending == ()
    assert worker.deliver_event("nope").found is False


def test_housekeeping_purges_expired_keys_on_idle_turns(outbox, sgtm, make_worker, fake_clock):
    _enqueue(outbox, fake_clock, "e1")
    calls = []

    def housekeeping(now):
        calls.append(now)
        return outbox.purge(now, 60, 10 * 86400)

    worker = make_worker(housekeeping=housekeeping, housekeeping_every_s=100)
    worker.run(until_idle=True)
    assert len(calls) == 1
    fake_clock.advance(61)  # the dedupe key expires, but housekeeping is not due yet
    worker.run(until_idle=True)
    assert len(calls) == 1  # not yet due again
    fake_clock.advance(100)
    worker.run(until_idle=True)
    assert len(calls) == 2
    # Now it ran again and dropped the expired key.
    assert outbox._read().execute("SELECT COUNT(*) FROM dedupe_keys").fetchone()[0] == 0


def test_failures_and_dead_letters_are_log_records_of_their_own_type(
    outbox, sgtm, make_worker, fake_clock, caplog
):
    # Terraform's log-based metrics and alerts count these two record types.
    sgtm.script["meta"] = lambda _e, _n: "failure"
    _enqueue(outbox, fake_clock, "e1")
    with caplog.at_level("WARNING", logger="sidecar.delivery"):
        make_worker().run(until_idle=True)
    fields = [r.json_fields for r in caplog.records if hasattr(r, "json_fields")]
    failures = [f for f in fields if f["type"] == "delivery_failure"]
    dead = [f for f in fields if f["type"] == "dead_letter"]
    assert len(failures) == 4 and len(dead) == 1  # max_attempts 5: four retries, then dead
    assert dead[0]["event_id"] == "e1" and dead[0]["destination"] == "meta"
    assert "gave up after 5 attempts" in dead[0]["reason"]
    assert all(f["destination"] == "meta" for f in failures)


def test_an_echoed_answer_body_stays_out_of_the_logs(
    outbox, httpserver, make_worker, fake_clock, caplog
):
    # A misconfigured endpoint that echoes the request must not copy event data into logs.
    httpserver.expect_request("/s2s/events").respond_with_handler(
        lambda request: Response(request.get_data(), status=500)
    )
    _enqueue(outbox, fake_clock, "e-echo")
    with caplog.at_level("WARNING", logger="sidecar.delivery"):
        make_worker(url=httpserver.url_for("/s2s/events")).run_once()
    records = [r.json_fields for r in caplog.records if hasattr(r, "json_fields")]
    left_out = "sGTM answered HTTP 500: (answer left out: it quotes event data)"
    assert records and all(r["reason"] == left_out for r in records)
    assert all("client_id" not in r.getMessage() for r in caplog.records)
    # The ledger says the same: the echo is not a cause worth storing.
    attempts = outbox.ledger("e-echo").destinations["ga4"]
    assert attempts.state == "failed" and attempts.last_reason == left_out


def test_dlq_replay_re_evaluates_the_acceptance_rule(outbox, sgtm, make_worker, fake_clock):
    """Replay used to give a fresh window counted from the replay, so an event GA4 would
    refuse was sent anyway; the window keeps counting from the business time."""
    old = fake_clock() - 80 * 3600  # GA4 accepts 72 h
    outbox.enqueue([make_record("old", accepted_at=old)], WINDOW)
    make_worker().run(until_idle=True)
    (dl,) = outbox.dead_letters()
    (replayed,) = outbox.replay(now=fake_clock())
    assert replayed.destination == "ga4"
    make_worker().run(until_idle=True)
    assert ("ga4", "old") not in sgtm.seen  # re-evaluated: still expired, still not sent
    (again,) = outbox.dead_letters()
    assert again.id != dl.id and again.reason.startswith("expired: ")
    assert again.attempts[-1].outcome == "expired"


def test_a_rate_limited_destination_holds_back_only_itself(outbox, sgtm, make_worker, fake_clock):
    from sidecar.delivery.throttle import Throttle

    for i in range(10):
        _enqueue(outbox, fake_clock, f"r{i}")
    start = fake_clock()
    acked: dict[str, list[float]] = {"ga4": [], "meta": []}
    worker = make_worker(throttle=Throttle.from_rates({"meta": 2}))
    worker.run(until_idle=True)
    for i in range(10):
        entry = outbox.ledger(f"r{i}")
        assert entry.status == "delivered"
        for dest, status in entry.destinations.items():
            acked[dest].append(status.acked_at - start)
            assert status.attempts == 1  # deferrals are not attempts
    assert max(acked["ga4"]) == 0  # every GA4 delivery went in the first batch
    assert max(acked["meta"]) >= 3.5  # 10 events at 2/s with a burst of 2: ~4 s
    assert all(n == 1 for n in sgtm.delivered.values())


def test_token_bucket_books_future_tokens_in_order():
    from sidecar.delivery.throttle import Bucket

    b = Bucket(rate=2.0, burst=2.0)
    assert b.take(0.0) is None and b.take(0.0) is None  # the burst
    assert b.take(0.0) == 0.5  # then one every 1/rate s
    assert b.take(0.0, behind=1) == 1.0 and b.take(0.0, behind=2) == 1.5  # queued apart
    assert b.take(0.5) is None  # the token came
    assert b.take(0.5) == 1.0
