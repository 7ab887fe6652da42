"""A stand-in for the generated sGTM client that follows docs/architecture.md exactly.

It checks X-Sgtm-Signature with the real verifier, answers 401/400/200 as the contract says,
and records which destination received which event id, so tests can assert "each acknowledged
event reached each allowed destination once". Behaviour is scripted per destination.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable

import pytest
from werkzeug import Request, Response

from formats.signing import generate_keyset, parse_keyset, verify_request
from sidecar.delivery.policy import Limits, RetryPolicy
from sidecar.delivery.transport import HttpTransport
from sidecar.delivery.worker import Worker
from sidecar.store.sqlite import SqliteStore
from tests.store.conftest import FakeClock, make_record  # noqa: F401 - re-exported to tests


class FakeSgtm:
    def __init__(self, keyset, clock: Callable[[], float]) -> None:
        self.keyset = keyset
        self.clock = clock
        # destination -> callable(event_id, call_no) returning an outcome string
        self.script: dict[str, Callable[[str, int], str]] = {}
        self.http_status: list[tuple[int, dict[str, str]]] = []  # batch-level answers, in order
        self.delivered: Counter[tuple[str, str]] = Counter()  # (destination, event_id) acked
        self.seen: Counter[tuple[str, str]] = Counter()  # (destination, event_id) requested
        self.calls: Counter[tuple[str, str]] = Counter()
        self.batches: list[dict] = []
        self.rejected_signatures = 0
        self.bad_events: set[str] = set()
        self.receipts: list[tuple[str, str, float]] = []  # (destination, event_id, wall time)
        self.delay_s: list[float] = []  # per batch, in order: answer this late
        self.in_flight = 0

    def handler(self, request: Request) -> Response:
        self.in_flight += 1
        try:
            if self.delay_s:
                time.sleep(self.delay_s.pop(0))
            return self._answer(request)
        finally:
            self.in_flight -= 1

    def _answer(self, request: Request) -> Response:
        body = request.get_data()
        check = verify_request(
            self.keyset, request.headers.get("X-Sgtm-Signature"), body, now=int(self.clock())
        )
        if not check.ok:
            self.rejected_signatures += 1
            return Response(json.dumps({"error": check.reason}), 401)
        if self.http_status:
            status, headers = self.http_status.pop(0)
            return Response("temporarily unavailable", status, headers=headers)
        try:
            batch = json.loads(body)
            events = batch["events"]
        except (ValueError, KeyError, TypeError):
            return Response("not a batch", 400)
        self.batches.append(batch)
        results, errors = [], []
        for i, event in enumerate(events):
            eid = event["event_id"]
            if eid in self.bad_events:
                errors.append(
                    {
                        "index": i,
                        "event_id": eid,
                        "field": f"events[{i}].params.value",
                        "message": "expected a number",
                    }
                )
                continue
            outcome = {}
            for dest in sorted(event["destinations"]):
                self.seen[(dest, eid)] += 1
                self.receipts.append((dest, eid, time.time()))
                self.calls[(dest, eid)] += 1
                fn = self.script.get(dest, lambda _e, _n: "success")
                verdict = fn(eid, self.calls[(dest, eid)])
                if verdict == "success":
                    self.delivered[(dest, eid)] += 1
                outcome[dest] = verdict
            results.append({"event_id": eid, "destinations": outcome})
        return Response(
            json.dumps({"results": results, "errors": errors}), 200, content_type="application/json"
        )


@pytest.fixture
def keyset_json() -> str:
    return generate_keyset("k1")


@pytest.fixture
def keyset(keyset_json):
    return parse_keyset(keyset_json, source="test")


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(float(int(time.time())))


@pytest.fixture
def sgtm(httpserver, keyset, fake_clock) -> FakeSgtm:
    fake = FakeSgtm(keyset, fake_clock)
    httpserver.expect_request("/s2s/events", method="POST").respond_with_handler(fake.handler)
    return fake


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy(
        base_s=1.0,
        max_s=60.0,
        limits={"ga4": Limits(72 * 3600, 20), "meta": Limits(168 * 3600, 5)},
    )


@pytest.fixture
def outbox(tmp_path, fake_clock):
    store = SqliteStore(tmp_path / "outbox.sqlite", clock=fake_clock)
    yield store
    store.close()


@pytest.fixture
def make_worker(outbox, keyset, policy, httpserver, fake_clock):
    made = []

    def build(url: str | None = None, timeout_s: float = 5.0, **kw) -> Worker:
        transport = HttpTransport(url or httpserver.url_for("/s2s/events"), timeout_s=timeout_s)
        w = Worker(
            outbox,
            keyset,
            policy,
            transport,
            clock=fake_clock,
            sleep=fake_clock.advance,
            rng=random.Random(7),
            **kw,
        )
        made.append(transport)
        return w

    yield build
    for t in made:
        t.close()


@pytest.fixture
def tally(record_property):
    """Report one scenario's figures (tests/delivery/tally.py); printed after the run."""

    def add(row: dict) -> dict:
        record_property("fault_tally", row)
        return row

    return add


def pytest_terminal_summary(terminalreporter):  # pragma: no cover - output only
    from tests.delivery.tally import table

    rows = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", ()) or ():
                if key == "fault_tally":
                    rows.append(value)
    if rows:
        terminalreporter.write_sep("-", "fault suite: per scenario")
        terminalreporter.write_line(table(sorted(rows, key=lambda r: r["scenario"])))
